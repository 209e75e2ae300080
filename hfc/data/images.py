"""Readers of image files: an ImageFolder of PNG/JPEG images and torchvision's Imagenette."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from hfc.data.catalog import DatasetError, Unusable, check_dataset, check_image_size

log = logging.getLogger("hfc.data")


def load_imagefolder(root: str | os.PathLike | None, image_size: int | None) -> dict:
    import torchvision  # lazily: see _cifar10_unverified
    layout = "<root>/train/<class>/*.png|jpg and <root>/test/<class>/*"
    if root is None:
        raise DatasetError(
            f"dataset imagefolder needs a folder: set the config key dataset.root to one laid out as {layout}"
        )
    if image_size is not None:
        check_image_size(image_size)
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
    if len(train_classes) < 2:
        raise DatasetError(
            f"imagefolder: {root / 'train'} has one class folder only ({train_classes[0]!r}): a classifier needs two "
            "classes or more (with one, every prediction is right and the accuracy is 1.0); add a folder per class "
            "under train/ and test/"
        )

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
    untested = [c for c, i in class_to_idx.items() if i not in set(splits["test"].targets)]
    if untested:
        raise DatasetError(
            f"imagefolder: class(es) {untested} have training images in {root / 'train'} but no images in "
            f"{root / 'test'}: the test accuracy would leave them out while the model can still predict them. "
            f"Add test images of them (as {root / 'test'}/<class>/), or remove their train/ folders"
        )
    _check_labels(root, splits, train_classes)

    # First pass: headers only, to pick one mode and check sizes before decoding anything.
    headers = {s: [ds[i][0] for i in range(len(ds))] for s, ds in splits.items()}
    first_path, _, first_size = headers["train"][0]
    channels = _channels(root, [h for hs in headers.values() for h in hs])
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
        check_dataset(out)
    except ValueError as error:
        raise DatasetError(f"imagefolder {root}: {error}") from None
    return out


def _check_labels(root: Path, splits: dict, classes: list[str]) -> None:
    """Refuse images whose label a symlink got wrong, and one image file read twice.

    torchvision follows symlinks inside a class folder: a link to another class's folder (or
    image) files that class's images under this class's label, and a link into the other split
    puts test images in training. Each image file (after resolving links) must be read once,
    and never from inside another class's folder.
    """
    folders = {}  # real class folder -> (split, class)
    for split in ("train", "test"):
        for name in classes:
            folder = root / split / name
            if not folder.is_dir():
                continue
            real = folder.resolve()
            if real in folders and folders[real][1] != name:
                other = root / folders[real][0] / folders[real][1]
                raise DatasetError(
                    f"imagefolder: class folders {folder} and {other} are the same folder ({real}); its images "
                    "would be read under two labels: give each class its own folder"
                )
            folders.setdefault(real, (split, name))
    seen: dict[Path, str] = {}
    for split, ds in splits.items():
        for path, label in ds.samples:
            real = Path(path).resolve()
            if real in seen:
                raise DatasetError(
                    f"imagefolder: {path} and {seen[real]} are the same file ({real}), reached through a symlink: "
                    "it would be read twice (under two labels, or in both train and test); remove the symlink"
                )
            seen[real] = path
            for parent in real.parents:
                owner = folders.get(parent)
                if owner is None:
                    continue
                if owner[1] != classes[label] or owner[0] != split:
                    raise DatasetError(
                        f"imagefolder: {path} is filed under {split}/{classes[label]} but is the image {real} of "
                        f"{owner[0]}/{owner[1]}, reached through a symlink: it would be read with the wrong label "
                        "or in the wrong split: remove the symlink (or copy the images you mean into that folder)"
                    )
                break


# Modes whose images have one grey band (LA: with alpha, dropped when read).
_GREY_MODES = ("1", "L", "LA")


def _channels(root: Path, headers: list[tuple[str, str, tuple[int, int]]]) -> int:
    """1 for a greyscale dataset, 3 for a colour one; refuses a greyscale one with colour images.

    A colour image among mostly colour ones: the grey images become RGB (nothing is lost). A
    colour-mode image among mostly greyscale ones is read as grey when its bands are equal (a
    grey image saved as RGB); one with real colour would make the whole dataset three-channel,
    so it is refused, naming it.
    """
    grey = [path for path, mode, _ in headers if mode in _GREY_MODES]
    colour = [(path, mode) for path, mode, _ in headers if mode not in _GREY_MODES]
    if not colour:
        return 1
    if len(colour) > len(grey):
        if grey:
            log.warning(
                "imagefolder %s: %d greyscale image(s) among %d colour ones (e.g. %s) are read as RGB",
                root, len(grey), len(colour), grey[0],
            )  # fmt: skip
        return 3
    coloured = [(path, mode) for path, mode in colour if not _is_grey(path)]
    if not coloured:
        return 1
    shown = ", ".join(f"{path} ({mode})" for path, mode in coloured[:5]) + (", ..." if len(coloured) > 5 else "")
    raise DatasetError(
        f"imagefolder: {root} is a greyscale dataset ({len(grey)} of {len(headers)} images) but {len(coloured)} "
        f"image(s) have colour: {shown}. Reading them would turn the whole dataset into three channels. Convert "
        "them to greyscale (PIL: Image.open(p).convert('L').save(p)) or remove them; for a colour dataset, "
        "convert the greyscale images to RGB"
    )


def _is_grey(path: str) -> bool:
    try:
        with Image.open(path) as img:
            img.load()
            pixels = np.asarray(img.convert("RGB"))
    except (OSError, UnidentifiedImageError, SyntaxError) as error:
        raise DatasetError(f"imagefolder: cannot read image {path}: {error}; remove or replace it") from None
    return bool((pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all())


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


def read_imagenette(place: Path, folder: str, size: str, image_size: int, where: str) -> dict:
    import torchvision

    for split in ("train", "val"):
        if not (place / folder / split).is_dir():
            raise Unusable(f"missing {place / folder / split} (no such directory)")
    out: dict = {}
    loader = lambda path: _read_image_cropped(path, image_size)  # noqa: E731
    for split, tv_split in (("train", "train"), ("test", "val")):
        try:
            ds = torchvision.datasets.Imagenette(str(place), split=tv_split, size=size, download=False, loader=loader)
        except (FileNotFoundError, RuntimeError, KeyError) as error:
            raise Unusable(f"torchvision could not read {place / folder / tv_split}: {type(error).__name__}: {error}")
        if len(ds) == 0:
            raise Unusable(f"{place / folder / tv_split} holds no .JPEG images")
        if split == "train":
            out["classes"] = [names[0] for names in ds.classes]
            wnids = list(ds.wnids)
        elif list(ds.wnids) != wnids:
            raise Unusable(f"the val classes {ds.wnids} differ from the train classes {wnids}")
        images = torch.empty((len(ds), 3, image_size, image_size), dtype=torch.uint8)
        labels = torch.empty(len(ds), dtype=torch.int64)
        for i in range(len(ds)):
            try:
                images[i], labels[i] = ds[i]
            except DatasetError as error:
                raise Unusable(str(error)) from None
        out[f"{split}_images"], out[f"{split}_labels"] = images, labels
    out["name"], out["source"] = "imagenette", where
    try:
        check_dataset(out)
    except ValueError as error:
        raise Unusable(f"corrupt: {error}") from None
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
