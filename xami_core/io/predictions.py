"""Read a model's predictions (a COCO results file, or YOLOv8-seg prediction text files) into `Predictions`.

A prediction set is matched to a loaded `Dataset`: its image ids and class ids are resolved
to the dataset's, every mask is rasterised once (pycocotools RLE), and what cannot be used is
left out with a `Problem` naming the file and the record; the counts of what was left out
travel with the predictions, so a page can show them next to the metrics.

Formats:
    - COCO results (detectron2, MMDetection, Ultralytics `save_json=True`): a JSON list of
      `{image_id, category_id, score, segmentation?, bbox?}`; `segmentation` is a list of
      polygons or an RLE dict, `bbox` is [x, y, w, h] in px. Ultralytics writes `image_id` as
      the image file's stem (an int when the stem is all digits) and `category_id` through its
      own class map (YOLO index + 1 in current versions, + 0 in early 8.0 ones): images are
      matched by id, else by file stem; classes by id, or by name through `category_names`.
    - YOLOv8-seg text files (`save_txt=True, save_conf=True`): one `<image stem>.txt` per image,
      a line `class x1 y1 ... xn yn conf` (normalised 0..1) per instance, or `class cx cy w h conf`
      for a box.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pycocotools import mask as mask_utils

from xami_core.io.coco import read_json
from xami_core.io.image_files import base_name
from xami_core.io.rle import rle_problem
from xami_core.io.tables import RLE_BATCH, rle_areas, rle_boxes, rle_to_compressed
from xami_core.limits import (
    MAX_POLYGON_PARTS,
    MAX_POLYGON_VERTICES,
    YOLO_COORD_MAX,
    YOLO_COORD_MIN,
    coordinate_range,
)
from xami_core.model import Dataset, Problem, XamiDataError
from xami_core.paths import MAX_JSON_MB_ENV, checked_path, shown

# The table's columns, in order (written once, here).
PREDICTION_COLUMNS = (
    "pred_id",  # int64, 0..n-1 in file order (COCOeval's tie order)
    "image_id",  # int64, the dataset's image id
    "category_id",  # int64, the dataset's class id
    "class_name",  # str
    "score",  # float64
    "kind",  # "polygon", "rle" or "box"
    "segmentation",  # object: list of flat [x1, y1, ...] parts (px), an RLE dict as given, or None
    "rle",  # object: compressed RLE (bytes counts) of the mask at the image's size, or None for a box
    "bbox_x", "bbox_y", "bbox_w", "bbox_h",  # float64 px: as given, else the mask's box
    "bbox_given",  # bool: the record carried a usable bbox
    "mask_area",  # float64 px: pixels of the mask; NaN for a box
    "area",  # float64 px: COCOeval's area of the detection (see `eval_area`)
    "record",  # str: where the prediction came from ("record 12", "S0...txt line 3")
)

MAX_PREDICTIONS = 2_000_000  # per set; XAMI-size evaluation is about 20,000
MAX_PREDICTION_FILES = 100_000  # text files in a YOLO predictions folder; XAMI has 1,055 images
MAX_TEXT_FILE_BYTES = 16 * 1024**2  # one image's prediction file: a few kB in practice
MAX_EXAMPLES = 5  # records named one by one per reason; the rest are counted
MIN_POLYGON_NUMBERS = 6  # three points
YOLO_BOX_VALUES = 5  # cx cy w h conf (after the class)
NUMBER_TYPES = frozenset({int, float})  # JSON numbers; bool is excluded on purpose

# Why a record was left out: the keys of `Predictions.left_out`.
NOT_AN_OBJECT = "not an object"
NO_SCORE = "missing or non-finite score"
UNKNOWN_IMAGE = "image not in the dataset"
UNKNOWN_CATEGORY = "unknown category"
EMPTY_SEGMENTATION = "empty segmentation"
BAD_GEOMETRY = "malformed segmentation or box"
OUTSIDE_FRAME = "coordinates far outside the frame"
WRONG_VALUES = "wrong number of values"
OVER_LIMIT = "over the count limit"

# What an input should be, for messages (each says what was expected).
RESULTS_FORM = "a JSON list of result records ({image_id, category_id, score, segmentation, bbox})"
PREDICTIONS_INPUT = "a COCO results .json file or a folder of YOLO .txt prediction files"
YOLO_FORM = ("one '<image stem>.txt' per image, a line 'class x1 y1 ... xn yn conf' per instance (YOLOv8 predict "
             "with save_txt=True, save_conf=True)")
MAX_BLANK_CHECK_BYTES = 1024**2  # a malformed file up to this size is read again to say it holds only white space


@dataclass(frozen=True)
class Predictions:
    """One named prediction set matched to a dataset (immutable; several can be loaded at once).

    table: one row per usable prediction, columns `PREDICTION_COLUMNS`.
    problems: what was wrong in the input, each naming file and record.
    left_out: reason -> number of records left out for it.
    """

    name: str
    table: pd.DataFrame
    source: str  # the file or folder read, or "synthetic"
    problems: tuple[Problem, ...] = ()
    left_out: Mapping[str, int] = field(default_factory=dict)
    synthetic: bool = False
    # Names the content for per-view caches (set by the cache layer, as for `Dataset.content_key`).
    content_key: str = ""

    @property
    def n_left_out(self) -> int:
        """Records of the input that are not in the table."""
        return int(sum(self.left_out.values()))

    @property
    def label(self) -> str:
        """A short label for the page, which always says when predictions are synthetic."""
        return f"{self.name} (synthetic, not a real model)" if self.synthetic else self.name

    def image_ids(self) -> np.ndarray:
        """Dataset image ids with at least one prediction, sorted; shape (n,)."""
        return np.unique(self.table["image_id"].to_numpy())

    def splits(self, ds: Dataset) -> list[str]:
        """The dataset's splits that hold at least one predicted image."""
        images = ds.images
        return sorted(set(images.loc[images["image_id"].isin(self.image_ids()), "split"]))


