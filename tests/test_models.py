"""hfc.models: registry, shapes, the paper's BN/dropout/Xavier settings, CIFAR stems."""

import functools
import math

import pytest
import torch
from torch import nn

from hfc.models import MODELS, MaxPool2d, Normalize, build_model, first_conv, parameter_count, register

NAMES = ["small_cnn", "lenet", "alexnet", "vgg", "resnet18"]
INPUTS = [(1, 28), (3, 32)]  # (channels, image size): Fashion-MNIST/MNIST and CIFAR-10


def make(name, channels=1, size=28, seed=0, **kwargs):
    torch.manual_seed(seed)
    kwargs.setdefault("mean", [0.5] * channels)
    kwargs.setdefault("std", [0.25] * channels)
    return build_model(name, channels, 10, size, **kwargs)


def shared(name, channels=1, size=28, batchnorm=False, dropout=0.0):
    """A seed-0 model reused by tests that only inspect it (building resnet18 takes ~0.2 s)."""
    return _shared(name, channels, size, batchnorm, dropout)


@functools.lru_cache(maxsize=None)
def _shared(name, channels, size, batchnorm, dropout):
    return make(name, channels, size, batchnorm=batchnorm, dropout=dropout)


def leaves(model):
    return [m for m in model.modules() if not list(m.children())]


def test_registry_holds_exactly_the_paper_architectures():
    assert set(MODELS) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("channels,size", INPUTS)
@pytest.mark.parametrize("batchnorm,dropout", [(False, 0.0), (True, 0.5)])
def test_logits_shape(name, channels, size, batchnorm, dropout):
    model = shared(name, channels, size, batchnorm, dropout)
    with torch.no_grad():
        out = model.train()(torch.rand(2, channels, size, size))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_larger_images_are_supported(name):
    with torch.no_grad():
        assert make(name, 3, 48).eval()(torch.rand(1, 3, 48, 48)).shape == (1, 10)


@pytest.mark.parametrize("name", NAMES)
def test_batchnorm_true_means_non_affine_bn_before_each_relu(name):
    model = shared(name, batchnorm=True, dropout=0.5)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(bns) == len(convs)
    for bn in bns:
        assert bn.affine is False
        assert bn.weight is None and bn.bias is None
        assert list(bn.parameters()) == []
    if name != "resnet18":
        seq = leaves(model)
        for i, layer in enumerate(seq):
            if isinstance(layer, nn.Conv2d):
                assert isinstance(seq[i + 1], nn.BatchNorm2d)
                assert isinstance(seq[i + 2], nn.ReLU)
                assert layer.bias is None  # a bias before mean-subtracting BN is dead weight


@pytest.mark.parametrize("name", NAMES)
def test_batchnorm_false(name):
    model = shared(name)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if name == "resnet18":  # keeps torchvision's affine BN: no BN-free ResNet
        assert bns and all(bn.affine for bn in bns)
    else:
        assert bns == []


