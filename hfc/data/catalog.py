"""What each dataset is before it is read: names, image shapes, sizes, raw files, checks.

Shared by the readers (:mod:`hfc.data.raw_files`, :mod:`hfc.data.images`), the loader
(:mod:`hfc.data.loading`) and the workflow's parse-time checks (``rules/common.smk``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


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

NATIVE_SHAPES = {"fashion_mnist": (1, 28, 28), "mnist": (1, 28, 28), "cifar10": (3, 32, 32)}

# name -> (torchvision class name, its folder under a torchvision root)
TORCHVISION = {
    "fashion_mnist": ("FashionMNIST", "FashionMNIST/raw"),
    "mnist": ("MNIST", "MNIST/raw"),
    "cifar10": ("CIFAR10", "cifar-10-batches-py"),
}

# role -> (file name torchvision reads, IDX magic number, number of dimensions)
IDX_FILES = {
    "train_images": ("train-images-idx3-ubyte", 2051, 3),
    "train_labels": ("train-labels-idx1-ubyte", 2049, 1),
    "test_images": ("t10k-images-idx3-ubyte", 2051, 3),
    "test_labels": ("t10k-labels-idx1-ubyte", 2049, 1),
}

CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = ("test_batch",)
CIFAR_META = "batches.meta"

REQUIRED_KEYS = ("train_images", "train_labels", "test_images", "test_labels", "classes", "name", "source")


class DatasetError(RuntimeError):
    """The data could not be found or read; the message says where we looked and how to fix it."""


class Unusable(Exception):
    """One place did not hold usable data; the message says what was wrong."""


def image_shape(name: str, image_size: int | None = None) -> tuple | None:
    """(C, H, W) of a dataset's images where known before loading it.

    imagefolder: ``(None, image_size, image_size)`` (channels are known only after reading
    the images) when ``image_size`` is given, else None. imagenette and planted need
    ``image_size`` (their images are resized / generated at that size).
    """
    check_name(name)
    if name in ("imagenette", "planted") and image_size is None:
        raise ValueError(
            f"dataset {name} needs dataset.image_size (e.g. {64 if name == 'imagenette' else 16}): "
            f"the side its images are {'resized' if name == 'imagenette' else 'generated'} to"
        )
    if name in SIZED_BY_CONFIG:
        if image_size is None:
            return None
        return (None, check_image_size(image_size), check_image_size(image_size))
    native = NATIVE_SHAPES[name]
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


def imagefolder_files(root: Path) -> dict[str, list[Path]]:
    from torchvision.datasets.folder import IMG_EXTENSIONS

    out = {}
    for split in ("train", "test"):
        base = root / split
        # as torchvision's ImageFolder reads them: symlinked folders inside a class folder followed
        out[split] = sorted(
            Path(folder) / name
            for d in (sorted(base.iterdir()) if base.is_dir() else []) if d.is_dir()
            for folder, _, names in os.walk(d, followlinks=True)
            for name in names if name.lower().endswith(IMG_EXTENSIONS) and (Path(folder) / name).is_file()
        )  # fmt: skip
    return out


def dataset_sizes(name: str, root: str | os.PathLike | None = None) -> tuple[int, int] | None:
    """(train, test) images of the whole dataset, where known without reading it (else None)."""
    check_name(name)
    if name == "planted":
        return None  # generated: dataset.planted.train_size / test_size (checked by hfc.planted)
    if name != "imagefolder":
        return FULL_SIZES[name]
    if root is None or not Path(root).expanduser().is_dir():
        return None
    found = imagefolder_files(Path(root).expanduser())
    return len(found["train"]), len(found["test"])


def source_files(name: str, root: str | os.PathLike | None = None) -> list[Path]:
    """The raw files a dataset would be read from now, so that a change to them is seen.

    For a named ``root``: the files under it that the loader reads (an ImageFolder's images,
    the IDX or CIFAR-10 batch files). With no root: Debian's Fashion-MNIST files when
    present, then the download cache. An empty list means nothing is there yet (a download).
    """
    check_name(name)
    if name == "planted":
        return []  # generated from its settings and hfc/planted.py, both params of prepare_dataset
    if name == "imagefolder":
        if root is None or not Path(root).expanduser().is_dir():
            return []
        found = imagefolder_files(Path(root).expanduser())
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
        wanted = CIFAR_TRAIN + CIFAR_TEST + (CIFAR_META,)
    else:
        wanted = tuple(base + ext for base, _, _ in IDX_FILES.values() for ext in ("", ".gz"))
    folder = TORCHVISION[name][1]
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


def check_name(name: str) -> None:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


def check_image_size(image_size: Any) -> int:
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive integer or None, got {image_size!r}")
    return image_size


# ----------------------------------------------------------------------------- loading


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR).expanduser()


def check_dataset(d: dict) -> None:
    """Raise ValueError when the dict is not a well-formed dataset."""
    missing = [k for k in REQUIRED_KEYS if k not in d]
    if missing:
        raise ValueError(f"missing keys {missing}")
    classes = d["classes"]
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise ValueError(f"classes must be a non-empty list of str, got {classes!r}")
    for split in ("train", "test"):
        images, labels = d[f"{split}_images"], d[f"{split}_labels"]
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"{split}_images must be a uint8 N×C×H×W tensor, got {describe(images)}")
        if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64 or labels.ndim != 1:
            raise ValueError(f"{split}_labels must be an int64 vector, got {describe(labels)}")
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


def describe(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        return f"{x.dtype} tensor of shape {tuple(x.shape)}"
    return type(x).__name__


# ----------------------------------------------------------------------------- canonical file
