"""An attack suite that gradient masking cannot fool, and the checklist that reads it (issue 12).

Table 2 says smoothing the first layer's kernels (Eq. 3) raises accuracy under FGSM and PGD.
Both follow the model's gradients, and Eq. 3 rescales and flattens the first layer, so a gain
seen only by gradient attacks may be gradient masking (Athalye et al. 2018; Carlini et al.
2019). This module attacks one model with

- ``fgsm``: the paper's FGSM (:func:`hfc.attacks.fgsm`);
- ``pgd``: PGD with more steps and random restarts (:func:`hfc.attacks.pgd_restarts`);
- ``apgd_ce`` / ``apgd_dlr``: APGD with the cross-entropy and the DLR margin loss, the
  gradient attacks of AutoAttack (:func:`hfc.attacks.apgd`);
- ``square``: the gradient-free Square attack with a query budget (:func:`hfc.attacks.square`);

and adds ``ensemble``: an image counts as robust only if it withstood every attack run at that
ε (the AutoAttack-style worst case). Every attack sees the same images.

:func:`attack_table` is the entry point for one model (any model, any images);
:func:`smoothing_attack_table` repeats it with the first layer smoothed by each ρ;
:func:`checklist` applies the sanity checks of Carlini et al. to such tables, and
:func:`suite_figure` draws robust accuracy against ε.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from hfc.attacks import _mode, apgd, fgsm, pgd_restarts, square
from hfc.smoothing import smooth_first_conv
from hfc.tables import ci95_halfwidth, to_markdown

__all__ = [
    "SUITE_ATTACKS",
    "GRADIENT_ATTACKS",
    "GRADIENT_FREE_ATTACKS",
    "ENSEMBLE",
    "TABLE_COLUMNS",
    "CHECKS",
    "CHECK_COLUMNS",
    "TOLERANCE",
    "NEAR_ZERO",
    "default_settings",
    "check_settings",
    "attack_table",
    "smoothing_attack_table",
    "checklist",
    "checklist_markdown",
    "suite_figure",
]

SUITE_ATTACKS = ("fgsm", "pgd", "apgd_ce", "apgd_dlr", "square")
GRADIENT_ATTACKS = ("fgsm", "pgd", "apgd_ce", "apgd_dlr")
GRADIENT_FREE_ATTACKS = ("square",)
ENSEMBLE = "ensemble"
TABLE_COLUMNS = ["attack", "eps", "accuracy", "n"]
_NAMES = {
    "clean": "clean",
    "fgsm": "FGSM",
    "pgd": "PGD (restarts)",
    "apgd_ce": "APGD-CE",
    "apgd_dlr": "APGD-DLR",
    "square": "Square (gradient-free)",
    ENSEMBLE: "worst case of all",
}
# The checks allow this much accuracy (a few images of a few hundred) before they fail, so a
# single image's luck does not raise a flag; NEAR_ZERO is what "about 0" means at the largest ε.
TOLERANCE = 0.03
NEAR_ZERO = 0.05
_KEY = "robustness.suite"


def default_settings() -> dict:
    """The suite's settings as the schema's defaults (``robustness.suite`` of ``hfc/config_schema.yaml``)."""
    from hfc.config import load_schema

    properties = load_schema()["properties"]["robustness"]["properties"]["suite"]["properties"]
    return {key: copy.deepcopy(spec["default"]) for key, spec in properties.items() if "default" in spec}


def _int(settings: Mapping, key: str, minimum: int) -> int:
    value = settings[key]
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= minimum):
        raise ValueError(f"{_KEY}.{key} must be an integer >= {minimum}, got {value!r}")
    return value


def check_settings(settings: Mapping) -> dict:
    """``settings`` over :func:`default_settings`, checked; errors name the config key.

    Keys: ``attacks`` (names from :data:`SUITE_ATTACKS`), ``eps`` (budgets in (0, 1]),
    ``pgd_steps``, ``pgd_restarts``, ``pgd_step_fraction``, ``apgd_steps``, ``apgd_restarts``,
    ``square_queries``, ``square_p_init``, ``seed``, ``batch_size`` (others are ignored here).
    """
    if not isinstance(settings, Mapping):
        raise ValueError(f"{_KEY} must be a mapping of settings, got {type(settings).__name__}")
    full = default_settings() | dict(settings)
    attacks = full["attacks"]
    if isinstance(attacks, str) or not isinstance(attacks, Sequence) or not attacks:
        raise ValueError(f"{_KEY}.attacks must be a non-empty list of attack names from {list(SUITE_ATTACKS)}")
    unknown = [a for a in attacks if a not in SUITE_ATTACKS]
    if unknown:
        raise ValueError(f"{_KEY}.attacks: unknown attack(s) {unknown}; allowed: {', '.join(SUITE_ATTACKS)}")
    if len(set(attacks)) != len(attacks):
        raise ValueError(f"{_KEY}.attacks lists an attack twice: {list(attacks)}")
    eps = full["eps"]
    if isinstance(eps, (str, bytes)) or not isinstance(eps, Sequence) or not eps:
        raise ValueError(f"{_KEY}.eps must be a non-empty list of budgets in (0, 1]")
    for e in eps:
        if not (isinstance(e, (int, float)) and not isinstance(e, bool) and 0 < e <= 1):
            raise ValueError(f"{_KEY}.eps: {e!r} is outside (0, 1] (L∞ budgets on the [0, 1] pixel scale)")
    if len(set(eps)) != len(eps):
        raise ValueError(f"{_KEY}.eps has repeated values: {list(eps)}")
    for key in ("pgd_steps", "pgd_restarts", "apgd_steps", "apgd_restarts", "square_queries", "batch_size"):
        _int(full, key, 1)
    _int(full, "seed", 0)
    fraction = full["pgd_step_fraction"]
    if not (isinstance(fraction, (int, float)) and not isinstance(fraction, bool) and 0 < fraction < math.inf):
        raise ValueError(f"{_KEY}.pgd_step_fraction must be a number > 0, got {fraction!r}")
    p_init = full["square_p_init"]
    if not (isinstance(p_init, (int, float)) and not isinstance(p_init, bool) and 0 < p_init < 1):
        raise ValueError(f"{_KEY}.square_p_init must be a number in (0, 1), got {p_init!r}")
    full["eps"] = sorted(float(e) for e in eps)
    return full


def _attack(name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, s: Mapping, gens) -> torch.Tensor:
    if name == "fgsm":
        return fgsm(model, x, y, eps)
    if name == "pgd":
        return pgd_restarts(model, x, y, eps, s["pgd_steps"], eps * s["pgd_step_fraction"], s["pgd_restarts"], gens["device"])  # fmt: skip
    if name in ("apgd_ce", "apgd_dlr"):
        return apgd(model, x, y, eps, s["apgd_steps"], name.split("_")[1], s["apgd_restarts"], gens["cpu"])
    return square(model, x, y, eps, s["square_queries"], s["square_p_init"], generator=gens["cpu"])


def attack_table(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    settings: Mapping,
    device: torch.device | str | None = None,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Robust accuracy of ``model`` under each attack of the suite at each ε.

    ``images`` N×C×H×W in [0, 1] (the model normalises), ``labels`` int64; both are moved to
    ``device`` (default: the model's) with the model. ``settings`` is the config's
    ``robustness.suite`` (missing keys take the schema's defaults, :func:`check_settings`).
    Returns :data:`TABLE_COLUMNS`: a ``clean`` row (ε = 0), one row per attack × ε, and with
    two or more attacks an ``ensemble`` row per ε (images robust to every attack run). Each
    attack × ε starts its random draws from ``settings["seed"]``, so adding an attack or an ε
    changes no other row. The model is attacked in eval mode; its modes are restored.
    """
    s = check_settings(settings)
    if device is None:
        param = next(model.parameters(), None)
        device = param.device if param is not None else images.device
    device = torch.device(device)
    model = model.to(device)
    images, labels = images.to(device), labels.to(device)
    n = int(images.shape[0])
    if n == 0 or labels.shape != (n,):
        raise ValueError(f"need at least one image and one label per image, got {tuple(images.shape)} and {tuple(labels.shape)}")
    batches = [slice(i, i + s["batch_size"]) for i in range(0, n, s["batch_size"])]
    rows = []

    def add(attack: str, eps: float, correct: torch.Tensor, seconds: float) -> None:
        accuracy = correct.sum().item() / n
        rows.append({"attack": attack, "eps": eps, "accuracy": accuracy, "n": n})
        if log is not None:
            log(f"{attack} eps={eps:g}: accuracy {accuracy:.4f} on {n} images ({seconds:.1f} s)")

    with _mode(model, eval_mode=True):
        start = time.perf_counter()
        with torch.no_grad():
            clean = torch.cat([model(images[b]).argmax(dim=1) == labels[b] for b in batches])
        add("clean", 0.0, clean, time.perf_counter() - start)
        worst = {eps: clean.clone() for eps in s["eps"]}
        for name in s["attacks"]:
            for eps in s["eps"]:
                start = time.perf_counter()
                gens = {
                    "cpu": torch.Generator().manual_seed(s["seed"]),
                    "device": torch.Generator(device=device).manual_seed(s["seed"]),
                }
                correct = []
                for b in batches:
                    adv = _attack(name, model, images[b], labels[b], eps, s, gens)
                    with torch.no_grad():
                        correct.append(model(adv).argmax(dim=1) == labels[b])
                correct = torch.cat(correct)
                worst[eps] &= correct
                add(name, eps, correct, time.perf_counter() - start)
        if len(s["attacks"]) > 1:
            for eps in s["eps"]:
                add(ENSEMBLE, eps, worst[eps], 0.0)
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def smoothing_attack_table(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    settings: Mapping,
    rhos: Sequence[float],
    device: torch.device | str | None = None,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """:func:`attack_table` of ``model`` with its first convolution smoothed by each ρ (Eq. 3).

    ρ = 0 is the model as trained. Columns ``rho`` and :data:`TABLE_COLUMNS`. The attacks are
    white-box against the smoothed model (a deep copy; ``model`` is not changed).
    """
    if isinstance(rhos, (str, bytes)) or not isinstance(rhos, Sequence) or not rhos:
        raise ValueError(f"rhos must be a non-empty list of numbers >= 0, got {rhos!r}")
    frames = []
    for rho in rhos:
        if not (isinstance(rho, (int, float)) and not isinstance(rho, bool) and 0 <= rho < math.inf):
            raise ValueError(f"rhos must hold finite numbers >= 0, got {rho!r}")
        smoothed = smooth_first_conv(model, rho)
        inner = None if log is None else (lambda line, rho=rho: log(f"rho={rho:g} {line}"))
        frames.append(attack_table(smoothed, images, labels, settings, device, inner).assign(rho=float(rho)))
    return pd.concat(frames, ignore_index=True)[["rho", *TABLE_COLUMNS]]


# ----------------------------------------------------------------------------- the checklist

CHECKS = {
    "falls_with_eps": "accuracy falls monotonically with ε (clean first), for every attack",
    "large_eps_near_zero": "at the largest ε every attack leaves about 0 accuracy",
    "pgd_not_above_fgsm": "PGD is at least as strong as FGSM at every ε",
    "gradient_free_not_better": "the gradient-free attack is not markedly stronger than the best gradient attack",
}
CHECK_COLUMNS = ["check", "passed", "status", "value", "detail"]
_GROUP_KEYS = ("model", "run", "seed", "rho")


def _pivot(group: pd.DataFrame) -> dict[str, pd.Series]:
    """{attack: accuracy indexed by ε} for one model × ρ × seed."""
    out = {}
    for attack, rows in group.groupby("attack", sort=False):
        if rows["eps"].duplicated().any():
            raise ValueError(f"checklist: attack {attack!r} has repeated ε in one group; pass one table per model/ρ/seed")
        out[attack] = rows.set_index("eps")["accuracy"].astype(float).sort_index()
    return out


def _check_group(acc: dict[str, pd.Series], tolerance: float, near_zero: float) -> list[dict]:
    attacks = [a for a in acc if a not in ("clean", ENSEMBLE)]
    clean = float(acc["clean"].iloc[0]) if "clean" in acc else None
    rows = []

    def row(check, passed, value, detail, failed_status="failed"):
        status = "not run" if passed is None else ("ok" if passed else failed_status)
        rows.append({"check": check, "passed": passed, "status": status, "value": value, "detail": detail})

    # 1. accuracy never rises with ε (each attack's curve, from the clean accuracy on)
    worst_rise, where = -math.inf, ""
    for attack in attacks + ([ENSEMBLE] if ENSEMBLE in acc else []):
        curve = acc[attack]
        values = ([clean] if clean is not None else []) + list(curve.to_numpy())
        steps = ([0.0] if clean is not None else []) + list(curve.index)
        for i in range(1, len(values)):
            rise = values[i] - values[i - 1]
            if rise > worst_rise:
                worst_rise, where = rise, f"{_NAMES.get(attack, attack)} ε {steps[i - 1]:g} → {steps[i]:g}: {rise:+.3f}"
    if attacks and math.isfinite(worst_rise):
        row("falls_with_eps", bool(worst_rise <= tolerance), worst_rise, f"largest rise {where}")
    else:
        row("falls_with_eps", None, math.nan, "no attack run")
    # 2. the largest ε drives every attack to about 0
    if attacks:
        top = max(acc[a].index.max() for a in attacks)
        at_top = {a: float(acc[a].get(top, math.nan)) for a in attacks}
        highest = max(at_top.values())
        detail = f"ε = {top:g}: " + ", ".join(f"{_NAMES[a]} {v:.3f}" for a, v in at_top.items())
        row("large_eps_near_zero", bool(highest <= near_zero), highest, detail)
    else:
        row("large_eps_near_zero", None, math.nan, "no attack run")
    # 3. PGD <= FGSM at every ε
    if "pgd" in acc and "fgsm" in acc:
        gap = (acc["pgd"] - acc["fgsm"]).dropna()
        eps = gap.idxmax()
        row("pgd_not_above_fgsm", bool(gap.max() <= tolerance), float(gap.max()),
            f"largest PGD − FGSM {gap.max():+.3f} at ε = {eps:g}")  # fmt: skip
    else:
        row("pgd_not_above_fgsm", None, math.nan, "needs fgsm and pgd in robustness.suite.attacks")
    # 4. gradient-free attack not markedly stronger than the best gradient attack
    free = [a for a in attacks if a in GRADIENT_FREE_ATTACKS]
    grad = [a for a in attacks if a in GRADIENT_ATTACKS]
    if free and grad:
        best_grad = pd.concat([acc[a] for a in grad], axis=1).min(axis=1)
        best_free = pd.concat([acc[a] for a in free], axis=1).min(axis=1)
        lead = (best_grad - best_free).dropna()
        eps = lead.idxmax()
        row("gradient_free_not_better", bool(lead.max() <= tolerance), float(lead.max()),
            f"largest lead of the gradient-free attack over the best gradient attack {lead.max():+.3f} at ε = {eps:g}",
            failed_status="gradient masking suspected")  # fmt: skip
    else:
        row("gradient_free_not_better", None, math.nan, "needs square and a gradient attack in robustness.suite.attacks")
    return rows


def checklist(table: pd.DataFrame, tolerance: float = TOLERANCE, near_zero: float = NEAR_ZERO) -> pd.DataFrame:
    """The four checks of :data:`CHECKS` per model × ρ × seed (whichever of those columns exist).

    ``table`` holds :data:`TABLE_COLUMNS` (from :func:`attack_table` / :func:`smoothing_attack_table`,
    possibly several concatenated with ``model`` / ``run`` / ``seed`` / ``rho`` columns).
    ``tolerance`` is the accuracy a check lets pass (rises with ε, PGD above FGSM, the
    gradient-free attack's lead); ``near_zero`` the accuracy that counts as "about 0". One row
    per group and check: ``passed`` (True / False / None when not run), ``status`` ("ok",
    "failed", "gradient masking suspected", "not run"), ``value`` (the worst case the check
    looked at) and ``detail``.
    """
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise ValueError("checklist needs a non-empty DataFrame from attack_table")
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"checklist: table lacks column(s) {missing}; it has {list(table.columns)}")
    for name, value in (("tolerance", tolerance), ("near_zero", near_zero)):
        if not (isinstance(value, (int, float)) and 0 <= value < 1):
            raise ValueError(f"checklist: {name} must be a number in [0, 1), got {value!r}")
    keys = [k for k in _GROUP_KEYS if k in table.columns]
    frame = table.assign(eps=table["eps"].astype(float).round(6))
    groups = frame.groupby(keys, sort=False) if keys else [((), frame)]
    rows = []
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        for check in _check_group(_pivot(group), tolerance, near_zero):
            rows.append(dict(zip(keys, key)) | check)
    out = pd.DataFrame(rows, columns=keys + CHECK_COLUMNS)
    out["passed"] = out["passed"].astype(object)
    return out


