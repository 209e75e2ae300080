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
import base64
import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

__all__ = [
    "imported_modules",
    "code_fingerprint",
    "files_fingerprint",
    "changed_keys",
    "snakemake_record",
    "recorded_params",
    "params_changes",
]

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
    return _parsed(root, path)[0]


def _parse(root: Path, path: Path, source: bytes) -> tuple[frozenset[str], str]:
    """(hfc imports, sha256 of the syntax tree) of one file, from a single parse."""
    tree = ast.parse(source, filename=str(path))
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
    imports = frozenset(n for n in names if n == PACKAGE or n.startswith(PACKAGE + "."))
    return imports, hashlib.sha256(ast.dump(tree, annotate_fields=False).encode()).hexdigest()


# Every Snakemake call parses the Snakefile, and every rule asks for its script's fingerprint:
# parsing the package's sources each time cost about half a second per call (the test suite
# makes dozens of calls; every SLURM job makes one). What a parse gives is kept, keyed by the file's name
# and the sha256 of its bytes, so an entry can never be stale: in memory per version (path,
# mtime, size) within a process, and on disk across processes in the package's __pycache__
# folder, as Python keeps compiled modules (skipped where that folder is not writable).
_CACHE_NAME = "hfc-provenance-v1.json"
_disk: dict[Path, dict] = {}  # cache file -> {name: {"sha256", "imports", "tree"}}
_unsaved: set[Path] = set()  # roots with entries parsed since the last save


def _cache_file(root: Path) -> Path:
    return root / PACKAGE / "__pycache__" / _CACHE_NAME


def _disk_cache(root: Path) -> dict:
    file = _cache_file(root)
    if file not in _disk:
        try:
            loaded = json.loads(file.read_text())
            _disk[file] = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            _disk[file] = {}
    return _disk[file]


def _save_disk_cache(root: Path) -> None:
    if root not in _unsaved:
        return
    _unsaved.discard(root)
    file = _cache_file(root)
    tmp = file.with_name(f"{file.name}.{os.getpid()}.tmp")
    try:
        file.parent.mkdir(exist_ok=True)
        tmp.write_text(json.dumps(_disk_cache(root), sort_keys=True))
        os.replace(tmp, file)
    except OSError:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # nothing was written there


def _parsed(root: Path, path: Path) -> tuple[frozenset[str], str]:
    stat = path.stat()
    return _parsed_version(root, path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=None)
def _parsed_version(root: Path, path: Path, _mtime_ns: int, _size: int) -> tuple[frozenset[str], str]:
    source = path.read_bytes()
    sha = hashlib.sha256(source).hexdigest()
    name = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    cache = _disk_cache(root)
    entry = cache.get(name)
    if isinstance(entry, dict) and entry.get("sha256") == sha:
        try:
            return frozenset(entry["imports"]), str(entry["tree"])
        except (KeyError, TypeError):
            pass  # a damaged entry is parsed again and replaced
    imports, tree = _parse(root, path, source)
    cache[name] = {"sha256": sha, "imports": sorted(imports), "tree": tree}
    _unsaved.add(root)
    return imports, tree


def _package_state(root: Path) -> tuple:
    """(path, mtime, size) of every source file of the package: what the import graph reads."""
    state = []
    for path in sorted((root / PACKAGE).rglob("*.py")):
        stat = path.stat()
        state.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(state)


def imported_modules(script: str | os.PathLike, root: str | os.PathLike) -> list[Path]:
    """Every ``hfc`` source file ``script`` reaches through imports; ``root`` holds ``hfc/``."""
    root = Path(root).resolve()
    script = Path(script).resolve()
    stat = script.stat()
    # The Snakefile asks once per rule; the graph is walked again only when a file changed.
    reached = list(_reached(script, stat.st_mtime_ns, stat.st_size, root, _package_state(root)))
    _save_disk_cache(root)
    return reached


@lru_cache(maxsize=None)
def _reached(script: Path, _mtime_ns: int, _size: int, root: Path, _state: tuple) -> tuple[Path, ...]:
    seen: set[Path] = set()
    todo = [script]
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
    return tuple(sorted(seen))


def code_fingerprint(script: str | os.PathLike, root: str | os.PathLike) -> str:
    """sha256 over the syntax trees of ``script`` and of the ``hfc`` modules it reaches.

    Module paths enter relative to ``root``, so the fingerprint is the same in every clone.
    """
    root = Path(root).resolve()
    digest = hashlib.sha256()
    for path in [Path(script).resolve(), *imported_modules(script, root)]:
        name = path.relative_to(root) if path.is_relative_to(root) else Path(path.name)
        digest.update(f"{name.as_posix()}\0{_parsed(root, path)[1]}\n".encode())
    _save_disk_cache(root)
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


