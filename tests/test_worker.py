"""Loads in a worker process: same tables as in process, clear messages when a limit is hit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests import builders as b
from xami_core import XamiDataError
from xami_core.io.loader import load_dataset, source_fingerprint
from xami_core.io.sample import write_sample
from xami_core.io.worker import load_in_worker, run_limited
from xami_ui import cache as st_cache

from .worker_targets import allocate, die, environment, raise_, sleep_after_writing_pid


def _write_coco(root: Path) -> Path:
    folder = root / "coco"
    b.write_split(folder / "train", b.coco(
        [b.image(0, width=64, height=64), b.image(1, width=64, height=64)],
        [b.polygon_ann(0, 0, 1, b.square(4, 4, 10)), b.polygon_ann(1, 1, 9, b.square(8, 8, 6))]))  # 9: unknown class
    return folder


@pytest.mark.parametrize("make, source, synthetic", [
    (lambda root: write_sample(root / "sample") / "xami_dataset", "synthetic sample", True),  # every split and class
    (_write_coco, "local", False),  # one split, with a problem (an unknown category id)
])
def test_a_worker_load_gives_the_same_dataset(tmp_path, make, source, synthetic):
    path = str(make(tmp_path))
    expected = load_dataset(path, source=source, synthetic=synthetic)
    got = load_in_worker(path, source, synthetic)
    for table in ("images", "annotations", "categories"):
        pd.testing.assert_frame_equal(getattr(got, table), getattr(expected, table))
    assert got.provenance == expected.provenance and got.problems == expected.problems


@pytest.mark.parametrize("content", [
    "{not json",  # malformed JSON
    "",  # an empty annotation file
    None,  # no such folder
])
def test_a_load_error_comes_back_with_its_message(tmp_path, content):
    if content is not None:
        b.write_split(tmp_path / "bad", content)
    with pytest.raises(XamiDataError) as in_process:
        load_dataset(str(tmp_path / "bad"))
    with pytest.raises(XamiDataError) as in_worker:
        load_in_worker(str(tmp_path / "bad"), "local", False)
    assert str(in_worker.value) == str(in_process.value)


@pytest.mark.parametrize("exc", [
    XamiDataError("a.json: record 3: expected a number"),  # the project's error, message kept
    FileNotFoundError(2, "No such file or directory", "/gone/a.png"),  # a file that vanished while loading
])
def test_exceptions_come_back_as_raised(exc):
    with pytest.raises(type(exc)) as err:
        run_limited(raise_, (exc,), what="loading x")
    assert str(err.value) == str(exc)


def test_the_worker_sees_the_settings_of_the_moment(monkeypatch):
    monkeypatch.setenv("XAMI_TEST_WORKER_SETTING", "set after the fork server started")
    run_limited(environment, ("PATH",), what="warming up")  # the fork server exists before the setting changes
    monkeypatch.setenv("XAMI_TEST_WORKER_SETTING", "changed")
    assert run_limited(environment, ("XAMI_TEST_WORKER_SETTING",), what="loading x") == "changed"


@pytest.mark.parametrize("limit_gb, need_gb", [
    (1.5, 4),  # a single allocation over the limit (the worker's own baseline is under 1 GB)
    (2, 3),  # the same with a different limit, which the message must name
])
def test_a_load_over_the_memory_limit_is_a_clear_error(monkeypatch, limit_gb, need_gb):
    monkeypatch.setenv("XAMI_LOAD_MAX_GB", str(limit_gb))
    with pytest.raises(XamiDataError) as err:
        run_limited(allocate, (need_gb,), what="loading /data/huge")
    assert str(err.value) == (f"loading /data/huge used more than {limit_gb:g} GB of memory (XAMI_LOAD_MAX_GB); "
                              "raise XAMI_LOAD_MAX_GB or load a smaller set")
    monkeypatch.setenv("XAMI_LOAD_MAX_GB", str(need_gb + 1))  # with room it works: the limit was the cause
    assert run_limited(allocate, (need_gb / 4,), what="loading /data/huge") == int(need_gb / 4 * 1024**3)


def test_a_load_over_the_time_limit_is_stopped(tmp_path, monkeypatch):
    monkeypatch.setenv("XAMI_LOAD_TIMEOUT_S", "3")
    pid_file = tmp_path / "pid"
    with pytest.raises(XamiDataError) as err:
        run_limited(sleep_after_writing_pid, (str(pid_file), 120), what="loading /data/slow")
    assert str(err.value) == ("loading /data/slow took longer than 3 s (XAMI_LOAD_TIMEOUT_S) and was stopped; "
                              "raise XAMI_LOAD_TIMEOUT_S or load a smaller set")
    with pytest.raises(ProcessLookupError):  # the worker is gone, not left running
        os.kill(int(pid_file.read_text()), 0)


@pytest.mark.parametrize("signum, said", [
    (signal.SIGSEGV, "crashed (SIGSEGV)"),  # a crash in a C extension
    (signal.SIGKILL, "was killed (SIGKILL, perhaps by the system for lack of memory)"),  # the OOM killer
])
def test_a_worker_that_dies_is_a_clear_error(monkeypatch, signum, said):
    monkeypatch.setenv("XAMI_LOAD_MAX_GB", "8")
    with pytest.raises(XamiDataError) as err:
        run_limited(die, (signum,), what="loading /data/odd")
    assert str(err.value) == (f"loading /data/odd stopped: the loading process {said} (the limit is 8 GB of memory; "
                              "if it ran out, raise XAMI_LOAD_MAX_GB or load a smaller set)")


@pytest.mark.parametrize("name, value", [
    ("XAMI_LOAD_MAX_GB", "lots"),  # not a number
    ("XAMI_LOAD_TIMEOUT_S", "0"),  # not positive
])
def test_a_bad_limit_setting_is_named(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(XamiDataError, match=f"setting {name}={value}: expected a positive number"):
        run_limited(environment, ("PATH",), what="loading x")


@pytest.fixture()
def empty_load_caches():
    """The dataset cache and the remembered failures emptied before and after."""
    st_cache._loaded_dataset.clear()
    st_cache.forget_failed_loads()
    yield
    st_cache._loaded_dataset.clear()
    st_cache.forget_failed_loads()


@pytest.mark.parametrize("in_worker", ["1", "0"])  # loaded in a worker, or in process (XAMI_LOAD_IN_WORKER=0)
def test_every_rerun_shares_one_dataset(tmp_path, monkeypatch, empty_load_caches, in_worker):
    monkeypatch.setenv("XAMI_LOAD_IN_WORKER", in_worker)
    path = str(_write_coco(tmp_path))
    first = st_cache.cached_dataset(path, "local", False, source_fingerprint(path))
    assert st_cache.cached_dataset(path, "local", False, source_fingerprint(path)) is first  # no copy per rerun
    pd.testing.assert_frame_equal(first.annotations, load_dataset(path).annotations)


def test_a_worker_failure_is_remembered(tmp_path, monkeypatch, empty_load_caches):
    monkeypatch.setenv("XAMI_LOAD_TIMEOUT_S", "1")
    calls: list[str] = []

    def slow(path, source, synthetic):  # stands in for a load that always takes too long
        calls.append(path)
        return run_limited(sleep_after_writing_pid, (str(tmp_path / "pid"), 60), what=f"loading {path}")

    monkeypatch.setattr(st_cache, "load_in_worker", slow)
    path = str(_write_coco(tmp_path))
    messages = []
    for _ in range(2):  # the rerun answers from memory, with the same message
        with pytest.raises(XamiDataError) as err:
            st_cache.cached_dataset(path, "local", False, source_fingerprint(path))
        messages.append(str(err.value))
    assert len(calls) == 1 and messages[0] == messages[1] and "took longer than 1 s" in messages[0]


def test_a_worker_whose_server_stopped_waiting_ends_quietly(tmp_path):
    # The server closed its end of the pipe (it gave up on the load, or it is shutting down): the worker
    # has nobody to answer and ends with exit code 0, without a traceback in the server's log.
    script = (
        "import multiprocessing as mp, os\n"
        "from xami_core.io.worker import _work\n"
        "reader, writer = mp.Pipe(duplex=False)\n"
        "reader.close()\n"
        "_work(writer, len, ('abc',), dict(os.environ), os.getcwd(), 8 * 1024**3)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1], check=False)
    assert (done.returncode, done.stderr) == (0, "")
