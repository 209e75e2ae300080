"""Figures 3-6 of the paper, drawn from a tidy metrics frame (schema in ``hfc.train``).

Each public function writes a PNG (150 dpi) and a PDF and returns their paths; the
``*_grid`` functions build the seaborn FacetGrid without saving (tests inspect them).
With several seeds per curve seaborn draws the mean and the 95 % t-interval over seeds
(as in the tables) as a band; with one seed there is no band.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

# Pipelines and CI run headless; choose the non-interactive backend before pyplot loads.
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns
from matplotlib.ticker import MaxNLocator  # noqa: E402

from hfc.tables import (  # noqa: E402
    _one_run_per_seed,
    _require_columns,
    _with_seed,
    ci95_halfwidth,
    variant_order,
)

DPI = 150
# seaborn's colour-blind-safe palette, reordered so purple comes before vermilion, which
# sits too close to orange when four radii are drawn side by side.
_PALETTE = [sns.color_palette("colorblind")[i] for i in (0, 1, 2, 4, 3, 5, 6, 8, 9, 7)]
_BLACK = (0.0, 0.0, 0.0)
_GREY = (0.45, 0.45, 0.45)
_SOLID = ""
_DASHED = (4, 2)
_DOTTED = (1, 1.5)
_DASHDOT = (5, 1.5, 1, 1.5)
# Short runs get markers so each evaluated epoch is visible; long ones would be cluttered.
_MARKER_MAX_EPOCHS = 12

_BASE_COLUMNS = ["run", "epoch", "split", "band", "radius", "accuracy"]


def _radius_colours(radii) -> dict[int, tuple]:
    # Index by sorted position so one radius keeps one colour across every panel.
    return {r: _PALETTE[i % len(_PALETTE)] for i, r in enumerate(sorted(radii))}


def _t_interval(values) -> tuple[float, float]:
    mean = float(np.mean(values))
    half = ci95_halfwidth(values)
    if np.isnan(half):  # a lone seed at this point: no band rather than a NaN hole
        half = 0.0
    return mean - half, mean + half


def _errorbar(frame: pd.DataFrame):
    # A 95 % t-interval over seeds, the same interval the tables report. seaborn's
    # ("ci", 95) bootstraps 1000 resamples per point in Python, minutes for a full
    # 100-epoch study, and a bootstrap over 2-5 seeds understates the spread anyway.
    return _t_interval if frame["seed"].nunique() > 1 else None


def _markers_wanted(frame: pd.DataFrame) -> bool:
    return bool(frame["epoch"].nunique() <= _MARKER_MAX_EPOCHS)


def _lineplot_grid(
    data: pd.DataFrame,
    *,
    panel_col: str,
    panel_order: list,
    hue: str,
    hue_order: list,
    palette: dict,
    style: str,
    style_order: list,
    dashes: dict,
    markers: dict | bool,
    col_wrap: int | None,
    sharex: bool,
    errorbar,
) -> sns.FacetGrid:
    return sns.relplot(
        data=data,
        kind="line",
        x="epoch",
        y="accuracy",
        col=panel_col,
        col_order=panel_order,
        col_wrap=col_wrap if len(panel_order) > 1 else None,
        hue=hue,
        hue_order=hue_order,
        palette=palette,
        style=style,
        style_order=style_order,
        dashes=dashes,
        markers=markers,
        errorbar=errorbar,
        err_kws={"alpha": 0.15},
        height=3.0,
        aspect=1.25,
        facet_kws={"sharex": sharex, "sharey": True},
    )


def _finish(grid: sns.FacetGrid, title: str, ylabel: str) -> None:
    grid.set(ylim=(-0.02, 1.02))
    grid.set_axis_labels("epoch", ylabel)
    for ax in grid.axes.flat:
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        for line in ax.lines:
            # A curve with one evaluated epoch is a lone vertex, invisible without a marker.
            # Dashed curves (HFC, no BatchNorm) get a cross so they stay apart from solid ones.
            if len(line.get_xdata()) == 1 and line.get_marker() in (None, "None", "", " "):
                line.set_marker("o" if line.get_linestyle() == "-" else "X")
    grid.figure.suptitle(title, y=1.02)
    if grid.legend is not None:
        grid.legend.set_title(None)


def save_figure(figure, png, pdf) -> list[Path]:
    """Write a matplotlib figure (or a seaborn grid) as PNG and PDF, then close it.

    The PDF carries no creation date, so rerunning the pipeline yields the same bytes.
    """
    figure = getattr(figure, "figure", figure)  # a FacetGrid holds its figure
    paths = [Path(png), Path(pdf)]
    try:
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(paths[0], dpi=DPI, bbox_inches="tight")
        figure.savefig(paths[1], bbox_inches="tight", metadata={"CreationDate": None})
    finally:
        plt.close(figure)
    return paths



def _select_runs(frame: pd.DataFrame, keys: list[str], what: str, hint: str) -> pd.DataFrame:
    if frame.empty:
        raise ValueError(f"{what}: no matching runs in the metrics frame; {hint}")
    _one_run_per_seed(frame, keys, what)
    return frame


# --------------------------------------------------------------------------- Figure 3


def figure3_grid(metrics: pd.DataFrame) -> sns.FacetGrid:
    """Figure 3: training accuracy per epoch on original and LFC(r) train images, per label mode."""
    _require_columns(metrics, [*_BASE_COLUMNS, "labels", "train_band"], "figure3")
    runs = _with_seed(metrics)
    runs = runs[(runs["train_band"] == "original") & runs["labels"].isin(["natural", "shuffled"])]
    _select_runs(
        runs,
        ["labels"],
        "figure3",
        "it needs runs trained on original images with labels 'natural' and/or 'shuffled'.",
    )
    rows = runs[(runs["split"] == "train") & runs["band"].isin(["original", "low"])].copy()
    if rows.empty:
        raise ValueError("figure3: the runs have no split=train rows on original or LFC images")
    radii = sorted(int(r) for r in rows.loc[rows["band"] == "low", "radius"].unique())
    rows["curve"] = [
        "original" if b == "original" else f"LFC r={int(r)}" for b, r in zip(rows["band"], rows["radius"])
    ]
    curves = ["original", *(f"LFC r={r}" for r in radii)]
    colours = _radius_colours(radii)
    palette = {"original": _BLACK, **{f"LFC r={r}": colours[r] for r in radii}}
    markers = _markers_wanted(rows)
    panels = [m for m in ("natural", "shuffled") if m in set(rows["labels"])]
    grid = _lineplot_grid(
        rows,
        panel_col="labels",
        panel_order=panels,
        hue="curve",
        hue_order=curves,
        palette=palette,
        style="curve",
        style_order=curves,
        dashes={c: _SOLID for c in curves},
        markers={c: ("s" if c == "original" else "o") for c in curves} if markers else False,
        col_wrap=None,
        sharex=False,
        errorbar=_errorbar(rows),
    )
    grid.set_titles("{col_name} labels")
    _finish(grid, "Training accuracy on original and low-frequency (LFC) train images", "training accuracy")
    return grid


def figure3(metrics: pd.DataFrame, png, pdf) -> list[Path]:
    """Write Figure 3 (natural vs shuffled labels) as PNG and PDF; return the two paths."""
    return save_figure(figure3_grid(metrics), png, pdf)


# --------------------------------------------------------------------------- Figures 4, 5


def study_grid(
    metrics: pd.DataFrame, title: str, variant_col: str = "variant", col_wrap: int | None = None
) -> sns.FacetGrid:
    """Figures 4/5: per variant, train/test accuracy and LFC/HFC test accuracy per radius."""
    _require_columns(metrics, [*_BASE_COLUMNS, variant_col, "train_band", "train_radius"], "study_figure")
    runs = _select_runs(
        _with_seed(metrics),
        [variant_col],
        "study_figure",
        f"it needs runs with a '{variant_col}' column.",
    )
    own = (runs["split"] == "train") & (runs["band"] == runs["train_band"]) & (runs["radius"] == runs["train_radius"])
    test_orig = (runs["split"] == "test") & (runs["band"] == "original")
    test_band = (runs["split"] == "test") & runs["band"].isin(["low", "high"])
    parts = [
        runs[own].assign(curve="train"),
        runs[test_orig].assign(curve="test"),
    ]
    banded = runs[test_band]
    parts.append(
        banded.assign(
            curve=[f"{'LFC' if b == 'low' else 'HFC'} r={int(r)}" for b, r in zip(banded["band"], banded["radius"])]
        )
    )
    rows = pd.concat(parts, ignore_index=True)
    if rows.empty:
        raise ValueError("study_figure: the runs have no train/test accuracy rows to plot")

    radii = sorted(int(r) for r in banded["radius"].unique())
    colours = _radius_colours(radii)
    curves = ["train", "test"]
    palette = {"train": _BLACK, "test": _GREY}
    dashes = {"train": _SOLID, "test": _DASHDOT}
    markers = {"train": "s", "test": "D"}
    for band, name, dash, marker in (("low", "LFC", _SOLID, "o"), ("high", "HFC", _DASHED, "X")):
        present = set(banded.loc[banded["band"] == band, "radius"].astype(int))
        for r in radii:
            if r in present:
                c = f"{name} r={r}"
                curves.append(c)
                palette[c] = colours[r]
                dashes[c] = dash
                markers[c] = marker
    curves = [c for c in curves if c in set(rows["curve"])]

    panels = variant_order(runs[variant_col])
    if col_wrap is None:  # 4 panels read better as 2×2 than as 3 + 1
        col_wrap = 2 if len(panels) == 4 else 3
    grid = _lineplot_grid(
        rows,
        panel_col=variant_col,
        panel_order=panels,
        hue="curve",
        hue_order=curves,
        palette={c: palette[c] for c in curves},
        style="curve",
        style_order=curves,
        dashes={c: dashes[c] for c in curves},
        markers={c: markers[c] for c in curves} if _markers_wanted(rows) else False,
        col_wrap=col_wrap,
        sharex=True,
        errorbar=_errorbar(rows),
    )
    grid.set_titles(f"{variant_col} = {{col_name}}")
    _finish(grid, title, "accuracy (LFC/HFC: test split)")
    return grid


def study_figure(metrics: pd.DataFrame, title: str, png, pdf, variant_col: str = "variant") -> list[Path]:
    """Write a Figure 4/5-style study figure as PNG and PDF; return the two paths."""
    return save_figure(study_grid(metrics, title, variant_col), png, pdf)


# --------------------------------------------------------------------------- Figure 6

_FIG6_CURVES = ["train, LFC(r)", "test, original", "test, LFC(r)"]
_FIG6_MODELS = {"batchnorm": "BatchNorm", "vanilla": "no BatchNorm"}


def figure6_grid(metrics: pd.DataFrame) -> sns.FacetGrid:
    """Figure 6: with vs without BatchNorm, trained on LFC(r); one panel per radius."""
    _require_columns(metrics, [*_BASE_COLUMNS, "heuristic", "train_band", "train_radius"], "figure6")
    runs = _with_seed(metrics)
    runs = runs[(runs["train_band"] == "low") & runs["heuristic"].isin(list(_FIG6_MODELS))]
    _select_runs(
        runs,
        ["heuristic", "train_radius"],
        "figure6",
        "it needs runs trained on LFC images (train_band 'low') with heuristic 'vanilla' and/or 'batchnorm'.",
    )
    own_band = (runs["band"] == "low") & (runs["radius"] == runs["train_radius"])
    parts = [
        runs[(runs["split"] == "train") & own_band].assign(curve=_FIG6_CURVES[0]),
        runs[(runs["split"] == "test") & (runs["band"] == "original")].assign(curve=_FIG6_CURVES[1]),
        runs[(runs["split"] == "test") & own_band].assign(curve=_FIG6_CURVES[2]),
    ]
    rows = pd.concat(parts, ignore_index=True).rename(columns={"curve": "evaluated on"})
    if rows.empty:
        raise ValueError("figure6: the LFC-trained runs have no train/test accuracy rows to plot")
    rows["model"] = rows["heuristic"].map(_FIG6_MODELS)
    rows["panel"] = [f"trained on LFC r={int(r)}" for r in rows["train_radius"]]
    radii = sorted(int(r) for r in rows["train_radius"].unique())
    models = [m for m in ("BatchNorm", "no BatchNorm") if m in set(rows["model"])]
    curves = [c for c in _FIG6_CURVES if c in set(rows["evaluated on"])]
    palette = dict(zip(_FIG6_CURVES, (_PALETTE[0], _PALETTE[1], _PALETTE[2])))
    grid = _lineplot_grid(
        rows,
        panel_col="panel",
        panel_order=[f"trained on LFC r={r}" for r in radii],
        hue="evaluated on",
        hue_order=curves,
        palette={c: palette[c] for c in curves},
        style="model",
        style_order=models,
        dashes={"BatchNorm": _SOLID, "no BatchNorm": _DASHED},
        markers={"BatchNorm": "o", "no BatchNorm": "X"} if _markers_wanted(rows) else False,
        col_wrap=2,
        sharex=True,
        errorbar=_errorbar(rows),
    )
    grid.set_titles("{col_name}")
    _finish(grid, "With vs without BatchNorm, trained on low-frequency (LFC) images", "accuracy")
    return grid


def figure6(metrics: pd.DataFrame, png, pdf) -> list[Path]:
    """Write Figure 6 (BatchNorm vs none on LFC training) as PNG and PDF; return the two paths."""
    return save_figure(figure6_grid(metrics), png, pdf)


# ----------------------------------------------------------------------------- Table 1

_BAND_NAMES = {"low": "LFC", "high": "HFC"}
_BAND_COLOURS = {"low": "#0072B2", "high": "#D55E00", "control": "#009E73"}  # colour-blind safe


def _errorbar_rows(ax, rows: pd.DataFrame, column: str, **style) -> None:
    ci = rows[f"{column}_ci95"].to_numpy() if f"{column}_ci95" in rows.columns else None
    ax.errorbar(rows["radius"], rows[column], yerr=ci, capsize=3, **style)


def table1_figure_axes(table: pd.DataFrame, chance: float, width: float = 10.5):
    """Table 1 as two panels (matplotlib figure, not saved), from ``hfc.tables.table1``'s frame.

    Left, the paper's protocol: test accuracy on the original images, ours (mean ± 95 %
    interval over seeds) beside the paper's. Right, beyond the paper: the same models on the
    test images of their own band, and the shift control on the originals when it was run.
    """
    _require_columns(table, ["band", "radius", "test_acc", "paper_test_acc"], "table1_figure")
    within = "own_band_test_acc" in table.columns
    fig, axes = plt.subplots(1, 2 if within else 1, figsize=(width if within else width / 2, 4.2),
                             layout="constrained", sharey=True, squeeze=False)  # fmt: skip
    axes = axes[0]
    for band in ("low", "high"):
        rows = table[table["band"] == band].sort_values("radius")
        if rows.empty:
            continue
        name, colour = _BAND_NAMES[band], _BAND_COLOURS[band]
        _errorbar_rows(axes[0], rows, "test_acc", color=colour, marker="o", label=f"{name}(r)-trained, ours")
        axes[0].plot(rows["radius"], rows["paper_test_acc"], color=colour, marker="s", linestyle="--",
                     markerfacecolor="white", label=f"{name}(r)-trained, paper")  # fmt: skip
        if within:
            _errorbar_rows(axes[1], rows, "test_acc", color=colour, marker="o", label=f"{name}(r)-trained: original")
            _errorbar_rows(axes[1], rows, "own_band_test_acc", color=colour, marker="^", linestyle=":",
                           label=f"{name}(r)-trained: own band x_{band[0]}(r)")  # fmt: skip
    if within and "control_test_acc" in table.columns:
        rows = table[(table["band"] == "high") & table["control_test_acc"].notna()].sort_values("radius")
        if not rows.empty:
            _errorbar_rows(axes[1], rows, "control_test_acc", color=_BAND_COLOURS["control"], marker="D",
                           linestyle="-.", label="shift control: original")  # fmt: skip
    titles = ["the paper's protocol: tested on the original images",
              "within band (beyond the paper): each model on its own band"]  # fmt: skip
    for ax, title in zip(axes, titles):
        ax.axhline(chance, color="0.5", linewidth=1, linestyle=":", label=f"chance ({chance:g})")
        ax.set_xticks(sorted(int(r) for r in table["radius"].unique()))
        ax.set_xlabel("radius r of the LFC/HFC split (frequency bins)")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    axes[0].set_ylabel("test accuracy")
    return fig


def table1_figure(table: pd.DataFrame, chance: float, title: str, png, pdf) -> list[Path]:
    """:func:`table1_figure_axes` with a title, written as PNG and PDF."""
    fig = table1_figure_axes(table, chance)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, png, pdf)
