"""Stage times of `.ci/run` beside the figures the README gives for them.

`.ci/run` appends one line per finished stage to a file (``stage<TAB>seconds<TAB>status``) and
calls ``report`` at the end, also when a stage failed. The README's figures sit in a table
between the markers ``<!-- ci-stage-times: begin -->`` and ``<!-- ci-stage-times: end -->``,
one row per stage: ``| stage name | 9 min 30 s | ... |``. A stage that took more than
``--warn-factor`` (1.5) times its figure is reported with a warning, not a failure: growth is
seen before it runs into CI's time limit.

    python3 tools/ci_stages.py report TIMES_FILE [--readme README.md] [--warn-factor 1.5]

Only the standard library: CI runs it with the system Python, also before the venv exists.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

BEGIN, END = "<!-- ci-stage-times: begin -->", "<!-- ci-stage-times: end -->"
_DURATION = re.compile(r"^\s*(?:(\d+)\s*min)?\s*(?:(\d+)\s*s)?\s*$")


def parse_duration(text: str) -> float | None:
    """Seconds of '9 min 30 s', '45 s' or '12 min'; None for anything else."""
    match = _DURATION.match(text)
    if not match or not any(match.groups()):
        return None
    minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return 60.0 * minutes + seconds


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def readme_figures(readme: str) -> dict[str, float]:
    """{stage: seconds} from the README's marked table (the first two cells of each row)."""
    if BEGIN not in readme or END not in readme:
        raise ValueError(f"the README has no table between {BEGIN} and {END}")
    block = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    figures = {}
    for line in block.splitlines():
        cells = [c.strip().strip("`*") for c in line.strip().strip("|").split("|")]
        if len(cells) < 2:
            continue
        seconds = parse_duration(cells[1])
        if seconds is not None:
            figures[cells[0]] = seconds
    if not figures:
        raise ValueError(f"the README's table between {BEGIN} and {END} has no row 'stage | N min N s'")
    return figures


def read_times(path: Path) -> list[tuple[str, float, str]]:
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            stage, seconds, status = line.split("\t")
            rows.append((stage, float(seconds), status))
    return rows


def report(times: list[tuple[str, float, str]], figures: dict[str, float], warn_factor: float) -> tuple[str, list[str]]:
    """The table printed at the end of `.ci/run`, and its warnings."""
    lines = [f"{'stage':<28} {'took':>12} {'README':>12}  status", "-" * 66]
    warnings = []
    for stage, seconds, status in times:
        figure = figures.get(stage)
        note = status
        if figure is None:
            note += " (no README figure)"
        elif seconds > warn_factor * figure:
            note += f"  WARNING: {seconds / figure:.1f}x the README's figure"
            warnings.append(
                f"stage '{stage}' took {format_duration(seconds)}, over {warn_factor}x the README's "
                f"{format_duration(figure)}: find what grew, or update the README's figure"
            )
        shown = format_duration(figure) if figure is not None else "-"
        lines.append(f"{stage:<28} {format_duration(seconds):>12} {shown:>12}  {note}")
    total = sum(seconds for _, seconds, _ in times)
    lines.append("-" * 66)
    lines.append(f"{'total':<28} {format_duration(total):>12}")
    return "\n".join(lines), warnings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="print the stage table and warn on stages over their figure")
    rep.add_argument("times", type=Path)
    rep.add_argument("--readme", type=Path, default=Path(__file__).resolve().parents[1] / "README.md")
    rep.add_argument("--warn-factor", type=float, default=1.5)
    args = parser.parse_args(argv)
    try:
        figures = readme_figures(args.readme.read_text())
    except (OSError, ValueError) as error:
        print(f"ci_stages: warning: {error}; stage times are shown without figures", file=sys.stderr)
        figures = {}
    table, warnings = report(read_times(args.times), figures, args.warn_factor)
    print("== .ci/run stage times")
    print(table)
    for warning in warnings:
        print(f"WARNING: {warning}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
