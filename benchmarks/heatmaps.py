"""The heatmaps section: `compute_heatmaps` against a plain numpy loop over annotations.

Both compute, for every split x class, the annotations covering each cell and the images in
which the class covers it (the maps the page normalises), on the sample's tables tiled with
fresh image ids to each size. The baseline is what a competent numpy user writes: cells from
vectorised arithmetic, then `np.add.at` for centroids, a loop of array slices for boxes, and
for masks one pycocotools decode per annotation reduced to the grid with numpy.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from pycocotools import mask as mask_utils

from benchmarks.run import Case, tiling
from xami_core.analysis import heatmaps as hm
from xami_core.io.loader import load_dataset
from xami_core.io.sample import sample_root
from xami_core.model import split_order
from xami_core.polygons import mask_cells

GRID = hm.DEFAULT_GRID
METHODS = ("box", "centroid", "mask")


def tile_tables(images: pd.DataFrame, annotations: pd.DataFrame, times: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Repeat the tables `times` over with fresh image ids (segmentations shared, not copied)."""
    n = len(images)
    img = pd.concat([images] * times, ignore_index=True)
    img["image_id"] = np.arange(len(img), dtype=np.int64)
    ann = pd.concat([annotations] * times, ignore_index=True)
    shift = np.repeat(np.arange(times, dtype=np.int64) * n, len(annotations))
    ann["image_id"] = ann["image_id"].to_numpy() + shift
    return img, ann