class _Collector:
    """Problems and left-out counts of one read: the first `MAX_EXAMPLES` per reason named, the rest counted."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.left_out: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}

    def leave_out(self, reason: str, file: str, record: str, message: str, n: int = 1) -> None:
        self.left_out[reason] += n
        seen = self.examples.setdefault(reason, [])
        seen.append(record)
        if len(seen) <= MAX_EXAMPLES:
            self.problems.append(Problem(file, record, f"{message}; left out"))

    def warn(self, file: str, record: str, message: str) -> None:
        self.problems.append(Problem(file, record, message, "warning"))

    def finish(self, file: str) -> tuple[tuple[Problem, ...], dict[str, int]]:
        for reason, records in self.examples.items():
            if len(records) > MAX_EXAMPLES:
                more = len(records) - MAX_EXAMPLES
                self.problems.append(Problem(file, f"{more} more records", f"{more} more record(s) left out for the "
                                                                           f"same reason ({reason}), e.g. "
                                                                           f"{', '.join(records[MAX_EXAMPLES:MAX_EXAMPLES + 3])}"))
        return tuple(self.problems), dict(self.left_out)


def _is_number(value: Any) -> bool:
    return type(value) in NUMBER_TYPES and math.isfinite(value)


def image_stem(file_name: str) -> str:
    """An image's file name without folders and extension: what Ultralytics writes as `image_id`."""
    name = base_name(file_name)
    return name.rsplit(".", 1)[0] if "." in name else name


def _stem_index(ds: Dataset, file: str, col: _Collector) -> dict[str, int]:
    """Image file stem -> dataset image id; a stem two images share matches neither (said once)."""
    stems = ds.images["file_name"].map(image_stem)
    counts = stems.value_counts()
    shared = counts[counts > 1]
    if len(shared):
        col.warn(file, "image stems", f"{len(shared)} file stem(s) name more than one image of the dataset "
                                      f"(e.g. {shown(str(shared.index[0]), 60)}); predictions for them cannot be "
                                      "matched by stem")
    unique = ~stems.isin(shared.index)
    return dict(zip(stems[unique], ds.images.loc[unique, "image_id"].astype(int)))


def _id_index(ds: Dataset, ids_in_file: set, split: str | None, file: str, col: _Collector) -> dict[Any, int]:
    """The file's image id -> dataset image id, within `split` or the one split the ids can mean.

    With ids repeated across splits and no `split`, the split holding the most of the file's ids
    is used (said in a warning); none of them an image id: {} (images are matched by stem).

    Raises:
        XamiDataError: `split` is not a split of the dataset, or the ids are image ids of
            more than one split (each split of a COCO export numbers its images from 0).
    """
    images = ds.images
    if split is not None:
        if split not in set(images["split"]):
            raise XamiDataError(f"{file}: split {split!r} is not a split of the dataset (it has "
                                f"{', '.join(ds.splits)})")
        images = images[images["split"] == split]
    elif not images["coco_id"].is_unique:
        per_split = {s: len(ids_in_file & set(g["coco_id"])) for s, g in images.groupby("split")}
        best = max(per_split.values())
        holders = [s for s, n in per_split.items() if n == best]
        if not best:  # no id of the file is an image id here: match by file stem only
            return {}
        if len(holders) > 1:
            raise XamiDataError(
                f"{file} [image_id]: the predictions' image ids are image ids of more than one split "
                f"({', '.join(holders)}; each split numbers its images from 0), so they cannot be matched; expected "
                "the image file stems as image ids (as Ultralytics writes them), or the ids of one split said with "
                "split=... (Python) or --split (command line).")
        col.warn(file, "image_id", f"image ids read as ids of split {holders[0]!r}, the split that holds "
                                   f"{'all' if best == len(ids_in_file) else 'most'} of them")
        images = images[images["split"] == holders[0]]
    return dict(zip(images["coco_id"], images["image_id"].astype(int)))


