"""Functions tests/test_worker.py runs in a load worker: module-level (pickled by reference) and
in a module that imports only the standard library, so the worker starts them at once."""

from __future__ import annotations

import os
import time
from pathlib import Path


def allocate(gb: float) -> int:
    """Take `gb` GB at once (a load that needs more than the limit)."""
    return len(bytearray(int(gb * 1024**3)))


def sleep_after_writing_pid(pid_file: str, seconds: float) -> None:
    """Say which process this is, then take too long."""
    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(seconds)


def die(signum: int) -> None:
    """End the worker abruptly (a crash in a C extension, the kernel's OOM killer)."""
    os.kill(os.getpid(), signum)


def raise_(exc: BaseException) -> None:
    """Raise `exc` in the worker."""
    raise exc


def environment(name: str) -> str | None:
    """The worker's value of one environment variable."""
    return os.environ.get(name)
