"""Adversarial evaluation, kernel smoothing and the HFC "story" counts (paper §3.1, §6, §8).

What this module adds to :mod:`hfc.attacks`, :mod:`hfc.smoothing` and :mod:`hfc.svd`:

- :func:`attack_table`: one model's Table 2 cells, its first-layer kernels smoothed by each
  ρ (Eq. 3), clean and under fixed-ε FGSM / PGD; :func:`table2` averages seeds and joins the
  paper's numbers; :func:`table2_markdown` lays the result out like the paper's Table 2.
- :func:`story_predictions` / :func:`story_summary`: the Figure 2 selection (right on the
  original and on the high part, wrong on the low part) and its count, next to the count
  expected if the three events were independent (:func:`chance_count`). The same functions
  serve the frequency split (Figure 2) and the truncated-SVD split (§8, :func:`svd_parts`).
- :func:`smoothness_table`, :func:`figure7` and :func:`figure2`: kernel roughness per model
  and ρ, and the two figures.

Nothing here reads workflow files; the workflow scripts load models and tensors and pass them in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from hfc import paper
from hfc.attacks import accuracy_under_attack
from hfc.frequency import rescale_by_max
from hfc.smoothing import first_conv, kernel_smoothness, smooth_first_conv
from hfc.svd import svd_split
from hfc.tables import ci95_halfwidth, require_frame

__all__ = [
    "MODELS",
    "ATTACK_COLUMNS",
    "TABLE2_COLUMNS",
    "FIGURE7_RHO",
    "check_study_runs",
    "pgd_step_size",
    "attack_note",
    "attack_table",
    "table2",
    "table2_markdown",
    "predict",
    "story_mask",
    "chance_count",
    "story_predictions",
    "story_summary",
    "svd_parts",
    "smoothness_table",
    "kernel_mosaic",
    "figure7",
    "figure2",
]

# Paper names: M_natural (vanilla training) and M_adversarial (PGD adversarial training).
MODELS = ("natural", "adversarial")
_MODEL_NAMES = {"natural": "M_natural", "adversarial": "M_adversarial"}
ATTACK_COLUMNS = ["run", "seed", "model", "rho", "attack", "eps", "accuracy", "n"]
TABLE2_COLUMNS = ["model", "rho", "attack", "eps", "accuracy", "paper_accuracy"]
_ATTACK_ORDER = {"clean": 0, "fgsm": 1, "pgd": 2}
_ATTACK_NAMES = {"clean": "Clean", "fgsm": "FGSM", "pgd": "PGD"}
# Figure 7 shows the kernels smoothed with ρ = 1.0, as the paper does.
FIGURE7_RHO = 1.0
# Float keys (ρ, ε) are compared after rounding, so 0.1 from YAML meets 0.10 from the paper.
_KEY_DIGITS = 6


def _check_label(label: str) -> None:
    if label not in MODELS:
        raise ValueError(f"model label must be one of {MODELS}, got {label!r}")


def check_study_runs(runs: Mapping[str, str]) -> None:
    """Raise unless ``runs`` names both models (``grid.study_runs(config, "adversarial")``)."""
    missing = [m for m in MODELS if m not in runs]
    if missing:
        raise ValueError(
            f"no run for M_{missing[0]}: the robustness outputs need the adversarial study; "
            "set studies.adversarial: true in the config"
        )


def _check_numbers(name: str, values, *, positive: bool) -> list[float]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
        raise ValueError(f"{name} must be a non-empty list of numbers, got {values!r}")
    out = []
    for v in values:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if not ok or v < 0 or (positive and v == 0):
            bound = "> 0" if positive else ">= 0"
            raise ValueError(f"{name} must hold finite numbers {bound}, got {v!r} in {list(values)}")
        out.append(float(v))
    if len(set(out)) != len(out):
        raise ValueError(f"{name} has repeated values: {list(values)}")
    return out


# ----------------------------------------------------------------------------- Table 2


def pgd_step_size(eps: float, step_fraction: float) -> float:
    """The PGD step of an ε-attack: ``step_fraction × ε`` (so the step scales with the budget).

    With the default 10 steps of ε/4 the iterate can travel 2.5 ε, enough to reach any corner
    of the L∞ ball from its centre and to move along it afterwards.
    """
    if not (isinstance(step_fraction, (int, float)) and 0 < step_fraction < math.inf):
        raise ValueError(f"PGD step fraction must be a finite number > 0, got {step_fraction!r}")
    return float(eps) * float(step_fraction)


def attack_table(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    run: str,
    seed: int,
    label: str,
    rhos: Sequence[float],
    eps: Sequence[float],
    pgd_steps: int,
    pgd_step_fraction: float,
    batch_size: int = 500,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """One model's Table 2 cells: for each ρ, clean accuracy and FGSM / PGD accuracy at each ε.

    The first convolution is smoothed by Eq. 3 with each ρ (:func:`hfc.smoothing.smooth_first_conv`;
    ρ = 0 is the model as trained). Attacks are white-box against the smoothed model: fixed-ε
    L∞, untargeted, no random start; PGD takes ``pgd_steps`` steps of ``pgd_step_fraction × ε``
    (see :mod:`hfc.attacks` for how this differs from the authors' Foolbox search).
    ``images`` (N×C×H×W in [0, 1]) and ``labels`` are moved to the model's device once.
    Returns a frame with :data:`ATTACK_COLUMNS`; the clean row has ``attack="clean"``, ``eps=0``.
    ``label`` is "natural" / "adversarial" for Table 2 (:func:`table2` takes only those), or
    any other model name (hfc.analyses: every model's own table).
    """
    if not isinstance(label, str) or not label:
        raise ValueError(f"label must be a non-empty model name, got {label!r}")
    rhos = _check_numbers("rhos", rhos, positive=False)
    eps = _check_numbers("eps", eps, positive=True)
    if not (isinstance(pgd_steps, int) and not isinstance(pgd_steps, bool) and pgd_steps >= 1):
        raise ValueError(f"pgd_steps must be an int >= 1, got {pgd_steps!r}")
    param = next(model.parameters(), None)
    device = param.device if param is not None else images.device
    images, labels = images.to(device), labels.to(device)
    n = int(images.shape[0])
    rows = []

    def add(rho: float, attack: str, e: float, accuracy: float) -> None:
        rows.append({"run": run, "seed": int(seed), "model": label, "rho": rho, "attack": attack,
                     "eps": e, "accuracy": accuracy, "n": n})  # fmt: skip
        if log is not None:
            log(f"{run} seed {seed} ({label}) rho={rho:g} {attack} eps={e:g}: accuracy {accuracy:.4f} on {n}")

    for rho in rhos:
        smoothed = smooth_first_conv(model, rho).eval()
        add(rho, "clean", 0.0, accuracy_under_attack(smoothed, images, labels, "clean", batch_size=batch_size))
        for e in eps:
            add(rho, "fgsm", e, accuracy_under_attack(smoothed, images, labels, "fgsm", e, batch_size=batch_size))
        for e in eps:
            acc = accuracy_under_attack(
                smoothed, images, labels, "pgd", e, batch_size=batch_size,
                steps=pgd_steps, step_size=pgd_step_size(e, pgd_step_fraction), random_start=False,
            )  # fmt: skip
            add(rho, "pgd", e, acc)
    return pd.DataFrame(rows, columns=ATTACK_COLUMNS)


def attack_note(settings: Mapping) -> str:
    """One sentence on how Table 2 was attacked here, and why it is not the paper's protocol."""
    size = "all" if settings["test_size"] is None else settings["test_size"]
    return (
        f"Ours: white-box fixed-ε L∞ attacks on {size} stratified test images (seed {settings['seed']}); "
        f"PGD {settings['pgd_steps']} steps of {settings['pgd_step_fraction']:g}·ε, no random start. The "
        "paper's Foolbox-2 attacks searched each image for its smallest successful perturbation (up to "
        "1.0), so its columns are not fixed-ε accuracies: compare orderings, not values (hfc/attacks.py)."
    )


def _keyed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(
        rho=frame["rho"].astype(float).round(_KEY_DIGITS), eps=frame["eps"].astype(float).round(_KEY_DIGITS)
    )


def table2(attacks: pd.DataFrame) -> pd.DataFrame:
    """Table 2 beside the paper's: one row per model × ρ × attack × ε.

    ``attacks`` is the concatenation of :func:`attack_table` frames (one per run and seed).
    Columns :data:`TABLE2_COLUMNS`; ``paper_accuracy`` is NaN where the paper has no cell (an
    ε or ρ it did not use). With several seeds ``accuracy`` is their mean and the frame also
    carries ``accuracy_ci95`` (95 % t-interval half-width) and ``n_seeds``.
    """
    require_frame(attacks, ATTACK_COLUMNS, "table2")
    bad = sorted(set(attacks["model"]) - set(MODELS))
    if bad:
        raise ValueError(f"table2: unknown model label(s) {bad}; expected {MODELS}")
    runs = attacks.groupby(["model", "seed"])["run"].nunique()
    if (runs > 1).any():
        model, seed = runs[runs > 1].index[0]
        raise ValueError(f"table2: several runs are labelled {model!r} for seed {seed}; pass one run per model")
    keys = ["model", "rho", "attack", "eps"]
    frame = _keyed(attacks)
    dup = frame.duplicated(keys + ["seed"])
    if dup.any():
        raise ValueError(
            f"table2: {int(dup.sum())} duplicated cell(s), e.g. {frame.loc[dup, keys + ['seed']].iloc[0].to_dict()}"
        )
    grouped = frame.groupby(keys, sort=False)
    out = grouped["accuracy"].mean().to_frame()
    several = frame["seed"].nunique() > 1
    if several:
        out["accuracy_ci95"] = grouped["accuracy"].agg(ci95_halfwidth)
        out["n_seeds"] = grouped["seed"].nunique()
    out = out.reset_index()
    ref = _keyed(paper.table2_frame()).rename(columns={"accuracy": "paper_accuracy"})
    out = out.merge(ref, on=keys, how="left")
    out = out.assign(
        _m=out["model"].map({m: i for i, m in enumerate(MODELS)}), _a=out["attack"].map(_ATTACK_ORDER)
    ).sort_values(["_m", "rho", "_a", "eps"], kind="stable")
    extra = ["accuracy_ci95", "n_seeds"] if several else []
    return out[TABLE2_COLUMNS + extra].reset_index(drop=True)


def _cell(row: pd.Series | None, digits: int) -> str:
    if row is None:
        return "–"
    ours = f"{row['accuracy']:.{digits}f}"
    if "accuracy_ci95" in row and not pd.isna(row["accuracy_ci95"]):
        ours += f" ± {row['accuracy_ci95']:.{digits}f}"
    if pd.isna(row["paper_accuracy"]):
        return f"{ours} / – / –"
    return f"{ours} / {row['paper_accuracy']:.{digits}f} / {row['accuracy'] - row['paper_accuracy']:+.{digits}f}"


def table2_markdown(table: pd.DataFrame, caption: str, attack_note: str = "", digits: int = 3) -> str:
    """Markdown Table 2 laid out like the paper's: rows M_natural / M_adversarial × ρ, columns
    Clean, FGSM ε…, PGD ε…; each cell is ``ours / paper / Δ`` (Δ = ours − paper).

    ``caption`` says at which scale our numbers were made; ``attack_note`` how we attacked.
    """
    require_frame(table, TABLE2_COLUMNS, "table2_markdown")
    if not isinstance(caption, str) or not caption.strip():
        raise ValueError("table2_markdown: caption must be a non-empty string (dataset, model, scale)")
    table = _keyed(table)
    columns = [("clean", 0.0)] + [
        (attack, e) for attack in ("fgsm", "pgd") for e in sorted(table.loc[table["attack"] == attack, "eps"].unique())
    ]
    header = ["model", "ρ"] + [_ATTACK_NAMES[a] if a == "clean" else f"{_ATTACK_NAMES[a]} ε={e:g}" for a, e in columns]
    lines = ["| " + " | ".join(header) + " |", "|---|---:|" + "|".join(["---:"] * len(columns)) + "|"]
    cells = {(r.model, r.rho, r.attack, r.eps): r for r in (row for _, row in table.iterrows())}
    for model in [m for m in MODELS if m in set(table["model"])]:
        for i, rho in enumerate(sorted(table.loc[table["model"] == model, "rho"].unique())):
            name = _MODEL_NAMES[model] if i == 0 else ""
            row = [name, f"{rho:g}"] + [_cell(cells.get((model, rho, a, e)), digits) for a, e in columns]
            lines.append("| " + " | ".join(row) + " |")
    setup = paper.PAPER_SETUP
    notes = [
        f"Ours: {caption.strip()}.",
        f"Paper: {setup['dataset']} / {setup['model']} (Wang et al. 2020, Table 2). Each cell: ours / paper / Δ = ours − paper.",
    ]
    if attack_note.strip():
        notes.append(attack_note.strip())
    if "n_seeds" in table.columns:
        seeds = sorted({int(n) for n in table["n_seeds"].dropna()})
        notes.append(f"Ours: mean ± 95 % t-interval over {'/'.join(map(str, seeds))} seeds.")
    title = (
        "**Table 2.** Accuracy of M_natural and M_adversarial with first-layer kernels smoothed by ρ "
        "(Eq. 3; ρ = 0 is unsmoothed), clean and under FGSM / PGD."
    )
    return "\n".join([title, "", *lines, "", *notes]) + "\n"


# ----------------------------------------------------------------------------- Figure 2 and §8


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted class, its softmax probability) per image, model in eval mode, on the model's device."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
        raise ValueError(
            f"images must be a float tensor N×C×H×W, got {type(images).__name__} {tuple(getattr(images, 'shape', ()))}"
        )
    if not (isinstance(batch_size, int) and batch_size > 0):
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    was_training = model.training
    model.eval()
    param = next(model.parameters(), None)
    device = param.device if param is not None else images.device
    preds, confs = [], []
    for start in range(0, images.shape[0], batch_size):
        probs = torch.softmax(model(images[start : start + batch_size].to(device)), dim=1)
        conf, pred = probs.max(dim=1)
        preds.append(pred)
        confs.append(conf)
    model.train(was_training)
    return torch.cat(preds), torch.cat(confs)


def story_mask(labels: torch.Tensor, pred_original, pred_low, pred_high) -> torch.Tensor:
    """Figure 2's condition per image: right on the original and on the high part, wrong on the low part."""
    labels = torch.as_tensor(labels)
    return (
        (torch.as_tensor(pred_original) == labels)
        & (torch.as_tensor(pred_high) == labels)
        & (torch.as_tensor(pred_low) != labels)
    )


def _as_bool(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy().astype(bool)
    return np.asarray(x, dtype=bool)


def chance_count(correct_original, correct_high, correct_low) -> float:
    """Count of Figure-2 images expected if the three correctness events were independent.

    ``n · P(original right) · P(high right) · P(low wrong)``, each probability the observed
    rate over the ``n`` images (boolean vectors of equal length). A count far above this says
    the high part carries the prediction more often than chance alone would explain.
    """
    o, h, low = (_as_bool(x) for x in (correct_original, correct_high, correct_low))
    if not (o.ndim == h.ndim == low.ndim == 1 and len(o) == len(h) == len(low)):
        raise ValueError(
            f"correctness vectors must be 1-D and of equal length, got shapes {o.shape}, {h.shape}, {low.shape}"
        )
    n = len(o)
    if n == 0:
        raise ValueError("chance_count needs at least one image")
    return float(n * o.mean() * h.mean() * (1.0 - low.mean()))


def story_predictions(
    model: nn.Module,
    original: torch.Tensor,
    low: torch.Tensor,
    high: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int = 500,
) -> pd.DataFrame:
    """Per image: label, prediction and confidence on original / low / high, and ``selected``.

    ``low`` and ``high`` are the two parts exactly as the model should see them (already
    rescaled when the pipeline rescales). ``selected`` is :func:`story_mask`. Columns:
    index, label, pred_original, conf_original, pred_low, conf_low, pred_high, conf_high, selected.
    """
    n = original.shape[0]
    if not (low.shape == high.shape == original.shape) or labels.shape != (n,):
        raise ValueError(
            f"original, low and high must share one shape and labels be ({n},); got {tuple(original.shape)}, "
            f"{tuple(low.shape)}, {tuple(high.shape)}, labels {tuple(labels.shape)}"
        )
    out = {"index": np.arange(n), "label": labels.cpu().numpy()}
    preds = {}
    for name, x in (("original", original), ("low", low), ("high", high)):
        pred, conf = predict(model, x, batch_size)
        preds[name] = pred.cpu()
        out[f"pred_{name}"] = preds[name].numpy()
        out[f"conf_{name}"] = conf.cpu().numpy()
    out["selected"] = story_mask(labels.cpu(), preds["original"], preds["low"], preds["high"]).numpy()
    return pd.DataFrame(out)


def story_summary(predictions: pd.DataFrame) -> dict:
    """count, n_test, rate, the three marginal rates and ``expected_by_chance`` (:func:`chance_count`)."""
    require_frame(predictions, ["label", "pred_original", "pred_low", "pred_high", "selected"], "story_summary")
    right = {b: (predictions[f"pred_{b}"] == predictions["label"]).to_numpy() for b in ("original", "low", "high")}
    n = len(predictions)
    count = int(predictions["selected"].sum())
    return {
        "count": count,
        "n_test": n,
        "rate": count / n,
        "p_original_right": float(right["original"].mean()),
        "p_high_right": float(right["high"].mean()),
        "p_low_wrong": float(1 - right["low"].mean()),
        "expected_by_chance": chance_count(right["original"], right["high"], right["low"]),
    }


def svd_parts(images: torch.Tensor, rank: int, rescale: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """§8's control split: (dominant, trailing) truncated-SVD parts, the LFC / HFC stand-ins.

    Per image and channel, ``dominant`` keeps the ``rank`` largest singular values and
    ``trailing`` the rest (:func:`hfc.svd.svd_split`). When ``rescale`` the two parts get the
    same per-image max rescale (:func:`hfc.frequency.rescale_by_max`) the frequency parts get
    in training and evaluation, so the SVD count and the frequency count are taken on inputs
    prepared alike and differ only in how the image was split.
    """
    dominant, trailing = svd_split(images, rank)
    if rescale:
        dominant, trailing = rescale_by_max(dominant), rescale_by_max(trailing)
    return dominant, trailing


# ----------------------------------------------------------------------------- kernels, Figure 7


def smoothness_table(
    models: Mapping[tuple[str, int, str], nn.Module], rhos: Sequence[float] = (0.0, FIGURE7_RHO)
) -> pd.DataFrame:
    """Roughness of each model's first-layer kernels, raw and smoothed (lower = smoother).

    ``models`` maps (run, seed, label) to a model. Columns: run, seed, model, rho,
    adjacent_diff, high_freq_energy (:func:`hfc.smoothing.kernel_smoothness`, both scale-free,
    so Eq. 3's change of scale does not count as smoothing).
    """
    rhos = _check_numbers("rhos", rhos, positive=False)
    rows = []
    for (run, seed, label), model in models.items():
        _check_label(label)
        for rho in rhos:
            weight = first_conv(smooth_first_conv(model, rho)).weight
            rows.append({"run": run, "seed": int(seed), "model": label, "rho": rho, **kernel_smoothness(weight)})
    if not rows:
        raise ValueError("smoothness_table: no models given")
    return pd.DataFrame(rows, columns=["run", "seed", "model", "rho", "adjacent_diff", "high_freq_energy"])


_CHANNEL_GAP = 3  # blank columns between the kernel blocks of two input channels


def kernel_mosaic(weight: torch.Tensor, columns: int | None = None) -> np.ndarray:
    """Tile (out, in, kh, kw) kernels into one 2-D array with NaN gaps.

    Per input channel a block of ``out`` kernels in rows of ``columns`` (default ⌈√out⌉, a
    near-square block); the channel blocks sit side by side, ``_CHANNEL_GAP`` columns apart.
    NaN cells are drawn blank.
    """
    if not isinstance(weight, torch.Tensor) or weight.ndim != 4:
        raise ValueError(f"weight must be (out, in, kh, kw), got {tuple(getattr(weight, 'shape', ()))}")
    out_ch, in_ch, kh, kw = weight.shape
    if columns is None:
        columns = math.ceil(math.sqrt(out_ch))
    cols = min(columns, out_ch)
    rows = math.ceil(out_ch / cols)
    block_h, block_w = rows * (kh + 1) - 1, cols * (kw + 1) - 1
    mosaic = np.full((block_h, in_ch * (block_w + _CHANNEL_GAP) - _CHANNEL_GAP), np.nan)
    w = weight.detach().cpu().double().numpy()
    for c in range(in_ch):
        x0 = c * (block_w + _CHANNEL_GAP)
        for o in range(out_ch):
            r, q = divmod(o, cols)
            mosaic[r * (kh + 1) : r * (kh + 1) + kh, x0 + q * (kw + 1) : x0 + q * (kw + 1) + kw] = w[o, c]
    return mosaic


def _diverging_cmap():
    import seaborn as sns

    # seaborn's "vlag" is a colour-blind-safe blue–white–red map; white sits at 0 here.
    return sns.color_palette("vlag", as_cmap=True).with_extremes(bad="white")


def figure7(models: Mapping[str, nn.Module], png, pdf, rho: float = FIGURE7_RHO) -> list[Path]:
    """Figure 7: first-layer kernels of M_natural and M_adversarial, raw and smoothed by ``rho``.

    ``models`` maps "natural" / "adversarial" to a model. One panel per (model, raw/smoothed),
    each a mosaic of every kernel per input channel with its own diverging colour map centred
    at 0 (smoothing with ρ = 1 scales weights by up to 9, so panels do not share one scale);
    the panel title gives the kernels' roughness scores.
    """
    # matplotlib and seaborn only when drawing: importing them costs every job and every
    # parse of the Snakefile (hfc.analyses imports this module) seconds.
    from hfc.figures import _PALETTE, plt, save_figure  # also selects the Agg backend

    labels = [m for m in MODELS if m in models]
    if not labels:
        raise ValueError(f"figure7 needs at least one of {MODELS}, got {sorted(models)}")
    for label in models:
        _check_label(label)
    weights = {
        (label, r): first_conv(smooth_first_conv(models[label], r)).weight.detach()
        for label in labels
        for r in (0.0, rho)
    }
    mosaics = {key: kernel_mosaic(w) for key, w in weights.items()}
    height, width = next(iter(mosaics.values())).shape
    in_ch = next(iter(weights.values())).shape[1]
    # One input channel: raw | smoothed side by side. Several: each panel is a wide strip of
    # channel blocks, so the four panels are stacked. Cells shrink so a panel stays <= 12 in wide.
    cols = 2 if in_ch == 1 else 1
    cell = min(0.18, 12 / width)
    fig, axes = plt.subplots(
        len(labels) * 2 // cols, cols, figsize=(cols * (cell * width + 1.4), len(labels) * 2 // cols * (cell * height + 0.9)),
        squeeze=False, layout="constrained",
    )  # fmt: skip
    cmap = _diverging_cmap()
    for i, label in enumerate(labels):
        for j, r in enumerate((0.0, rho)):
            ax, w, mosaic = axes.flat[2 * i + j], weights[(label, r)], mosaics[(label, r)]
            limit = float(np.nanmax(np.abs(mosaic))) or 1.0
            image = ax.imshow(mosaic, cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest")
            score = kernel_smoothness(w)
            state = "raw" if r == 0 else f"smoothed, ρ = {r:g}"
            ax.set_title(
                f"{_MODEL_NAMES[label]} ({state})\nadjacent diff {score['adjacent_diff']:.2f}, "
                f"HF energy {score['high_freq_energy']:.2f}",
                fontsize=9,
            )
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if in_ch > 1:
                block = (width + _CHANNEL_GAP) / in_ch
                ax.set_xticks(
                    [c * block + (block - _CHANNEL_GAP - 1) / 2 for c in range(in_ch)],
                    [f"channel {c}" for c in range(in_ch)],
                    fontsize=8,
                )
                ax.tick_params(length=0)
            fig.colorbar(image, ax=ax, shrink=0.8, label="weight")
    out_ch, in_ch, kh, kw = weights[(labels[0], 0.0)].shape
    fig.suptitle(
        f"First-layer kernels ({out_ch} kernels × {in_ch} input channel{'s' if in_ch > 1 else ''}, {kh}×{kw}); "
        "lower scores = smoother",
        fontsize=10,
    )
    return save_figure(fig, png, pdf)


def _display(image: torch.Tensor) -> tuple[np.ndarray, str | None]:
    x = image.detach().cpu().float().clamp(0, 1).numpy()
    if x.shape[0] == 1:
        return x[0], "gray"
    return np.transpose(x, (1, 2, 0)), None


def figure2(
    original: torch.Tensor,
    low: torch.Tensor,
    high: torch.Tensor,
    predictions: pd.DataFrame,
    classes: Sequence[str],
    radius: int,
    png,
    pdf,
    max_samples: int = 8,
    rescaled: bool = True,
) -> list[Path]:
    """Figure 2: up to ``max_samples`` selected test images, each as original / LFC / HFC.

    ``predictions`` comes from :func:`story_predictions` on these very tensors. The samples
    are the first selected ones in test-set order (no cherry-picking). Images are shown as
    the model sees them (say ``rescaled`` when the pipeline max-rescaled LFC / HFC), clipped
    to [0, 1]; under each: the predicted class, its confidence and ✓/✗.
    """
    from hfc.figures import _PALETTE, plt, save_figure  # only when drawing, as in figure7

    require_frame(predictions, ["index", "label", "pred_original", "pred_low", "pred_high", "selected"], "figure2")
    chosen = predictions[predictions["selected"]].head(max_samples)
    summary = story_summary(predictions)
    per_row = 2
    rows = max(1, math.ceil(len(chosen) / per_row))
    fig = plt.figure(figsize=(per_row * 4.6, rows * 2.1 + 0.6), layout="constrained")
    title = (
        f"Test images M_natural gets right on the original and on HFC (r = {radius}) but wrong on LFC: "
        f"{summary['count']} of {summary['n_test']} (independence would give {summary['expected_by_chance']:.1f})\n"
        "the first ones in test order; LFC / HFC as the model sees them"
        + (" (per-image max-rescaled)" if rescaled else "")
        + ", clipped to [0, 1] for display"
    )
    if chosen.empty:
        fig.text(0.5, 0.5, "no test image meets the condition", ha="center", va="center")
        fig.suptitle(title, fontsize=10)
        return save_figure(fig, png, pdf)
    right, wrong = _PALETTE[0], _PALETTE[4]  # blue and vermilion
    subfigs = np.atleast_2d(fig.subfigures(rows, per_row, wspace=0.06, hspace=0.04)).reshape(rows, per_row)
    bands = (("original", "original", original), ("low", f"LFC r={radius}", low), ("high", f"HFC r={radius}", high))
    for k, sub in enumerate(subfigs.flat):
        if k >= len(chosen):
            sub.set_visible(False)
            continue
        row = chosen.iloc[k]
        idx = int(row["index"])
        axes = sub.subplots(1, 3)
        for ax, (band, name, images) in zip(axes, bands):
            pixels, cmap = _display(images[idx])
            ax.imshow(pixels, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(name, fontsize=8)
            pred = int(row[f"pred_{band}"])
            ok = pred == int(row["label"])
            ax.set_xlabel(
                f"{classes[pred]} {row[f'conf_{band}']:.2f} {'✓' if ok else '✗'}",
                fontsize=8,
                color=right if ok else wrong,
            )
        sub.suptitle(f"test image {idx}: {classes[int(row['label'])]}", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, png, pdf)
