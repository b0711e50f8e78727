"""The cache's quota with eviction, failed loads remembered, and a deleted extraction made again (issue 16)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests import builders as b
from xami_core import XamiDataError
from xami_core.io.archive import COMPLETE_MARKER, evict_cache, extracted_dir, extraction_target
from xami_core.io.loader import source_fingerprint
from xami_core.paths import format_bytes
from xami_ui import cache as st_cache

ENTRY = 1000  # bytes per made-up cache entry


def _extraction(root: Path, name: str, used: int) -> Path:
    """A complete extracted archive of ENTRY bytes (marker included), last used at `used` (epoch seconds)."""
    folder = root / "extracted" / name
    folder.mkdir(parents=True)
    (folder / COMPLETE_MARKER).write_text("x\n")
    (folder / "data.bin").write_bytes(b"\0" * (ENTRY - 2))
    os.utime(folder, (used, used))
    return folder


def _thumb(root: Path, name: str, used: int) -> Path:
    path = root / "thumbs" / name[:2] / f"{name}.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * ENTRY)
    os.utime(path, (used, used))
    return path


@pytest.mark.parametrize(
    ("quota_entries", "keep", "expected_left"),
    [
        # room for everything: nothing removed
        (7, (), {"old", "mid", "new", "aa01", "bb02", "sample", "upload"}),
        # two entries too many: the two least recently used go, whatever their kind
        (5, (), {"mid", "new", "bb02", "sample", "upload"}),
        # the oldest is the one just written: kept, the next oldest go instead
        (5, ("old",), {"old", "new", "bb02", "sample", "upload"}),
        # a quota below what cannot be evicted: every evictable entry but the kept one goes, never sample or upload
        (1, ("new",), {"new", "sample", "upload"}),
    ],
)
def test_eviction_removes_least_recently_used_evictable_entries(tmp_path, quota_entries, keep, expected_left):
    root = tmp_path / "cache"
    entries = {
        "old": _extraction(root, "old", 1_000), "aa01": _thumb(root, "aa01", 2_000),
        "mid": _extraction(root, "mid", 3_000), "bb02": _thumb(root, "bb02", 4_000),
        "new": _extraction(root, "new", 5_000),
    }
    for name, sub in (("sample", "sample-v1/xami_dataset"), ("upload", "uploads/0123456789abcdef")):
        (root / sub).mkdir(parents=True)
        (root / sub / "f.bin").write_bytes(b"\0" * ENTRY)
        entries[name] = root / sub
    removed = evict_cache(quota_entries * ENTRY, keep=tuple(entries[k] for k in keep), root=root)
    left = {name for name, path in entries.items() if path.exists()}
    assert left == expected_left
    assert {p.name.removesuffix(".jpg") for p in removed} == set(entries) - expected_left
    assert not list((root / "extracted").glob(".*"))  # renamed-then-removed folders leave nothing


def _zip(tmp_path: Path, name: str, n_images: int) -> Path:
    tree = tmp_path / f"{name}-tree"
    b.write_split(tree / "ds" / "train", b.coco([b.image(i, width=64, height=64) for i in range(n_images)], []))
    return b.zip_folder(tree, tmp_path / f"{name}.zip")


def test_a_new_extraction_evicts_older_ones_beyond_the_quota(tmp_path, monkeypatch):
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path / "cache"))
    first, second = _zip(tmp_path, "first", 3), _zip(tmp_path, "second", 3)
    one = extracted_dir(first)
    os.utime(one, (1_000, 1_000))  # long unused
    size = sum(f.stat().st_size for f in one.rglob("*") if f.is_file())
    monkeypatch.setenv("XAMI_CACHE_MAX_GB", str(1.5 * size / 1024**3))  # room for one extraction, not two
    two = extracted_dir(second)
    assert (two / COMPLETE_MARKER).exists() and not one.exists()
    assert extracted_dir(first) == one and not two.exists()  # used again: extracted again, the other evicted


@pytest.fixture()
def counted_loads(monkeypatch):
    """st_cache's loaders (in process and in a worker) wrapped in a counter; the load caches emptied before and after."""
    calls: list[str] = []
    real, real_worker = st_cache.load_dataset, st_cache.load_in_worker

    def load(path, source="local", synthetic=False):
        calls.append(path)
        return real(path, source=source, synthetic=synthetic)

    def load_in_worker(path, source, synthetic):
        calls.append(path)
        return real_worker(path, source, synthetic)

    monkeypatch.setattr(st_cache, "load_dataset", load)
    monkeypatch.setattr(st_cache, "load_in_worker", load_in_worker)
    st_cache._loaded_dataset.clear()
    st_cache.forget_failed_loads()
    yield calls
    st_cache._loaded_dataset.clear()
    st_cache.forget_failed_loads()


