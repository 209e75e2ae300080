"""Rule svd_control (§8): the Figure 2 count when images are split by truncated SVD instead of by frequency."""

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
    _, low, high = data.load_frequency_split(snakemake.input.frequency, "test", p.radius, rescale=p.rescale)
    # Same rescale rule for both splits (see hfc.robustness.svd_parts).
    dominant, trailing = robustness.svd_parts(original, p.rank, p.rescale)
    splits = {"frequency": (low.to(device), high.to(device)), "svd": (dominant, trailing)}
    rows = []
    for seed, path in zip(p.seeds, snakemake.input.models, strict=True):
        model = train.load_model(path, device)
        row = {"run": run, "seed": seed, "radius": p.radius, "svd_rank": p.rank}
        for name, (low_like, high_like) in splits.items():
            summary = robustness.story_summary(
                robustness.story_predictions(model, original, low_like, high_like, labels, p.batch_size)
            )
            row["n_test"] = summary["n_test"]
            for key in ("count", "rate", "expected_by_chance", "p_high_right", "p_low_wrong"):
                row[f"{name}_{key}"] = summary[key]
        rows.append(row)
    table = pd.DataFrame(rows)
    table.to_csv(snakemake.output[0], index=False)
    log(f"§8 SVD control (frequency r={p.radius} vs SVD rank {p.rank}):\n{table.to_string(index=False)}")
