"""Tables of hfc-repro: Table 1 (LFC/HFC training) and per-variant study summaries.

Every function takes a tidy metrics frame (the concatenation of run CSVs, schema in
``hfc.train``) and returns a DataFrame or a Markdown string; nothing here reads files.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from hfc import paper
from hfc.grid import SWAP_BAND as CONTROL_BAND

TABLE1_COLUMNS = ["radius", "band", "train_acc", "test_acc", "paper_train_acc", "paper_test_acc"]
# Beyond the paper (issue 17): the within-band protocol and, when run, the shift control.
WITHIN_BAND_COLUMNS = ["own_band_test_acc", "transfer_gap"]
CONTROL_COLUMNS = ["control_test_acc", "control_own_test_acc", "control_gain"]
BANDS = ("low", "high")
_BAND_NAMES = {"low": "LFC", "high": "HFC"}


def require_frame(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise unless ``frame`` is a non-empty DataFrame with ``columns`` (``what`` names the caller)."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{what} needs a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: frame lacks column(s) {missing}; it has {list(frame.columns)}")
    if frame.empty:
        raise ValueError(f"{what}: the frame is empty")


def _require_columns(metrics: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    if not isinstance(metrics, pd.DataFrame):
        raise TypeError(f"{what} needs a pandas DataFrame of metrics, got {type(metrics).__name__}")
    missing = [c for c in columns if c not in metrics.columns]
    if missing:
        raise ValueError(
            f"{what}: metrics frame lacks column(s) {missing}; it has {list(metrics.columns)}. "
            "Pass the concatenation of the runs' metrics.csv files (schema in hfc.train)."
        )


def _with_seed(metrics: pd.DataFrame) -> pd.DataFrame:
    # A frame without a seed column is one replicate per run.
    if "seed" in metrics.columns:
        return metrics
    return metrics.assign(seed=0)


def final_epoch(metrics: pd.DataFrame) -> pd.DataFrame:
    """Rows of the last evaluated epoch of each run (run × seed when a seed column exists)."""
    _require_columns(metrics, ["run", "epoch"], "final_epoch")
    keys = ["run", "seed"] if "seed" in metrics.columns else ["run"]
    cell = keys + [c for c in ("epoch", "split", "band", "radius") if c in metrics.columns]
    dup = metrics.duplicated(cell)
    if dup.any():
        first = metrics.loc[dup, cell].iloc[0].to_dict()
        raise ValueError(
            f"metrics frame has {int(dup.sum())} duplicated row(s), e.g. {first}: two runs share a run "
            "id and seed, or a metrics.csv was concatenated twice. Give each run a unique id."
        )
    last = metrics.groupby(keys, sort=False)["epoch"].transform("max")
    return metrics[metrics["epoch"] == last].reset_index(drop=True)


def t_quantile_975(dof: int) -> float:
    """Two-sided 95 % Student-t critical value t_{0.975, dof}, exact for integer dof.

    Uses the closed-form CDF for integer degrees of freedom (Abramowitz & Stegun 26.7.3-4)
    and bisection, so the package needs no scipy at run time.
    """
    if int(dof) != dof or dof < 1:
        raise ValueError(f"degrees of freedom must be a positive integer, got {dof!r}")
    dof = int(dof)

    def central_mass(t: float) -> float:  # P(|T| <= t)
        theta = math.atan(t / math.sqrt(dof))
        c2 = math.cos(theta) ** 2
        if dof % 2 == 1:
            if dof == 1:
                return 2.0 * theta / math.pi
            term = total = math.cos(theta)
            for k in range(3, dof - 1, 2):
                term *= (k - 1) / k * c2
                total += term
            return 2.0 / math.pi * (theta + math.sin(theta) * total)
        term = total = 1.0
        for k in range(2, dof - 1, 2):
            term *= (k - 1) / k * c2
            total += term
        return math.sin(theta) * total

    lo, hi = 0.0, 1000.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if central_mass(mid) < 0.95:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def ci95_halfwidth(values: Sequence[float]) -> float:
    """Half-width of the 95 % t-interval of the mean; NaN for fewer than two values."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size < 2:
        return float("nan")
    return t_quantile_975(x.size - 1) * float(x.std(ddof=1)) / math.sqrt(x.size)


def _one_run_per_seed(runs: pd.DataFrame, keys: list[str], what: str) -> None:
    """Fail loudly when two different runs would be averaged as if they were seeds."""
    counts = runs.groupby(keys + ["seed"], sort=False)["run"].nunique()
    clash = counts[counts > 1]
    if not clash.empty:
        key = clash.index[0]
        names = sorted(runs.set_index(keys + ["seed"]).loc[[key], "run"].unique())
        raise ValueError(
            f"{what}: several runs {names} share {dict(zip(keys + ['seed'], key))}; "
            "they would be averaged as if they were seeds. Select the runs for this table "
            "first (e.g. metrics[metrics.run.isin([...])])."
        )


