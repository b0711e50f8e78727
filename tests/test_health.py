"""Health checks: each finds exactly the problem planted for it, and nothing in a clean dataset."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from pycocotools import mask as mask_utils

from tests.builders import box_ann, categories, coco, file_name, image, polygon_ann, square, write_split
from xami_core.analysis import health as H
from xami_core.io.loader import load_dataset

CLASSES = ["central-ring", "other", "read-out-streak", "smoke-ring", "star-loop"]
CR, OTHER, STREAK, SMOKE = 1, 2, 3, 4  # category ids; star-loop (5) is used only by the clean fixture


# Frame file names in XAMI's naming (an observation key first), one per role.
N = {role: file_name(100_000_000 + i, "L", "abcdef"[i % 6]) for i, role in enumerate(
    ["a", "b", "empty", "c", "small", "gone", "same", "e", "e2", "twin", "twin-copy", "stray"])}


def _noise_frame(path: Path, seed: int, size: tuple[int, int] = (512, 512)) -> np.ndarray:
    """Write a frame of smooth random structure (distinct perceptual hash per seed); returns its pixels."""
    rng = np.random.default_rng(seed)
    pixels = cv2.resize(rng.integers(0, 256, (16, 16)).astype(np.uint8), size[::-1], interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(path), pixels, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return pixels


def _write(folder: Path, data: dict, seeds: dict[str, int], sizes: dict[str, tuple[int, int]] | None = None) -> None:
    """A split folder: the COCO file and one frame per file name (seeded pixels)."""
    write_split(folder, data, with_images=False)
    for name, seed in seeds.items():
        _noise_frame(folder / name, seed, (sizes or {}).get(name, (512, 512)))


def _clean(root: Path) -> Path:
    """Two splits, every class used, a hard negative, nothing wrong."""
    train = coco([image(1, N["a"]), image(2, N["b"]), image(3, N["empty"])], [
        polygon_ann(1, 1, 1, square(246, 246, 20)),
        polygon_ann(2, 1, 3, [100, 0, 104, 0, 104, 200, 100, 200]),
        polygon_ann(3, 2, 3, [300, 10, 303, 10, 303, 400, 300, 400]),
        polygon_ann(4, 2, 4, square(50, 50, 30)),
        polygon_ann(5, 2, 4, square(90, 50, 30)),  # same class, next to the other: not a duplicate
    ], categories(CLASSES, "artefacts"))
    valid = coco([image(1, N["c"])], [polygon_ann(1, 1, 5, [200, 200, 260, 210, 240, 260]),
                                       polygon_ann(2, 1, 2, square(400, 400, 50))], categories(CLASSES, "artefacts"))
    _write(root / "train", train, {N["a"]: 1, N["b"]: 2, N["empty"]: 3})
    _write(root / "valid", valid, {N["c"]: 4})
    return root


def _dirty(root: Path) -> Path:
    """One of each problem, each on its own record (see the comments)."""
    train = coco([
        image(1, N["a"]),
        image(2, N["small"]),  # declared 512 x 512, the file is 256 x 256
        image(3, N["gone"]),  # listed, file deleted below
        image(4, N["same"]),  # the valid split lists a different frame under the same name
        image(5, N["e"]),
        image(5, N["e2"]),  # duplicate image id: the loader keeps the first
        image(6, N["twin"]),  # the same pixels as valid's twin-copy.jpg
    ], [
        polygon_ann(1, 1, STREAK, [100, 0, 104, 0, 104, 200, 100, 200], bbox=[300, 300, 20, 20]),  # box elsewhere
        polygon_ann(2, 1, CR, [10, 10, 60, 60, 60, 10, 10, 60]),  # bow tie: self-intersecting
        polygon_ann(3, 1, OTHER, [200, 200, 220, 220, 240, 240]),  # three collinear points: zero area
        polygon_ann(4, 1, OTHER, [300, 40, 300, 40, 320, 60]),  # two distinct points
        polygon_ann(5, 1, CR, square(500, 100, 20)),  # 4 of its vertices... 2 beyond x = 512
        polygon_ann(6, 5, SMOKE, square(100, 300, 40)),
        polygon_ann(7, 5, SMOKE, square(101, 300, 40)),  # the same ring again (mask IoU 0.95)
        polygon_ann(8, 5, STREAK, [1, 1, 5, 5], bbox=[1, 1, 4, 4]),  # two points: dropped at load, kept as a box
    ], categories(CLASSES, "artefacts"))
    valid = coco([image(1, N["same"]), image(2, N["twin-copy"])], [
        polygon_ann(1, 1, SMOKE, square(30, 30, 30)),
        box_ann(2, 1, OTHER, [200, 200, 30, 20]),  # box only (`"segmentation": []`, as Roboflow writes it)
    ], categories(CLASSES, "artefacts"))
    _write(root / "train", train, {N["a"]: 11, N["small"]: 12, N["gone"]: 13, N["same"]: 14, N["e"]: 15,
                                   N["twin"]: 16, N["stray"]: 17},  # stray.jpg: on disk, listed nowhere
           sizes={N["small"]: (256, 256)})
    _write(root / "valid", valid, {N["same"]: 21})
    shutil.copyfile(root / "train" / N["twin"], root / "valid" / N["twin-copy"])
    (root / "train" / N["gone"]).unlink()
    return root


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return load_dataset(_clean(tmp_path_factory.mktemp("clean")))


@pytest.fixture(scope="module")
def dirty(tmp_path_factory):
    return load_dataset(_dirty(tmp_path_factory.mktemp("dirty")))


def _ids(ds, split: str, coco_id: int) -> int:
    img = ds.images
    return int(img.loc[(img["split"] == split) & (img["coco_id"] == coco_id), "image_id"].iloc[0])


def _ann(ds, split: str, coco_id: int) -> int:
    ann = ds.annotations
    return int(ann.loc[(ann["split"] == split) & (ann["coco_id"] == coco_id), "ann_id"].iloc[0])


def test_clean_dataset_flags_nothing(clean):
    report = H.run_checks(clean, use_hash_cache=False)
    summary = report.summary.set_index("name")
    flagged = summary[summary["flagged"]]
    assert flagged["count"].sum() == 0, flagged[flagged["count"] > 0]
    assert report.problem_count == 0
    assert report.verdict == ("All 13 checks passed; images without annotations (hard negatives): 1 "
                              "(counted, not flagged).")
    # The hard negative is counted, not flagged.
    assert summary.loc[H.HARD_NEGATIVES, "count"] == 1 and not summary.loc[H.HARD_NEGATIVES, "flagged"]
    assert list(report[H.HARD_NEGATIVES].table["image_id"]) == [_ids(clean, "train", 3)]


def test_every_check_has_a_reason_and_a_frame_column(dirty):
    report = H.run_checks(dirty, use_hash_cache=False)
    assert len({r.name for r in report.results}) == len(report.results) == 14
    for result in report.results:
        assert result.why.endswith(".") and len(result.why) > 40, result.name
        assert result.table.columns[0] == "image_id" and str(result.table["image_id"].dtype) == "Int64", result.name
    assert list(report.summary.columns) == ["name", "check", "count", "flagged", "why"]


def test_box_only(dirty):
    # The planted box-only annotation, and the one whose only polygon the loader dropped (kept as its box).
    table = H.check_box_only(dirty).table
    assert list(table["ann_id"]) == [_ann(dirty, "train", 8), _ann(dirty, "valid", 2)]
    assert list(table["image_id"]) == [_ids(dirty, "train", 5), _ids(dirty, "valid", 1)]
    assert list(table["reason"]) == ["polygon unusable, its box kept at load", "no mask in the file"]
    assert list(table["class_name"]) == ["read-out-streak", "other"]
    assert table.loc[1, ["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].tolist() == [200, 200, 30, 20]


def test_box_vs_polygon(dirty):
    table = H.check_box_vs_polygon(dirty, min_iou=0.5).table
    assert list(table["ann_id"]) == [_ann(dirty, "train", 1)]
    assert table["iou"].iloc[0] == 0.0 and table["image_id"].iloc[0] == _ids(dirty, "train", 1)
    # A threshold of 0 flags nothing; above 1 is refused.
    assert H.check_box_vs_polygon(dirty, min_iou=0.0).count == 0
    with pytest.raises(ValueError, match="min_iou"):
        H.check_box_vs_polygon(dirty, min_iou=1.5)


@pytest.mark.parametrize(("a", "b", "iou"), [
    ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),  # the same box
    ([0, 0, 10, 10], [5, 0, 10, 10], 50 / 150),  # half overlapping
    ([0, 0, 10, 10], [20, 20, 5, 5], 0.0),  # apart
    ([3, 3, 0, 4], [3, 3, 0, 4], 1.0),  # the same zero-width box (a one-pixel-wide polygon's box)
    ([3, 3, 0, 4], [4, 3, 0, 4], 0.0),  # two different zero-width boxes
])
def test_box_iou(a, b, iou):
    assert H.box_iou(np.array([a]), np.array([b]))[0] == pytest.approx(iou)


def test_box_iou_refuses_bad_shapes():
    with pytest.raises(ValueError, match="shape"):
        H.box_iou(np.zeros((2, 4)), np.zeros((3, 4)))


def test_degenerate_polygons(dirty):
    table = H.check_degenerate_polygons(dirty).table
    found = dict(zip(table["ann_id"].astype("object"), table["reason"]))
    assert found.pop(_ann(dirty, "train", 2)).startswith("Self-intersection")
    assert found.pop(_ann(dirty, "train", 3)) == "zero area"
    assert found.pop(_ann(dirty, "train", 4)) == "fewer than three distinct points"
    # The two-point polygon the loader dropped: listed from its problem, with its frame.
    (reason,) = found.values()
    assert reason.startswith("dropped at load: annotation id 8, polygon 0") and "3 points" in reason
    dropped = table[table["reason"].str.startswith("dropped")]
    assert list(dropped["image_id"]) == [_ids(dirty, "train", 5)] and list(dropped["split"]) == ["train"]


def test_vertices_outside(dirty):
    table = H.check_vertices_outside(dirty).table
    assert list(table["ann_id"]) == [_ann(dirty, "train", 5)]
    assert table["n_outside"].iloc[0] == 2 and table["max_outside_px"].iloc[0] == pytest.approx(8.0)
    assert H.check_vertices_outside(dirty, tolerance=8.0).count == 0


def test_duplicate_annotations(dirty):
    table = H.check_duplicate_annotations(dirty, min_iou=0.9).table
    assert list(zip(table["ann_id"], table["other_ann_id"])) == [(_ann(dirty, "train", 6), _ann(dirty, "train", 7))]
    assert table["mask_iou"].iloc[0] == pytest.approx(39 / 41)
    assert H.check_duplicate_annotations(dirty, min_iou=0.96).count == 0


@pytest.mark.parametrize("other", [
    "rle",  # the same square as a compressed RLE
    "box",  # a box-only annotation covering the same pixels
])
def test_duplicate_annotations_of_every_kind(tmp_path, other):
    mask = np.zeros((512, 512), np.uint8, order="F")
    mask[100:140, 100:140] = 1
    rle = mask_utils.encode(mask)
    second = ({"id": 2, "image_id": 1, "category_id": SMOKE, "bbox": [100, 100, 40, 40], "area": 1600, "iscrowd": 0,
               "segmentation": {"size": [512, 512], "counts": rle["counts"].decode()}} if other == "rle"
              else box_ann(2, 1, SMOKE, [100, 100, 40, 40]))
    data = coco([image(1, N["a"])], [polygon_ann(1, 1, SMOKE, square(100, 100, 40)), second], categories(CLASSES, "artefacts"))
    _write(tmp_path / "train", data, {N["a"]: 1})
    ds = load_dataset(tmp_path)
    assert set(ds.annotations["kind"]) == {"polygon", other}
    table = H.check_duplicate_annotations(ds).table
    assert len(table) == 1 and table["mask_iou"].iloc[0] == pytest.approx(1.0)


def test_duplicate_frames_across_splits(dirty):
    table = H.check_duplicate_frames(dirty, use_cache=False).table
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["image_id"], row["other_image_id"]) == (_ids(dirty, "train", 6), _ids(dirty, "valid", 2))
    assert row["distance"] == 0 and row["across_splits"]


def test_frame_files(dirty):
    table = H.check_frame_files(dirty).table
    assert list(table["image_id"]) == [_ids(dirty, "train", 3)] and list(table["file_status"]) == ["missing"]


def test_unlisted_frames(dirty):
    table = H.check_unlisted_frames(dirty).table
    assert list(table["file_name"]) == [N["stray"]] and list(table["split"]) == ["train"]
    assert table["image_id"].isna().all()


def test_duplicate_file_names(dirty):
    table = H.check_duplicate_file_names(dirty).table
    assert sorted(table["image_id"]) == [_ids(dirty, "train", 4), _ids(dirty, "valid", 1)]
    assert set(table["reason"]) == {"same file name"}


def test_duplicate_ids(dirty):
    table = H.check_duplicate_ids(dirty).table
    assert list(table["record"]) == ["image id 5"] and list(table["outcome"]) == ["skipped"]
    assert list(table["image_id"]) == [_ids(dirty, "train", 5)]  # the record that was kept


def test_declared_size(dirty):
    table = H.check_declared_size(dirty).table
    assert list(table["image_id"]) == [_ids(dirty, "train", 2)]
    assert table[["declared_width", "file_width"]].iloc[0].tolist() == [512, 256]


def test_unused_classes(dirty):
    assert list(H.check_unused_classes(dirty).table["class_name"]) == ["star-loop"]


def test_loading_problems_are_the_loaders(dirty):
    table = H.check_loading_problems(dirty).table
    assert len(table) == len(dirty.problems)
    assert list(table["message"]) == [p.message for p in dirty.problems]
    # Problems that name a record point at its frame: the missing file, the kept duplicate id, the dropped part.
    framed = dict(zip(table["message"], table["image_id"]))
    assert framed["image file is missing; its annotations are kept"] == _ids(dirty, "train", 3)
    assert framed["duplicate image id; later record skipped"] == _ids(dirty, "train", 5)
    assert table.loc[table["record"] == "annotation id 8", "image_id"].tolist() == [_ids(dirty, "train", 5)]


def test_report_csvs(dirty, tmp_path):
    report = H.run_checks(dirty, use_hash_cache=False)
    files = report.csv_files()
    assert set(files) == {"summary.csv"} | {f"{r.name}.csv" for r in report.results}
    written = report.write_csvs(tmp_path / "out")
    back = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert len(written) == len(files) and back["count"].tolist() == [r.count for r in report.results]
    counts = report.summary.set_index("name")["count"]
    for name in (H.BOX_VS_POLYGON, H.VERTICES_OUTSIDE, H.DUPLICATE_ANNOTATIONS, H.DUPLICATE_FRAMES,
                 H.FRAME_FILES, H.UNLISTED_FRAMES, H.DUPLICATE_IDS, H.DECLARED_SIZE, H.UNUSED_CLASSES):
        assert counts[name] == 1, name
    assert counts[H.DUPLICATE_FILE_NAMES] == 2 and counts[H.DEGENERATE_POLYGONS] == 4 and counts[H.BOX_ONLY] == 2
    flagged = report.summary[report.summary["flagged"]]
    assert report.verdict.startswith(f"13 of 13 checks found {flagged['count'].sum()} records to look at; ")


def test_hash_pairs_match_brute_force():
    rng = np.random.default_rng(7)
    words = rng.integers(0, 2**63, (300, 4), dtype=np.int64).astype(np.uint64) * np.uint64(2) + \
        rng.integers(0, 2, (300, 4)).astype(np.uint64)
    # Plant near copies: row 10 + k differs from row k in k bits (k = 0..20).
    for k in range(21):
        words[10 + 40 + k] = words[k]
        for bit in rng.choice(256, k, replace=False):
            words[10 + 40 + k, bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
    for t in (0, 5, 12, 24):
        i, j, d = H.hash_pairs(words, t)
        dist = np.bitwise_count(words[:, None, :] ^ words[None, :, :]).sum(-1)
        bi, bj = np.nonzero(np.triu(dist <= t, 1))
        assert sorted(zip(i.tolist(), j.tolist(), d.tolist())) == sorted(zip(bi.tolist(), bj.tolist(), dist[bi, bj].tolist()))
    with pytest.raises(ValueError, match="max_distance"):
        H.hash_pairs(words, H.MAX_HASH_DISTANCE + 1)


def _planted_hashes(n: int, seed: int) -> np.ndarray:
    """n random 256-bit hashes (uint64, (n, 4)); rows n-1-k copy row k with k bits flipped (k = 0..29)."""
    rng = np.random.default_rng(seed)
    words = rng.integers(0, 2**64, (n, 4), dtype=np.uint64)
    for k in range(30):
        words[n - 1 - k] = words[k]
        for bit in rng.choice(256, k, replace=False):
            words[n - 1 - k, bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
    return words


def _python_pairs(words: np.ndarray, max_distance: int) -> list[tuple[int, int, int]]:
    """Every pair within `max_distance` bits, with Python integers (independent of numpy's popcount)."""
    ints = [int.from_bytes(row.astype(">u8").tobytes(), "big") for row in words]
    out = []
    for i, a in enumerate(ints):
        for j in range(i + 1, len(ints)):
            d = (a ^ ints[j]).bit_count()
            if d <= max_distance:
                out.append((i, j, d))
    return out


def _tight_copies(words: np.ndarray, plan: list[int], rng: np.random.Generator) -> np.ndarray:
    """For each band of `plan`, a copy of a random row that only that band can find.

    Band k holds every m-th bit from bit k (bit 0 the most significant of the first word, as in
    the hex hash); each other band gets one flip more than its radius, band k exactly its radius.
    """
    m, rows = len(plan), []
    for lucky in range(m):
        row = words[rng.integers(len(words))].copy()
        for k, radius in enumerate(plan):
            for bit in rng.choice(np.arange(k, 256, m), radius + (k != lucky), replace=False):
                row[bit // 64] ^= np.uint64(1) << np.uint64(63 - bit % 64)
        rows.append(row)
    return np.array(rows, dtype=np.uint64)


@pytest.mark.parametrize("max_distance", [0, 1, 7, 12, 13, 20, 24])
def test_hash_pairs_every_band_plan_finds_the_brute_force_pairs(monkeypatch, max_distance):
    # Every plan the search may choose (fewest bands, most at radius 1, ... every band at radius 0)
    # finds exactly the pairs a brute force finds: the planted ones at and around the threshold,
    # and copies whose flips leave a single band able to find them.
    monkeypatch.setattr(H, "ALL_PAIRS_MAX", 0)  # bands even for these few hashes
    rng = np.random.default_rng(max_distance)
    need = max_distance + 1
    plans = []
    for m in range(max(-(-need // 2), 5), max(need, 5) + 1):
        near = max(need - m, 0)
        if not near or -(-256 // m) <= H.NEAR_BAND_BITS:
            plans.append([1] * near + [0] * (m - near))
    assert [p for p in plans if 1 in p] or max_distance < 13  # bands at radius 1 (13 or more bands) from 13 bits on
    for plan in plans:
        words = _planted_hashes(200, max_distance)
        if len(plan) + sum(plan) == need:  # the copies are exactly `max_distance` bits from their rows
            words = np.concatenate([words, _tight_copies(words, plan, rng)])
        expected = _python_pairs(words, max_distance)
        assert sum(d == max_distance for _, _, d in expected) >= (len(plan) if len(words) > 200 else 1)
        monkeypatch.setattr(H, "_band_plan", lambda n, n_bits, d, plan=plan: plan)
        i, j, d = H.hash_pairs(words, max_distance)
        assert list(zip(i.tolist(), j.tolist(), d.tolist())) == expected, plan


def test_hash_pairs_plan_is_a_pigeonhole_cover():
    for n in (2, 160, 20_000, 100_000, 10_000_000):
        for d in range(H.MAX_HASH_DISTANCE + 1):
            plan = H._band_plan(n, 256, d)
            assert len(plan) + sum(plan) > d and set(plan) <= {0, 1} and -(-256 // len(plan)) <= 62
            if 1 in plan:
                assert -(-256 // len(plan)) <= H.NEAR_BAND_BITS
    # At 100k random hashes and the widest distance, bands at radius 1 are worth their lookups.
    assert 1 in H._band_plan(100_000, 256, H.MAX_HASH_DISTANCE)


def test_hash_pairs_of_alike_hashes_compare_every_pair(monkeypatch):
    # Hashes that differ only in their first 9 bits fill every band's groups: the search gives up
    # on bands and compares every pair, with the same result.
    rng = np.random.default_rng(5)
    words = np.zeros((300, 4), dtype=np.uint64)
    words[:, 0] = rng.integers(0, 2**9, 300).astype(np.uint64) << np.uint64(55)
    calls = []
    real = H._all_pairs
    monkeypatch.setattr(H, "_all_pairs", lambda w, d: calls.append(d) or real(w, d))
    monkeypatch.setattr(H, "ALL_PAIRS_MAX", 0)
    for max_distance in (0, 3, 12):
        i, j, d = H.hash_pairs(words, max_distance)
        assert list(zip(i.tolist(), j.tolist(), d.tolist())) == _python_pairs(words, max_distance)
    assert calls == [0, 3, 12]
    # A few hundred random hashes are compared pair by pair from the start.
    monkeypatch.setattr(H, "ALL_PAIRS_MAX", 50_000)
    few = _planted_hashes(300, 1)
    i, j, d = H.hash_pairs(few, 20)
    assert list(zip(i.tolist(), j.tolist(), d.tolist())) == _python_pairs(few, 20) and calls[-1] == 20
    empty = H.hash_pairs(words[:1], 12)
    assert all(len(a) == 0 for a in empty)


def test_hashes_cached_by_path_size_and_mtime(dirty, tmp_path, monkeypatch):
    cache = tmp_path / "phash.sqlite"
    calls: list[str] = []
    real = H.perceptual_hash
    monkeypatch.setattr(H, "perceptual_hash", lambda path: calls.append(path) or real(path))
    first = H.frame_hashes(dirty, cache_file=cache)
    n_files = int((dirty.images["file_status"] == "ok").sum())
    assert len(first) == n_files and len(calls) == n_files
    calls.clear()
    again = H.frame_hashes(dirty, cache_file=cache)
    assert calls == [] and again.equals(first)
    # A file written again (new mtime) is hashed again; the others come from the cache.
    path = dirty.image(_ids(dirty, "train", 1))["path"]
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    H.frame_hashes(dirty, cache_file=cache)
    assert calls == [path]


def test_run_checks_keeps_hashes_in_the_cache_folder(dirty):
    from xami_core.paths import cache_dir

    H.run_checks(dirty)
    assert (cache_dir() / H.PHASH_DB).is_file()


def test_unusable_cache_only_costs_time(dirty, tmp_path):
    bad = tmp_path / "phash.sqlite"
    bad.write_bytes(b"not a database" * 100)
    hashes = H.frame_hashes(dirty, cache_file=bad)
    assert len(hashes) == int((dirty.images["file_status"] == "ok").sum())


@pytest.mark.parametrize("min_iou", [
    0.0,   # every overlapping pair
    0.3,   # partial overlaps
    0.9,   # the page's default
])
def test_duplicate_annotations_are_every_pair_above_the_threshold(sample_ds, min_iou):
    # Brute force: every pair of one class in one frame, pycocotools' IoU of the two decoded masks.
    ann = sample_ds.annotations
    expected = []
    for (_, _), group in ann.groupby(["image_id", "class_name"], sort=False):
        masks = {row.ann_id: mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(row.segmentation, 512, 512))
                                               if row.kind == "polygon" else mask_utils.frPyObjects(
                                                   np.array([[row.bbox_x, row.bbox_y, row.bbox_w, row.bbox_h]]), 512, 512)[0])
                 for row in group.itertuples()}
        ids = sorted(masks)
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                inter = np.logical_and(masks[a], masks[b]).sum()
                iou = inter / np.logical_or(masks[a], masks[b]).sum()
                if iou > min_iou:
                    expected.append((a, b, iou))
    assert set(ann["kind"]) == {"polygon", "box"} and (min_iou > 0 or len(expected) > 10)
    table = H.check_duplicate_annotations(sample_ds, min_iou=min_iou).table
    found = sorted(zip(table["ann_id"], table["other_ann_id"], table["mask_iou"]))
    assert [f[:2] for f in found] == [e[:2] for e in sorted(expected)]
    np.testing.assert_allclose([f[2] for f in found], [e[2] for e in sorted(expected)])


def test_thresholds_only_compare_the_prepared_inputs(dirty, monkeypatch):
    # A slider moved on the page: nothing threshold-free (hashes, mask IoUs, validity) is computed again.
    inputs = H.prepare_checks(dirty, use_hash_cache=False)
    fresh = {(box, mask, bits): H.run_checks(dirty, box, mask, bits, use_hash_cache=False)
             for box, mask, bits in [(0.5, 0.9, 12), (0.0, 0.0, 0), (1.0, 0.5, 24)]}

    def refuse(*args, **kwargs):
        raise AssertionError("threshold-free work done again")

    for name in ("perceptual_hash", "frame_hashes", "annotation_pair_ious", "box_iou_table",
                 "check_degenerate_polygons", "check_unlisted_frames", "check_box_only"):
        monkeypatch.setattr(H, name, refuse)
    monkeypatch.setattr(H.mask_utils, "iou", refuse)
    for (box, mask, bits), expected in fresh.items():
        report = H.run_checks(dirty, box, mask, bits, inputs=inputs)
        assert [r.name for r in report.results] == [r.name for r in expected.results]
        assert report.summary.equals(expected.summary)
        for got, want in zip(report.results, expected.results, strict=True):
            pd.testing.assert_frame_equal(got.table, want.table)
    # The thresholds matter: the planted box passes at IoU 0, the planted duplicate pair at mask IoU 0.9 only above.
    assert fresh[(0.0, 0.0, 0)][H.BOX_VS_POLYGON].count == 0 < fresh[(0.5, 0.9, 12)][H.BOX_VS_POLYGON].count
    assert fresh[(0.0, 0.0, 0)][H.DUPLICATE_ANNOTATIONS].count >= fresh[(0.5, 0.9, 12)][H.DUPLICATE_ANNOTATIONS].count
    # A vertex tolerance the inputs were not made with runs that check again (it is cheap).
    monkeypatch.undo()
    wide = H.run_checks(dirty, vertex_tolerance=50.0, inputs=inputs)
    assert wide[H.VERTICES_OUTSIDE].count == 0 and inputs.fixed[H.VERTICES_OUTSIDE].count == 1


@pytest.mark.parametrize("data", [
    "dirty",   # one of each problem, the frames' real hashes
    "tiled",   # the benchmark's input: the sample tiled three times, a distinct hash per frame
])
def test_benchmark_loops_find_what_the_checks_find(dirty, data):
    # benchmarks/health.py times the checks against plain loops: both must find the same records.
    from benchmarks import health as bench_health

    if data == "dirty":
        ds, hashes = dirty, H.frame_hashes(dirty, use_cache=False)
    else:
        ds, hashes = bench_health.checks_input(3)
    ours = bench_health.counted(H.run_checks(ds, inputs=H.prepare_checks(ds, hashes=hashes)))
    assert bench_health.loop_checks(ds, hashes) == ours
    assert sum(ours.values()) > (10 if data == "dirty" else 0)


@pytest.mark.parametrize("distance", [0, 12, 24])
def test_benchmark_frame_rows_find_the_same_pairs(distance):
    # benchmarks/health.py times hash_pairs against every pair compared: both give the same pairs,
    # the planted copies within the distance among them.
    from benchmarks import health as bench_health

    prepared = bench_health.frames_input(700, seed=distance), distance
    ours, theirs = bench_health.frames_ours(prepared), bench_health.frames_baseline(prepared)
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True))
    assert len(ours[0]) >= distance + 1 and set(ours[2].tolist()) == set(range(distance + 1))


def test_benchmark_pandas_statistics_agree_with_the_page(sample_ds):
    # The statistics row's pandas way gives the page's order statistics and co-occurrence counts.
    from benchmarks import health as bench_health
    from xami_core.analysis import annotation_stats as S

    summary, _, cooccurrence = bench_health.statistics_ours(sample_ds)
    theirs = bench_health.pandas_statistics(sample_ds)
    rows = summary[summary["class_name"] != S.ALL_CLASSES]
    for row in rows.itertuples():
        described = theirs["per_class"].loc[(row.part, row.class_name), row.measure]
        assert described["count"] == row.n and described["50%"] == pytest.approx(row.median)
        assert described["5%"] == pytest.approx(row.q05) and described["95%"] == pytest.approx(row.q95)
    assert len(rows) > 20
    frames = theirs["cooccurrence"]
    for row in cooccurrence.itertuples():
        assert frames.loc[(row.part, row.class_a), row.class_b] == row.frames


@pytest.mark.parametrize(("part", "few"), [
    ([(1, 1), (1, 1), (1, 1)], True),            # one point thrice
    ([(1, 1), (2, 2), (1, 1), (2, 2)], True),    # two points alternating
    ([(1, 1), (1, 1), (2, 2), (2, 2)], True),    # two points, the second late
    ([(1, 1), (2, 2), (3, 3)], False),           # three collinear points (zero area, not "few")
    ([(1, 1), (1, 1), (2, 2), (1, 1), (5, 0)], False),  # the third point last
    ([(0, 0), (0, 1), (1, 0), (0, 0)], False),   # a triangle closed by hand
])
def test_fewer_than_three_distinct_points(part, few):
    # Two parts side by side: the case, then a square, so per-part bookkeeping is exercised.
    square_part = [(10, 10), (20, 10), (20, 20), (10, 20)]
    xy = np.array(part + square_part, dtype=float)
    g = {"xs": xy[:, 0], "ys": xy[:, 1], "vertex_part": np.repeat([0, 1], [len(part), 4]),
         "part_start": np.array([0, len(part)]), "part_len": np.array([len(part), 4])}
    assert H._fewer_than_three_points(g).tolist() == [few, False]
