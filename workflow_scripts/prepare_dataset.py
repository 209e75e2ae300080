"""Rule prepare_dataset: raw dataset -> canonical tensor file (checksum logged)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

from hfc import data  # noqa: E402
from hfc.runlog import logging_to  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    dataset = data.load_dataset(
        snakemake.wildcards.dataset,
        root=snakemake.params.root,
        image_size=snakemake.params.image_size,
        download=snakemake.params.download,
        planted=snakemake.params.planted,
        imagenette_size=snakemake.params.imagenette_size,
    )
    log(f"loaded {dataset['name']} from {dataset['source']}: "
        f"{len(dataset['train_labels'])} train, {len(dataset['test_labels'])} test images, "
        f"shape {tuple(dataset['train_images'].shape[1:])}, classes {dataset['classes']}")  # fmt: skip
    digest = data.save_canonical(dataset, snakemake.output[0])
    log(f"wrote {snakemake.output[0]} sha256={digest}")
