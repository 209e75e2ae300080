"""Memory a job needs, derived from the config, for the rules' ``mem_mb``.

A SLURM node that enforces memory kills a job that passes its request, so a fixed request is
either too small at the paper's scale or wasteful at the CPU default's. Each estimate adds
what the job holds at its peak: the Python/torch process itself, the dataset tensors it
loads (uint8 subset, float32 copies, LFC/HFC components, the transient copies made while
loading and rescaling), the model with its optimizer state and gradients, and the
activations of one batch. Activations per image are measured by running the real model on
one zero image with forward hooks, so any architecture and width is covered. Estimates are
multiplied by :data:`MARGIN` and rounded up to 100 MB; tests check them against the peak
RSS that Snakemake's benchmark files record.
"""

from __future__ import annotations

import math
from functools import lru_cache

__all__ = ["MARGIN", "PROCESS_MB", "activation_bytes_per_image", "macs_per_image", "parameter_bytes", "mem_mb"]

# Peak RSS of a Python process that imported torch, torchvision and pandas (measured: ~710 MB
# with the CUDA build of torch on a CPU machine).
PROCESS_MB = 800
MARGIN = 1.3
_F32 = 4
_MB = 1 << 20
# Models with at most this many bytes of parameters are measured on the CPU (see _measure).
_REAL_RUN_BYTES = 256 * _MB


@lru_cache(maxsize=None)
def _measure(model: str, kwargs_items: tuple) -> tuple[int, int, int]:
    import torch
    import torch.nn as nn

    from hfc.models import build_model

    kwargs = dict(kwargs_items)
    # On the meta device nothing is allocated: shapes only, so a huge width costs nothing here
    # (its job then fails with the allocator's own error, or is refused by SLURM).
    net = build_model(model, **kwargs, device="meta")
    params = sum(p.numel() * p.element_size() for p in net.parameters())
    device = "meta"
    if params <= _REAL_RUN_BYTES:
        # Arithmetic on the meta device makes torch import torch._dynamo (seconds, at every
        # parse of the Snakefile); a model of ordinary size runs one real image on the CPU
        # instead, with the same output shapes. fork_rng: building draws initial weights.
        device = "cpu"
        with torch.random.fork_rng(devices=[]):
            net = build_model(model, **kwargs, device="cpu")
    total = macs = 0

    def counted(module, forward):
        def wrapper(*args, **kwargs):
            nonlocal total, macs
            output = forward(*args, **kwargs)
            if isinstance(output, torch.Tensor):
                total += output.numel() * output.element_size()
                if isinstance(module, nn.Conv2d):
                    macs += output.numel() * module.weight[0].numel()
                elif isinstance(module, nn.Linear):
                    macs += output.numel() * module.in_features
            return output

        return wrapper

    # Each leaf's forward is wrapped on the instance rather than given a forward hook, which
    # would make torch import torch._dynamo too.
    for module in net.modules():
        if not list(module.children()):
            module.forward = counted(module, module.forward)
    size = kwargs["image_size"]
    with torch.no_grad():
        net.eval()(torch.zeros(1, kwargs["in_channels"], size, size, device=device))
    return total, params, macs


def _key(model: str, build_kwargs: dict) -> tuple:
    return model, tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in build_kwargs.items()))


def activation_bytes_per_image(model: str, build_kwargs: dict) -> int:
    """Bytes of every leaf module's output for one image (what backward keeps per image)."""
    return _measure(*_key(model, build_kwargs))[0]


def parameter_bytes(model: str, build_kwargs: dict) -> int:
    return _measure(*_key(model, build_kwargs))[1]


def macs_per_image(model: str, build_kwargs: dict) -> int:
    """Multiply-accumulates of one image's forward pass through the convolutions and linear layers."""
    return _measure(*_key(model, build_kwargs))[2]


def _round(mb: float) -> int:
    return int(math.ceil(mb * MARGIN / 100.0) * 100)