def _accuracy_at(final: pd.DataFrame, split: str, band: str | None, radius: str | int | None) -> pd.Series:
    """Final accuracy per (run, seed) on one split/band/radius.

    ``band``/``radius`` of None mean "the run's own training band/radius".
    """
    rows = final[final["split"] == split]
    band_of = rows["train_band"] if band is None else band
    radius_of = rows["train_radius"] if radius is None else radius
    rows = rows[(rows["band"] == band_of) & (rows["radius"] == radius_of)]
    return rows.groupby(["run", "seed"], sort=False)["accuracy"].mean()


def table1(metrics: pd.DataFrame, heuristic: str | None = "vanilla") -> pd.DataFrame:
    """Table 1: models trained on LFC(r) / HFC(r) images, next to the paper's numbers.

    train_acc is the final-epoch accuracy on the training images the run was trained on
    (split=train, band=train_band, radius=train_radius); test_acc is the final-epoch
    accuracy on the original test images (the paper's protocol). Runs are those with
    train_band in {low, high} (and, unless ``heuristic`` is None, with that heuristic, so
    Figure 6's BatchNorm runs do not mix in).

    Beyond the paper (issue 17), the within-band protocol: ``own_band_test_acc`` is the same
    model on the test images of its own band (x_l(r) for the LFC(r)-trained, x_h(r) for the
    HFC(r)-trained) and ``transfer_gap`` = own_band_test_acc − test_acc, per seed. Where the
    metrics hold the shift control (train_band ``high_swap``: HFC(r) of the image plus LFC(r)
    of another, studies.shift_control), the HFC rows also carry ``control_test_acc`` (that
    model on the original test images), ``control_own_test_acc`` (on its own kind of inputs)
    and ``control_gain`` = control_test_acc − test_acc, paired by seed.

    With several seeds every accuracy gets a ``*_ci95`` column (t-interval half-width, NaN for
    one seed) and the frame ends with ``n_seeds``.
    """
    need = ["run", "epoch", "train_band", "train_radius", "split", "band", "radius", "accuracy"]
    if heuristic is not None:
        need.append("heuristic")
    _require_columns(metrics, need, "table1")
    runs = _with_seed(metrics)
    runs = runs[runs["train_band"].isin(BANDS + (CONTROL_BAND,))]
    if heuristic is not None:
        runs = runs[runs["heuristic"] == heuristic]
    if not runs["train_band"].isin(BANDS).any():
        raise ValueError(
            "table1: no runs trained on LFC/HFC images (train_band 'low' or 'high'"
            + (f", heuristic '{heuristic}'" if heuristic is not None else "")
            + ") in the metrics frame."
        )
    _one_run_per_seed(runs, ["train_band", "train_radius"], "table1")

    final = final_epoch(runs)
    per_run = pd.DataFrame(
        {
            "train_acc": _accuracy_at(final, "train", None, None),
            "test_acc": _accuracy_at(final, "test", "original", 0),
            "own_band_test_acc": _accuracy_at(final, "test", None, None),
        }
    )
    ident = final.groupby(["run", "seed"], sort=False)[["train_band", "train_radius"]].first()
    per_run = per_run.join(ident, how="right").reset_index()
    per_run = per_run.rename(columns={"train_band": "band", "train_radius": "radius"})
    per_run["transfer_gap"] = per_run["own_band_test_acc"] - per_run["test_acc"]

    control = per_run[per_run["band"] == CONTROL_BAND]
    per_run = per_run[per_run["band"].isin(BANDS)]
    metrics_out = ["train_acc", "test_acc", "own_band_test_acc", "transfer_gap"]
    if not control.empty:
        paired = control[["radius", "seed", "test_acc", "own_band_test_acc"]].rename(
            columns={"test_acc": "control_test_acc", "own_band_test_acc": "control_own_test_acc"}
        )
        paired["band"] = "high"
        per_run = per_run.merge(paired, on=["band", "radius", "seed"], how="left")
        per_run["control_gain"] = per_run["control_test_acc"] - per_run["test_acc"]
        metrics_out += CONTROL_COLUMNS

    grouped = per_run.groupby(["band", "radius"], sort=False)
    out = grouped[metrics_out].mean()
    for metric in metrics_out:
        out[f"{metric}_ci95"] = grouped[metric].agg(ci95_halfwidth)
    out["n_seeds"] = grouped["seed"].nunique()
    out = out.reset_index()
    out["radius"] = out["radius"].astype(int)

    ref = paper.table1_frame().rename(columns={"train_acc": "paper_train_acc", "test_acc": "paper_test_acc"})
    out = out.merge(ref, on=["band", "radius"], how="left")
    out["_band_order"] = out["band"].map({b: i for i, b in enumerate(BANDS)})
    out = out.sort_values(["_band_order", "radius"], kind="stable").drop(columns="_band_order")

    columns = TABLE1_COLUMNS + WITHIN_BAND_COLUMNS + (CONTROL_COLUMNS if not control.empty else [])
    extra = [f"{m}_ci95" for m in metrics_out] + ["n_seeds"] if per_run["seed"].nunique() > 1 else []
    return out[columns + extra].reset_index(drop=True)


