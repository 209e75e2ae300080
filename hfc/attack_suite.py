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

Square's budget (issue 20). A query-limited attack far from its plateau cannot find what the
gradient attacks miss, so a check that compares it with them cannot fail. Square therefore gets
``square_queries`` (AutoAttack's 5000, its plateau on the default's models:
benchmarks/square_budget.py) where the verdicts are decided (``square_eps`` × ``square_rhos``)
and ``square_queries_elsewhere`` at the other points. It is made cheap rather than small: an
image stops being queried once misclassified, every ρ × ε of a budget is searched at once
(:func:`_square_blocks`; each point still equals :func:`hfc.attacks.square` run alone), and its
forward passes run channels-last.

:func:`attack_table` is the entry point for one model (any model, any images);
:func:`smoothing_attack_table` repeats it with the first layer smoothed by each ρ;
:func:`checklist` applies the sanity checks of Carlini et al. to such tables, judging each
attack by what it can do (the worst case of all attacks, not FGSM or a budget-limited Square,
must reach about 0 at the largest ε; a check that could not have failed says "not informative
at this budget"); :func:`square_budget_table` measures Square's plateau, and
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

from hfc.attacks import _margin, _mode, _square_draws, _square_search, _square_sides, apgd, fgsm, pgd_restarts
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
    "PLATEAU_QUERIES",
    "STATUSES",
    "NOT_INFORMATIVE",
    "ITERATIVE_ATTACKS",
    "at_plateau",
    "default_settings",
    "check_settings",
    "square_queries_at",
    "attack_table",
    "smoothing_attack_table",
    "square_budget_table",
    "checklist",
    "checklist_markdown",
    "suite_figure",
]

SUITE_ATTACKS = ("fgsm", "pgd", "apgd_ce", "apgd_dlr", "square")
GRADIENT_ATTACKS = ("fgsm", "pgd", "apgd_ce", "apgd_dlr")
GRADIENT_FREE_ATTACKS = ("square",)
ENSEMBLE = "ensemble"
TABLE_COLUMNS = ["attack", "eps", "accuracy", "n", "queries", "accuracy_at_half"]
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
# Square's plateau (at_plateau): AutoAttack's budget (Croce & Hein 2020), where Square's accuracy on
# the default run's models stopped falling (5000 -> 10000 queries: at most -0.01 at ε = 0.09).
PLATEAU_QUERIES = 5000
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


def _number_list(full: Mapping, key: str) -> list[float] | None:
    values = full[key]
    if values is None:
        return None
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise ValueError(f"{_KEY}.{key} must be null (every point) or a non-empty list of numbers, got {values!r}")
    for v in values:
        if not (isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < math.inf):
            raise ValueError(f"{_KEY}.{key}: {v!r} is not a finite number >= 0")
    return sorted({float(v) for v in values})


