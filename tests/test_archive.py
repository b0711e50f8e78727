"""Safe extraction: every refusal, the size ceiling, and no half-written folder after a failure."""

from __future__ import annotations

import io
import os
import socket
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from xami_core import XamiDataError
from xami_core.io import archive as archive_mod
from xami_core.io.archive import COMPLETE_MARKER, extract_zip_to, extracted_dir


def _zip(path: Path, members: list[tuple[str, bytes, int | None]]) -> Path:
    """A zip with (name, data, unix mode or None) members; modes set the type bits like `zip -y` does."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir()) if parent.exists() else []


GOOD = ("xami_dataset/train/_annotations.coco.json", b"{}", stat.S_IFREG | 0o644)


@pytest.mark.parametrize(
    ("member", "message"),
    [
        # absolute POSIX path
        (("/etc/passwd", b"x", None), "absolute path"),
        # Windows drive letter
        (("C:/Windows/evil.txt", b"x", None), "absolute path"),
        # parent traversal in the middle
        (("xami_dataset/../../evil.txt", b"x", None), "'..'"),
        # parent traversal with Windows separators
        (("..\\evil.txt", b"x", None), "'..'"),
        # a symbolic link (target text as data)
        (("xami_dataset/link", b"/etc/passwd", stat.S_IFLNK | 0o777), "symbolic link"),
        # a character device
        (("xami_dataset/tty", b"", stat.S_IFCHR | 0o600), "device"),
        # a block device
        (("xami_dataset/disk", b"", stat.S_IFBLK | 0o600), "device"),
        # a FIFO
        (("xami_dataset/pipe", b"", stat.S_IFIFO | 0o600), "FIFO"),
    ],
)
def test_refuses_dangerous_members_before_writing(tmp_path, member, message):
    archive = _zip(tmp_path / "bad.zip", [GOOD, member])
    dest = tmp_path / "out" / "ds"
    with pytest.raises(XamiDataError, match=message) as err:
        extract_zip_to(archive, dest)
    assert str(archive) in str(err.value) and member[0] in str(err.value)
    assert not dest.exists()
    assert _leftovers(tmp_path / "out") == []  # nothing written, not even the temp folder
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (None, b"{}"),  # no mode at all (Windows tools)
        (0o644, b"{}"),  # bare permission bits, no file type (some zip tools)
        (stat.S_IFREG | 0o600, b"{}"),  # a regular file
    ],
)
def test_plain_files_pass_whatever_their_mode_bits(tmp_path, mode, expected):
    archive = _zip(tmp_path / "ok.zip", [("d/_annotations.coco.json", b"{}", mode)])
    dest = extract_zip_to(archive, tmp_path / "out")
    assert (dest / "d" / "_annotations.coco.json").read_bytes() == expected
    assert (dest / COMPLETE_MARKER).exists()


def test_declared_size_over_ceiling_is_refused_up_front(tmp_path):
    archive = _zip(tmp_path / "big.zip", [("a.bin", b"\0" * 5000, None)])
    with pytest.raises(XamiDataError, match=r"more than the ceiling of 3\.9 KB"):
        extract_zip_to(archive, tmp_path / "out" / "ds", max_bytes=4000)
    assert _leftovers(tmp_path / "out") == []


def test_lying_headers_are_caught_while_copying(tmp_path, monkeypatch):
    # Declared sizes pass (2 x 1000 bytes), but the members inflate to more than declared:
    # the bytes counted while copying trip the ceiling.
    archive = _zip(tmp_path / "bomb.zip", [("a.bin", b"\0" * 1000, None), ("b.bin", b"\0" * 1000, None)])
    real_read = zipfile.ZipExtFile.read

    def inflating_read(self, n=-1):
        data = real_read(self, n)
        return data + b"\0" * 3000 if data else data

    monkeypatch.setattr(zipfile.ZipExtFile, "read", inflating_read)
    with pytest.raises(XamiDataError, match="'b.bin' pushes the unpacked size past the ceiling of 6000"):
        extract_zip_to(archive, tmp_path / "out" / "ds", max_bytes=6000)
    assert _leftovers(tmp_path / "out") == []


def test_too_many_members(tmp_path):
    archive = _zip(tmp_path / "many.zip", [(f"f{i}", b"", None) for i in range(5)])
    with pytest.raises(XamiDataError, match="5 members, more than the limit of 4"):
        extract_zip_to(archive, tmp_path / "out", max_members=4)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a zip at all", "not a readable zip"),  # garbage
        (b"", "not a readable zip"),  # empty file
    ],
)
def test_unreadable_archives(tmp_path, content, message):
    path = tmp_path / "x.zip"
    path.write_bytes(content)
    with pytest.raises(XamiDataError, match=message):
        extract_zip_to(path, tmp_path / "out")


def test_corrupt_member_is_a_clear_error_and_leaves_nothing(tmp_path):
    data = os.urandom(20000)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("d/a.bin", data)
    raw = bytearray(buf.getvalue())
    at = raw.find(data[:64])
    raw[at + 1000] ^= 0xFF  # flip a byte inside the stored data: CRC mismatch on read
    path = tmp_path / "crc.zip"
    path.write_bytes(bytes(raw))
    with pytest.raises(XamiDataError, match="'d/a.bin' cannot be read"):
        extract_zip_to(path, tmp_path / "out" / "ds")
    assert _leftovers(tmp_path / "out") == []


@pytest.mark.parametrize("failure", [OSError("No space left on device"), KeyboardInterrupt()])
def test_interrupted_extraction_leaves_nothing_half_written(tmp_path, monkeypatch, failure):
    # Fail on the second chunk read of the second member: some files are already written.
    archive = _zip(tmp_path / "ds.zip", [("d/a.bin", b"a" * 3000, None), ("d/b.bin", b"b" * 3000, None)])
    monkeypatch.setattr(archive_mod, "CHUNK", 1024)
    calls = {"n": 0}
    real_read = zipfile.ZipExtFile.read

    def failing_read(self, n=-1):
        calls["n"] += 1
        if calls["n"] == 6:
            raise failure
        return real_read(self, n)

    monkeypatch.setattr(zipfile.ZipExtFile, "read", failing_read)
    dest = tmp_path / "out" / "ds"
    with pytest.raises((XamiDataError, KeyboardInterrupt)):
        extract_zip_to(archive, dest)
    assert calls["n"] == 6
    assert not dest.exists() and _leftovers(tmp_path / "out") == []


def test_progress_reports_and_macos_folders_skipped(tmp_path):
    archive = _zip(tmp_path / "ds.zip", [("d/a.bin", b"a" * 3000, None), ("__MACOSX/d/._a.bin", b"x", None)])
    seen: list[tuple[int, int]] = []
    dest = extract_zip_to(archive, tmp_path / "out", on_bytes=lambda done, total: seen.append((done, total)))
    assert not (dest / "__MACOSX").exists()
    assert seen[-1] == (3000, 3001)  # done counts what was written; total is the declared size
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_extracted_dir_is_made_once_and_discards_leftovers(tmp_path, monkeypatch):
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path / "cache"))
    archive = _zip(tmp_path / "ds.zip", [GOOD])
    first = extracted_dir(archive)
    marker_time = (first / COMPLETE_MARKER).stat().st_mtime_ns
    assert extracted_dir(archive) == first
    assert (first / COMPLETE_MARKER).stat().st_mtime_ns == marker_time  # reused, not redone
    # A folder without the marker (a crash mid-way in an older version) is never used.
    (first / COMPLETE_MARKER).unlink()
    (first / "stray.txt").write_text("half")
    again = extracted_dir(archive)
    assert again == first and (again / COMPLETE_MARKER).exists() and not (again / "stray.txt").exists()


def test_extracted_dir_removes_stale_temp_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path / "cache"))
    parent = tmp_path / "cache" / "extracted"
    stale, fresh = parent / ".old-abc123", parent / ".busy-def456"
    stale.mkdir(parents=True)
    fresh.mkdir()
    old = time.time() - 3 * 24 * 3600
    os.utime(stale, (old, old))
    extracted_dir(_zip(tmp_path / "ds.zip", [GOOD]))
    assert not stale.exists()  # left by a killed process
    assert fresh.exists()  # may belong to a running extraction


def test_new_archive_content_gets_a_new_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path / "cache"))
    archive = _zip(tmp_path / "ds.zip", [GOOD])
    first = extracted_dir(archive)
    _zip(archive, [GOOD, ("xami_dataset/valid/_annotations.coco.json", b"{}", None)])
    os.utime(archive, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    second = extracted_dir(archive)
    assert second != first and (second / "xami_dataset" / "valid").is_dir()


# ---------------------------------------------------------------- names the file system cannot hold (issue 17)

LIMIT = os.pathconf(Path(__file__).parent, "PC_NAME_MAX")


@pytest.mark.parametrize(
    ("members", "message"),
    [
        # a member name one byte longer than the file system allows
        ([GOOD, ("d/" + "x" * (LIMIT + 1) + "", b"x", None)], rf"member 'd/x+…x+ \(\d+ characters\)' has a name of {LIMIT + 1} bytes"),
        # a long folder name in the middle of a member's path
        ([("d/" + "f" * (LIMIT + 5) + "/a.jpg", b"x", None)], rf"has a name of {LIMIT + 5} bytes"),
        # a file, then a folder of the same name
        ([("xami/a", b"x", None), ("xami/a/b.jpg", b"y", None)], r"member 'xami/a' is a file, but member 'xami/a/b.jpg' needs a folder"),
        # the folder first, then the file (the other order)
        ([("xami/a/b.jpg", b"y", None), ("xami/a", b"x", None)], r"member 'xami/a' is a file, but member 'xami/a/b.jpg' needs a folder"),
        # an explicit folder entry and a file of the same name
        ([("xami/a/", b"", stat.S_IFDIR | 0o755), ("xami/a", b"x", None)], r"member 'xami/a' is a file, but member 'xami/a/' needs a folder"),
        # the clash deeper down: a file where a parent folder must be
        ([("x/y", b"1", None), ("x/y/z/w.jpg", b"2", None)], r"member 'x/y' is a file, but member 'x/y/z/w.jpg'"),
    ],
)
def test_names_the_file_system_cannot_hold_are_refused_before_writing(tmp_path, members, message):
    archive = _zip(tmp_path / "names.zip", members)
    with pytest.raises(XamiDataError, match=message) as err:
        extract_zip_to(archive, tmp_path / "out" / "ds")
    assert str(err.value).startswith(f"{archive}: member ") and "refusing to extract" in str(err.value)
    assert not (tmp_path / "out").exists()  # refused before anything is made


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_same_file_twice_is_not_a_clash(tmp_path):
    # Some tools append a newer copy of a member: the last one wins, as with unzip.
    archive = _zip(tmp_path / "twice.zip", [("d/a.txt", b"old", None), ("d/a.txt", b"new", None)])
    assert (extract_zip_to(archive, tmp_path / "out") / "d" / "a.txt").read_bytes() == b"new"


def test_destination_under_a_file_is_a_message(tmp_path):
    (tmp_path / "taken").write_text("a file")
    archive = _zip(tmp_path / "ok.zip", [GOOD])
    with pytest.raises(XamiDataError, match=r"cannot create the folder .*taken/sub to extract into"):
        extract_zip_to(archive, tmp_path / "taken" / "sub" / "ds")


def test_a_long_archive_name_gets_a_short_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path / "cache"))
    archive = _zip(tmp_path / ("x" * (LIMIT - 4) + ".zip"), [GOOD])  # the longest name the system allows
    folder = extracted_dir(archive)
    assert (folder / COMPLETE_MARKER).exists() and len(os.fsencode(folder.name)) <= LIMIT


# ---------------------------------------------------------------- temporary folders left by a killed process


def _partial(parent: Path, name: str, owner: str | None, age_s: float) -> Path:
    """A temporary folder as `extract_zip_to` makes it, with an owner line ('<host> <pid>') and an age."""
    folder = parent / name
    (folder / "xami_dataset").mkdir(parents=True)
    if owner is not None:
        (folder / archive_mod.OWNER_FILE).write_text(owner)
    then = time.time() - age_s
    os.utime(folder, (then, then))
    return folder


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


HOST = socket.gethostname()
MINUTE, DAY = 60, 24 * 3600


@pytest.mark.parametrize(
    ("name", "owner", "age_s", "removed"),
    [
        # this host, its process is gone: left by a killed download or extraction
        (".ds-abcd1234.xami-partial", "{host} {dead}", 5, True),
        # this host, its process still runs (the test's parent): an extraction in progress
        (".ds-abcd1234.xami-partial", "{host} {alive}", 5, False),
        # still running but over a day old: a reused process id, not that extraction
        (".ds-abcd1234.xami-partial", "{host} {alive}", 2 * DAY, True),
        # another machine sharing the cache: cannot be asked, so kept for a day
        (".ds-abcd1234.xami-partial", "elsewhere.example 1", 5 * MINUTE, False),
        (".ds-abcd1234.xami-partial", "elsewhere.example 1", 2 * DAY, True),
        # no owner file: killed right after creating it, or still starting (kept for a short grace)
        (".ds-abcd1234.xami-partial", None, 10, False),
        (".ds-abcd1234.xami-partial", None, 10 * MINUTE, True),
        # an unreadable owner line counts as none
        (".ds-abcd1234.xami-partial", "garbage", 10 * MINUTE, True),
        # a user's own hidden folder beside a --dest target: never touched, however old
        (".git-abcd1234", None, 30 * DAY, False),
        (".config", "{host} {dead}", 30 * DAY, False),
    ],
)
def test_stale_temporary_folders_are_removed_and_live_ones_kept(tmp_path, name, owner, age_s, removed):
    parent = tmp_path / "dest"
    owner = owner.format(host=HOST, dead=_dead_pid(), alive=os.getppid()) if owner else None
    folder = _partial(parent, name, owner, age_s)
    archive = _zip(tmp_path / "ds.zip", [GOOD])
    extract_zip_to(archive, parent / "xami_dataset")  # the next extraction into the same folder
    assert folder.exists() is not removed
    assert (parent / "xami_dataset" / COMPLETE_MARKER).exists()


def test_a_file_named_like_a_temporary_folder_is_left_alone(tmp_path):
    stray = tmp_path / ".notes-abcd1234.xami-partial"
    stray.write_text("mine")
    assert archive_mod.remove_stale_temps(tmp_path) == [] and stray.read_text() == "mine"


KILLED_EXTRACTION = """
import sys, time
from pathlib import Path
from xami_core.io.archive import extract_zip_to
extract_zip_to(Path(sys.argv[1]), Path(sys.argv[2]), on_bytes=lambda done, total: time.sleep(60))
"""


@pytest.mark.parametrize("cleanup", ["next extraction", "next start"])
def test_extraction_killed_midway_is_cleaned_up(tmp_path, monkeypatch, cleanup):
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path / "cache"))
    archive = _zip(tmp_path / "ds.zip", [GOOD, ("xami_dataset/train/a.jpg", b"j" * 5000, None)])
    dest = archive_mod.extraction_target(archive)
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-c", KILLED_EXTRACTION, str(archive), str(dest)], cwd=root,
                            env=os.environ | {"PYTHONPATH": str(root)})
    try:
        deadline = time.monotonic() + 60
        while not list(dest.parent.glob("*.xami-partial/xami_dataset")) and time.monotonic() < deadline:
            assert proc.poll() is None, "the extraction ended before it could be killed"
            time.sleep(0.05)
    finally:
        proc.kill()  # SIGKILL: no cleanup code runs, as after a power cut
        proc.wait()
    (left,) = dest.parent.glob(".*.xami-partial")
    assert (left / archive_mod.OWNER_FILE).read_text().split() == [HOST, str(proc.pid)]
    if cleanup == "next extraction":
        assert (extracted_dir(archive) / COMPLETE_MARKER).exists()
    else:
        assert archive_mod.remove_stale_temps() == [left]  # what the app does when a session starts
    assert not left.exists() and list(dest.parent.glob(".*")) == []
