"""Rule study_table: one row per variant of a training study."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import pandas as pd  # noqa: E402

from hfc import tables  # noqa: E402
from hfc.runlog import logging_to  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    variants = snakemake.params.variants
    metrics = pd.concat([pd.read_csv(path) for path in snakemake.input], ignore_index=True)
    metrics["variant"] = pd.Categorical(metrics["run"].map(variants), categories=list(variants.values()))
    summary = tables.study_summary(metrics)
    summary.to_csv(snakemake.output.csv, index=False)
    Path(snakemake.output.md).write_text(
        f"# {snakemake.params.title}\n\n{tables.to_markdown(summary)}\n\nScale: {snakemake.params.caption}\n"
    )
    log(f"{snakemake.params.title}:\n{summary.to_string(index=False)}")
