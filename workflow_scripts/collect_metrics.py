"""Rule collect_metrics: all runs' tidy metrics in one CSV."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import pandas as pd  # noqa: E402

from hfc.runlog import logging_to  # noqa: E402
from hfc.grid import METRIC_COLUMNS  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    if snakemake.input:
        metrics = pd.concat([pd.read_csv(path) for path in snakemake.input], ignore_index=True)
    else:
        # A config that trains nothing (only external_models analysed): the table has its
        # columns and no rows, and the claims read from it say "not run".
        metrics = pd.DataFrame(columns=METRIC_COLUMNS)
        log("this config trains no model (every study off): the metrics table has no rows")
    metrics.to_csv(snakemake.output[0], index=False)
    log(f"{len(snakemake.input)} runs, {len(metrics)} rows -> {snakemake.output[0]}")
