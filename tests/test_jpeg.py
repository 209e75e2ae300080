"""hfc.jpeg: HFC energy on a known answer, and the JPEG round trip."""

from __future__ import annotations

import math

import pytest
import torch

from hfc import jpeg


def _wave(size=28, k=6, mean=0.5, amplitude=0.25):
    i = torch.arange(size, dtype=torch.float64)
    row = mean + amplitude * torch.cos(2 * math.pi * k * i / size)
    return row.view(1, 1, size, 1).expand(1, 1, size, size).clone()


def test_hfc_energy_of_a_cosine_is_known():
    # mean² = 0.25 per pixel, the cosine adds amplitude²/2 = 0.03125, all at distance k = 6
    # from the centre: in x_h(r) for r <= 6, in x_l(r) beyond.
    x = _wave()
    fractions = jpeg.hfc_energy_fraction(x, [4, 6, 7, 12])
    expected = 0.03125 / (0.25 + 0.03125)
    assert fractions[4] == pytest.approx(expected, rel=1e-9)
    assert fractions[6] == pytest.approx(expected, rel=1e-9)  # d = 6 is not < 6: high band
    assert fractions[7] == pytest.approx(0, abs=1e-12) and fractions[12] == pytest.approx(0, abs=1e-12)


def test_jpeg_roundtrip_keeps_shape_and_flat_images():
    flat = torch.full((3, 1, 16, 16), 128, dtype=torch.uint8)
    assert torch.equal(jpeg.jpeg_roundtrip(flat, 75), flat)
    rgb = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    out = jpeg.jpeg_roundtrip(rgb, 75)
    assert out.shape == rgb.shape and out.dtype == torch.uint8 and not torch.equal(out, rgb)
    with pytest.raises(ValueError, match="quality"):
        jpeg.jpeg_roundtrip(rgb, 0)


def test_jpeg_changes_noise_hfc_more_at_lower_quality():
    noise = torch.randint(0, 256, (8, 1, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    high_q = jpeg.jpeg_hfc_table(noise, [8], quality=95).iloc[0]
    low_q = jpeg.jpeg_hfc_table(noise, [8], quality=30).iloc[0]
    assert 0 <= high_q["hfc_error"] < low_q["hfc_error"]
    assert high_q["hfc_energy_before"] == pytest.approx(low_q["hfc_energy_before"])
