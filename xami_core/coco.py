"""Read and validate one COCO instance-segmentation file (Roboflow export)."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .model import Problem

TOP_LEVEL_KEYS = frozenset({"info", "licenses", "categories", "images", "annotations"})
IMAGE_KEYS = frozenset({"id", "license", "file_name", "height", "width", "date_captured", "extra"})
ANNOTATION_KEYS = frozenset(
    {"id", "image_id", "category_id", "bbox", "area", "segmentation", "iscrowd", "extra"}
)
CATEGORY_KEYS = frozenset({"id", "name", "supercategory"})
REQUIRED_IMAGE_KEYS = ("id", "file_name", "width", "height")
REQUIRED_ANNOTATION_KEYS = ("id", "image_id", "category_id")
MIN_POLYGON_NUMBERS = 6  # three points
NUMBER_TYPES = frozenset({int, float})  # JSON numbers; bool is excluded on purpose


@dataclass
class SplitRecords:
    """The validated records of one split, ready for `tables.build_dataset`.

    Annotations carry `parts` (a list of float lists, one per polygon), or `rle`
    (a pycocotools RLE dict), or neither (a box-only annotation).
    """

    split: str
    source_file: str
    image_dir: Path
    images: list[dict[str, Any]] = field(default_factory=list)
    annotations: list[dict[str, Any]] = field(default_factory=list)
    categories: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _report_unknown_keys(
    records: list[dict], allowed: frozenset[str], kind: str, file: str, problems: list[Problem]
) -> None:
    """One warning per unknown key, naming the first record that has it."""
    first_seen: dict[str, Any] = {}
    counts: dict[str, int] = defaultdict(int)
    for rec in records:
        for key in rec.keys() - allowed:
            counts[key] += 1
            first_seen.setdefault(key, rec.get("id", "?"))
    for key in sorted(counts):
        problems.append(
            Problem(
                file=file,
                record=f"{kind} id {first_seen[key]}",
                message=f"unknown key '{key}' in {counts[key]} {kind} record(s); ignored",
                severity="warning",
            )
        )


def read_json(path: Path) -> tuple[dict | None, Problem | None]:
    """Parse a JSON file, or return a problem that says why it cannot be read."""
    file = str(path)
    if not path.is_file():
        return None, Problem(file, "file", "annotation file not found")
    try:
        with path.open("rb") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as exc:
        return None, Problem(
            file, f"line {exc.lineno}, column {exc.colno}", f"malformed JSON: {exc.msg}"
        )
    except (OSError, UnicodeDecodeError) as exc:
        return None, Problem(file, "file", f"cannot be read: {exc}")
    return data, None


def _parse_polygon_parts(
    seg: list, ann_id: Any, file: str, problems: list[Problem]
) -> list[list[float]] | None:
    """Valid polygon parts of a segmentation list; None when none is usable."""
    parts: list[list[float]] = []
    for k, part in enumerate(seg):
        record = f"annotation id {ann_id}, polygon {k}"
        # Type check per part, not per value: this runs on every coordinate of the dataset.
        if not isinstance(part, list) or not set(map(type, part)) <= NUMBER_TYPES:
            problems.append(Problem(file, record, "expected a flat list of finite numbers"))
            continue
        values = np.asarray(part, dtype=np.float64)
        if not np.isfinite(values).all():
            problems.append(Problem(file, record, "expected a flat list of finite numbers"))
            continue
        if len(part) % 2:
            problems.append(
                Problem(file, record, f"expected an even number of coordinates, found {len(part)}")
            )
            continue
        if len(part) < MIN_POLYGON_NUMBERS:
            problems.append(
                Problem(
                    file,
                    record,
                    f"expected at least 3 points ({MIN_POLYGON_NUMBERS} numbers), "
                    f"found {len(part)} numbers",
                )
            )
            continue
        parts.append(values.tolist())
    return parts or None


def _parse_annotation(
    ann: dict, images: dict[Any, dict], cat_ids: set, file: str, problems: list[Problem]
) -> dict | None:
    missing = [k for k in REQUIRED_ANNOTATION_KEYS if k not in ann]
    ann_id = ann.get("id", "?")
    record = f"annotation id {ann_id}"
    if missing:
        problems.append(Problem(file, record, f"missing required key(s): {', '.join(missing)}"))
        return None
    if ann["image_id"] not in images:
        problems.append(
            Problem(file, record, f"image_id {ann['image_id']} is not an image of this file")
        )
        return None
    if ann["category_id"] not in cat_ids:
        problems.append(
            Problem(file, record, f"category_id {ann['category_id']} is not a known category")
        )
        return None
    bbox = ann.get("bbox")
    if bbox is not None and not (
        isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)
    ):
        problems.append(
            Problem(file, record, f"expected bbox [x, y, w, h] of 4 numbers, found {bbox!r}")
        )
        bbox = None
    out = {
        "coco_id": ann["id"],
        "coco_image_id": ann["image_id"],
        "category_id": ann["category_id"],
        "bbox": bbox,
        "area": ann.get("area") if _is_number(ann.get("area")) else None,
        "parts": None,
        "rle": None,
    }
    seg = ann.get("segmentation", [])
    if isinstance(seg, dict):
        size, counts = seg.get("size"), seg.get("counts")
        image = images[ann["image_id"]]
        if not (isinstance(size, list) and len(size) == 2 and isinstance(counts, (str, list))):
            problems.append(
                Problem(file, record, "expected RLE {'size': [h, w], 'counts': ...}")
            )
            return None
        if list(size) != [image["height"], image["width"]]:
            problems.append(
                Problem(
                    file,
                    record,
                    f"RLE size {size} does not match image size "
                    f"[{image['height']}, {image['width']}]",
                )
            )
            return None
        out["rle"] = {"size": [int(size[0]), int(size[1])], "counts": counts}
    elif isinstance(seg, list) and seg:
        out["parts"] = _parse_polygon_parts(seg, ann_id, file, problems)
        if out["parts"] is None:
            # The record still counts (the published numbers count every annotation): keep its box.
            if bbox is not None and bbox[2] > 0 and bbox[3] > 0:
                problems.append(Problem(file, record, "no usable polygon; kept as a box-only annotation (its bbox)",
                                        "warning"))
                return out
            problems.append(Problem(file, record, "no usable polygon and no usable bbox; annotation skipped"))
            return None
    elif isinstance(seg, list):  # [] : a box-only annotation
        if bbox is None:
            problems.append(Problem(file, record, "no segmentation and no bbox; skipped"))
            return None
    else:
        problems.append(
            Problem(file, record, f"expected a list of polygons or an RLE dict, found {type(seg).__name__}")
        )
        return None
    return out


def read_coco(path: Path, split: str, image_dir: Path | None = None) -> SplitRecords:
    """Read one COCO file; problems are collected, valid records are kept.

    Args:
        path: the `_annotations.coco.json` file.
        split: the split name given to its images.
        image_dir: where the image files are (default: beside the JSON).
    """
    file = str(path)
    recs = SplitRecords(split=split, source_file=file, image_dir=image_dir or path.parent)
    data, problem = read_json(path)
    if problem is not None:
        recs.problems.append(problem)
        return recs
    if not isinstance(data, dict):
        recs.problems.append(Problem(file, "top level", f"expected a JSON object, found {type(data).__name__}"))
        return recs
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(data.get(k), list)]
    if missing:
        recs.problems.append(
            Problem(file, "top level", f"expected list(s) under key(s): {', '.join(missing)}")
        )
        return recs
    for key in sorted(data.keys() - TOP_LEVEL_KEYS):
        recs.problems.append(Problem(file, "top level", f"unknown key '{key}'; ignored", "warning"))

    problems = recs.problems
    cats: list[dict] = []
    for cat in data["categories"]:
        if not isinstance(cat, dict) or "id" not in cat or not isinstance(cat.get("name"), str):
            problems.append(Problem(file, f"category {cat!r}"[:80], "expected 'id' and a 'name' string"))
            continue
        cats.append({"id": cat["id"], "name": cat["name"], "supercategory": cat.get("supercategory", "")})
    recs.categories = cats
    _report_unknown_keys([c for c in data["categories"] if isinstance(c, dict)], CATEGORY_KEYS, "category", file, problems)

    images: dict[Any, dict] = {}
    raw_images = [im for im in data["images"] if isinstance(im, dict)]
    if len(raw_images) != len(data["images"]):
        problems.append(Problem(file, "images", "non-object entries in 'images' skipped"))
    for im in raw_images:
        record = f"image id {im.get('id', '?')}"
        missing_keys = [k for k in REQUIRED_IMAGE_KEYS if k not in im]
        if missing_keys:
            problems.append(Problem(file, record, f"missing required key(s): {', '.join(missing_keys)}"))
            continue
        if im["id"] in images:
            problems.append(Problem(file, record, "duplicate image id; later record skipped"))
            continue
        if not (isinstance(im["width"], int) and isinstance(im["height"], int) and im["width"] > 0 and im["height"] > 0):
            problems.append(
                Problem(file, record, f"expected positive integer width/height, found {im['width']!r}x{im['height']!r}")
            )
            continue
        images[im["id"]] = {
            "coco_id": im["id"],
            "file_name": str(im["file_name"]),
            "width": im["width"],
            "height": im["height"],
        }
    _report_unknown_keys(raw_images, IMAGE_KEYS, "image", file, problems)
    recs.images = list(images.values())

    cat_ids = {c["id"] for c in cats}
    raw_anns = [a for a in data["annotations"] if isinstance(a, dict)]
    if len(raw_anns) != len(data["annotations"]):
        problems.append(Problem(file, "annotations", "non-object entries in 'annotations' skipped"))
    seen: set = set()
    for ann in raw_anns:
        parsed = _parse_annotation(ann, images, cat_ids, file, problems)
        if parsed is None:
            continue
        if parsed["coco_id"] in seen:
            problems.append(Problem(file, f"annotation id {parsed['coco_id']}", "duplicate annotation id; later record skipped"))
            continue
        seen.add(parsed["coco_id"])
        recs.annotations.append(parsed)
    _report_unknown_keys(raw_anns, ANNOTATION_KEYS, "annotation", file, problems)
    return recs
