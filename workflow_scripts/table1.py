"""Rule table1: Table 1 beside the paper's numbers, with the within-band protocol (CSV, Markdown, figure)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import pandas as pd  # noqa: E402

from hfc import figures, tables  # noqa: E402
from hfc.data import load_canonical  # noqa: E402
from hfc.runlog import logging_to  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    metrics = pd.concat([pd.read_csv(path) for path in snakemake.input.metrics], ignore_index=True)
    table = tables.table1(metrics)
    table.to_csv(snakemake.output.csv, index=False)
    Path(snakemake.output.md).write_text(tables.table1_markdown(table, snakemake.params.caption))
    chance = 1.0 / len(load_canonical(snakemake.input.subset)["classes"])
    title = f"Table 1: trained on LFC(r) or HFC(r). Ours: {snakemake.params.caption}"
    figures.table1_figure(table, chance, title, snakemake.output.png, snakemake.output.pdf)
    log(f"Table 1 from {len(snakemake.input.metrics)} runs:\n{table.to_string(index=False)}")
