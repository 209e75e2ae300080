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


# Both implementations behind split_many ("fft": half-spectrum FFTs; "matmul": products with
# the kept frequencies only) must give the authors' numbers; "auto" only chooses between them.


@pytest.mark.parametrize("method", ["fft", "matmul"])
@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (3, 1, 28, 28), (2, 2, 16, 24), (2, 1, 15, 16), (2, 1, 9, 2)])
def test_each_method_matches_reference_at_every_radius(method, shape):
    images = torch.rand(shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    height, width = shape[-2:]
    radii = [0.3, 1, 2.5, 4, 8, 12, frequency.max_radius(height, width)]
    radii = [r for r in radii if r <= frequency.max_radius(height, width)]
    many = frequency.split_many(images, radii, method=method)
    for radius in radii:
        ref_low, ref_high = frequency.split_reference_numpy(images.numpy(), radius)
        np.testing.assert_allclose(many[radius][0].numpy(), ref_low, atol=1e-12, err_msg=f"r={radius}")
        np.testing.assert_allclose(many[radius][1].numpy(), ref_high, atol=1e-12, err_msg=f"r={radius}")


def test_odd_height_tiny_radius_keeps_nothing_in_both_methods():
    # The authors' centre (7.5, 8) is half a bin from every bin of a 15x16 spectrum.
    images = torch.rand(2, 1, 15, 16, generator=torch.Generator().manual_seed(5))
    for method in ("fft", "matmul"):
        low, high = frequency.split(images, 0.4, method=method)
        assert float(low.abs().max()) == 0.0
        torch.testing.assert_close(high, images)


@pytest.mark.parametrize("method", ["fft", "matmul"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_each_method_keeps_dtype_and_float32_precision(method, dtype):
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(6)).to(dtype)
    low, high = frequency.split(images, 8, method=method)
    assert low.dtype == high.dtype == dtype
    ref_low, _ = frequency.split_reference_numpy(images.double().numpy(), 8)
    np.testing.assert_allclose(low.double().numpy(), ref_low, atol=1e-5 if dtype == torch.float32 else 1e-12)
    torch.testing.assert_close(low + high, images, atol=1e-6, rtol=0)


def test_half_precision_is_computed_in_float32_and_rounded():
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(7))
    low16, high16 = frequency.split(images.half(), 8)
    low32, high32 = frequency.split(images.half().float(), 8)
    assert low16.dtype == high16.dtype == torch.float16
    torch.testing.assert_close(low16, low32.half())
    torch.testing.assert_close(high16, high32.half())


@pytest.mark.parametrize("method", ["fft", "matmul"])
def test_chunked_batches_equal_one_pass(monkeypatch, method):
    images = torch.rand(7, 2, 16, 16, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    whole = frequency.split_many(images, [3, 6], method=method)
    # 3 images per chunk: chunks of 3, 3 and a remainder of 1.
    monkeypatch.setattr(frequency, "CHUNK_VALUES", 3 * 2 * 16 * 16)
    chunked = frequency.split_many(images, [3, 6], method=method)
    for radius in (3, 6):
        torch.testing.assert_close(chunked[radius][0], whole[radius][0], atol=1e-14, rtol=0)
        torch.testing.assert_close(chunked[radius][1], whole[radius][1], atol=1e-14, rtol=0)


def test_channels_last_input_gives_contiguous_correct_output():
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    low, high = frequency.split(images.to(memory_format=torch.channels_last), 8)
    assert low.is_contiguous() and high.is_contiguous()
    ref_low, ref_high = frequency.split_reference_numpy(images.numpy(), 8)
    np.testing.assert_allclose(low.numpy(), ref_low, atol=1e-12)
    np.testing.assert_allclose(high.numpy(), ref_high, atol=1e-12)


def test_auto_takes_matmul_for_project_sizes_and_fft_when_it_must(monkeypatch):
    def refuse(*args):
        raise AssertionError("FFT path used")

    monkeypatch.setattr(frequency, "_split_fft", refuse)
    frequency.split(torch.rand(2, 3, 32, 32), 8)  # CIFAR
    frequency.split_many(torch.rand(2, 1, 28, 28), [4, 8, 12, 16])  # Fashion-MNIST
    with pytest.raises(AssertionError, match="FFT path"):
        frequency.split(torch.rand(2, 1, 15, 15), 4)  # odd width: only the FFT path applies


def test_split_many_mixing_both_paths_matches_reference():
    # 64x64: a small radius is cheaper by matrix products, a large one by FFT.
    images = torch.rand(2, 1, 64, 64, generator=torch.Generator().manual_seed(10), dtype=torch.float64)
    assert frequency._matmul_is_cheaper(images, 8) and not frequency._matmul_is_cheaper(images, 40)
    many = frequency.split_many(images, [8, 40])
    for radius in (8, 40):
        ref_low, ref_high = frequency.split_reference_numpy(images.numpy(), radius)
        np.testing.assert_allclose(many[radius][0].numpy(), ref_low, atol=1e-12)
        np.testing.assert_allclose(many[radius][1].numpy(), ref_high, atol=1e-12)


def test_bad_method_is_a_clear_error():
    with pytest.raises(ValueError, match="method must be one of"):
        frequency.split(torch.rand(1, 1, 28, 28), 4, method="dct")
    with pytest.raises(ValueError, match="even image width"):
        frequency.split(torch.rand(1, 1, 28, 27), 4, method="matmul")


@pytest.mark.parametrize("method", ["fft", "matmul"])
@pytest.mark.parametrize(("shape", "radius"), [((2, 2, 8, 8), 2.5), ((1, 1, 5, 4), 0.4), ((1, 1, 5, 4), 2)])
def test_split_is_differentiable_and_matches_the_no_grad_result(method, shape, radius):
    # With autograd the batch takes the path without out= writes; same numbers, and the
    # gradient of this linear map must be right too.
    images = torch.rand(shape, generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    expected = frequency.split(images, radius, method=method)
    images.requires_grad_(True)
    low, high = frequency.split(images, radius, method=method)
    assert low.requires_grad and high.requires_grad
    torch.testing.assert_close(low.detach(), expected[0], atol=1e-14, rtol=0)
    torch.testing.assert_close(high.detach(), expected[1], atol=1e-14, rtol=0)
    assert torch.autograd.gradcheck(lambda x: frequency.split(x, radius, method=method), (images,))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("method", ["auto", "fft", "matmul"])
def test_cuda_matches_cpu(method):
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    many_cpu = frequency.split_many(images, [4, 8, 16], method=method)
    many_gpu = frequency.split_many(images.cuda(), [4, 8, 16], method=method)
    for radius, (low, high) in many_gpu.items():
        assert low.device.type == high.device.type == "cuda"
        torch.testing.assert_close(low.cpu(), many_cpu[radius][0], atol=1e-12, rtol=0)
        torch.testing.assert_close(high.cpu(), many_cpu[radius][1], atol=1e-12, rtol=0)


def _authors_mask(height, width, radius):
    # The authors' loop (math.sqrt is IEEE correctly rounded, as numpy's is).
    return np.array(
        [[math.sqrt((i - height / 2) ** 2 + (j - width / 2) ** 2) < radius for j in range(width)] for i in range(height)]
    )


@pytest.mark.parametrize("shape", [(32, 32), (28, 28), (15, 16), (9, 2), (224, 224)])
def test_mask_equals_the_authors_at_every_exact_boundary_radius(shape):
    """Radii equal to a bin's distance (max_radius among them) are where rounding decides the band."""
    height, width = shape
    distances = sorted({math.sqrt((i - height / 2) ** 2 + (j - width / 2) ** 2) for i in range(height) for j in range(width)})
    radii = distances[1:40:3] + distances[-3:] + [frequency.max_radius(height, width)]
    for radius in radii:
        assert np.array_equal(frequency.radial_mask(height, width, radius).numpy(), _authors_mask(height, width, radius)), radius
    assert frequency.max_radius(height, width) == distances[-1]


def test_mask_does_not_depend_on_torchs_sqrt(monkeypatch):
    """On AVX512 torch's float64 sqrt can be 1 ulp low: simulate it; the mask must not move."""
    real_sqrt = torch.sqrt
    monkeypatch.setattr(torch, "sqrt", lambda x, *a, **k: torch.nextafter(real_sqrt(x, *a, **k), torch.tensor(-math.inf, dtype=x.dtype)))
    radius = frequency.max_radius(32, 32)
    mask = frequency.radial_mask(32, 32, radius)
    assert not bool(mask[0, 0])  # the corner bin at distance exactly max_radius is high band
    assert np.array_equal(mask.numpy(), _authors_mask(32, 32, radius))
    low, high = frequency.split(torch.rand(2, 3, 32, 32, dtype=torch.float64), radius)
    assert float(high.abs().max()) > 0  # the corner frequency is left in the high band