# ----------------------------------------------------------------------------- finished results
# What Snakemake recorded about an output when its job finished (.snakemake/metadata, the
# default file backend): among other things the job's params, as the sorted repr() of each.
# The workflow's guard (rules/guard.smk) compares them with the params the job would get now,
# because Snakemake reruns a job whose params changed, deleting its finished outputs first.

# Params that are fingerprints of code or raw files rather than settings: a change of them
# reruns the jobs by design (see the module docstring), so the guard does not refuse it.
FINGERPRINT_PATTERNS = (
    re.compile(r"'[0-9a-f]{16}'"),  # code_fingerprint
    re.compile(r"'\d+ files, sha256 [0-9a-f]{16}'"),  # files_fingerprint
)


def snakemake_record(path: str | os.PathLike, workdir: str | os.PathLike = ".") -> dict | None:
    """Snakemake's metadata record of the output ``path`` (relative to ``workdir``), or None.

    None when there is none (the output was made elsewhere, or .snakemake was removed) or it
    cannot be read. Only Snakemake's default file backend is read.
    """
    folder = Path(workdir) / ".snakemake" / "metadata"
    if not folder.is_dir():
        return None
    try:
        max_len = os.pathconf(folder, "PC_NAME_MAX") or 255
    except (OSError, ValueError):
        max_len = 255
    b64 = base64.urlsafe_b64encode(str(path).encode()).decode()
    parts = [b64[i : i + max_len - 1] for i in range(0, len(b64), max_len - 1)]
    record = folder.joinpath(*(["@" + s for s in parts[:-1]] + [parts[-1]]))
    try:
        loaded = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def recorded_params(record: dict | None) -> list[str] | None:
    """The params strings of a Snakemake record, None where it holds none Snakemake would use."""
    if not record or (record.get("record_format_version") or 0) < 6:
        return None  # Snakemake itself ignores the params of older records
    params = record.get("params")
    if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
        return None
    return params


def param_string(value) -> str | None:
    """``repr`` of a param as Snakemake records it (None for values it does not record)."""
    if value is None or isinstance(value, (int, float, bool, str, list, tuple, dict, set, frozenset)):
        return repr(value)
    return None


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def _is_fingerprint(text: str) -> bool:
    return any(p.fullmatch(text) for p in FINGERPRINT_PATTERNS)


def params_changes(
    recorded: list[str], current: dict[str, object], ignore: Iterable[str] = ("code", "source")
) -> list[tuple[str, object, object]]:
    """(dotted key, recorded value, current value) of every setting whose param differs.

    ``recorded`` is Snakemake's list of param strings (names are not recorded), ``current``
    the params the job gets now, by name. Snakemake reruns the job when the two sets of
    strings differ; this says which settings made them differ: each changed param is paired
    with a recorded value of its type (dicts: the one sharing the most keys) and dicts are
    compared key by key. Code and file fingerprints (``ignore``) are left out, as is a change
    of nothing but the order of a dict's keys (then ``"(key order)"`` is the key's value).
    """
    ignore = set(ignore)
    new = {name: param_string(value) for name, value in current.items() if name not in ignore}
    new = {name: text for name, text in new.items() if text is not None}
    ignored_now = {param_string(v) for n, v in current.items() if n in ignore}
    old = [t for t in recorded if t not in ignored_now and not _is_fingerprint(t)]
    # As multisets: two params of equal value (e.g. two None) are recorded twice.
    unmatched_old = Counter(old)
    unmatched_old.subtract(Counter(new.values()))
    only_new = {name: text for name, text in new.items() if text not in set(old)}
    candidates = [(_literal(t), t) for t, n in unmatched_old.items() for _ in range(max(n, 0))]
    changes: list[tuple[str, object, object]] = []
    unpaired = []
    for name, text in sorted(only_new.items()):
        value = _literal(text)
        same_type = [c for c in candidates if type(c[0]) is type(value)]
        if isinstance(value, dict):
            scored = [(len(set(c[0]) & set(value)), i, c) for i, c in enumerate(same_type)]
            scored = [s for s in scored if s[0] > 0]
            partner = max(scored)[2] if scored else None
        else:
            partner = same_type[0] if len(same_type) == 1 else None
        if partner is None:
            unpaired.append((name, value, same_type))
            continue
        candidates.remove(partner)
        if isinstance(value, dict):
            found = changed_keys({name: partner[0]}, {name: value})
            changes += found or [(name, "(key order)", "(key order)")]
        else:
            changes.append((name, partner[0], value))
    if len(unpaired) == 1 and len(candidates) == 1:  # e.g. None -> 30: the only one left
        changes.append((unpaired[0][0], candidates.pop()[0], unpaired[0][1]))
        unpaired = []
    for name, value, same_type in unpaired:
        shown = " or ".join(t for _, t in same_type) if same_type else "(not recorded)"
        changes.append((name, shown, value))
    changes.sort(key=lambda change: change[0])
    changes += [("(a setting no longer given)", old_value, "(absent)") for old_value, _ in candidates]
    return changes
