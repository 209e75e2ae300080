"""Reading and writing the workflow's tensor files so that no file can run code.

Every ``.pt`` file the workflow reads (canonical and subset datasets, frequency splits,
checkpoints, ``model.pt``, external or detection weights) goes through :func:`load_tensors`,
which is ``torch.load(..., weights_only=True)``: only tensors, numbers, strings and
containers of them are unpickled, never a class or a function that a pickle names (a
``__reduce__`` that would write a file or start a process is refused before it runs). What
was refused, or why a file could not be read, is raised with the file's name and the advice
given by the caller.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch

__all__ = ["UnsafeFileError", "UnreadableFileError", "load_tensors", "atomic_save"]


class UnreadableFileError(ValueError):
    """A file is missing, truncated or not a torch file; the message names it."""


class UnsafeFileError(UnreadableFileError):
    """A file holds pickled Python objects beyond plain data; it was refused, not run."""


def load_tensors(path: str | os.PathLike, *, what: str, advice: str, map_location="cpu"):
    """``torch.load(path, weights_only=True)`` with errors that name ``what`` and ``path``.

    ``advice`` says how to fix it (e.g. "delete it and rerun the workflow").
    """
    path = Path(path)
    if not path.is_file():
        raise UnreadableFileError(f"{what} {path} does not exist; {advice}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's message lists the refused global (e.g. "GLOBAL posix.system"); keep its first line.
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UnsafeFileError(
            f"{what} {path} was refused: it holds pickled Python objects that a weights-only load does "
            f"not run ({first}). hfc-repro never writes such files, so it was written by something else "
            f"or damaged; {advice}"
        ) from None
    except Exception as error:  # noqa: BLE001 - a torn or foreign file raises many kinds of errors
        raise UnreadableFileError(f"cannot read {what} {path} ({type(error).__name__}: {error}); {advice}") from None


def atomic_save(obj, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename: a reader never sees half a file."""
    path = str(path)
    tmp = f"{path}.tmp{os.getpid()}"
    torch.save(obj, tmp)
    os.replace(tmp, path)