def _box_cells(x: np.ndarray, y: np.ndarray, w: np.ndarray, h: np.ndarray, width: np.ndarray, height: np.ndarray,
               grid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cells [c0, c1) x [r0, r1) a box overlaps, clipped to the frame, at least one."""
    c0 = np.minimum(np.floor(np.clip(x, 0, width) * grid / width), grid - 1).astype(np.int64)
    r0 = np.minimum(np.floor(np.clip(y, 0, height) * grid / height), grid - 1).astype(np.int64)
    c1 = np.maximum(np.ceil(np.clip(x + w, 0, width) * grid / width).astype(np.int64), c0 + 1)
    r1 = np.maximum(np.ceil(np.clip(y + h, 0, height) * grid / height).astype(np.int64), r0 + 1)
    return c0, c1, r0, r1


def _mask_cells(rle: dict, height: int, width: int, grid: int) -> np.ndarray:
    """Grid cells (grid, grid) bool that a mask's pixels (unit squares) overlap; frames at least `grid` a side."""
    ys, xs = np.nonzero(mask_utils.decode(rle))
    cells = np.zeros((grid, grid), dtype=bool)
    r0, r1 = ys * grid // height, -(-(ys + 1) * grid // height) - 1
    c0, c1 = xs * grid // width, -(-(xs + 1) * grid // width) - 1
    for r in (r0, r1):  # a pixel overlaps at most two cells a side
        for c in (c0, c1):
            cells[r, c] = True
    return cells


def loop_heatmaps(images: pd.DataFrame, annotations: pd.DataFrame, method: str, classes: tuple[str, ...],
                  grid: int = GRID) -> tuple[np.ndarray, np.ndarray]:
    """The baseline: (counts, images covering) maps, each (splits, classes, grid, grid) int."""
    groups = split_order(pd.unique(images["split"]))
    image_row = pd.Index(images["image_id"]).get_indexer(annotations["image_id"])
    group = pd.Index(groups).get_indexer(images["split"])[image_row]
    cls = pd.Index(classes).get_indexer(annotations["class_name"])
    width = images["width"].to_numpy(np.int64)[image_row]
    height = images["height"].to_numpy(np.int64)[image_row]
    area = annotations["mask_area"].to_numpy(float)
    counts = np.zeros((len(groups), len(classes), grid, grid), dtype=np.int64)
    covering = np.zeros_like(counts)
    if method == "centroid":
        cx, cy = annotations["cx"].to_numpy(float), annotations["cy"].to_numpy(float)
        ok = (group >= 0) & (cls >= 0) & np.isfinite(cx) & np.isfinite(cy)
        col = np.clip(np.floor(np.round(cx[ok] * grid / width[ok], 9)), 0, grid - 1).astype(np.int64)
        row = np.clip(np.floor(np.round(cy[ok] * grid / height[ok], 9)), 0, grid - 1).astype(np.int64)
        np.add.at(counts, (group[ok], cls[ok], row, col), 1)
        once = np.unique(np.stack([image_row[ok], group[ok], cls[ok], row, col]), axis=1)
        np.add.at(covering, tuple(once[1:]), 1)
        return counts, covering
    box = annotations[["mask_box_x", "mask_box_y", "mask_box_w", "mask_box_h"]].to_numpy(float)
    ok = (group >= 0) & (cls >= 0)
    ok &= ~(area <= 0) if method == "mask" else np.isfinite(box).all(axis=1)
    c0, c1, r0, r1 = _box_cells(*box.T, width, height, grid)
    kind = annotations["kind"].to_numpy(dtype=object)
    seg = mask_cells(annotations)  # polygon part lists, RLE dicts, None, as the JSON gives them
    # One image at a time: the classes' cells covered in this image, added once per image.
    order = np.flatnonzero(ok)[np.argsort(image_row[ok], kind="stable")]
    cover = np.zeros((len(classes), grid, grid), dtype=bool)
    touched: set[int] = set()
    current = current_group = -1
    for i in order:
        if image_row[i] != current:
            for c in touched:
                covering[current_group, c] += cover[c]
                cover[c] = False
            touched.clear()
            current, current_group = image_row[i], group[i]
        g, c = group[i], cls[i]
        if method == "box" or kind[i] == "box":
            counts[g, c, r0[i]:r1[i], c0[i]:c1[i]] += 1
            cover[c, r0[i]:r1[i], c0[i]:c1[i]] = True
        else:
            h, w = int(height[i]), int(width[i])
            if kind[i] == "polygon":
                rle = mask_utils.merge(mask_utils.frPyObjects(seg[i], h, w))
            else:
                rle = seg[i] if isinstance(seg[i]["counts"], (bytes, str)) else mask_utils.frPyObjects(seg[i], *seg[i]["size"])
            cells = _mask_cells(rle, h, w, grid)
            counts[g, c] += cells
            cover[c] |= cells
        touched.add(c)
    for c in touched:
        covering[current_group, c] += cover[c]
    return counts, covering


def prepare(arg: dict) -> tuple[pd.DataFrame, pd.DataFrame, str, tuple[str, ...]]:
    """The child's input: the sample's tables tiled `arg["times"]` over, the method and the classes."""
    ds = load_dataset(sample_root(), source="synthetic sample", synthetic=True)
    images, annotations = tile_tables(ds.images, ds.annotations, arg["times"])
    return images, annotations, arg["method"], tuple(ds.class_names)


def ours(prepared: tuple) -> object:
    """`compute_heatmaps` by split, every class, counts and images covering."""
    images, annotations, method, classes = prepared
    return hm.compute_heatmaps(images, annotations, method, GRID, "split", classes)


def baseline(prepared: tuple) -> object:
    """The numpy loop."""
    images, annotations, method, classes = prepared
    return loop_heatmaps(images, annotations, method, classes)


def cases(name: str, sizes: dict[str, int | None], tmp: Path) -> Iterator[Case]:
    """Each method at each size."""
    ds = load_dataset(sample_root(), source="synthetic sample", synthetic=True)
    for label, target in sizes.items():
        times = tiling(target, len(ds.images))
        for method in METHODS:
            yield Case(f"{method} maps, splits x classes", label, times * len(ds.images), times * len(ds.annotations),
                       __name__, "ours", "baseline", {"times": times, "method": method})
