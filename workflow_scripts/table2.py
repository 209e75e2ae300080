"""Rule table2: Table 2 (seeds averaged) beside the paper's numbers, CSV and Markdown."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import pandas as pd  # noqa: E402

from hfc import robustness  # noqa: E402
from hfc.runlog import logging_to  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    attacks = pd.concat([pd.read_csv(path) for path in snakemake.input], ignore_index=True)
    table = robustness.table2(attacks)
    table.to_csv(snakemake.output.csv, index=False)
    markdown = robustness.table2_markdown(
        table, snakemake.params.caption, robustness.attack_note(snakemake.params.settings)
    )
    Path(snakemake.output.md).write_text(markdown)
    log(f"Table 2 from {len(snakemake.input)} attack tables:\n{markdown}")
