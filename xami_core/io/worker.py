"""Dataset loads in a separate process with a time and a memory limit, so one large or hostile
input cannot stall the server's other sessions (a long parse holds the GIL) or take its memory.

Workers fork from a `forkserver` process that has already imported the loader (pandas, numpy,
pycocotools), so a load costs a fork and one pickle of the result, not an interpreter start.
No Streamlit here; `st_cache` calls `load_in_worker`.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from xami_core.model import Dataset, XamiDataError
from xami_core.paths import setting_number, shown

LOAD_MAX_GB_ENV, DEFAULT_LOAD_MAX_GB = "XAMI_LOAD_MAX_GB", 8.0  # address space of one load; XAMI needs under 1 GB
LOAD_TIMEOUT_S_ENV, DEFAULT_LOAD_TIMEOUT_S = "XAMI_LOAD_TIMEOUT_S", 600.0  # XAMI loads in about a second
LOAD_IN_WORKER_ENV = "XAMI_LOAD_IN_WORKER"  # "0" loads in the server process (no limits; debugging)
# Imported once in the fork server, inherited by every worker (worker_boot first: see its docstring).
PRELOAD = ["xami_core.io.worker_boot", "xami_core.loader"]

_context: Any = None
_context_lock = threading.Lock()  # sessions run in threads


def load_max_bytes() -> int:
    """The address space one load may use, in bytes (`XAMI_LOAD_MAX_GB`, default 8 GB).

    Raises:
        XamiDataError: the setting is not a positive number.
    """
    return int(setting_number(LOAD_MAX_GB_ENV, DEFAULT_LOAD_MAX_GB) * 1024**3)


def load_timeout_s() -> float:
    """The seconds one load may take (`XAMI_LOAD_TIMEOUT_S`, default 600).

    Raises:
        XamiDataError: the setting is not a positive number.
    """
    return setting_number(LOAD_TIMEOUT_S_ENV, DEFAULT_LOAD_TIMEOUT_S)


def load_in_worker_enabled() -> bool:
    """Whether loads run in a worker process (`XAMI_LOAD_IN_WORKER`, default on; "0", "false", "no", "off" turn it off)."""
    return os.environ.get(LOAD_IN_WORKER_ENV, "").strip().lower() not in {"0", "false", "no", "off"}


def load_in_worker(path: str, source: str, synthetic: bool) -> Dataset:
    """`loader.load_dataset(path, source, synthetic)` run in a worker process under the load limits.

    Raises:
        XamiDataError: the load failed (the worker's own message), used more memory than
            `XAMI_LOAD_MAX_GB`, took longer than `XAMI_LOAD_TIMEOUT_S`, or the worker died.
        OSError: raised by the load itself (a file that vanished while loading).
    """
    from xami_core.io.loader import load_dataset  # noqa: PLC0415 - pickled by reference; the worker already has it

    return run_limited(load_dataset, (path, source, synthetic), what=f"loading {shown(str(path))}")


def run_limited(target: Callable[..., Any], args: tuple, what: str) -> Any:
    """`target(*args)` in a worker process under the load limits; `what` ("loading X") starts the messages.

    `target` must be a module-level function (it is pickled by reference) and its result picklable.

    Raises:
        XamiDataError: over the memory or time limit, the worker died, or `target` raised it.
        Exception: any other exception `target` raised, re-raised here (a RuntimeError if it does not pickle).
    """
    max_bytes, timeout = load_max_bytes(), load_timeout_s()
    gb, limit_hint = max_bytes / 1024**3, f"raise {LOAD_MAX_GB_ENV} or load a smaller set"
    receiver, sender = _ctx().Pipe(duplex=False)
    # The fork server keeps the environment and folder it started with: send the current ones.
    worker = _ctx().Process(target=_work, args=(sender, target, args, dict(os.environ), os.getcwd(), max_bytes),
                            daemon=True, name="xami-load")
    try:
        worker.start()
        sender.close()  # only the worker writes: its death is then an end of file here
        if not receiver.poll(timeout):
            raise XamiDataError(f"{what} took longer than {timeout:g} s ({LOAD_TIMEOUT_S_ENV}) and was stopped; "
                                f"raise {LOAD_TIMEOUT_S_ENV} or load a smaller set")
        try:
            status, value = receiver.recv()
        except EOFError:
            worker.join(5)
            raise XamiDataError(f"{what} stopped: the loading process {_death(worker.exitcode)} "
                                f"(the limit is {gb:g} GB of memory; if it ran out, {limit_hint})") from None
    finally:
        receiver.close()
        sender.close()
        if worker.is_alive():
            worker.kill()
        if worker.pid is not None:
            worker.join(5)
    if status == "ok":
        return value
    if status == "memory":
        raise XamiDataError(f"{what} used more than {gb:g} GB of memory ({LOAD_MAX_GB_ENV}); {limit_hint}")
    if status == "error":
        raise value
    raise RuntimeError(f"{what} failed: {value}")  # an exception that does not pickle, as text


def _ctx() -> Any:
    """The forkserver context, its fork server preloading the loader (made once per process)."""
    global _context  # noqa: PLW0603 - one fork server per process
    with _context_lock:
        if _context is None:
            context = mp.get_context("forkserver")
            context.set_forkserver_preload(PRELOAD)
            _context = context
        return _context


def _death(exitcode: int | None) -> str:
    """How a worker ended, in words ("was killed (SIGKILL)")."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return "was killed (SIGKILL, perhaps by the system for lack of memory)" if name == "SIGKILL" else f"crashed ({name})"
    return f"ended without an answer (exit code {exitcode})"


def _work(conn: Connection, target: Callable[..., Any], args: tuple, env: dict[str, str], cwd: str,
          max_bytes: int) -> None:
    """Worker body: apply the limits and the caller's environment, run `target`, send (status, value)."""
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = max_bytes if hard == resource.RLIM_INFINITY else min(max_bytes, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd if Path(cwd).is_dir() else "/")
        reply: tuple[str, Any] = ("ok", target(*args))
    except MemoryError:
        reply = ("memory", None)
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the server, which decides
        reply = ("error", exc)
    try:
        conn.send(reply)  # pickles the result: the one copy per load
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server stopped waiting (it gave up, or it is shutting down): nobody to tell
    except MemoryError:
        reply = None
        conn.send(("memory", None))
    except Exception as exc:  # noqa: BLE001 - an exception or result that does not pickle
        conn.send(("text", f"{type(reply[1]).__name__}: {reply[1]} (not sendable: {exc})"))
    finally:
        conn.close()