def mem_mb(
    job: str,
    *,
    shape: tuple[int, int, int],
    n_train: int,
    n_test: int,
    radii: int = 0,
    eval_train: int | None = None,
    eval_test: int | None = None,
    batch_size: int = 1,
    model: str | None = None,
    build_kwargs: dict | None = None,
    attack_copies: int = 1,
) -> int:
    """``mem_mb`` of one job kind at this config's scale.

    ``job``: ``prepare`` / ``subset`` (the whole dataset as uint8 and float), ``split`` (one
    split's LFC/HFC at one radius), ``train``, ``attack`` (a model under attack, ``batch_size``
    images with input gradients; ``attack_copies`` adversarial batches alive at once),
    ``analysis`` (a model evaluated on the test LFC/HFC at ``radii`` radii: Figure 2, SVD,
    response curves). ``n_train`` / ``n_test`` are the images the job loads.
    """
    pixels = shape[0] * shape[1] * shape[2]
    image_f32 = pixels * _F32
    every = n_train + n_test
    if job in ("prepare", "subset"):
        data = every * pixels * (1 + _F32)  # uint8 tensors and a float copy for statistics
        return _round(PROCESS_MB + 2 * data / _MB)
    if job == "split":
        # float images, low, high, and the FFT's complex spectrum and scratch of one split
        return _round(PROCESS_MB + 6 * n_train * image_f32 / _MB)
    model_kwargs = build_kwargs or {}
    activation = activation_bytes_per_image(model, model_kwargs) if model else 0
    params = parameter_bytes(model, model_kwargs) if model else 0
    subset_uint8 = every * pixels
    if job == "train":
        eval_train = n_train if eval_train is None else min(eval_train, n_train)
        eval_test = n_test if eval_test is None else min(eval_test, n_test)
        held = n_train * image_f32 + (eval_train + eval_test) * image_f32 * (1 + 2 * radii)
        # one frequency file (low + high of the training split) and its rescaled copies
        loading = 4 * n_train * image_f32
        # weights, gradients, Adam's two moments; what backward keeps of one batch (measured:
        # 0.9x the leaf outputs for ResNet-18), with room for the gradients flowing back
        model_mb = 4 * params + 1.5 * batch_size * activation
        return _round(PROCESS_MB + (subset_uint8 + held + loading + model_mb) / _MB)
    if job == "attack":
        held = n_test * image_f32 * 2
        # an input-gradient pass keeps 0.87-0.92x the leaf outputs (ResNet-18, 100-200 images)
        model_mb = 2 * params + (1 + 0.25 * attack_copies) * batch_size * activation
        return _round(PROCESS_MB + (subset_uint8 + held + model_mb) / _MB)
    if job == "analysis":
        held = n_test * image_f32 * (1 + 2 * max(radii, 1)) + 4 * n_test * image_f32
        model_mb = params + 0.5 * batch_size * activation  # no_grad: layers' outputs are freed
        return _round(PROCESS_MB + (subset_uint8 + held + model_mb) / _MB)
    raise ValueError(f"unknown job kind {job!r}")


# ----------------------------------------------------------------------------- this machine

# ``threads`` this many times the cores is taken for a mistake where jobs run here.
FAR_ABOVE = 4


def machine_problems(
    threads: int, device: str, cores: int, cuda_devices: int, here: bool
) -> tuple[list[str], list[str]]:
    """(errors, warnings) for ``threads`` and ``device`` the machine cannot give, before any job.

    ``cores``: CPU cores this process may use; ``cuda_devices``: CUDA devices it sees.
    ``here``: jobs will run on this machine (not a dry run, not a cluster's nodes); otherwise
    every problem is only a warning, since the nodes may have what this machine lacks.
    """
    errors, warnings = [], []
    if device.startswith("cuda"):
        index = int(device.split(":")[1]) if ":" in device else 0
        if cuda_devices == 0:
            problem = (
                f"device: {device!r}, but CUDA is not available here (torch.cuda.is_available() "
                "is False); use device: auto (CUDA when there is one) or cpu"
            )
        elif index >= cuda_devices:
            problem = (
                f"device: {device!r}, but this machine has {cuda_devices} CUDA device(s) "
                f"(cuda:0 to cuda:{cuda_devices - 1}); use one of them, or auto"
            )
        else:
            problem = ""
        if problem:
            (errors if here else warnings).append(
                problem if here else f"{problem} (fine if the jobs run on GPU nodes)"
            )
    if threads > cores:
        line = (
            f"threads: {threads}, but this machine has {cores} CPU core(s): each job would "
            f"compute with {threads} threads sharing {cores} cores, slower, with the numbers of a "
            f"{threads}-thread machine (torch's CPU numbers depend on the thread count)"
        )
        if here and threads > FAR_ABOVE * cores:
            errors.append(
                f"{line}; use threads: {cores} (or fewer), or run this config where {threads} "
                "cores are available (e.g. on a cluster)"
            )
        else:
            warnings.append(
                f"{line}; lower threads to {cores} unless you want numbers comparable with a "
                f"{threads}-thread machine" + ("" if here else " (fine if the jobs run on nodes with more cores)")
            )
    return errors, warnings
