"""Fourier heat maps (Yin et al., NeurIPS 2019, "A Fourier Perspective on Model Robustness in
Computer Vision"), beyond the paper.

For every frequency (fy, fx) of the half spectrum of an H×W image, a real Fourier basis image
U of unit L2 norm is added to each test image with a random sign and L2 norm ε, the result is
clipped to [0, 1], and the model's error rate is recorded:

    x' = clip(x + ε · r · U_{fy,fx}, 0, 1),   r ∈ {−1, +1}

Choices (Yin et al.'s paper leaves them open or differs from their code in places):

- **Basis.** ``U = Re ifft2(e_{fy,fx} + e_{−fy,−fx})`` scaled to unit norm: a cosine wave of that
  frequency, real because its spectrum is Hermitian-symmetric. ``(fy, fx)`` and ``(−fy, −fx)`` give
  the same image, so the half spectrum (every ``fy``, ``fx ≥ 0``; H × (W//2 + 1) frequencies, as
  ``torch.fft.rfft2`` lays it out) holds every basis image; on the ``fx = 0`` and ``fx = W/2``
  columns each image appears twice, measured twice with independent signs.
- **Channels.** The same basis image in every channel, each channel with its own random sign
  (Yin et al.'s code draws per channel); on a one-channel image that is one sign per image. The
  L2 norm ε is per channel, so an RGB perturbation has norm ε·√3.
- **Signs.** Drawn from a generator seeded by ``(seed, frequency index)``: the same signs
  whatever the batching, so the batched map and the per-basis loop see identical inputs.
- **Display.** The full centred spectrum as Yin et al. draw it: (fy, fx) and its mirror
  (−fy, −fx) share one value, zero frequency in the centre, frequencies growing outwards.

- :func:`basis_images`: every basis image of the half spectrum, from one batched inverse FFT.
- :func:`fourier_heatmap`: the error map, batched over frequencies and images.
- :func:`fourier_heatmap_loop`: the same map from a plain loop over basis images (the reference).
- :func:`ring_means`, :func:`ring_summary`: mean error in the low- and high-frequency rings.
- :func:`full_spectrum`, :func:`heatmap_figure`: the centred map and its figure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from hfc.response import check_model_inputs
from hfc.tables import require_frame

__all__ = [
    "HEATMAP_COLUMNS",
    "RING_COLUMNS",
    "LOW_RING",
    "HIGH_RING",
    "half_spectrum",
    "basis_images",
    "basis_image",
    "frequency_signs",
    "fourier_heatmap",
    "fourier_heatmap_loop",
    "frequency_radius",
    "ring_masks",
    "ring_means",
    "ring_summary",
    "full_spectrum",
    "heatmap_figure",
]

HEATMAP_COLUMNS = ["model", "seed", "fy", "fx", "eps", "error", "clean_error", "n", "height", "width"]
RING_COLUMNS = ["model", "seed", "eps", "clean_error", "low_ring_error", "high_ring_error", "low_ring_excess",
                "high_ring_excess"]  # fmt: skip
# Rings as fractions of the Nyquist radius min(H, W) / 2: "low" is the innermost quarter, "high"
# everything beyond half of it (on 28×28: 0 < radius ≤ 3.5 and radius > 7, corners included).
LOW_RING = 0.25
HIGH_RING = 0.5


def _check_size(height: int, width: int) -> tuple[int, int]:
    for name, s in (("height", height), ("width", width)):
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 2:
            raise ValueError(f"image {name} must be an int >= 2, got {s!r}")
    return int(height), int(width)


def half_spectrum(height: int, width: int) -> list[tuple[int, int]]:
    """The (fy, fx) of the half spectrum: fy signed in [−⌊H/2⌋, ⌈H/2⌉ − 1], fx in [0, ⌊W/2⌋].

    Row-major, fy ascending: index k of this list is the frequency index used by the signs.
    """
    height, width = _check_size(height, width)
    ys = range(-(height // 2), (height + 1) // 2)
    return [(fy, fx) for fy in ys for fx in range(width // 2 + 1)]


def basis_images(height: int, width: int, frequencies: Sequence[tuple[int, int]] | None = None) -> torch.Tensor:
    """F × H × W real Fourier basis images of unit L2 norm, one per frequency (float32).

    One Hermitian-symmetric one-hot spectrum per frequency (1 at (fy, fx) and at (−fy, −fx)),
    all transformed by one batched ``torch.fft.ifft2`` in float64, then normalised.
    """
    height, width = _check_size(height, width)
    freqs = half_spectrum(height, width) if frequencies is None else [(int(a), int(b)) for a, b in frequencies]
    if not freqs:
        raise ValueError("no frequencies given")
    fy = torch.tensor([f[0] for f in freqs]) % height
    fx = torch.tensor([f[1] for f in freqs]) % width
    index = torch.arange(len(freqs))
    spectra = torch.zeros(len(freqs), height, width, dtype=torch.complex128)
    spectra[index, fy, fx] = 1
    spectra[index, (-fy) % height, (-fx) % width] = 1  # the same cell for self-conjugate frequencies
    images = torch.fft.ifft2(spectra).real
    images = images / images.flatten(1).norm(dim=1)[:, None, None]
    return images.float()


def basis_image(height: int, width: int, fy: int, fx: int) -> torch.Tensor:
    """One basis image, built on its own (the per-basis loop's path): H × W, unit L2 norm."""
    height, width = _check_size(height, width)
    spectrum = np.zeros((height, width), dtype=np.complex128)
    spectrum[fy % height, fx % width] = 1
    spectrum[(-fy) % height, (-fx) % width] = 1
    image = torch.from_numpy(np.fft.ifft2(spectrum).real.copy())
    return (image / image.norm()).float()


def frequency_signs(seed: int, index: int, n_images: int, channels: int) -> torch.Tensor:
    """The ±1 signs (n_images × channels, float32) of frequency ``index`` under ``seed``."""
    generator = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(index))
    return torch.randint(0, 2, (n_images, channels), generator=generator).float() * 2 - 1


