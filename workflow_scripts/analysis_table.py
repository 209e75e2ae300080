"""Rule analysis_table: one analysis of several models as one tidy table (their CSVs concatenated)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import pandas as pd  # noqa: E402

from hfc.runlog import logging_to  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    table = pd.concat([pd.read_csv(path) for path in snakemake.input], ignore_index=True)
    table.to_csv(snakemake.output[0], index=False)
    log(f"{len(snakemake.input)} files -> {snakemake.output[0]} ({len(table)} rows)")
