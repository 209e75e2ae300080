"""Rule response_radius: per model, the radius where x_l accuracy reaches a fraction of clean accuracy."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import pandas as pd  # noqa: E402

from hfc import response  # noqa: E402
from hfc.runlog import logging_to  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    p = snakemake.params
    curves = pd.concat([pd.read_csv(path) for path in snakemake.input], ignore_index=True)
    table = response.response_radius_table(curves, p.fraction)
    table.insert(1, "variant", table["run"].map(p.variants))
    table.to_csv(snakemake.output.csv, index=False)
    summary = response.response_radius_summary(table.drop(columns="variant"), p.variants)
    Path(snakemake.output.md).write_text(response.response_radius_markdown(summary, p.fraction, p.caption))
    log(f"response radius of {len(table)} models:\n{summary.to_string(index=False)}")
