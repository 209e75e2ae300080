"""Folders that several tests read, made once per test session (also across pytest-xdist workers)."""

import json
import os
import shutil
from pathlib import Path

from filelock import FileLock


def made_once(tmp_path_factory, name: str, make) -> tuple[Path, dict]:
    """Folder ``name``, filled by ``make(folder)`` once per test session, also across pytest-xdist
    workers: the first worker to ask makes it under a file lock, the others wait and read it.
    ``make`` returns a JSON-able dict, handed to every caller; if it raises, the next caller
    tries again. Only for folders the tests read (or copy) without changing them."""
    base = tmp_path_factory.getbasetemp()
    # under xdist each worker's basetemp lies in the session's folder; without it, use our own
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder, done = shared / name, shared / f"{name}.json"
    with FileLock(str(shared / f"{name}.lock")):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            done.write_text(json.dumps(make(folder)))
    return folder, json.loads(done.read_text())
