"""Every number of the paper's Tables 1 and 2 beside ours."""

from __future__ import annotations

import math

import pandas as pd

from hfc import paper
from hfc.claims.measures import _key
from hfc.tables import to_markdown

PAPER_COLUMNS = [
    "table", "row", "column", "paper", "ours", "ci_low", "ci_high", "n_seeds", "delta", "paper_in_interval",
]  # fmt: skip
_ATTACK_TITLES = {"clean": "clean", "fgsm": "FGSM", "pgd": "PGD"}


def _cell(ours: float, ci: float, n: int) -> tuple[float, float, float, str]:
    if not math.isfinite(ours):
        return float("nan"), float("nan"), float("nan"), "not run"
    if n < 2 or not math.isfinite(ci):
        return ours, float("nan"), float("nan"), f"– ({n} seed)"
    return ours, ours - ci, ours + ci, ""


def _inside(paper_value: float, low: float, high: float, note: str) -> str:
    if note:
        return note
    return "yes" if low <= paper_value <= high else "no"


def paper_vs_reproduced(table1: pd.DataFrame | None = None, table2: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every number of the paper's Tables 1 and 2 beside ours (one row per paper cell).

    ``table1`` / ``table2`` are the pipeline's ``results/tables/table1.csv`` / ``table2.csv``
    (``hfc.tables.table1``, ``hfc.robustness.table2``); with several seeds they carry 95 %
    half-widths (``*_ci95``) and ``n_seeds``. A paper cell we did not run (study off, radius /
    ρ / ε not configured) keeps its row with ``ours`` NaN and ``paper_in_interval`` "not run".
    ``paper_in_interval`` is "yes" / "no", or "– (1 seed)" when there is no interval.
    """
    rows = []
    t1 = table1 if table1 is not None else pd.DataFrame(columns=["band", "radius", "train_acc", "test_acc"])
    for ref in paper.TABLE1:
        hit = t1[(t1["band"] == ref["band"]) & (t1["radius"].astype(int) == ref["radius"])]
        for metric, title in (("train_acc", "train acc."), ("test_acc", "test acc.")):
            if hit.empty:
                ours, ci, n = float("nan"), float("nan"), 0
            else:
                r = hit.iloc[0]
                ours = float(r[metric])
                ci = float(r[f"{metric}_ci95"]) if f"{metric}_ci95" in hit.columns else float("nan")
                n = int(r["n_seeds"]) if "n_seeds" in hit.columns else 1
            value, low, high, note = _cell(ours, ci, n)
            rows.append(
                {
                    "table": "Table 1",
                    "row": f"{'LFC' if ref['band'] == 'low' else 'HFC'} r={ref['radius']}",
                    "column": title,
                    "paper": ref[metric],
                    "ours": value,
                    "ci_low": low,
                    "ci_high": high,
                    "n_seeds": n,
                    "delta": value - ref[metric],
                    "paper_in_interval": _inside(ref[metric], low, high, note),
                }
            )
    rows += _within_band_rows(t1)
    t2 = table2 if table2 is not None else pd.DataFrame(columns=["model", "rho", "attack", "eps", "accuracy"])
    for ref in paper.TABLE2:
        hit = t2[
            (t2["model"] == ref["model"])
            & (t2["rho"].map(_key) == _key(ref["rho"]))
            & (t2["attack"] == ref["attack"])
            & (t2["eps"].map(_key) == _key(ref["eps"]))
        ]
        if hit.empty:
            ours, ci, n = float("nan"), float("nan"), 0
        else:
            r = hit.iloc[0]
            ours = float(r["accuracy"])
            ci = float(r["accuracy_ci95"]) if "accuracy_ci95" in hit.columns else float("nan")
            n = int(r["n_seeds"]) if "n_seeds" in hit.columns else 1
        value, low, high, note = _cell(ours, ci, n)
        column = _ATTACK_TITLES[ref["attack"]] + ("" if ref["attack"] == "clean" else f" ε={ref['eps']:g}")
        rows.append(
            {
                "table": "Table 2",
                "row": f"M_{ref['model']} ρ={ref['rho']:g}",
                "column": column,
                "paper": ref["accuracy"],
                "ours": value,
                "ci_low": low,
                "ci_high": high,
                "n_seeds": n,
                "delta": value - ref["accuracy"],
                "paper_in_interval": _inside(ref["accuracy"], low, high, note),
            }
        )
    return pd.DataFrame(rows, columns=PAPER_COLUMNS)


_WITHIN_BAND_CELLS = (
    ("own_band_test_acc", "own-band test acc."),
    ("transfer_gap", "transfer gap (own band − original)"),
    ("control_test_acc", "shift control: original test acc."),
    ("control_gain", "shift control − HFC(r)-trained, original"),
)
NOT_IN_PAPER = "not in the paper"


def _within_band_rows(t1: pd.DataFrame) -> list[dict]:
    """Table 1's within-band columns (issue 17): ours only, the paper reports none of them."""
    rows = []
    for _, r in t1.iterrows():
        for metric, title in _WITHIN_BAND_CELLS:
            if metric not in t1.columns or pd.isna(r[metric]):
                continue
            ci = float(r[f"{metric}_ci95"]) if f"{metric}_ci95" in t1.columns else float("nan")
            n = int(r["n_seeds"]) if "n_seeds" in t1.columns else 1
            value, low, high, _ = _cell(float(r[metric]), ci, n)
            rows.append(
                {
                    "table": "Table 1, within band",
                    "row": f"{'LFC' if r['band'] == 'low' else 'HFC'} r={int(r['radius'])}",
                    "column": title,
                    "paper": float("nan"),
                    "ours": value,
                    "ci_low": low,
                    "ci_high": high,
                    "n_seeds": n,
                    "delta": float("nan"),
                    "paper_in_interval": NOT_IN_PAPER,
                }
            )
    return rows


def paper_vs_reproduced_markdown(frame: pd.DataFrame, caption: str) -> str:
    """:func:`paper_vs_reproduced` as Markdown: a section per table and a count of covered cells."""
    missing = [c for c in PAPER_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"paper_vs_reproduced_markdown: frame lacks column(s) {missing}")
    setup = paper.PAPER_SETUP
    out = [
        "# Paper vs reproduced: Tables 1 and 2",
        "",
        f"Ours: {caption.strip()}.",
        f"Paper: {setup['dataset']} / {setup['model']}, {setup['epochs']} epochs. Our scale, dataset and "
        "network differ from the paper's, so values are not expected to agree; the claims "
        "(results/report/claims.md) test the paper's statements, which are about differences and orderings.",
        "",
    ]
    sections = (
        ("Table 1", "Table 1 (§4.2): trained on LFC(r) or HFC(r), tested on the original test set"),
        ("Table 1, within band", "Table 1 within band (beyond the paper): the same models on their own band's test images"),
        ("Table 2", "Table 2 (§6.3): first-layer kernels smoothed by ρ, clean and under attack"),
    )
    for table, title in sections:
        part = frame[frame["table"] == table]
        ran = part[part["paper_in_interval"] != "not run"]
        with_ci = ran[ran["paper_in_interval"].isin(["yes", "no"])]
        if table == "Table 1, within band" and ran.empty:
            continue  # an older table1.csv, or Table 1 off (said in its own section)
        out += [f"## {title}", ""]
        if ran.empty:
            out += ["Not run with this config (its study is off).", ""]
            continue
        if table == "Table 1, within band":
            count = (
                "The paper tests only on the original images, so these cells have no paper value: the own-band "
                "accuracy says whether the band carries label information that generalises, the gap how much of "
                "it a model trained on that band alone loses on whole images (docs/claims.md)."
            )
        elif len(with_ci):
            count = (
                f"The paper's value lies inside our 95 % interval in {int((with_ci['paper_in_interval'] == 'yes').sum())} "
                f"of {len(with_ci)} cells."
            )
        else:
            count = "One seed: no interval, so no cell can be said to cover the paper's value."
        shown = part.assign(
            ours=[
                "–" if not math.isfinite(o) else (f"{o:.4f} [{lo:.4f}, {hi:.4f}]" if math.isfinite(lo) else f"{o:.4f}")
                for o, lo, hi in zip(part["ours"], part["ci_low"], part["ci_high"])
            ],
            delta=[("–" if not math.isfinite(d) else f"{d:+.4f}") for d in part["delta"]],
        )[["row", "column", "paper", "ours", "delta", "n_seeds", "paper_in_interval"]]
        shown = shown.rename(columns={"ours": "ours (mean [95 % CI])", "delta": "Δ = ours − paper", "paper_in_interval": "paper inside our CI"})
        out += [count, "", to_markdown(shown).rstrip(), ""]
    return "\n".join(out)
