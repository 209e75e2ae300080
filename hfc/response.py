"""Frequency-response curves of a trained model (beyond the paper).

The paper evaluates its models on x_l / x_h at four radii. Here a model is evaluated at every
integer radius from 1 to the image's half diagonal (:func:`hfc.frequency.max_radius`): how
much of the spectrum, counted from the centre outwards, does the model need to recognise an
image (x_l), and how much does it still get right from what lies outside that circle (x_h)?

- :func:`sweep_radii`: the radii of the sweep for an image size.
- :func:`frequency_response`: accuracy on the original images and on x_l / x_h at each radius,
  from one forward FFT per batch (:func:`hfc.frequency.split_many` with every radius).
- :func:`response_radius`: the smallest radius where x_l accuracy reaches a fraction (90 %)
  of the clean accuracy, one number per model; :func:`response_radius_table` over many.
- :func:`response_figure`: one figure per study, x_l and x_h panels, a band over seeds.

Nothing here reads workflow files; the workflow scripts load models and images and pass them in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import torch
import torch.nn as nn

from hfc.frequency import max_radius, rescale_by_max, split_many
from hfc.tables import ci95_halfwidth, require_frame, to_markdown
from hfc.train import autocast

__all__ = [
    "RESPONSE_COLUMNS",
    "RADIUS_COLUMNS",
    "DEFAULT_FRACTION",
    "sweep_radii",
    "frequency_response",
    "response_radius",
    "response_radius_table",
    "response_radius_summary",
    "response_radius_markdown",
    "response_figure",
]

RESPONSE_COLUMNS = ["band", "radius", "accuracy", "n"]
RADIUS_COLUMNS = ["run", "seed", "clean_accuracy", "fraction", "target_accuracy", "radius", "max_radius"]
# "x_l accuracy reaches 90 % of clean accuracy" (the definition of the response radius).
DEFAULT_FRACTION = 0.9


def sweep_radii(height: int, width: int) -> list[int]:
    """Every integer radius from 1 to the half diagonal of an H×W spectrum (floor of max_radius)."""
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 2 for s in (height, width)):
        raise ValueError(f"image height and width must be ints >= 2, got {height!r} x {width!r}")
    return list(range(1, math.floor(max_radius(height, width)) + 1))


def check_model_inputs(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int) -> None:
    """Raise unless ``model`` is a module, ``images`` a non-empty float N×C×H×W batch with one label each."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
        raise ValueError(
            f"images must be a float tensor N×C×H×W in [0, 1], got {type(images).__name__} "
            f"{tuple(getattr(images, 'shape', ()))} {getattr(images, 'dtype', '')}"
        )
    if images.shape[0] == 0:
        raise ValueError("images is empty: give at least one test image")
    if not isinstance(labels, torch.Tensor) or labels.shape != (images.shape[0],):
        raise ValueError(
            f"labels must be a tensor of shape ({images.shape[0]},), one per image, "
            f"got {tuple(getattr(labels, 'shape', ()))}"
        )
    if not (isinstance(batch_size, int) and not isinstance(batch_size, bool) and batch_size > 0):
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")


