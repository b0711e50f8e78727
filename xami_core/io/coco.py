"""Read and validate one COCO instance-segmentation file (Roboflow export)."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Container
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from xami_core.io.image_files import FILE_MISSING, FILE_OK, probe_images
from xami_core.io.rle import rle_problem
from xami_core.limits import (
    MAX_POLYGON_PARTS,
    MAX_POLYGON_VERTICES,
    coordinate_range,
    frame_size_problem,
    max_image_pixels,
)
from xami_core.model import Problem, XamiDataError
from xami_core.paths import MAX_JSON_MB_ENV, max_json_bytes

try:  # a parser built for speed (several times json.load); the standard library when it is not installed
    import orjson
except ImportError:  # pragma: no cover - orjson is in requirements.txt
    orjson = None

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
MAX_MISSING_LISTED = 20  # missing image files named one by one; the rest are counted
DIGITS_AS_ZERO = bytes(ord("0") if chr(i).isdigit() and i < 128 else ord(" ") for i in range(256))
LONG_DIGIT_RUN = b"0" * 19  # the shortest integer orjson may read as a float: -9223372036854775809


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
    info: dict[str, Any] = field(default_factory=dict)  # the file's own `info` block, as written
    licenses: list[dict[str, Any]] = field(default_factory=list)  # the file's own `licenses` block


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_id(value: Any) -> tuple[Any, str | None]:
    """(id, note) for a record id: ints and strings as they are, an integral float as an int.

    Returns (None, why) when the value cannot be an id (a list, an object, a boolean, null,
    a fraction); (id, note) with a note when it was read as something other than written.
    """
    if isinstance(value, bool) or value is None:
        return None, f"expected an integer or string id, found {value!r}"
    if isinstance(value, int):
        if abs(value) >= 2**63:
            return None, f"expected an id that fits in 64 bits, found {value}"
        return value, None
    if isinstance(value, str):
        return value, None
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value), f"{value!r} is a float; read as {int(value)}"
    return None, f"expected an integer or string id, found {type(value).__name__} {value!r}"[:160]


def _same_value_other_type(key: Any, table: dict) -> Any:
    """The key of `table` equal to `key` up to int/str type ("3" vs 3), or None."""
    digits = key[1:] if isinstance(key, str) and key.startswith("-") else key
    if isinstance(digits, str) and digits.isascii() and digits.isdigit() and len(digits) < 19:
        other: Any = int(key)
    elif isinstance(key, int):
        other = str(key)
    else:
        return None
    return other if other in table else None


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
    """Parse a JSON file of at most `XAMI_MAX_JSON_MB`, or return a problem that says why it is not read."""
    file = str(path)
    if not path.is_file():
        return None, Problem(file, "file", "annotation file not found")
    try:
        limit, size = max_json_bytes(), path.stat().st_size
    except XamiDataError as exc:  # a bad setting: said, not ignored
        return None, Problem(file, "file", str(exc))
    except OSError as exc:
        return None, Problem(file, "file", f"cannot be read: {exc}")
    if size > limit:  # json.load holds the text and every object at once: several times the file's size
        return None, Problem(file, "file", f"{size:,} bytes ({size / 1024**2:,.1f} MB), more than the "
                                           f"{limit / 1024**2:g} MB this server parses ({MAX_JSON_MB_ENV}); "
                                           "not read. Raise the setting to read it")
    try:
        data = _parse_json(path.read_bytes())
    except json.JSONDecodeError as exc:
        return None, Problem(
            file, f"line {exc.lineno}, column {exc.colno}", f"malformed JSON: {exc.msg}"
        )
    except RecursionError:
        return None, Problem(file, "file", "JSON nested deeper than can be read (thousands of levels); "
                                           "a COCO file is at most a few levels deep")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, Problem(file, "file", f"cannot be read: {exc}")
    return data, None


def _parse_json(text: bytes) -> Any:
    """The JSON value in `text`: orjson when it is installed, the standard library otherwise.

    Whatever orjson refuses (NaN, UTF-16, nesting past 1,024 levels) or may read otherwise
    (integers beyond 64 bits) is parsed by the standard library, so a file reads, or fails
    with the message, as with `json.load` alone.

    Raises:
        json.JSONDecodeError: malformed JSON; RecursionError: nested too deep; ValueError,
            UnicodeDecodeError: text the standard library cannot decode.
    """
    # orjson reads an integer outside the 64-bit range as a float (10**30 as 1e+30); any run of 19
    # digits goes to the standard library, which keeps it an integer (found in one pass, in C).
    if orjson is not None and LONG_DIGIT_RUN not in text.translate(DIGITS_AS_ZERO):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def _parse_polygon_parts(
    seg: list, record: str, frame: tuple[int, int], file: str, problems: list[Problem]
) -> list[list[float]] | None:
    """Valid polygon parts of a segmentation list; None when none is usable.

    `frame` is the (width, height) canvas in px; a vertex further outside it than
    `limits.coordinate_range` allows makes its part unusable (it would send the rasteriser
    into a canvas of that size).
    """
    (x_lo, x_hi), (y_lo, y_hi) = coordinate_range(frame[0]), coordinate_range(frame[1])
    parts: list[list[float]] = []
    n_vertices = 0
    if len(seg) > MAX_POLYGON_PARTS:
        problems.append(Problem(file, record, f"{len(seg):,} polygon parts, more than {MAX_POLYGON_PARTS:,} in one "
                                              f"annotation; only the first {MAX_POLYGON_PARTS:,} are read"))
        seg = seg[:MAX_POLYGON_PARTS]
    for k, part in enumerate(seg):
        where = f"{record}, polygon {k}"
        # Type check per part, not per value: this runs on every coordinate of the dataset.
        if not isinstance(part, list) or not set(map(type, part)) <= NUMBER_TYPES:
            problems.append(Problem(file, where, "expected a flat list of finite numbers; polygon part ignored"))
            continue
        try:
            values = np.asarray(part, dtype=np.float64)
        except OverflowError:  # an integer too large for a float
            values = np.array([np.inf])
        if not np.isfinite(values).all():
            problems.append(Problem(file, where, "expected a flat list of finite numbers; polygon part ignored"))
            continue
        if len(part) % 2:
            problems.append(Problem(file, where, f"expected an even number of coordinates, found {len(part)}; "
                                                 "polygon part ignored"))
            continue
        if len(part) < MIN_POLYGON_NUMBERS:
            problems.append(Problem(file, where, f"expected at least 3 points ({MIN_POLYGON_NUMBERS} numbers), "
                                                 f"found {len(part)} numbers; polygon part ignored"))
            continue
        xs, ys = values[0::2], values[1::2]
        if xs.min() < x_lo or xs.max() > x_hi or ys.min() < y_lo or ys.max() > y_hi:
            bad = int(np.flatnonzero((xs < x_lo) | (xs > x_hi) | (ys < y_lo) | (ys > y_hi))[0])
            problems.append(Problem(
                file, where,
                f"vertex {bad} at ({xs[bad]:.6g}, {ys[bad]:.6g}) px lies far outside the {frame[0]} x {frame[1]} "
                f"frame (expected x in {x_lo:g}..{x_hi:g}, y in {y_lo:g}..{y_hi:g}); polygon part ignored"))
            continue
        n_vertices += len(part) // 2
        if n_vertices > MAX_POLYGON_VERTICES:
            problems.append(Problem(file, where, f"more than {MAX_POLYGON_VERTICES:,} vertices in one annotation; "
                                                 "the remaining polygon parts are ignored"))
            break
        parts.append(values.tolist())
    return parts or None


def _parse_bbox(bbox: Any, record: str, frame: tuple[int, int], file: str, problems: list[Problem]) -> list | None:
    """The stored [x, y, w, h] box if it is four finite numbers inside the frame's bounds, else None."""
    if bbox is None:
        return None
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
        problems.append(Problem(file, record, f"expected bbox [x, y, w, h] of 4 numbers, found {bbox!r}"[:200]
                                + "; bbox ignored", "warning"))
        return None
    x, y, w, h = bbox
    (x_lo, x_hi), (y_lo, y_hi) = coordinate_range(frame[0]), coordinate_range(frame[1])
    if w < 0 or h < 0 or x < x_lo or y < y_lo or x + w > x_hi or y + h > y_hi:
        problems.append(Problem(file, record, f"bbox {bbox!r} is not a box in or near the {frame[0]} x {frame[1]} "
                                              "frame (negative size, or far outside); bbox ignored", "warning"))
        return None
    return bbox


