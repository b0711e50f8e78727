"""The loading section: a cold `load_dataset` against `json.load` + `pycocotools.COCO` + pandas.

Input: the sample's train split tiled with fresh ids to each size, every image a frame file of
its own name (hard links to one sample frame). The baseline builds the same tables the way a competent
user would: `COCO(path)` (json.load and its index), one pass over the annotations with
pycocotools for the mask area and numpy on each polygon part for box, shoelace area and
centroid, then pandas `groupby` for the per-image counts.

The disk-cache row loads each size once to fill the index cache (not measured), then measures a
load that opens the entry, against `pickle.load` of the same `Dataset` (what a user would keep).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from benchmarks.run import Case, tiling
from xami_core.io import index_cache
from xami_core.io.loader import COCO_FILE, load_dataset
from xami_core.io.sample import sample_root

GEOMETRY = ("mask_area", "mask_box_x", "mask_box_y", "mask_box_w", "mask_box_h", "polygon_area", "cx", "cy")


def train_json() -> Path:
    """The sample's train annotation file, the unit every size is tiled from."""
    return sample_root() / "train" / COCO_FILE


def copy_name(file_name: str, t: int) -> str:
    """The file name of copy `t` of a frame: the original for copy 0, else a suffix before the extension."""
    if t == 0:
        return file_name
    stem, dot, ext = file_name.rpartition(".")
    return f"{stem}_{t}.{ext}" if dot else f"{file_name}_{t}"


def tiled_coco(src: Path, dst: Path, times: int) -> Path:
    """Write a COCO file repeating the records of `src` `times` over, with fresh ids and file names (no image files)."""
    data = json.loads(src.read_text())
    n_img = max(im["id"] for im in data["images"]) + 1
    n_ann = max(a["id"] for a in data["annotations"]) + 1
    images, anns = [], []
    for t in range(times):
        images += [im | {"id": im["id"] + t * n_img, "file_name": copy_name(im["file_name"], t)} for im in data["images"]]
        anns += [a | {"id": a["id"] + t * n_ann, "image_id": a["image_id"] + t * n_img} for a in data["annotations"]]
    dst.mkdir(parents=True, exist_ok=True)
    (dst / COCO_FILE).write_text(json.dumps(data | {"images": images, "annotations": anns}))
    return dst


def with_frames(folder: Path, src: Path, times: int) -> Path:
    """Give every image of `tiled_coco(src, folder, times)` a frame file: a hard link to its original's frame."""
    originals = [im["file_name"] for im in json.loads(src.read_text())["images"]]
    for name in originals:
        frame = src.parent / name
        for t in range(times):
            target = folder / copy_name(name, t)
            if not target.exists():
                os.link(frame, target)
    return folder


def polygon_geometry(parts: list[list[float]]) -> tuple[float, float, float, float, float, float, float]:
    """Box (x, y, w, h), shoelace area and centroid (cx, cy) of one annotation's polygon parts, numpy per part.

    Parts add up weighted by their absolute area; a polygon of (near) zero area has the mean
    of its vertices as centroid.
    """
    pts = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in parts]
    every = np.concatenate(pts)
    (x0, y0), (x1, y1) = every.min(axis=0), every.max(axis=0)
    area = cx_num = cy_num = 0.0
    for p in pts:
        x, y = p[:, 0] - p[0, 0], p[:, 1] - p[0, 1]  # relative to the first vertex: no cancellation
        xn, yn = np.roll(x, -1), np.roll(y, -1)
        cross = x * yn - xn * y
        a = cross.sum() / 2
        sign = np.sign(a)
        area += abs(a)
        cx_num += sign * (((x + xn) * cross).sum() / 6 + p[0, 0] * a)
        cy_num += sign * (((y + yn) * cross).sum() / 6 + p[0, 1] * a)
    if area <= 1e-9:
        cx, cy = every.mean(axis=0)
    else:
        cx, cy = cx_num / area, cy_num / area
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0), float(area), float(cx), float(cy)


