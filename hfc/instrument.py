"""Known-answer check of the instrument on planted data (hfc/planted.py).

A trained model is evaluated on the test images as they are, on x_l(r0) and on x_h(r0), and
its predictions are scored against every label set the planted data has: the ``given``
labels (what it was trained on), and per band the class whose template that band carries
(``low evidence`` / ``high evidence``; absent where the band carries none). On the conflict
set, accuracy against the low-evidence labels versus the high-evidence labels on the
original images says which band's label the model follows.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import torch

from hfc.tables import t_quantile_975, to_markdown

__all__ = ["INSTRUMENT_COLUMNS", "LABEL_SETS", "label_sets", "instrument_rows", "instrument_summary", "instrument_markdown"]

INSTRUMENT_COLUMNS = ["run", "seed", "band", "radius", "labels", "accuracy", "n"]
LABEL_SETS = ("given", "low evidence", "high evidence")


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


def instrument_markdown(summary: pd.DataFrame, planted: Mapping, chance: float, caption: str) -> str:
    """The summary as markdown, with what was planted and (conflict) which band's label wins."""
    shown = summary.copy()
    shown["accuracy"] = [
        f"{m:.3f} ± {h:.3f}" if h == h else f"{m:.3f}" for m, h in zip(shown["accuracy"], shown["ci95"])
    ]
    shown = shown.drop(columns=["ci95"])
    lines = [
        f"Planted: band {planted['band']}, r0 = {planted['radius']}, ring width {planted['width']} "
        f"(hfc/planted.py); chance = {chance:.3f}. Accuracy of the model's predictions against each label "
        "set: `given` = the labels it was trained on, `low evidence` / `high evidence` = the class whose "
        "template the low / high ring of each test image carries. Mean ± 95 % t-interval over seeds.",
        "",
        to_markdown(shown),
    ]
    original = summary[summary["band"] == "original"].set_index("labels")["accuracy"]
    if {"low evidence", "high evidence"} <= set(original.index) and planted["band"] == "conflict":
        low, high = float(original["low evidence"]), float(original["high evidence"])
        winner = "the LFC (low ring)" if low > high else "the HFC (high ring)"
        lines += [
            "",
            f"On the conflicting test images the model follows {winner} label: accuracy {low:.3f} against "
            f"the low ring's labels, {high:.3f} against the high ring's (chance {chance:.3f}).",
        ]
    lines += ["", caption]
    return "\n".join(lines) + "\n"
