"""Seeded stratified subsets, channel statistics and the uint8 → [0, 1] conversion."""

from __future__ import annotations

import operator

import torch

from hfc.data.catalog import describe


def stratified_subset(labels: torch.Tensor, size: int | None, seed: int) -> torch.Tensor:
    """Sorted indices of a seeded subset of ``size`` items with the class proportions of ``labels``.

    Each class gets floor(size·n_c/N) items, the rest go to the largest remainders (ties to the
    lower class), and every class keeps at least one. ``size`` None or N gives all indices.
    """
    labels = torch.as_tensor(labels)
    if labels.ndim != 1 or labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError(f"labels must be a 1-D integer tensor, got {describe(labels)}")
    n = labels.numel()
    if size is not None:
        try:
            if isinstance(size, bool):
                raise TypeError
            size = operator.index(size)
        except TypeError:
            raise ValueError(f"subset size must be an integer or None, got {size!r}") from None
    if size is None or size == n:
        return torch.arange(n, dtype=torch.int64)
    labels = labels.to("cpu", torch.int64)
    classes, counts = torch.unique(labels, return_counts=True)
    if size > n:
        raise ValueError(
            f"subset size {size} is larger than the {n} items available; use at most {n} (or null for all)"
        )
    if size < len(classes):
        raise ValueError(f"subset size {size} is smaller than the {len(classes)} classes; use at least {len(classes)}")

    scaled = counts * size
    alloc = scaled // n
    remainder = scaled % n
    short = size - int(alloc.sum())
    for c in sorted(range(len(classes)), key=lambda c: (-int(remainder[c]), c))[:short]:
        alloc[c] += 1
    for c in range(len(classes)):
        if alloc[c] == 0:
            alloc[int(torch.argmax(alloc))] -= 1  # argmax takes the first of equals
            alloc[c] = 1

    generator = torch.Generator().manual_seed(int(seed))
    picks = []
    for c, k in zip(classes.tolist(), alloc.tolist()):
        members = torch.nonzero(labels == c).flatten()
        picks.append(members[torch.randperm(len(members), generator=generator)[:k]])
    return torch.cat(picks).sort().values


def _check_uint8_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"expected uint8 images N×C×H×W, got {describe(images)}")


def channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and (population) standard deviation on the [0, 1] scale."""
    _check_uint8_images(images)
    if len(images) == 0:
        raise ValueError("channel_stats needs at least one image")
    channels = images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64, device=images.device)
    squares = torch.zeros_like(total)
    # chunks keep the float64 copy small for 50 000 CIFAR images
    for chunk in images.split(4096):
        x = chunk.to(torch.float64).transpose(0, 1).reshape(channels, -1)
        total += x.sum(dim=1)
        squares += (x * x).sum(dim=1)
    count = images.numel() // channels
    mean = total / count
    var = (squares / count - mean * mean).clamp_min(0)
    return (mean / 255).tolist(), (var.sqrt() / 255).tolist()


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 in [0, 1], on the same device."""
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
        raise ValueError(f"to_float expects uint8 images, got {describe(images)}")
    return images.to(torch.float32).div_(255)