def _category_index(ds: Dataset, category_names: Mapping[int, str] | None, file: str) -> dict[Any, int]:
    """The file's category id -> dataset class id: by id, or through the model's names.

    Raises:
        XamiDataError: `category_names` holds no class of the dataset (nothing could match).
    """
    class_of_name = dict(zip(ds.categories["name"], ds.categories["class_id"].astype(int)))
    if category_names is None:
        return {cid: cid for cid in class_of_name.values()}
    out = {key: class_of_name[name] for key, name in category_names.items() if name in class_of_name}
    if not out:
        raise XamiDataError(f"{file}: none of the model's class names ({', '.join(map(str, category_names.values()))})"
                            f" is a class of the dataset ({', '.join(class_of_name)})")
    return out


def yolo_category_names(names: Sequence[str], first_id: int = 1) -> dict[int, str]:
    """Ultralytics' class map for a custom dataset: category id -> class name.

    Ultralytics writes `category_id = first_id + YOLO class index`; `first_id` is 1 in current
    versions (`class_map = range(1, nc + 1)`) and 0 in early 8.0 ones (`range(1000)`).
    """
    return {first_id + i: name for i, name in enumerate(names)}


def _polygon_parts(seg: list, frame: tuple[int, int]) -> tuple[list[list[float]] | None, str, str]:
    """(parts, "", "") for a usable list of polygons at a (width, height) frame, else (None, reason, message)."""
    parts = [p for p in seg if not (isinstance(p, list) and not p)]
    if not parts:
        return None, EMPTY_SEGMENTATION, "segmentation is empty; write no 'segmentation' key for a box-only prediction"
    if len(parts) > MAX_POLYGON_PARTS:
        return None, BAD_GEOMETRY, f"{len(parts):,} polygon parts, more than {MAX_POLYGON_PARTS:,}"
    n_vertices = 0
    out = []
    (x_lo, x_hi), (y_lo, y_hi) = coordinate_range(frame[0]), coordinate_range(frame[1])
    for k, part in enumerate(parts):
        if not isinstance(part, list) or not set(map(type, part)) <= NUMBER_TYPES:
            return None, BAD_GEOMETRY, f"polygon {k}: expected a flat list of numbers"
        try:
            values = np.asarray(part, dtype=np.float64)
        except OverflowError:
            values = np.array([np.inf])
        if not np.isfinite(values).all():
            return None, BAD_GEOMETRY, f"polygon {k}: expected finite numbers, found NaN or infinity"
        if len(part) % 2 or len(part) < MIN_POLYGON_NUMBERS:
            return None, BAD_GEOMETRY, (f"polygon {k}: expected an even number (at least {MIN_POLYGON_NUMBERS}) of "
                                        f"coordinates, found {len(part)}")
        n_vertices += len(part) // 2
        if n_vertices > MAX_POLYGON_VERTICES:
            return None, BAD_GEOMETRY, f"more than {MAX_POLYGON_VERTICES:,} vertices"
        xs, ys = values[0::2], values[1::2]
        if xs.min() < x_lo or xs.max() > x_hi or ys.min() < y_lo or ys.max() > y_hi:
            return None, OUTSIDE_FRAME, (f"polygon {k}: coordinates x {xs.min():.6g}..{xs.max():.6g}, y "
                                         f"{ys.min():.6g}..{ys.max():.6g} px, expected x in {x_lo:g}..{x_hi:g}, "
                                         f"y in {y_lo:g}..{y_hi:g} for the {frame[0]} x {frame[1]} frame")
        out.append(values.tolist())
    return out, "", ""


def _box(bbox: Any, frame: tuple[int, int]) -> tuple[list[float] | None, str, str]:
    """([x, y, w, h], "", "") for a usable box at a (width, height) frame, else (None, reason, message)."""
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
        return None, BAD_GEOMETRY, f"expected bbox [x, y, w, h] of 4 finite numbers, found {shown(repr(bbox), 80)}"
    x, y, w, h = (float(v) for v in bbox)
    if w < 0 or h < 0:
        return None, BAD_GEOMETRY, f"bbox {bbox!r} has a negative size"
    (x_lo, x_hi), (y_lo, y_hi) = coordinate_range(frame[0]), coordinate_range(frame[1])
    if x < x_lo or y < y_lo or x + w > x_hi or y + h > y_hi:
        return None, OUTSIDE_FRAME, (f"bbox {shown(repr(bbox), 80)} lies far outside the {frame[0]} x {frame[1]} "
                                     f"frame (expected x in {x_lo:g}..{x_hi:g}, y in {y_lo:g}..{y_hi:g})")
    return [x, y, w, h], "", ""


