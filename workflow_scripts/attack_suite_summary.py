"""Rule attack_suite_summary: every model × ρ × seed's suite table, its checklist and the figure."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import pandas as pd  # noqa: E402

from hfc import attack_suite  # noqa: E402
from hfc.runlog import logging_to  # noqa: E402

with logging_to(snakemake.log[0]) as log:
    table = pd.concat([pd.read_csv(path) for path in snakemake.input], ignore_index=True)
    table.to_csv(snakemake.output.table, index=False)
    checks = attack_suite.checklist(table)
    checks.to_csv(snakemake.output.checklist, index=False)
    markdown = attack_suite.checklist_markdown(checks, snakemake.params.caption)
    Path(snakemake.output.md).write_text(markdown)
    attack_suite.suite_figure(table, snakemake.output.png, snakemake.output.pdf, snakemake.params.title)
    log(f"attack suite of {len(snakemake.input)} model(s):\n{markdown}")
