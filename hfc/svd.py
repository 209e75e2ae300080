"""Truncated-SVD split of images (paper §8, "Are HFC just noises?").

The paper's control for the frequency split: decompose each image into the part
reconstructed from its dominant singular values and the part from the trailing ones,
and check whether CNNs also predict from the trailing ("noise") part.
"""

from __future__ import annotations

import torch


def svd_split(images: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split N×C×H×W images into (dominant, trailing) truncated-SVD reconstructions.

    For every image and channel, the H×W matrix ``X = U diag(s) Vᵀ`` gives
    ``dominant = U[:, :rank] diag(s[:rank]) V[:, :rank]ᵀ`` and ``trailing`` from the
    remaining singular values, so ``dominant + trailing == images`` up to float
    rounding and ``dominant`` has matrix rank ≤ ``rank``. Both parts are returned
    unscaled (``trailing`` is signed, ``dominant`` may leave [0, 1]); rescale them for
    display or training as the frequency split does. Batched over N and C with
    ``torch.linalg.svd`` on the images' device; same dtype as ``images`` (half
    precision is computed in float32). ``rank`` must satisfy 1 ≤ rank < min(H, W).
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
        raise ValueError(
            "images must be a floating-point tensor of shape N×C×H×W, got "
            f"{type(images).__name__} {tuple(getattr(images, 'shape', ()))}"
        )
    h, w = images.shape[-2:]
    if not (isinstance(rank, int) and not isinstance(rank, bool) and 1 <= rank < min(h, w)):
        raise ValueError(
            f"rank must be an int with 1 <= rank < min(H, W) = {min(h, w)} for {h}×{w} images "
            f"(keep at least one singular value on each side), got {rank!r}"
        )
    x = images if images.dtype in (torch.float32, torch.float64) else images.float()
    u, s, vh = torch.linalg.svd(x, full_matrices=False)
    us = u * s.unsqueeze(-2)  # scales column k of U by s_k
    dominant = us[..., :rank] @ vh[..., :rank, :]
    trailing = us[..., rank:] @ vh[..., rank:, :]
    return dominant.to(images.dtype), trailing.to(images.dtype)