def _parse_area(area: Any, record: str, frame: tuple[int, int], file: str, problems: list[Problem]) -> float | None:
    """The stored area if it is a number from 0 to the frame's pixel count; else None (the mask area is used)."""
    if area is None:
        return None
    if _is_number(area) and 0 <= area <= frame[0] * frame[1]:
        return area
    problems.append(Problem(file, record, f"expected an area from 0 to {frame[0] * frame[1]} px, found "
                                          f"{area!r}"[:160] + "; the mask area is used instead", "warning"))
    return None


def _parse_rle(seg: dict, record: str, image: dict, file: str, problems: list[Problem]) -> dict | None:
    """A checked RLE dict (counts as given), or None with the reason reported."""
    counts = seg.get("counts")
    if isinstance(counts, list) and counts and set(map(type, counts)) <= {int, float}:
        floats = [v for v in counts if isinstance(v, float)]
        if floats and all(math.isfinite(v) and v.is_integer() for v in floats):
            problems.append(Problem(file, record, "RLE run lengths written as floats (e.g. "
                                                  f"{floats[0]!r}); read as integers", "warning"))
            counts = [int(v) for v in counts]
    rle = {"size": seg.get("size"), "counts": counts}
    height, width = image["declared_height"] or image["height"], image["declared_width"] or image["width"]
    why = rle_problem(rle, height, width)
    if why is not None:
        problems.append(Problem(file, record, f"{why}; annotation skipped"))
        return None
    return rle


