"""The on-disk index cache (issue 11, item 5): equal round trips, invalidation, crashes, damage, eviction, races."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.loading import tiled_coco, train_json, with_frames
from tests import builders as b
from tests.test_fast_load import COCO_FIXTURES, _fixture
from tests.test_loader import quirks_coco
from tests.test_yolo import _tiny_yolo
from xami_core import load_dataset
from xami_core.io import index_cache
from xami_core.io.archive import INDEX_MARKER, PARTIAL_SUFFIX, evict_cache, evictable_entries
from xami_core.io.loader import COCO_FILE
from xami_core.io.worker import load_in_worker
from xami_core.model import Dataset

KEY = "0" * 64
DEFAULT_MIN_ANNOTATIONS = index_cache.MIN_ANNOTATIONS  # before the fixture below sets it to 0


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """An empty cache folder per test, the index cache on, every data set large enough to be written."""
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("XAMI_INDEX_CACHE", raising=False)
    monkeypatch.delenv("XAMI_CACHE_MAX_GB", raising=False)
    monkeypatch.setattr(index_cache, "MIN_ANNOTATIONS", 0)
    return tmp_path / "cache"


def assert_same(got: Dataset, expected: Dataset) -> None:
    """Equal tables (values, dtypes, index, column order) and equal other fields."""
    for table in ("images", "annotations", "categories"):
        pd.testing.assert_frame_equal(getattr(got, table), getattr(expected, table), check_exact=True)
    segmentations = zip(got.annotations["segmentation"], expected.annotations["segmentation"])
    assert all(type(g) is type(e) for g, e in segmentations)  # lists stay lists, dicts dicts, None None
    assert [type(v) for v in got.annotations["coco_id"]] == [type(v) for v in expected.annotations["coco_id"]]
    assert got.provenance == expected.provenance
    assert got.problems == expected.problems
    assert got.content_key == expected.content_key


def entries(cache: Path) -> list[Path]:
    """The complete index entries in the cache."""
    folder = cache / "index"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and (p / INDEX_MARKER).is_file())


def uncached(path: Path, **kwargs) -> Dataset:
    """A load that neither reads nor writes the index cache."""
    with pytest.MonkeyPatch.context() as mp_:
        mp_.setenv("XAMI_INDEX_CACHE", "0")
        return load_dataset(path, **kwargs)


def _quirks(tmp: Path) -> Path:
    """Polygons of one and two parts, a box-only annotation, an uncompressed RLE, a hard negative."""
    b.write_split(tmp / "quirks" / "train", quirks_coco())
    return tmp / "quirks"


def _no_annotations(tmp: Path) -> Path:
    """Images only: empty annotation columns keep their dtypes."""
    b.write_split(tmp / "empty" / "train", b.coco([b.image(0), b.image(1)], []))
    return tmp / "empty"


def _zip(tmp: Path) -> Path:
    """The quirks in a zip archive (loaded through the cache's extraction)."""
    return b.zip_folder(_quirks(tmp / "tree"), tmp / "quirks.zip")


def fixture_path(name: str, tmp: Path) -> Path:
    """The data set of every fixture the loader tests use."""
    builders = {"quirks": _quirks, "no annotations": _no_annotations, "zip": _zip}
    return builders[name](tmp) if name in builders else _fixture(name, tmp)


FIXTURES = [*COCO_FIXTURES, "yolo", "quirks", "no annotations", "zip"]


@pytest.mark.parametrize("name", FIXTURES)
def test_round_trip_gives_an_equal_dataset(name, tmp_path):
    ds = uncached(fixture_path(name, tmp_path))
    index_cache.save_index(ds, KEY)
    assert_same(index_cache.load_index(KEY), ds)


@pytest.mark.parametrize("name", ["sample", "problem mix", "yolo", "zip"])
def test_a_second_load_opens_the_entry_and_gives_the_same_dataset(name, tmp_path, own_cache, monkeypatch):
    path = fixture_path(name, tmp_path)
    kwargs = {"source": "synthetic sample", "synthetic": True} if name == "sample" else {}
    expected = uncached(path, **kwargs)
    assert_same(load_dataset(path, **kwargs), expected)  # parsed, then written
    assert len(entries(own_cache)) == 1

    def parse_again(*args, **kwargs):
        raise AssertionError("parsed again instead of read from the cache")

    monkeypatch.setattr("xami_core.io.loader.build_dataset", parse_again)
    assert_same(load_dataset(path, **kwargs), expected)


@pytest.mark.parametrize(
    ("cells", "stored"),
    [
        # ids of a file that mixes integers and text keep each type
        ([1, "1", 2, "s9", 3], True),
        # polygons beside RLE dicts (string and list counts), a box-only None and an empty list
        ([[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]], {"size": [4, 4], "counts": "02"},
          {"size": [4, 4], "counts": [0, 16]}, None, []], True),
        # polygon coordinates written as integers are not floats: kept as JSON, still equal with their types
        ([[[1, 2, 3, 4, 5, 6]], [[1.5, 2.0, 3.0, 4.0, 5.0, 6.0], [7.0, 8.0, 9.0, 1.0, 2.0, 3.0]], None, None, None], True),
        # repeated coordinates (stored as codes into their distinct values)
        ([[[1.0, 2.0, 3.0, 2.0, 3.0, 4.0]]] * 5, True),
        # a negative zero among repeated coordinates is kept as written
        ([[[-0.0, 0.0, 1.0, 0.0, 1.0, 1.0]]] * 5, True),
        # NaN does not survive JSON: the set is not cached
        ([1, float("nan"), 2, 3, 4], False),
        # a tuple would come back a list: not cached
        ([(1, 2), None, None, None, None], False),
    ],
)
def test_object_cells_read_back_with_their_types_or_are_refused(cells, stored, tmp_path):
    ds = uncached(_quirks(tmp_path))
    values = np.empty(len(cells), dtype=object)
    values[:] = cells
    ds = replace(ds, annotations=ds.annotations.assign(coco_id=values, rle=values))  # the object columns
    if not stored:
        with pytest.raises(index_cache.UncachableError):
            index_cache.save_index(ds, KEY)
        assert index_cache.write_index(ds, KEY) is None  # no error for the user: the load goes on uncached
        return
    index_cache.save_index(ds, KEY)
    back = index_cache.load_index(KEY)
    assert_same(back, ds)
    assert repr(back.annotations["rle"].tolist()) == repr(cells)  # types, -0.0 and all


