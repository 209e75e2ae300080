"""Kernel smoothing of the first convolution (paper §6.3, Eq. 3) and kernel smoothness.

Eq. 3 replaces every weight of a kernel by itself plus ρ times the sum of its eight
spatial neighbours, taking out-of-kernel neighbours by duplicating the border values.
The authors' code does this per 2-D kernel with
``scipy.signal.convolve2d(k, [[ρ, ρ, ρ], [ρ, 1, ρ], [ρ, ρ, ρ]], mode="same", boundary="symm")``;
for a one-pixel border, scipy's mirror ("symm") padding *is* border replication, so
:func:`smooth_kernels` uses replicate padding and a depthwise conv2d.

The result is deliberately not renormalised (as in the paper): ρ = 1 multiplies a
constant kernel by 9, so part of the clean-accuracy drop in Table 2 comes from the
change of scale, not only from the smoothing.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from hfc.models import first_conv  # re-exported: smoothing acts on that layer


def _check_weight(weight: torch.Tensor) -> None:
    if not isinstance(weight, torch.Tensor) or weight.ndim != 4 or not weight.is_floating_point():
        raise ValueError(
            "weight must be a floating-point conv weight of shape (out, in, kh, kw) "
            f"(PyTorch layout), got {type(weight).__name__} {tuple(getattr(weight, 'shape', ()))}"
        )
    if weight.numel() == 0:
        raise ValueError(f"weight is empty: shape {tuple(weight.shape)}")


@torch.no_grad()
def smooth_kernels(weight: torch.Tensor, rho: float) -> torch.Tensor:
    """Eq. 3: ``w[i,j] + ρ Σ_{8 neighbours} w[h,k]`` per (out, in) kernel, border replicated.

    ``weight`` has PyTorch's (out, in, kh, kw) layout; each kh×kw kernel is smoothed on
    its own (channels are never mixed). Returns a new tensor of the same shape, dtype and
    device, without autograd history.
    """
    _check_weight(weight)
    if not (isinstance(rho, (int, float)) and not isinstance(rho, bool) and 0 <= rho < math.inf):
        raise ValueError(f"rho must be a finite number >= 0, got {rho!r}")
    out_ch, in_ch, kh, kw = weight.shape
    mix = torch.full((1, 1, 3, 3), float(rho), dtype=weight.dtype, device=weight.device)
    mix[0, 0, 1, 1] = 1.0
    # Every kernel becomes its own one-channel image; the 3×3 mix is symmetric, so
    # conv2d's cross-correlation equals scipy's convolution.
    kernels = weight.detach().reshape(out_ch * in_ch, 1, kh, kw)
    padded = F.pad(kernels, (1, 1, 1, 1), mode="replicate")
    return F.conv2d(padded, mix).reshape(weight.shape)


def smooth_first_conv(model: nn.Module, rho: float) -> nn.Module:
    """A deep copy of ``model`` whose first Conv2d weights are smoothed by Eq. 3.

    Only that layer's weight changes (its bias and every other layer are copied as is);
    ``model`` itself is not modified.
    """
    smoothed = copy.deepcopy(model)
    conv = first_conv(smoothed)
    with torch.no_grad():
        conv.weight.copy_(smooth_kernels(conv.weight, rho))
    return smoothed


@torch.no_grad()
def kernel_smoothness(weight: torch.Tensor, fft_size: int = 16) -> dict[str, float]:
    """Two roughness scores of conv kernels; lower means smoother. Both are scale-free.

    ``adjacent_diff``
        Mean absolute difference between horizontally and vertically adjacent weights
        (all such pairs of all kernels pooled) divided by the mean absolute weight. A
        constant kernel scores 0; i.i.d. zero-mean Gaussian weights score √2 ≈ 1.41
        (E|a−b| / E|a|).
    ``high_freq_energy``
        Per (out, in) kernel, the share of spectral energy |FFT|² of the kernel
        zero-padded to ``fft_size``×``fft_size`` that lies above half the Nyquist radius
        (radial frequency > 0.25 cycles/pixel), averaged over kernels with non-zero
        energy. This is the kernel's frequency response as a filter on images (§6.1).
        White-noise kernels score about 0.8 (the area share of that region); smooth
        kernels score less. Even a constant kernel is a box filter whose sidelobes
        leak energy (constant 3×3: ≈ 0.19, 5×5: ≈ 0.15 at fft_size 16), so this score
        does not reach 0 for small kernels; it also counts a kernel's mean (DC) as
        low-frequency energy, as a filter's response should.

    ``weight`` has shape (out, in, kh, kw); returns ``{"adjacent_diff": ..., "high_freq_energy": ...}``.
    """
    _check_weight(weight)
    kh, kw = weight.shape[-2:]
    if not (isinstance(fft_size, int) and fft_size >= max(kh, kw)):
        raise ValueError(f"fft_size must be an int >= the kernel size {max(kh, kw)}, got {fft_size!r}")
    w = weight.detach().to(torch.float64)
    mean_abs = w.abs().mean()
    if mean_abs == 0:
        raise ValueError("all weights are zero; smoothness is undefined")

    diffs = torch.cat(
        [(w[..., :, 1:] - w[..., :, :-1]).abs().flatten(), (w[..., 1:, :] - w[..., :-1, :]).abs().flatten()]
    )
    adjacent = (diffs.mean() / mean_abs).item() if diffs.numel() else 0.0

    power = torch.fft.fft2(w, s=(fft_size, fft_size)).abs().square()
    freq = torch.fft.fftfreq(fft_size, dtype=torch.float64, device=w.device)
    radius = torch.hypot(freq[:, None], freq[None, :])
    total = power.sum(dim=(-2, -1))
    high = (power * (radius > 0.25)).sum(dim=(-2, -1))
    nonzero = total > 0
    share = (high[nonzero] / total[nonzero]).mean().item()
    return {"adjacent_diff": adjacent, "high_freq_energy": share}
