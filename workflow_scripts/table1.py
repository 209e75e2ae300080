"""Rule table1: Table 1 beside the paper's numbers (CSV and Markdown)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import pandas as pd  # noqa: E402

from hfc import tables  # noqa: E402
from hfc.runlog import logging_to  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    metrics = pd.concat([pd.read_csv(path) for path in snakemake.input], ignore_index=True)
    table = tables.table1(metrics)
    table.to_csv(snakemake.output.csv, index=False)
    Path(snakemake.output.md).write_text(tables.table1_markdown(table, snakemake.params.caption))
    log(f"Table 1 from {len(snakemake.input)} runs:\n{table.to_string(index=False)}")
