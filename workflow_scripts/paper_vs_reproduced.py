"""Rule paper_vs_reproduced: every number of the paper's Tables 1 and 2 beside ours."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import pandas as pd  # noqa: E402

from hfc import claims  # noqa: E402
from hfc.runlog import logging_to  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    files = dict(snakemake.input.items())
    tables = {name: pd.read_csv(path) for name, path in files.items()}
    frame = claims.paper_vs_reproduced(tables.get("table1"), tables.get("table2"))
    frame.to_csv(snakemake.output.csv, index=False)
    Path(snakemake.output.md).write_text(claims.paper_vs_reproduced_markdown(frame, snakemake.params.caption))
    covered = frame["paper_in_interval"].value_counts().to_dict()
    log(f"paper vs reproduced from {sorted(files) or 'no table'}: {len(frame)} paper cells, {covered}")
