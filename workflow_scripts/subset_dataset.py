"""Rule subset_dataset: stratified seeded subsets and the normalisation statistics."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

from hfc import data  # noqa: E402
from hfc.runlog import logging_to  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    full = data.load_canonical(snakemake.input[0])
    log(f"{snakemake.input[0]} sha256={data.sha256_file(snakemake.input[0])}")
    subset = {key: full[key] for key in ("name", "source", "classes")}
    for split, size in (("train", snakemake.params.train_size), ("test", snakemake.params.test_size)):
        index = data.stratified_subset(full[f"{split}_labels"], size, snakemake.params.seed)
        subset[f"{split}_images"] = full[f"{split}_images"][index].contiguous()
        subset[f"{split}_labels"] = full[f"{split}_labels"][index].contiguous()
        subset[f"{split}_index"] = index
        # Per-image side information (a planted dataset's evidence per band) follows its images.
        for key in sorted(k for k in full if k.startswith(f"{split}_evidence_")):
            subset[key] = full[key][index].contiguous()
        log(f"{split}: {len(index)} of {len(full[f'{split}_labels'])} images")
    subset["mean"], subset["std"] = data.channel_stats(subset["train_images"])
    log(f"channel mean {subset['mean']}, std {subset['std']}")
    digest = data.save_canonical(subset, snakemake.output[0])
    log(f"wrote {snakemake.output[0]} sha256={digest}")
