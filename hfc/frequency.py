"""Low/high frequency split of images (paper §3.1).

The split follows the authors' published code (``utility/frequencyHelper.py`` in
HaohanWang/HFC) exactly rather than the paper's formula:

* the 2-D FFT of every channel is shifted (``fftshift``) so the zero frequency sits at
  index (H // 2, W // 2);
* the mask is centred at the *float* point (H / 2, W / 2), as the authors wrote
  ``(i - imageSize/2) ** 2 + (j - imageSize/2) ** 2``. For even sizes (28, 32) that is the
  zero-frequency bin; for odd sizes it is half a bin off, exactly as their code is;
* a frequency belongs to the low band when its Euclidean distance from the centre is
  strictly below ``r`` (``dis < r``). The paper writes ``d <= r``: the two differ only for
  bins lying exactly on the circle (e.g. r = 4 puts (4, 0) in the high band here and in
  the low band in the paper's formula);
* both bands are the real part of the inverse transform, the imaginary part discarded
  (paper §3: "we simply discard the imaginary part").

Because the masks are complementary, ``low + high`` reproduces the input to float
precision. All radii of a call share one forward FFT.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

__all__ = [
    "max_radius",
    "check_radius",
    "radial_mask",
    "split",
    "split_many",
    "rescale_by_max",
    "split_reference_numpy",
]


def max_radius(height: int, width: int) -> float:
    """Largest distance from the mask centre to any frequency bin.

    A radius above it puts every frequency in the low band and leaves the high band empty.
    """
    cy, cx = height / 2, width / 2
    return max(math.hypot(i - cy, j - cx) for i in (0, height - 1) for j in (0, width - 1))


def check_radius(radius: float, height: int, width: int) -> None:
    """Raise ValueError unless 0 < radius <= the largest centre-to-bin distance."""
    limit = max_radius(height, width)
    if not isinstance(radius, (int, float)) or isinstance(radius, bool) or not math.isfinite(radius):
        raise ValueError(f"radius must be a number, got {radius!r}")
    if not 0 < radius <= limit:
        raise ValueError(
            f"radius {radius} is out of range for {height}x{width} images: it must be > 0 and "
            f"<= {limit:.2f} (the distance from the spectrum's centre to its farthest corner); "
            f"set frequency.radii in the config to values in that range"
        )


def radial_mask(height: int, width: int, radius: float, device=None) -> torch.Tensor:
    """Boolean H×W mask of the low band in the *shifted* spectrum (True = keep in low)."""
    i = torch.arange(height, device=device, dtype=torch.float64).view(-1, 1)
    j = torch.arange(width, device=device, dtype=torch.float64).view(1, -1)
    distance = torch.sqrt((i - height / 2) ** 2 + (j - width / 2) ** 2)
    return distance < radius


def split_many(images: torch.Tensor, radii: Sequence[float]) -> dict[float, tuple[torch.Tensor, torch.Tensor]]:
    """Split ``images`` at every radius in ``radii`` from one forward FFT.

    Args:
        images: float tensor N×C×H×W (any real values; the project uses [0, 1]).
        radii: radii in frequency bins, each in (0, max_radius(H, W)].

    Returns:
        ``{radius: (low, high)}`` with tensors of the input's shape, dtype and device.
    """
    if images.ndim != 4:
        raise ValueError(f"images must be N×C×H×W, got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"images must be a float tensor in [0, 1], got dtype {images.dtype}")
    height, width = images.shape[-2:]
    for radius in radii:
        check_radius(radius, height, width)
    # Instead of fftshift-ing the spectrum, the centred mask is ifftshift-ed once (same bins).
    # For even sizes the mask is symmetric under f -> -f, so the masked spectrum of a real image
    # stays Hermitian: its inverse is real, and the half spectrum of rfft2/irfft2 gives exactly
    # the real part the authors took, at half the cost. Odd sizes (mask centre half a bin off
    # the zero frequency, as in the authors' code) take the full complex transform.
    # high = x - low: the masks are complementary, so this is the high band's inverse
    # transform to float precision without a second inverse FFT.
    even = height % 2 == 0 and width % 2 == 0
    spectrum = torch.fft.rfft2(images) if even else torch.fft.fft2(images)
    out = {}
    for radius in radii:
        mask = torch.fft.ifftshift(radial_mask(height, width, radius, device=images.device))
        if even:
            mask = mask[:, : width // 2 + 1]
            low = torch.fft.irfft2(spectrum * mask, s=(height, width))
        else:
            low = torch.fft.ifft2(spectrum * mask).real
        low = low.to(images.dtype)
        out[radius] = (low, images - low)
    return out


def split(images: torch.Tensor, radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(low, high)``: the LFC and HFC of ``images`` at ``radius`` (see module doc)."""
    return split_many(images, [radius])[radius]


def rescale_by_max(images: torch.Tensor) -> torch.Tensor:
    """Divide each image by its own maximum, as the authors did before training/evaluation.

    Frequency components are no longer in [0, 1] (HFC is roughly zero-mean), so the authors
    rescaled each one by its maximum ("normalized to have the standard pixel scale", §4.2).
    An image whose maximum is not positive (e.g. the HFC of a constant image) is left as is.
    """
    peak = images.amax(dim=(1, 2, 3), keepdim=True)
    return images / torch.where(peak > 0, peak, torch.ones_like(peak))


def split_reference_numpy(images: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-image, per-channel loop written like the authors' numpy code.

    Kept as the independent reference for tests and the speed baseline of
    ``benchmarks/frequency.py``; ``split`` is the one the pipeline uses.
    """
    n, c, h, w = images.shape
    mask = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            mask[i, j] = 1.0 if np.sqrt((i - h / 2) ** 2 + (j - w / 2) ** 2) < radius else 0.0
    low = np.zeros((n, c, h, w))
    high = np.zeros((n, c, h, w))
    for k in range(n):
        for ch in range(c):
            shifted = np.fft.fftshift(np.fft.fft2(images[k, ch]))
            low[k, ch] = np.real(np.fft.ifft2(np.fft.ifftshift(shifted * mask)))
            high[k, ch] = np.real(np.fft.ifft2(np.fft.ifftshift(shifted * (1 - mask))))
    return low, high
