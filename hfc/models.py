"""Model registry: the architectures the paper trains (LeNet, AlexNet, VGG, ResNet-18) plus a
CPU-sized CNN, all adapted to 28×28 and 32×32 inputs.

Every model built by :func:`build_model` is ``nn.Sequential(normalize=Normalize, net=<body>)``:
inputs are images in [0, 1] and the per-channel normalisation is part of the model, so that
frequency filtering and adversarial attacks work in pixel space. The paper's knobs map onto
``batchnorm`` (BatchNorm with γ=1, β=0 fixed, i.e. ``affine=False``), ``dropout`` (on the fully
connected layers only) and Xavier initialisation (§4 and §5.1 of Wang et al., CVPR 2020).
docs/architectures.md lists how each body differs from its ImageNet original.
"""

from __future__ import annotations

import numbers
from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
from torch import nn

__all__ = ["MODELS", "MaxPool2d", "Normalize", "build_model", "first_conv", "parameter_count", "register"]

Builder = Callable[..., nn.Module]
MODELS: dict[str, Builder] = {}


def register(name: str) -> Callable[[Builder], Builder]:
    """Add a body builder to :data:`MODELS`.

    A builder is called as ``builder(in_channels=, num_classes=, image_size=, batchnorm=,
    dropout=, width=)`` and returns the network body (without :class:`Normalize`).
    """

    def decorate(builder: Builder) -> Builder:
        if name in MODELS:
            raise ValueError(f"model name {name!r} is already registered")
        MODELS[name] = builder
        return builder

    return decorate


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel; mean and std are buffers so checkpoints carry them."""

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]) -> None:
        super().__init__()
        mean_t = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        std_t = torch.as_tensor(std, dtype=torch.float32).reshape(-1)
        if mean_t.numel() == 0 or std_t.numel() == 0:
            raise ValueError("Normalize needs at least one mean and one std value")
        if mean_t.numel() != std_t.numel() and 1 not in (mean_t.numel(), std_t.numel()):
            raise ValueError(
                f"mean has {mean_t.numel()} values but std has {std_t.numel()}; "
                "give one value per channel (or a single value for all channels)"
            )
        if not bool(torch.all(std_t > 0)):
            raise ValueError(f"std must be positive, got {std_t.tolist()}")
        self.register_buffer("mean", mean_t.reshape(1, -1, 1, 1))
        self.register_buffer("std", std_t.reshape(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


class MaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d`` with the same numbers, computed faster on the CPU.

    PyTorch's CPU max-pool over NCHW tensors is slow: it took about half the forward time of
    small_cnn. A max has one exact answer whatever the order of comparisons, so:

    - when no gradient is needed (evaluation, ``torch.no_grad``), the pooled map is the
      elementwise maximum of the k×k strided views of the input (padded with -inf, as
      max-pool pads), several times faster than the pool and value for value the same;
    - when a gradient is needed (training, attacks), the pool runs with indices on a
      channels-last copy (PyTorch's vectorised kernel, which picks the same index: the first
      maximum of a window, or a NaN) and the backward is PyTorch's own NCHW backward with
      those indices, so gradients are the same numbers too.

    Other devices, dilation, ``ceil_mode``, ``return_indices`` and inputs other than 4-d
    floating tensors use ``nn.MaxPool2d`` unchanged. The module has no weights, so saved
    models do not change. tests/test_models.py checks the equality.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        settings = _pool_settings(self)
        if (
            settings is None
            or x.device.type != "cpu"
            or x.dim() != 4
            or not x.is_floating_point()
        ):
            return super().forward(x)
        kernel, stride, padding = settings
        if torch.is_grad_enabled() and x.requires_grad:
            return _ChannelsLastMaxPool.apply(x, kernel, stride, padding)
        return _max_of_windows(x, kernel, stride, padding)


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _pool_settings(pool: nn.MaxPool2d):
    """(kernel, stride, padding) as pairs, or None where the fast paths do not apply."""
    if pool.ceil_mode or pool.return_indices or _pair(pool.dilation) != (1, 1):
        return None
    return _pair(pool.kernel_size), _pair(pool.stride or pool.kernel_size), _pair(pool.padding)


def _max_of_windows(x: torch.Tensor, kernel, stride, padding) -> torch.Tensor:
    """max-pool values as the elementwise maximum of the strided views (NaN propagates)."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    height, width = x.shape[2] + 2 * ph, x.shape[3] + 2 * pw
    out_h, out_w = (height - kh) // sh + 1, (width - kw) // sw + 1
    if out_h < 1 or out_w < 1 or 2 * ph > kh or 2 * pw > kw:
        return nn.functional.max_pool2d(x, kernel, stride, padding)  # its own error message
    if ph or pw:
        x = nn.functional.pad(x, (pw, pw, ph, ph), value=float("-inf"))
    out = None
    for i in range(kh):
        for j in range(kw):
            view = x[:, :, i : i + sh * (out_h - 1) + 1 : sh, j : j + sw * (out_w - 1) + 1 : sw]
            out = _pool_output(view, x) if out is None else torch.maximum(out, view, out=out)
    return out


