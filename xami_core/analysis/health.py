"""Dataset health checks: each finds the offending records and says why they matter.

A check returns a `CheckResult`: a table of the offending records (with `image_id`, nullable,
so the page can open the frame; NA for records no loaded frame stands behind, such as a file
on disk that no annotation file lists), its count, and one sentence on why it matters.
`run_checks` runs them all and returns a `HealthReport` (a summary table and a CSV per check).
Thresholds are applied last: `prepare_checks` does the threshold-free work once (frame hashes,
every candidate pair's mask IoU, every box's IoU, polygon validity, the file checks), and
`run_checks(..., inputs=...)` only compares it with the thresholds, so moving a slider is cheap.

Geometry is vectorised over flat coordinate arrays (numpy, shapely 2's array functions); mask
IoUs go through pycocotools only for the few candidate pairs a box prefilter leaves; each
frame's perceptual hash (`imagehash.phash`) is computed once and kept in a small SQLite file in
the cache folder, keyed by path, size and modification time. Problems the loader already met
(`Dataset.problems`) are reused, not found again: records it skipped are no longer in the tables.
Images without annotations are XAMI's hard negatives: counted, never flagged.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import sqlite3
import time
import warnings
import weakref
from dataclasses import dataclass, field
from pathlib import Path, PurePath

import imagehash
import numpy as np
import pandas as pd
import shapely
from PIL import Image
from pycocotools import mask as mask_utils

from xami_core.io.image_files import FILE_OK, base_name
from xami_core.io.tables import rle_to_compressed
from xami_core.io.yolo import IMAGE_SUFFIXES
from xami_core.model import Dataset, Problem
from xami_core.paths import cache_dir
from xami_core.polygons import mask_cells, polygon_arrays

DEFAULT_BOX_IOU = 0.5  # stored box vs the polygon's box: below this IoU the box is flagged
DEFAULT_MASK_IOU = 0.9  # two annotations of one class in one frame: above this mask IoU they are near-duplicates
HASH_SIDE = 16  # phash of a 16 x 16 DCT block: 256 bits
HASH_BITS = HASH_SIDE * HASH_SIDE
# Bits (of 256) two frames' hashes may differ by and still be near-duplicates. On the sample, frames
# with identical pixels differ by 0 bits and different frames by 44 or more.
DEFAULT_HASH_DISTANCE = 12
MAX_HASH_DISTANCE = 24  # beyond, unrelated frames start to match
# `hash_pairs`: a band searched at radius 1 has at most this many bits (its lookup table 2**20 int32),
# candidates are compared this many at a time, and one neighbour lookup costs about one comparison.
NEAR_BAND_BITS = 20
PAIR_CHUNK = 1 << 20
LOOKUP_COST = 1.0
ALL_PAIRS_MAX = 50_000  # pairs: up to this many (some 300 hashes), comparing them all is quicker than any band
PHASH_DB = "phash.sqlite"  # in the cache folder
PHASH_TABLE = "phash256"  # path, size, mtime_ns -> hash (hex), last used
MAX_PHASH_ENTRIES = 250_000  # about 100 MB (some 420 bytes an entry); least recently used entries go beyond it
HASH_THREADS = 8  # JPEG decoding releases the GIL
ZERO_AREA = 1e-9  # px²: a polygon part with less area than this has none

# Check names (also the CSV files' names).
BOX_ONLY = "annotations_without_mask"
BOX_VS_POLYGON = "box_vs_polygon"
DEGENERATE_POLYGONS = "degenerate_polygons"
VERTICES_OUTSIDE = "vertices_outside_frame"
DUPLICATE_ANNOTATIONS = "duplicate_annotations"
DUPLICATE_FRAMES = "duplicate_frames"
FRAME_FILES = "frames_missing_or_unreadable"
UNLISTED_FRAMES = "frames_not_listed"
DUPLICATE_FILE_NAMES = "duplicate_file_names"
DUPLICATE_IDS = "duplicate_ids"
DECLARED_SIZE = "declared_size_mismatch"
UNUSED_CLASSES = "unused_classes"
LOADING_PROBLEMS = "loading_problems"
HARD_NEGATIVES = "images_without_annotations"

_DROPPED_PART = re.compile(r"expected at least 3 points|expected an even number of coordinates")
_DUPLICATE_ID = re.compile(r"^duplicate (image|annotation|category) id")
_BOX_FALLBACK = re.compile(r"^no usable polygon; kept as a box-only annotation")  # the COCO loader's warning
# "image id 3", "annotation id 8, polygon 0", "<file>, image id 3" (a missing frame's record).
_RECORD_ID = re.compile(r"(?:^|, )(image|annotation) id (?P<id>[^,\s]+)")


@dataclass(frozen=True)
class CheckResult:
    """What one check found: the offending records, and why they matter.

    name: a short key (also the CSV file's name); title: what is checked, for a heading;
    why: one sentence; table: one row per offending record, `image_id` (Int64, NA when no
    loaded frame stands behind the record) first; flagged: False for counts that are not
    problems (hard negatives).
    """

    name: str
    title: str
    why: str
    table: pd.DataFrame
    flagged: bool = True

    @property
    def count(self) -> int:
        """Offending records (rows of `table`)."""
        return len(self.table)


@dataclass(frozen=True)
class HealthReport:
    """The results of every check, in order, with their summary and CSVs."""

    results: tuple[CheckResult, ...]
    settings: dict[str, float] = field(default_factory=dict)

    def __getitem__(self, name: str) -> CheckResult:
        """The result of the check called `name`.

        Raises:
            KeyError: no check has that name.
        """
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(name)

    @property
    def summary(self) -> pd.DataFrame:
        """One row per check: name, check (title), count, flagged (False: counted, not a problem), why."""
        return pd.DataFrame({
            "name": [r.name for r in self.results],
            "check": [r.title for r in self.results],
            "count": np.array([r.count for r in self.results], dtype=np.int64),
            "flagged": [r.flagged for r in self.results],
            "why": [r.why for r in self.results],
        })

    @property
    def problem_count(self) -> int:
        """Offending records over all flagged checks."""
        return sum(r.count for r in self.results if r.flagged)

    @property
    def verdict(self) -> str:
        """One sentence for the page's headline, e.g. "2 of 13 checks found 5 records to look at; images
        without annotations (hard negatives): 8 (counted, not flagged)." """
        flagged = [r for r in self.results if r.flagged]
        failing = [r for r in flagged if r.count]
        if failing:
            n = self.problem_count
            head = (f"{len(failing)} of {len(flagged)} checks found {n:,} {'record' if n == 1 else 'records'} "
                    "to look at")
        else:
            head = f"All {len(flagged)} checks passed"
        counted = [r for r in self.results if not r.flagged]
        tail = "".join(f"; {r.title}: {r.count:,} (counted, not flagged)" for r in counted)
        return f"{head}{tail}."

    def csv_files(self) -> dict[str, bytes]:
        """A CSV per check (`<name>.csv`, UTF-8) plus `summary.csv`."""
        out = {"summary.csv": self.summary.to_csv(index=False).encode()}
        for r in self.results:
            out[f"{r.name}.csv"] = r.table.to_csv(index=False).encode()
        return out

    def write_csvs(self, folder: str | os.PathLike[str]) -> list[Path]:
        """Write `csv_files()` into `folder` (made if missing); returns the paths written.

        Raises:
            OSError: the folder or a file cannot be written.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, data in self.csv_files().items():
            path = folder / name
            path.write_bytes(data)
            paths.append(path)
        return paths


# --- shared helpers ------------------------------------------------------------------------------


def _frames(ds: Dataset, image_ids: object) -> pd.DataFrame:
    """image_id (Int64), split and file_name of the given ids (NA where an id is NA or unknown)."""
    ids = pd.array(pd.Series(image_ids, dtype="object").to_numpy(), dtype="Int64")
    img = ds.images.set_index("image_id")
    known = pd.Series(ids).map(img["split"])
    return pd.DataFrame({
        "image_id": ids,
        "split": known.astype("str").where(known.notna(), None),
        "file_name": pd.Series(ids).map(img["file_name"]),
    })


def _with_frames(ds: Dataset, image_ids: object, rest: pd.DataFrame) -> pd.DataFrame:
    """`_frames` columns, then `rest` (same length, same order)."""
    return pd.concat([_frames(ds, image_ids), rest.reset_index(drop=True)], axis=1)


def _problem_split(ds: Dataset, problem: Problem) -> str | None:
    """The split a problem's file belongs to: the only split, or the split folder on its path."""
    if len(ds.splits) == 1:
        return ds.splits[0]
    for folder in PurePath(problem.file).parents[:3]:
        name = "all" if folder.name == "data" else folder.name
        if name in ds.splits:
            return name
    return None


def _record_lookup(ds: Dataset) -> dict[tuple[str, str, str], int]:
    """(kind, split, record id as text) -> image_id, for image records and kept annotations."""
    lookup: dict[tuple[str, str, str], int] = {}
    for kind, table in (("annotation", ds.annotations), ("image", ds.images)):
        keys = zip(table["split"].tolist(), table["coco_id"].astype(str).tolist(), table["image_id"].tolist())
        for split, rec_id, image_id in keys:
            lookup.setdefault((kind, split, rec_id), int(image_id))
    return lookup


def _problem_rows(ds: Dataset, problems: list[Problem]) -> pd.DataFrame:
    """Problems as rows: image_id (when a loaded frame stands behind), split, file_name, file, record, outcome, message.

    The frame is the image record the problem names, or the frame of the annotation it names
    when the loader kept that annotation.
    """
    splits = [_problem_split(ds, p) for p in problems]
    lookup = _record_lookup(ds) if problems else {}
    ids = []
    for p, split in zip(problems, splits):
        match = _RECORD_ID.search(p.record)
        ids.append(lookup.get((match.group(1), split, match.group("id"))) if match and split else None)
    table = _with_frames(ds, ids, pd.DataFrame({
        "file": pd.Series([p.file for p in problems], dtype="str"),
        "record": pd.Series([p.record for p in problems], dtype="str"),
        "outcome": pd.Series(["skipped" if p.severity == "error" else "kept" for p in problems], dtype="str"),
        "message": pd.Series([p.message for p in problems], dtype="str"),
    }))
    # A problem whose record names no frame still belongs to a split (its file's).
    table["split"] = table["split"].where(table["split"].notna(), pd.Series(splits, dtype="object"))
    return table


_last_flat: tuple[weakref.ref, dict[str, np.ndarray]] | None = None  # the last table's `_flat_polygons`


def _flat_polygons(ann: pd.DataFrame) -> dict[str, np.ndarray]:
    """The polygon annotations' vertices as flat arrays, kept for the last table asked (two checks use them).

    Returns: xs, ys (float64, one per vertex), vertex_part (part index per vertex), part_ann
    (row position in `ann` per part), part_index (the part's index within its annotation),
    part_start and part_len (first vertex and vertex count per part).
    """
    global _last_flat
    last = _last_flat
    if last is not None and last[0]() is ann:
        return last[1]
    flat = _compute_flat_polygons(ann)
    _last_flat = (weakref.ref(ann), flat)
    return flat


def _compute_flat_polygons(ann: pd.DataFrame) -> dict[str, np.ndarray]:
    """`_flat_polygons`, uncached."""
    rows = np.flatnonzero((ann["kind"] == "polygon").to_numpy())
    polygons = polygon_arrays(ann, rows)  # the column's flat coordinates and offsets (no list per part)
    n_parts, coords, flat = polygons.n_parts, polygons.part_lengths, polygons.coords
    part_len = coords // 2
    part_start = np.concatenate(([0], np.cumsum(part_len)[:-1])).astype(np.int64)
    part_ann = np.repeat(rows, n_parts)
    first_part = np.concatenate(([0], np.cumsum(n_parts)[:-1])).astype(np.int64)
    part_index = np.arange(len(part_len)) - np.repeat(first_part, n_parts)
    return {"xs": flat[0::2], "ys": flat[1::2], "vertex_part": np.repeat(np.arange(len(part_len)), part_len),
            "part_ann": part_ann, "part_index": part_index, "part_start": part_start, "part_len": part_len}


# --- annotation checks ---------------------------------------------------------------------------


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of aligned boxes: `a`, `b` of shape (n, 4) as COCO [x, y, w, h] in px; returns (n,) float64.

    Two zero-area boxes have IoU 1 when they are equal, else 0.

    Raises:
        ValueError: the arrays are not both of shape (n, 4).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or a.shape[1:] != (4,) or a.shape != b.shape:
        raise ValueError(f"boxes must be two arrays of shape (n, 4), got {a.shape} and {b.shape}")
    iw = np.clip(np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    same = np.all(a == b, axis=1)
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), np.where(same, 1.0, 0.0))


