"""Datasets as uint8 tensors: found locally, in Debian's package, or downloaded by torchvision.

``load_dataset`` returns ``train_images``/``test_images`` (uint8, N×C×H×W),
``train_labels``/``test_labels`` (int64), ``classes``, ``name`` and ``source``.
``save_canonical`` writes that dict as one ``torch.load(..., weights_only=True)`` file,
which every later step reads with ``load_canonical``.

The torchvision datasets are read by torchvision's own classes. We only arrange the files
first: the raw files the user has (gzipped or not, in torchvision's layout or in a flat
folder) are checked and put into a scratch folder in torchvision's layout, so that a
truncated or corrupt file gives a ``DatasetError`` naming the file instead of a traceback
from gzip, pickle or numpy, and so that copies that differ from torchvision's md5 sums
(Debian re-compresses Fashion-MNIST; tests write tiny files) still load.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import math
import operator
import os
import pickle
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from hfc.files import UnreadableFileError, load_tensors

log = logging.getLogger(__name__)

DATASETS = ("fashion_mnist", "mnist", "cifar10", "imagefolder", "imagenette", "planted")
# Datasets whose images have no one native size: dataset.image_size sets it.
SIZED_BY_CONFIG = ("imagefolder", "imagenette", "planted")
# torchvision's Imagenette archives: size -> the folder it unpacks into (under its root).
IMAGENETTE_SIZES = {"160px": "imagenette2-160", "320px": "imagenette2-320", "full": "imagenette2"}

# Debian's ``dataset-fashion-mnist`` package installs the four original files here.
DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

# Where torchvision downloads go when no cache_dir is given; the environment variable wins.
CACHE_ENV = "HFC_DATA_CACHE"
DEFAULT_CACHE_DIR = "~/.cache/hfc-repro/datasets"

_NATIVE_SHAPES = {"fashion_mnist": (1, 28, 28), "mnist": (1, 28, 28), "cifar10": (3, 32, 32)}

# name -> (torchvision class name, its folder under a torchvision root)
_TORCHVISION = {
    "fashion_mnist": ("FashionMNIST", "FashionMNIST/raw"),
    "mnist": ("MNIST", "MNIST/raw"),
    "cifar10": ("CIFAR10", "cifar-10-batches-py"),
}

# role -> (file name torchvision reads, IDX magic number, number of dimensions)
_IDX_FILES = {
    "train_images": ("train-images-idx3-ubyte", 2051, 3),
    "train_labels": ("train-labels-idx1-ubyte", 2049, 1),
    "test_images": ("t10k-images-idx3-ubyte", 2051, 3),
    "test_labels": ("t10k-labels-idx1-ubyte", 2049, 1),
}

_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST = ("test_batch",)
_CIFAR_META = "batches.meta"

_REQUIRED_KEYS = ("train_images", "train_labels", "test_images", "test_labels", "classes", "name", "source")


class DatasetError(RuntimeError):
    """The data could not be found or read; the message says where we looked and how to fix it."""


class _Unusable(Exception):
    """One place did not hold usable data; the message says what was wrong."""


# ----------------------------------------------------------------------------- shapes


def image_shape(name: str, image_size: int | None = None) -> tuple | None:
    """(C, H, W) of a dataset's images where known before loading it.

    imagefolder: ``(None, image_size, image_size)`` (channels are known only after reading
    the images) when ``image_size`` is given, else None. imagenette and planted need
    ``image_size`` (their images are resized / generated at that size).
    """
    _check_name(name)
    if name in ("imagenette", "planted") and image_size is None:
        raise ValueError(
            f"dataset {name} needs dataset.image_size (e.g. {64 if name == 'imagenette' else 16}): "
            f"the side its images are {'resized' if name == 'imagenette' else 'generated'} to"
        )
    if name in SIZED_BY_CONFIG:
        if image_size is None:
            return None
        return (None, _check_image_size(image_size), _check_image_size(image_size))
    native = _NATIVE_SHAPES[name]
    if image_size is not None and image_size != native[1]:
        raise ValueError(
            f"image_size={image_size} was given for {name}, whose images are {native[1]}×{native[2]}; "
            f"image_size only resizes imagefolder data: set dataset.image_size to null (or {native[1]})"
        )
    return native


# Images per split of the full datasets (torchvision's sizes).
FULL_SIZES = {
    "fashion_mnist": (60000, 10000),
    "mnist": (60000, 10000),
    "cifar10": (50000, 10000),
    "imagenette": (9469, 3925),  # train / val, the same in all three archive sizes
}


def _imagefolder_files(root: Path) -> dict[str, list[Path]]:
    from torchvision.datasets.folder import IMG_EXTENSIONS

    out = {}
    for split in ("train", "test"):
        base = root / split
        out[split] = sorted(
            f for d in (sorted(base.iterdir()) if base.is_dir() else []) if d.is_dir()
            for f in d.rglob("*") if f.is_file() and f.name.lower().endswith(IMG_EXTENSIONS)
        )  # fmt: skip
    return out


def dataset_sizes(name: str, root: str | os.PathLike | None = None) -> tuple[int, int] | None:
    """(train, test) images of the whole dataset, where known without reading it (else None)."""
    _check_name(name)
    if name == "planted":
        return None  # generated: dataset.planted.train_size / test_size (checked by hfc.planted)
    if name != "imagefolder":
        return FULL_SIZES[name]
    if root is None or not Path(root).expanduser().is_dir():
        return None
    found = _imagefolder_files(Path(root).expanduser())
    return len(found["train"]), len(found["test"])


def source_files(name: str, root: str | os.PathLike | None = None) -> list[Path]:
    """The raw files a dataset would be read from now, so that a change to them is seen.

    For a named ``root``: the files under it that the loader reads (an ImageFolder's images,
    the IDX or CIFAR-10 batch files). With no root: Debian's Fashion-MNIST files when
    present, then the download cache. An empty list means nothing is there yet (a download).
    """
    _check_name(name)
    if name == "planted":
        return []  # generated from its settings and hfc/planted.py, both params of prepare_dataset
    if name == "imagefolder":
        if root is None or not Path(root).expanduser().is_dir():
            return []
        found = _imagefolder_files(Path(root).expanduser())
        return found["train"] + found["test"]
    if name == "imagenette":
        base = Path(root).expanduser() if root is not None else default_cache_dir() / "imagenette"
        return sorted(
            path
            for folder in IMAGENETTE_SIZES.values()
            for split in ("train", "val")
            for path in (base / folder / split).glob("*/*")
            if path.suffix.lower() == ".jpeg"
        )
    if name == "cifar10":
        wanted = _CIFAR_TRAIN + _CIFAR_TEST + (_CIFAR_META,)
    else:
        wanted = tuple(base + ext for base, _, _ in _IDX_FILES.values() for ext in ("", ".gz"))
    folder = _TORCHVISION[name][1]
    if root is not None:
        root = Path(root).expanduser()
        places = [root / folder, root]
    else:
        places = ([Path(DEBIAN_FASHION_MNIST_DIR)] if name == "fashion_mnist" else []) + [default_cache_dir() / folder]
    for place in places:
        present = [place / f for f in wanted if (place / f).is_file()]
        if present:
            return present
    return []


def _check_name(name: str) -> None:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


def _check_image_size(image_size: Any) -> int:
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive integer or None, got {image_size!r}")
    return image_size


# ----------------------------------------------------------------------------- loading


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR).expanduser()


def load_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    image_size: int | None = None,
    download: bool = True,
    debian_dir: str | os.PathLike | None = DEBIAN_FASHION_MNIST_DIR,
    cache_dir: str | os.PathLike | None = None,
    planted: dict | None = None,
    imagenette_size: str = "160px",
) -> dict:
    """Load a whole dataset as uint8 tensors.

    A ``root`` given is the only place looked in (torchvision's layout, then the raw files
    directly in ``root``): if it holds no usable copy, DatasetError says why, and no other copy
    is read instead. With ``root`` None it looks in ``debian_dir`` (Fashion-MNIST only), in
    ``cache_dir`` (an earlier download) and finally downloads with torchvision into
    ``cache_dir`` when ``download`` is true. Raises DatasetError listing every place and its
    problem when none works.
    ``planted`` (``dataset.planted``) is generated, not read: :mod:`hfc.planted`.
    """
    _check_name(name)
    if name == "imagefolder":
        return _load_imagefolder(root, image_size)
    if name == "planted":
        from hfc import planted as planted_module

        try:
            return planted_module.generate(planted, image_size)
        except ValueError as error:
            raise DatasetError(str(error)) from None
    if name == "imagenette":
        return _load_imagenette(root, image_size, imagenette_size, download, cache_dir)
    image_shape(name, image_size)  # rejects an image_size that would not apply

    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    folder = _TORCHVISION[name][1]
    places: list[tuple[str, Path]] = []
    problems: list[tuple[str, str]] = []
    if root is not None:
        # A root the user named is used or the job stops: silently reading another copy would
        # give results of other data than the config says.
        root = Path(root).expanduser()
        for where, directory in (
            (f"dataset.root in torchvision's layout {root / folder}", root / folder),
            (f"dataset.root as a flat folder {root}", root),
        ):
            try:
                return _load_from_directory(name, directory, where)
            except _Unusable as problem:
                problems.append((where, str(problem)))
        raise DatasetError(_root_unusable_message(name, root, problems))
    problems.append(("dataset.root", "not set"))
    if name == "fashion_mnist":
        if debian_dir is None:
            problems.append(("Debian package dataset-fashion-mnist", "not looked at (debian_dir=None)"))
        else:
            places.append((f"Debian package dataset-fashion-mnist {debian_dir}", Path(debian_dir)))
    places.append((f"download cache {cache / folder}", cache / folder))

    for where, directory in places:
        try:
            dataset = _load_from_directory(name, directory, where)
        except _Unusable as problem:
            problems.append((where, str(problem)))
            continue
        return _found(dataset, where, problems)

    if not download:
        problems.append(("torchvision download", "disabled (dataset.download is false)"))
    else:
        where = f"torchvision download into {cache}"
        failure = ""
        try:
            _torchvision_download(name, cache)
        except Exception as error:  # noqa: BLE001 - no network, HTTP errors, bad archives: all end up listed
            failure = f"failed: {type(error).__name__}: {error}; "
        try:
            dataset = _load_from_directory(name, cache / folder, where)
        except _Unusable as problem:
            problems.append((where, f"{failure}{cache / folder}: {problem}"))
        else:
            return _found(dataset, where, problems)
    raise DatasetError(_not_found_message(name, problems, cache))


def _found(dataset: dict, where: str, problems: list[tuple[str, str]]) -> dict:
    # A root the user gave, or a corrupt copy anywhere, should not go unnoticed because another copy worked.
    noteworthy = [
        (w, p) for w, p in problems
        if w.startswith("dataset.root ") or not p.startswith(("missing", "not set", "not looked"))
    ]
    if noteworthy:
        log.warning("using %s; skipped: %s", where, "; ".join(f"{w}: {p}" for w, p in noteworthy))
    return dataset


def _root_unusable_message(name: str, root: Path, problems: list[tuple[str, str]]) -> str:
    lines = [f"dataset.root {root} holds no usable {name} data, and a root named in the config is never "
             "replaced by another copy. Looked in:"]  # fmt: skip
    lines += [f"  - {where}: {problem}" for where, problem in problems]
    lines.append(
        "Fix the files there (a truncated or corrupt file must be replaced by a good copy), point "
        "dataset.root to the right folder, or set dataset.root to null to use "
        + ("Debian's package or " if name == "fashion_mnist" else "")
        + "torchvision's download."
    )
    return "\n".join(lines)


def _not_found_message(name: str, problems: list[tuple[str, str]], cache: Path) -> str:
    lines = [f"could not load dataset {name!r}. Places looked in:"]
    lines += [f"  - {where}: {problem}" for where, problem in problems]
    lines.append("To provide the data:")
    folder = _TORCHVISION[name][1]
    if name == "cifar10":
        files = ", ".join(_CIFAR_TRAIN + _CIFAR_TEST + (_CIFAR_META,))
        lines.append(
            f"  - unpack cifar-10-python.tar.gz and set the config key dataset.root to the folder holding "
            f"{folder}/ (or to {folder} itself, which holds {files})"
        )
    else:
        files = ", ".join(f"{base}.gz" for base, _, _ in _IDX_FILES.values())
        lines.append(
            f"  - set the config key dataset.root to a folder holding {files} (gzipped or not), "
            f"either directly or in torchvision's layout <root>/{folder}/"
        )
    if name == "fashion_mnist":
        lines.append(
            f"  - on Debian/Ubuntu: apt-get install dataset-fashion-mnist (installs them in {DEBIAN_FASHION_MNIST_DIR})"
        )
    lines.append(
        f"  - or run online with dataset.download: true, and torchvision downloads it into {cache} "
        f"(set {CACHE_ENV} to use another folder)"
    )
    lines.append("A file reported as truncated or corrupt must be replaced by a good copy (delete it first).")
    return "\n".join(lines)


def _load_from_directory(name: str, directory: Path, where: str) -> dict:
    if not directory.is_dir():
        raise _Unusable("missing (no such directory)")
    with tempfile.TemporaryDirectory(prefix="hfc-data-") as scratch:
        if name == "cifar10":
            dataset = _load_cifar10(directory, Path(scratch))
        else:
            dataset = _load_idx(name, directory, Path(scratch))
    dataset["name"], dataset["source"] = name, where
    try:
        _check_dataset(dataset)
    except ValueError as error:
        raise _Unusable(f"corrupt: {error}") from None
    return dataset


def _torchvision_download(name: str, cache: Path) -> None:
    import torchvision  # lazily: see _cifar10_unverified
    cache.mkdir(parents=True, exist_ok=True)
    cls = getattr(torchvision.datasets, _TORCHVISION[name][0])
    # Constructing with download=True fetches (and md5-checks) what is missing; we then read
    # the files through the same checks as any local copy.
    cls(root=str(cache), train=True, download=True)


# ----------------------------------------------------------------------------- MNIST / Fashion-MNIST


def _load_idx(name: str, directory: Path, scratch: Path) -> dict:
    import torchvision  # lazily: see _cifar10_unverified
    found, missing = {}, []
    for role, (base, _, _) in _IDX_FILES.items():
        for candidate in (directory / base, directory / f"{base}.gz"):
            if candidate.is_file():
                found[role] = candidate
                break
        else:
            missing.append(f"{base}[.gz]")
    if missing:
        raise _Unusable(f"missing {', '.join(missing)}")

    cls_name, folder = _TORCHVISION[name]
    raw = scratch / folder
    raw.mkdir(parents=True)
    dims = {}
    for role, path in found.items():
        base, magic, ndim = _IDX_FILES[role]
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

    expected = _NATIVE_SHAPES[name][1:]
    for split in ("train", "test"):
        n_images, *hw = dims[f"{split}_images"]
        (n_labels,) = dims[f"{split}_labels"]
        if tuple(hw) != expected:
            raise _Unusable(f"corrupt: {found[f'{split}_images']} holds {hw[0]}×{hw[1]} images, "
                            f"{name} images are {expected[0]}×{expected[1]}")
        if n_images != n_labels:
            raise _Unusable(f"corrupt: {found[f'{split}_images']} holds {n_images} images but "
                            f"{found[f'{split}_labels']} holds {n_labels} labels")

    cls = getattr(torchvision.datasets, cls_name)
    out = {}
    for split, train in (("train", True), ("test", False)):
        try:
            ds = cls(root=str(scratch), train=train, download=False)
        except Exception as error:  # noqa: BLE001 - the files passed our checks; say what torchvision said
            raise _Unusable(f"torchvision could not read it: {type(error).__name__}: {error}") from None
        out[f"{split}_images"] = ds.data.to(torch.uint8).unsqueeze(1).contiguous()
        out[f"{split}_labels"] = ds.targets.to(torch.int64).contiguous()
        out["classes"] = [str(c) for c in ds.classes]
    return out


def _gunzip(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as error:
        # BadGzipFile (CRC or header), EOFError (cut short), zlib.error (mangled stream)
        raise _Unusable(f"corrupt or truncated gzip file {path}: {type(error).__name__}: {error}") from None


def _check_idx(path: Path, header: bytes, size: int, magic: int, ndim: int) -> tuple[int, ...]:
    """Check an IDX file's magic number and byte count; return its dimensions."""
    kind = "image" if ndim == 3 else "label"
    if len(header) < 4 + 4 * ndim:
        raise _Unusable(f"truncated: {path} has only {size} bytes, less than an IDX {kind} header")
    found_magic = int.from_bytes(header[:4], "big")
    if found_magic != magic:
        raise _Unusable(
            f"corrupt: {path} has IDX magic number {found_magic} (0x{found_magic:08x}), "
            f"an IDX {kind} file starts with {magic} (0x{magic:08x})"
        )
    dims = tuple(int.from_bytes(header[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = 4 + 4 * ndim + math.prod(dims)
    if size != expected:
        state = "truncated" if size < expected else "corrupt"
        raise _Unusable(
            f"{state}: {path} has {size} bytes (uncompressed), its header ({'×'.join(map(str, dims))}) "
            f"needs {expected}"
        )
    return dims


# ----------------------------------------------------------------------------- CIFAR-10


def _cifar10_unverified(**kwargs):
    """torchvision's CIFAR-10 reader without its md5 checks.

    ``_load_cifar10`` has already unpickled and checked every file, so a copy in the real
    format that is not byte-identical to the original (tests' tiny batches) reads too.
    """
    import torchvision  # here, not at the top: it costs seconds at every job's start

    class CIFAR10Unverified(torchvision.datasets.CIFAR10):
        train_list = [[name, None] for name, _ in torchvision.datasets.CIFAR10.train_list]
        test_list = [[name, None] for name, _ in torchvision.datasets.CIFAR10.test_list]
        meta = {**torchvision.datasets.CIFAR10.meta, "md5": None}

    return CIFAR10Unverified(**kwargs)


def _load_cifar10(directory: Path, scratch: Path) -> dict:
    names = _CIFAR_TRAIN + _CIFAR_TEST + (_CIFAR_META,)
    missing = [n for n in names if not (directory / n).is_file()]
    if missing:
        raise _Unusable(f"missing {', '.join(missing)}")

    meta = _unpickle(directory / _CIFAR_META)
    label_names = meta.get("label_names") if isinstance(meta, dict) else None
    if not isinstance(label_names, list) or len(label_names) != 10 or not all(isinstance(n, str) for n in label_names):
        raise _Unusable(f"corrupt: {directory / _CIFAR_META} has no list of 10 label_names")
    for name in _CIFAR_TRAIN + _CIFAR_TEST:
        _check_cifar_batch(directory / name, _unpickle(directory / name))

    batches = scratch / _TORCHVISION["cifar10"][1]
    batches.mkdir(parents=True)
    for name in names:
        (batches / name).symlink_to((directory / name).resolve())
    out = {}
    for split, train in (("train", True), ("test", False)):
        try:
            ds = _cifar10_unverified(root=str(scratch), train=train, download=False)
        except Exception as error:  # noqa: BLE001 - the files passed our checks; say what torchvision said
            raise _Unusable(f"torchvision could not read it: {type(error).__name__}: {error}") from None
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
        raise _Unusable(f"corrupt: {path} cannot be unpickled: {type(error).__name__}: {error}") from None


def _check_cifar_batch(path: Path, batch: Any) -> None:
    if not isinstance(batch, dict) or "data" not in batch or "labels" not in batch:
        raise _Unusable(f"corrupt: {path} is not a CIFAR-10 batch (a dict with 'data' and 'labels')")
    data, labels = batch["data"], batch["labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise _Unusable(f"corrupt: {path} 'data' should be a uint8 N×3072 array, got {type(data).__name__} {shape}")
    if len(labels) != data.shape[0]:
        raise _Unusable(f"corrupt: {path} has {data.shape[0]} images but {len(labels)} labels")


# ----------------------------------------------------------------------------- imagefolder


def _load_imagefolder(root: str | os.PathLike | None, image_size: int | None) -> dict:
    import torchvision  # lazily: see _cifar10_unverified
    layout = "<root>/train/<class>/*.png|jpg and <root>/test/<class>/*"
    if root is None:
        raise DatasetError(
            f"dataset imagefolder needs a folder: set the config key dataset.root to one laid out as {layout}"
        )
    if image_size is not None:
        _check_image_size(image_size)
    root = Path(root).expanduser()
    folder = torchvision.datasets.folder
    for split in ("train", "test"):
        if not (root / split).is_dir():
            raise DatasetError(
                f"imagefolder: {root / split} is not a directory; dataset.root must be laid out as {layout}"
            )

    try:
        train_classes, class_to_idx = folder.find_classes(str(root / "train"))
        test_classes, _ = folder.find_classes(str(root / "test"))
    except FileNotFoundError as error:
        raise DatasetError(f"imagefolder: {error} (expected {layout})") from None
    unknown = sorted(set(test_classes) - set(train_classes))
    if unknown:
        raise DatasetError(f"imagefolder: {root / 'test'} has classes {unknown} that {root / 'train'} lacks")

    class _TrainClasses(torchvision.datasets.ImageFolder):
        # The test split takes its labels from the train split, even if it lacks a class.
        def find_classes(self, directory):
            return train_classes, class_to_idx

    try:
        splits = {
            "train": torchvision.datasets.ImageFolder(str(root / "train"), loader=_image_header),
            "test": _TrainClasses(str(root / "test"), loader=_image_header, allow_empty=True),
        }
    except FileNotFoundError as error:
        raise DatasetError(f"imagefolder: {error}") from None
    if not splits["test"].samples:
        raise DatasetError(f"imagefolder: {root / 'test'} holds no images")

    # First pass: headers only, to pick one mode and check sizes before decoding anything.
    headers = {s: [ds[i][0] for i in range(len(ds))] for s, ds in splits.items()}
    first_path, _, first_size = headers["train"][0]
    channels = 1 if all(mode == "L" for hs in headers.values() for _, mode, _ in hs) else 3
    if image_size is None:
        for path, _, size in (h for hs in headers.values() for h in hs):
            if size != first_size:
                raise DatasetError(
                    f"imagefolder: {path} is {size[0]}×{size[1]} (width×height) but {first_path} is "
                    f"{first_size[0]}×{first_size[1]}; all images must have one size. Set the config key "
                    f"dataset.image_size (image_size=...) to resize every image to image_size×image_size"
                )
        width, height = first_size
    else:
        width = height = image_size

    mode = "L" if channels == 1 else "RGB"
    out = {"classes": list(train_classes)}
    for split, ds in splits.items():
        ds.loader = lambda path: _read_image(path, mode, image_size)
        images = torch.empty((len(ds), channels, height, width), dtype=torch.uint8)
        labels = torch.empty(len(ds), dtype=torch.int64)
        for i in range(len(ds)):
            pixels, labels[i] = ds[i]
            images[i] = pixels
        out[f"{split}_images"], out[f"{split}_labels"] = images, labels
    out["name"], out["source"] = "imagefolder", f"imagefolder {root}"
    try:
        _check_dataset(out)
    except ValueError as error:
        raise DatasetError(f"imagefolder {root}: {error}") from None
    return out


def _image_header(path: str) -> tuple[str, str, tuple[int, int]]:
    try:
        with Image.open(path) as img:  # lazy: reads the header only
            return path, img.mode, img.size
    except (OSError, UnidentifiedImageError, SyntaxError) as error:
        raise DatasetError(f"imagefolder: cannot read image {path}: {error}; remove or replace it") from None


def _read_image(path: str, mode: str, image_size: int | None) -> torch.Tensor:
    try:
        with Image.open(path) as img:
            img.load()
            img = img.convert(mode) if img.mode != mode else img
            if image_size is not None and img.size != (image_size, image_size):
                img = img.resize((image_size, image_size), Image.Resampling.BILINEAR)
            pixels = np.array(img, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, SyntaxError) as error:
        raise DatasetError(f"imagefolder: cannot read image {path}: {error}; remove or replace it") from None
    tensor = torch.from_numpy(pixels)
    return tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1)


# ----------------------------------------------------------------------------- Imagenette


def _load_imagenette(
    root: str | os.PathLike | None,
    image_size: int | None,
    size: str,
    download: bool,
    cache_dir: str | os.PathLike | None,
) -> dict:
    """Imagenette (10 ImageNet classes) read by torchvision's ``Imagenette`` class.

    Looks for ``<root>/<archive folder>/{train,val}/<wnid>/*.JPEG`` (the folder torchvision
    unpacks the archive into: ``imagenette2-160``, ``imagenette2-320`` or ``imagenette2``), then
    in the download cache, then downloads there with torchvision when ``download``. Every
    image is converted to RGB, its shorter side resized to ``image_size`` and the centre
    cropped to ``image_size``×``image_size`` (the usual ImageNet evaluation transform; a plain
    resize would stretch the spectrum differently along the two axes). The val split is
    the test set.
    """
    if size not in IMAGENETTE_SIZES:
        raise DatasetError(
            f"dataset.imagenette_size {size!r} is not one of {', '.join(IMAGENETTE_SIZES)} (torchvision's archives)"
        )
    if image_size is None:
        raise DatasetError("dataset imagenette needs dataset.image_size: the side every image is resized to")
    image_size = _check_image_size(image_size)
    folder = IMAGENETTE_SIZES[size]
    cache = (Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()) / "imagenette"
    layout = f"{folder}/train/<wnid>/*.JPEG and {folder}/val/<wnid>/*.JPEG"
    problems: list[tuple[str, str]] = []
    if root is not None:
        # A root the user named is used or the job stops (as for the other datasets).
        root = Path(root).expanduser()
        try:
            return _read_imagenette(root, folder, size, image_size, f"dataset.root {root}")
        except _Unusable as problem:
            raise DatasetError(
                f"could not load dataset 'imagenette' from dataset.root {root}: {problem}. dataset.root must "
                f"hold {layout} (fast.ai's {folder}.tgz unpacked, size {size}); fix it, or set dataset.root "
                "to null to use the download cache"
            ) from None
    problems.append(("dataset.root", "not set"))
    places = [(f"download cache {cache}", cache)]
    for where, place in places:
        try:
            dataset = _read_imagenette(place, folder, size, image_size, where)
        except _Unusable as problem:
            problems.append((where, str(problem)))
            continue
        return _found(dataset, where, problems)
    if not download:
        problems.append(("torchvision download", "disabled (dataset.download is false)"))
    else:
        import torchvision

        where = f"torchvision download into {cache}"
        failure = ""
        try:
            cache.mkdir(parents=True, exist_ok=True)
            torchvision.datasets.Imagenette(str(cache), split="train", size=size, download=True)
        except Exception as error:  # noqa: BLE001 - no network, HTTP errors, bad archives: all end up listed
            failure = f"failed: {type(error).__name__}: {error}; "
        try:
            dataset = _read_imagenette(cache, folder, size, image_size, where)
        except _Unusable as problem:
            problems.append((where, f"{failure}{problem}"))
        else:
            return _found(dataset, where, problems)
    lines = ["could not load dataset 'imagenette'. Places looked in:"]
    lines += [f"  - {w}: {p}" for w, p in problems]
    lines.append(
        f"To provide the data: unpack {folder}.tgz (fast.ai's Imagenette, size {size}) and set the config key "
        f"dataset.root to the folder holding {folder}/ (with {folder}/train/<wnid>/*.JPEG and "
        f"{folder}/val/<wnid>/*.JPEG), or run online with dataset.download: true"
    )
    raise DatasetError("\n".join(lines))


def _read_imagenette(place: Path, folder: str, size: str, image_size: int, where: str) -> dict:
    import torchvision

    for split in ("train", "val"):
        if not (place / folder / split).is_dir():
            raise _Unusable(f"missing {place / folder / split} (no such directory)")
    out: dict = {}
    loader = lambda path: _read_image_cropped(path, image_size)  # noqa: E731
    for split, tv_split in (("train", "train"), ("test", "val")):
        try:
            ds = torchvision.datasets.Imagenette(str(place), split=tv_split, size=size, download=False, loader=loader)
        except (FileNotFoundError, RuntimeError, KeyError) as error:
            raise _Unusable(f"torchvision could not read {place / folder / tv_split}: {type(error).__name__}: {error}")
        if len(ds) == 0:
            raise _Unusable(f"{place / folder / tv_split} holds no .JPEG images")
        if split == "train":
            out["classes"] = [names[0] for names in ds.classes]
            wnids = list(ds.wnids)
        elif list(ds.wnids) != wnids:
            raise _Unusable(f"the val classes {ds.wnids} differ from the train classes {wnids}")
        images = torch.empty((len(ds), 3, image_size, image_size), dtype=torch.uint8)
        labels = torch.empty(len(ds), dtype=torch.int64)
        for i in range(len(ds)):
            try:
                images[i], labels[i] = ds[i]
            except DatasetError as error:
                raise _Unusable(str(error)) from None
        out[f"{split}_images"], out[f"{split}_labels"] = images, labels
    out["name"], out["source"] = "imagenette", where
    try:
        _check_dataset(out)
    except ValueError as error:
        raise _Unusable(f"corrupt: {error}") from None
    return out


def _read_image_cropped(path: str, image_size: int) -> torch.Tensor:
    """RGB, shorter side resized to ``image_size`` (bilinear, antialiased), centre crop."""
    try:
        with Image.open(path) as img:
            img.load()
            img = img.convert("RGB")
            width, height = img.size
            scale = image_size / min(width, height)
            new = (max(image_size, round(width * scale)), max(image_size, round(height * scale)))
            img = img.resize(new, Image.Resampling.BILINEAR, reducing_gap=None)
            left, top = (new[0] - image_size) // 2, (new[1] - image_size) // 2
            img = img.crop((left, top, left + image_size, top + image_size))
            pixels = np.array(img, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, SyntaxError) as error:
        raise DatasetError(f"imagenette: cannot read image {path}: {error}; remove or replace it") from None
    return torch.from_numpy(pixels).permute(2, 0, 1)


# ----------------------------------------------------------------------------- checks


def _check_dataset(d: dict) -> None:
    """Raise ValueError when the dict is not a well-formed dataset."""
    missing = [k for k in _REQUIRED_KEYS if k not in d]
    if missing:
        raise ValueError(f"missing keys {missing}")
    classes = d["classes"]
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise ValueError(f"classes must be a non-empty list of str, got {classes!r}")
    for split in ("train", "test"):
        images, labels = d[f"{split}_images"], d[f"{split}_labels"]
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"{split}_images must be a uint8 N×C×H×W tensor, got {_describe(images)}")
        if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64 or labels.ndim != 1:
            raise ValueError(f"{split}_labels must be an int64 vector, got {_describe(labels)}")
        if len(images) != len(labels):
            raise ValueError(f"{split}: {len(images)} images but {len(labels)} labels")
        if len(labels) == 0:
            raise ValueError(f"{split} split is empty")
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= len(classes):
            raise ValueError(f"{split}_labels range over {low}..{high} but there are {len(classes)} classes")
    if d["train_images"].shape[1:] != d["test_images"].shape[1:]:
        raise ValueError(
            f"train images are {tuple(d['train_images'].shape[1:])} but test images {tuple(d['test_images'].shape[1:])}"
        )


def _describe(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        return f"{x.dtype} tensor of shape {tuple(x.shape)}"
    return type(x).__name__


# ----------------------------------------------------------------------------- canonical file


def save_canonical(dataset: dict, path: str | os.PathLike) -> str:
    """Write ``dataset`` atomically as a weights_only-loadable file; return its sha256.

    Values may be tensors, str, int, float, bool, or lists of str/int/float (e.g. the
    channel statistics). Tensors are copied to compact CPU storage, so a view of a larger
    tensor does not drag the whole storage into the file. The same content always gives
    the same bytes, hence the same checksum.
    """
    try:
        _check_dataset(dataset)
    except ValueError as error:
        raise ValueError(f"save_canonical: not a dataset dict: {error}") from None
    payload = {}
    for key in list(_REQUIRED_KEYS) + sorted(k for k in dataset if k not in _REQUIRED_KEYS):
        payload[key] = _plain(key, dataset[key])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        # A file object, not a path: torch names the archive's inner folder after a path,
        # which would make the bytes depend on the temporary name.
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return sha256_file(path)


def _plain(key: str, value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu").clone(memory_format=torch.contiguous_format)
    if isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float, bool)) for v in value):
        return list(value)
    raise ValueError(
        f"save_canonical: {key!r} is a {type(value).__name__}; only tensors, str, numbers and lists of them "
        "can be stored in a weights_only file"
    )


def load_canonical(path: str | os.PathLike) -> dict:
    """Read a file written by ``save_canonical`` (weights_only, on the CPU)."""
    path = Path(path)
    advice = f"delete {path} and rerun the workflow to rebuild it"
    if not path.is_file():
        raise DatasetError(f"canonical dataset file {path} does not exist; rerun the workflow to build it")
    try:
        dataset = load_tensors(path, what="canonical dataset file", advice=advice)
    except UnreadableFileError as error:
        raise DatasetError(str(error)) from None
    if not isinstance(dataset, dict):
        raise DatasetError(f"{path} does not hold a dataset dict; {advice}")
    try:
        _check_dataset(dataset)
    except ValueError as error:
        raise DatasetError(f"{path} is not a valid canonical dataset ({error}); {advice}") from None
    return dataset


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ----------------------------------------------------------------------------- subsets and statistics


def stratified_subset(labels: torch.Tensor, size: int | None, seed: int) -> torch.Tensor:
    """Sorted indices of a seeded subset of ``size`` items with the class proportions of ``labels``.

    Each class gets floor(size·n_c/N) items, the rest go to the largest remainders (ties to the
    lower class), and every class keeps at least one. ``size`` None or N gives all indices.
    """
    labels = torch.as_tensor(labels)
    if labels.ndim != 1 or labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError(f"labels must be a 1-D integer tensor, got {_describe(labels)}")
    n = labels.numel()
    if size is not None:
        try:
            if isinstance(size, bool):
                raise TypeError
            size = operator.index(size)
        except TypeError:
            raise ValueError(f"subset size must be an integer or None, got {size!r}") from None
    if size is None or size == n:
        return torch.arange(n, dtype=torch.int64)
    labels = labels.to("cpu", torch.int64)
    classes, counts = torch.unique(labels, return_counts=True)
    if size > n:
        raise ValueError(
            f"subset size {size} is larger than the {n} items available; use at most {n} (or null for all)"
        )
    if size < len(classes):
        raise ValueError(f"subset size {size} is smaller than the {len(classes)} classes; use at least {len(classes)}")

    scaled = counts * size
    alloc = scaled // n
    remainder = scaled % n
    short = size - int(alloc.sum())
    for c in sorted(range(len(classes)), key=lambda c: (-int(remainder[c]), c))[:short]:
        alloc[c] += 1
    for c in range(len(classes)):
        if alloc[c] == 0:
            alloc[int(torch.argmax(alloc))] -= 1  # argmax takes the first of equals
            alloc[c] = 1

    generator = torch.Generator().manual_seed(int(seed))
    picks = []
    for c, k in zip(classes.tolist(), alloc.tolist()):
        members = torch.nonzero(labels == c).flatten()
        picks.append(members[torch.randperm(len(members), generator=generator)[:k]])
    return torch.cat(picks).sort().values


def _check_uint8_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"expected uint8 images N×C×H×W, got {_describe(images)}")


def channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and (population) standard deviation on the [0, 1] scale."""
    _check_uint8_images(images)
    if len(images) == 0:
        raise ValueError("channel_stats needs at least one image")
    channels = images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64, device=images.device)
    squares = torch.zeros_like(total)
    # chunks keep the float64 copy small for 50 000 CIFAR images
    for chunk in images.split(4096):
        x = chunk.to(torch.float64).transpose(0, 1).reshape(channels, -1)
        total += x.sum(dim=1)
        squares += (x * x).sum(dim=1)
    count = images.numel() // channels
    mean = total / count
    var = (squares / count - mean * mean).clamp_min(0)
    return (mean / 255).tolist(), (var.sqrt() / 255).tolist()


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 in [0, 1], on the same device."""
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
        raise ValueError(f"to_float expects uint8 images, got {_describe(images)}")
    return images.to(torch.float32).div_(255)


def load_frequency_split(
    path: str | os.PathLike, split: str, radius: int | None = None, rescale: bool = False
) -> tuple[int, torch.Tensor, torch.Tensor]:
    """``(radius, low, high)`` from a file of the ``split_frequency`` rule.

    Checks that the file holds ``split`` (and ``radius`` when given). ``rescale`` divides each
    component by its own maximum, as training, evaluation and every analysis of LFC/HFC do
    (``frequency.rescale`` in the config).
    """
    from hfc.frequency import rescale_by_max

    try:
        components = load_tensors(path, what="frequency split", advice="delete it and rerun the workflow")
    except UnreadableFileError as error:
        raise DatasetError(str(error)) from None
    if not isinstance(components, dict):
        raise DatasetError(f"{path} is not a frequency split file; delete it and rerun the workflow")
    found = (components.get("split"), int(components.get("radius", -1)))
    if found[0] != split or (radius is not None and found[1] != radius):
        raise DatasetError(f"{path} holds split {found[0]!r} radius {found[1]}, expected {split!r} radius {radius}")
    low, high = components["low"], components["high"]
    if rescale:
        low, high = rescale_by_max(low), rescale_by_max(high)
    return found[1], low, high
