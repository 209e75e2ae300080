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
precision. All radii of a call share one forward transform. ``split_many`` computes the same
numbers in one of two ways (see the notes above ``METHODS``): half-spectrum FFTs, or, on CPU
for even widths and radii small next to the image, matrix products with only the kept
frequencies, which is several times faster there.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import torch

__all__ = [
    "max_radius",
    "paper_radii",
    "check_radius",
    "radial_mask",
    "bin_distances",
    "split",
    "split_many",
    "rescale_by_max",
    "split_reference_numpy",
]


def bin_distances(height: int, width: int) -> np.ndarray:
    """H×W float64 distances of every bin of the shifted spectrum from the centre (H/2, W/2).

    Computed as the authors did, with numpy: the squared distances are exact (integers or
    quarters) and IEEE 754 makes float64 ``sqrt`` correctly rounded, so every CPU gets the same
    bits. torch's vectorised float64 ``sqrt`` can be 1 ulp off on some CPUs (AVX512), which
    flips a bin lying exactly at a configured radius (the corner at ``max_radius``).
    """
    i = np.arange(height, dtype=np.float64).reshape(-1, 1) - height / 2
    j = np.arange(width, dtype=np.float64).reshape(1, -1) - width / 2
    return np.sqrt(i * i + j * j)


def max_radius(height: int, width: int) -> float:
    """Largest distance from the mask centre to any frequency bin.

    A radius above it puts every frequency in the low band and leaves the high band empty.
    """
    return float(bin_distances(height, width).max())


PAPER_RADII = (4, 8, 12, 16)  # on 32x32 CIFAR-10


def paper_radii(height: int, width: int, radii=PAPER_RADII, size: int = 32) -> list[int]:
    """The paper's radii (on ``size``×``size`` images) at the same fractions of the half diagonal
    (:func:`max_radius`) of ``height``×``width`` images, rounded to whole bins."""
    scale = max_radius(height, width) / max_radius(size, size)
    return [round(r * scale) for r in radii]


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
    """Boolean H×W mask of the low band in the *shifted* spectrum (True = keep in low).

    Equal to the authors' numpy mask on every CPU (see :func:`bin_distances`).
    """
    return torch.from_numpy(bin_distances(height, width) < radius).to(device)


