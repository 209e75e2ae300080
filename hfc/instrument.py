"""Known-answer check of the instrument on planted data (hfc/planted.py).

A trained model (the vanilla one, and Table 1's LFC(r0)- and HFC(r0)-trained ones when
studies.table1 trains r0) is evaluated on the test images as they are, on x_l(r0) and on
x_h(r0), and its predictions are scored against every label set the planted data has: the
``given`` labels (what it was trained on), and per band the class whose template that band
carries (``low evidence`` / ``high evidence``; absent where the band carries none). On the
conflict set, accuracy against the low-evidence labels versus the high-evidence labels on the
original images says which band's label the model follows.

:func:`protocol_table` then says, per protocol of :data:`hfc.claims.instrument.PROTOCOLS`
(the vanilla model's x_l / x_h, the within-band one, Table 1's original-image one), whether it
recovers the planted truth, by the claims' own thresholds and interval rule.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import torch

from hfc.claims.instrument import LEARNS, PLANTED_TRUTH, PROTOCOLS, protocol_cell, threshold
from hfc.claims.verdicts import interval
from hfc.tables import t_quantile_975, to_markdown

__all__ = [
    "INSTRUMENT_COLUMNS", "LABEL_SETS", "PROTOCOL_COLUMNS", "label_sets", "instrument_rows", "instrument_summary",
    "protocol_table", "instrument_markdown",
]  # fmt: skip

INSTRUMENT_COLUMNS = ["run", "seed", "band", "radius", "labels", "accuracy", "n"]
LABEL_SETS = ("given", "low evidence", "high evidence")
PROTOCOL_COLUMNS = [
    "protocol", "side", "run", "tested_on", "labels", "expected", "accuracy", "ci_low", "ci_high", "n_seeds",
    "matches", "recovers",
]  # fmt: skip


def label_sets(subset: Mapping, split: str = "test") -> dict[str, torch.Tensor]:
    """``{label set: labels}`` of a planted subset; -1 marks an image without that evidence."""
    sets = {"given": subset[f"{split}_labels"]}
    for band in ("low", "high"):
        key = f"{split}_evidence_{band}"
        if key not in subset:
            raise ValueError(f"the subset has no {key}: was it made from a planted dataset?")
        if bool((subset[key] >= 0).any()):
            sets[f"{band} evidence"] = subset[key]
    return sets


@torch.no_grad()
def _predict(model: torch.nn.Module, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    was_training = model.training
    model.eval()
    out = torch.cat([model(images[i : i + batch_size]).argmax(dim=1) for i in range(0, len(images), batch_size)])
    model.train(was_training)
    return out


def instrument_rows(
    model: torch.nn.Module,
    images: Mapping[str, torch.Tensor],
    labels: Mapping[str, torch.Tensor],
    radius: int,
    run: str,
    seed: int,
    batch_size: int = 500,
) -> pd.DataFrame:
    """One row per band (``original``/``low``/``high``) × label set (:data:`INSTRUMENT_COLUMNS`).

    ``images`` maps band to the (already rescaled) test images of that band at ``radius``;
    an image whose label in a set is -1 is left out of that set's accuracy.
    """
    rows = []
    for band, x in images.items():
        predicted = _predict(model, x, batch_size).cpu()
        for name, y in labels.items():
            y = y.cpu()
            keep = y >= 0
            n = int(keep.sum())
            accuracy = float((predicted[keep] == y[keep]).float().mean()) if n else float("nan")
            rows.append(
                {"run": run, "seed": int(seed), "band": band, "radius": 0 if band == "original" else int(radius),
                 "labels": name, "accuracy": accuracy, "n": n}
            )  # fmt: skip
    return pd.DataFrame(rows, columns=INSTRUMENT_COLUMNS)


def instrument_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy and 95 % t-interval half-width over seeds per run × band × label set."""
    rows = []
    for (run, band, radius, labels), group in table.groupby(["run", "band", "radius", "labels"], sort=False):
        values = group["accuracy"].astype(float).dropna()
        n = len(values)
        half = float(t_quantile_975(n - 1) * values.std(ddof=1) / n**0.5) if n > 1 else float("nan")
        rows.append(
            {"run": run, "band": band, "radius": radius, "labels": labels, "accuracy": values.mean(),
             "ci95": half, "n_seeds": n}
        )  # fmt: skip
    return pd.DataFrame(rows)


def _matches(expect: str, margin: float, low: float, high: float, n: int, chance: float) -> str:
    """The claims' rule (hfc.claims.verdicts) on one side's interval: yes / no / inconclusive."""
    if n < 2:
        return "too few seeds"
    if expect == LEARNS:
        ok, wrong = low - chance > margin, high - chance <= margin
    else:
        ok, wrong = high - chance < margin, low - chance >= margin
    return "yes" if ok else "no" if wrong else "inconclusive"