def _fmt(value: float, ci: float | None = None, digits: int = 4) -> str:
    if value is None or pd.isna(value):
        return "–"
    text = f"{value:.{digits}f}"
    if ci is not None and not pd.isna(ci):
        text += f" ± {ci:.{digits}f}"
    return text


def _fmt_delta(ours: float, ref: float, digits: int = 4) -> str:
    if pd.isna(ours) or pd.isna(ref):
        return "–"
    return f"{ours - ref:+.{digits}f}"


def table1_markdown(df: pd.DataFrame, caption: str) -> str:
    """Markdown Table 1 laid out like the paper's: an LFC block then an HFC block.

    Each accuracy shows ours (± 95 % CI when several seeds), the paper's, and Δ = ours −
    paper. ``caption`` says what our numbers are (dataset, model, scale).
    """
    _require_columns(df, TABLE1_COLUMNS, "table1_markdown")
    if not isinstance(caption, str) or not caption.strip():
        raise ValueError("table1_markdown: caption must be a non-empty string (dataset, model, scale)")
    radii = sorted(int(r) for r in df["radius"].unique())
    has_ci = "train_acc_ci95" in df.columns

    sub = ["r", "train acc.", "paper", "Δ", "test acc.", "paper", "Δ"]
    header = []
    for band in BANDS:
        header += [_BAND_NAMES[band]] + [""] * (len(sub) - 1)
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] * len(header)) + "|",
        "| " + " | ".join(sub * len(BANDS)) + " |",
    ]
    for r in radii:
        cells: list[str] = []
        for band in BANDS:
            hit = df[(df["band"] == band) & (df["radius"] == r)]
            if hit.empty:
                cells += [str(r)] + ["–"] * (len(sub) - 1)
                continue
            row = hit.iloc[0]
            for metric in ("train_acc", "test_acc"):
                if metric == "train_acc":
                    cells.append(str(r))
                ci = row[f"{metric}_ci95"] if has_ci else None
                cells += [
                    _fmt(row[metric], ci),
                    _fmt(row[f"paper_{metric}"]),
                    _fmt_delta(row[metric], row[f"paper_{metric}"]),
                ]
        lines.append("| " + " | ".join(cells) + " |")

    setup = paper.PAPER_SETUP
    note = (
        f"Ours: {caption.strip()}. Paper: {setup['dataset']} / {setup['model']}, "
        f"{setup['epochs']} epochs (Wang et al. 2020, Table 1). Δ = ours − paper."
    )
    if has_ci and "n_seeds" in df.columns:
        seeds = sorted({int(n) for n in df["n_seeds"].dropna()})
        note += f" Ours: mean ± 95 % t-interval over {'/'.join(map(str, seeds))} seeds."
    title = "**Table 1.** Training on LFC(r) or HFC(r) images, testing on the original test set."
    within = _within_band_markdown(df, radii, has_ci) if "own_band_test_acc" in df.columns else []
    return "\n".join([title, "", *lines, "", note, *within]) + "\n"


