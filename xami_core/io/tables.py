"""Build the tidy tables of a `Dataset` from validated records, geometry vectorised (columns: `xami_core.schema`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from pycocotools import mask as mask_utils

from xami_core.io.coco import SplitRecords
from xami_core.io.image_files import FILE_OK, base_name
from xami_core.model import (
    CLASS_IDS,
    FILTERS,
    NO_KEY_LABEL,
    Dataset,
    Problem,
    Provenance,
    XamiDataError,
    class_colours,
    filter_name,
    rgb_to_hex,
)
from xami_core.polygons import PolygonArrays, arrays_from_parts, polygon_column

OBS_PATTERN = r"^(?P<obs_key>S(?P<obsid>\d{10})_(?P<filter_letter>[A-Z]))"
MAX_CLASS_BITS = 63  # classes that fit the per-image class bitset (int64, sign bit unused)
GEOMETRY_CHUNK = 50_000  # polygon annotations measured at once (bounds the temporary arrays' memory)
# What a reader puts in each image record (see coco.read_coco and yolo.read_yolo).
IMAGE_RECORD_COLUMNS = ("coco_id", "file_name", "width", "height", "declared_width", "declared_height",
                        "size_problem", "path", "file_status", "exif_orientation")


def _visible_categories(parts: list[SplitRecords], used: set[str]) -> list[dict[str, Any]]:
    """Union of categories by name, hiding unused parents (Roboflow's id 0)."""
    by_name: dict[str, dict[str, Any]] = {}
    for recs in parts:
        for cat in recs.categories:
            by_name.setdefault(cat["name"], cat)
    parents = {c["supercategory"] for c in by_name.values()}
    visible = [c for c in by_name.values() if c["name"] in used or c["name"] not in parents]
    out = sorted(({"class_id": CLASS_IDS.get(cat["name"], cat["id"]), "name": cat["name"],
                   "supercategory": cat["supercategory"]} for cat in visible),
                 key=lambda c: (c["class_id"], c["name"]))
    # The authors' colours for XAMI's five, a distinct colour-blind-safe one each for any other class.
    colours = class_colours([c["name"] for c in out], "authors")
    return [c | {"colour": rgb_to_hex(colours[c["name"]])} for c in out]


def _polygon_geometry(polygons: PolygonArrays) -> dict[str, np.ndarray]:
    """Bounding boxes, shoelace areas, centroids and vertex counts, vectorised.

    `polygons` holds the parts of annotations that each have at least one (flat x, y coordinates).
    """
    n = len(polygons.row_offsets) - 1
    n_parts = polygons.n_parts
    if not len(polygons.coords):
        empty = np.zeros(0)
        return {k: empty for k in ("x0", "y0", "x1", "y1", "poly_area", "cx", "cy")} | {
            "n_vertices": np.zeros(0, dtype=np.int64), "n_parts": n_parts}
    part_len = polygons.part_lengths // 2
    xs, ys = polygons.coords[0::2], polygons.coords[1::2]
    part_start = np.concatenate(([0], np.cumsum(part_len)[:-1]))
    part_ann = np.repeat(np.arange(n), n_parts)
    ann_vertices = np.bincount(part_ann, weights=part_len, minlength=n).astype(np.int64)
    ann_start = np.concatenate(([0], np.cumsum(ann_vertices)[:-1]))

    x0 = np.minimum.reduceat(xs, ann_start)
    x1 = np.maximum.reduceat(xs, ann_start)
    y0 = np.minimum.reduceat(ys, ann_start)
    y1 = np.maximum.reduceat(ys, ann_start)

    # Shoelace per part: each vertex pairs with the next one, the last with the first.
    # Coordinates relative to the part's first vertex avoid cancellation in the cross products.
    nxt = np.arange(len(xs)) + 1
    nxt[part_start + part_len - 1] = part_start
    origin_x = np.repeat(xs[part_start], part_len)
    origin_y = np.repeat(ys[part_start], part_len)
    rx, ry = xs - origin_x, ys - origin_y
    cross = rx * ry[nxt] - rx[nxt] * ry
    a_part = 0.5 * np.add.reduceat(cross, part_start)
    # Moments about the part's origin; adding origin * area moves them back to frame coordinates.
    cx_part_num = np.add.reduceat((rx + rx[nxt]) * cross, part_start) / 6.0 + xs[part_start] * a_part
    cy_part_num = np.add.reduceat((ry + ry[nxt]) * cross, part_start) / 6.0 + ys[part_start] * a_part
    # A part's centroid is num / A; weighting by |A| gives num * sign(A).
    sign = np.sign(a_part)
    area = np.bincount(part_ann, weights=np.abs(a_part), minlength=n)
    cx_num = np.bincount(part_ann, weights=cx_part_num * sign, minlength=n)
    cy_num = np.bincount(part_ann, weights=cy_part_num * sign, minlength=n)
    mean_x = np.bincount(part_ann, weights=np.add.reduceat(xs, part_start), minlength=n) / ann_vertices
    mean_y = np.bincount(part_ann, weights=np.add.reduceat(ys, part_start), minlength=n) / ann_vertices
    degenerate = area <= 1e-9
    safe = np.where(degenerate, 1.0, area)
    cx = np.where(degenerate, mean_x, cx_num / safe)
    cy = np.where(degenerate, mean_y, cy_num / safe)
    return {"x0": x0, "y0": y0, "x1": x1, "y1": y1, "poly_area": area, "cx": cx, "cy": cy,
            "n_vertices": ann_vertices, "n_parts": n_parts}


def _mask_areas(polygons: PolygonArrays, heights: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Pixel areas of polygon masks as pycocotools rasterises them (COCO convention).

    `polygons` holds annotations of at least one part each; `heights`/`widths` their canvases (px).
    """
    n_parts = polygons.n_parts
    out = np.zeros(len(n_parts))
    # pycocotools takes each part as a 1-d array (a view into the coordinates: no list per part).
    views = polygons.part_views()
    part_row = np.repeat(np.arange(len(n_parts)), n_parts)
    sizes = np.stack([heights, widths], axis=1)
    for h, w in {tuple(s) for s in sizes.tolist()}:
        same = (heights == h) & (widths == w)
        idx = np.flatnonzero(same)
        flat_parts = [views[k] for k in np.flatnonzero(same[part_row]).tolist()]
        counts = n_parts[idx]
        rles = mask_utils.frPyObjects(flat_parts, int(h), int(w))
        part_area = rle_areas(rles)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        out[idx] = np.add.reduceat(part_area, starts)
        # Parts of one annotation may overlap: merge those whose parts' pixel boxes meet (two parts
        # whose boxes do not meet share no pixel, so their areas add up exactly).
        for j in _parts_that_may_overlap(rle_boxes(rles), starts, counts):
            merged = mask_utils.merge(rles[starts[j]:starts[j] + counts[j]])
            out[idx[j]] = float(mask_utils.area(merged))
    return out


def _parts_that_may_overlap(boxes: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Annotations (indices into `starts`/`counts`) of several parts that may share pixels.

    `boxes` are the parts' pixel boxes [x, y, w, h] (shape (n_parts, 4)); an annotation of two
    parts whose boxes do not meet is left out, any of three parts or more is kept.
    """
    two = np.flatnonzero(counts == 2)
    a, b = boxes[starts[two]], boxes[starts[two] + 1]
    meet = ((a[:, 0] < b[:, 0] + b[:, 2]) & (b[:, 0] < a[:, 0] + a[:, 2])
            & (a[:, 1] < b[:, 1] + b[:, 3]) & (b[:, 1] < a[:, 1] + a[:, 3]))
    return np.sort(np.concatenate([two[meet], np.flatnonzero(counts > 2)]))


# pycocotools 2.0.11 overflows a uint8 counter on lists of more than 255 RLEs.
RLE_BATCH = 255


def rle_areas(rles: list[dict]) -> np.ndarray:
    """Pixel areas of compressed RLEs (shape (n,), px²), in batches pycocotools accepts."""
    if not rles:
        return np.zeros(0)
    return np.concatenate([mask_utils.area(rles[i:i + RLE_BATCH]) for i in range(0, len(rles), RLE_BATCH)]).astype(np.float64)


def rle_boxes(rles: list[dict]) -> np.ndarray:
    """[x, y, w, h] boxes of compressed RLEs (shape (n, 4), px), in batches pycocotools accepts."""
    if not rles:
        return np.zeros((0, 4))
    return np.concatenate([mask_utils.toBbox(rles[i:i + RLE_BATCH]) for i in range(0, len(rles), RLE_BATCH)]).astype(np.float64)


def rle_to_compressed(rle: dict) -> dict:
    """A compressed RLE (string counts) from either RLE form."""
    if isinstance(rle["counts"], list):
        h, w = rle["size"]
        return mask_utils.frPyObjects(rle, h, w)
    counts = rle["counts"]
    return {"size": rle["size"], "counts": counts.encode() if isinstance(counts, str) else counts}


def _rle_geometry(rles: Sequence[dict]) -> dict[str, np.ndarray]:
    """Boxes, areas and centroids of RLE masks (decoded one by one: RLEs are rare)."""
    compressed = [rle_to_compressed(r) for r in rles]
    if not compressed:
        return {k: np.zeros(0) for k in ("x0", "y0", "x1", "y1", "area", "cx", "cy")}
    boxes = rle_boxes(compressed)
    areas = rle_areas(compressed)
    cx, cy = np.zeros(len(rles)), np.zeros(len(rles))
    for i, rle in enumerate(compressed):
        ys, xs = np.nonzero(mask_utils.decode(rle))
        if len(xs):
            cx[i], cy[i] = xs.mean() + 0.5, ys.mean() + 0.5
    return {"x0": boxes[:, 0], "y0": boxes[:, 1], "x1": boxes[:, 0] + boxes[:, 2],
            "y1": boxes[:, 1] + boxes[:, 3], "area": areas, "cx": cx, "cy": cy}


def _images_table(parts: list[SplitRecords], problems: list[Problem]) -> pd.DataFrame:
    """One row per image of every split (columns: `schema.IMAGE_COLUMNS`); the readers have already
    located and measured the files.

    The observation key comes from the file's base name, wherever the file sits (`images/S0...jpg`
    as CVAT writes it).
    """
    frames = []
    for recs in parts:
        if not recs.images:
            continue
        frame = pd.DataFrame.from_records(recs.images, columns=list(IMAGE_RECORD_COLUMNS))
        frame.insert(0, "split", recs.split)
        frames.append(frame)
    if not frames:
        return pd.DataFrame()
    images = pd.concat(frames, ignore_index=True).drop(columns="size_problem")
    for column in ("width", "height", "declared_width", "declared_height", "exif_orientation"):
        images[column] = images[column].astype(np.int64)
    images["has_file"] = (images["file_status"] == FILE_OK).to_numpy()
    images.insert(0, "image_id", np.arange(len(images), dtype=np.int64))
    names = images["file_name"].map(base_name)
    obs = names.str.extract(OBS_PATTERN)
    images["obs_key"] = obs["obs_key"]
    images["obsid"] = obs["obsid"]
    images["filter_letter"] = obs["filter_letter"]
    images["filter_name"] = images["filter_letter"].map(filter_name).astype("str")  # every row named
    images["wavelength_nm"] = images["filter_letter"].map({k: v[1] for k, v in FILTERS.items()}).astype("float64")
    unparsed = names[images["obs_key"].isna()]
    if len(unparsed):
        problems.append(Problem(
            str(parts[0].image_dir), f"image {unparsed.iloc[0]}",
            f"{len(unparsed)} file name(s) do not start with an observation key "
            f"'S' + 10-digit ObsID + '_' + filter letter; listed under '{NO_KEY_LABEL}'", "warning"))
    unknown = images["filter_letter"].notna() & ~images["filter_letter"].isin(list(FILTERS))
    for letter, group in names[unknown].groupby(images.loc[unknown, "filter_letter"]):
        problems.append(Problem(
            str(parts[0].image_dir), f"image {group.iloc[0]}",
            f"filter letter '{letter}' in {len(group)} file name(s) is not one of the seven XMM-OM filters "
            f"({', '.join(FILTERS)}); listed as '{filter_name(letter)}'", "warning"))
    return images


def build_dataset(parts: list[SplitRecords], provenance: Provenance, extra_problems: list[Problem] | None = None) -> Dataset:
    """Assemble a `Dataset` from the records of one or more splits (columns: `xami_core.schema`).

    Raises:
        XamiDataError: no image could be loaded (the message gives the errors found).
        SchemaError: a table does not match the schema (a defect of this module, not of the input).
    """
    problems: list[Problem] = list(extra_problems or [])
    for recs in parts:
        problems.extend(recs.problems)
    images = _images_table(parts, problems)
    if images.empty:
        detail = "; ".join(str(p) for p in problems if p.severity == "error")[:2000]
        raise XamiDataError(f"No images could be loaded from {provenance.path}. {detail}".strip())
    # (split, the file's category id) -> class name: each split's file numbers its own categories.
    cat_name = {(r.split, c["id"]): c["name"] for r in parts for c in r.categories}
    ann_rows = [(r.split, a) for r in parts for a in r.annotations]
    used_names = {cat_name[(s, a["category_id"])] for s, a in ann_rows}
    categories = pd.DataFrame(_visible_categories(parts, used_names),
                              columns=["class_id", "name", "supercategory", "colour"]).astype({"class_id": np.int64})
    annotations = _annotations_table(ann_rows, cat_name, images, categories)
    _add_image_summaries(images, annotations, categories, provenance.path, problems)
    return Dataset(images=images, annotations=annotations, categories=categories, provenance=provenance,
                   problems=tuple(problems))


def _annotations_table(ann_rows: list[tuple[str, dict[str, Any]]], cat_name: dict[tuple[str, Any], str],
                       images: pd.DataFrame, categories: pd.DataFrame) -> pd.DataFrame:
    """One row per annotation: ids and class, the stored box and area, the geometry of the mask."""
    ann = _annotation_ids(ann_rows, cat_name, images, categories)
    n = len(ann_rows)
    kind = np.array(["polygon" if a["parts"] else "rle" if a["rle"] else "box" for _, a in ann_rows], dtype=object)
    ann["kind"] = pd.Series(kind, dtype="str")
    polygons = arrays_from_parts([a["parts"] for _, a in ann_rows])
    ann["segmentation"] = polygon_column(polygons, polygons.n_parts > 0)  # shares the coordinates, no copy
    rles = np.full(n, None, dtype=object)
    for i in np.flatnonzero(kind == "rle").tolist():  # rare: iscrowd masks, users' own sets
        rles[i] = ann_rows[i][1]["rle"]
    ann["rle"] = rles

    stored = np.array([a["bbox"] if a["bbox"] is not None else [np.nan] * 4 for _, a in ann_rows], dtype=np.float64).reshape(n, 4)
    ann["bbox_x"], ann["bbox_y"], ann["bbox_w"], ann["bbox_h"] = stored.T
    ann["area"] = np.array([a["area"] if a["area"] is not None else np.nan for _, a in ann_rows], dtype=np.float64)

    rows = ann["image_id"].to_numpy()
    geo = _mask_geometry(polygons, rles, kind, stored, images["height"].to_numpy()[rows], images["width"].to_numpy()[rows])
    ann["mask_box_x"], ann["mask_box_y"] = geo["x0"], geo["y0"]
    ann["mask_box_w"], ann["mask_box_h"] = geo["x1"] - geo["x0"], geo["y1"] - geo["y0"]
    ann["mask_area"] = geo["mask_area"]
    ann["polygon_area"] = geo["poly_area"]  # exact (shoelace); NaN for RLE and box-only
    ann["cx"], ann["cy"] = geo["cx"], geo["cy"]
    ann["n_vertices"], ann["n_parts"] = geo["n_vertices"], geo["n_parts"]
    ann.loc[ann["area"].isna(), "area"] = ann["mask_area"]
    return ann


def _annotation_ids(ann_rows: list[tuple[str, dict[str, Any]]], cat_name: dict[tuple[str, Any], str],
                    images: pd.DataFrame, categories: pd.DataFrame) -> pd.DataFrame:
    """The id columns: row id, image row, split, the file's ids, class name and class id."""
    n = len(ann_rows)
    ann = pd.DataFrame({
        "split": pd.Series([s for s, _ in ann_rows], dtype="str"),
        # No rows: int64, as for files with integer ids (pandas would make an empty list float64).
        "coco_id": pd.Series([a["coco_id"] for _, a in ann_rows], dtype=None if n else np.int64),
        "category_id": np.fromiter((a["category_id"] for _, a in ann_rows), dtype=np.int64, count=n),
        "class_name": pd.Series([cat_name[(s, a["category_id"])] for s, a in ann_rows], dtype="str"),
    })
    ann.insert(0, "ann_id", np.arange(n, dtype=np.int64))
    # (split, the file's image id) -> image_id: image ids are unique within a split only.
    image_id_of = pd.Series(images["image_id"].to_numpy(), index=pd.MultiIndex.from_arrays([images["split"], images["coco_id"]]))
    lookup = pd.MultiIndex.from_arrays([ann["split"], [a["coco_image_id"] for _, a in ann_rows]])
    ann.insert(1, "image_id", image_id_of.reindex(lookup).to_numpy().astype(np.int64))
    ann["class_id"] = ann["class_name"].map(dict(zip(categories["name"], categories["class_id"]))).astype(np.int64)
    return ann


def _mask_geometry(polygons: PolygonArrays, rles: np.ndarray, kind: np.ndarray, stored: np.ndarray,
                   img_h: np.ndarray, img_w: np.ndarray) -> dict[str, np.ndarray]:
    """Per annotation, the box (x0, y0, x1, y1), areas, centroid and vertex counts of its mask, in px.

    Polygons vectorised on the flat arrays of the `segmentation` column (`polygons`, every row), RLEs
    (`rles`: the `rle` column) through pycocotools, box-only annotations from their stored box
    (`stored`, n x 4 [x, y, w, h]); `img_h`/`img_w` are each annotation's canvas.
    """
    n = len(kind)
    geo = {k: np.full(n, np.nan) for k in ("x0", "y0", "x1", "y1", "mask_area", "poly_area", "cx", "cy")}
    geo["n_vertices"], geo["n_parts"] = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    poly = np.flatnonzero(kind == "polygon")
    # In chunks: the geometry makes about ten temporary arrays the size of all vertices at once.
    for chunk in np.array_split(poly, -(-len(poly) // GEOMETRY_CHUNK)) if len(poly) else []:
        part = polygons.take(chunk)  # views into the column's coordinates
        g = _polygon_geometry(part)
        for k in ("x0", "y0", "x1", "y1", "cx", "cy", "poly_area", "n_vertices", "n_parts"):
            geo[k][chunk] = g[k]
        geo["mask_area"][chunk] = _mask_areas(part, img_h[chunk], img_w[chunk])
    rle = np.flatnonzero(kind == "rle")
    if len(rle):
        g = _rle_geometry(rles[rle].tolist())
        for k in ("x0", "y0", "x1", "y1", "cx", "cy"):
            geo[k][rle] = g[k]
        geo["mask_area"][rle] = g["area"]
    box = np.flatnonzero(kind == "box")
    if len(box):
        x, y, w, h = stored[box].T
        geo["x0"][box], geo["y0"][box], geo["x1"][box], geo["y1"][box] = x, y, x + w, y + h
        geo["cx"][box], geo["cy"][box] = x + w / 2, y + h / 2
        geo["mask_area"][box] = w * h
    return geo


def _add_image_summaries(images: pd.DataFrame, ann: pd.DataFrame, categories: pd.DataFrame, source: str,
                         problems: list[Problem]) -> None:
    """Per image: annotation count, class bitset, the authors' stratification string and class set.

    Bit i of `class_bits` is the i-th visible class, by name, whatever ids the file uses; the
    stratification string is built from the file's own ids, as the authors built it.
    """
    img_ids = ann["image_id"].to_numpy()
    images["n_annotations"] = np.bincount(img_ids, minlength=len(images)).astype(np.int64)
    code = pd.Categorical(ann["class_name"], categories=list(categories["name"])).codes.astype(np.int64)
    bits = np.zeros(len(images), dtype=np.int64)
    in_bits = code < MAX_CLASS_BITS  # an int64 holds 63 class bits; more would overflow silently
    np.bitwise_or.at(bits, img_ids[in_bits], np.left_shift(np.int64(1), code[in_bits]))
    if len(categories) > MAX_CLASS_BITS:
        problems.append(Problem(source, "categories", f"{len(categories)} classes: the class filters "
                                f"(gallery, folds) tell apart the first {MAX_CLASS_BITS} only; counts per class "
                                "are exact", "warning"))
    images["class_bits"] = bits
    images["strat_label"] = authors_labels(img_ids, ann["category_id"].to_numpy(), len(images))
    images["classes"] = class_sets(bits, list(categories["name"]))


def authors_labels(image_ids: np.ndarray, category_ids: np.ndarray, n_images: int) -> np.ndarray:
    """The authors' label per image (object array of shape (n_images,)): its distinct category ids as text,
    sorted as text, joined.

    Their notebook sorts `str(category_id)`, so ids from 10 up order as text ({3, 10} gives
    "103"); an image without annotations gets "". These strings are what StratifiedKFold
    stratifies on, so they follow the file's own ids.
    """
    pairs = pd.DataFrame({"image": image_ids, "cat": np.asarray(category_ids).astype(str)}).drop_duplicates()
    pairs = pairs.sort_values(["image", "cat"])
    out = np.full(n_images, "", dtype=object)
    if len(pairs):
        images = pairs["image"].to_numpy(np.int64)
        starts = np.flatnonzero(np.r_[True, images[1:] != images[:-1]])
        # np.add on object arrays concatenates the strings, per image, in one C loop.
        out[images[starts]] = np.add.reduceat(pairs["cat"].to_numpy(dtype=object), starts)
    return out


def class_sets(class_bits: np.ndarray, names: list[str]) -> np.ndarray:
    """Per image, the frozenset of class names whose bits are set (bit i: `names[i]`); an object array of shape (n,)."""
    unique, inverse = np.unique(class_bits, return_inverse=True)
    table = [frozenset(name for i, name in enumerate(names) if (int(u) >> i) & 1) for u in unique]
    out = np.empty(len(table), dtype=object)
    out[:] = table
    return out[inverse]