def _parse_annotation(
    ann: dict, ann_id: Any, image: dict, category_id: Any, file: str, problems: list[Problem]
) -> dict | None:
    """One annotation whose ids are already checked: its box, area and segmentation (None: skipped)."""
    record = f"annotation id {ann_id}"
    frame = (image["width"], image["height"])
    bbox = _parse_bbox(ann.get("bbox"), record, frame, file, problems)
    area = _parse_area(ann.get("area"), record, frame, file, problems)
    mask = _parse_segmentation(ann.get("segmentation", []), bbox, record, image, file, problems)
    if mask is None:
        return None
    return {"coco_id": ann_id, "coco_image_id": image["coco_id"], "category_id": category_id, "bbox": bbox,
            "area": area, **mask}


def _parse_segmentation(seg: Any, bbox: list | None, record: str, image: dict, file: str,
                        problems: list[Problem]) -> dict[str, Any] | None:
    """The mask as {"parts": polygon parts or None, "rle": RLE dict or None}; both None: box-only.

    None when the annotation is skipped: an unusable RLE, a segmentation of another type, or
    no usable polygon and no usable box to fall back on.
    """
    if isinstance(seg, dict):
        rle = _parse_rle(seg, record, image, file, problems)
        return {"parts": None, "rle": rle} if rle is not None else None
    if not isinstance(seg, list):
        problems.append(Problem(file, record, "expected a list of polygons or an RLE dict, found "
                                              f"{type(seg).__name__}; annotation skipped"))
        return None
    if not seg:  # [] : a box-only annotation needs its box
        if bbox is None:
            problems.append(Problem(file, record, "no segmentation and no bbox; annotation skipped"))
            return None
        return {"parts": None, "rle": None}
    parts = _parse_polygon_parts(seg, record, (image["width"], image["height"]), file, problems)
    if parts is not None:
        return {"parts": parts, "rle": None}
    # The record still counts (the published numbers count every annotation): keep its box.
    if bbox is not None and bbox[2] > 0 and bbox[3] > 0:
        problems.append(Problem(file, record, "no usable polygon; kept as a box-only annotation (its bbox)", "warning"))
        return {"parts": None, "rle": None}
    problems.append(Problem(file, record, "no usable polygon and no usable bbox; annotation skipped"))
    return None


def _read_categories(raw: list, file: str, problems: list[Problem]) -> list[dict[str, Any]]:
    """Categories with a usable id and name; the others reported."""
    cats: list[dict[str, Any]] = []
    seen: set = set()
    for cat in raw:
        if not isinstance(cat, dict) or "id" not in cat or not isinstance(cat.get("name"), str):
            problems.append(Problem(file, f"category {cat!r}"[:80], "expected 'id' and a 'name' string; skipped"))
            continue
        cat_id, note = _check_id(cat["id"])
        record = f"category {cat['name']!r}"
        if cat_id is None or isinstance(cat_id, str):
            why = note or f"expected an integer category id, found the string {cat_id!r}"
            problems.append(Problem(file, record, f"{why}; category skipped"))
            continue
        if note:
            problems.append(Problem(file, record, f"id {note}", "warning"))
        if cat_id in seen:
            problems.append(Problem(file, record, f"duplicate category id {cat_id}; later record skipped"))
            continue
        seen.add(cat_id)
        supercategory = cat.get("supercategory", "")
        cats.append({"id": cat_id, "name": cat["name"], "supercategory": supercategory if isinstance(supercategory, str) else ""})
    return cats


