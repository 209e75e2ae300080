"""Readers of the raw files torchvision downloads: MNIST/Fashion-MNIST IDX and CIFAR-10 batches.

Every file is checked (gzip stream, IDX magic number and byte count, what a CIFAR-10
pickle may import) before torchvision's own class reads it from a scratch folder in its
layout, so a damaged file raises ``Unusable`` naming the file and the problem.
"""

from __future__ import annotations

import gzip
import math
import pickle
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hfc.data.catalog import CIFAR_META, CIFAR_TEST, CIFAR_TRAIN, IDX_FILES, NATIVE_SHAPES, TORCHVISION, Unusable


def load_idx(name: str, directory: Path, scratch: Path) -> dict:
    import torchvision  # lazily: see _cifar10_unverified
    found, missing = {}, []
    for role, (base, _, _) in IDX_FILES.items():
        for candidate in (directory / base, directory / f"{base}.gz"):
            if candidate.is_file():
                found[role] = candidate
                break
        else:
            missing.append(f"{base}[.gz]")
    if missing:
        raise Unusable(f"missing {', '.join(missing)}")

    cls_name, folder = TORCHVISION[name]
    raw = scratch / folder
    raw.mkdir(parents=True)
    dims = {}
    for role, path in found.items():
        base, magic, ndim = IDX_FILES[role]
        if path.suffix == ".gz":
            data = _gunzip(path)
            dims[role] = _check_idx(path, data[:4 + 4 * ndim], len(data), magic, ndim)
            (raw / base).write_bytes(data)
            del data
        else:
            with open(path, "rb") as f:
                header = f.read(4 + 4 * ndim)
            dims[role] = _check_idx(path, header, path.stat().st_size, magic, ndim)
            (raw / base).symlink_to(path.resolve())

    expected = NATIVE_SHAPES[name][1:]
    for split in ("train", "test"):
        n_images, *hw = dims[f"{split}_images"]
        (n_labels,) = dims[f"{split}_labels"]
        if tuple(hw) != expected:
            raise Unusable(f"corrupt: {found[f'{split}_images']} holds {hw[0]}×{hw[1]} images, "
                            f"{name} images are {expected[0]}×{expected[1]}")
        if n_images != n_labels:
            raise Unusable(f"corrupt: {found[f'{split}_images']} holds {n_images} images but "
                            f"{found[f'{split}_labels']} holds {n_labels} labels")

    out = {}
    for split, ds in _torchvision_splits(getattr(torchvision.datasets, cls_name), scratch).items():
        out[f"{split}_images"] = ds.data.to(torch.uint8).unsqueeze(1).contiguous()
        out[f"{split}_labels"] = ds.targets.to(torch.int64).contiguous()
        out["classes"] = [str(c) for c in ds.classes]
    return out


def _torchvision_splits(dataset_class: Callable[..., Any], scratch: Path) -> dict[str, Any]:
    """torchvision's train and test datasets, read from ``scratch`` (whose files passed our checks)."""
    splits = {}
    for split, train in (("train", True), ("test", False)):
        try:
            splits[split] = dataset_class(root=str(scratch), train=train, download=False)
        except Exception as error:  # noqa: BLE001 - the files passed our checks; say what torchvision said
            raise Unusable(f"torchvision could not read it: {type(error).__name__}: {error}") from None
    return splits