@pytest.mark.parametrize(
    "name,batchnorm", [("small_cnn", True), ("resnet18", True), ("resnet18", False)]
)
def test_fresh_bn_state(name, batchnorm):
    bns = [m for m in make(name, batchnorm=batchnorm).modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns
    for bn in bns:
        assert torch.count_nonzero(bn.running_mean) == 0
        assert torch.equal(bn.running_var, torch.ones_like(bn.running_var))
        assert bn.num_batches_tracked == 0
        if bn.affine:  # torchvision's BN in resnet18 with batchnorm=False: γ=1, β=0 to start
            assert torch.equal(bn.weight, torch.ones_like(bn.weight))
            assert torch.count_nonzero(bn.bias) == 0


@pytest.mark.parametrize("name", NAMES)
def test_dropout_only_on_fully_connected_layers(name):
    assert not any(isinstance(m, nn.Dropout) for m in shared(name).modules())
    seq = leaves(shared(name, batchnorm=True, dropout=0.5))
    drops = [i for i, m in enumerate(seq) if isinstance(m, nn.Dropout)]
    assert drops, "dropout>0 must add Dropout modules"
    assert all(seq[i].p == 0.5 for i in drops)
    assert not any(isinstance(m, nn.Conv2d) for m in seq[drops[0] :])
    assert all(any(isinstance(m, nn.Linear) for m in seq[i + 1 :]) for i in drops)


@pytest.mark.parametrize("name", NAMES)
def test_dropout_active_only_in_train_mode(name):
    model = shared(name, batchnorm=True, dropout=0.5)  # train-mode BN is deterministic
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        model.train()
        assert not torch.equal(model(x), model(x))
        model.eval()
        assert torch.equal(model(x), model(x))


@pytest.mark.parametrize("name", ["small_cnn", "lenet", "alexnet", "vgg"])
def test_without_dropout_train_mode_is_deterministic(name):
    model = shared(name).train()
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def _xavier_bound(weight):
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(weight)
    return math.sqrt(6.0 / (fan_in + fan_out))


@pytest.mark.parametrize("name", NAMES)
def test_xavier_uniform_init_and_zero_biases(name):
    model = shared(name, 3, 32)
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    for layer in layers:
        bound = _xavier_bound(layer.weight)
        w = layer.weight.detach().abs()
        assert w.max() <= bound + 1e-7, layer
        if (
            w.numel() >= 500
        ):  # a uniform fill reaches near the bound (PyTorch's default stays far below)
            assert w.max() >= 0.9 * bound, layer
            assert w.mean() == pytest.approx(bound / 2, rel=0.15), layer
        if layer.bias is not None:
            assert torch.count_nonzero(layer.bias) == 0, layer


def test_first_conv_weight_within_xavier_bound():
    conv = first_conv(make("small_cnn"))
    fan_in, fan_out = 1 * 5 * 5, 32 * 5 * 5
    bound = math.sqrt(6 / (fan_in + fan_out))
    assert conv.weight.abs().max() <= bound
    assert conv.weight.abs().max() > 0.9 * bound
    assert torch.count_nonzero(conv.bias) == 0


@pytest.mark.parametrize("name", ["small_cnn", "lenet"])
def test_normalize_is_applied_inside_the_model(name):
    mean, std = [0.3, 0.4, 0.5], [0.2, 0.25, 0.3]
    normalized = make(name, 3, 32, mean=mean, std=std).eval()
    plain = make(name, 3, 32, mean=[0.0] * 3, std=[1.0] * 3).eval()
    x = torch.rand(2, 3, 32, 32)
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(normalized(x), plain((x - m) / s))
        assert not torch.allclose(normalized(x), plain(x))


@pytest.mark.parametrize("name", NAMES)
def test_every_model_normalizes_first(name):
    model = shared(name)
    assert list(dict(model.named_children())) == ["normalize", "net"]
    assert isinstance(model.normalize, Normalize)
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(model.normalize(x), (x - 0.5) / 0.25)


def test_normalize_buffers_travel_in_the_state_dict():
    model = make("lenet", mean=[0.286], std=[0.353])
    assert isinstance(model[0], Normalize)
    state = model.state_dict()
    assert state["normalize.mean"].flatten().tolist() == pytest.approx([0.286])
    assert state["normalize.std"].flatten().tolist() == pytest.approx([0.353])
    assert all(p is not model[0].mean for p in model.parameters())


def test_normalize_rejects_bad_statistics():
    with pytest.raises(ValueError, match="positive"):
        Normalize([0.5], [0.0])
    with pytest.raises(ValueError, match="per channel"):
        Normalize([0.1, 0.2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="in_channels=3"):
        build_model("lenet", 3, 10, 32, mean=[0.5, 0.5], std=[0.2, 0.2])


def test_resnet18_has_cifar_stem():
    model = shared("resnet18", 3, 32)
    conv = first_conv(model)
    assert conv is model.net.conv1
    assert conv.kernel_size == (3, 3) and conv.stride == (1, 1) and conv.padding == (1, 1)
    assert conv.in_channels == 3 and conv.out_channels == 64 and conv.bias is None
    assert isinstance(model.net.maxpool, nn.Identity)
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())
    assert first_conv(shared("resnet18", 1, 28)).in_channels == 1


def test_first_layers_have_the_documented_geometry():
    small = first_conv(make("small_cnn"))
    assert small.kernel_size == (5, 5) and small.out_channels == 32
    alex = first_conv(shared("alexnet", 3, 32))
    assert alex.kernel_size == (5, 5) and alex.stride == (1, 1)
    assert first_conv(make("lenet", 1, 28)).padding == (2, 2)
    assert first_conv(make("lenet", 3, 32)).padding == (0, 0)


@pytest.mark.parametrize("channels,size", INPUTS)
def test_lenet5_layout(channels, size):
    model = make("lenet", channels, size)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(6, (5, 5)), (16, (5, 5))]
    assert [(fc.in_features, fc.out_features) for fc in linears] == [
        (400, 120),
        (120, 84),
        (84, 10),
    ]