def _edit_json(folder: Path) -> None:
    """Move the first annotation of the train split one pixel to the right."""
    path = folder / "train" / COCO_FILE
    data = json.loads(path.read_text())
    part = data["annotations"][0]["segmentation"][0]
    part[0::2] = [x + 1.0 for x in part[0::2]]
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    "change",
    [
        _edit_json,                                                             # content
        lambda folder: os.utime(folder / "train" / COCO_FILE, (1_000, 1_000)),  # modification time only
        lambda folder: b.write_split(folder / "valid", b.coco([b.image(0)], [])),  # a split added
        lambda folder: (folder / "train" / b.file_name(1, "V")).write_bytes(b""),  # a frame file added
    ],
)
def test_a_changed_source_gets_a_new_entry(change, tmp_path, own_cache):
    folder = _quirks(tmp_path)
    first = load_dataset(folder)
    change(folder)
    second = load_dataset(folder)
    assert len(entries(own_cache)) == 2  # a new key: the old entry is not read (eviction removes it in time)
    assert_same(second, uncached(folder))
    if change is _edit_json:
        assert second.annotations["mask_box_x"].iloc[0] == first.annotations["mask_box_x"].iloc[0] + 1


def test_a_yolo_label_edited_in_place_gets_a_new_entry(tmp_path, own_cache):
    root = _tiny_yolo(tmp_path / "yolo", "2 0.1 0.1 0.5 0.1 0.5 0.5\n")
    first = load_dataset(root)
    [label] = (root / "train" / "labels").glob("*.txt")
    with label.open("r+") as fh:  # rewritten in place: the folder's own time does not change
        fh.write("3")
    second = load_dataset(root)
    assert len(entries(own_cache)) == 2
    assert_same(second, uncached(root))
    assert first.annotations["class_id"].tolist() != second.annotations["class_id"].tolist()


def test_the_key_follows_the_flags_and_the_path(tmp_path):
    folder = _quirks(tmp_path)
    keys = {index_cache.index_key(str(folder), source, synthetic, ("fingerprint",), [folder])
            for source, synthetic in (("local", False), ("upload", False), ("local", True))}
    keys.add(index_cache.index_key(str(folder) + "/", "local", False, ("fingerprint",), [folder]))
    assert len(keys) == 4 and None not in keys


