"""``load_dataset``: the places a dataset is looked for, in order, and what is said when none works."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from hfc.data.catalog import (
    CACHE_ENV,
    CIFAR_META,
    CIFAR_TEST,
    CIFAR_TRAIN,
    DEBIAN_FASHION_MNIST_DIR,
    IDX_FILES,
    IMAGENETTE_SIZES,
    TORCHVISION,
    DatasetError,
    Unusable,
    check_dataset,
    check_image_size,
    check_name,
    default_cache_dir,
    image_shape,
)
from hfc.data.images import load_imagefolder, read_imagenette
from hfc.data.raw_files import load_cifar10, load_idx

log = logging.getLogger("hfc.data")


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
    check_name(name)
    if name == "imagefolder":
        return load_imagefolder(root, image_size)
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
    folder = TORCHVISION[name][1]
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
            except Unusable as problem:
                problems.append((where, str(problem)))
        raise DatasetError(_root_unusable_message(name, root, problems))
    problems.append(("dataset.root", "not set"))
    if name == "fashion_mnist":
        if debian_dir is None:
            problems.append(("Debian package dataset-fashion-mnist", "not looked at (debian_dir=None)"))
        else:
            places.append((f"Debian package dataset-fashion-mnist {debian_dir}", Path(debian_dir)))
    places.append((f"download cache {cache / folder}", cache / folder))

    dataset = _search(
        places,
        lambda directory, where: _load_from_directory(name, directory, where),
        problems,
        download=(lambda: _torchvision_download(name, cache)) if download else None,
        downloaded=(f"torchvision download into {cache}", cache / folder),
    )
    if dataset is not None:
        return dataset
    raise DatasetError(_not_found_message(name, problems, cache))


def _search(
    places: list[tuple[str, Path]],
    read: Callable[[Path, str], dict],
    problems: list[tuple[str, str]],
    download: Callable[[], None] | None,
    downloaded: tuple[str, Path],
) -> dict | None:
    """The first of ``places``, then a fresh download (``download`` not None), that ``read`` accepts.

    ``read(place, where)`` raises ``Unusable`` for a place without usable data; each such place
    adds (where, why) to ``problems``. ``downloaded`` is (where, place) of the download's files.
    None when nothing worked.
    """
    for where, place in places:
        try:
            dataset = read(place, where)
        except Unusable as problem:
            problems.append((where, str(problem)))
            continue
        return _found(dataset, where, problems)
    if download is None:
        problems.append(("torchvision download", "disabled (dataset.download is false)"))
        return None
    where, place = downloaded
    failure = ""
    try:
        download()
    except Exception as error:  # noqa: BLE001 - no network, HTTP errors, bad archives: all end up listed
        failure = f"failed: {type(error).__name__}: {error}; "
    try:
        dataset = read(place, where)
    except Unusable as problem:
        problems.append((where, f"{failure}{place}: {problem}"))
        return None
    return _found(dataset, where, problems)


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
    folder = TORCHVISION[name][1]
    if name == "cifar10":
        files = ", ".join(CIFAR_TRAIN + CIFAR_TEST + (CIFAR_META,))
        lines.append(
            f"  - unpack cifar-10-python.tar.gz and set the config key dataset.root to the folder holding "
            f"{folder}/ (or to {folder} itself, which holds {files})"
        )
    else:
        files = ", ".join(f"{base}.gz" for base, _, _ in IDX_FILES.values())
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
        raise Unusable("missing (no such directory)")
    with tempfile.TemporaryDirectory(prefix="hfc-data-") as scratch:
        if name == "cifar10":
            dataset = load_cifar10(directory, Path(scratch))
        else:
            dataset = load_idx(name, directory, Path(scratch))
    dataset["name"], dataset["source"] = name, where
    try:
        check_dataset(dataset)
    except ValueError as error:
        raise Unusable(f"corrupt: {error}") from None
    return dataset


def _torchvision_download(name: str, cache: Path) -> None:
    import torchvision  # lazily: see _cifar10_unverified
    cache.mkdir(parents=True, exist_ok=True)
    cls = getattr(torchvision.datasets, TORCHVISION[name][0])
    # Constructing with download=True fetches (and md5-checks) what is missing; we then read
    # the files through the same checks as any local copy.
    cls(root=str(cache), train=True, download=True)


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
    image_size = check_image_size(image_size)
    folder = IMAGENETTE_SIZES[size]
    cache = (Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()) / "imagenette"
    layout = f"{folder}/train/<wnid>/*.JPEG and {folder}/val/<wnid>/*.JPEG"
    problems: list[tuple[str, str]] = []
    if root is not None:
        # A root the user named is used or the job stops (as for the other datasets).
        root = Path(root).expanduser()
        try:
            return read_imagenette(root, folder, size, image_size, f"dataset.root {root}")
        except Unusable as problem:
            raise DatasetError(
                f"could not load dataset 'imagenette' from dataset.root {root}: {problem}. dataset.root must "
                f"hold {layout} (fast.ai's {folder}.tgz unpacked, size {size}); fix it, or set dataset.root "
                "to null to use the download cache"
            ) from None
    problems.append(("dataset.root", "not set"))

    def fetch() -> None:
        import torchvision

        cache.mkdir(parents=True, exist_ok=True)
        torchvision.datasets.Imagenette(str(cache), split="train", size=size, download=True)

    dataset = _search(
        [(f"download cache {cache}", cache)],
        lambda place, where: read_imagenette(place, folder, size, image_size, where),
        problems,
        download=fetch if download else None,
        downloaded=(f"torchvision download into {cache}", cache),
    )
    if dataset is not None:
        return dataset
    lines = ["could not load dataset 'imagenette'. Places looked in:"]
    lines += [f"  - {w}: {p}" for w, p in problems]
    lines.append(
        f"To provide the data: unpack {folder}.tgz (fast.ai's Imagenette, size {size}) and set the config key "
        f"dataset.root to the folder holding {folder}/ (with {folder}/train/<wnid>/*.JPEG and "
        f"{folder}/val/<wnid>/*.JPEG), or run online with dataset.download: true"
    )
    raise DatasetError("\n".join(lines))