@torch.no_grad()
def frequency_response(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    radii: Sequence[int] | None = None,
    *,
    rescale: bool = True,
    batch_size: int = 500,
    precision: str = "fp32",
) -> pd.DataFrame:
    """Accuracy of ``model`` on the original images and on x_l / x_h at every radius.

    ``radii`` defaults to :func:`sweep_radii` of the image size. Each batch is transformed
    once (one forward FFT for every radius, :func:`hfc.frequency.split_many`); when
    ``rescale`` each component is divided by its own maximum, as training and evaluation do
    (:func:`hfc.frequency.rescale_by_max`), so at a configured radius the numbers equal the
    pipeline's evaluation on the same images. The model runs in eval mode on its own device;
    ``images`` (N×C×H×W in [0, 1]) and ``labels`` are moved there batch by batch.

    Returns a frame with :data:`RESPONSE_COLUMNS`: one row ``band="original", radius=0``,
    then ``low`` and ``high`` rows per radius in ascending order.
    """
    check_model_inputs(model, images, labels, batch_size)
    height, width = images.shape[-2:]
    radii = sweep_radii(int(height), int(width)) if radii is None else [int(r) for r in radii]
    if not radii:
        raise ValueError("radii is empty: give at least one radius (or None for the full sweep)")
    if len(set(radii)) != len(radii):
        raise ValueError(f"radii has repeated values: {radii}")
    radii = sorted(radii)
    param = next(model.parameters(), None)
    device = param.device if param is not None else images.device
    was_training = model.training
    model.eval()

    def correct(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with autocast(device, precision):
            return (model(x).argmax(dim=1) == y).sum()

    clean = torch.zeros((), dtype=torch.int64, device=device)
    hits = {(band, r): torch.zeros((), dtype=torch.int64, device=device) for band in ("low", "high") for r in radii}
    try:
        for start in range(0, images.shape[0], batch_size):
            x = images[start : start + batch_size].to(device)
            y = labels[start : start + batch_size].to(device)
            clean += correct(x, y)
            for r, (low, high) in split_many(x, radii).items():
                if rescale:
                    low, high = rescale_by_max(low), rescale_by_max(high)
                hits[("low", r)] += correct(low, y)
                hits[("high", r)] += correct(high, y)
    finally:
        model.train(was_training)
    n = int(images.shape[0])
    rows = [{"band": "original", "radius": 0, "accuracy": int(clean) / n, "n": n}]
    for band in ("low", "high"):
        rows += [{"band": band, "radius": r, "accuracy": int(hits[(band, r)]) / n, "n": n} for r in radii]
    return pd.DataFrame(rows, columns=RESPONSE_COLUMNS)


def response_radius(curve: pd.DataFrame, fraction: float = DEFAULT_FRACTION) -> dict:
    """Smallest radius at which x_l accuracy reaches ``fraction`` × the clean accuracy.

    ``curve`` is one model's :func:`frequency_response`. Returns ``clean_accuracy``,
    ``target_accuracy`` and ``radius`` (NaN when no radius of the sweep reaches the target,
    which the caller should read as "beyond the sweep", not as a failure).
    """
    require_frame(curve, RESPONSE_COLUMNS, "response_radius")
    if not (isinstance(fraction, (int, float)) and 0 < fraction <= 1):
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    original = curve[curve["band"] == "original"]
    if len(original) != 1:
        raise ValueError(f"response_radius: expected one 'original' row, got {len(original)}")
    clean = float(original["accuracy"].iloc[0])
    target = fraction * clean
    low = curve[curve["band"] == "low"].sort_values("radius")
    if low.empty:
        raise ValueError("response_radius: the curve has no 'low' rows")
    reached = low[low["accuracy"] >= target - 1e-12]
    radius = float(reached["radius"].iloc[0]) if not reached.empty else float("nan")
    return {"clean_accuracy": clean, "target_accuracy": target, "radius": radius}


def response_radius_table(curves: pd.DataFrame, fraction: float = DEFAULT_FRACTION) -> pd.DataFrame:
    """:func:`response_radius` of every model: one row per run × seed (:data:`RADIUS_COLUMNS`).

    ``curves`` holds many :func:`frequency_response` frames with ``run`` and ``seed`` columns;
    ``max_radius`` is the largest radius swept for that model (NaN ``radius`` = beyond it).
    """
    require_frame(curves, ["run", "seed", *RESPONSE_COLUMNS], "response_radius_table")
    rows = []
    for (run, seed), curve in curves.groupby(["run", "seed"], sort=False):
        found = response_radius(curve, fraction)
        limit = float(curve.loc[curve["band"] == "low", "radius"].max())
        rows.append({"run": run, "seed": int(seed), "fraction": fraction, "max_radius": limit, **found})
    return pd.DataFrame(rows, columns=RADIUS_COLUMNS)


def response_radius_summary(table: pd.DataFrame, variants: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Per run: mean response radius and clean accuracy, 95 % t-interval half-widths, seed count.

    Seeds whose x_l never reaches the target (radius NaN) are counted in ``n_beyond`` and left
    out of the mean, so the mean is over ``n_seeds - n_beyond`` seeds.
    """
    require_frame(table, RADIUS_COLUMNS, "response_radius_summary")
    rows = []
    for run, group in table.groupby("run", sort=False):
        radius = group["radius"].astype(float)
        rows.append(
            {
                "run": run,
                "variant": (variants or {}).get(run, run),
                "radius": radius.mean(),
                "radius_ci95": ci95_halfwidth(radius),
                "clean_accuracy": group["clean_accuracy"].mean(),
                "clean_accuracy_ci95": ci95_halfwidth(group["clean_accuracy"]),
                "n_seeds": int(group["seed"].nunique()),
                "n_beyond": int(radius.isna().sum()),
            }
        )
    return pd.DataFrame(rows)


def response_radius_markdown(summary: pd.DataFrame, fraction: float, caption: str) -> str:
    """Markdown of :func:`response_radius_summary` with a note on what the radius means."""
    require_frame(summary, ["run", "radius", "radius_ci95", "n_seeds"], "response_radius_markdown")
    note = (
        f"Smallest integer radius r at which a model's accuracy on x_l (the frequencies within r of "
        f"the spectrum's centre, rescaled as in training) reaches {fraction:g} × its clean accuracy; "
        "mean ± 95 % t-interval over seeds (– with one seed); n_beyond counts seeds that never reach "
        f"it within the sweep. Scale: {caption.strip()}."
    )
    title = "**Frequency response.** Radius where x_l accuracy reaches a fraction of clean accuracy, per model."
    return "\n".join([title, "", to_markdown(summary, digits=3).rstrip(), "", note]) + "\n"


def response_figure(
    curves: pd.DataFrame,
    variants: Mapping[str, str],
    title: str,
    png,
    pdf,
    fraction: float = DEFAULT_FRACTION,
) -> list[Path]:
    """One study's frequency-response curves: x_l and x_h accuracy against the radius.

    ``curves`` holds :func:`frequency_response` frames with ``run`` and ``seed`` columns;
    ``variants`` maps each run to drawn to its label (order kept). Two panels (x_l, x_h) share
    the y axis; with several seeds each curve is the mean with its 95 % t-interval as a band.
    Each variant's clean accuracy is a dotted horizontal line in its colour, and the x_l panel
    marks ``fraction`` of it (the response radius is where the curve crosses that level).
    """
    # Imported here: the per-model sweep jobs never draw, and seaborn/matplotlib cost seconds.
    from hfc.figures import _PALETTE, _t_interval, save_figure, sns  # also selects the Agg backend

    require_frame(curves, ["run", "seed", *RESPONSE_COLUMNS], "response_figure")
    if not variants:
        raise ValueError("response_figure: no variants to draw")
    missing = [run for run in variants if run not in set(curves["run"])]
    if missing:
        raise ValueError(f"response_figure: no curves for run(s) {missing}")
    frame = curves[curves["run"].isin(list(variants))].copy()
    labels = list(dict.fromkeys(variants.values()))
    frame["variant"] = pd.Categorical(frame["run"].map(variants), categories=labels)
    names = {"low": "x_l (frequencies inside r)", "high": "x_h (frequencies outside r)"}
    bands = frame[frame["band"].isin(list(names))].assign(panel=lambda f: f["band"].map(names))
    palette = {label: _PALETTE[i % len(_PALETTE)] for i, label in enumerate(labels)}
    several = frame["seed"].nunique() > 1
    grid = sns.relplot(
        data=bands,
        kind="line",
        x="radius",
        y="accuracy",
        col="panel",
        col_order=list(names.values()),
        hue="variant",
        hue_order=labels,
        palette=palette,
        errorbar=_t_interval if several else None,
        err_kws={"alpha": 0.15},
        height=3.2,
        aspect=1.3,
        facet_kws={"sharey": True},
    )
    clean = frame[frame["band"] == "original"].groupby("variant", observed=True)["accuracy"].mean()
    for ax, band in zip(grid.axes.flat, names):
        for label, acc in clean.items():
            ax.axhline(acc, color=palette[label], linestyle=":", linewidth=1)
            if band == "low":
                ax.axhline(fraction * acc, color=palette[label], linestyle=(0, (1, 3)), linewidth=0.6, alpha=0.6)
        ax.grid(True, alpha=0.3)
    grid.set(ylim=(-0.02, 1.02))
    grid.set_axis_labels("radius r (frequency bins)", "test accuracy")
    grid.set_titles("{col_name}")
    seeds = sorted(int(s) for s in frame["seed"].unique())
    band_note = "mean and 95 % t-interval over seeds" if several else "one seed"
    grid.figure.suptitle(
        f"{title}: accuracy against the radius of the LFC/HFC split\n"
        f"{band_note}: {seeds}; dotted: clean accuracy, fine dots: {fraction:g} × clean",
        y=1.06,
        fontsize=10,
    )
    if grid.legend is not None:
        grid.legend.set_title(None)
    return save_figure(grid, png, pdf)
