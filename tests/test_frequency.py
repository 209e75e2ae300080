import math

import numpy as np
import pytest
import torch

from hfc import frequency


@pytest.mark.parametrize("shape", [(3, 1, 28, 28), (2, 3, 32, 32), (2, 2, 16, 24), (2, 1, 15, 15)])
@pytest.mark.parametrize("radius", [1, 4, 8.5, 12])
def test_split_matches_per_image_numpy_reference(shape, radius):
    if radius > frequency.max_radius(*shape[-2:]):
        pytest.skip("radius beyond this size")
    images = torch.rand(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    low, high = frequency.split(images, radius)
    ref_low, ref_high = frequency.split_reference_numpy(images.numpy(), radius)
    np.testing.assert_allclose(low.numpy(), ref_low, atol=1e-12)
    np.testing.assert_allclose(high.numpy(), ref_high, atol=1e-12)


def test_reference_mask_is_the_authors_strict_circle_around_h_over_2():
    # Independent of both implementations: count bins by hand for 28x28, r=4 (strict <).
    expected = sum(1 for i in range(28) for j in range(28) if math.hypot(i - 14, j - 14) < 4)
    mask = frequency.radial_mask(28, 28, 4)
    assert int(mask.sum()) == expected == 45
    assert bool(mask[14, 14]) and not bool(mask[18, 14])  # distance exactly r is high band


def test_low_plus_high_is_input_float32():
    images = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    for radius, (low, high) in frequency.split_many(images, [4, 8, 12, 16]).items():
        assert low.dtype == images.dtype == high.dtype
        torch.testing.assert_close(low + high, images, atol=1e-5, rtol=0)


def test_split_many_equals_single_splits():
    images = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    many = frequency.split_many(images, [4, 12])
    for radius in (4, 12):
        low, high = frequency.split(images, radius)
        torch.testing.assert_close(many[radius][0], low)
        torch.testing.assert_close(many[radius][1], high)


def test_low_band_of_constant_image_is_the_image():
    images = torch.full((1, 1, 28, 28), 0.3)
    low, high = frequency.split(images, 1)
    torch.testing.assert_close(low, images, atol=1e-6, rtol=0)
    assert float(high.abs().max()) < 1e-6


def test_large_radius_moves_everything_low():
    images = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    low, high = frequency.split(images, frequency.max_radius(28, 28))
    # Only the farthest corner bin is left out by the strict "<".
    assert float(high.abs().max()) < 0.05
    assert float((low - images).abs().max()) < 0.05


@pytest.mark.parametrize("radius", [0, -1, 20, float("nan")])
def test_radius_out_of_range_is_a_clear_error(radius):
    images = torch.rand(1, 1, 28, 28)
    with pytest.raises(ValueError, match="radius"):
        frequency.split(images, radius)


def test_rejects_uint8_and_wrong_rank():
    with pytest.raises(ValueError, match="float"):
        frequency.split(torch.zeros(1, 1, 28, 28, dtype=torch.uint8), 4)
    with pytest.raises(ValueError, match="N×C×H×W"):
        frequency.split(torch.zeros(28, 28), 4)


def test_rescale_by_max_per_image():
    images = torch.stack([torch.full((1, 4, 4), 0.5), torch.full((1, 4, 4), -0.2), torch.rand(1, 4, 4) * 2])
    out = frequency.rescale_by_max(images)
    assert float(out[0].max()) == pytest.approx(1.0)
    torch.testing.assert_close(out[1], images[1])  # non-positive maximum: left as is
    assert float(out[2].max()) == pytest.approx(1.0)