@pytest.mark.parametrize("size,pools", [(28, 4), (32, 5)])
def test_vgg11_keeps_pools_while_the_map_is_larger_than_1x1(size, pools):
    model = shared("vgg", *{28: (1, 28), 32: (3, 32)}[size])
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == 8
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == pools


@pytest.mark.parametrize("name", ["small_cnn", "alexnet", "vgg", "resnet18"])
def test_width_scales_channels(name):
    full, quarter = shared(name), make(name, width=0.25)
    assert first_conv(quarter).out_channels == first_conv(full).out_channels // 4
    assert parameter_count(quarter) < parameter_count(full) / 8
    assert quarter(torch.rand(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("name", ["lenet"])
def test_fixed_width_models_reject_width(name):
    with pytest.raises(ValueError, match="width"):
        make(name, width=0.5)


def test_unknown_name_lists_known_models():
    with pytest.raises(ValueError) as err:
        make("resnet50")
    for name in NAMES:
        assert name in str(err.value)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"width": 0}, "width"),
    ],
)
def test_bad_options_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make("small_cnn", **kwargs)


def test_too_small_image_raises():
    with pytest.raises(ValueError, match="image_size >= 28"):
        make("lenet", 1, 16)
    with pytest.raises(ValueError, match="image_size"):
        build_model("small_cnn", 1, 10, 0, [0.5], [0.25])


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_weights(name):
    a, b = dict(make(name, seed=0).named_parameters()), dict(shared(name).named_parameters())
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_different_seed_different_weights():
    a, b = make("small_cnn", seed=3).state_dict(), make("small_cnn", seed=4).state_dict()
    assert not torch.equal(a["net.0.weight"], b["net.0.weight"])


def test_register_adds_an_architecture():
    @register("tiny_test_net")
    def tiny(in_channels, num_classes, image_size, batchnorm, dropout, width):
        return nn.Sequential(
            nn.Conv2d(in_channels, 4, 3),
            nn.Flatten(),
            nn.Linear(4 * (image_size - 2) ** 2, num_classes),
        )

    try:
        model = make("tiny_test_net")
        assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)
        with pytest.raises(ValueError, match="already registered"):
            register("tiny_test_net")(tiny)
    finally:
        MODELS.pop("tiny_test_net", None)


def test_first_conv_without_conv_raises():
    with pytest.raises(ValueError, match="Conv2d"):
        first_conv(nn.Sequential(nn.Linear(2, 2)))