def checklist_markdown(checks: pd.DataFrame, caption: str = "", tolerance: float = TOLERANCE, near_zero: float = NEAR_ZERO) -> str:
    """The checklist as one Markdown row per model × ρ × seed and a column per check."""
    missing = [c for c in CHECK_COLUMNS if c not in checks.columns]
    if missing:
        raise ValueError(f"checklist_markdown: frame lacks column(s) {missing}")
    keys = [k for k in _GROUP_KEYS if k in checks.columns and k != "run"]
    marks = {"ok": "ok", "failed": "**failed**", "gradient masking suspected": "**gradient masking suspected**", "not run": "–"}
    cell = checks.assign(shown=[f"{marks[s]} ({v:+.3f})" if s != "not run" else "–" for s, v in zip(checks["status"], checks["value"])])
    wide = cell.pivot_table(index=keys, columns="check", values="shown", aggfunc="first", sort=False).reset_index()
    wide = wide[keys + [c for c in CHECKS if c in wide.columns]]
    flagged = checks[checks["status"] == "gradient masking suspected"]
    failed = checks[checks["status"] == "failed"]
    lines = [
        "**Attack-suite checklist** (Carlini et al. 2019): per model × ρ × seed, status (worst value seen).",
        "",
        to_markdown(wide).rstrip(),
        "",
        *[f"- `{c}`: {what}." for c, what in CHECKS.items()],
        f"- A check passes within {tolerance:g} of accuracy; \"about 0\" is at most {near_zero:g}. Values: largest rise "
        "with ε; highest accuracy at the largest ε; largest PGD − FGSM; largest lead of the gradient-free attack.",
        f"- {len(flagged)} group(s) flagged \"gradient masking suspected\", {len(failed)} other failed check(s), "
        f"of {checks.groupby(keys).ngroups if keys else 1} group(s).",
    ]
    if caption.strip():
        lines.append(f"- Scale: {caption.strip()}.")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- the figure


