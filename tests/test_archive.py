"""Safe extraction: every refusal, the size ceiling, and no half-written folder after a failure."""

from __future__ import annotations

import io
import os
import stat
import time
import zipfile
from pathlib import Path

import pytest

from xami_core import XamiDataError
from xami_core import archive as archive_mod
from xami_core.archive import COMPLETE_MARKER, extract_zip_to, extracted_dir


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
    with pytest.raises(XamiDataError, match="ceiling of 4000"):
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
