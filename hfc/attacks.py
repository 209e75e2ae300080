"""L∞ adversarial attacks (FGSM, PGD) and robust accuracy, paper §5.1 and §6.3.

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