def split_many(
    images: torch.Tensor, radii: Sequence[float], *, method: str = "auto"
) -> dict[float, tuple[torch.Tensor, torch.Tensor]]:
    """Split ``images`` at every radius in ``radii`` from one forward transform.

    Args:
        images: float tensor N×C×H×W (any real values; the project uses [0, 1]).
        radii: radii in frequency bins, each in (0, max_radius(H, W)].
        method: ``"fft"`` (rfft2/irfft2, any size), ``"matmul"`` (matrix products with the
            kept frequencies only; needs an even W) or ``"auto"`` (the cheaper of the two for
            this size, radius and device). Both give the authors' numbers to float precision.

    Returns:
        ``{radius: (low, high)}`` with tensors of the input's shape, dtype and device.
    """
    if images.ndim != 4:
        raise ValueError(f"images must be N×C×H×W, got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"images must be a float tensor in [0, 1], got dtype {images.dtype}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    height, width = images.shape[-2:]
    if method == "matmul" and width % 2:
        raise ValueError(
            f"method='matmul' needs an even image width, got {height}x{width} images; use method='fft' or 'auto'"
        )
    for radius in radii:
        check_radius(radius, height, width)
    radii = list(dict.fromkeys(radii))

    # FFTs and fast matrix products exist for float32 and float64; other float types are
    # computed in float32 and rounded at the end.
    x = images if images.dtype in (torch.float32, torch.float64) else images.float()
    x = x.contiguous()
    if method == "auto":
        by_matmul = [r for r in radii if _matmul_is_cheaper(x, r)]
    else:
        by_matmul = radii if method == "matmul" else []
    by_fft = [r for r in radii if r not in by_matmul]
    n, channels = x.shape[:2]
    if x.device.type != "cpu" or (torch.is_grad_enabled() and x.requires_grad):
        # An accelerator wants one launch per step, and out= writes would drop autograd
        # history: the whole batch at once.
        out = {}
        if by_matmul:
            out.update(_split_matmul(x, by_matmul))
        if by_fft:
            out.update(_split_fft(x, by_fft))
    else:
        # CPU: chunk by chunk into row slices of plain contiguous outputs (empty_like would
        # keep e.g. channels_last strides).
        out = {r: (x.new_empty(x.shape), x.new_empty(x.shape)) for r in radii}
        values = CHUNK_VALUES if torch.get_num_threads() == 1 else PARALLEL_CHUNK_VALUES
        chunk = max(1, values // (channels * height * width))
        scratch = {}  # intermediates, reused by every chunk (see _scratch)
        for start in range(0, n, chunk):
            rows = slice(start, start + chunk)
            part_out = {r: (low[rows], high[rows]) for r, (low, high) in out.items()}
            if by_matmul:
                _split_matmul(x[rows], by_matmul, part_out, scratch)
            if by_fft:
                _split_fft(x[rows], by_fft, part_out, scratch)
    out = {r: out[r] for r in radii}
    if x.dtype != images.dtype:
        out = {r: (low.to(images.dtype), high.to(images.dtype)) for r, (low, high) in out.items()}
    return out


def split(images: torch.Tensor, radius: float, *, method: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(low, high)``: the LFC and HFC of ``images`` at ``radius`` (see module doc)."""
    return split_many(images, [radius], method=method)[radius]


# How split_many computes the bands. The authors keep the real part of ifft2(mask · fft2(x));
# for a real image x that is, summing over the unshifted frequencies (ky, kx) and pixels (n', m'),
#
#     low[n, m] = 1/(HW) · Σ mask[ky, kx] · cos(2π ky (n - n')/H + 2π kx (m - m')/W) · x[n', m'].
#
# Both paths evaluate this sum, and both take high = x - low: the masks are complementary, so
# that is the high band's inverse transform to float precision without computing a second one.

METHODS = ("auto", "fft", "matmul")

# Single-threaded CPU work goes through the batch in chunks of about this many input values
# (1 MiB in float32, 85 CIFAR images), so that a chunk's spectra and products stay in cache
# instead of streaming through memory: batched FFTs of 2000 CIFAR images ran 2-3x slower per
# image than chunks.
CHUNK_VALUES = 2**18

# With several torch threads every step is a parallel region that waits for its slowest
# thread, and on a shared machine that is often a thread waiting a scheduler time slice
# (~10 ms) for a busy core. Measured on 2 shared cores: 2 threads on 85-image chunks ran 20x
# slower than 1 thread; chunks this large (~5000 CIFAR images) keep that wait small next to
# the work. (On a shared machine one thread is usually fastest anyway.)
PARALLEL_CHUNK_VALUES = 2**24

# On CPU the FFT path (rfft2, mask, irfft2, subtraction) costs about as much as this many
# multiply-adds per pixel of the matrix-product path. Measured on a 2-core EPYC (1 thread):
# the FFT path ran at a flat 1.1-1.7e8 pixels/s from 28x28 to 224x224 images, and the paths
# broke even at 80-140 multiply-adds per pixel (32x32 images: matmul faster at every radius).
FFT_COST_PER_PIXEL = 100

# The matrix-product path holds one H×H filter per basis column (cached): past this many
# values (8 MiB in float32) an image is tall enough for the FFT path anyway.
MAX_FILTER_VALUES = 2**21


def _matmul_is_cheaper(x: torch.Tensor, radius: float) -> bool:
    """Whether ``method="auto"`` takes the matrix-product path for ``x`` at ``radius``.

    Only on CPU, where small batched FFTs run far below matrix-product speed. GPUs batch small
    FFTs well, and their float32 products may run in reduced precision (TF32) if a user turned
    that on, which the split must not silently inherit.
    """
    height, width = x.shape[-2:]
    if x.device.type != "cpu" or width % 2:
        return False
    columns = _matmul_columns(height, width, radius)
    madds = columns * height * (2 * width + height)  # per channel: rows·B, filters, ·Bᵀ
    return madds <= FFT_COST_PER_PIXEL * height * width and columns * height * height <= MAX_FILTER_VALUES


def _scratch(scratch: dict | None, name: str, shape: tuple, like: torch.Tensor, dtype=None) -> torch.Tensor | None:
    """A ``shape`` view of buffer ``name`` in ``scratch`` (grown when needed), or None without one.

    A chunk's intermediates are about 1 MiB, above glibc's default size for serving an
    allocation with fresh pages of its own: allocated per chunk, their first-touch page faults
    cost about as much as the products on a virtual machine (a first call on 10 000 CIFAR
    images at r = 16 ran at 12 500 images/s that way, 20 500 with this). One buffer per call
    is faulted in once.
    """
    if scratch is None:
        return None
    numel = math.prod(shape)
    buffer = scratch.get(name)
    if buffer is None or buffer.numel() < numel:
        buffer = scratch[name] = like.new_empty(numel, dtype=dtype)
    return buffer[:numel].view(shape)


# --- FFT path ---------------------------------------------------------------------------------
#
# cos is even, so the sum above does not change when mask is replaced by its Hermitian part
# m(k) = (mask(k) + mask(-k)) / 2. m · fft2(x) is Hermitian, so its inverse is exactly real and
# the half spectrum of rfft2/irfft2 gives the same numbers at half the cost. For even sizes m
# is the mask itself; for odd ones the authors' centre is half a bin off zero frequency and
# m is 1/2 on the rim where the mask and its mirror image disagree.


@functools.lru_cache(maxsize=64)
def _fft_half_mask(height: int, width: int, radius: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """m on the rfft2 half spectrum, repeated over (real, imaginary).

    Multiplying the ``view_as_real`` spectrum by it avoids complex-by-bool promotion, and a
    mask that broadcasts over the length-2 last dimension instead ran 9x slower.
    """
    mask = torch.fft.ifftshift(radial_mask(height, width, radius)).to(torch.float64)
    mirrored = torch.roll(torch.flip(mask, (0, 1)), (1, 1), (0, 1))  # mask[-k mod H, -l mod W]
    half = ((mask + mirrored) / 2)[:, : width // 2 + 1]
    return half.unsqueeze(-1).expand(-1, -1, 2).to(device=device, dtype=dtype).contiguous()


def _split_fft(
    x: torch.Tensor, radii: Sequence[float], out: dict | None = None, scratch: dict | None = None
) -> dict:
    """``{radius: (low, high)}``, written into ``out``'s tensors when given."""
    height, width = x.shape[-2:]
    half_shape = (*x.shape[:-1], width // 2 + 1)
    complex_dtype = torch.complex128 if x.dtype == torch.float64 else torch.complex64
    spectrum = torch.fft.rfft2(x, out=_scratch(scratch, "spectrum", half_shape, x, complex_dtype))
    spectrum = torch.view_as_real(spectrum)
    bands = {}
    for radius in radii:
        low_out, high_out = out[radius] if out else (None, None)
        mask = _fft_half_mask(height, width, radius, x.dtype, x.device)
        masked = torch.mul(spectrum, mask, out=_scratch(scratch, "masked", spectrum.shape, x))
        low = torch.fft.irfft2(torch.view_as_complex(masked), s=(height, width), out=low_out)
        bands[radius] = (low, torch.sub(x, low, out=high_out))
    return bands


# --- Matrix-product path ----------------------------------------------------------------------
#
# A small radius keeps few frequencies (r = 8 of 32: |kx| < 8), so a full FFT mostly computes
# coefficients that are then zeroed, and small batched FFTs are slow on CPU next to GEMM. For an
# even W the mask is even in kx (the Nyquist column is its own mirror), so pairing kx with -kx
# turns cos(a + b) + cos(a - b) into 2 cos a cos b, and the sum above becomes
#
#     low = Σ_j A_j · x · b_j b_jᵀ      (x one H×W channel)
#
# where b_j runs over cos(2π kx m/W) and sin(2π kx m/W) for the kept kx ≥ 0 (columns of the
# basis B, W×K), and A_j is the H×H matrix w/(HW) Σ_ky mask[ky, kx] cos(2π ky (n - n')/H) of
# that kx, w = 2 (1 for kx = 0 and W/2). Per channel that is three small products whose cost
# grows with r, not with H·W·log(H·W): rows·B, one H×H filter per column, then ·Bᵀ. Columns
# are ordered cos 0, cos 1, sin 1, cos 2, sin 2, ..., so a smaller radius uses a prefix of B
# and all radii of a call share the forward product.


@functools.lru_cache(maxsize=256)
def _matmul_columns(height: int, width: int, radius: float) -> int:
    """How many columns of the basis B the low band at ``radius`` needs."""
    kept = torch.fft.ifftshift(radial_mask(height, width, radius))[:, : width // 2 + 1].any(0)
    if not kept.any():  # odd H: the authors' centre is off every bin, so a tiny r keeps none
        return 0
    kx_max = int(kept.nonzero().max())
    # cos for kx = 0 .. kx_max, sin for 0 < kx < W/2 (it is 0 at kx = 0 and kx = W/2).
    return 2 * kx_max + 1 - (2 * kx_max == width)


def _column_frequencies(width: int) -> list[int]:
    """kx of each column of B: 0, 1, 1, 2, 2, ..., W/2 (cos and sin, one cos at 0 and W/2)."""
    return [0] + [kx for kx in range(1, width // 2 + 1) for _ in range(1 if 2 * kx == width else 2)]


@functools.lru_cache(maxsize=64)
def _column_basis(width: int, columns: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """B: W×``columns``; even positions after the first are sines."""
    kx = torch.tensor(_column_frequencies(width)[:columns], dtype=torch.float64)
    angle = 2 * math.pi * torch.arange(width, dtype=torch.float64).view(-1, 1) * kx / width
    is_sine = torch.arange(columns) % 2 == 0
    is_sine[:1] = False
    return torch.where(is_sine, angle.sin(), angle.cos()).to(device=device, dtype=dtype)


@functools.lru_cache(maxsize=64)
def _row_filters(height: int, width: int, radius: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """K×H×H: the transposed A_j of every column the radius needs, so rows multiply from the left."""
    mask = torch.fft.ifftshift(radial_mask(height, width, radius)).to(torch.float64)
    kx = torch.tensor(_column_frequencies(width)[: _matmul_columns(height, width, radius)], dtype=torch.int64)
    weight = torch.where((kx == 0) | (2 * kx == width), 1.0, 2.0).to(torch.float64)
    # A_j[n, n'] depends on (n - n') mod H only: compute it for each offset d, then index.
    k = torch.arange(height, dtype=torch.float64)
    by_offset = weight.view(-1, 1) * (mask[:, kx].T @ torch.cos(2 * math.pi * torch.outer(k, k) / height))
    n = torch.arange(height)
    offset = (n.view(1, -1) - n.view(-1, 1)) % height  # [n', n] -> n - n'
    return (by_offset[:, offset] / (height * width)).to(device=device, dtype=dtype).contiguous()


def _split_matmul(
    x: torch.Tensor, radii: Sequence[float], out: dict | None = None, scratch: dict | None = None
) -> dict:
    """``{radius: (low, high)}``, written into ``out``'s tensors when given."""
    n, channels, height, width = x.shape
    rows = x.view(n * channels * height, width)
    filters = {r: _row_filters(height, width, r, x.dtype, x.device) for r in radii}
    basis = _column_basis(width, max(len(f) for f in filters.values()), x.dtype, x.device)
    # Bᵀ·rowsᵀ (transposes are free views for GEMM) puts coefficient j of every row in one
    # contiguous run, so the per-column filters are one batched product and no step copies.
    coefficients = _scratch(scratch, "coefficients", (basis.shape[1], len(rows)), x)
    coefficients = torch.mm(basis.T, rows.T, out=coefficients)  # K × (N·C·H)
    bands = {}
    for radius, filt in filters.items():
        low_out, high_out = out[radius] if out else (None, None)
        columns = len(filt)
        if columns == 0:  # nothing kept (see _matmul_columns)
            low = low_out.zero_() if out else x * 0  # x * 0: still part of the autograd graph
        else:
            filtered = _scratch(scratch, "filtered", (columns, n * channels, height), x)
            filtered = torch.bmm(coefficients[:columns].view(columns, n * channels, height), filt, out=filtered)
            low = torch.mm(
                filtered.view(columns, -1).T,
                basis[:, :columns].T,
                out=None if low_out is None else low_out.view(-1, width),
            ).view(x.shape)
        bands[radius] = (low, torch.sub(x, low, out=high_out))
    return bands


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
