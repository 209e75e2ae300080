"""Rule external_data: the test images one external model is evaluated on (uint8, stratified subset)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

from hfc import data, external, files  # noqa: E402
from hfc.runlog import logging_to  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    spec = external.ExternalModel(**snakemake.params.spec)
    d = spec.dataset
    if spec.own_dataset:
        dataset = data.load_dataset(d["name"], root=d["root"], image_size=d["image_size"], download=d["download"])
        log(f"{spec.where}: loaded {dataset['name']} from {dataset['source']}")
    else:
        dataset = data.load_canonical(snakemake.input.subset)
        log(f"{spec.where}: the workflow's test subset {snakemake.input.subset}")
    images, labels = dataset["test_images"], dataset["test_labels"]
    # Before any analysis: the checks the parse could not make (an ImageFolder without image_size).
    external.check_images(spec, images, dataset["classes"])
    if d["test_size"] is not None and d["test_size"] < len(labels):
        index = data.stratified_subset(labels, d["test_size"], d["seed"])
        images, labels = images[index], labels[index]
    files.atomic_save({"images": images.contiguous(), "labels": labels.contiguous(), "classes": list(dataset["classes"]),
                "dataset": dataset["name"]}, snakemake.output[0])  # fmt: skip
    log(f"wrote {snakemake.output[0]}: {len(labels)} test images {tuple(images.shape[1:])}")