def _check_inputs(model, images, labels, eps, batch_size) -> None:
    check_model_inputs(model, images, labels, batch_size)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps <= 0:
        raise ValueError(f"eps must be a finite number > 0 (the L2 norm of the basis noise), got {eps!r}")


def _device(model: nn.Module, images: torch.Tensor) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else images.device


@torch.no_grad()
def _clean_wrong(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int) -> int:
    return sum(
        int((model(images[i : i + batch_size]).argmax(dim=1) != labels[i : i + batch_size]).sum())
        for i in range(0, images.shape[0], batch_size)
    )


def _frame(freqs, errors, clean, n, eps, model_name, seed, height, width) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": model_name,
            "seed": int(seed),
            "fy": [f[0] for f in freqs],
            "fx": [f[1] for f in freqs],
            "eps": float(eps),
            "error": [int(e) / n for e in errors],
            "clean_error": clean / n,
            "n": n,
            "height": int(height),
            "width": int(width),
        },
        columns=HEATMAP_COLUMNS,
    )


@torch.no_grad()
def fourier_heatmap(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    *,
    seed: int = 0,
    batch_size: int = 4096,
    model_name: str = "model",
    frequencies: Sequence[tuple[int, int]] | None = None,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Error rate of ``model`` under ε-norm basis noise at every frequency of the half spectrum.

    ``images`` (N×C×H×W in [0, 1]) and ``labels`` are moved to the model's device; each forward
    pass carries about ``batch_size`` perturbed images (several frequencies × all images, or
    one frequency × a slice of images when N is larger). Returns :data:`HEATMAP_COLUMNS`, one
    row per frequency in :func:`half_spectrum` order; ``error`` is the fraction of the N
    perturbed images the model gets wrong.
    """
    _check_inputs(model, images, labels, eps, batch_size)
    n, channels, height, width = images.shape
    freqs = half_spectrum(height, width) if frequencies is None else [tuple(map(int, f)) for f in frequencies]
    device = _device(model, images)
    images, labels = images.to(device), labels.to(device)
    basis = basis_images(height, width, freqs).to(device)
    all_freqs = half_spectrum(height, width)
    position = {f: k for k, f in enumerate(all_freqs)}
    sign_index = [position.get(f, k) for k, f in enumerate(freqs)]
    was_training = model.training
    model.eval()
    errors = torch.zeros(len(freqs), dtype=torch.int64, device=device)
    per_chunk = max(1, batch_size // n)  # frequencies per forward pass
    image_step = n if per_chunk > 1 else batch_size
    try:
        clean = _clean_wrong(model, images, labels, batch_size)
        for start in range(0, len(freqs), per_chunk):
            ks = range(start, min(start + per_chunk, len(freqs)))
            signs = torch.stack([frequency_signs(seed, sign_index[k], n, channels) for k in ks]).to(device)
            noise = eps * signs[:, :, :, None, None] * basis[list(ks)][:, None, None]  # F × N × C × H × W
            for i0 in range(0, n, image_step):
                x = (images[None, i0 : i0 + image_step] + noise[:, i0 : i0 + image_step]).clamp_(0, 1)
                f, m = x.shape[:2]
                wrong = model(x.reshape(f * m, channels, height, width)).argmax(dim=1) != labels[i0 : i0 + m].repeat(f)
                errors[start : start + f] += wrong.reshape(f, m).sum(dim=1)
            if log is not None and (start // per_chunk) % 50 == 0:
                log(f"fourier heat map: {ks[-1] + 1}/{len(freqs)} frequencies")
    finally:
        model.train(was_training)
    return _frame(freqs, errors.cpu().tolist(), clean, n, eps, model_name, seed, height, width)


@torch.no_grad()
def fourier_heatmap_loop(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    *,
    seed: int = 0,
    batch_size: int = 500,
    model_name: str = "model",
) -> pd.DataFrame:
    """The reference: a plain loop over the basis images, each built on its own
    (:func:`basis_image`, numpy's FFT) and evaluated on the images in batches. Same signs,
    same output as :func:`fourier_heatmap`; used by the tests and the benchmark."""
    _check_inputs(model, images, labels, eps, batch_size)
    n, channels, height, width = images.shape
    device = _device(model, images)
    images, labels = images.to(device), labels.to(device)
    was_training = model.training
    model.eval()
    freqs = half_spectrum(height, width)
    errors = []
    try:
        clean = _clean_wrong(model, images, labels, batch_size)
        for k, (fy, fx) in enumerate(freqs):
            u = basis_image(height, width, fy, fx).to(device)
            signs = frequency_signs(seed, k, n, channels).to(device)
            wrong = 0
            for i0 in range(0, n, batch_size):
                x = (images[i0 : i0 + batch_size] + eps * signs[i0 : i0 + batch_size, :, None, None] * u).clamp(0, 1)
                wrong += int((model(x).argmax(dim=1) != labels[i0 : i0 + batch_size]).sum())
            errors.append(wrong)
    finally:
        model.train(was_training)
    return _frame(freqs, errors, clean, n, eps, model_name, seed, height, width)


# ----------------------------------------------------------------------------- summaries


def frequency_radius(fy, fx) -> np.ndarray:
    """Distance of (fy, fx) from zero frequency, in frequency bins."""
    return np.hypot(np.asarray(fy, dtype=float), np.asarray(fx, dtype=float))


def _nyquist(frame: pd.DataFrame) -> float:
    return min(int(frame["height"].iloc[0]), int(frame["width"].iloc[0])) / 2


def ring_masks(fy, fx, height: int, width: int, low: float = LOW_RING, high: float = HIGH_RING):
    """(low, high) boolean masks over frequencies: 0 < radius ≤ ``low`` × Nyquist radius (zero
    frequency left out: a constant shift), and radius > ``high`` × Nyquist radius, the Nyquist
    radius being min(H, W) / 2."""
    radius = frequency_radius(fy, fx)
    nyquist = min(height, width) / 2
    return (radius > 0) & (radius <= low * nyquist), radius > high * nyquist


def ring_means(heatmap: pd.DataFrame, low: float = LOW_RING, high: float = HIGH_RING) -> dict:
    """Mean error over the low and the high ring (:func:`ring_masks`) of one map; with the
    map's clean error also ``*_excess``: the ring's error minus the clean error, the error the
    noise adds (what compares models of different clean accuracy, e.g. M_natural and
    M_adversarial)."""
    require_frame(heatmap, ["fy", "fx", "error", "height", "width"], "ring_means")
    if not 0 < low <= high:
        raise ValueError(f"rings need 0 < low <= high, got low={low}, high={high}")
    low_cells, high_cells = ring_masks(heatmap["fy"], heatmap["fx"], int(heatmap["height"].iloc[0]),
                                       int(heatmap["width"].iloc[0]), low, high)  # fmt: skip
    nyquist = _nyquist(heatmap)
    if not low_cells.any() or not high_cells.any():
        raise ValueError(f"ring_means: an empty ring (Nyquist radius {nyquist}, low {low}, high {high})")
    error = heatmap["error"].to_numpy(dtype=float)
    out = {"low_ring_error": float(error[low_cells].mean()), "high_ring_error": float(error[high_cells].mean())}
    if "clean_error" in heatmap.columns:
        clean = float(heatmap["clean_error"].iloc[0])
        out.update(clean_error=clean, low_ring_excess=out["low_ring_error"] - clean,
                   high_ring_excess=out["high_ring_error"] - clean)  # fmt: skip
    return out


def ring_summary(heatmaps: pd.DataFrame, low: float = LOW_RING, high: float = HIGH_RING) -> pd.DataFrame:
    """:func:`ring_means` per model × seed × ε: one row each, columns :data:`RING_COLUMNS`."""
    require_frame(heatmaps, HEATMAP_COLUMNS, "ring_summary")
    rows = [
        {"model": model, "seed": int(seed), "eps": float(eps), **ring_means(group, low, high)}
        for (model, seed, eps), group in heatmaps.groupby(["model", "seed", "eps"], sort=False)
    ]
    return pd.DataFrame(rows, columns=RING_COLUMNS)


def full_spectrum(heatmap: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(map, fy values, fx values): the H × W centred map of one half-spectrum heat map.

    Cell (fy, fx) with fx < 0 takes the value measured at (−fy, −fx) (the same basis image);
    fy and fx run from −⌊size/2⌋ to ⌈size/2⌉ − 1, zero frequency at index ⌊size/2⌋.
    """
    require_frame(heatmap, ["fy", "fx", "error", "height", "width"], "full_spectrum")
    sizes = heatmap[["height", "width"]].drop_duplicates()
    if len(sizes) != 1:
        raise ValueError("full_spectrum: the frame mixes image sizes; pass one model, seed and ε")
    height, width = (int(v) for v in sizes.iloc[0])
    values = {(int(a), int(b)): float(e) for a, b, e in zip(heatmap["fy"], heatmap["fx"], heatmap["error"])}
    if len(values) != len(heatmap):
        raise ValueError("full_spectrum: repeated (fy, fx) cells; pass one model, seed and ε")
    fys = np.arange(-(height // 2), (height + 1) // 2)
    fxs = np.arange(-(width // 2), (width + 1) // 2)
    grid = np.full((height, width), np.nan)
    for i, fy in enumerate(fys):
        for j, fx in enumerate(fxs):
            key = (int(fy), int(fx)) if fx >= 0 else (_wrap(-fy, height), int(-fx))
            grid[i, j] = values.get(key, np.nan)
    return grid, fys, fxs


def _wrap(f: int, size: int) -> int:
    """``f`` folded into [−⌊size/2⌋, ⌈size/2⌉ − 1]."""
    return int((f + size // 2) % size - size // 2)


def heatmap_figure(heatmaps: pd.DataFrame, titles: Mapping[str, str], png, pdf, note: str = "") -> list[Path]:
    """One panel per model (its first seed, one ε): the centred error map, shared colour scale.

    ``titles`` maps each model (the frame's ``model`` values) to its panel title, in order.
    """
    from hfc.figures import plt, save_figure  # Agg backend; matplotlib only when drawing

    require_frame(heatmaps, HEATMAP_COLUMNS, "heatmap_figure")
    if not titles:
        raise ValueError("heatmap_figure: no models to draw")
    missing = [m for m in titles if m not in set(heatmaps["model"])]
    if missing:
        raise ValueError(f"heatmap_figure: no heat map for model(s) {missing}")
    panels = []
    for model in titles:
        rows = heatmaps[heatmaps["model"] == model]
        seed, eps = int(rows["seed"].min()), float(rows["eps"].min())
        rows = rows[(rows["seed"] == seed) & (rows["eps"] == eps)]
        panels.append((model, seed, eps, int(rows["n"].iloc[0]), *full_spectrum(rows)))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels) + 0.8, 3.6), squeeze=False, layout="constrained")
    top = max(1e-9, max(float(np.nanmax(p[4])) for p in panels))
    for ax, (model, seed, eps, n, grid, fys, fxs) in zip(axes.flat, panels):
        image = ax.imshow(
            grid, cmap="viridis", vmin=0, vmax=top, interpolation="nearest", origin="lower",
            extent=(fxs[0] - 0.5, fxs[-1] + 0.5, fys[0] - 0.5, fys[-1] + 0.5),
        )  # fmt: skip
        clean = float(heatmaps.loc[heatmaps["model"] == model, "clean_error"].iloc[0])
        ax.set_title(f"{titles[model]} (clean error {clean:.3f})\nε = {eps:g}, {n} images, seed {seed}", fontsize=9)
        ax.set_xlabel("fx (frequency bins)")
        ax.set_ylabel("fy (frequency bins)")
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.85, label="error rate")
    import textwrap

    fig.suptitle(
        "Fourier heat map (Yin et al. 2019): error under a unit Fourier basis image × ε, random sign per image"
        + ("\n" + "\n".join(textwrap.wrap(note, 40 * len(panels) + 30)) if note else ""),
        fontsize=9,
    )
    return save_figure(fig, png, pdf)
