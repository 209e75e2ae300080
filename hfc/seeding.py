"""The one place where random seeds are set."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, numpy and torch (CPU and CUDA) and return a CPU generator for data order.

    Data order and augmentation draws go through the returned generator so that they can be
    checkpointed and resumed exactly; dropout draws from torch's global generator, which the
    checkpoint saves as well.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} was asked for but CUDA is not available; set device: auto or cpu")
    return torch.device(name)


def use_threads(configured: int, granted: int) -> str:
    """Compute with the config's ``threads`` whatever the scheduler granted; return a log line.

    torch's CPU reductions (convolutions, matmuls) split work by thread, so the numbers change
    with the thread count. Snakemake lowers a job's threads to ``--cores``; computing with that
    would make the results depend on ``--cores``. So a job always computes with ``threads`` from
    the config (it is part of each run's fingerprint too) and only runs slower when fewer cores
    were granted.
    """
    configured = int(configured)
    torch.set_num_threads(configured)
    line = f"computing with {configured} CPU thread(s) (config threads)"
    if granted < configured:
        line += (
            f"; Snakemake granted {granted} core(s) (--cores), so threads share cores and run slower, "
            "but the numbers stay those of the config's thread count"
        )
    return line