def _record_id(rec: dict, kind: str, required: tuple[str, ...], seen: Container, file: str,
               problems: list[Problem]) -> tuple[Any, str, bool]:
    """(id, record label, usable) of an image or annotation record, its problems reported.

    Unusable: a required key is missing, the id cannot be an id, or an earlier record has it.
    """
    rec_id, note = _check_id(rec.get("id"))
    record = f"{kind} id {rec_id if rec_id is not None else repr(rec.get('id'))[:40]}"
    missing = [k for k in required if k not in rec]
    if missing:
        problems.append(Problem(file, record, f"missing required key(s): {', '.join(missing)}; {kind} skipped"))
        return rec_id, record, False
    if rec_id is None:
        problems.append(Problem(file, record, f"{note}; {kind} skipped"))
        return None, record, False
    if note:
        problems.append(Problem(file, record, f"id {note}", "warning"))
    if rec_id in seen:
        problems.append(Problem(file, record, f"duplicate {kind} id; later record skipped"))
        return rec_id, record, False
    return rec_id, record, True


def _read_image_records(raw: list[dict], file: str, problems: list[Problem]) -> tuple[dict[Any, dict], dict[Any, str]]:
    """Image records keyed by their checked id, and the ids skipped with the reason."""
    images: dict[Any, dict] = {}
    skipped: dict[Any, str] = {}
    max_pixels = max_image_pixels()
    for im in raw:
        image_id, record, ok = _record_id(im, "image", REQUIRED_IMAGE_KEYS, images, file, problems)
        if not ok:
            if image_id is not None and image_id not in images:  # a usable id, but required keys missing
                skipped[image_id] = "it lacks required keys"
            continue
        if not isinstance(im["file_name"], str):
            problems.append(Problem(file, record, f"expected a file_name string, found {im['file_name']!r}"[:160]
                                    + "; image skipped"))
            skipped[image_id] = "its file_name is not a string"
            continue
        size_problem = frame_size_problem(im["width"], im["height"], max_pixels)
        images[image_id] = {
            "coco_id": image_id,
            "file_name": im["file_name"],
            "declared_width": 0 if size_problem else im["width"],
            "declared_height": 0 if size_problem else im["height"],
            "size_problem": size_problem,
        }
    return images, skipped


def _settle_frame_sizes(images: dict[Any, dict], image_dir: Path, file: str, problems: list[Problem],
                        skipped: dict[Any, str]) -> None:
    """Give each image its file's facts and the canvas its numbers use; drop images with no usable size.

    The canvas is the file's own size (read from its header) whenever the file opens, so masks,
    areas and the detail view agree with the pixels shown; else the declared size.
    """
    probe = probe_images(image_dir, [im["file_name"] for im in images.values()])
    seen_paths: dict[str, Any] = {}
    n_missing = 0
    for (image_id, im), row in zip(list(images.items()), probe.itertuples(index=False)):
        record = f"image id {image_id}"
        im.update(path=row.path, file_status=row.file_status, exif_orientation=row.exif_orientation)
        file_ok = row.file_status == FILE_OK
        if file_ok:
            im["width"], im["height"] = row.file_width, row.file_height
        elif im["declared_width"]:
            im["width"], im["height"] = im["declared_width"], im["declared_height"]
        if im["size_problem"]:
            if not file_ok:
                problems.append(Problem(file, record, f"{im['size_problem']}, and the file gives no size "
                                                      f"({row.file_status}); image skipped"))
                skipped[image_id] = "it has no usable size"
                del images[image_id]
                continue
            problems.append(Problem(file, record, f"{im['size_problem']}; the file's size "
                                                  f"{row.file_width} x {row.file_height} is used", "warning"))
        elif file_ok and (row.file_width, row.file_height) != (im["declared_width"], im["declared_height"]):
            problems.append(Problem(
                file, record,
                f"declared {im['declared_width']} x {im['declared_height']} px, but the file "
                f"{im['file_name']} is {row.file_width} x {row.file_height} px; the file's size is used "
                "for masks, areas and display", "warning"))
        if row.file_status == FILE_MISSING:
            n_missing += 1
            if n_missing <= MAX_MISSING_LISTED:
                problems.append(Problem(row.path, f"{file}, {record}", "image file is missing; its annotations are kept",
                                        "warning"))
        elif not file_ok:
            detail = f" ({row.file_detail})" if row.file_detail else ""
            problems.append(Problem(file, record, f"image file {im['file_name']!r}: {row.file_status}{detail}; "
                                                  "not shown, its annotations are kept", "warning"))
        if row.exif_orientation not in (0, 1):
            problems.append(Problem(file, record, f"the file carries EXIF orientation {row.exif_orientation}; it is "
                                                  "shown as stored (not rotated), as the annotations' coordinates "
                                                  "assume", "warning"))
        if file_ok:
            other = seen_paths.setdefault(row.path, image_id)
            if other != image_id:
                problems.append(Problem(file, record, f"points at the same file as image id {other} "
                                                      f"({im['file_name']}); both kept", "warning"))
    if n_missing > MAX_MISSING_LISTED:
        problems.append(Problem(str(image_dir), file, f"{n_missing - MAX_MISSING_LISTED} more image files are "
                                                      "missing; their annotations are kept", "warning"))


