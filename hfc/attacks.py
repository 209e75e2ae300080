"""L∞ adversarial attacks and robust accuracy, paper §5.1 and §6.3.

FGSM and PGD (the paper's attacks, batched: the fast path) and, to check that a gain in
robust accuracy is not gradient masking (issue 12, :mod:`hfc.attack_suite`): PGD with random
restarts, APGD with the cross-entropy or the DLR margin loss (Croce & Hein 2020, the
gradient attacks of AutoAttack) and the gradient-free Square attack (Andriushchenko et al. 2020).

Threat model used here: a *fixed* L∞ budget ``eps`` on the [0, 1] pixel scale (the
models normalise internally), untargeted, cross-entropy loss, every result clipped to
[0, 1]. ``accuracy_under_attack(..., eps=0.03)`` is therefore the usual fixed-ε robust
accuracy.

How this differs from the authors' code (github.com/HaohanWang/HFC,
``utility/attackHelper.py``): Table 2 was produced with Foolbox 2's ``FGSM`` and
``ProjectedGradientDescentAttack`` called per image with no ε. In Foolbox 2 such a call
*searches* each image for the smallest successful perturbation, trying budgets up to
1.0 ("the maximum of perturbation is 1.0", §6.3), and keeps the clean image when no
budget succeeds. Their adversarial images are thus minimal-perturbation examples with
image-specific budgets, and their accuracy columns labelled ε = 0.03/0.06/0.09 are not
fixed-ε robust accuracies. Our numbers are not directly comparable to Table 2; the
comparison that carries over is the ordering (smoothed vs. unsmoothed, natural vs.
adversarially trained).

Adversarial training (§5.1) follows Madry et al.'s reference code that the authors
ship (``utility/pgd_attack.py``): PGD with ε = 0.03, 10 steps of size ε/10 = 0.003,
no random start, i.e. ``pgd(model, x, y, eps=0.03, steps=10, step_size=0.003)``.

Model mode: by default the attack runs with the model in eval mode (``eval_mode=True``)
and afterwards every submodule is put back into the mode it had before. So a training
loop may call ``pgd`` on a model in training mode and the model is in training mode
again afterwards, while the attack itself neither updates BatchNorm running statistics
nor sees dropout noise (the torchattacks default too). ``eval_mode=False`` attacks the
model in whatever mode it is in.

The loss is summed over the batch, so each image's gradient (and hence its adversarial
example) does not depend on which other images share its batch when the model is in
eval mode. Gradients are taken with ``torch.autograd.grad`` with respect to the input
only: parameters' ``requires_grad`` flags are left alone and no ``.grad`` is written.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

ATTACKS = ("clean", "fgsm", "pgd")


@contextlib.contextmanager
def _mode(model: nn.Module, eval_mode: bool) -> Iterator[None]:
    # Submodules can be in different modes (e.g. a frozen BatchNorm), so remember each.
    saved = [(m, m.training) for m in model.modules()]
    if eval_mode:
        model.eval()
    try:
        yield
    finally:
        for m, training in saved:
            m.training = training


def _check_inputs(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
        raise ValueError(
            "images must be a floating-point tensor of shape N×C×H×W, got "
            f"{type(images).__name__} {tuple(getattr(images, 'shape', ()))} {getattr(images, 'dtype', '')}"
        )
    if not isinstance(labels, torch.Tensor) or labels.shape != images.shape[:1] or labels.dtype != torch.int64:
        raise ValueError(
            f"labels must be an int64 tensor of shape ({images.shape[0]},), got "
            f"{type(labels).__name__} {tuple(getattr(labels, 'shape', ()))} {getattr(labels, 'dtype', '')}"
        )
    if labels.device != images.device:
        raise ValueError(f"images are on {images.device} but labels on {labels.device}; move them together")
    param = next(model.parameters(), None)
    if param is not None and param.device != images.device:
        raise ValueError(
            f"the model is on {param.device} but images on {images.device}; "
            "move the images to the model's device (e.g. images.to(next(model.parameters()).device))"
        )
    if not (isinstance(eps, (int, float)) and not isinstance(eps, bool) and 0 <= eps < float("inf")):
        raise ValueError(f"eps must be a finite number >= 0 on the [0, 1] pixel scale, got {eps!r}")
    if images.numel():
        lo, hi = torch.aminmax(images.detach())
        if bool((lo < 0) | (hi > 1)):  # one host sync per call
            raise ValueError(
                "images must lie in [0, 1] (normalisation belongs inside the model); got values in "
                f"[{lo.item():.4g}, {hi.item():.4g}]"
            )


def _input_grad(model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), labels, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def fgsm(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    *,
    eval_mode: bool = True,
) -> torch.Tensor:
    """Fast gradient sign method: ``clip(x + eps * sign(∇x CE(model(x), y)), 0, 1)``.

    ``images`` N×C×H×W in [0, 1] on the model's device, ``labels`` int64 (N,).
    Returns a new detached tensor; ``eps == 0`` returns an unchanged copy.
    """
    _check_inputs(model, images, labels, eps)
    if eps == 0:
        return images.detach().clone()
    with _mode(model, eval_mode), torch.enable_grad():
        grad = _input_grad(model, images, labels)
    return (images.detach() + eps * grad.sign()).clamp_(0, 1)


def pgd(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    steps: int,
    step_size: float,
    random_start: bool = False,
    generator: torch.Generator | None = None,
    *,
    eval_mode: bool = True,
) -> torch.Tensor:
    """Projected gradient descent in the L∞ ball (Madry et al. 2018).

    ``steps`` signed-gradient steps of ``step_size``, each followed by projection onto
    ``[x - eps, x + eps] ∩ [0, 1]``. With ``random_start`` the start point is drawn
    uniformly from the ε-ball (then clipped to [0, 1]) using ``generator``, which must
    live on the images' device; a seeded generator makes the result reproducible.
    ``eps == 0`` returns an unchanged copy.
    """
    _check_inputs(model, images, labels, eps)
    if not (isinstance(steps, int) and not isinstance(steps, bool) and steps >= 0):
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    if not (isinstance(step_size, (int, float)) and not isinstance(step_size, bool) and 0 <= step_size < float("inf")):
        raise ValueError(f"step_size must be a finite number >= 0, got {step_size!r}")
    if generator is not None and generator.device.type != images.device.type:
        raise ValueError(
            f"generator is on {generator.device} but images on {images.device}; "
            f"create it with torch.Generator(device={str(images.device)!r})"
        )
    x0 = images.detach()
    if eps == 0:
        return x0.clone()
    x = x0.clone()
    if random_start:
        x = (x + torch.empty_like(x).uniform_(-eps, eps, generator=generator)).clamp_(0, 1)
    with _mode(model, eval_mode), torch.enable_grad():
        for _ in range(steps):
            x = x + step_size * _input_grad(model, x, labels).sign()
            x = (x0 + (x - x0).clamp_(-eps, eps)).clamp_(0, 1)
    return x


def accuracy_under_attack(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    attack: str,
    eps: float = 0.0,
    batch_size: int = 500,
    **kw,
) -> float:
    """Top-1 accuracy of ``model`` (in eval mode) on ``attack``-perturbed images.

    ``attack`` is ``"clean"`` (``eps`` ignored), ``"fgsm"`` or ``"pgd"``; ``kw`` goes to
    :func:`pgd` (``steps``, ``step_size``, ``random_start``, ``generator``). Images may sit
    on any device; each batch is moved to the model's device. The model's modes are
    restored afterwards.
    """
    if attack not in ATTACKS:
        raise ValueError(f"attack must be one of {ATTACKS}, got {attack!r}")
    if attack != "pgd" and kw:
        raise ValueError(f"attack {attack!r} takes no extra arguments, got {sorted(kw)}")
    if attack == "pgd":
        missing = {"steps", "step_size"} - kw.keys()
        if missing:
            raise ValueError(f"attack 'pgd' needs {sorted(missing)} (e.g. steps=10, step_size=eps / 10)")
    if not (isinstance(batch_size, int) and batch_size > 0):
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if len(images) == 0 or len(images) != len(labels):
        raise ValueError(f"need as many labels as images and at least one image, got {len(images)} and {len(labels)}")
    param = next(model.parameters(), None)
    device = param.device if param is not None else images.device
    correct = torch.zeros((), dtype=torch.int64, device=device)
    with _mode(model, eval_mode=True):
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].to(device)
            y = labels[start : start + batch_size].to(device)
            if attack == "fgsm":
                x = fgsm(model, x, y, eps)
            elif attack == "pgd":
                x = pgd(model, x, y, eps, **kw)
            with torch.no_grad():
                correct += (model(x).argmax(dim=1) == y).sum()
    return correct.item() / len(images)


# ----------------------------------------------------------------------------- stronger attacks
#
# APGD and Square follow the AutoAttack reference code as ported by torchattacks 3.5.1
# (``torchattacks.APGD`` / ``torchattacks.Square``, L∞, untargeted) step for step, including
# the order in which random numbers are drawn: with a CPU generator seeded s they return the
# very images torchattacks returns after ``torch.manual_seed(s)`` (tests/test_attacks.py).
# Written here rather than called from a library because torchattacks pins an old
# ``requests`` (it stays a test-only reference) and adversarial-robustness-toolbox works on
# NumPy arrays (a host round trip per step, global NumPy random state, SciPy and scikit-learn
# as runtime dependencies). Random draws come from a *CPU* generator and are moved to the
# images' device, so a seed gives the same starts on every device.


def _check_cpu_generator(generator: torch.Generator | None) -> torch.Generator:
    if generator is None:
        return torch.Generator().manual_seed(0)
    if generator.device.type != "cpu":
        raise ValueError(f"this attack draws on a CPU generator (then moves the draws), got one on {generator.device}")
    return generator


def _check_count(name: str, value, minimum: int) -> None:
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= minimum):
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


@torch.no_grad()
def _correct(model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return model(x).argmax(dim=1) == labels


def pgd_restarts(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    steps: int,
    step_size: float,
    restarts: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """PGD run ``restarts`` times; an image stays robust only if every run fails on it.

    The first run starts at the clean image (the Table 2 PGD exactly), each further run at a
    uniform random point of the ε-ball (``generator`` on the images' device). Only images
    still classified correctly are attacked again; each image gets its first successful
    adversarial example, or the last run's point. Model in eval mode throughout.
    """
    _check_inputs(model, images, labels, eps)
    _check_count("restarts", restarts, 1)
    adv = images.detach().clone()
    with _mode(model, eval_mode=True):
        robust = _correct(model, adv, labels)
        for r in range(restarts):
            idx = robust.nonzero().flatten()
            if idx.numel() == 0:
                break
            x = pgd(model, images[idx], labels[idx], eps, steps, step_size, random_start=r > 0, generator=generator)
            adv[idx] = x
            robust[idx] = _correct(model, x, labels[idx])
    return adv


def dlr_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Croce & Hein's difference-of-logits-ratio loss per image (higher = closer to misclassified).

    ``-(z_y - max_{i != y} z_i) / (z_(1) - z_(3))`` with z_(k) the k-th largest logit: a margin
    loss that does not change when the logits are scaled or shifted. Needs >= 3 classes.
    """
    if logits.ndim != 2 or logits.shape[1] < 3:
        raise ValueError(f"the DLR loss needs logits N×K with K >= 3 classes, got {tuple(logits.shape)}")
    ordered, order = logits.sort(dim=1)
    top_is_true = (order[:, -1] == labels).to(logits.dtype)
    true = logits.gather(1, labels[:, None])[:, 0]
    best_other = ordered[:, -2] * top_is_true + ordered[:, -1] * (1.0 - top_is_true)
    return -(true - best_other) / (ordered[:, -1] - ordered[:, -3] + 1e-12)


def _apgd_run(model, x, y, eps, steps, loss_fn, generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One APGD run on images ``x``: (still correct, last adversarial point found per image)."""
    n = x.shape[0]
    steps_2, steps_min, size_decr = max(int(0.22 * steps), 1), max(int(0.06 * steps), 1), max(int(0.03 * steps), 1)
    t = (2 * torch.rand(x.shape, generator=generator) - 1).to(x.device)
    x_adv = (x + eps * t / t.flatten(1).abs().amax(dim=1).view(-1, 1, 1, 1)).clamp(0.0, 1.0)
    x_best, x_best_adv = x_adv.clone(), x_adv.clone()
    loss_steps = torch.zeros(steps, n, device=x.device)

    def gradient(z):
        z = z.detach().requires_grad_(True)
        logits = model(z)
        loss = loss_fn(logits, y)
        (grad,) = torch.autograd.grad(loss.sum(), z)
        return grad.detach(), logits.detach(), loss.detach()

    def project(z):
        return torch.minimum(torch.maximum(z, x - eps), x + eps).clamp(0.0, 1.0)

    grad, logits, loss = gradient(x_adv)
    grad_best = grad.clone()
    correct = logits.argmax(dim=1) == y
    loss_best = loss.clone()
    step = torch.full((n, 1, 1, 1), 2.0 * eps, device=x.device)
    x_old = x_adv.clone()
    k, since_check = steps_2, 0
    loss_best_last_check = loss_best.clone()
    reduced_last_check = torch.ones(n, dtype=torch.bool, device=x.device)
    for i in range(steps):
        with torch.no_grad():
            momentum = x_adv - x_old
            x_old = x_adv.clone()
            a = 0.75 if i > 0 else 1.0
            z = project(x_adv + step * grad.sign())
            x_adv = project(x_adv + (z - x_adv) * a + momentum * (1 - a))
        grad, logits, loss = gradient(x_adv)
        pred = logits.argmax(dim=1) == y
        correct &= pred
        x_best_adv[~pred] = x_adv[~pred]
        improved = loss > loss_best
        x_best[improved] = x_adv[improved]
        grad_best[improved] = grad[improved]
        loss_best[improved] = loss[improved]
        loss_steps[i] = loss
        since_check += 1
        if since_check == k:
            # Halve the step where the loss rose in at most 75 % of the last k steps, or where
            # the best loss did not improve since the last checkpoint and the step was kept.
            # (An index -1 reads the last row, still zero early on: as in the reference.)
            rises = sum((loss_steps[i - c] > loss_steps[i - c - 1]).float() for c in range(k))
            oscillating = rises <= k * 0.75
            stalled = ~reduced_last_check & (loss_best_last_check >= loss_best)
            reduce = oscillating | stalled
            reduced_last_check = reduce.clone()
            loss_best_last_check = loss_best.clone()
            step[reduce] /= 2.0
            x_adv[reduce] = x_best[reduce]
            grad[reduce] = grad_best[reduce]
            since_check = 0
            k = max(k - size_decr, steps_min)
    return correct, x_best_adv


def apgd(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    steps: int,
    loss: str = "ce",
    restarts: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Auto-PGD (Croce & Hein 2020), L∞, untargeted: APGD-CE (``loss="ce"``) or APGD-DLR (``"dlr"``).

    No step size to tune: it starts at 2ε and is halved at checkpoints (22 %, then shrinking
    intervals of the ``steps``) where progress stalls, with momentum 0.75. Each of ``restarts``
    runs starts at a random point of the ε-ball (``generator``: a CPU generator, default
    seeded 0) and attacks only the images still classified correctly. Returns, per image, an
    adversarial example found, or the clean image where none was. Model in eval mode.
    """
    _check_inputs(model, images, labels, eps)
    _check_count("steps", steps, 1)
    _check_count("restarts", restarts, 1)
    losses = {"ce": lambda z, y: F.cross_entropy(z, y, reduction="none"), "dlr": dlr_loss}
    if loss not in losses:
        raise ValueError(f"loss must be one of {sorted(losses)}, got {loss!r}")
    generator = _check_cpu_generator(generator)
    x0 = images.detach()
    adv = x0.clone()
    if eps == 0:
        return adv
    with _mode(model, eval_mode=True), torch.enable_grad():
        robust = _correct(model, x0, labels)
        for _ in range(restarts):
            idx = robust.nonzero().flatten()
            if idx.numel() == 0:
                break
            correct, found = _apgd_run(model, x0[idx], labels[idx], float(eps), steps, losses[loss], generator)
            fooled = idx[~correct]
            robust[fooled] = False
            adv[fooled] = found[~correct]
    return adv


def _square_p(p_init: float, it: int, queries: int) -> float:
    """Fraction of the image a Square update covers at iteration ``it`` (schedule rescaled to the budget)."""
    it = int(it / queries * 10000)
    for bound, divisor in ((10, 1), (50, 2), (200, 4), (500, 8), (1000, 16), (2000, 32), (4000, 64), (6000, 128), (8000, 256)):  # fmt: skip
        if it <= bound:
            return p_init / divisor
    return p_init / 512


def _square_sides(queries: int, p_init: float, h: int, w: int) -> list[int]:
    """Side of the square proposed at each of ``queries`` iterations (the reference's schedule)."""
    return [max(int(round(math.sqrt(_square_p(p_init, i, queries) * h * w))), 1) for i in range(queries)]


def _square_draws(generator: torch.Generator, n: int, shape, queries: int, sides: list[int]):
    """Every random draw of one Square run on ``n`` images, all at once and in the reference's order.

    The reference draws the starting stripes (a sign per image, channel and column), then per
    iteration two uniforms for the square's corner and one per channel for its sign; one call for
    all of them yields the very same numbers (a CPU generator fills tensors in sequence). Drawing
    the whole budget up front also means a run uses up the same stretch of the generator however
    early it stops. Returns ``stripes`` (n, C, 1, W), ``vh`` / ``vw`` (queries,) corners, ``signs``
    (queries, C), all on the CPU.
    """
    c, h, w = shape
    stripes = torch.sign(2 * torch.rand((n, c, 1, w), generator=generator) - 1)
    u = torch.rand(queries * (2 + c), generator=generator).view(queries, 2 + c)
    side = torch.tensor(sides, dtype=torch.float32)
    # float32 products truncated, as the reference draws its corner
    vh = ((h - side) * u[:, 0]).long()
    vw = ((w - side) * u[:, 1]).long()
    return stripes, vh, vw, torch.sign(2 * u[:, 2:] - 1)


@torch.no_grad()
def _margin(model, x, y) -> torch.Tensor:
    logits = model(x)
    true = logits.gather(1, y[:, None])[:, 0].clone()
    logits.scatter_(1, y[:, None], -float("inf"))
    return true - logits.amax(dim=1)


@torch.no_grad()
def _square_search(margin_fn, x, y, eps, stripes, block, vh, vw, signs, sides) -> tuple[torch.Tensor, torch.Tensor]:
    """Square's greedy random search on rows that may each have their own ε and their own draws.

    ``x`` N×C×H×W images to attack, ``y`` their labels, ``eps`` (N,) budgets, ``stripes`` (N, C, 1, W)
    starting signs; row r proposes, at iteration i, the square of side ``sides[i]`` at corner
    (``vh[block[r], i]``, ``vw[block[r], i]``) with signs ``signs[block[r], i]``. ``margin_fn(z, y, rows)``
    returns the margins of images ``z`` (rows ``rows`` of ``x``, ascending). A row stops being
    queried once its margin is <= 0. With one block this is the reference's single run exactly.
    Returns the best points and ``fooled_at`` (N,): the iteration after which a row's margin first
    reached <= 0 (0: the starting stripes), -1 where it never did.
    """
    n = x.shape[0]
    _, _, h, w = x.shape
    eps4 = eps.view(-1, 1, 1, 1)
    rows_h = torch.arange(h, device=x.device)
    rows_w = torch.arange(w, device=x.device)
    everyone = torch.arange(n, device=x.device)
    x_best = (x + eps4 * stripes).clamp(0.0, 1.0)
    margin_min = margin_fn(x_best, y, everyone)
    loss_min = margin_min.clone()
    fooled_at = torch.where(margin_min <= 0, 0, -1)
    for i, side in enumerate(sides):
        idx = (margin_min > 0).nonzero().flatten()
        if idx.numel() == 0:
            break
        b = block[idx]
        x_curr, x_best_curr, e = x[idx], x_best[idx], eps4[idx]
        top, left = vh[b, i, None], vw[b, i, None]
        in_h = (rows_h >= top) & (rows_h < top + side)
        in_w = (rows_w >= left) & (rows_w < left + side)
        inside = (in_h[:, None, :, None] & in_w[:, None, None, :]).to(x.dtype)
        delta = (2.0 * e) * signs[b, i][:, :, None, None] * inside
        x_new = torch.minimum(torch.maximum(x_best_curr + delta, x_curr - e), x_curr + e).clamp(0.0, 1.0)
        margin = margin_fn(x_new, y[idx], idx)
        improved = margin < loss_min[idx]
        loss_min[idx] = torch.where(improved, margin, loss_min[idx])
        improved |= margin <= 0
        margin_min[idx] = torch.where(improved, margin, margin_min[idx])
        x_best[idx] = torch.where(improved.view(-1, 1, 1, 1), x_new, x_best_curr)
        fooled_at[idx] = torch.where((margin <= 0) & (fooled_at[idx] < 0), i + 1, fooled_at[idx])
    return x_best, fooled_at


def _square_run(model, x, y, eps, queries, p_init, generator) -> torch.Tensor:
    _, c, h, w = x.shape
    sides = _square_sides(queries, p_init, h, w)
    stripes, vh, vw, signs = (t.to(x.device) for t in _square_draws(generator, x.shape[0], (c, h, w), queries, sides))
    n = x.shape[0]
    x_best, _ = _square_search(
        lambda z, labels, rows: _margin(model, z, labels), x, y, torch.full((n,), eps, dtype=x.dtype, device=x.device),
        stripes, torch.zeros(n, dtype=torch.long, device=x.device), vh[None], vw[None], signs[None], sides,
    )  # fmt: skip
    return x_best


def square(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    queries: int,
    p_init: float = 0.8,
    restarts: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Square attack (Andriushchenko et al. 2020), L∞, untargeted, margin loss: no gradients at all.

    Starts from random vertical stripes of ±ε, then for up to ``queries`` iterations proposes
    a random square (side from ``p_init`` and a schedule rescaled to ``queries``) set to ±2ε
    per channel, keeping it for the images whose margin it lowers. One model query per image
    and iteration, plus one for the start. ``restarts`` runs, each on the images still
    correct; ``generator`` as in :func:`apgd`. Returns the adversarial examples found (the
    clean image where none was). Model in eval mode. Each run draws all its random numbers up
    front (the reference's numbers, in its order), so a second restart starts where a full first
    run would have left the generator, however early the first one stopped.
    """
    _check_inputs(model, images, labels, eps)
    _check_count("queries", queries, 1)
    _check_count("restarts", restarts, 1)
    if not (isinstance(p_init, (int, float)) and 0 < p_init < 1):
        raise ValueError(f"p_init must be a number in (0, 1), got {p_init!r}")
    generator = _check_cpu_generator(generator)
    x0 = images.detach()
    adv = x0.clone()
    if eps == 0:
        return adv
    with _mode(model, eval_mode=True):
        robust = _correct(model, x0, labels)
        for _ in range(restarts):
            idx = robust.nonzero().flatten()
            if idx.numel() == 0:
                break
            found = _square_run(model, x0[idx], labels[idx], float(eps), queries, float(p_init), generator)
            fooled = ~_correct(model, found, labels[idx])
            robust[idx[fooled]] = False
            adv[idx[fooled]] = found[fooled]
    return adv