def check_settings(settings: Mapping) -> dict:
    """``settings`` over :func:`default_settings`, checked; errors name the config key.

    Keys: ``attacks`` (names from :data:`SUITE_ATTACKS`), ``eps`` (budgets in (0, 1]),
    ``pgd_steps``, ``pgd_restarts``, ``pgd_step_fraction``, ``apgd_steps``, ``apgd_restarts``,
    ``square_queries``, ``square_eps``, ``square_rhos`` (lists, or None for every point),
    ``square_queries_elsewhere``, ``square_p_init``, ``seed``, ``batch_size``, ``max_minutes``
    (others are ignored here).
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
    _int(full, "square_queries_elsewhere", 0)
    _int(full, "seed", 0)
    fraction = full["pgd_step_fraction"]
    if not (isinstance(fraction, (int, float)) and not isinstance(fraction, bool) and 0 < fraction < math.inf):
        raise ValueError(f"{_KEY}.pgd_step_fraction must be a number > 0, got {fraction!r}")
    p_init = full["square_p_init"]
    if not (isinstance(p_init, (int, float)) and not isinstance(p_init, bool) and 0 < p_init < 1):
        raise ValueError(f"{_KEY}.square_p_init must be a number in (0, 1), got {p_init!r}")
    minutes = full["max_minutes"]
    if not (isinstance(minutes, (int, float)) and not isinstance(minutes, bool) and 0 < minutes < math.inf):
        raise ValueError(f"{_KEY}.max_minutes must be a number of minutes > 0, got {minutes!r}")
    full["eps"] = sorted(float(e) for e in eps)
    full["square_eps"] = _number_list(full, "square_eps")
    full["square_rhos"] = _number_list(full, "square_rhos")
    # An ε or ρ named here but not attacked matches no point (a library call may attack other ε);
    # the workflow refuses one at parse time (hfc.config.check_limits).
    return full


def square_queries_at(s: Mapping, rho: float | None, eps: float) -> int:
    """Square's query budget at one point: ``square_queries`` where the verdicts are decided
    (``square_eps`` × ``square_rhos``; null = every ε / ρ; ``rho`` None = an unsmoothed model
    outside a ρ sweep, held to ``square_eps`` only), ``square_queries_elsewhere`` elsewhere (0 = not run)."""
    at_eps = s["square_eps"] is None or round(eps, 6) in {round(e, 6) for e in s["square_eps"]}
    at_rho = rho is None or s["square_rhos"] is None or round(rho, 6) in {round(r, 6) for r in s["square_rhos"]}
    return s["square_queries"] if at_eps and at_rho else s["square_queries_elsewhere"]


# Generous forward-pass rates for the parse-time time check: this project's 2-core VM ran the small
# CNN's channels-last forward pass at about 20 GMAC per CPU-second (benchmarks/square_budget.py).
CPU_MACS_PER_SECOND = 50e9
GPU_MACS_PER_SECOND = 1e13


def assumed_macs_per_second(device: str, threads: int = 1) -> float:
    """The rate :func:`square_worst_case_seconds` assumes: generous, so that only a budget that
    cannot fit is refused (CPU per thread; any other device as a GPU)."""
    return CPU_MACS_PER_SECOND * max(int(threads or 1), 1) if device == "cpu" else GPU_MACS_PER_SECOND


def square_worst_case_seconds(s: Mapping, rhos: Sequence[float], n_images: int, macs: int, device: str, threads: int = 1) -> float:
    """Seconds Square needs per attack_suite job if no image is ever fooled (every image costs
    1 + queries forward passes at every point), at :func:`assumed_macs_per_second`."""
    passes = sum(
        n_images * (1 + square_queries_at(s, float(rho), float(eps))) if square_queries_at(s, float(rho), float(eps)) else 0
        for rho in rhos
        for eps in s["eps"]
    )
    return passes * macs / assumed_macs_per_second(device, threads)


def _attack(name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, s: Mapping, gens) -> torch.Tensor:
    if name == "fgsm":
        return fgsm(model, x, y, eps)
    if name == "pgd":
        return pgd_restarts(model, x, y, eps, s["pgd_steps"], eps * s["pgd_step_fraction"], s["pgd_restarts"], gens["device"])  # fmt: skip
    return apgd(model, x, y, eps, s["apgd_steps"], name.split("_")[1], s["apgd_restarts"], gens["cpu"])


def _fast(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in channels-last memory format for Square's many forward passes.

    Square only reads logits, one forward pass per image and query, so that pass is its whole
    cost; on a CPU, channels-last convolutions and poolings of the small CNN ran about 3× faster
    than the default layout (benchmarks/attacks.py). Logits may differ in the last bits from the
    default layout's, which is why only Square, whose every query is a fresh forward pass, uses it.
    """
    fast = copy.deepcopy(model)
    if any(p.ndim == 4 for p in fast.parameters()):
        fast = fast.to(memory_format=torch.channels_last)
    return fast