def box_iou_table(ds: Dataset) -> pd.DataFrame:
    """Every polygon and RLE annotation with a stored box: its stored box, its mask's box and their IoU (threshold-free).

    Returns:
        The `box_vs_polygon` table of every such annotation (image_id, split, file_name, ann_id,
        class_name, bbox_x/y/w/h and mask_box_x/y/w/h in px, iou), lowest IoU first.
    """
    ann = ds.annotations
    ann = ann[(ann["kind"] != "box").to_numpy() & ann["bbox_w"].notna().to_numpy()]
    stored = ann[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy(np.float64)
    mask_box = ann[["mask_box_x", "mask_box_y", "mask_box_w", "mask_box_h"]].to_numpy(np.float64)
    table = _with_frames(ds, ann["image_id"], ann[["ann_id", "class_name", "bbox_x", "bbox_y", "bbox_w", "bbox_h",
                                                   "mask_box_x", "mask_box_y", "mask_box_w", "mask_box_h"]]
                         .assign(iou=box_iou(stored, mask_box)))
    return table.sort_values("iou", kind="stable").reset_index(drop=True)


def check_box_only(ds: Dataset) -> CheckResult:
    """Annotations without a mask (kind "box"), with their stored box in px and why they have none.

    reason: "no mask in the file" (COCO `"segmentation": []`, a YOLO box line) or a polygon the
    loader could not use and replaced by the annotation's box (also in `loading_problems`).
    """
    ann = ds.annotations
    rows = ann[(ann["kind"] == "box").to_numpy()]
    # The loader's fallbacks, by (split, annotation id): the few problems, then one lookup for every row.
    fallback = set()
    for p in ds.problems:
        match = _RECORD_ID.search(p.record) if _BOX_FALLBACK.match(p.message) else None
        split = _problem_split(ds, p) if match and match.group(1) == "annotation" else None
        if split is not None:
            fallback.add((split, match.group("id")))
    # Pairs, not joined text: a NUL separator vanishes in pandas 2's numpy-backed string concatenation.
    key = pd.MultiIndex.from_arrays([rows["split"].astype(str), rows["coco_id"].astype(str)])
    replaced = key.isin(list(fallback)) if fallback else np.zeros(len(rows), dtype=bool)
    table = _with_frames(ds, rows["image_id"], rows[["ann_id", "class_name", "bbox_x", "bbox_y", "bbox_w", "bbox_h"]]
                         .assign(reason=pd.Series(np.where(replaced, "polygon unusable, its box kept at load",
                                                           "no mask in the file"), dtype="str", index=rows.index)))
    return CheckResult(BOX_ONLY, "annotations without a mask (box only)",
                       "Segmentation training and segm evaluation cannot use an annotation without a mask; "
                       "heatmaps and areas here let its box stand in.", table)


def check_box_vs_polygon(ds: Dataset, min_iou: float = DEFAULT_BOX_IOU, ious: pd.DataFrame | None = None) -> CheckResult:
    """Annotations whose stored box overlaps the box of their own mask with IoU below `min_iou`.

    Polygon and RLE annotations with a stored box; box-only annotations have no other box, and
    boxes the loader rejected are in `loading_problems`.

    Args:
        ds: the dataset.
        min_iou: flagged below this IoU (0..1).
        ious: `box_iou_table(ds)`, when already computed.

    Raises:
        ValueError: `min_iou` is not within 0..1.
    """
    if not 0 <= min_iou <= 1:
        raise ValueError(f"min_iou must be within 0..1, got {min_iou}")
    ious = box_iou_table(ds) if ious is None else ious
    table = ious[(ious["iou"] < min_iou).to_numpy()].reset_index(drop=True)
    return CheckResult(BOX_VS_POLYGON, f"stored box vs the mask's box (IoU below {min_iou:g})",
                       "Detectors train on the stored boxes: a box that misses its own polygon teaches the wrong "
                       "extent (the authors recompute boxes from the polygons).", table)


def _fewer_than_three_points(g: dict[str, np.ndarray]) -> np.ndarray:
    """Per part of `_flat_polygons`: True when it has fewer than three distinct points (bool, one per part).

    Without sorting: a part's second distinct point is its first vertex unlike the first one; a
    third exists when some vertex is unlike both.
    """
    xs, ys, vp = g["xs"], g["ys"], g["vertex_part"]
    n_parts = len(g["part_len"])
    if not len(xs):
        return np.ones(n_parts, dtype=bool)
    start = g["part_start"][vp]
    unlike_first = (xs != xs[start]) | (ys != ys[start])
    # The first vertex unlike the first one, per part (its own first vertex when there is none).
    candidate = np.where(unlike_first, np.arange(len(xs)), np.iinfo(np.int64).max)
    second = np.full(n_parts, np.iinfo(np.int64).max)
    np.minimum.at(second, vp, candidate)
    second = np.where(second == np.iinfo(np.int64).max, g["part_start"], second)[vp]
    third = unlike_first & ((xs != xs[second]) | (ys != ys[second]))
    return np.bincount(vp[third], minlength=n_parts) == 0


def check_degenerate_polygons(ds: Dataset) -> CheckResult:
    """Polygon parts with fewer than three distinct points, zero area, or self-intersections (shapely's validity).

    Parts the loader already dropped (fewer than three points, an odd number of coordinates)
    are listed too, from `Dataset.problems`, with their frame when the annotation was kept.
    """
    ann = ds.annotations
    g = _flat_polygons(ann)
    n_parts = len(g["part_len"])
    reason = np.full(n_parts, "", dtype=object)
    few = _fewer_than_three_points(g)
    reason[few] = "fewer than three distinct points"
    ok = np.flatnonzero(~few)
    if len(ok):
        # Rings from the parts with three or more distinct points; shapely closes each ring.
        lens = g["part_len"][ok]
        vertex = np.repeat(g["part_start"][ok], lens) + np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens)
        rings = shapely.linearrings(g["xs"][vertex], g["ys"][vertex], indices=np.repeat(np.arange(len(ok)), lens))
        polygons = shapely.polygons(rings)
        # No area at all: every point on one line. A bow tie's signed lobes cancel too, so the few
        # polygons without signed area are asked whether their hull has any.
        zero = shapely.area(polygons) < ZERO_AREA
        flat = np.flatnonzero(zero)
        zero[flat] = shapely.area(shapely.convex_hull(polygons[flat])) < ZERO_AREA
        reason[ok[zero]] = "zero area"
        invalid = ~shapely.is_valid(polygons) & ~zero
        if invalid.any():
            reason[ok[invalid]] = shapely.is_valid_reason(polygons[invalid])
    bad = np.flatnonzero(reason != "")
    rows = ann.iloc[g["part_ann"][bad]]
    found = _with_frames(ds, rows["image_id"], pd.DataFrame({
        "ann_id": pd.array(rows["ann_id"].to_numpy(), dtype="Int64"),
        "class_name": rows["class_name"].to_numpy(),
        "part": g["part_index"][bad],
        "n_points": g["part_len"][bad],
        "reason": pd.Series(reason[bad], dtype="str"),
    }))
    dropped = [p for p in ds.problems if _DROPPED_PART.search(p.message)]
    if dropped:
        loaded = _problem_rows(ds, dropped)
        extra = loaded[["image_id", "split", "file_name"]].assign(
            ann_id=pd.array([pd.NA] * len(loaded), dtype="Int64"), class_name=None,
            part=pd.NA, n_points=pd.NA, reason="dropped at load: " + loaded["record"] + ": " + loaded["message"])
        found = pd.concat([found, extra], ignore_index=True)
    return CheckResult(DEGENERATE_POLYGONS, "degenerate polygons (under three points, zero area, self-intersecting)",
                       "A polygon without area or crossing itself rasterises to a wrong or empty mask, and some "
                       "training code fails on it.", found.reset_index(drop=True))


