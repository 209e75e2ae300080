import numpy as np
import pytest
import torch
import torch.nn as nn
from scipy.signal import convolve2d

from hfc.smoothing import first_conv, kernel_smoothness, smooth_first_conv, smooth_kernels


def authors_smoothing(weight: np.ndarray, rho: float) -> np.ndarray:
    """The authors' per-kernel reference: scipy convolve2d, mode 'same', mirror boundary."""
    mix = np.full((3, 3), rho)
    mix[1, 1] = 1.0
    out = np.empty_like(weight)
    for o in range(weight.shape[0]):
        for i in range(weight.shape[1]):
            out[o, i] = convolve2d(weight[o, i], mix, mode="same", boundary="symm")
    return out


def eq3_by_hand(k: np.ndarray, rho: float) -> np.ndarray:
    """Eq. 3 written out literally, neighbours outside the kernel duplicated from the border."""
    h, w = k.shape
    out = np.empty_like(k)
    for i in range(h):
        for j in range(w):
            total = k[i, j]
            for di in (-1, 0, 1):
                for dj in (-1, 0, 1):
                    if di or dj:
                        total += rho * k[min(max(i + di, 0), h - 1), min(max(j + dj, 0), w - 1)]
            out[i, j] = total
    return out


@pytest.mark.parametrize("shape", [(16, 3, 3, 3), (6, 1, 5, 5)])
@pytest.mark.parametrize("rho", [0.0, 0.1, 0.25, 0.5, 1.0])
def test_matches_scipy_symm(shape, rho):
    weight = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    np.testing.assert_allclose(
        smooth_kernels(weight, rho).numpy(), authors_smoothing(weight.numpy(), rho), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("size", [3, 5])
def test_scipy_symm_equals_border_replication(size):
    # Why replicate padding reproduces the authors' 'symm' boundary for a 3×3 mix.
    k = np.random.default_rng(size).standard_normal((size, size))
    mix = np.full((3, 3), 0.3)
    mix[1, 1] = 1.0
    np.testing.assert_allclose(convolve2d(k, mix, mode="same", boundary="symm"), eq3_by_hand(k, 0.3), atol=1e-12)
    weight = torch.from_numpy(k)[None, None]
    np.testing.assert_allclose(smooth_kernels(weight, 0.3)[0, 0].numpy(), eq3_by_hand(k, 0.3), atol=1e-12)


def test_rho_zero_is_identity_and_dtype_kept():
    weight = torch.randn(4, 2, 3, 3)
    out = smooth_kernels(weight, 0.0)
    assert out.dtype == torch.float32 and out.shape == weight.shape
    assert torch.equal(out, weight)


def test_channels_are_not_mixed():
    weight = torch.zeros(3, 4, 5, 5)
    weight[1, 2] = torch.randn(5, 5)
    out = smooth_kernels(weight, 1.0)
    mask = torch.zeros_like(out, dtype=torch.bool)
    mask[1, 2] = True
    assert torch.count_nonzero(out[~mask]) == 0
    assert torch.count_nonzero(out[1, 2]) > 0


def test_no_grad_and_input_untouched():
    conv = nn.Conv2d(3, 4, 3)
    before = conv.weight.detach().clone()
    out = smooth_kernels(conv.weight, 0.5)
    assert not out.requires_grad and out.grad_fn is None
    assert torch.equal(conv.weight, before)


def test_bad_arguments():
    with pytest.raises(ValueError, match="rho"):
        smooth_kernels(torch.randn(2, 2, 3, 3), -0.1)
    with pytest.raises(ValueError, match=r"\(out, in, kh, kw\)"):
        smooth_kernels(torch.randn(3, 3), 0.1)
    with pytest.raises(ValueError, match="no nn.Conv2d"):
        first_conv(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))


def small_net() -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return _small_net()


def _small_net() -> nn.Module:
    return nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()),  # nested: first in module order
        nn.Conv2d(4, 4, 3, padding=1),
        nn.Flatten(),
        nn.Linear(4 * 8 * 8, 10),
    )


def test_first_conv_finds_nested_layer():
    net = small_net()
    assert first_conv(net) is net[0][0]


def test_smooth_first_conv_copies_and_changes_only_first_conv():
    net = small_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    smoothed = smooth_first_conv(net, 1.0)
    assert smoothed is not net
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), f"original model changed: {k}"
    after = smoothed.state_dict()
    changed = {k for k in after if not torch.equal(after[k], before[k])}
    assert changed == {"0.0.weight"}
    assert torch.equal(after["0.0.weight"], smooth_kernels(before["0.0.weight"], 1.0))
    x = torch.rand(2, 3, 8, 8)
    assert not torch.equal(smoothed(x), net(x))


def test_smoothness_constant_kernel():
    scores = kernel_smoothness(torch.full((2, 3, 3, 3), 0.7))
    assert scores["adjacent_diff"] == 0.0
    # The zero-padded 3×3 box filter leaks a fixed, small share of energy above half Nyquist;
    # computed independently with numpy.
    power = np.abs(np.fft.fft2(np.ones((3, 3)), s=(16, 16))) ** 2
    f = np.fft.fftfreq(16)
    radius = np.hypot(f[:, None], f[None, :])
    assert scores["high_freq_energy"] == pytest.approx(power[radius > 0.25].sum() / power.sum())
    assert scores["high_freq_energy"] < 0.25


def test_smoothness_values_and_scale_invariance():
    k = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])[None, None]
    # All four adjacent pairs differ by 2, mean |w| = 1.
    assert kernel_smoothness(k)["adjacent_diff"] == pytest.approx(2.0)
    w = torch.randn(32, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    a, b = kernel_smoothness(w), kernel_smoothness(9.0 * w)
    assert a == pytest.approx(b)
    assert a["adjacent_diff"] == pytest.approx(2**0.5, rel=0.1)  # Gaussian: E|a-b| / E|a| = √2
    assert 0.7 < a["high_freq_energy"] < 0.9  # white noise ≈ area share above half Nyquist


@pytest.mark.parametrize("shape", [(16, 3, 3, 3), (6, 1, 5, 5)])
def test_smoothing_lowers_both_scores(shape):
    w = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    raw, smooth = kernel_smoothness(w), kernel_smoothness(smooth_kernels(w, 1.0))
    assert smooth["adjacent_diff"] < 0.7 * raw["adjacent_diff"]
    assert smooth["high_freq_energy"] < 0.8 * raw["high_freq_energy"]
