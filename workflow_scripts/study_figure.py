"""Rule study_figure: accuracy along the epochs, one panel per variant (Figure 6 its own form)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import pandas as pd  # noqa: E402

from hfc import figures  # noqa: E402
from hfc.runlog import logging_to  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    variants = snakemake.params.variants
    metrics = pd.concat([pd.read_csv(path) for path in snakemake.input], ignore_index=True)
    metrics["variant"] = pd.Categorical(metrics["run"].map(variants), categories=list(variants.values()))
    if snakemake.wildcards.study == "batchnorm_lfc":
        figures.figure6(metrics, snakemake.output.png, snakemake.output.pdf)
    else:
        figures.study_figure(metrics, snakemake.params.title, snakemake.output.png, snakemake.output.pdf)
    log(f"{snakemake.params.title} from {len(snakemake.input)} runs -> {snakemake.output.png}")