def check_vertices_outside(ds: Dataset, tolerance: float = 0.0) -> CheckResult:
    """Polygon annotations with vertices outside their frame (x outside 0..width or y outside 0..height, in px).

    Args:
        ds: the dataset.
        tolerance: px beyond the frame edge still accepted.

    Raises:
        ValueError: a negative tolerance.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0 px, got {tolerance}")
    ann = ds.annotations
    g = _flat_polygons(ann)
    vertex_ann = g["part_ann"][g["vertex_part"]]
    img = ds.images.set_index("image_id")
    width = ann["image_id"].map(img["width"]).to_numpy(np.float64)[vertex_ann]
    height = ann["image_id"].map(img["height"]).to_numpy(np.float64)[vertex_ann]
    # px beyond the nearest edge (0 inside), without stacking five vertex-long arrays.
    beyond = np.maximum(np.maximum(-g["xs"], g["xs"] - width), 0.0)
    np.maximum(beyond, np.maximum(-g["ys"], g["ys"] - height), out=beyond)
    out = beyond > tolerance
    n_ann = len(ann)
    n_out = np.bincount(vertex_ann[out], minlength=n_ann)
    worst = np.zeros(n_ann)
    np.maximum.at(worst, vertex_ann, beyond)
    bad = np.flatnonzero(n_out > 0)
    rows = ann.iloc[bad]
    table = _with_frames(ds, rows["image_id"], pd.DataFrame({
        "ann_id": rows["ann_id"].to_numpy(), "class_name": rows["class_name"].to_numpy(),
        "n_vertices": rows["n_vertices"].to_numpy(), "n_outside": n_out[bad], "max_outside_px": worst[bad]}))
    return CheckResult(VERTICES_OUTSIDE, "vertices outside the frame",
                       "Vertices past the edge are clipped when masks are drawn, so stored areas and boxes disagree "
                       "with the pixels, and some training code rejects them.", table)


def _annotation_rle(kind: str, segmentation: object, box: np.ndarray, height: int, width: int) -> dict | None:
    """One annotation's mask as a compressed RLE of a height x width frame, or None when its size differs."""
    if kind == "polygon":
        return mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    if kind == "rle":
        rle = rle_to_compressed(segmentation)
        return rle if list(rle["size"]) == [height, width] else None
    return mask_utils.frPyObjects(box.reshape(1, 4), height, width)[0]