def protocol_table(table: pd.DataFrame, runs: Mapping[str, str], planted: Mapping, chance: float) -> pd.DataFrame:
    """Per protocol and side of r0: accuracy (mean, 95 % t-interval over seeds) and whether it
    shows what was planted (:data:`PROTOCOL_COLUMNS`).

    ``table`` is :func:`instrument_rows` over every model and seed; ``runs`` maps ``vanilla``,
    ``low`` and ``high`` to the run ids of the vanilla model and the LFC(r0)- / HFC(r0)-trained
    ones (a side left out was not trained: its rows say ``not run``). ``matches`` applies the
    instrument claims' thresholds (:func:`hfc.claims.instrument.threshold`) to the interval as
    the claims do; ``recovers`` is yes when both sides match, no when one is
    contradicted, else inconclusive / not run.
    """
    truth = PLANTED_TRUTH[planted["band"]]
    rows = []
    for protocol in PROTOCOLS:
        cells = []
        for side in ("low", "high"):
            model, band = protocol_cell(protocol, side)
            labels, expect = truth[side]
            run = runs.get(model)
            margin = threshold(protocol, expect)
            want = f"{'>' if expect == LEARNS else '<'} chance + {margin:g}"
            row = {"protocol": protocol, "side": side, "run": run or "–", "tested_on": band, "labels": labels,
                   "expected": want, "accuracy": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"),
                   "n_seeds": 0, "matches": "not run"}  # fmt: skip
            if run is not None:
                picked = table[(table["run"] == run) & (table["band"] == band) & (table["labels"] == labels)]
                if picked.empty:
                    raise ValueError(f"protocol_table: no rows for run {run}, band {band}, labels {labels}")
                mean, low, high, n = interval(picked["accuracy"].astype(float).to_numpy())
                matches = _matches(expect, margin, low, high, n, chance)
                row.update(accuracy=mean, ci_low=low, ci_high=high, n_seeds=n, matches=matches)
            cells.append(row)
        verdicts = [c["matches"] for c in cells]
        recovers = (
            "yes" if all(v == "yes" for v in verdicts)
            else "no" if "no" in verdicts
            else "not run" if "not run" in verdicts
            else "inconclusive"
        )  # fmt: skip
        rows += [c | {"recovers": recovers} for c in cells]
    return pd.DataFrame(rows, columns=PROTOCOL_COLUMNS)


def _protocol_markdown(protocols: pd.DataFrame) -> list[str]:
    shown = []
    for r in protocols.itertuples(index=False):
        accuracy = "–" if r.n_seeds == 0 else f"{r.accuracy:.3f}"
        if r.n_seeds > 1:
            accuracy += f" [{r.ci_low:.3f}, {r.ci_high:.3f}]"
        shown.append(
            {"protocol": r.protocol, "side": f"{'LFC' if r.side == 'low' else 'HFC'}(r0)", "model": r.run,
             "tested on": r.tested_on, "labels": r.labels, "planted truth": r.expected, "accuracy [95 % CI]": accuracy,
             "matches": r.matches, "protocol recovers the truth": r.recovers}
        )  # fmt: skip
    return [
        "Does each protocol recover what was planted? `vanilla`: the model trained on the original images, on "
        "x_l(r0) / x_h(r0); `within_band`: the LFC(r0)- / HFC(r0)-trained model (studies.table1) on the test images "
        "of its own band; `table1_original`: the same models on the original test images (Table 1's protocol). "
        "A side matches when its whole 95 % interval lies on the planted side of the threshold (the instrument "
        "claims' rule, docs/claims.md).",
        "",
        to_markdown(pd.DataFrame(shown)).rstrip(),
    ]


def instrument_markdown(
    summary: pd.DataFrame, planted: Mapping, chance: float, caption: str, protocols: pd.DataFrame | None = None
) -> str:
    """The summary as markdown, with what was planted and (conflict) which band's label wins."""
    shown = summary.copy()
    shown["accuracy"] = [
        f"{m:.3f} ± {h:.3f}" if h == h else f"{m:.3f}" for m, h in zip(shown["accuracy"], shown["ci95"])
    ]
    shown = shown.drop(columns=["ci95"])
    lines = [
        f"Planted: band {planted['band']}, r0 = {planted['radius']}, ring width {planted['width']}, "
        f"{planted['channels']} channel{'s' if planted['channels'] != 1 else ''} "
        f"(hfc/planted.py); chance = {chance:.3f}. Accuracy of each model's predictions (`vanilla`: trained on the "
        "original images; `band-low_r…` / `band-high_r…`: Table 1's LFC / HFC-trained ones) against each label "
        "set: `given` = the labels it was trained on, `low evidence` / `high evidence` = the class whose "
        "template the low / high ring of each test image carries. Mean ± 95 % t-interval over seeds.",
        "",
        to_markdown(shown),
    ]
    # the vanilla model's; Table 1's band-trained models are read in the protocol table
    original = summary[(summary["band"] == "original") & (summary["run"] == "vanilla")].set_index("labels")["accuracy"]
    if {"low evidence", "high evidence"} <= set(original.index) and planted["band"] == "conflict":
        low, high = float(original["low evidence"]), float(original["high evidence"])
        winner = "the LFC (low ring)" if low > high else "the HFC (high ring)"
        lines += [
            "",
            f"On the conflicting test images the model follows {winner} label: accuracy {low:.3f} against "
            f"the low ring's labels, {high:.3f} against the high ring's (chance {chance:.3f}).",
        ]
    if protocols is not None:
        lines += [""] + _protocol_markdown(protocols)
    lines += ["", caption]
    return "\n".join(lines) + "\n"
