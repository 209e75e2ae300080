"""What a job's results depend on, as fingerprints that Snakemake compares between runs.

Snakemake reruns a job when its inputs are newer, its script is newer or its ``params``
changed. It does not see the ``hfc`` modules a script imports, nor raw data that is not an
input file. Rules therefore carry two params made here:

- ``code``: :func:`code_fingerprint` of the script and every ``hfc`` module it imports,
  directly or through other ``hfc`` modules (found by reading the import statements, lazy
  imports inside functions included). Each file enters as its syntax tree, so an edit of a
  comment or of the layout does not rerun anything, while any change of code or docstrings
  does, in exactly the jobs whose scripts reach that module.
- ``source``: :func:`files_fingerprint` of the raw dataset files (name, size and
  modification time of each), so adding, deleting or changing an image is seen.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

__all__ = ["imported_modules", "code_fingerprint", "files_fingerprint", "changed_keys"]

PACKAGE = "hfc"


def _module_file(root: Path, dotted: str) -> Path | None:
    base = root.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_of(root: Path, path: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1])
    return ".".join(parts[:-1])


def _imports(root: Path, path: Path) -> frozenset[str]:
    """Dotted names of the ``hfc`` modules that ``path`` imports (candidates, resolved later)."""
    stat = path.stat()
    return _imports_of(root, path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=None)
def _parse(path: Path, mtime_ns: int, size: int) -> ast.Module:
    """The syntax tree of one file version, parsed once per Snakemake start (read, never changed).

    Every rule's fingerprint walks the modules its script reaches, so without this cache the
    workflow's ~30 scripts parsed the shared hfc modules ~500 times at each start.
    """
    return ast.parse(path.read_text(), filename=str(path))


@lru_cache(maxsize=None)
def _imports_of(root: Path, path: Path, mtime_ns: int, size: int) -> frozenset[str]:
    tree = _parse(path, mtime_ns, size)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = _package_of(root, path).split(".") if path.is_relative_to(root) else []
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            # ``from hfc import data`` and ``from hfc.claims import registry`` name modules too.
            names.update(f"{base}.{a.name}" for a in node.names)
    return frozenset(n for n in names if n == PACKAGE or n.startswith(PACKAGE + "."))


def imported_modules(script: str | os.PathLike, root: str | os.PathLike) -> list[Path]:
    """Every ``hfc`` source file ``script`` reaches through imports; ``root`` holds ``hfc/``."""
    root = Path(root).resolve()
    seen: set[Path] = set()
    todo = [Path(script).resolve()]
    while todo:
        path = todo.pop()
        for dotted in _imports(root, path):
            parts = dotted.split(".")
            # a module brings its packages' __init__ files with it
            for depth in range(1, len(parts) + 1):
                found = _module_file(root, ".".join(parts[:depth]))
                if found is not None and found not in seen:
                    seen.add(found)
                    todo.append(found)
    return sorted(seen)


@lru_cache(maxsize=None)
def _tree_digest(path: Path, mtime_ns: int, size: int) -> str:
    tree = _parse(path, mtime_ns, size)
    return hashlib.sha256(ast.dump(tree, annotate_fields=False).encode()).hexdigest()


def code_fingerprint(script: str | os.PathLike, root: str | os.PathLike) -> str:
    """sha256 over the syntax trees of ``script`` and of the ``hfc`` modules it reaches.

    Module paths enter relative to ``root``, so the fingerprint is the same in every clone.
    """
    root = Path(root).resolve()
    digest = hashlib.sha256()
    for path in [Path(script).resolve(), *imported_modules(script, root)]:
        stat = path.stat()
        name = path.relative_to(root) if path.is_relative_to(root) else Path(path.name)
        digest.update(f"{name.as_posix()}\0{_tree_digest(path, stat.st_mtime_ns, stat.st_size)}\n".encode())
    return digest.hexdigest()[:16]


def files_fingerprint(paths: Iterable[str | os.PathLike], root: str | os.PathLike | None = None) -> str:
    """sha256 over (path, size, modification time) of each file: a change of any one is seen.

    Paths enter relative to ``root`` when given (so moving the whole folder changes nothing).
    An empty list gives the fingerprint of nothing.
    """
    digest = hashlib.sha256()
    count = 0
    for path in sorted(Path(p) for p in paths):
        stat = path.stat()
        name = path.relative_to(root) if root is not None and path.is_relative_to(root) else path
        digest.update(f"{name.as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        count += 1
    return f"{count} files, sha256 {digest.hexdigest()[:16]}"


def _flatten(value, prefix: str = "") -> dict:
    if isinstance(value, dict):
        out = {}
        for key, sub in value.items():
            out.update(_flatten(sub, f"{prefix}.{key}" if prefix else str(key)))
        return out or {prefix: {}}
    return {prefix: value}


def changed_keys(recorded: dict, current: dict) -> list[tuple[str, object, object]]:
    """(dotted key, recorded value, current value) for every leaf that differs (JSON-normalised)."""
    old = _flatten(json.loads(json.dumps(recorded, default=str)))
    new = _flatten(json.loads(json.dumps(current, default=str)))
    missing = object()
    return [
        (key, old.get(key, "(absent)"), new.get(key, "(absent)"))
        for key in sorted(set(old) | set(new))
        if old.get(key, missing) != new.get(key, missing)
    ]
