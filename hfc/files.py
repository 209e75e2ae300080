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

__all__ = ["UnsafeFileError", "UnreadableFileError", "not_a_file", "load_tensors", "atomic_save", "unwritable_folders"]


class UnreadableFileError(ValueError):
    """A file is missing, truncated or not a torch file; the message names it."""


class UnsafeFileError(UnreadableFileError):
    """A file holds pickled Python objects beyond plain data; it was refused, not run."""


def not_a_file(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not a readable regular file ("is a directory, ...", "does not exist"), or None."""
    path = Path(path)
    if path.is_file():
        return None
    if path.is_dir():
        shown = sorted(p.name for p in path.iterdir() if p.is_file())[:5] if os.access(path, os.R_OK) else []
        inside = f" (it holds {', '.join(shown)}{', ...' if len(shown) == 5 else ''})" if shown else ""
        return f"is a directory, not a file{inside}: give the path of the file itself"
    if path.exists():
        return "is not a regular file (a device, socket or pipe)"
    if path.is_symlink():
        return f"is a broken symlink (to {os.readlink(path)})"
    return "does not exist"


def load_tensors(path: str | os.PathLike, *, what: str, advice: str, map_location="cpu"):
    """``torch.load(path, weights_only=True)`` with errors that name ``what`` and ``path``.

    ``advice`` says how to fix it (e.g. "delete it and rerun the workflow").
    """
    path = Path(path)
    problem = not_a_file(path)
    if problem is not None:
        raise UnreadableFileError(f"{what} {path} {problem}; {advice}")
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


def unwritable_folders(folder: str | os.PathLike, *, limit: int = 5) -> str | None:
    """Why the workflow could not write into ``folder`` (absolute paths named), or None.

    ``folder`` (e.g. ``results``) must be a folder, or creatable, and it and every folder under
    it writable: a job that cannot write its output fails late, with a bare "Permission denied".
    """
    folder = Path(folder).absolute()
    elsewhere = "run in a folder you can write (snakemake --directory <folder>)"
    if folder.exists() and not folder.is_dir():
        return f"{folder} is a file, not a folder: move it away, or {elsewhere}"
    if not folder.exists():
        parent = next(p for p in folder.parents if p.exists())
        if not os.access(parent, os.W_OK | os.X_OK):
            return f"{folder} does not exist and cannot be created, as {parent} is not writable: {elsewhere}"
        return None
    bad = [Path(d) for d, _, _ in os.walk(folder) if not os.access(d, os.W_OK | os.X_OK)]
    if not bad:
        return None
    shown = ", ".join(map(str, bad[:limit])) + (f", ... ({len(bad)} folders)" if len(bad) > limit else "")
    return f"no write permission in {shown}: make them writable (chmod -R u+w {folder}), or {elsewhere}"