def annotation_pair_ious(ds: Dataset) -> pd.DataFrame:
    """Mask IoU of every pair of annotations of one class in one frame whose recomputed boxes touch (threshold-free).

    Pairs where the larger mask is empty, or an RLE's size differs from its frame's, are left
    out (no IoU is defined). Each mask is rasterised once; pycocotools computes the IoUs, one
    call per frame.

    Returns:
        Columns image_id (int64), pos, pos_b (row positions in `ds.annotations`, pos < pos_b),
        small_area, large_area (the pair's mask areas in px²: their ratio bounds the IoU), mask_iou
        (float64), ordered by image_id, pos, pos_b.
    """
    ann = ds.annotations.reset_index(drop=True)
    key = ann[["image_id", "class_name", "mask_box_x", "mask_box_y", "mask_box_w", "mask_box_h", "mask_area"]]
    key = key.assign(pos=np.arange(len(ann)))
    pairs = key.merge(key, on=["image_id", "class_name"], suffixes=("", "_b"))
    pairs = pairs[pairs["pos"] < pairs["pos_b"]]
    a = pairs[["mask_box_x", "mask_box_y", "mask_box_w", "mask_box_h"]].to_numpy(np.float64)
    b = pairs[["mask_box_x_b", "mask_box_y_b", "mask_box_w_b", "mask_box_h_b"]].to_numpy(np.float64)
    touch = (np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) >= np.maximum(a[:, 0], b[:, 0])) & \
            (np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) >= np.maximum(a[:, 1], b[:, 1]))
    small = np.minimum(pairs["mask_area"], pairs["mask_area_b"]).to_numpy(np.float64)
    large = np.maximum(pairs["mask_area"], pairs["mask_area_b"]).to_numpy(np.float64)
    possible = touch & (large > 0) & (small >= 0)
    pairs = pairs.assign(small=small, large=large)[possible].sort_values(["image_id", "pos", "pos_b"], kind="stable")
    frame = pairs["image_id"].to_numpy(np.int64)
    pos_a, pos_b = pairs["pos"].to_numpy(np.int64), pairs["pos_b"].to_numpy(np.int64)
    # Every annotation in a pair rasterised once, on its frame.
    involved = np.unique(np.r_[pos_a, pos_b])
    img = ds.images.set_index("image_id")
    heights = ann["image_id"].map(img["height"]).to_numpy(np.int64)[involved]
    widths = ann["image_id"].map(img["width"]).to_numpy(np.int64)[involved]
    kinds = ann["kind"].to_numpy(dtype=object)[involved]
    segs = mask_cells(ann, involved)
    boxes = ann[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy(np.float64)[involved]
    rles = [_annotation_rle(k, g, x, int(h), int(w)) for k, g, x, h, w in zip(kinds, segs, boxes, heights, widths)]
    usable = np.array([r is not None for r in rles], dtype=bool)
    at_a, at_b = np.searchsorted(involved, pos_a), np.searchsorted(involved, pos_b)
    ok = usable[at_a] & usable[at_b] if len(involved) else np.zeros(0, dtype=bool)
    iou = np.full(len(pairs), np.nan)
    starts = np.flatnonzero(np.r_[True, frame[1:] != frame[:-1]]) if len(frame) else np.zeros(0, dtype=np.int64)
    for lo, hi in zip(starts, np.r_[starts[1:], len(frame)]):
        sel = ok[lo:hi]
        if not sel.any():
            continue
        # One call for the frame: the IoU matrix of its masks, read at the pairs.
        fa, fb = at_a[lo:hi][sel], at_b[lo:hi][sel]
        members = np.unique(np.r_[fa, fb])
        masks = [rles[m] for m in members]
        matrix = np.asarray(mask_utils.iou(masks, masks, [0] * len(masks)), dtype=np.float64).reshape(len(masks), -1)
        iou[lo:hi][sel] = matrix[np.searchsorted(members, fa), np.searchsorted(members, fb)]
    return pd.DataFrame({
        "image_id": frame[ok], "pos": pos_a[ok], "pos_b": pos_b[ok],
        "small_area": pairs["small"].to_numpy(np.float64)[ok], "large_area": pairs["large"].to_numpy(np.float64)[ok],
        "mask_iou": iou[ok],
    })


def check_duplicate_annotations(ds: Dataset, min_iou: float = DEFAULT_MASK_IOU,
                                pair_ious: pd.DataFrame | None = None) -> CheckResult:
    """Pairs of annotations of one class in one frame whose masks overlap with IoU above `min_iou`.

    Args:
        ds: the dataset.
        min_iou: flagged above this mask IoU (0..1).
        pair_ious: `annotation_pair_ious(ds)`, when already computed.

    Raises:
        ValueError: `min_iou` is not within 0..1.
    """
    if not 0 <= min_iou <= 1:
        raise ValueError(f"min_iou must be within 0..1, got {min_iou}")
    pairs = annotation_pair_ious(ds) if pair_ious is None else pair_ious
    # The area ratio bounds the IoU; kept as a test so that areas and masks that disagree decide as before.
    found = pairs[((pairs["small_area"] >= min_iou * pairs["large_area"]) & (pairs["mask_iou"] > min_iou)).to_numpy()]
    ann = ds.annotations
    rows_a, rows_b = ann.iloc[found["pos"].to_numpy()], ann.iloc[found["pos_b"].to_numpy()]
    table = _with_frames(ds, rows_a["image_id"], pd.DataFrame({
        "class_name": rows_a["class_name"].to_numpy(), "ann_id": rows_a["ann_id"].to_numpy(),
        "other_ann_id": rows_b["ann_id"].to_numpy(), "mask_iou": found["mask_iou"].to_numpy(np.float64)}))
    return CheckResult(DUPLICATE_ANNOTATIONS, f"near-duplicate annotations (same frame and class, mask IoU above {min_iou:g})",
                       "The same artefact annotated twice is counted twice in every statistic and, in training, "
                       "punishes a detector for not predicting it twice.", table)


# --- frame checks --------------------------------------------------------------------------------


def perceptual_hash(path: str | os.PathLike[str]) -> str:
    """The 256-bit perceptual hash of an image file as 64 hex digits.

    `imagehash.phash` with a 16 x 16 hash (the DCT of the 64 x 64 greyscale frame): XMM-OM frames
    share their large-scale look (the detector window on black), so the 64-bit default puts
    unrelated frames within a few bits of each other; at 256 bits they stay apart.

    Raises:
        OSError: the file cannot be read or decoded (PIL's errors included).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.draft("L", (4 * HASH_SIDE * 2, 4 * HASH_SIDE * 2))  # JPEG: decode at a reduced scale, far faster
                bits = imagehash.phash(im.convert("L"), hash_size=HASH_SIDE).hash.ravel()
    except OSError:
        raise
    except Exception as exc:  # noqa: BLE001 - PIL raises many types on damaged files
        raise OSError(f"{path}: cannot be decoded ({type(exc).__name__}: {exc})") from exc
    return np.packbits(bits).tobytes().hex()


def hash_words(hashes: list[str] | pd.Series) -> np.ndarray:
    """Hex hashes (`perceptual_hash`) as a (n, `HASH_BITS` / 64) uint64 array, most significant word first.

    Raises:
        ValueError: a hash is not `HASH_BITS` / 4 hex digits.
    """
    data = b"".join(bytes.fromhex(h) for h in hashes)
    words = HASH_BITS // 64
    if len(data) != len(hashes) * words * 8:
        raise ValueError(f"expected hashes of {HASH_BITS // 4} hex digits")
    return np.frombuffer(data, dtype=">u8").astype(np.uint64).reshape(len(hashes), words)


def _open_hash_db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=10)
    db.execute(f"CREATE TABLE IF NOT EXISTS {PHASH_TABLE} (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, "
               "hash TEXT, used REAL)")
    return db


def frame_hashes(ds: Dataset, use_cache: bool = True, cache_file: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """The perceptual hash of every frame whose file opens, computed once per file version.

    Args:
        ds: the dataset.
        use_cache: read and write the hash cache (an SQLite file keyed by path, size and mtime;
            at most `MAX_PHASH_ENTRIES`, the least recently used dropped beyond).
        cache_file: the cache file (default `PHASH_DB` in the cache folder).

    Returns:
        Columns image_id (int64) and hash (str, `perceptual_hash`), one row per frame that could
        be hashed. A cache that cannot be used (locked, read-only, damaged) only costs the time to hash again.
    """
    img = ds.images[ds.images["file_status"] == FILE_OK]
    paths = img["path"].tolist()
    stat_of: dict[str, tuple[int, int]] = {}
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            continue
        stat_of[p] = (st.st_size, st.st_mtime_ns)
    known: dict[str, str] = {}
    db = None
    if use_cache:
        try:
            db = _open_hash_db(Path(cache_file) if cache_file else cache_dir() / PHASH_DB)
            keys = list(stat_of)
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                query = f"SELECT path, size, mtime_ns, hash FROM {PHASH_TABLE} WHERE path IN ({','.join('?' * len(chunk))})"  # noqa: S608 - constant table, placeholders
                for path, size, mtime, value in db.execute(query, chunk):
                    if stat_of[path] == (size, mtime):
                        known[path] = value
        except sqlite3.Error:
            if db is not None:
                db.close()
            db = None
    todo = [p for p in stat_of if p not in known]

    def one(path: str) -> str | None:
        try:
            return perceptual_hash(path)
        except OSError:
            return None

    with concurrent.futures.ThreadPoolExecutor(max_workers=HASH_THREADS) as pool:
        fresh = {p: h for p, h in zip(todo, pool.map(one, todo)) if h is not None}
    if db is not None:
        try:
            with db:
                now = time.time()
                db.executemany(f"INSERT OR REPLACE INTO {PHASH_TABLE} VALUES (?, ?, ?, ?, ?)",  # noqa: S608 - constant table
                               [(p, *stat_of[p], h, now) for p, h in fresh.items()])
                db.executemany(f"UPDATE {PHASH_TABLE} SET used = ? WHERE path = ?", [(now, p) for p in known])  # noqa: S608
                (count,) = db.execute(f"SELECT COUNT(*) FROM {PHASH_TABLE}").fetchone()  # noqa: S608
                if count > MAX_PHASH_ENTRIES:
                    db.execute(f"DELETE FROM {PHASH_TABLE} WHERE path IN "  # noqa: S608 - constant table
                               f"(SELECT path FROM {PHASH_TABLE} ORDER BY used LIMIT ?)", (count - MAX_PHASH_ENTRIES,))
        except sqlite3.Error:
            pass
        finally:
            db.close()
    hashes = known | fresh
    present = np.array([p in hashes for p in paths], dtype=bool)
    return pd.DataFrame({
        "image_id": img["image_id"].to_numpy()[present],
        "hash": pd.Series([hashes[p] for p in paths if p in hashes], dtype="str"),
    })


def _band_plan(n: int, n_bits: int, max_distance: int) -> list[int]:
    """The search radius (0 or 1) of each band `hash_pairs` cuts the hashes into: the cheapest plan for random hashes.

    With m bands of which r are searched at radius 1, two hashes at most `max_distance` bits
    apart agree on a radius-0 band or are within one bit on a radius-1 band whenever
    m + r > `max_distance` (pigeonhole). Fewer, wider bands at radius 1 mean fewer candidates
    but a lookup per bit of each hash; the plan weighs the expected counts of both.
    """
    need = max_distance + 1
    fewest = -(-n_bits // 62)  # band values fit in int64
    pairs = n * (n - 1) / 2
    plans = []
    for m in range(max(-(-need // 2), fewest), max(need, fewest) + 1):  # the last: every band at radius 0
        near = max(need - m, 0)
        if near and -(-n_bits // m) > NEAR_BAND_BITS:
            continue
        width = n_bits / m
        cost = (m - near) * pairs / 2**width + near * (pairs * (1 + width) / 2**width + LOOKUP_COST * n * width)
        plans.append((cost, m, [1] * near + [0] * (m - near)))
    return min(plans)[2]


def _close_pairs(columns: list[np.ndarray], owner: np.ndarray, order: np.ndarray, start: np.ndarray,
                 count: np.ndarray, max_distance: int) -> list[np.ndarray]:
    """Pair keys (i * n + j, i < j) of the candidates within `max_distance` bits, in chunks of about `PAIR_CHUNK`.

    Candidate k pairs hash `owner[k]` with hashes `order[start[k]:start[k] + count[k]]`.
    """
    n = len(order)
    ends = np.cumsum(count)
    out = []
    lo = 0
    while lo < len(count):
        hi = max(int(np.searchsorted(ends, (ends[lo - 1] if lo else 0) + PAIR_CHUNK, side="right")), lo + 1)
        c = count[lo:hi]
        a = np.repeat(owner[lo:hi], c)
        b = order[np.repeat(start[lo:hi] - (np.cumsum(c) - c), c) + np.arange(int(c.sum()))]
        distance = np.bitwise_count(columns[0][a] ^ columns[0][b]).astype(np.int64)
        for column in columns[1:]:
            distance += np.bitwise_count(column[a] ^ column[b])
        near = distance <= max_distance
        a, b = a[near], b[near]
        out.append(np.minimum(a, b) * n + np.maximum(a, b))
        lo = hi
    return out


def _all_pairs(words: np.ndarray, max_distance: int) -> list[np.ndarray]:
    """Pair keys (i * n + j, i < j) within `max_distance` bits, every pair compared (blocks of rows)."""
    n = len(words)
    rows = max(1, (1 << 22) // max(n, 1))  # a block's XOR temporary stays near 32 MB
    out = []
    for lo in range(0, n, rows):
        block = words[lo:lo + rows]
        distance = np.zeros((len(block), n - lo), dtype=np.int64)
        for k in range(words.shape[1]):
            distance += np.bitwise_count(block[:, k, None] ^ words[None, lo:, k])
        a, b = np.nonzero(distance <= max_distance)
        later = b > a
        out.append((a[later] + lo) * n + b[later] + lo)
    return out


def hash_pairs(words: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs of hashes that differ in at most `max_distance` bits.

    Multi-index pigeonhole search: the hash bits are dealt into m bands (band k: every m-th bit
    from bit k, so the bits most frames share do not fill one band), r of them searched at
    radius 1 and the rest at radius 0, with m + r > `max_distance` (`_band_plan`). Two hashes
    that close then agree on a radius-0 band, or differ in at most one bit on a radius-1 band,
    so only those candidates are compared (XOR and popcount). The cost stays near linear at every
    distance for random hashes. A few hundred hashes (`ALL_PAIRS_MAX` pairs), and hashes too
    alike for bands to tell apart (more candidates than pairs), are compared pair by pair instead.

    Args:
        words: uint64 array of shape (n, w) (`hash_words`).
        max_distance: bits, 0..`MAX_HASH_DISTANCE`.

    Returns:
        (i, j, distance): int64 arrays of equal length; i < j are row positions into `words`,
        ordered by i then j.

    Raises:
        ValueError: `max_distance` outside 0..`MAX_HASH_DISTANCE`, or `words` not two-dimensional.
    """
    if not 0 <= max_distance <= MAX_HASH_DISTANCE:
        raise ValueError(f"max_distance must be within 0..{MAX_HASH_DISTANCE} bits, got {max_distance}")
    words = np.asarray(words, dtype=np.uint64)
    if words.ndim != 2:
        raise ValueError(f"expected hash words of shape (n, w), got {words.shape}")
    n, n_words = words.shape
    found: list[np.ndarray] = []
    if n * (n - 1) // 2 <= ALL_PAIRS_MAX:
        found = _all_pairs(words, max_distance)
    elif n_words:
        radii = _band_plan(n, 64 * n_words, max_distance)
        bits = np.unpackbits(words.astype(">u8").view(np.uint8).reshape(n, -1), axis=1)  # (n, 64 w)
        columns = [np.ascontiguousarray(words[:, k]) for k in range(n_words)]
        budget = n * (n - 1) // 2  # candidates beyond which comparing every pair costs less
        for band, radius in enumerate(radii):
            take = np.arange(band, bits.shape[1], len(radii))
            value = np.zeros(n, dtype=np.int64)
            for t, column in enumerate(take):
                value |= bits[:, column].astype(np.int64) << t
            order = np.argsort(value, kind="stable")
            ordered = value[order]
            first = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
            size = np.diff(np.r_[first, n])
            # Radius 0: each hash against the members of its group after it in sort order.
            later = np.repeat(first + size, size) - np.arange(n) - 1
            has = np.flatnonzero(later > 0)
            candidates = [(order[has], has + 1, later[has])]
            if radius:
                # Radius 1: each hash against the groups whose value has one more bit set (each pair once).
                group_of = np.full(1 << len(take), -1, dtype=np.int32)
                group_of[ordered[first]] = np.arange(len(first), dtype=np.int32)
                for t in range(len(take)):
                    free = np.flatnonzero(((value >> t) & 1) == 0)
                    group = group_of[value[free] | (1 << t)]
                    hit = group >= 0
                    candidates.append((free[hit], first[group[hit]], size[group[hit]]))
            budget -= sum(int(c[2].sum()) for c in candidates)
            if budget < 0:
                found = _all_pairs(words, max_distance)
                break
            for owner, start, count in candidates:
                found += _close_pairs(columns, owner, order, start, count, max_distance)
    keys = np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
    i, j = np.divmod(keys, n) if n else (keys, keys)
    distance = np.bitwise_count(words[i] ^ words[j]).sum(axis=1).astype(np.int64)
    return i.astype(np.int64), j.astype(np.int64), distance


def check_duplicate_frames(ds: Dataset, max_distance: int = DEFAULT_HASH_DISTANCE, use_cache: bool = True,
                           hashes: pd.DataFrame | None = None) -> CheckResult:
    """Pairs of frames whose perceptual hashes differ in at most `max_distance` of 256 bits; pairs across splits first.

    Args:
        ds: the dataset.
        max_distance: bits, 0..`MAX_HASH_DISTANCE` (0: identical hashes only).
        use_cache: keep the hashes in the cache folder (see `frame_hashes`).
        hashes: `frame_hashes` output, when already computed.

    Raises:
        ValueError: `max_distance` outside 0..`MAX_HASH_DISTANCE`.
    """
    if not 0 <= max_distance <= MAX_HASH_DISTANCE:
        raise ValueError(f"max_distance must be within 0..{MAX_HASH_DISTANCE} bits, got {max_distance}")
    hashes = frame_hashes(ds, use_cache=use_cache) if hashes is None else hashes
    i, j, distance = hash_pairs(hash_words(hashes["hash"].tolist()), max_distance)
    ids_a, ids_b = hashes["image_id"].to_numpy()[i], hashes["image_id"].to_numpy()[j]
    other = _frames(ds, ids_b)
    table = _with_frames(ds, ids_a, pd.DataFrame({
        "other_image_id": other["image_id"], "other_split": other["split"], "other_file_name": other["file_name"],
        "distance": distance}))
    table.insert(len(table.columns), "across_splits", (table["split"] != table["other_split"]).to_numpy(bool))
    table = table.sort_values(["across_splits", "distance", "image_id"], ascending=[False, True, True], kind="stable")
    return CheckResult(DUPLICATE_FRAMES, f"duplicate or near-duplicate frames (perceptual hashes within {max_distance} of {HASH_BITS} bits)",
                       "A frame in both train and valid leaks the answer into the evaluation and inflates its "
                       "scores; within one split it weighs an observation twice.", table.reset_index(drop=True))


def check_frame_files(ds: Dataset) -> CheckResult:
    """Listed frames whose file is missing, unreadable, too large or outside the dataset folder (`file_status`)."""
    img = ds.images[ds.images["file_status"] != FILE_OK]
    table = _with_frames(ds, img["image_id"], img[["file_status", "path"]])
    return CheckResult(FRAME_FILES, "listed frames missing or unreadable",
                       "Annotations without their pixels cannot be checked by eye nor used for training; a training "
                       "run that expects every file stops on the first one missing.", table)


def image_folders(ds: Dataset) -> pd.DataFrame:
    """The folders the listed frames sit in, per split: each split's image folder and any subfolder a file name names.

    Returns:
        Columns split, folder (str), one row per distinct pair; folders of frames with no resolved path are unknown.
    """
    img = ds.images[ds.images["path"] != ""]
    rows = []
    for split, path, name in zip(img["split"], img["path"], img["file_name"]):
        p = PurePath(path)
        rows.append((split, str(p.parent)))
        parts = PurePath(name.replace("\\", "/")).parts
        if len(parts) > 1 and p.parts[-len(parts):] == parts:
            rows.append((split, str(PurePath(*p.parts[:-len(parts)]))))  # the folder the name is relative to
    return pd.DataFrame(rows, columns=["split", "folder"]).drop_duplicates().reset_index(drop=True)


def check_unlisted_frames(ds: Dataset) -> CheckResult:
    """Image files in the dataset's image folders (`image_folders`) that no annotation file lists."""
    listed = set(ds.images["path"])
    rows = []
    seen: set[str] = set()
    for split, folder in image_folders(ds).itertuples(index=False):
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if PurePath(entry.name).suffix.lower() not in IMAGE_SUFFIXES or entry.path in seen:
                continue
            try:
                if not entry.is_file():
                    continue
                path = os.path.realpath(entry.path) if entry.is_symlink() else entry.path
            except OSError:
                continue
            seen.add(entry.path)
            if path not in listed:
                rows.append((split, entry.name, entry.path))
    table = pd.DataFrame({
        "image_id": pd.array([pd.NA] * len(rows), dtype="Int64"),
        "split": pd.Series([r[0] for r in rows], dtype="str"),
        "file_name": pd.Series([r[1] for r in rows], dtype="str"),
        "path": pd.Series([r[2] for r in rows], dtype="str"),
    })
    return CheckResult(UNLISTED_FRAMES, "frames on disk but not listed",
                       "A frame no annotation file lists is silently left out of training and of every count; it "
                       "may be a hard negative whose record was lost.", table)


def check_duplicate_file_names(ds: Dataset) -> CheckResult:
    """Frames sharing a file name (without folder prefix), or pointing at the same file, within or across splits."""
    img = ds.images
    names = img["file_name"].map(base_name)
    same_name = names.duplicated(keep=False).to_numpy()
    same_file = ((img["path"] != "") & img["path"].duplicated(keep=False)).to_numpy()
    bad = same_name | same_file
    reason = np.where(same_name & same_file, "same file name, same file",
                      np.where(same_file, "same file", "same file name"))[bad]
    rows = img[bad]
    table = _with_frames(ds, rows["image_id"], pd.DataFrame({
        "name": names[bad].to_numpy(), "path": rows["path"].to_numpy(), "reason": pd.Series(reason, dtype="str")}))
    table = table.sort_values(["name", "image_id"], kind="stable").reset_index(drop=True)
    return CheckResult(DUPLICATE_FILE_NAMES, "duplicate file names",
                       "Two records of one frame count it twice and, across splits, put it in train and valid; "
                       "exports that write by file name overwrite one with the other.", table)


def check_duplicate_ids(ds: Dataset) -> CheckResult:
    """Image, annotation and category ids used twice in one file (the loader kept the first, skipped the rest)."""
    problems = [p for p in ds.problems if _DUPLICATE_ID.match(p.message)]
    return CheckResult(DUPLICATE_IDS, "duplicate image, annotation or category ids",
                       "Tools that index by id (pycocotools among them) keep one record and drop or mix up the "
                       "others; this dashboard skipped the later ones.", _problem_rows(ds, problems))


def check_declared_size(ds: Dataset) -> CheckResult:
    """Frames whose declared width or height differs from their file's (or is unusable), in px."""
    img = ds.images[ds.images["file_status"] == FILE_OK]
    unusable = (img["declared_width"] == 0).to_numpy()
    differs = ((img["declared_width"] != img["width"]) | (img["declared_height"] != img["height"])).to_numpy()
    bad = unusable | differs
    rows = img[bad]
    table = _with_frames(ds, rows["image_id"], pd.DataFrame({
        "declared_width": rows["declared_width"].to_numpy(), "declared_height": rows["declared_height"].to_numpy(),
        "file_width": rows["width"].to_numpy(), "file_height": rows["height"].to_numpy(),
        "reason": pd.Series(np.where(unusable[bad], "declared size unusable", "differs from the file"), dtype="str")}))
    return CheckResult(DECLARED_SIZE, "declared width or height differs from the file's",
                       "Tools that trust the declared size rasterise masks and scale boxes on the wrong canvas; "
                       "this dashboard uses the file's size.", table)


def check_unused_classes(ds: Dataset) -> CheckResult:
    """Visible classes that no annotation uses (Roboflow's unused parent category is already hidden)."""
    used = set(ds.annotations["class_name"])
    cats = ds.categories[~ds.categories["name"].isin(used)]
    table = pd.DataFrame({"image_id": pd.array([pd.NA] * len(cats), dtype="Int64"),
                          "class_id": cats["class_id"].to_numpy(), "class_name": cats["name"].to_numpy(),
                          "supercategory": cats["supercategory"].to_numpy()})
    return CheckResult(UNUSED_CLASSES, "classes never used",
                       "A class without examples still takes an output of the model and a row in every per-class "
                       "metric (undefined there); it may be a typo for another class.", table)


def check_loading_problems(ds: Dataset) -> CheckResult:
    """Every problem the loader met (records and files skipped, or kept with a warning), with its frame when known."""
    return CheckResult(LOADING_PROBLEMS, "records skipped or kept with a warning when loading",
                       "Skipped records are missing from every number here and in training; warnings name data the "
                       "dashboard had to interpret.", _problem_rows(ds, list(ds.problems)))


def count_hard_negatives(ds: Dataset) -> CheckResult:
    """Images without annotations (XAMI's hard negatives): counted, not flagged."""
    img = ds.images[ds.images["n_annotations"] == 0]
    table = _with_frames(ds, img["image_id"], img[["obs_key", "filter_letter"]])
    return CheckResult(HARD_NEGATIVES, "images without annotations (hard negatives)",
                       "Frames without artefacts are kept on purpose (galaxies, clusters, nebulae) so a detector "
                       "learns what is not an artefact; counted, not a problem.", table, flagged=False)


@dataclass(frozen=True)
class CheckInputs:
    """The threshold-free work behind every check, done once per dataset (`prepare_checks`).

    fixed: the results of the checks without a threshold, by name; box_ious: `box_iou_table`;
    pair_ious: `annotation_pair_ious`; hashes: `frame_hashes`. `run_checks(..., inputs=...)`
    only compares these with its thresholds.
    """

    fixed: dict[str, CheckResult]
    box_ious: pd.DataFrame
    pair_ious: pd.DataFrame
    hashes: pd.DataFrame
    vertex_tolerance: float = 0.0


def prepare_checks(ds: Dataset, use_hash_cache: bool = True, vertex_tolerance: float = 0.0,
                   hashes: pd.DataFrame | None = None) -> CheckInputs:
    """Everything the checks compute that no threshold changes: frame hashes, box and mask IoUs, polygon validity, files.

    Args:
        ds: the dataset.
        use_hash_cache: keep perceptual hashes in the cache folder (see `frame_hashes`).
        vertex_tolerance: px beyond the frame edge a vertex may lie unflagged.
        hashes: `frame_hashes(ds)` output, when already computed.

    Raises:
        ValueError: a negative `vertex_tolerance`.
    """
    fixed = (
        check_frame_files(ds),
        check_unlisted_frames(ds),
        check_duplicate_file_names(ds),
        check_duplicate_ids(ds),
        check_declared_size(ds),
        check_box_only(ds),
        check_degenerate_polygons(ds),
        check_vertices_outside(ds, tolerance=vertex_tolerance),
        check_unused_classes(ds),
        check_loading_problems(ds),
        count_hard_negatives(ds),
    )
    return CheckInputs(fixed={r.name: r for r in fixed}, box_ious=box_iou_table(ds), pair_ious=annotation_pair_ious(ds),
                       hashes=frame_hashes(ds, use_cache=use_hash_cache) if hashes is None else hashes,
                       vertex_tolerance=vertex_tolerance)


def run_checks(ds: Dataset, box_iou_min: float = DEFAULT_BOX_IOU, mask_iou_min: float = DEFAULT_MASK_IOU,
               max_hash_distance: int = DEFAULT_HASH_DISTANCE, use_hash_cache: bool = True,
               vertex_tolerance: float = 0.0, inputs: CheckInputs | None = None) -> HealthReport:
    """Run every check in the page's order.

    Args:
        ds: the dataset.
        box_iou_min: stored box vs the mask's box, flagged below this IoU (0..1).
        mask_iou_min: two same-class annotations in a frame, flagged above this mask IoU (0..1).
        max_hash_distance: frames whose perceptual hashes differ in at most this many bits are flagged.
        use_hash_cache: keep perceptual hashes in the cache folder (unused with `inputs`).
        vertex_tolerance: px beyond the frame edge a vertex may lie unflagged.
        inputs: `prepare_checks(ds, ...)`, when already computed: only the thresholds are applied
            (the vertex check is run again when its tolerance differs from the inputs').

    Raises:
        ValueError: a threshold outside its range.
    """
    if inputs is None:
        inputs = prepare_checks(ds, use_hash_cache=use_hash_cache, vertex_tolerance=vertex_tolerance)
    fixed = dict(inputs.fixed)
    if vertex_tolerance != inputs.vertex_tolerance:
        fixed[VERTICES_OUTSIDE] = check_vertices_outside(ds, tolerance=vertex_tolerance)
    results = (
        fixed[FRAME_FILES],
        fixed[UNLISTED_FRAMES],
        fixed[DUPLICATE_FILE_NAMES],
        fixed[DUPLICATE_IDS],
        fixed[DECLARED_SIZE],
        check_duplicate_frames(ds, max_distance=max_hash_distance, hashes=inputs.hashes),
        fixed[BOX_ONLY],
        check_box_vs_polygon(ds, min_iou=box_iou_min, ious=inputs.box_ious),
        fixed[DEGENERATE_POLYGONS],
        fixed[VERTICES_OUTSIDE],
        check_duplicate_annotations(ds, min_iou=mask_iou_min, pair_ious=inputs.pair_ious),
        fixed[UNUSED_CLASSES],
        fixed[LOADING_PROBLEMS],
        fixed[HARD_NEGATIVES],
    )
    settings = {"box_iou_min": box_iou_min, "mask_iou_min": mask_iou_min,
                "max_hash_distance": max_hash_distance, "vertex_tolerance": vertex_tolerance}
    return HealthReport(results=results, settings=settings)