def _square_blocks(
    models: Sequence[nn.Module],
    blocks: Sequence[tuple[int, float]],
    images: torch.Tensor,
    labels: torch.Tensor,
    clean: Sequence[torch.Tensor],
    queries: int,
    s: Mapping,
    batches: Sequence[slice],
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Square on every (model, ε) of ``blocks`` at once: one search, each model queried on its rows.

    Block k is ``models[m]`` at ε, attacked on its clean-correct images of each image batch; its
    random draws come from its own CPU generator seeded ``s["seed"]`` and consumed batch after
    batch, exactly as :func:`hfc.attacks.square` with that generator would (one restart). So a
    row equals the attack run alone (up to the last bits of the channels-last forward pass) and
    adding a ρ or an ε changes no other row. Rows are processed ``batch_size`` at a time (whole
    blocks per image batch). Returns per block (still correct after the whole budget, still
    correct after half of it), each a bool per image.
    """
    c, h, w = images.shape[1:]
    device = images.device
    sides = _square_sides(queries, float(s["square_p_init"]), h, w)
    gens = [torch.Generator().manual_seed(s["seed"]) for _ in blocks]
    fast = [_fast(m) for m in models]
    n = images.shape[0]
    done = [torch.zeros(n, dtype=torch.bool, device=device) for _ in blocks]
    half = [torch.zeros(n, dtype=torch.bool, device=device) for _ in blocks]
    for b in batches:
        x_b, y_b = images[b], labels[b]
        per_run = max(1, s["batch_size"] // max(x_b.shape[0], 1))
        for first in range(0, len(blocks), per_run):
            chosen = list(range(first, min(first + per_run, len(blocks))))
            rows, block_of, eps_of, owner, stripes, draws = [], [], [], [], [], []
            for j, k in enumerate(chosen):
                m, eps = blocks[k]
                idx = clean[m][b].nonzero().flatten()
                st, vh, vw, sg = _square_draws(gens[k], idx.numel(), (c, h, w), queries, sides)
                rows.append(idx)
                block_of.append(torch.full((idx.numel(),), j, dtype=torch.long))
                eps_of.append(torch.full((idx.numel(),), eps, dtype=images.dtype))
                owner.append(m)
                stripes.append(st)
                draws.append((vh, vw, sg))
            counts = [r.numel() for r in rows]
            if sum(counts) == 0:
                continue
            index = torch.cat(rows)
            block = torch.cat(block_of).to(device)
            model_of_row = torch.tensor(owner, dtype=torch.long, device=device)[block]
            vh = torch.stack([d[0] for d in draws]).to(device)
            vw = torch.stack([d[1] for d in draws]).to(device)
            signs = torch.stack([d[2] for d in draws]).to(device)

            def margin_fn(z, y, which, model_of_row=model_of_row):
                # rows are in block order and blocks of one model are adjacent: one pass per model
                owners = model_of_row[which]
                out, start = [], 0
                for m, count in zip(*torch.unique_consecutive(owners, return_counts=True)):
                    count = int(count)
                    part = z[start : start + count].contiguous(memory_format=torch.channels_last)
                    out.append(_margin(fast[int(m)], part, y[start : start + count]))
                    start += count
                return torch.cat(out)

            best, fooled_at = _square_search(
                margin_fn, x_b[index], y_b[index], torch.cat(eps_of).to(device), torch.cat(stripes).to(device),
                block, vh, vw, signs, sides,
            )  # fmt: skip
            with torch.no_grad():
                still = []
                start = 0
                for m, count in zip(*torch.unique_consecutive(model_of_row, return_counts=True)):
                    count = int(count)
                    part = best[start : start + count].contiguous(memory_format=torch.channels_last)
                    still.append(fast[int(m)](part).argmax(dim=1) == y_b[index][start : start + count])
                    start += count
                still = torch.cat(still)
            held_half = (fooled_at < 0) | (fooled_at > queries // 2)
            offset = 0
            positions = torch.arange(n, device=device)[b]
            for j, k in enumerate(chosen):
                part = slice(offset, offset + counts[j])
                target = positions[rows[j].to(device)]
                done[k][target] = still[part]
                half[k][target] = held_half[part] & clean[blocks[k][0]][target]
                offset += counts[j]
    return list(zip(done, half))


def _suite(
    models: Sequence[tuple[float | None, nn.Module]],
    images: torch.Tensor,
    labels: torch.Tensor,
    settings: Mapping,
    device: torch.device | str | None,
    log: Callable[[str], None] | None,
) -> pd.DataFrame:
    s = check_settings(settings)
    if device is None:
        param = next(models[0][1].parameters(), None)
        device = param.device if param is not None else images.device
    device = torch.device(device)
    models = [(rho, m.to(device)) for rho, m in models]
    images, labels = images.to(device), labels.to(device)
    n = int(images.shape[0])
    if n == 0 or labels.shape != (n,):
        raise ValueError(f"need at least one image and one label per image, got {tuple(images.shape)} and {tuple(labels.shape)}")
    batches = [slice(i, i + s["batch_size"]) for i in range(0, n, s["batch_size"])]
    rows: dict[tuple[int, str, float], dict] = {}

    def add(m: int, attack: str, eps: float, correct: torch.Tensor, seconds: float, queries=math.nan, half=None) -> None:
        accuracy = correct.sum().item() / n
        half_accuracy = math.nan if half is None else half.sum().item() / n
        rows[(m, attack, eps)] = {"attack": attack, "eps": eps, "accuracy": accuracy, "n": n, "queries": queries,
                                  "accuracy_at_half": half_accuracy}  # fmt: skip
        if log is not None:
            rho = models[m][0]
            budget = f", {queries} queries, {half_accuracy:.4f} after half of them" if half is not None else ""
            log(f"{'' if rho is None else f'rho={rho:g} '}{attack} eps={eps:g}: accuracy {accuracy:.4f} on {n} images{budget} ({seconds:.1f} s)")  # fmt: skip

    modes = [_mode(m, eval_mode=True) for _, m in models]
    for mode in modes:
        mode.__enter__()
    try:
        clean, worst = [], []
        for m, (_, model) in enumerate(models):
            start = time.perf_counter()
            with torch.no_grad():
                correct = torch.cat([model(images[b]).argmax(dim=1) == labels[b] for b in batches])
            clean.append(correct)
            worst.append({eps: correct.clone() for eps in s["eps"]})
            add(m, "clean", 0.0, correct, time.perf_counter() - start)
            for name in s["attacks"]:
                if name == "square":
                    continue
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
                    worst[m][eps] &= correct
                    add(m, name, eps, correct, time.perf_counter() - start)
        if "square" in s["attacks"]:
            budgets: dict[int, list[tuple[int, float]]] = {}
            for m, (rho, _) in enumerate(models):
                for eps in s["eps"]:
                    queries = square_queries_at(s, rho, eps)
                    if queries:
                        budgets.setdefault(queries, []).append((m, eps))
            for queries, blocks in sorted(budgets.items()):
                start = time.perf_counter()
                results = _square_blocks([m for _, m in models], blocks, images, labels, clean, queries, s, batches)
                seconds = (time.perf_counter() - start) / len(blocks)
                for (m, eps), (correct, half) in zip(blocks, results):
                    worst[m][eps] &= correct
                    add(m, "square", eps, correct, seconds, queries, half)
    finally:
        for mode in reversed(modes):
            mode.__exit__(None, None, None)
    frames = []
    for m, (rho, _) in enumerate(models):
        ordered = [rows[(m, "clean", 0.0)]]
        ordered += [rows[(m, a, e)] for a in s["attacks"] for e in s["eps"] if (m, a, e) in rows]
        if len(s["attacks"]) > 1:  # also where only one of them ran (Square skipped at a point)
            for eps in s["eps"]:
                accuracy = worst[m][eps].sum().item() / n
                ordered.append({"attack": ENSEMBLE, "eps": eps, "accuracy": accuracy, "n": n, "queries": math.nan,
                                "accuracy_at_half": math.nan})  # fmt: skip
                if log is not None:
                    log(f"{'' if rho is None else f'rho={rho:g} '}{ENSEMBLE} eps={eps:g}: accuracy {accuracy:.4f} on {n} images")
        frame = pd.DataFrame(ordered, columns=TABLE_COLUMNS)
        if rho is not None:
            frame.insert(0, "rho", float(rho))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


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
    two or more attacks an ``ensemble`` row per ε (images robust to every attack run). Square
    runs at :func:`square_queries_at` queries per point (none where that is 0); its rows also
    give ``queries`` and ``accuracy_at_half`` (its accuracy after the first half of them; NaN in
    other rows). Each attack × ε starts its random draws from ``settings["seed"]``, so adding an
    attack or an ε changes no other row. The model is attacked in eval mode; its modes are restored.
    """
    return _suite([(None, model)], images, labels, settings, device, log)


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
    white-box against the smoothed model (a deep copy; ``model`` is not changed). Square attacks
    every ρ × ε at once (:func:`_square_blocks`), at ``square_queries`` where ρ is in
    ``square_rhos`` and ε in ``square_eps``, at ``square_queries_elsewhere`` at the other points.
    """
    if isinstance(rhos, (str, bytes)) or not isinstance(rhos, Sequence) or not rhos:
        raise ValueError(f"rhos must be a non-empty list of numbers >= 0, got {rhos!r}")
    smoothed = []
    for rho in rhos:
        if not (isinstance(rho, (int, float)) and not isinstance(rho, bool) and 0 <= rho < math.inf):
            raise ValueError(f"rhos must hold finite numbers >= 0, got {rho!r}")
        smoothed.append((float(rho), smooth_first_conv(model, rho)))
    return _suite(smoothed, images, labels, settings, device, log)[["rho", *TABLE_COLUMNS]]


def square_budget_table(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    settings: Mapping,
    rhos: Sequence[float],
    eps: Sequence[float],
    budgets: Sequence[int],
    device: torch.device | str | None = None,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Square's robust accuracy against its query budget: where does it reach its plateau?

    For each budget, Square attacks every ρ × ε at once (as in the suite: the same seed, images
    and draws). Columns ``rho``, ``eps``, ``queries``, ``accuracy``, ``accuracy_at_half`` (after
    the first half of that budget), ``n``, ``cpu_seconds`` (of the whole budget, all points).
    """
    s = check_settings(dict(settings) | {"square_eps": None, "square_rhos": None})
    for q in budgets:
        if not (isinstance(q, int) and not isinstance(q, bool) and q >= 1):
            raise ValueError(f"budgets must be integers >= 1, got {q!r}")
    if device is None:
        param = next(model.parameters(), None)
        device = param.device if param is not None else images.device
    device = torch.device(device)
    models = [smooth_first_conv(model, rho).to(device).eval() for rho in rhos]
    images, labels = images.to(device), labels.to(device)
    n = int(images.shape[0])
    batches = [slice(i, i + s["batch_size"]) for i in range(0, n, s["batch_size"])]
    with torch.no_grad():
        clean = [torch.cat([m(images[b]).argmax(dim=1) == labels[b] for b in batches]) for m in models]
    blocks = [(m, float(e)) for m in range(len(models)) for e in eps]
    rows = []
    for queries in budgets:
        start = time.process_time()
        results = _square_blocks(models, blocks, images, labels, clean, int(queries), s, batches)
        seconds = time.process_time() - start
        for (m, e), (correct, half) in zip(blocks, results):
            rows.append({"rho": float(rhos[m]), "eps": e, "queries": int(queries), "accuracy": correct.sum().item() / n,
                         "accuracy_at_half": half.sum().item() / n, "n": n, "cpu_seconds": seconds})  # fmt: skip
        if log is not None:
            log(f"{queries} queries: {seconds:.1f} CPU-s for {len(blocks)} points")
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- the checklist

CHECKS = {
    "falls_with_eps": "accuracy falls monotonically with ε (clean first), for every attack",
    "large_eps_near_zero": (
        "at the largest ε the worst case of all attacks leaves about 0 accuracy (judged where an iterative "
        "gradient attack or a Square at its plateau ran; FGSM and a budget-limited Square are not held to it)"
    ),
    "pgd_not_above_fgsm": "PGD is at least as strong as FGSM at every ε",
    "gradient_free_not_better": (
        "the gradient-free attack is not markedly stronger than the best gradient attack (it can pass only "
        "where Square reached its plateau; a weaker Square can still fail it)"
    ),
}
CHECK_COLUMNS = ["check", "passed", "status", "value", "detail"]
STATUSES = ("ok", "failed", "gradient masking suspected", "not informative at this budget", "not run")
NOT_INFORMATIVE = "not informative at this budget"
# Attacks by what they can be asked to do (Carlini et al. 2019): an iterative gradient attack
# should reach about 0 at a large ε; a single step need not; a query-limited attack only once
# its accuracy has stopped falling (its plateau, read from the table's accuracy_at_half).
ITERATIVE_ATTACKS = ("pgd", "apgd_ce", "apgd_dlr")
SINGLE_STEP_ATTACKS = ("fgsm",)
_GROUP_KEYS = ("model", "run", "seed", "rho")


def _pivot(group: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """{attack: ``accuracy`` / ``queries`` / ``accuracy_at_half`` indexed by ε} for one model × ρ × seed."""
    out = {}
    for attack, rows in group.groupby("attack", sort=False):
        if rows["eps"].duplicated().any():
            raise ValueError(f"checklist: attack {attack!r} has repeated ε in one group; pass one table per model/ρ/seed")
        frame = rows.set_index("eps").sort_index()
        out[attack] = pd.DataFrame(
            {c: frame[c].astype(float) if c in frame else math.nan for c in ("accuracy", "queries", "accuracy_at_half")},
            index=frame.index,
        )
    return out


def at_plateau(accuracy: float, queries: float, tolerance: float = TOLERANCE) -> bool:
    """Whether Square at ``queries`` queries counts as at its plateau: more queries would not take
    much more accuracy away, so the checks it takes part in can fail.

    True at :data:`PLATEAU_QUERIES` or more, or where it left at most ``tolerance`` (nothing left to
    take). The budget, not the run's own curve, decides: Square's schedule is rescaled to its
    budget and refines its squares only towards the end, so even a budget on its plateau still
    falls over its last half (by 0.04 to 0.05 at 5000 and 10000 queries on the default's models,
    whose accuracy 5000 → 10000 queries changed by at most 0.01; benchmarks/square_budget.py,
    which measures the plateau of other models).
    """
    if not (math.isfinite(accuracy) and math.isfinite(queries)):
        return False
    return bool(accuracy <= tolerance or queries >= PLATEAU_QUERIES)


def _check_group(acc: dict[str, pd.DataFrame], tolerance: float, near_zero: float) -> list[dict]:
    attacks = [a for a in acc if a not in ("clean", ENSEMBLE)]
    clean = float(acc["clean"]["accuracy"].iloc[0]) if "clean" in acc else None
    rows = []

    def row(check, passed, value, detail, failed_status="failed", status=None):
        status = status or ("not run" if passed is None else ("ok" if passed else failed_status))
        rows.append({"check": check, "passed": passed, "status": status, "value": value, "detail": detail})

    def plateau(attack: str, eps: float) -> bool:
        point = acc[attack].loc[eps]
        return at_plateau(float(point["accuracy"]), float(point["queries"]), tolerance)

    # 1. accuracy never rises with ε (each attack's curve, from the clean accuracy on); a
    # query-limited attack is not compared across ε where the larger ε got fewer queries
    worst_rise, where = -math.inf, ""
    for attack in attacks + ([ENSEMBLE] if ENSEMBLE in acc else []):
        curve = acc[attack]
        values = ([clean] if clean is not None else []) + list(curve["accuracy"].to_numpy())
        budgets = ([math.inf] if clean is not None else []) + list(curve["queries"].to_numpy())
        steps = ([0.0] if clean is not None else []) + list(curve.index)
        for i in range(1, len(values)):
            if i > 1 or clean is None:
                if budgets[i] < budgets[i - 1]:
                    continue
            rise = values[i] - values[i - 1]
            if rise > worst_rise:
                worst_rise, where = rise, f"{_NAMES.get(attack, attack)} ε {steps[i - 1]:g} → {steps[i]:g}: {rise:+.3f}"
    if attacks and math.isfinite(worst_rise):
        row("falls_with_eps", bool(worst_rise <= tolerance), worst_rise, f"largest rise {where}")
    else:
        row("falls_with_eps", None, math.nan, "no attack run")
    # 2. the worst case of all attacks drives the largest ε to about 0, judged only where an
    # attack that can be held to it ran there (an iterative gradient attack, or Square at its plateau)
    if attacks:
        top = max(acc[a].index.max() for a in attacks)
        ran = [a for a in attacks if top in acc[a].index]
        able = [a for a in ran if a in ITERATIVE_ATTACKS or (a in GRADIENT_FREE_ATTACKS and plateau(a, top))]
        def kind(a):
            if a in ITERATIVE_ATTACKS:
                return ""
            if a in SINGLE_STEP_ATTACKS:
                return " (single step, not held to 0)"
            return "" if a in able else " (short of its plateau, not held to 0)"
        detail = f"ε = {top:g}: " + ", ".join(f"{_NAMES.get(a, a)} {acc[a].loc[top, 'accuracy']:.3f}{kind(a)}" for a in ran)
        # the worst case of all attacks; without its row, the lowest attack (an upper bound of it)
        judged = ENSEMBLE if ENSEMBLE in acc and top in acc[ENSEMBLE].index else min(ran, key=lambda a: acc[a].loc[top, "accuracy"])
        if able:
            value = float(acc[judged].loc[top, "accuracy"])
            row("large_eps_near_zero", bool(value <= near_zero), value, f"{_NAMES.get(judged, judged)} {value:.3f}; {detail}")
        else:
            value = min(float(acc[a].loc[top, "accuracy"]) for a in ran)
            row("large_eps_near_zero", None, value, f"no iterative attack or Square at its plateau ran at the largest ε; {detail}",
                status=NOT_INFORMATIVE)  # fmt: skip
    else:
        row("large_eps_near_zero", None, math.nan, "no attack run")
    # 3. PGD <= FGSM at every ε
    if "pgd" in acc and "fgsm" in acc:
        gap = (acc["pgd"]["accuracy"] - acc["fgsm"]["accuracy"]).dropna()
        eps = gap.idxmax()
        row("pgd_not_above_fgsm", bool(gap.max() <= tolerance), float(gap.max()),
            f"largest PGD − FGSM {gap.max():+.3f} at ε = {eps:g}")  # fmt: skip
    else:
        row("pgd_not_above_fgsm", None, math.nan, "needs fgsm and pgd in robustness.suite.attacks")
    # 4. gradient-free attack not markedly stronger than the best gradient attack. A Square short
    # of its plateau can fail this check (it still found what the gradients missed) but not pass it.
    free = [a for a in attacks if a in GRADIENT_FREE_ATTACKS]
    grad = [a for a in attacks if a in GRADIENT_ATTACKS]
    if free and grad:
        best_grad = pd.concat([acc[a]["accuracy"] for a in grad], axis=1).min(axis=1)
        best_free = pd.concat([acc[a]["accuracy"] for a in free], axis=1).min(axis=1)
        lead = (best_grad - best_free).dropna()
        informative = [e for e in lead.index if any(e in acc[a].index and plateau(a, e) for a in free)]
        budgets = ", ".join(
            f"ε = {e:g}: {acc[a].loc[e, 'queries']:.0f} queries" + ("" if plateau(a, e) else " (short of its plateau)")
            for a in free for e in acc[a].index if math.isfinite(acc[a].loc[e, "queries"])
        )  # fmt: skip
        budgets = f"; Square {budgets}" if budgets else ""
        if not lead.empty and lead.max() > tolerance:
            eps = lead.idxmax()
            row("gradient_free_not_better", False, float(lead.max()),
                f"the gradient-free attack leads the best gradient attack by {lead.max():+.3f} at ε = {eps:g}{budgets}",
                failed_status="gradient masking suspected")  # fmt: skip
        elif informative:
            eps = lead[informative].idxmax()
            row("gradient_free_not_better", True, float(lead[informative].max()),
                f"largest lead of the gradient-free attack at its plateau {lead[informative].max():+.3f} at ε = {eps:g}{budgets}")  # fmt: skip
        else:
            value = float(lead.max()) if not lead.empty else math.nan
            row("gradient_free_not_better", None, value,
                f"Square reached its plateau at no ε, so it could not have failed{budgets}", status=NOT_INFORMATIVE)  # fmt: skip
    else:
        row("gradient_free_not_better", None, math.nan, "needs square and a gradient attack in robustness.suite.attacks")
    return rows


def checklist(table: pd.DataFrame, tolerance: float = TOLERANCE, near_zero: float = NEAR_ZERO) -> pd.DataFrame:
    """The four checks of :data:`CHECKS` per model × ρ × seed (whichever of those columns exist).

    ``table`` holds ``attack``, ``eps``, ``accuracy``, ``n`` (from :func:`attack_table` /
    :func:`smoothing_attack_table`, possibly several concatenated with ``model`` / ``run`` /
    ``seed`` / ``rho`` columns) and, for Square's rows, ``queries`` and ``accuracy_at_half``
    (without them Square counts as short of its plateau). ``tolerance`` is the accuracy a check
    lets pass (rises with ε, PGD above FGSM, the gradient-free attack's lead, Square's fall over
    the second half of its queries); ``near_zero`` the accuracy that counts as "about 0". One
    row per group and check: ``passed`` (True / False / None), ``status`` (:data:`STATUSES`:
    "not informative at this budget" where the check could not have failed with the attacks as
    run, "not run" where an attack it needs is missing), ``value`` (the worst case the check
    looked at) and ``detail``.
    """
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise ValueError("checklist needs a non-empty DataFrame from attack_table")
    missing = [c for c in TABLE_COLUMNS[:4] if c not in table.columns]
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
    marks = {"ok": "ok", "failed": "**failed**", "gradient masking suspected": "**gradient masking suspected**",
             NOT_INFORMATIVE: "not informative at this budget", "not run": "–"}  # fmt: skip
    cell = checks.assign(shown=[f"{marks[s]} ({v:+.3f})" if s != "not run" else "–" for s, v in zip(checks["status"], checks["value"])])
    wide = cell.pivot_table(index=keys, columns="check", values="shown", aggfunc="first", sort=False).reset_index()
    wide = wide[keys + [c for c in CHECKS if c in wide.columns]]
    flagged = checks[checks["status"] == "gradient masking suspected"]
    failed = checks[checks["status"] == "failed"]
    uninformative = checks[checks["status"] == NOT_INFORMATIVE]
    lines = [
        "**Attack-suite checklist** (Carlini et al. 2019): per model × ρ × seed, status (worst value seen).",
        "",
        to_markdown(wide).rstrip(),
        "",
        *[f"- `{c}`: {what}." for c, what in CHECKS.items()],
        f"- A check passes within {tolerance:g} of accuracy; \"about 0\" is at most {near_zero:g}. Values: largest rise "
        "with ε; highest accuracy at the largest ε; largest PGD − FGSM; largest lead of the gradient-free attack.",
        f"- \"not informative at this budget\": the check could not have failed with the attacks as run (Square short of "
        f"its plateau, i.e. under {PLATEAU_QUERIES} queries with accuracy left; no iterative attack at the largest ε).",
        f"- {len(flagged)} group(s) flagged \"gradient masking suspected\", {len(failed)} other failed check(s), "
        f"{len(uninformative)} check(s) not informative at this budget, of {checks.groupby(keys).ngroups if keys else 1} group(s).",
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

    missing = [c for c in ("rho", *TABLE_COLUMNS[:4]) if c not in table.columns]
    if missing or table.empty:
        raise ValueError(f"suite_figure needs a non-empty table with columns rho, {TABLE_COLUMNS[:4]}; lacks {missing}")
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