def _within_band_markdown(df: pd.DataFrame, radii: list[int], has_ci: bool) -> list[str]:
    """Table 1 beyond the paper: each model on its own band's test images, and the shift control."""
    control = "control_test_acc" in df.columns
    header = ["r", "LFC-trained: original", "own band x_l(r)", "gap", "HFC-trained: original", "own band x_h(r)", "gap"]
    if control:
        header += ["shift control: original", "own inputs", "gain"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]

    def cell(row, metric: str) -> str:
        if row is None or metric not in row.index:
            return "–"
        ci = row.get(f"{metric}_ci95") if has_ci else None
        if metric in ("transfer_gap", "control_gain"):
            value = row[metric]
            if pd.isna(value):
                return "–"
            text = f"{value:+.4f}"
            return text + (f" ± {ci:.4f}" if ci is not None and not pd.isna(ci) else "")
        return _fmt(row[metric], ci)

    for r in radii:
        cells = [str(r)]
        for band in BANDS:
            hit = df[(df["band"] == band) & (df["radius"] == r)]
            row = None if hit.empty else hit.iloc[0]
            cells += [cell(row, m) for m in ("test_acc", "own_band_test_acc", "transfer_gap")]
        if control:
            hit = df[(df["band"] == "high") & (df["radius"] == r)]
            row = None if hit.empty else hit.iloc[0]
            cells += [cell(row, m) for m in ("control_test_acc", "control_own_test_acc", "control_gain")]
        lines.append("| " + " | ".join(cells) + " |")
    text = (
        "Beyond the paper (docs/claims.md, \"Two protocols\"): the same models tested on the test images of "
        "their own band; gap = own band − original. The original-image protocol cannot tell \"the band holds no "
        "label information\" from \"a model trained on that band alone does not transfer to whole images\"; "
        "the own-band accuracy measures the first, the gap the second."
    )
    if control:
        text += (
            " Shift control: a model trained on x_h(r) of each training image plus x_l(r) of another, randomly "
            "drawn one (its labels sit in the HFC only, but its inputs are whole images); gain = its accuracy on "
            "the original test images minus the HFC(r)-trained model's, paired by seed."
        )
    return ["", "**Table 1, within band.**", "", *lines, "", text]


def variant_order(values: pd.Series) -> list:
    """Order of variants: a categorical's order, numeric ascending, else first appearance."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.dropna().unique())
        return [c for c in values.cat.categories if c in present]
    uniq = list(pd.unique(values.dropna()))
    if pd.api.types.is_numeric_dtype(values):
        return sorted(uniq)
    return uniq


def study_summary(metrics: pd.DataFrame, variant_col: str = "variant") -> pd.DataFrame:
    """One row per variant: final train/test accuracy, gap, and LFC/HFC accuracy per radius.

    ``train_acc`` is the accuracy on the run's own training images, ``test_acc`` on the
    original test images, ``gap`` = train_acc − test_acc; ``test_low_r{r}`` /
    ``test_high_r{r}`` and ``train_low_r{r}`` / ``train_high_r{r}`` are the final accuracies
    on LFC(r)/HFC(r) images of each split. Seeds are averaged; ``n_seeds`` counts them.
    """
    need = [variant_col, "run", "epoch", "train_band", "train_radius", "split", "band", "radius", "accuracy"]
    _require_columns(metrics, need, "study_summary")
    if metrics.empty:
        raise ValueError("study_summary: the metrics frame is empty")
    runs = _with_seed(metrics)
    _one_run_per_seed(runs, [variant_col], "study_summary")
    final = final_epoch(runs)

    per_run = pd.DataFrame(
        {
            "train_acc": _accuracy_at(final, "train", None, None),
            "test_acc": _accuracy_at(final, "test", "original", 0),
        }
    )
    per_run["gap"] = per_run["train_acc"] - per_run["test_acc"]
    band_cols: list[str] = []
    for split in ("test", "train"):
        for band in BANDS:
            sel = final[(final["split"] == split) & (final["band"] == band)]
            for r in sorted(int(x) for x in sel["radius"].unique()):
                col = f"{split}_{band}_r{r}"
                per_run[col] = _accuracy_at(final, split, band, r)
                band_cols.append(col)
    ident = final.groupby(["run", "seed"], sort=False)[variant_col].first()
    per_run = per_run.join(ident, how="right").reset_index()

    value_cols = ["train_acc", "test_acc", "gap", *band_cols]
    grouped = per_run.groupby(variant_col, sort=False)
    out = grouped[value_cols].mean()
    out["n_seeds"] = grouped["seed"].nunique()
    out = out.reindex(variant_order(metrics[variant_col]))
    return out.reset_index()[[variant_col, *value_cols, "n_seeds"]]


def to_markdown(df: pd.DataFrame, digits: int = 4) -> str:
    """Render a DataFrame as a GitHub Markdown table (floats to ``digits`` places, NaN as –)."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"to_markdown needs a DataFrame, got {type(df).__name__}")

    def cell(v) -> str:
        if v is None or (isinstance(v, float | np.floating) and np.isnan(v)):
            return "–"
        if isinstance(v, float | np.floating):
            return f"{v:.{digits}f}"
        return str(v).replace("|", "\\|").replace("\n", " ")

    cols = [str(c) for c in df.columns]
    lines = [
        "| " + " | ".join(c.replace("|", "\\|") for c in cols) + " |",
        "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(df[c]) else "---" for c in df.columns) + "|",
    ]
    for row in df.itertuples(index=False, name=None):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"