def coco_tables(json_path: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The baseline: images, annotations and per-image class counts from `pycocotools.COCO` and pandas.

    Annotation columns: id, image_id, category_id and `GEOMETRY` (mask area from pycocotools,
    the rest from the vertices; box-only annotations: their stored box); images gain
    n_annotations; the class table is annotations per image (rows) and category id (columns).
    """
    with contextlib.redirect_stdout(io.StringIO()):  # COCO() prints its progress
        coco = COCO(str(json_path))
    anns = coco.dataset["annotations"]
    geo = np.zeros((len(anns), len(GEOMETRY)))
    for i, a in enumerate(anns):
        seg = a.get("segmentation")
        if isinstance(seg, list) and seg:
            x, y, w, h, poly_area, cx, cy = polygon_geometry(seg)
            geo[i] = (float(mask_utils.area(coco.annToRLE(a))), x, y, w, h, poly_area, cx, cy)
        elif isinstance(seg, dict):
            rle = coco.annToRLE(a)
            ys, xs = np.nonzero(mask_utils.decode(rle))
            x, y, w, h = mask_utils.toBbox(rle)
            geo[i] = (float(mask_utils.area(rle)), x, y, w, h, np.nan, xs.mean() + 0.5, ys.mean() + 0.5)
        else:  # box only: the stored box stands in
            x, y, w, h = a["bbox"]
            geo[i] = (w * h, x, y, w, h, np.nan, x + w / 2, y + h / 2)
    table = pd.DataFrame({"id": [a["id"] for a in anns], "image_id": [a["image_id"] for a in anns],
                          "category_id": [a["category_id"] for a in anns]})
    table[list(GEOMETRY)] = geo
    images = pd.DataFrame(coco.dataset["images"])
    images["n_annotations"] = images["id"].map(table.groupby("image_id").size()).fillna(0).astype(np.int64)
    per_class = table.groupby(["image_id", "category_id"]).size().unstack(fill_value=0)
    return images, table, per_class


def prepare(arg: dict) -> Path:
    """The child's input: the tiled folder; for the disk-cache row, its cache entry and pickle made first."""
    folder = Path(arg["folder"])
    if "cache" not in arg:
        os.environ[index_cache.INDEX_CACHE_ENV] = "0"  # a cold load parses, whatever an earlier run left
        return folder
    os.environ["XAMI_CACHE"] = arg["cache"]
    index_cache.MIN_ANNOTATIONS = 0  # every size measured, those below the size the loader writes from too
    ds = load_dataset(folder)  # written to the cache on the first run, read on the next ones
    if not pickled(folder).exists():
        pickled(folder).write_bytes(pickle.dumps(ds, protocol=pickle.HIGHEST_PROTOCOL))
    return folder


def pickled(folder: Path) -> Path:
    """Where the disk-cache row keeps the pickle of the loaded dataset."""
    return folder.parent / "dataset.pickle"


def ours(folder: Path) -> object:
    """XAMI Explorer's cold load."""
    return load_dataset(folder)


def baseline(folder: Path) -> object:
    """`json.load` + `pycocotools.COCO` + pandas."""
    return coco_tables(folder / COCO_FILE)


def from_pickle(folder: Path) -> object:
    """`pickle.load` of the loaded dataset."""
    with pickled(folder).open("rb") as fh:
        return pickle.load(fh)  # noqa: S301 - our own file, written by `prepare`


def cases(name: str, sizes: dict[str, int | None], tmp: Path) -> Iterator[Case]:
    """One cold load per size, its input written just before it is measured, then a load from the disk cache."""
    src = train_json()
    base = json.loads(src.read_text())
    for label, target in sizes.items():
        times = tiling(target, len(base["images"]))
        folder = with_frames(tiled_coco(src, tmp / f"x{times}" / "train", times), src, times)
        n_images, n_annotations = times * len(base["images"]), times * len(base["annotations"])
        yield Case("cold load", label, n_images, n_annotations, __name__, "ours", "baseline", {"folder": str(folder)})
        yield Case("from the disk cache", label, n_images, n_annotations, __name__, "ours", "from_pickle",
                   {"folder": str(folder), "cache": str(tmp / f"x{times}" / "cache")})