def _reference(value: Any, key: str, record: str, file: str, problems: list[Problem]) -> Any:
    """An annotation's `image_id` or `category_id` read as an id (see `_check_id`); None when it cannot be one."""
    ref, note = _check_id(value)
    if ref is None:
        problems.append(Problem(file, record, f"{key}: {note}; annotation skipped"))
    elif note:
        problems.append(Problem(file, record, f"{key} {note}", "warning"))
    return ref


def _image_of(image_key: Any, images: dict[Any, dict], skipped_images: dict[Any, str], record: str, file: str,
              problems: list[Problem]) -> tuple[Any, bool]:
    """(the image's key in `images`, whether it was matched across types: "3" for 3); key None: skipped."""
    if image_key in images:
        return image_key, False
    other = _same_value_other_type(image_key, images)
    if other is not None:
        return other, True
    if image_key in skipped_images:
        problems.append(Problem(file, record, f"its image (id {image_key!r}) was skipped because "
                                              f"{skipped_images[image_key]}; annotation skipped"))
    else:
        problems.append(Problem(file, record, f"image_id {image_key!r} is not an image of this file; "
                                              "annotation skipped"))
    return None, False


def _category_of(category_id: Any, cat_ids: set, record: str, file: str, problems: list[Problem]) -> Any:
    """The category id as the categories write it ("3" matched to 3, with a warning); None: skipped."""
    if category_id in cat_ids:
        return category_id
    other = _same_value_other_type(category_id, dict.fromkeys(cat_ids))
    if other is None:
        problems.append(Problem(file, record, f"category_id {category_id!r} is not a known category; "
                                              "annotation skipped"))
        return None
    problems.append(Problem(file, record, f"category_id {category_id!r} is a {type(category_id).__name__} "
                                          f"where the category ids are {type(other).__name__}s; matched to "
                                          f"category {other!r} and kept", "warning"))
    return other


def _all_numbers(values: list) -> bool:
    """Whether every value is a JSON number (int or float, not bool): one pass over the types, in C."""
    return set(map(type, values)) <= NUMBER_TYPES


def _as_float64(values: list) -> np.ndarray | None:
    """JSON numbers as a float64 array, or None when one does not fit a float (an integer beyond 1e308)."""
    try:
        return np.array(values, dtype=np.float64)
    except OverflowError:
        return None


