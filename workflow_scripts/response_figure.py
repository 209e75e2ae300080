"""Rule response_figure: one study's frequency-response curves, x_l and x_h against the radius."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import pandas as pd  # noqa: E402

from hfc import response  # noqa: E402
from hfc.runlog import logging_to  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    p = snakemake.params
    curves = pd.concat([pd.read_csv(path) for path in snakemake.input], ignore_index=True)
    response.response_figure(curves, p.variants, p.title, snakemake.output.png, snakemake.output.pdf, p.fraction)
    log(f"{p.title}: {len(snakemake.input)} curves -> {snakemake.output.png}")
