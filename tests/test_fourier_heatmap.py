"""Fourier heat maps (hfc.fourier_heatmap): basis images checked with numpy's FFT, the batched
map against the per-basis loop, and known answers from fixed low- and high-pass filters."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from hfc import fourier_heatmap as fh


# ----------------------------------------------------------------------------- basis images


@pytest.mark.parametrize("size", [(8, 8), (7, 9), (28, 28)])
def test_basis_images_are_real_unit_norm_and_live_only_at_their_frequency(size):
    height, width = size
    freqs = fh.half_spectrum(height, width)
    assert len(freqs) == height * (width // 2 + 1)
    basis = fh.basis_images(height, width).double().numpy()
    assert basis.shape == (len(freqs), height, width)
    assert np.allclose(np.linalg.norm(basis.reshape(len(freqs), -1), axis=1), 1.0, atol=1e-6)
    for k, (fy, fx) in enumerate(freqs):
        spectrum = np.fft.fft2(basis[k])  # numpy, not torch: an independent transform
        expected = np.zeros((height, width), dtype=bool)
        expected[fy % height, fx % width] = True
        expected[(-fy) % height, (-fx) % width] = True
        energy = np.abs(spectrum) ** 2
        assert energy[~expected].sum() < 1e-9 * energy.sum(), (fy, fx)
        # real image: the spectrum is Hermitian and equal at the two mirrored cells
        assert np.isclose(spectrum[fy % height, fx % width], np.conj(spectrum[(-fy) % height, (-fx) % width]), atol=1e-6)


def test_single_basis_image_matches_the_batched_one():
    batched = fh.basis_images(10, 12)
    for k, (fy, fx) in enumerate(fh.half_spectrum(10, 12)):
        assert torch.allclose(batched[k], fh.basis_image(10, 12, fy, fx), atol=1e-6)


def test_signs_are_seeded_and_differ_between_frequencies():
    a = fh.frequency_signs(3, 5, 100, 2)
    assert torch.equal(a, fh.frequency_signs(3, 5, 100, 2))
    assert set(a.unique().tolist()) == {-1.0, 1.0}
    assert not torch.equal(a, fh.frequency_signs(3, 6, 100, 2))
    assert not torch.equal(a, fh.frequency_signs(4, 5, 100, 2))


# ----------------------------------------------------------------------------- batched == loop


def _tiny_cnn(channels: int, size: int, classes: int = 4) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(channels, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(6 * (size // 2) ** 2, classes),
    ).eval()  # fmt: skip


@pytest.mark.parametrize("channels", [1, 3])
def test_batched_map_equals_the_per_basis_loop(channels):
    size, n = 8, 37
    model = _tiny_cnn(channels, size)
    g = torch.Generator().manual_seed(1)
    images = torch.rand(n, channels, size, size, generator=g)
    with torch.no_grad():
        labels = model(images).argmax(1)
    labels[::3] = (labels[::3] + 1) % 4  # some clean errors too
    eps = 1.5
    reference = fh.fourier_heatmap_loop(model, images, labels, eps, seed=7, batch_size=10)
    # Batches that split the images (batch_size < n) and that join frequencies (batch_size > n).
    for batch_size in (16, 37, 200, 10_000):
        batched = fh.fourier_heatmap(model, images, labels, eps, seed=7, batch_size=batch_size)
        pd.testing.assert_frame_equal(batched, reference)
    # and the map is not flat: the noise matters at this ε
    assert reference["error"].nunique() > 3
    other_seed = fh.fourier_heatmap(model, images, labels, eps, seed=8)
    assert not other_seed["error"].equals(reference["error"])


# ----------------------------------------------------------------------------- known answers


class _Filtered(nn.Module):
    """A fixed circular convolution (an exact Fourier multiplier) and a linear classifier."""

    def __init__(self, kernel: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, kernel.shape[-1], padding=kernel.shape[-1] // 2, padding_mode="circular", bias=False)
        self.conv.weight.data = kernel[None, None].clone()
        self.fc = nn.Linear(weight.shape[1], weight.shape[0])
        self.fc.weight.data, self.fc.bias.data = weight.clone(), bias.clone()

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))


def _gaussian(sigma: float, size: int = 15) -> torch.Tensor:
    r = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(r[:, None] ** 2 + r[None] ** 2) / (2 * sigma**2))
    return g / g.sum()


def _gain(kernel: torch.Tensor, size: int) -> np.ndarray:
    """|frequency response| of the circular convolution on a size×size image (numpy FFT)."""
    k = kernel.shape[-1]
    padded = np.zeros((size, size))
    padded[:k, :k] = kernel.numpy()
    padded = np.roll(padded, (-(k // 2), -(k // 2)), axis=(0, 1))
    return np.abs(np.fft.fft2(padded))


@pytest.mark.parametrize("kind", ["lowpass", "highpass"])
def test_known_answers_for_fixed_low_and_high_pass_filters(kind):
    size, eps = 16, 3.0
    delta = torch.zeros(15, 15, dtype=torch.float64)
    delta[7, 7] = 1
    kernel = _gaussian(2.0) if kind == "lowpass" else delta - _gaussian(0.6)
    gain = _gain(kernel, size)
    freqs = fh.half_spectrum(size, size)
    low, high = fh.ring_masks([f[0] for f in freqs], [f[1] for f in freqs], size, size)
    quiet, loud = (high, low) if kind == "lowpass" else (low, high)
    quiet_gain = max(gain[fy % size, fx % size] for (fy, fx), q in zip(freqs, quiet) if q)
    assert quiet_gain < (0.02 if kind == "lowpass" else 0.2)

    torch.manual_seed(0)
    weight = torch.randn(2, size * size, dtype=torch.float64)
    bias = torch.zeros(2, dtype=torch.float64)
    model = _Filtered(kernel.float(), weight.float(), bias.float()).eval()
    with torch.no_grad():  # centre the logits on mid-grey, so margins are set by the image's texture
        model.fc.bias.data = -model(torch.full((1, 1, size, size), 0.5))[0]
    # Grey images away from 0 and 1, so clipping never bites: the model is linear in the noise.
    images = (0.5 + 0.1 * torch.randn(4000, 1, size, size, generator=torch.Generator().manual_seed(2))).clamp(0.35, 0.65)
    assert float(eps * fh.basis_images(size, size).abs().max()) < 0.35  # no clipping
    with torch.no_grad():
        logits = model(images)
    labels = logits.argmax(1)
    # The filter maps U_f to g(f)·U_f (a symmetric circular kernel), so ±ε·U_f moves the logit gap
    # by ε·g(f)·|⟨w₀ − w₁, U_f⟩|: images with a larger margin cannot be flipped in the quiet ring.
    margin = (logits[:, 0] - logits[:, 1]).abs()
    projection = (fh.basis_images(size, size).double().flatten(1) @ (weight[0] - weight[1])).abs().numpy()
    bound = eps * max(gain[fy % size, fx % size] * p for (fy, fx), q, p in zip(freqs, quiet, projection) if q)
    keep = margin > 1.01 * bound
    images, labels = images[keep][:300], labels[keep][:300]
    assert len(images) == 300

    heatmap = fh.fourier_heatmap(model, images, labels, eps, seed=0)
    error = heatmap["error"].to_numpy()
    assert (error[quiet] == 0).all()
    assert error[loud].mean() > 0.05  # the other ring does flip predictions
    rings = fh.ring_means(heatmap)
    if kind == "lowpass":
        assert rings["high_ring_error"] == 0 and rings["low_ring_error"] > 0.05
    else:
        assert rings["low_ring_error"] == 0 and rings["high_ring_error"] > 0.05


# ----------------------------------------------------------------------------- display and summaries


def test_full_spectrum_mirrors_the_half_spectrum():
    for height, width in ((6, 6), (5, 7)):
        freqs = fh.half_spectrum(height, width)
        frame = pd.DataFrame({"fy": [f[0] for f in freqs], "fx": [f[1] for f in freqs],
                              "error": np.arange(len(freqs)) / 100, "height": height, "width": width})  # fmt: skip
        grid, fys, fxs = fh.full_spectrum(frame)
        assert grid.shape == (height, width) and not np.isnan(grid).any()
        lookup = dict(zip(freqs, frame["error"]))
        for i, fy in enumerate(fys):
            for j, fx in enumerate(fxs):
                mirror = ((fy + height // 2) % height - height // 2, fx) if fx >= 0 else (
                    (-fy + height // 2) % height - height // 2, -fx)  # fmt: skip
                assert grid[i, j] == lookup[mirror]
        assert fys[height // 2] == 0 and fxs[width // 2] == 0


def test_ring_summary_and_figure(tmp_path):
    size = 8
    model = _tiny_cnn(1, size)
    images = torch.rand(20, 1, size, size, generator=torch.Generator().manual_seed(3))
    labels = torch.zeros(20, dtype=torch.long)
    maps = pd.concat([fh.fourier_heatmap(model, images, labels, 2.0, model_name=m) for m in ("a", "b")])
    summary = fh.ring_summary(maps)
    assert list(summary["model"]) == ["a", "b"]
    paths = fh.heatmap_figure(maps, {"a": "A", "b": "B"}, tmp_path / "h.png", tmp_path / "h.pdf")
    assert all(p.stat().st_size > 1000 for p in paths)
    with pytest.raises(ValueError, match="no heat map for model"):
        fh.heatmap_figure(maps, {"c": "C"}, tmp_path / "x.png", tmp_path / "x.pdf")


def test_bad_inputs_are_refused():
    model = _tiny_cnn(1, 8)
    images = torch.rand(4, 1, 8, 8)
    labels = torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="eps"):
        fh.fourier_heatmap(model, images, labels, 0.0)
    with pytest.raises(ValueError, match="labels"):
        fh.fourier_heatmap(model, images, labels[:2], 1.0)
    with pytest.raises(ValueError, match="height"):
        fh.basis_images(1, 8)
    assert math.isclose(float(fh.basis_images(4, 4)[0].norm()), 1.0, rel_tol=1e-6)