def _build_table(rows: list[dict[str, Any]], ds: Dataset) -> pd.DataFrame:
    """The prediction table from parsed rows: masks rasterised at each image's size, boxes and areas settled.

    Rows hold image_id, category_id, score, kind, segmentation, bbox (list or None) and record.
    """
    n = len(rows)
    names = dict(zip(ds.categories["class_id"].astype(int), ds.categories["name"]))
    heights = dict(zip(ds.images["image_id"].astype(int), ds.images["height"].astype(int)))
    widths = dict(zip(ds.images["image_id"].astype(int), ds.images["width"].astype(int)))
    rles: list[dict | None] = [None] * n
    # Polygons of all rows of one frame size in one pycocotools call, parts merged per row.
    by_size: dict[tuple[int, int], list[int]] = {}
    for i, row in enumerate(rows):
        if row["kind"] == "polygon":
            by_size.setdefault((heights[row["image_id"]], widths[row["image_id"]]), []).append(i)
        elif row["kind"] == "rle":
            rles[i] = rle_to_compressed(row["segmentation"])
    for (h, w), idx in by_size.items():
        for start in range(0, len(idx), RLE_BATCH):
            chunk = idx[start:start + RLE_BATCH]
            flat = [p for i in chunk for p in rows[i]["segmentation"]]
            part_rles = mask_utils.frPyObjects(flat, h, w)
            at = 0
            for i in chunk:
                k = len(rows[i]["segmentation"])
                rles[i] = part_rles[at] if k == 1 else mask_utils.merge(part_rles[at:at + k])
                at += k
    has_mask = np.array([r is not None for r in rles], dtype=bool)
    mask_rles = [r for r in rles if r is not None]
    mask_area = np.full(n, np.nan)
    mask_area[has_mask] = rle_areas(mask_rles)
    boxes = np.full((n, 4), np.nan)
    boxes[has_mask] = rle_boxes(mask_rles)
    given = np.array([row["bbox"] is not None for row in rows], dtype=bool)
    if given.any():
        boxes[given] = np.array([row["bbox"] for row in rows if row["bbox"] is not None], dtype=np.float64)
    table = pd.DataFrame({
        "pred_id": np.arange(n, dtype=np.int64),
        "image_id": np.fromiter((r["image_id"] for r in rows), dtype=np.int64, count=n),
        "category_id": np.fromiter((r["category_id"] for r in rows), dtype=np.int64, count=n),
        "class_name": pd.Series([names[r["category_id"]] for r in rows], dtype="str"),
        "score": np.fromiter((r["score"] for r in rows), dtype=np.float64, count=n),
        "kind": pd.Series([r["kind"] for r in rows], dtype="str"),
        "segmentation": pd.Series([r["segmentation"] for r in rows], dtype=object),
        "rle": pd.Series(rles, dtype=object),
        "bbox_x": boxes[:, 0], "bbox_y": boxes[:, 1], "bbox_w": boxes[:, 2], "bbox_h": boxes[:, 3],
        "bbox_given": given,
        "mask_area": mask_area,
        "area": eval_area(boxes[:, 2], boxes[:, 3], mask_area, given),
        "record": pd.Series([r["record"] for r in rows], dtype="str"),
    })
    return table[list(PREDICTION_COLUMNS)]


def eval_area(bbox_w: np.ndarray, bbox_h: np.ndarray, mask_area: np.ndarray, bbox_given: np.ndarray) -> np.ndarray:
    """The area COCOeval gives each detection (px), for its small/medium/large ranges; shape (n,).

    pycocotools' `COCO.loadRes` sets `area = w * h` of the given bbox when the results carry
    boxes (the usual detectron2/MMDetection/Ultralytics case, also for `segm`), and the mask's
    pixel count when they carry only segmentations; a record is given the area loadRes would
    give a file of records like it.
    """
    return np.where(bbox_given, bbox_w * bbox_h, mask_area)


def _empty_rle(rle: dict) -> bool:
    return float(rle_areas([rle_to_compressed(rle)])[0]) == 0.0


def _finish(rows: list[dict[str, Any]], ds: Dataset, name: str, source: str, col: _Collector,
            synthetic: bool = False) -> Predictions:
    """Build the table; rows whose mask rasterises to no pixel are left out as empty."""
    table = _build_table(rows, ds)
    empty = (table["kind"] != "box") & (table["mask_area"] == 0)
    for record in table.loc[empty, "record"]:
        col.leave_out(EMPTY_SEGMENTATION, source, record, "the mask covers no pixel of the frame")
    if empty.any():
        table = table[~empty].reset_index(drop=True)
        table["pred_id"] = np.arange(len(table), dtype=np.int64)
    problems, left_out = col.finish(source)
    return Predictions(name=name, table=table, source=source, problems=problems, left_out=left_out,
                       synthetic=synthetic)


def _integral(value: Any) -> Any:
    """A float with an integral value as the int it stands for (3.0 -> 3, as some writers store ids); else as is."""
    if type(value) is float and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _record_label(i: int, rec: dict) -> str:
    """"record 12 (image_id 'S0...', category_id 3)": repr escapes control characters; long values are cut."""
    ids = ", ".join(f"{k} {repr(rec[k])[:60]}" for k in ("image_id", "category_id") if k in rec)
    return f"record {i}" + (f" ({ids})" if ids else "")