def test_a_failed_load_is_remembered_per_fingerprint(tmp_path, counted_loads):
    folder = tmp_path / "bad"
    b.write_split(folder, "{not json")
    path = str(folder)
    messages = []
    for _ in range(2):  # a rerun with the same content: answered from memory, same message
        with pytest.raises(XamiDataError) as err:
            st_cache.cached_dataset(path, "local", False, source_fingerprint(path))
        messages.append(str(err.value))
    assert len(counted_loads) == 1 and messages[0] == messages[1] and "malformed JSON" in messages[0]
    b.write_split(folder, b.coco([b.image(0, width=64, height=64)], []))  # fixed: a new fingerprint, tried again
    ds = st_cache.cached_dataset(path, "local", False, source_fingerprint(path))
    assert len(counted_loads) == 2 and len(ds.images) == 1


def test_a_deleted_extraction_is_made_again(tmp_path, monkeypatch, counted_loads):
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path / "cache"))
    archive = _zip(tmp_path, "ds", 2)
    path, fingerprint = str(archive), source_fingerprint(archive)
    ds = st_cache.cached_dataset(path, "local", False, fingerprint)
    assert st_cache.cached_dataset(path, "local", False, fingerprint) is not None and len(counted_loads) == 1
    assert all(Path(p).is_file() for p in ds.images["path"])
    shutil.rmtree(extraction_target(archive))  # someone cleans the cache while the server runs
    assert source_fingerprint(archive) == fingerprint  # the zip itself did not change
    again = st_cache.cached_dataset(path, "local", False, fingerprint)
    assert len(counted_loads) == 2
    assert list(again.images["path"]) == list(ds.images["path"]) and all(Path(p).is_file() for p in again.images["path"])


def test_uploads_count_towards_the_quota_and_are_never_evicted(tmp_path, monkeypatch):
    from xami_core.io.archive import UPLOADS, extract_upload  # noqa: PLC0415

    monkeypatch.setenv("XAMI_CACHE", str(tmp_path / "cache"))
    data = _zip(tmp_path, "up", 3).read_bytes()
    key, first = extract_upload(data, "first.zip")
    unpacked = sum(f.stat().st_size for f in first.rglob("*") if f.is_file())
    old = _extraction(tmp_path / "cache", "old", 1_000)  # evictable, and larger than the room left after two uploads
    (old / "more.bin").write_bytes(b"\0" * (len(data) + ENTRY))
    monkeypatch.setenv("XAMI_CACHE_MAX_GB", str((2 * unpacked + len(data) + ENTRY // 2) / 1024**3))
    _, second = extract_upload(data, "second.zip")  # fits once the extraction is evicted
    assert (second / COMPLETE_MARKER).exists() and first.exists() and not old.exists()
    with pytest.raises(XamiDataError, match=r"uploaded file 'third.zip': (this server's cache has no room for it|"
                                            r"unpacks to [\d.]+ [KMG]?B, more than the ceiling of [\d.]+ [KMG]?B)"):
        extract_upload(data, "third.zip")  # the two uploads fill the quota: refused, nothing evicted
    assert first.exists() and second.exists()
    assert sorted(p.name for p in (tmp_path / "cache" / UPLOADS).iterdir() if not p.name.startswith(".")) == \
        sorted([key, second.name])


def test_an_upload_over_the_room_left_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    from xami_core.io.archive import UPLOADS, extract_upload  # noqa: PLC0415

    monkeypatch.setenv("XAMI_CACHE", str(tmp_path / "cache"))
    data = _zip(tmp_path, "up", 3).read_bytes()
    monkeypatch.setenv("XAMI_CACHE_MAX_GB", str((len(data) - 1) / 1024**3))  # not even the zip fits
    with pytest.raises(XamiDataError, match=rf"uploaded file 'big.zip': this server's cache has no room for it "
                                            rf"\({re.escape(format_bytes(len(data)))}; the cache quota, XAMI_CACHE_MAX_GB, is"):
        extract_upload(data, "big.zip")
    assert [p for p in (tmp_path / "cache" / UPLOADS).iterdir()] == []


def test_a_zip_refused_for_want_of_room_opens_once_room_is_made(tmp_path, monkeypatch, counted_loads):
    from xami_core.io.archive import extract_upload  # noqa: PLC0415

    monkeypatch.setenv("XAMI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("XAMI_LOAD_IN_WORKER", "0")
    local = _zip(tmp_path, "local", 3)
    upload = extract_upload(_zip(tmp_path, "up", 3).read_bytes(), "up.zip")[1]
    held = sum(f.stat().st_size for f in upload.rglob("*") if f.is_file())
    monkeypatch.setenv("XAMI_CACHE_MAX_GB", str((held + 600) / 1024**3))  # the upload leaves too little room
    fingerprint = source_fingerprint(str(local))
    for _ in range(2):  # said again on a rerun, from a new check (not a remembered failure)
        with pytest.raises(XamiDataError, match="more than the ceiling of"):
            st_cache.cached_dataset(str(local), "local", False, fingerprint)
    shutil.rmtree(upload)  # its user deletes it (or it expires)
    ds = st_cache.cached_dataset(str(local), "local", False, fingerprint)
    assert len(ds.images) == 3 and counted_loads == [str(local)]
