"""Rules run_analysis / external_analysis: one analysis (hfc.analyses) of one model."""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))


from hfc import analyses, data, external, files, train  # noqa: E402
from hfc.runlog import logging_to  # noqa: E402
from hfc.seeding import resolve_device, use_threads  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    log(use_threads(snakemake.config["threads"], snakemake.threads))
    p = snakemake.params
    device = resolve_device(p.device)
    kind, settings = snakemake.wildcards.analysis, p.settings
    if p.spec is not None:  # an external model: its own test images, all used but by the heat map
        spec = external.ExternalModel(**p.spec)
        model = external.load_external(spec, device)
        name, seed = spec.name, 0
        test = files.load_tensors(snakemake.input.data, what="external test data", advice="delete it and rerun")
        size, subset_seed = (settings["fourier_heatmap"]["images"], settings["fourier_heatmap"]["seed"]) if (
            kind == "fourier_heatmap") else (None, 0)  # fmt: skip
    else:
        name, seed = snakemake.wildcards.run, int(snakemake.wildcards.seed)
        model = train.load_model(snakemake.input.model, device)
        test = data.load_canonical(snakemake.input.subset)
        test = {"images": test["test_images"], "labels": test["test_labels"]}
        size, subset_seed = analyses.analysis_images(kind, settings, None, 0)
    images, labels = analyses.select(test["images"], test["labels"], size, subset_seed)
    images, labels = images.to(device), labels.to(device)
    log(f"{kind} of {name} (seed {seed}) on {device}: {len(labels)} test images {tuple(images.shape[1:])}")
    start = time.perf_counter()
    frame = analyses.analyse(kind, model, images, labels, name=name, seed=seed, settings=settings, log=log)
    frame.to_csv(snakemake.output[0], index=False)
    log(f"wrote {snakemake.output[0]} ({len(frame)} rows) in {time.perf_counter() - start:.1f} s")