class WriteFailedError(Exception):
    """Raised from inside a write (a crash, a full disk)."""


def test_a_crash_mid_write_leaves_no_entry_and_the_next_load_works(tmp_path, own_cache, monkeypatch):
    folder = _quirks(tmp_path)
    real = index_cache.pq.write_table
    written = []

    def fail_on_second(table, where, **kwargs):
        written.append(where)
        if len(written) == 2:
            raise WriteFailedError("disk full")
        real(table, where, **kwargs)

    monkeypatch.setattr(index_cache.pq, "write_table", fail_on_second)
    ds = load_dataset(folder)  # the failed write is no error
    assert len(written) == 2 and entries(own_cache) == []
    assert list((own_cache / "index").iterdir()) == []  # the temporary folder is gone too
    monkeypatch.setattr(index_cache.pq, "write_table", real)
    assert_same(load_dataset(folder), ds)
    assert len(entries(own_cache)) == 1


def test_a_killed_writers_leftover_is_never_read(tmp_path, own_cache):
    folder = _quirks(tmp_path)
    expected = load_dataset(folder)
    [entry] = entries(own_cache)
    # What a writer killed before its rename leaves: a hidden temporary folder, marker or not.
    leftover = entry.with_name(f".{entry.name[:16]}-dead{PARTIAL_SUFFIX}")
    entry.rename(leftover)
    assert index_cache.read_index(entry.name) is None
    assert leftover not in evictable_entries(own_cache)
    assert_same(load_dataset(folder), expected)
    assert entries(own_cache) == [entry]


@pytest.mark.parametrize(
    "damage",
    [
        lambda entry: (entry / "annotations.parquet").write_bytes((entry / "annotations.parquet").read_bytes()[:200]),
        lambda entry: (entry / "meta.json").write_text("{"),
        lambda entry: (entry / "images.parquet").unlink(),
    ],
)
def test_a_damaged_entry_is_replaced_by_a_fresh_load(damage, tmp_path, own_cache):
    folder = _quirks(tmp_path)
    expected = load_dataset(folder)
    [entry] = entries(own_cache)
    damage(entry)
    assert_same(load_dataset(folder), expected)
    assert entries(own_cache) == [entry]
    assert_same(index_cache.load_index(entry.name), expected)  # written again, whole


def test_over_the_quota_the_least_recently_used_entry_is_evicted(tmp_path, own_cache, monkeypatch):
    old, new = _quirks(tmp_path / "a"), _quirks(tmp_path / "b")
    load_dataset(old)
    [old_entry] = entries(own_cache)
    os.utime(old_entry, (1_000, 1_000))
    load_dataset(new)
    [new_entry] = [e for e in entries(own_cache) if e != old_entry]
    load_dataset(old)  # read: touched, now the most recently used
    assert old_entry.stat().st_mtime > new_entry.stat().st_mtime
    size = sum(f.stat().st_size for f in own_cache.rglob("*") if f.is_file())
    monkeypatch.setenv("XAMI_CACHE_MAX_GB", str(0.75 * size / 1024**3))  # room for one entry, not two
    assert evict_cache() == [new_entry]
    assert entries(own_cache) == [old_entry]


def test_a_written_entry_evicts_older_ones_beyond_the_quota(tmp_path, own_cache, monkeypatch):
    first, second = _quirks(tmp_path / "a"), _quirks(tmp_path / "b")
    load_dataset(first)
    [first_entry] = entries(own_cache)
    os.utime(first_entry, (1_000, 1_000))
    size = sum(f.stat().st_size for f in own_cache.rglob("*") if f.is_file())
    monkeypatch.setenv("XAMI_CACHE_MAX_GB", str(1.5 * size / 1024**3))
    load_dataset(second)
    [second_entry] = entries(own_cache)
    assert second_entry != first_entry


# A child process: wait until both children have started (a file barrier), load the folder through the
# index cache, pickle the dataset. A fresh interpreter, not multiprocessing: "spawn" re-runs the parent's
# `__main__`, which after an AppTest in the same pytest process is the app's page script.
_CHILD = """
import os, pickle, sys, time
from pathlib import Path
from xami_core import load_dataset
from xami_core.io import index_cache
index_cache.MIN_ANNOTATIONS = 0
folder, gate, me, out = sys.argv[1:]
Path(gate, me).touch()
deadline = time.monotonic() + 300
while len(os.listdir(gate)) < 2:
    if time.monotonic() > deadline:
        sys.exit("the other child never started")
    time.sleep(0.01)
Path(out).write_bytes(pickle.dumps(load_dataset(folder)))
"""


