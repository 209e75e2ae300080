"""Logging for the workflow scripts: everything a job prints, and why it failed, goes to its log."""

from __future__ import annotations

import contextlib
import sys
import time
import traceback
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def logging_to(path: str) -> Iterator[Callable[[str], None]]:
    """Send stdout/stderr to ``path`` and yield a timestamped ``log(message)`` function.

    An exception is written to the log with its traceback and re-raised, so Snakemake marks
    the job failed (and removes its outputs) while the log says why.
    """
    with open(path, "a", buffering=1) as handle:
        old = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = handle

        def log(message: str) -> None:
            print(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {message}", file=handle, flush=True)

        try:
            yield log
        except BaseException as error:
            log(f"FAILED: {type(error).__name__}: {error}")
            traceback.print_exc(file=handle)
            raise
        finally:
            sys.stdout, sys.stderr = old
