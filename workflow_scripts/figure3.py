"""Rule figure3: natural vs shuffled labels along the epochs."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import pandas as pd  # noqa: E402

from hfc import figures  # noqa: E402
from hfc.runlog import logging_to  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    metrics = pd.concat([pd.read_csv(path) for path in snakemake.input], ignore_index=True)
    figures.figure3(metrics, snakemake.output.png, snakemake.output.pdf)
    log(f"Figure 3 from {len(snakemake.input)} runs -> {snakemake.output.png}, {snakemake.output.pdf}")