def suite_figure(table: pd.DataFrame, png, pdf, title: str = "") -> list[Path]:
    """Robust accuracy against ε: a panel per model (rows) × ρ (columns), a line per attack.

    Every line starts at the clean accuracy (ε = 0). With several seeds the line is their mean
    and the band the 95 % t-interval. The ``ensemble`` (worst case of all) is drawn dashed black.
    """
    # matplotlib and seaborn only when drawing: importing them costs every job and every
    # parse of the Snakefile (hfc.analyses imports this module) seconds.
    from hfc.figures import _PALETTE, plt, save_figure  # also selects the Agg backend

    missing = [c for c in ("rho", *TABLE_COLUMNS) if c not in table.columns]
    if missing or table.empty:
        raise ValueError(f"suite_figure needs a non-empty table with columns rho, {TABLE_COLUMNS}; lacks {missing}")
    frame = table.copy()
    if "model" not in frame.columns:
        frame["model"] = "model"
    if "seed" not in frame.columns:
        frame["seed"] = 0
    models = list(dict.fromkeys(frame["model"]))
    rhos = sorted(frame["rho"].astype(float).unique())
    attacks = [a for a in (*SUITE_ATTACKS, ENSEMBLE) if a in set(frame["attack"])]
    # Blue, orange, green, purple; the gradient-free attack brown with square markers, apart
    # from the gradient attacks (vermilion would sit too close to PGD's orange).
    colours = dict(zip(SUITE_ATTACKS, (_PALETTE[0], _PALETTE[1], _PALETTE[2], _PALETTE[3], _PALETTE[5])))
    fig, axes = plt.subplots(
        len(models), len(rhos), figsize=(2.6 * len(rhos) + 1.8, 2.3 * len(models) + 0.8),
        squeeze=False, sharex=True, sharey=True, layout="constrained",
    )  # fmt: skip
    for i, model in enumerate(models):
        for j, rho in enumerate(rhos):
            ax = axes[i, j]
            part = frame[(frame["model"] == model) & (frame["rho"].astype(float) == rho)]
            clean = part[part["attack"] == "clean"].groupby("seed")["accuracy"].mean()
            for attack in attacks:
                rows = part[part["attack"] == attack]
                per_seed = rows.pivot_table(index="seed", columns="eps", values="accuracy", aggfunc="mean")
                per_seed.insert(0, 0.0, clean.reindex(per_seed.index))
                eps = per_seed.columns.to_numpy(dtype=float)
                mean = per_seed.mean(axis=0).to_numpy()
                style = {"color": colours.get(attack, "black"), "marker": "o"}
                if attack == ENSEMBLE:
                    style |= {"linestyle": "--"}
                elif attack in GRADIENT_FREE_ATTACKS:
                    style |= {"marker": "s", "linestyle": "-."}
                ax.plot(eps, mean, markersize=3, linewidth=1.3, label=_NAMES[attack], **style)
                if len(per_seed) > 1:
                    half = np.array([ci95_halfwidth(per_seed[e].dropna().to_numpy()) for e in per_seed.columns])
                    ax.fill_between(eps, mean - half, mean + half, alpha=0.15, color=style["color"], linewidth=0)
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
            ax.set_title(f"{model}, ρ = {rho:g}", fontsize=9)
            if i == len(models) - 1:
                ax.set_xlabel("ε (L∞, [0, 1] scale)")
            if j == 0:
                ax.set_ylabel("robust accuracy")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8, frameon=False)
    seeds = frame["seed"].nunique()
    fig.suptitle(
        (title.strip() + "\n" if title.strip() else "")
        + f"Robust accuracy under each attack against ε ({seeds} seed{'s' if seeds > 1 else ''}"
        + ("; mean and 95 % interval)" if seeds > 1 else ")"),
        fontsize=10,
    )
    return save_figure(fig, png, pdf)
