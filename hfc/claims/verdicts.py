"""Verdicts: the 95 % interval over seeds, one row per claim, and the claims table as Markdown."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from hfc.claims.base import (
    CLAIM_COLUMNS,
    INPUT_KINDS,
    NOT_EVALUATED,
    NOT_SUPPORTED,
    SUPPORTED,
    VERDICTS,
    Claim,
    ClaimInputs,
    NotEvaluable,
)
from hfc.claims.registry import CLAIMS, check_claim_ids
from hfc.tables import t_quantile_975, to_markdown

def interval(values: Sequence[float]) -> tuple[float, float, float, int]:
    """(mean, low, high, n) of the 95 % t-interval of the mean of the finite ``values``.

    With one value the interval is (NaN, NaN); with none the mean is NaN too.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    mean = float(x.mean())
    if n < 2:
        return mean, float("nan"), float("nan"), n
    half = t_quantile_975(n - 1) * float(x.std(ddof=1)) / math.sqrt(n)
    return mean, mean - half, mean + half, n


def _fmt_values(values: pd.Series) -> str:
    return "; ".join(f"seed {int(s)}: {v:.4f}" for s, v in values.items())


def _sources(claim: Claim, inputs: ClaimInputs) -> str:
    files: list[str] = []
    for kind in claim.inputs:
        files += list(inputs.sources.get(kind, [])) or [INPUT_KINDS[kind].split(" ")[0]]
    return "; ".join(dict.fromkeys(files))


def _studies_missing(claim: Claim, inputs: ClaimInputs) -> str | None:
    off = [s for s in claim.studies if not inputs.studies.get(s)]
    if claim.any_study and len(off) == len(claim.studies):
        return f"every study that trains the model is off (turn on one of {', '.join(f'studies.{s}' for s in off)})"
    if not claim.any_study and off:
        return f"study {off[0]} is off (studies.{off[0]} in the config)"
    return None


def evaluate_claim(claim: Claim, inputs: ClaimInputs, min_seeds: int = 2) -> dict:
    """One row of the claims table (:data:`CLAIM_COLUMNS`) under the module's verdict rule."""
    if not (isinstance(min_seeds, int) and min_seeds >= 2):
        raise ValueError(f"min_seeds must be an int >= 2 (an interval needs two values), got {min_seeds!r}")
    row = {
        "id": claim.id,
        "section": claim.section,
        "statement": claim.statement,
        "metric": claim.metric,
        "comparison": claim.comparison,
        "threshold": claim.threshold,
        "mean": float("nan"),
        "ci_low": float("nan"),
        "ci_high": float("nan"),
        "n_seeds": 0,
        "values": "",
        "verdict": NOT_EVALUATED,
        "reason": "",
        "expected": False,
        "min_scale": str(claim.min_scale),
        "scale": str(inputs.scale) if inputs.scale is not None else "unknown",
        "inputs": _sources(claim, inputs),
    }
    missing = _studies_missing(claim, inputs)
    if missing:
        row["reason"] = missing
        return row
    try:
        values = claim.measure(inputs)
    except NotEvaluable as why:
        row["reason"] = str(why)
        return row
    values = pd.Series(values, dtype=float)
    finite = values[np.isfinite(values.to_numpy())]
    mean, low, high, n = interval(finite.to_numpy())
    row.update(mean=mean, ci_low=low, ci_high=high, n_seeds=n, values=_fmt_values(values))
    if inputs.scale is not None and not inputs.scale.covers(claim.min_scale):
        row["reason"] = f"run at {inputs.scale}, below this claim's minimum scale ({claim.min_scale})"
        return row
    if n < min_seeds:
        row["reason"] = (
            f"{n} seed{'s' if n != 1 else ''} with a finite value; the verdict needs at least {min_seeds} "
            "for an interval (add seeds to the config's seeds:)"
        )
        return row
    if claim.comparison == ">":
        ok, wrong_side = low > claim.threshold, high <= claim.threshold
    else:
        ok, wrong_side = high < claim.threshold, low >= claim.threshold
    if ok:
        row["verdict"] = SUPPORTED
        row["reason"] = f"the whole 95 % interval is {claim.comparison} {claim.threshold:g}"
    else:
        row["verdict"] = NOT_SUPPORTED
        row["reason"] = (
            f"contradicted: the whole 95 % interval is on the other side of {claim.threshold:g}"
            if wrong_side
            else f"inconclusive: the 95 % interval contains {claim.threshold:g}"
        )
    return row


def evaluate_claims(
    inputs: ClaimInputs, claims: Sequence[Claim] = CLAIMS, min_seeds: int = 2, expected: Sequence[str] = ()
) -> pd.DataFrame:
    """Every claim's row (:func:`evaluate_claim`), in registry order.

    ``expected`` (the config's ``claims.expected_supported``) sets the ``expected`` column, so
    the table itself says which claims the config that made it is meant to support.
    """
    if not isinstance(inputs, ClaimInputs):
        raise TypeError(f"evaluate_claims needs a ClaimInputs, got {type(inputs).__name__}")
    expected = set(check_claim_ids(list(expected)))
    known = {c.id for c in claims}
    if expected - known:
        raise ValueError(f"expected claim(s) {sorted(expected - known)} are not among the claims evaluated")
    rows = [evaluate_claim(c, inputs, min_seeds) | {"expected": c.id in expected} for c in claims]
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def _fmt(x: float, digits: int = 3) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:+.{digits}f}"


def claims_markdown(table: pd.DataFrame, caption: str) -> str:
    """The claims table as Markdown: a count of verdicts, then one row per claim.

    Claims the config is meant to support (column ``expected``) are marked, so a reader sees
    at once whether one of them failed.
    """
    missing = [c for c in CLAIM_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"claims_markdown: table lacks column(s) {missing}")
    counts = table["verdict"].value_counts()
    summary = ", ".join(f"{int(counts.get(v, 0))} {v}" for v in VERDICTS)
    rows = []
    for r in table.itertuples(index=False):
        measured = _fmt(r.mean)
        if math.isfinite(r.ci_low):
            measured += f" [{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]"
        mark = " (expected)" if r.expected else ""
        rows.append(
            {
                "claim": f"`{r.id}`{mark}",
                "section": r.section,
                "measured (mean [95 % CI])": measured,
                "seeds": int(r.n_seeds),
                "test": f"{r.comparison} {r.threshold:g}",
                "verdict": f"**{r.verdict}**",
                "reason": r.reason,
            }
        )
    metrics = "\n".join(
        f"- `{r.id}` ({r.section}): {r.statement} Measured: {r.metric}. Per seed: {r.values if isinstance(r.values, str) and r.values else '–'}. "
        f"Read: {r.inputs}."
        for r in table.itertuples(index=False)
    )
    notes = (
        "Verdict rule: *supported* when the whole 95 % t-interval over seeds lies beyond the threshold "
        "in the claimed direction; *not supported* when it does not (inconclusive: the interval contains "
        "the threshold; contradicted: it lies wholly on the other side); *not evaluated* when a study, "
        "input, radius or seed count is missing (docs/claims.md). Intervals are over training seeds on "
        "a fixed evaluation subset."
    )
    return (
        "\n".join(
            [
                "# Claims of Wang et al. (2020), checked",
                "",
                f"Scale: {caption.strip()}",
                "",
                f"Verdicts: {summary}.",
                "",
                to_markdown(pd.DataFrame(rows)).rstrip(),
                "",
                notes,
                "",
                "## What each claim says and measures",
                "",
                metrics,
            ]
        )
        + "\n"
    )
