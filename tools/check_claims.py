#!/usr/bin/env python3
"""Fail when a claim a config is meant to support is not supported in results/report/claims.csv.

    python tools/check_claims.py [--claims results/report/claims.csv] [--config configs/ci.yaml]

The expected claims are the config file's ``claims.expected_supported`` when ``--config`` is
given, else the rows of claims.csv marked ``expected`` (the list of the config that made it).
Exit status: 0 every expected claim is supported; 1 at least one is not (each is named with its
verdict and reason); 2 the inputs are unusable (missing file, unknown claim id).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from hfc.claims import SUPPORTED, check_claim_ids  # noqa: E402


class UsageError(Exception):
    pass


def _expected_from_config(path: Path) -> list[str]:
    if not path.is_file():
        raise UsageError(f"config {path} does not exist")
    config = yaml.safe_load(path.read_text()) or {}
    block = config.get("claims")
    if not isinstance(block, dict) or "expected_supported" not in block:
        raise UsageError(f"{path} has no claims.expected_supported list; add one (see docs/claims.md)")
    try:
        return check_claim_ids(block["expected_supported"], f"{path}: claims.expected_supported")
    except ValueError as error:
        raise UsageError(str(error)) from None


def _load_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise UsageError(
            f"{path} does not exist: make it first, e.g. "
            f"snakemake --cores 2 results/report/claims.csv --configfile configs/ci.yaml"
        )
    table = pd.read_csv(path)
    missing = [c for c in ("id", "verdict", "reason", "expected") if c not in table.columns]
    if missing:
        raise UsageError(f"{path} lacks column(s) {missing}; was it written by the claims rule?")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=Path, default=Path("results/report/claims.csv"))
    parser.add_argument("--config", type=Path, default=None, help="config whose claims.expected_supported to check")
    args = parser.parse_args(argv)
    try:
        table = _load_table(args.claims)
        marked = [str(i) for i in table.loc[table["expected"].astype(str).str.lower() == "true", "id"]]
        if args.config is not None:
            expected = _expected_from_config(args.config)
            if set(expected) != set(marked):
                print(
                    f"note: {args.claims} was made with expected claims {sorted(marked)}, {args.config} lists "
                    f"{sorted(expected)}; checking the config's list (are the results stale?)",
                    file=sys.stderr,
                )
        else:
            expected = marked
    except UsageError as error:
        print(f"check_claims: {error}", file=sys.stderr)
        return 2

    rows = table.set_index("id")
    failures = []
    for claim_id in expected:
        if claim_id not in rows.index:
            failures.append(f"{claim_id}: not in {args.claims}")
            continue
        row = rows.loc[claim_id]
        if row["verdict"] != SUPPORTED:
            failures.append(f"{claim_id}: {row['verdict']} ({row['reason']})")
    if failures:
        print(f"{len(failures)} of {len(expected)} expected claim(s) not supported:", file=sys.stderr)
        for line in failures:
            print(f"  - {line}", file=sys.stderr)
        return 1
    if expected:
        print(f"{len(expected)} expected claim(s) supported: {', '.join(expected)}")
    else:
        print("no claim is expected to be supported by this config (claims.expected_supported is empty)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
