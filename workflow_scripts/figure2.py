"""Rule figure2: test images right on the original and on HFC(r) but wrong on LFC(r), and their count."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import pandas as pd  # noqa: E402

from hfc import data, robustness, train  # noqa: E402
from hfc.runlog import logging_to  # noqa: E402
from hfc.seeding import resolve_device, use_threads  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    log(use_threads(snakemake.config["threads"], snakemake.threads))
    p = snakemake.params
    robustness.check_study_runs(p.runs)
    run = p.runs["natural"]
    device = resolve_device(p.device)
    subset = data.load_canonical(snakemake.input.subset)
    original = data.to_float(subset["test_images"]).to(device)
    labels = subset["test_labels"].to(device)
    parts = {}
    for path in snakemake.input.frequency:
        # Exactly as training and evaluation prepare LFC/HFC.
        radius, low, high = data.load_frequency_split(path, "test", rescale=p.rescale)
        parts[radius] = (low.to(device), high.to(device))
    if p.radius not in parts:
        raise ValueError(f"robustness.figure2_radius {p.radius} is not among the split radii {sorted(parts)}")

    rows, shown = [], None
    for seed, path in zip(p.seeds, snakemake.input.models, strict=True):
        model = train.load_model(path, device)
        for radius in sorted(parts):
            low, high = parts[radius]
            predictions = robustness.story_predictions(model, original, low, high, labels, p.batch_size)
            rows.append({"run": run, "seed": seed, "radius": radius, **robustness.story_summary(predictions)})
            if radius == p.radius and shown is None:
                shown = predictions  # the figure shows the first seed
    table = pd.DataFrame(rows)
    table.to_csv(snakemake.output.counts, index=False)
    log(f"Figure 2 counts (run {run}, {len(original)} test images):\n{table.to_string(index=False)}")
    low, high = parts[p.radius]
    robustness.figure2(
        original, low, high, shown, subset["classes"], p.radius, snakemake.output.png, snakemake.output.pdf,
        rescaled=p.rescale,
    )  # fmt: skip
    log(f"Figure 2 (seed {p.seeds[0]}, r={p.radius}) -> {snakemake.output.png}, {snakemake.output.pdf}")