def test_gradients_reach_the_first_conv():
    model = make("small_cnn", batchnorm=True, dropout=0.5)
    loss = nn.functional.cross_entropy(model(torch.rand(4, 1, 28, 28)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert first_conv(model).weight.grad.abs().sum() > 0


def test_registered_layer_without_an_initialiser_is_refused():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.gain = nn.Parameter(torch.ones(1))

    @register("uninitialisable_test_net")
    def net(in_channels, num_classes, image_size, batchnorm, dropout, width):
        return nn.Sequential(Scale(), nn.Flatten(), nn.Linear(in_channels * image_size**2, 10))

    try:
        with pytest.raises(TypeError, match="Scale"):
            make("uninitialisable_test_net")
    finally:
        MODELS.pop("uninitialisable_test_net", None)


def test_numpy_integers_are_accepted():
    np = pytest.importorskip("numpy")
    model = build_model("lenet", np.int64(1), np.int64(10), np.int64(28), [0.5], [0.25])
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)


# --- MaxPool2d: nn.MaxPool2d's numbers, faster on the CPU ----------------------------------------


@pytest.mark.parametrize("kernel, stride, padding", [(2, None, 0), (3, 2, 1), (2, 1, 0), (3, 3, 1), ((2, 3), (1, 2), (1, 0))])
@pytest.mark.parametrize("size", [(7, 7), (6, 9), (3, 3)])
def test_maxpool_values_strides_and_gradients_equal_torch(kernel, stride, padding, size):
    """Evaluation, training and input gradients are PyTorch's, bit for bit, ties included."""
    torch.manual_seed(0)
    x = torch.randn(5, 4, *size).round(decimals=1).relu()  # many ties, zeros above all
    x[0, 0, 0, 0] = float("nan")
    ours, theirs = MaxPool2d(kernel, stride, padding), nn.MaxPool2d(kernel, stride, padding)

    with torch.no_grad():
        got, want = ours(x), theirs(x)
    assert got.stride() == want.stride()
    assert torch.equal(got.nan_to_num(9.0), want.nan_to_num(9.0))

    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ya, yb = ours(xa), theirs(xb)
    grad = torch.randn_like(yb)
    ya.backward(grad)
    yb.backward(grad)
    assert ya.stride() == yb.stride() and torch.equal(ya.nan_to_num(9.0), yb.nan_to_num(9.0))
    assert xa.grad.stride() == xb.grad.stride() and torch.equal(xa.grad, xb.grad)


@pytest.mark.parametrize("kernel, stride, padding", [(2, None, 0), (3, 2, 1), (2, 1, 0), ((2, 3), (1, 2), (1, 0))])
@pytest.mark.parametrize("shape", [(5, 4, 7, 7), (5, 1, 6, 9), (3, 8, 2, 3), (2, 16, 28, 28)])
def test_maxpool_on_channels_last_input_gives_torchs_values_and_layout(kernel, stride, padding, shape):
    """Square's fast copy of a model runs channels-last without gradients: the pool returns a
    channels-last map there, as PyTorch's does (an NCHW one made each later maximum read across
    layouts, several times slower)."""
    torch.manual_seed(0)
    x = torch.randn(*shape).round(decimals=1).relu().contiguous(memory_format=torch.channels_last)
    x[0, 0, 0, 0] = float("nan")
    with torch.no_grad():
        got, want = MaxPool2d(kernel, stride, padding)(x), nn.MaxPool2d(kernel, stride, padding)(x)
    assert got.stride() == want.stride()
    assert torch.equal(got.nan_to_num(9.0), want.nan_to_num(9.0))


def test_maxpool_output_of_one_pixel_has_contiguous_strides():
    """A 1×1 map with channels-last strides counts as contiguous but sends the next conv down
    another kernel with other rounding (VGG at 28×28 pools 3×3 to 1×1)."""
    x = torch.rand(3, 8, 3, 3, requires_grad=True)
    assert MaxPool2d(2)(x).stride() == nn.MaxPool2d(2)(x).stride() == (8, 1, 1, 1)


@pytest.mark.parametrize("name", ["small_cnn", "lenet", "alexnet", "vgg"])
def test_models_with_fast_pools_train_to_the_same_numbers(name):
    """A few optimiser steps and an evaluation give the numbers nn.MaxPool2d gives."""

    def run(pool_class):
        model = make(name, dropout=0.5)
        for parent in list(model.modules()):
            for child_name, child in parent.named_children():
                if isinstance(child, nn.MaxPool2d):
                    setattr(parent, child_name, pool_class(child.kernel_size, child.stride, child.padding))
        torch.manual_seed(1)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        x, y = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
        for _ in range(3):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
        with torch.no_grad():
            return model.eval()(x), [p.detach().clone() for p in model.parameters()]

    (logits_a, weights_a), (logits_b, weights_b) = run(MaxPool2d), run(nn.MaxPool2d)
    assert torch.equal(logits_a, logits_b)
    assert all(torch.equal(a, b) for a, b in zip(weights_a, weights_b))


def test_building_a_model_imports_neither_sympy_nor_dynamo(repo_root):
    # The Snakefile's parse and every attack or analysis job build models: sympy (pulled in by
    # Module.to_empty on meta tensors) cost each of them half a second. torchvision's models
    # (vgg, resnet18) import torch._dynamo themselves, so the check builds the own ones.
    import subprocess
    import sys

    code = (
        "import sys\nfrom hfc.models import build_model\n"
        "for name in ('small_cnn', 'lenet', 'alexnet'):\n"
        "    build_model(name, 3, 10, 32, [0.5] * 3, [0.25] * 3, batchnorm=True, dropout=0.5, width=0.5 if name != 'lenet' else 1.0)\n"
        "print(sorted(m for m in ('sympy', 'torch._dynamo') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