def _pool_output(view: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A copy of the first window view in the memory format PyTorch's pool gives for ``x``:
    channels-last for channels-last input (Square's fast copy of a model,
    ``hfc.attack_suite._fast``, where an NCHW result made every later maximum read across
    layouts, several times slower), NCHW otherwise."""
    channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    return _fresh_copy(view, torch.channels_last if channels_last else torch.contiguous_format)


def _fresh_copy(x: torch.Tensor, memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
    """``x`` with the strides of a new tensor in ``memory_format``, as PyTorch's pool returns.

    ``contiguous()`` is not enough: a map of 1×1 pixels with channels-last strides counts as
    contiguous, and the next convolution would pick another kernel with other rounding.
    """
    return torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=memory_format).copy_(x)


class _ChannelsLastMaxPool(torch.autograd.Function):
    """PyTorch's max-pool with indices on a channels-last copy; PyTorch's NCHW backward."""

    @staticmethod
    def forward(ctx, x, kernel, stride, padding):
        out, indices = torch.ops.aten.max_pool2d_with_indices(
            x.contiguous(memory_format=torch.channels_last), kernel, stride, padding, (1, 1), False
        )
        indices = _fresh_copy(indices)
        ctx.save_for_backward(x, indices)
        ctx.settings = kernel, stride, padding
        return _fresh_copy(out)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, indices = ctx.saved_tensors
        kernel, stride, padding = ctx.settings
        grad_input = torch.ops.aten.max_pool2d_with_indices_backward(
            grad.contiguous(), x, kernel, stride, padding, (1, 1), False, indices
        )
        return grad_input, None, None, None


def build_model(
    name: str,
    in_channels: int,
    num_classes: int,
    image_size: int,
    mean: float | Sequence[float],
    std: float | Sequence[float],
    batchnorm: bool = False,
    dropout: float = 0.0,
    width: float = 1.0,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """Build architecture ``name`` for ``in_channels``×``image_size``×``image_size`` inputs in [0, 1].

    ``batchnorm=True`` puts a BatchNorm2d with ``affine=False`` after every conv (before the
    ReLU); for resnet18 it swaps torchvision's affine BN for ``affine=False`` BN, and with
    ``batchnorm=False`` resnet18 keeps its affine BN (ResNet has no BN-free form).
    ``dropout=p > 0`` adds ``nn.Dropout(p)`` on the fully connected layers only. ``width`` scales
    the channel counts and hidden FC widths of small_cnn, alexnet and vgg (1.0 = the widths in
    docs/architectures.md); lenet and resnet18 have fixed widths.
    Weights are Xavier-uniform, biases zero: deterministic under ``torch.manual_seed``.
    ``device="meta"`` gives an uninitialised model of shapes only, allocating nothing
    (``hfc.resources`` measures activations with it).
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    in_channels = _positive_int("in_channels", in_channels)
    num_classes = _positive_int("num_classes", num_classes)
    image_size = _positive_int("image_size", image_size)
    if not _is_real(dropout) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
    if not _is_real(width) or not width > 0:
        raise ValueError(f"width must be a positive number, got {width!r}")
    normalize = Normalize(mean, std)
    stat_channels = {normalize.mean.shape[1], normalize.std.shape[1]}
    if not stat_channels <= {1, in_channels}:
        raise ValueError(
            f"mean/std have {normalize.mean.shape[1]}/{normalize.std.shape[1]} values but the "
            f"model has in_channels={in_channels}; give one value per channel"
        )
    # Built on the meta device and initialised once: PyTorch's and torchvision's default inits
    # would be overwritten by Xavier anyway, and they dominate the build time of resnet18.
    with torch.device("meta"):
        body = MODELS[name](
            in_channels=in_channels,
            num_classes=num_classes,
            image_size=image_size,
            batchnorm=bool(batchnorm),
            dropout=float(dropout),
            width=float(width),
        )
    if torch.device(device).type == "meta":  # shapes only, nothing allocated (hfc.resources)
        return nn.Sequential(OrderedDict(normalize=normalize.to("meta"), net=body))
    # Not Module.to_empty: its empty_like on meta tensors runs through torch._refs, whose first
    # call imports sympy (half a second in every process that builds a model, the Snakefile's
    # parse included). New parameters are contiguous, so torch.empty gives the same layout.
    body._apply(lambda t: torch.empty(t.shape, dtype=t.dtype, device=device))
    _init_weights(body)
    return nn.Sequential(OrderedDict(normalize=normalize.to(device), net=body))


def first_conv(model: nn.Module) -> nn.Conv2d:
    """The first ``nn.Conv2d`` in module order: the layer whose kernels see the pixels (§6)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module
    raise ValueError(f"{type(model).__name__} has no nn.Conv2d layer")


# --- shared pieces ----------------------------------------------------------------------------


def _positive_int(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _require_image_size(name: str, image_size: int, minimum: int) -> None:
    if image_size < minimum:
        raise ValueError(
            f"{name} needs image_size >= {minimum} (its pooling would shrink a "
            f"{image_size}×{image_size} input to nothing); resize the images or pick another model"
        )


def _require_unit_width(name: str, width: float) -> None:
    if width != 1.0:
        raise ValueError(f"{name} has fixed layer widths; width must be 1.0, got {width}")


def _scaled(channels: int, width: float) -> int:
    return max(1, round(channels * width))


def _conv_block(
    in_ch: int, out_ch: int, kernel: int, padding: int, batchnorm: bool
) -> list[nn.Module]:
    # The conv bias is redundant before a BN that subtracts the batch mean.
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, kernel, padding=padding, bias=not batchnorm)
    ]
    if batchnorm:
        layers.append(nn.BatchNorm2d(out_ch, affine=False))  # paper: γ=1, β=0 fixed
    layers.append(nn.ReLU(inplace=True))
    return layers


def _fc_head(
    in_features: int, hidden: Sequence[int], num_classes: int, dropout: float
) -> nn.Sequential:
    """Flatten → (Linear → ReLU → Dropout)* → Linear; Dropout only when ``dropout > 0``."""
    layers: list[nn.Module] = [nn.Flatten()]
    for features in hidden:
        layers += [nn.Linear(in_features, features), nn.ReLU(inplace=True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        in_features = features
    layers.append(nn.Linear(in_features, num_classes))
    return nn.Sequential(*layers)


def _pooled(size: int, kernel: int, stride: int, padding: int = 0) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def _init_weights(model: nn.Module) -> None:
    """Paper §4: Xavier-uniform weights and zero biases; BN gets its defaults (γ=1, β=0, fresh
    running statistics). Every tensor is written here because the model was built on "meta"."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif [*module.parameters(recurse=False), *module.buffers(recurse=False)]:
            if not hasattr(module, "reset_parameters"):
                raise TypeError(
                    f"cannot initialise {type(module).__name__}: layers with weights must be "
                    "Conv2d, Linear or define reset_parameters()"
                )
            module.reset_parameters()


# --- architectures ----------------------------------------------------------------------------


@register("small_cnn")
def small_cnn(
    in_channels: int,
    num_classes: int,
    image_size: int,
    batchnorm: bool,
    dropout: float,
    width: float,
) -> nn.Module:
    """conv 32@5×5 → pool → conv 64@3×3 → pool → fc 128 → fc classes: CPU-sized.

    The 5×5 first kernel makes kernel smoothness visible (the paper's appendix, §6.2).
    """
    _require_image_size("small_cnn", image_size, 4)
    c1, c2, hidden = _scaled(32, width), _scaled(64, width), _scaled(128, width)
    side = image_size // 2 // 2
    return nn.Sequential(
        *_conv_block(in_channels, c1, 5, 2, batchnorm),
        MaxPool2d(2),
        *_conv_block(c1, c2, 3, 1, batchnorm),
        MaxPool2d(2),
        _fc_head(c2 * side * side, [hidden], num_classes, dropout),
    )


@register("lenet")
def lenet(
    in_channels: int,
    num_classes: int,
    image_size: int,
    batchnorm: bool,
    dropout: float,
    width: float,
) -> nn.Module:
    """LeNet-5: conv 6@5×5 → pool → conv 16@5×5 → pool → fc 120 → fc 84 → fc classes.

    Inputs smaller than LeNet's native 32×32 are zero-padded by the first conv (padding 2 for
    28×28), so the conv stack sees the geometry it was designed for.
    """
    _require_image_size("lenet", image_size, 28)
    _require_unit_width("lenet", width)
    padding = max(0, (32 - image_size) // 2)
    side = _pooled(image_size + 2 * padding - 4, 2, 2)
    side = _pooled(side - 4, 2, 2)
    return nn.Sequential(
        *_conv_block(in_channels, 6, 5, padding, batchnorm),
        MaxPool2d(2),
        *_conv_block(6, 16, 5, 0, batchnorm),
        MaxPool2d(2),
        _fc_head(16 * side * side, [120, 84], num_classes, dropout),
    )


# torchvision's AlexNet feature widths (conv1..conv5).
_ALEXNET_CHANNELS = (64, 192, 384, 256, 256)


@register("alexnet")
def alexnet(
    in_channels: int,
    num_classes: int,
    image_size: int,
    batchnorm: bool,
    dropout: float,
    width: float,
) -> nn.Module:
    """torchvision's AlexNet features for small images: 5×5 stride-1 first conv instead of 11×11
    stride 4, 3×3 stride-2 overlapping max-pools padded by 1 (28 and 32 both end at 4×4), and a
    1024-wide classifier instead of 4096."""
    c = [_scaled(ch, width) for ch in _ALEXNET_CHANNELS]
    hidden = _scaled(1024, width)
    features = nn.Sequential(
        *_conv_block(in_channels, c[0], 5, 2, batchnorm),
        MaxPool2d(3, stride=2, padding=1),
        *_conv_block(c[0], c[1], 5, 2, batchnorm),
        MaxPool2d(3, stride=2, padding=1),
        *_conv_block(c[1], c[2], 3, 1, batchnorm),
        *_conv_block(c[2], c[3], 3, 1, batchnorm),
        *_conv_block(c[3], c[4], 3, 1, batchnorm),
        MaxPool2d(3, stride=2, padding=1),
    )
    # Fixed 4×4 so the classifier size does not grow with larger images (identity at 28 and 32).
    return nn.Sequential(
        features,
        nn.AdaptiveAvgPool2d(4),
        _fc_head(c[4] * 16, [hidden, hidden], num_classes, dropout),
    )


@register("vgg")
def vgg(
    in_channels: int,
    num_classes: int,
    image_size: int,
    batchnorm: bool,
    dropout: float,
    width: float,
) -> nn.Module:
    """VGG-11 (torchvision's configuration "A") for small images: a max-pool is skipped once
    the map is 1×1 (the fifth one at 28×28), global average pooling, and a 512-wide classifier."""
    layers: list[nn.Module] = []
    channels, side = in_channels, image_size
    from torchvision.models.vgg import cfgs  # lazily: torchvision costs seconds at job start

    for item in cfgs["A"]:
        if item == "M":
            if side >= 2:
                layers.append(MaxPool2d(2))
                side //= 2
        else:
            out = _scaled(int(item), width)
            layers += _conv_block(channels, out, 3, 1, batchnorm)
            channels = out
    hidden = _scaled(512, width)
    return nn.Sequential(
        nn.Sequential(*layers),
        nn.AdaptiveAvgPool2d(1),
        _fc_head(channels, [hidden, hidden], num_classes, dropout),
    )


@register("resnet18")
def resnet18(
    in_channels: int,
    num_classes: int,
    image_size: int,
    batchnorm: bool,
    dropout: float,
    width: float,
) -> nn.Module:
    """torchvision's ResNet-18 with the CIFAR stem: 3×3 stride-1 first conv, no max-pool.

    ``batchnorm=True`` replaces every BN by ``affine=False`` BN (the paper's γ=1, β=0);
    ``batchnorm=False`` keeps torchvision's affine BN, since a BN-free ResNet is a different
    architecture. ``dropout > 0`` puts Dropout before the single fc layer. ``width`` scales
    the stage widths 64/128/256/512 (1.0 = the paper's network; 0.25 trains on a CPU),
    rebuilding the stages with torchvision's own ``_make_layer``.
    """
    import torchvision  # lazily, as in vgg

    model = torchvision.models.resnet18(num_classes=num_classes)
    base = _scaled(64, width)
    model.conv1 = nn.Conv2d(in_channels, base, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    if width != 1.0:
        model.bn1 = nn.BatchNorm2d(base)
        model.inplanes = base
        block = torchvision.models.resnet.BasicBlock
        model.layer1 = model._make_layer(block, base, 2)
        model.layer2 = model._make_layer(block, 2 * base, 2, stride=2)
        model.layer3 = model._make_layer(block, 4 * base, 2, stride=2)
        model.layer4 = model._make_layer(block, 8 * base, 2, stride=2)
        model.fc = nn.Linear(8 * base, num_classes)
    if batchnorm:
        _make_bn_non_affine(model)
    if dropout > 0:
        model.fc = nn.Sequential(nn.Dropout(dropout), model.fc)
    return model


def _make_bn_non_affine(model: nn.Module) -> None:
    for parent in list(model.modules()):
        for child_name, child in parent.named_children():
            if isinstance(child, nn.BatchNorm2d):
                plain = nn.BatchNorm2d(
                    child.num_features, eps=child.eps, momentum=child.momentum, affine=False
                )
                setattr(parent, child_name, plain)


def parameter_count(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