def _json_kind(value: Any) -> str:
    """What a parsed JSON value is, in words; a COCO annotation file is named as such (a common mix-up)."""
    if isinstance(value, dict):
        keys = [k for k in ("images", "annotations") if k in value]
        if keys:
            return (f"an object with {' and '.join(repr(k) for k in keys)}: a COCO annotation file (ground truth), "
                    "not a model's results")
        return "an object"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return {str: "a string", int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def coco_results_to_predictions(records: Any, ds: Dataset, *, name: str, source: str,
                                category_names: Mapping[int, str] | None = None, split: str | None = None,
                                synthetic: bool = False) -> Predictions:
    """Match parsed COCO results (a JSON list) to `ds`; bad records are left out and reported.

    Args:
        records: the parsed JSON.
        ds: the dataset the predictions are for.
        name: the prediction set's name (shown on the page, a column of comparison tables).
        source: the file the records came from (named in problems).
        category_names: the model's category id -> class name (see `yolo_category_names`);
            None matches category ids to the dataset's class ids.
        split: the split whose image ids the file uses; None: images are matched by id when the
            ids name one split's images, else by file stem.
        synthetic: the predictions were generated, not made by a model.

    Raises:
        XamiDataError: `records` is not a list, or its image ids cannot be read in one split
            (see `split`), or `category_names` names no class of the dataset.
    """
    if not isinstance(records, list):
        raise XamiDataError(f"{source} [top level]: expected {RESULTS_FORM}, found {_json_kind(records)}")
    col = _Collector()
    if not records:  # valid, and evaluated (every instance missed), but said: most often the wrong file
        col.warn(source, "top level", f"an empty list: no predictions to evaluate; expected {RESULTS_FORM} (a model "
                                      "that found nothing writes this too)")
    if len(records) > MAX_PREDICTIONS:
        col.leave_out(OVER_LIMIT, source, f"records {MAX_PREDICTIONS}..{len(records) - 1}",
                      f"{len(records):,} records, more than the {MAX_PREDICTIONS:,} read", n=len(records) - MAX_PREDICTIONS)
        records = records[:MAX_PREDICTIONS]
    ids = {r.get("image_id") for r in records if isinstance(r, dict) and type(r.get("image_id")) in (int, str)}
    by_id = _id_index(ds, ids, split, source, col)
    by_stem = _stem_index(ds, source, col)
    cat_of = _category_index(ds, category_names, source)
    classes = ", ".join(f"{i} {n}" for i, n in zip(ds.categories["class_id"].astype(int), ds.categories["name"]))
    # A model's own class indices need its names: the evaluate command's --names (the app matches by id).
    expected_categories = (f"expected a category id of the dataset ({classes}); a model's own class indices need "
                           "its class names (the evaluate command's --names)" if category_names is None else
                           "expected a class index of the model's class names that the dataset has")
    frames = dict(zip(ds.images["image_id"].astype(int), zip(ds.images["width"].astype(int),
                                                              ds.images["height"].astype(int))))
    unknown_images: Counter = Counter()
    unknown_categories: Counter = Counter()
    rows: list[dict[str, Any]] = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            col.leave_out(NOT_AN_OBJECT, source, f"record {i}", f"expected an object, found {type(rec).__name__}")
            continue
        record = _record_label(i, rec)
        score = rec.get("score")
        if not _is_number(score):
            found = "no 'score'" if "score" not in rec else f"score {shown(repr(score), 40)}"
            col.leave_out(NO_SCORE, source, record, f"expected a finite number 'score', found {found}")
            continue
        raw_image = _integral(rec.get("image_id"))
        image_id = None
        if isinstance(raw_image, (int, str)) and not isinstance(raw_image, bool):
            image_id = by_id.get(raw_image)
            if image_id is None:
                image_id = by_stem.get(str(raw_image))
        if image_id is None:
            unknown_images[shown(repr(raw_image), 60)] += 1
            col.leave_out(UNKNOWN_IMAGE, source, record, f"image_id {shown(repr(raw_image), 60)} is neither an image "
                                                         "id nor an image file stem of the dataset")
            continue
        raw_cat = _integral(rec.get("category_id"))
        category_id = cat_of.get(raw_cat) if type(raw_cat) is int else None
        if category_id is None:
            unknown_categories[shown(repr(raw_cat), 40)] += 1
            col.leave_out(UNKNOWN_CATEGORY, source, record, f"category_id {shown(repr(raw_cat), 40)} is not a class of "
                                                            f"the dataset; {expected_categories}")
            continue
        frame = frames[image_id]
        bbox = None
        if "bbox" in rec:
            bbox, reason, message = _box(rec["bbox"], frame)
            if bbox is None and "segmentation" not in rec:
                col.leave_out(reason, source, record, message)
                continue
            if bbox is None:
                col.warn(source, record, f"{message}; the box of its mask is used")
        seg = rec.get("segmentation")
        if "segmentation" not in rec:
            if bbox is None:
                col.leave_out(BAD_GEOMETRY, source, record, "expected a 'segmentation' or a 'bbox', found neither")
                continue
            kind, segmentation = "box", None
        elif isinstance(seg, dict):
            why = rle_problem(seg, frame[1], frame[0])
            if why is not None:
                col.leave_out(BAD_GEOMETRY, source, record, why)
                continue
            if _empty_rle(seg):
                col.leave_out(EMPTY_SEGMENTATION, source, record, "the RLE mask covers no pixel")
                continue
            kind, segmentation = "rle", {"size": seg["size"], "counts": seg["counts"]}
        elif isinstance(seg, list):
            segmentation, reason, message = _polygon_parts(seg, frame)
            if segmentation is None:
                col.leave_out(reason, source, record, message)
                continue
            kind = "polygon"
        else:
            col.leave_out(BAD_GEOMETRY, source, record, f"expected a list of polygons or an RLE dict as 'segmentation', "
                                                        f"found {type(seg).__name__}")
            continue
        rows.append({"image_id": image_id, "category_id": category_id, "score": float(score), "kind": kind,
                     "segmentation": segmentation, "bbox": bbox, "record": record})
    if unknown_images:
        col.warn(source, "image_id", f"{sum(unknown_images.values())} record(s) name {len(unknown_images)} image(s) the "
                                     f"dataset does not hold, e.g. {', '.join(list(unknown_images)[:MAX_EXAMPLES])}")
    if unknown_categories:
        col.warn(source, "category_id", f"{sum(unknown_categories.values())} record(s) use category id(s) "
                                        f"{', '.join(sorted(unknown_categories))} that match no class of the dataset")
    return _finish(rows, ds, name, source, col, synthetic)


def read_coco_results(path: str | Path, ds: Dataset, *, name: str | None = None,
                      category_names: Mapping[int, str] | None = None, split: str | None = None,
                      shown_as: str | None = None) -> Predictions:
    """Read a COCO results JSON file (at most `XAMI_MAX_JSON_MB`) as predictions on `ds`.

    See `coco_results_to_predictions` for the matching; `name` defaults to the file's stem.
    `shown_as` is the file as messages and the set's `source` name it (default: `path`), e.g. the
    name a user uploaded it under when `path` is this server's copy.

    Raises:
        XamiDataError: the file cannot be read (missing, empty, a single YOLO .txt file, too large,
            malformed JSON), is not a list, or cannot be matched (see `coco_results_to_predictions`).
    """
    path = checked_path(path, what="predictions file")
    file = shown_as if shown_as is not None else str(path)
    if not path.is_file():
        raise XamiDataError(f"{file}: not found; expected {PREDICTIONS_INPUT}")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise XamiDataError(f"{file}: cannot be read ({exc.strerror or exc}); expected a readable file") from exc
    if size == 0:
        raise XamiDataError(f"{file}: the file is empty (0 bytes); expected {RESULTS_FORM}")
    data, problem = read_json(path)
    if problem is not None:
        if problem.message.startswith("malformed JSON") and size <= MAX_BLANK_CHECK_BYTES \
                and not path.read_bytes().strip():
            raise XamiDataError(f"{file}: the file holds only white space ({size:,} bytes); expected {RESULTS_FORM}")
        if path.suffix.lower() == ".txt":  # not JSON: most likely one of a YOLO run's prediction files
            raise XamiDataError(f"{file}: a single text file, not JSON; expected {PREDICTIONS_INPUT} (give the folder "
                                "that holds the .txt files, one per image)")
        where = "" if problem.record == "file" else f" [{problem.record}]"
        # Named as shown, never by this server's copy of an upload (an OS error's text holds the path).
        message = problem.message.replace(str(path), file)
        expected = "" if MAX_JSON_MB_ENV in message else f"; expected {RESULTS_FORM}"  # the size limit says its own
        raise XamiDataError(f"{file}{where}: {message}{expected}")
    return coco_results_to_predictions(data, ds, name=name or path.stem, source=file,
                                       category_names=category_names, split=split)


def _yolo_line(tokens: list[str], n_classes: int) -> tuple[tuple[int, np.ndarray, float] | None, str, str]:
    """((class, normalised values, conf), "", "") for one prediction line, else (None, reason, message)."""
    try:
        cls = int(tokens[0])
        values = np.array(tokens[1:], dtype=np.float64)
    except ValueError:
        return None, BAD_GEOMETRY, f"expected 'class x1 y1 ... xn yn conf' of numbers, found {shown(' '.join(tokens), 60)!r}"
    n = len(values)
    if n != YOLO_BOX_VALUES and (n % 2 == 0 or n < MIN_POLYGON_NUMBERS + 1):
        why = " (no confidence at the end: save with save_conf=True)" if n % 2 == 0 else ""
        return None, WRONG_VALUES, (f"expected 2k + 1 values after the class (k >= 3 points, then the confidence) or "
                                    f"{YOLO_BOX_VALUES} (cx cy w h conf), found {n}{why}")
    if not np.isfinite(values).all():
        return None, NO_SCORE if not np.isfinite(values[-1]) else BAD_GEOMETRY, "expected finite numbers, found NaN or infinity"
    if not 0 <= cls < n_classes:
        return None, UNKNOWN_CATEGORY, f"expected a class index 0..{n_classes - 1}, found {cls}"
    coords = values[:-1]
    if n == YOLO_BOX_VALUES:
        coords = np.concatenate((coords[:2] - coords[2:] / 2, coords[:2] + coords[2:] / 2))
        if values[2:4].min() < 0:
            return None, BAD_GEOMETRY, "a box with a negative size"
    if coords.min() < YOLO_COORD_MIN or coords.max() > YOLO_COORD_MAX:
        return None, OUTSIDE_FRAME, (f"coordinates {coords.min():.4g}..{coords.max():.4g} lie far outside the frame; "
                                     f"expected normalised coordinates within {YOLO_COORD_MIN:g}..{YOLO_COORD_MAX:g}")
    if n // 2 > MAX_POLYGON_VERTICES:
        return None, BAD_GEOMETRY, f"more than {MAX_POLYGON_VERTICES:,} vertices"
    return (cls, values, float(values[-1])), "", ""


def read_yolo_predictions(folder: str | Path, ds: Dataset, *, name: str | None = None,
                          names: Sequence[str] | None = None, shown_as: str | None = None) -> Predictions:
    """Read a folder of YOLOv8-seg prediction files (`<image stem>.txt`, or under `labels/`) as predictions on `ds`.

    Each line is `class x1 y1 ... xn yn conf` (normalised 0..1, scaled by the image's size to
    px) or `class cx cy w h conf` for a box. A file whose stem is no image of the dataset, and
    each bad line, is left out and reported.

    Args:
        folder: the folder of .txt files.
        ds: the dataset the predictions are for.
        name: the set's name (default: the folder's name, or its parent's for `labels/`).
        names: the model's class names by YOLO index (default: the dataset's classes in class-id
            order, which for XAMI is the YOLO order).
        shown_as: the folder as messages and the set's `source` name it (default: `folder`).

    Raises:
        XamiDataError: the folder is missing, holds no .txt file (nor a `labels/` folder with
            some) or more than `MAX_PREDICTION_FILES`, or `names` holds no class of the dataset.
    """
    root = checked_path(folder, what="predictions folder")
    source = shown_as if shown_as is not None else str(root)
    if not root.is_dir():
        raise XamiDataError(f"{source}: predictions folder not found; expected a folder of YOLO .txt prediction "
                            f"files: {YOLO_FORM}")
    if not any(root.glob("*.txt")) and (root / "labels").is_dir():
        root, source = root / "labels", str(Path(source) / "labels")
    files = []
    for k, path in enumerate(root.glob("*.txt")):
        if k >= MAX_PREDICTION_FILES:
            raise XamiDataError(f"{source}: more than {MAX_PREDICTION_FILES:,} prediction files; expected at most one "
                                f"per image, and the dataset has {len(ds.images):,} images")
        files.append(path)
    if not files:
        raise XamiDataError(f"{source}: the folder holds no .txt prediction file (nor a labels/ folder with them); "
                            f"expected {YOLO_FORM}")
    files.sort()
    set_name = name or (root.parent.name if root.name == "labels" else root.name)
    model_names = list(names) if names is not None else ds.class_names
    cat_of = _category_index(ds, dict(enumerate(model_names)), source)
    col = _Collector()
    by_stem = _stem_index(ds, source, col)
    frames = dict(zip(ds.images["image_id"].astype(int), zip(ds.images["width"].astype(int),
                                                              ds.images["height"].astype(int))))
    rows: list[dict[str, Any]] = []
    for path in files:
        file = str(Path(source) / path.name)  # as the folder is shown (an upload's name, not this server's path)
        image_id = by_stem.get(path.stem)
        try:
            size = path.stat().st_size
            if size > MAX_TEXT_FILE_BYTES:
                col.leave_out(OVER_LIMIT, file, "file", f"{size:,} bytes, more than the {MAX_TEXT_FILE_BYTES:,} read "
                                                        "for one image")
                continue
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            col.leave_out(BAD_GEOMETRY, file, "file", f"cannot be read ({why}); expected UTF-8 text, {YOLO_FORM}")
            continue
        lines = [(k, line.split()) for k, line in enumerate(lines, start=1) if line.strip()]
        if image_id is None:
            col.leave_out(UNKNOWN_IMAGE, file, "file", f"{len(lines)} prediction(s) for {shown(path.stem, 60)}, "
                                                       "which is no image file stem of the dataset; expected a file "
                                                       "named after an image, '<image stem>.txt'", n=len(lines))
            continue
        width, height = frames[image_id]
        scale = np.array([width, height], dtype=np.float64)
        for lineno, tokens in lines:
            if len(rows) >= MAX_PREDICTIONS:
                col.leave_out(OVER_LIMIT, file, f"line {lineno}", f"more than {MAX_PREDICTIONS:,} predictions")
                continue
            parsed, reason, message = _yolo_line(tokens, len(model_names))
            if parsed is None:
                col.leave_out(reason, file, f"line {lineno}", message)
                continue
            cls, values, conf = parsed
            category_id = cat_of.get(cls)
            if category_id is None:
                col.leave_out(UNKNOWN_CATEGORY, file, f"line {lineno}", f"class {cls} ({model_names[cls]!r}) is not a "
                                                                        "class of the dataset")
                continue
            row = {"image_id": image_id, "category_id": category_id, "score": conf, "bbox": None,
                   "record": f"{path.name} line {lineno}"}
            if len(values) == YOLO_BOX_VALUES:
                cx, cy, w, h = values[:4] * np.tile(scale, 2)
                row |= {"kind": "box", "segmentation": None,
                        "bbox": [float(cx - w / 2), float(cy - h / 2), float(w), float(h)]}
            else:
                row |= {"kind": "polygon", "segmentation": [(values[:-1].reshape(-1, 2) * scale).ravel().tolist()]}
            rows.append(row)
    if not rows and not col.left_out:  # every file empty: said, as an empty COCO results list is
        col.warn(source, "folder", "the .txt files hold no prediction lines: no predictions to evaluate (a model "
                                   "that found nothing writes empty files too)")
    return _finish(rows, ds, set_name, source, col)


def load_predictions(path: str | Path, ds: Dataset, *, name: str | None = None,
                     category_names: Mapping[int, str] | None = None, names: Sequence[str] | None = None,
                     split: str | None = None, shown_as: str | None = None) -> Predictions:
    """Read predictions from a COCO results `.json` file or a folder of YOLO `.txt` files.

    `shown_as` names the input in messages and as the set's `source` (default: `path`).

    Raises:
        XamiDataError: as `read_coco_results` or `read_yolo_predictions`.
    """
    checked = checked_path(path, what="predictions path")
    if checked.is_dir():
        return read_yolo_predictions(checked, ds, name=name, names=names, shown_as=shown_as)
    return read_coco_results(checked, ds, name=name, category_names=category_names, split=split, shown_as=shown_as)


def predictions_fingerprint(path: str | Path) -> tuple:
    """What identifies a predictions file or folder for caches: name, size and mtime (of each .txt in a folder).

    Raises:
        XamiDataError: the path cannot be used (see `paths.checked_path`).
    """
    checked = checked_path(path, what="predictions path")
    try:
        if checked.is_dir():
            root = checked / "labels" if not any(checked.glob("*.txt")) and (checked / "labels").is_dir() else checked
            out: list[tuple] = [(str(root.resolve()), "folder")]
            for k, file in enumerate(sorted(root.glob("*.txt"))):
                if k >= MAX_PREDICTION_FILES:  # the reader refuses such a folder
                    break
                stat = file.stat()
                out.append((file.name, stat.st_size, stat.st_mtime_ns))
            return tuple(out)
        stat = checked.stat()
        return (str(checked.resolve()), stat.st_size, stat.st_mtime_ns)
    except (OSError, RuntimeError):  # missing or unreadable: the reader says why
        return (str(checked), "unreadable")


def predictions_to_coco_results(preds: Predictions, ds: Dataset, image_key: str = "coco_id") -> list[dict[str, Any]]:
    """The predictions as a COCO results list, with the dataset's class ids.

    A record carries `bbox` only when its input did, and its segmentation as it came
    (polygons, or the RLE with string counts), so `COCO.loadRes` of the list gives the areas
    this product evaluates with (see `eval_area`).

    Args:
        preds: the prediction set.
        ds: the dataset it was read for.
        image_key: "coco_id" (the image ids of the annotation file, which repeat across the
            splits of a COCO export) or "stem" (the image file's stem, as Ultralytics writes it).

    Raises:
        ValueError: an unknown `image_key`.
    """
    if image_key not in ("coco_id", "stem"):
        raise ValueError(f"image_key must be 'coco_id' or 'stem', got {image_key!r}")
    keys = ds.images["coco_id"] if image_key == "coco_id" else ds.images["file_name"].map(image_stem)
    coco_id = dict(zip(ds.images["image_id"].astype(int), keys))
    out = []
    for row in preds.table.itertuples(index=False):
        rec: dict[str, Any] = {"image_id": coco_id[row.image_id], "category_id": int(row.category_id),
                               "score": float(row.score)}
        if row.bbox_given:
            rec["bbox"] = [float(row.bbox_x), float(row.bbox_y), float(row.bbox_w), float(row.bbox_h)]
        if row.kind == "polygon":
            rec["segmentation"] = row.segmentation
        elif row.kind == "rle":
            counts = row.rle["counts"]
            rec["segmentation"] = {"size": list(row.rle["size"]),
                                   "counts": counts.decode() if isinstance(counts, bytes) else counts}
        out.append(rec)
    return out
