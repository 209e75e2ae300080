"""Rule figure7: first-layer kernels of M_natural and M_adversarial, raw and smoothed, and their roughness."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import torch  # noqa: E402

from hfc import robustness, train  # noqa: E402
from hfc.runlog import logging_to  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    seeds, runs = snakemake.params.seeds, snakemake.params.runs
    robustness.check_study_runs(runs)
    models = {}
    for label in robustness.MODELS:
        for seed, path in zip(seeds, getattr(snakemake.input, label), strict=True):
            # Kernels are tiny: the CPU reads them without touching an accelerator.
            models[(runs[label], seed, label)] = train.load_model(path, torch.device("cpu"))
    table = robustness.smoothness_table(models, rhos=(0.0, robustness.FIGURE7_RHO))
    table.to_csv(snakemake.output.smoothness, index=False)
    log(f"kernel roughness (lower = smoother):\n{table.to_string(index=False)}")
    # The figure shows the first seed; the table has every seed.
    first = {label: models[(runs[label], seeds[0], label)] for label in robustness.MODELS}
    robustness.figure7(first, snakemake.output.png, snakemake.output.pdf)
    log(f"Figure 7 (seed {seeds[0]}) -> {snakemake.output.png}, {snakemake.output.pdf}")