def _gunzip(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as error:
        # BadGzipFile (CRC or header), EOFError (cut short), zlib.error (mangled stream)
        raise Unusable(f"corrupt or truncated gzip file {path}: {type(error).__name__}: {error}") from None


def _check_idx(path: Path, header: bytes, size: int, magic: int, ndim: int) -> tuple[int, ...]:
    """Check an IDX file's magic number and byte count; return its dimensions."""
    kind = "image" if ndim == 3 else "label"
    if len(header) < 4 + 4 * ndim:
        raise Unusable(f"truncated: {path} has only {size} bytes, less than an IDX {kind} header")
    found_magic = int.from_bytes(header[:4], "big")
    if found_magic != magic:
        raise Unusable(
            f"corrupt: {path} has IDX magic number {found_magic} (0x{found_magic:08x}), "
            f"an IDX {kind} file starts with {magic} (0x{magic:08x})"
        )
    dims = tuple(int.from_bytes(header[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = 4 + 4 * ndim + math.prod(dims)
    if size != expected:
        state = "truncated" if size < expected else "corrupt"
        raise Unusable(
            f"{state}: {path} has {size} bytes (uncompressed), its header ({'×'.join(map(str, dims))}) "
            f"needs {expected}"
        )
    return dims


# ----------------------------------------------------------------------------- CIFAR-10


def _cifar10_unverified(**kwargs):
    """torchvision's CIFAR-10 reader without its md5 checks.

    ``load_cifar10`` has already unpickled and checked every file, so a copy in the real
    format that is not byte-identical to the original (tests' tiny batches) reads too.
    """
    import torchvision  # here, not at the top: it costs seconds at every job's start

    class CIFAR10Unverified(torchvision.datasets.CIFAR10):
        train_list = [[name, None] for name, _ in torchvision.datasets.CIFAR10.train_list]
        test_list = [[name, None] for name, _ in torchvision.datasets.CIFAR10.test_list]
        meta = {**torchvision.datasets.CIFAR10.meta, "md5": None}

    return CIFAR10Unverified(**kwargs)


def load_cifar10(directory: Path, scratch: Path) -> dict:
    names = CIFAR_TRAIN + CIFAR_TEST + (CIFAR_META,)
    missing = [n for n in names if not (directory / n).is_file()]
    if missing:
        raise Unusable(f"missing {', '.join(missing)}")

    meta = _unpickle(directory / CIFAR_META)
    label_names = meta.get("label_names") if isinstance(meta, dict) else None
    if not isinstance(label_names, list) or len(label_names) != 10 or not all(isinstance(n, str) for n in label_names):
        raise Unusable(f"corrupt: {directory / CIFAR_META} has no list of 10 label_names")
    for name in CIFAR_TRAIN + CIFAR_TEST:
        _check_cifar_batch(directory / name, _unpickle(directory / name))

    batches = scratch / TORCHVISION["cifar10"][1]
    batches.mkdir(parents=True)
    for name in names:
        (batches / name).symlink_to((directory / name).resolve())
    out = {}
    for split, ds in _torchvision_splits(_cifar10_unverified, scratch).items():
        # torchvision gives N×H×W×C; we keep N×C×H×W
        out[f"{split}_images"] = torch.from_numpy(np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)))
        out[f"{split}_labels"] = torch.tensor(ds.targets, dtype=torch.int64)
        out["classes"] = [str(c) for c in ds.classes]
    return out


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles only what CIFAR-10 batches hold (numpy arrays, lists, str, int).

    torchvision unpickles the same files without limits; as we check them first, a file
    that would import anything else never reaches it.
    """

    _ALLOWED = {
        (module, name)
        for module in ("numpy.core.multiarray", "numpy._core.multiarray")
        for name in ("_reconstruct", "scalar")
    } | {
        (module, "_frombuffer") for module in ("numpy.core.numeric", "numpy._core.numeric")  # pickle protocol 5
    } | {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to import {module}.{name}, which no CIFAR-10 batch needs")
        return super().find_class(module, name)


def _unpickle(path: Path) -> Any:
    try:
        with open(path, "rb") as f:
            # the batches are Python 2 pickles; latin1 is how torchvision reads them too
            return _BatchUnpickler(f, encoding="latin1").load()
    except Exception as error:  # noqa: BLE001 - a damaged pickle raises almost anything
        raise Unusable(f"corrupt: {path} cannot be unpickled: {type(error).__name__}: {error}") from None


def _check_cifar_batch(path: Path, batch: Any) -> None:
    if not isinstance(batch, dict) or "data" not in batch or "labels" not in batch:
        raise Unusable(f"corrupt: {path} is not a CIFAR-10 batch (a dict with 'data' and 'labels')")
    data, labels = batch["data"], batch["labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise Unusable(f"corrupt: {path} 'data' should be a uint8 N×3072 array, got {type(data).__name__} {shape}")
    if len(labels) != data.shape[0]:
        raise Unusable(f"corrupt: {path} has {data.shape[0]} images but {len(labels)} labels")


# ----------------------------------------------------------------------------- imagefolder