def test_two_processes_loading_at_once_both_succeed(tmp_path, own_cache):
    folder = _fixture("problem mix", tmp_path)
    gate = tmp_path / "gate"
    gate.mkdir()
    env = {**os.environ, "XAMI_CACHE": str(own_cache), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    children = [subprocess.Popen([sys.executable, "-c", _CHILD, str(folder), str(gate), str(n), str(tmp_path / f"{n}.pkl")],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                for n in range(2)]
    try:
        outputs = [child.communicate(timeout=400)[0] for child in children]
    finally:
        for child in children:
            child.kill()
    assert [child.returncode for child in children] == [0, 0], outputs
    expected = uncached(folder)
    for n in range(2):
        assert_same(pickle.loads((tmp_path / f"{n}.pkl").read_bytes()), expected)  # noqa: S301 - written by this test
    [entry] = entries(own_cache)
    assert_same(index_cache.load_index(entry.name), expected)
    assert not [p for p in (own_cache / "index").iterdir() if p.name.startswith(".")]  # the loser's folder is gone


def test_turned_off_nothing_is_written_or_read(tmp_path, own_cache, monkeypatch):
    folder = _quirks(tmp_path)
    monkeypatch.setenv("XAMI_INDEX_CACHE", "0")
    load_dataset(folder)
    assert not (own_cache / "index").exists()
    assert index_cache.index_key(str(folder), "local", False, (), [folder]) is None


def test_a_load_in_the_worker_writes_a_large_set_once_and_then_reads_it(tmp_path, own_cache):
    # The sample's train split three times over: just above the size the loader writes from (default setting).
    times = 3
    folder = with_frames(tiled_coco(train_json(), tmp_path / "train", times), train_json(), times)
    first = load_in_worker(str(folder), "local", False)
    assert len(first.annotations) >= DEFAULT_MIN_ANNOTATIONS and len(entries(own_cache)) == 1
    [entry] = entries(own_cache)
    os.utime(entry, (1_000, 1_000))
    assert_same(load_in_worker(str(folder), "local", False), first)
    assert entry.stat().st_mtime > 1_000 and entries(own_cache) == [entry]  # read and touched
    assert_same(first, uncached(folder))


def test_small_sets_are_not_written(tmp_path, own_cache, monkeypatch):
    monkeypatch.setattr(index_cache, "MIN_ANNOTATIONS", DEFAULT_MIN_ANNOTATIONS)
    ds = load_dataset(_quirks(tmp_path))
    assert len(ds.annotations) < index_cache.MIN_ANNOTATIONS and entries(own_cache) == []


def test_a_changed_loader_gets_new_keys(tmp_path, monkeypatch):
    folder = _quirks(tmp_path)
    before = index_cache.index_key(str(folder), "local", False, (), [folder])
    monkeypatch.setattr(index_cache, "LOADER_VERSION", index_cache.LOADER_VERSION + 1)
    index_cache._code_digest.cache_clear()
    try:
        assert index_cache.index_key(str(folder), "local", False, (), [folder]) != before
    finally:
        monkeypatch.undo()
        index_cache._code_digest.cache_clear()


@pytest.mark.parametrize("cells", [
    ["S0001_V", np.nan, "S0002_B"],  # pandas 2's text column: missing as NaN
    ["a", None, "b"],                # missing as None
    ["only text", "here"],
])
def test_text_in_an_object_column_round_trips_with_its_missing_values(cells):
    frame = pd.DataFrame({"obs_key": pd.Series(cells, dtype=object)})
    specs, table = index_cache._encode_table(frame, "t")
    assert [s["codec"] for s in specs] == ["object_text"]
    back = index_cache._decode_table(table, specs)["obs_key"].tolist()
    assert [type(v) for v in back] == [type(v) for v in cells]
    assert [v if v == v else "NaN" for v in back] == [v if v == v else "NaN" for v in cells]


def test_an_object_column_mixing_nan_and_none_is_not_taken_for_text():
    frame = pd.DataFrame({"x": pd.Series(["a", np.nan, None], dtype=object)})
    with pytest.raises(index_cache.UncachableError):
        index_cache._encode_table(frame, "t")