def _flatten_parts(parts: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(coordinates, numbers per part, usable per part) of polygon parts as the JSON gives them.

    One flat float64 array of every part's numbers in order (shape (sum of counts,)), with
    each part's count (shape (n_parts,)); a part that is not a list of JSON numbers that fit
    a float is unusable, and its numbers are left out (count 0) so the offsets stay aligned.
    """
    n = len(parts)
    coords = None
    if set(map(type, parts)) <= {list}:
        values = list(chain.from_iterable(parts))
        if _all_numbers(values):
            coords = _as_float64(values)
    if coords is not None:
        return coords, np.fromiter(map(len, parts), dtype=np.int64, count=n), np.ones(n, dtype=bool)
    # Some part is bad: find which, one by one (only files with a problem come here).
    usable = np.fromiter((type(p) is list and _all_numbers(p) and _as_float64(p) is not None for p in parts),
                         dtype=bool, count=n)
    coords = np.array(list(chain.from_iterable(p for p, ok in zip(parts, usable) if ok)), dtype=np.float64)
    counts = np.fromiter((len(p) if ok else 0 for p, ok in zip(parts, usable)), dtype=np.int64, count=n)
    return coords, counts, usable


def _parts_outside(coords: np.ndarray, counts: np.ndarray, widths: np.ndarray, heights: np.ndarray) -> np.ndarray:
    """Per part (shape (n_parts,) bool), whether a number is not finite or lies far outside the part's frame.

    `coords` holds the parts' numbers one after another, `counts` how many each part has, and
    `widths`/`heights` each part's frame (px); a part's even positions are x, its odd ones y.
    """
    coord_part = np.repeat(np.arange(len(counts)), counts)
    position = np.arange(len(coords)) - np.repeat(np.cumsum(counts) - counts, counts)
    side = np.where(position % 2 == 0, widths[coord_part], heights[coord_part])
    lo, hi = coordinate_range(side)
    # NaN compares false: a non-finite number counts through `np.isfinite`, not the range.
    outside = ~np.isfinite(coords) | (coords < lo) | (coords > hi)
    return np.bincount(coord_part, weights=outside, minlength=len(counts)) > 0


def _bad_polygons(segs: list[list], widths: np.ndarray, heights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which polygon segmentations `_parse_polygon_parts` would not take unchanged, checked on flat arrays.

    `segs` are non-empty segmentation lists of at most `MAX_POLYGON_PARTS` parts, `widths` and
    `heights` their frames (px). Returns (bad, shape (n,) bool; the flat coordinates; numbers per
    part): an annotation is bad when any part is unusable, odd, shorter than three points or
    far outside the frame, or it has more than `MAX_POLYGON_VERTICES` vertices.
    """
    n_parts = np.fromiter(map(len, segs), dtype=np.int64, count=len(segs))
    coords, counts, usable = _flatten_parts(list(chain.from_iterable(segs)))
    part_ann = np.repeat(np.arange(len(segs)), n_parts)
    bad_part = ~usable | (counts % 2 == 1) | (counts < MIN_POLYGON_NUMBERS)
    if bad_part.any() or not np.isfinite(coords).all():
        bad_part |= _parts_outside(coords, counts, widths[part_ann], heights[part_ann])
    else:  # every part even and finite: x and y alternate over the whole array, one extent per part
        xs, ys = coords[0::2], coords[1::2]
        starts = (np.cumsum(counts) - counts) // 2
        (x_lo, x_hi), (y_lo, y_hi) = coordinate_range(widths[part_ann]), coordinate_range(heights[part_ann])
        bad_part = ((np.minimum.reduceat(xs, starts) < x_lo) | (np.maximum.reduceat(xs, starts) > x_hi)
                    | (np.minimum.reduceat(ys, starts) < y_lo) | (np.maximum.reduceat(ys, starts) > y_hi))
    bad = np.bincount(part_ann, weights=bad_part, minlength=len(segs)) > 0
    vertices = np.bincount(part_ann, weights=counts // 2, minlength=len(segs))
    return bad | (vertices > MAX_POLYGON_VERTICES), coords, counts


def _screen_annotations(raw: list[dict], images: dict[Any, dict], cat_ids: set) -> list[dict | None]:
    """Every annotation record that passes each check of `_read_annotation_records` as it is, parsed in bulk.

    Returns one entry per record: the parsed annotation (as `_parse_annotation` gives it) for a
    record with integer ids that resolve, no duplicate id, a box and area that are usable or
    absent, and polygons every part of which is usable; None for any other record. A None
    record may still be valid (a string id, an RLE mask, an id written twice): it goes through
    the record-by-record path, which reports whatever is wrong with it, as before.
    """
    n = len(raw)
    ids = [a.get("id") for a in raw]
    image_refs = [a.get("image_id") for a in raw]
    cat_refs = [a.get("category_id") for a in raw]
    boxes = [a.get("bbox") for a in raw]
    areas = [a.get("area") for a in raw]
    segs = [a.get("segmentation", []) for a in raw]
    ok = np.fromiter((type(i) is int and -2**63 < i < 2**63 and type(m) is int and m in images
                      and type(c) is int and c in cat_ids and type(s) is list
                      and (b is None or (type(b) is list and len(b) == 4))
                      and (r is None or type(r) in NUMBER_TYPES)
                      for i, m, c, s, b, r in zip(ids, image_refs, cat_refs, segs, boxes, areas)), dtype=bool, count=n)
    rows = np.flatnonzero(ok)
    width, height = np.zeros(n), np.zeros(n)
    width[rows] = [images[image_refs[i]]["width"] for i in rows]
    height[rows] = [images[image_refs[i]]["height"] for i in rows]
    (x_lo, x_hi), (y_lo, y_hi) = coordinate_range(width), coordinate_range(height)

    # The stored box: four finite numbers, not negative in size, in or near the frame.
    has_box = ok & np.fromiter((b is not None for b in boxes), dtype=bool, count=n)
    box = np.full((n, 4), np.nan)
    box_rows = np.flatnonzero(has_box)
    box_values = [boxes[i] for i in box_rows]
    flat, counts, usable = _flatten_parts(box_values)
    box[box_rows[usable]] = flat.reshape(-1, 4)
    ok[box_rows[~usable]] = False
    x, y, w, h = box.T
    with np.errstate(invalid="ignore"):
        bad_box = ~np.isfinite(box).all(axis=1) | (w < 0) | (h < 0) | (x < x_lo) | (y < y_lo) | (x + w > x_hi) | (y + h > y_hi)
    ok &= ~(has_box & bad_box)

    # The stored area: a finite number from 0 to the frame's pixel count.
    has_area = ok & np.fromiter((r is not None for r in areas), dtype=bool, count=n)
    area = np.full(n, np.nan)
    area_rows = np.flatnonzero(has_area)
    try:
        area[area_rows] = [areas[i] for i in area_rows]
    except OverflowError:  # an integer beyond a float's range: more than any frame's pixel count
        area[area_rows] = [areas[i] if abs(areas[i]) < 1e300 else np.inf for i in area_rows]
    with np.errstate(invalid="ignore"):
        ok &= ~(has_area & ~((area >= 0) & (area <= width * height)))

    # The mask: [] needs its box; polygons are checked on one flat coordinate array.
    n_parts = np.fromiter((len(s) if type(s) is list else 0 for s in segs), dtype=np.int64, count=n)
    ok &= ~((n_parts == 0) & ~has_box) & (n_parts <= MAX_POLYGON_PARTS)
    poly = np.flatnonzero(ok & (n_parts > 0))
    bad, coords, counts = _bad_polygons([segs[i] for i in poly], width[poly], height[poly])
    ok[poly[bad]] = False

    # Ids: a record whose id another record also has (as written, or read as the same id) goes the
    # slow way, so duplicates are reported and kept exactly as record-by-record reading does.
    id_values = np.zeros(n, dtype=np.int64)
    id_values[ok] = [ids[i] for i in np.flatnonzero(ok)]
    unique, n_same = np.unique(id_values[ok], return_counts=True)
    others = {_check_id(ids[i])[0] for i in np.flatnonzero(~ok)}
    taken = np.array(sorted({v for v in others if type(v) is int} | set(unique[n_same > 1].tolist())), dtype=np.int64)
    ok &= ~np.isin(id_values, taken)

    # The parts as floats: the JSON's own lists when every number is a float, else rebuilt from the array.
    parts_of = dict.fromkeys(np.flatnonzero(ok & (n_parts > 0)).tolist())
    keep = np.isin(poly, list(parts_of))
    if set(map(type, chain.from_iterable(chain.from_iterable(segs[i] for i in parts_of)))) <= {float}:
        parts_of = {i: segs[i] for i in parts_of}
    else:
        ends = np.cumsum(counts)
        values = coords.tolist()
        part_lists = [values[e - c:e] for e, c in zip(ends.tolist(), counts.tolist())]
        starts = np.cumsum(n_parts[poly]) - n_parts[poly]
        parts_of = {i: part_lists[s:s + k] for i, s, k in zip(poly[keep].tolist(), starts[keep].tolist(),
                                                               n_parts[poly[keep]].tolist())}
    return [{"coco_id": ids[i], "coco_image_id": image_refs[i], "category_id": cat_refs[i], "bbox": boxes[i],
             "area": areas[i], "parts": parts_of.get(i), "rle": None} if good else None
            for i, good in enumerate(ok.tolist())]


def _read_annotation_records(raw: list[dict], images: dict[Any, dict], skipped_images: dict[Any, str],
                             cat_ids: set, file: str, problems: list[Problem]) -> list[dict]:
    """Annotations whose ids resolve, each parsed; one warning per file for ids matched across types."""
    out = _screen_annotations(raw, images, cat_ids)
    seen: set = set()  # ids taken by the records below (the bulk ones share none of them)
    cross_type: list[tuple[Any, Any]] = []
    for index in [i for i, parsed in enumerate(out) if parsed is None]:
        ann = raw[index]
        ann_id, record, ok = _record_id(ann, "annotation", REQUIRED_ANNOTATION_KEYS, seen, file, problems)
        if not ok:
            continue
        written = _reference(ann["image_id"], "image_id", record, file, problems)
        if written is None:
            continue
        image_key, crossed = _image_of(written, images, skipped_images, record, file, problems)
        if image_key is None:
            continue
        if crossed:
            cross_type.append((ann_id, written))
        category_id = _reference(ann["category_id"], "category_id", record, file, problems)
        if category_id is not None:
            category_id = _category_of(category_id, cat_ids, record, file, problems)
        if category_id is None:
            continue
        parsed = _parse_annotation(ann, ann_id, images[image_key], category_id, file, problems)
        if parsed is not None:
            seen.add(ann_id)
            out[index] = parsed
    if cross_type:
        first_ann, first_key = cross_type[0]
        image_type = type(next(iter(images))).__name__
        problems.append(Problem(
            file, f"annotation id {first_ann}",
            f"{len(cross_type)} annotation(s) give image_id as a {type(first_key).__name__} ({first_key!r}) where "
            f"this file's image ids are {'numbers' if image_type == 'int' else 'strings'}; matched by value and kept",
            "warning"))
    return [parsed for parsed in out if parsed is not None]


def _dict_entries(raw: list, key: str, file: str, problems: list[Problem]) -> list[dict]:
    """The objects of a top-level list ('images', 'annotations'); other entries skipped with one problem."""
    entries = [entry for entry in raw if isinstance(entry, dict)]
    if len(entries) != len(raw):
        problems.append(Problem(file, key, f"non-object entries in '{key}' skipped"))
    return entries


def _top_level(path: Path, problems: list[Problem]) -> dict | None:
    """The parsed file if it is an object with the three lists; unknown top-level keys reported."""
    file = str(path)
    data, problem = read_json(path)
    if problem is not None:
        problems.append(problem)
        return None
    if not isinstance(data, dict):
        problems.append(Problem(file, "top level", f"expected a JSON object, found {type(data).__name__}"))
        return None
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(data.get(k), list)]
    if missing:
        problems.append(Problem(file, "top level", f"expected list(s) under key(s): {', '.join(missing)}"))
        return None
    for key in sorted(data.keys() - TOP_LEVEL_KEYS):
        problems.append(Problem(file, "top level", f"unknown key '{key}'; ignored", "warning"))
    return data


def read_coco(path: Path, split: str, image_dir: Path | None = None) -> SplitRecords:
    """Read one COCO file; problems are collected, valid records are kept.

    Each image's file is located and its header read (see `image_files.probe_images`), so
    records carry the frame size their numbers use. Never raises for bad content: every
    problem is a `Problem` naming the file and the record.

    Args:
        path: the `_annotations.coco.json` file.
        split: the split name given to its images.
        image_dir: where the image files are (default: beside the JSON).
    """
    file = str(path)
    recs = SplitRecords(split=split, source_file=file, image_dir=image_dir or path.parent)
    problems = recs.problems
    data = _top_level(path, problems)
    if data is None:
        return recs
    if isinstance(data.get("info"), dict):
        recs.info = data["info"]
    if isinstance(data.get("licenses"), list):
        recs.licenses = [lic for lic in data["licenses"] if isinstance(lic, dict)]

    recs.categories = _read_categories(data["categories"], file, problems)
    _report_unknown_keys([c for c in data["categories"] if isinstance(c, dict)], CATEGORY_KEYS, "category", file, problems)

    raw_images = _dict_entries(data["images"], "images", file, problems)
    images, skipped = _read_image_records(raw_images, file, problems)
    _settle_frame_sizes(images, recs.image_dir, file, problems, skipped)
    _report_unknown_keys(raw_images, IMAGE_KEYS, "image", file, problems)
    recs.images = list(images.values())

    raw_anns = _dict_entries(data["annotations"], "annotations", file, problems)
    cat_ids = {c["id"] for c in recs.categories}
    recs.annotations = _read_annotation_records(raw_anns, images, skipped, cat_ids, file, problems)
    _report_unknown_keys(raw_anns, ANNOTATION_KEYS, "annotation", file, problems)
    return recs
