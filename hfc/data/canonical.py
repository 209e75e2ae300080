"""The canonical dataset file every step after ``prepare_dataset`` reads, and the frequency-split files."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch

from hfc.data.catalog import REQUIRED_KEYS, DatasetError, check_dataset
from hfc.files import UnreadableFileError, load_tensors


def save_canonical(dataset: dict, path: str | os.PathLike) -> str:
    """Write ``dataset`` atomically as a weights_only-loadable file; return its sha256.

    Values may be tensors, str, int, float, bool, or lists of str/int/float (e.g. the
    channel statistics). Tensors are copied to compact CPU storage, so a view of a larger
    tensor does not drag the whole storage into the file. The same content always gives
    the same bytes, hence the same checksum.
    """
    try:
        check_dataset(dataset)
    except ValueError as error:
        raise ValueError(f"save_canonical: not a dataset dict: {error}") from None
    payload = {}
    for key in list(REQUIRED_KEYS) + sorted(k for k in dataset if k not in REQUIRED_KEYS):
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
        check_dataset(dataset)
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
