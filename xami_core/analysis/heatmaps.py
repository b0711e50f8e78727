"""Spatial heatmaps: where each artefact class falls on the detector.

Every annotation is mapped onto a fixed `grid` x `grid` raster in normalised detector
coordinates (u = x / width, v = y / height), so frames of any size share one grid. A cell
counts an annotation when the annotation covers part of the cell:

- "mask" (default): the exact COCO mask. Polygons and RLEs are rasterised at the image's
  own pixel size by pycocotools (the same pixels as `mask_area`); each mask pixel is a
  unit square and the cells it overlaps are covered. At grid = image size this is the
  pycocotools mask itself. Box-only annotations (no segmentation) use their box.
- "box": the recomputed box (`mask_box_x/y/w/h`), the authors' method; a box covers the
  cells its area overlaps (at grid = 512 on integer boxes: `heat[y:y+h, x:x+w] += 1`).
- "centroid": one cell per instance, the one holding the mask centroid (`cx`, `cy`);
  centroids just outside the frame (polygons crossing the edge) go to the edge cell.
An empty mask (an all-zero RLE) has no place on any map and is not counted.

Groups: the split, one fold's train and valid parts (`fold_part_groups`), the
observation filter (ordered by wavelength), all images, or any image -> label mapping.

Two quantities are accumulated per (group, class, cell): `counts`, the annotations
covering the cell (overlapping annotations of one image add up, as in the authors'
figure), and `images`, the images in which at least one annotation of the class covers
the cell (the union per image, so `images / n_images` is a true share of images).

Every path is vectorised. Masks and boxes become vertical runs (column, first row, end
row) on the grid; union per image is an interval merge on sorted runs; sums are 1D/2D
difference arrays filled by `np.bincount` and integrated by `cumsum`. The mask path
needs one rasterisation per annotation because a mask's cells cannot be derived from a
summary (box, area, centroid): pycocotools rasterises every polygon part in one C call,
and its compressed RLE strings are decoded to runs here with numpy (in chunks of
`MASK_CHUNK` annotations, which bounds memory on large sets). The runs are cached per
annotations table and grid (`mask_runs`; the app caches them per dataset with
`st_cache.cached_mask_runs`), so regrouping or renormalising is cheap.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from pycocotools import mask as mask_utils

from xami_core.io.tables import rle_to_compressed
from xami_core.model import Dataset, XamiDataError, filter_keys, filter_label, filter_order, split_order
from xami_core.render.figures import plot_text

if TYPE_CHECKING:
    from xami_core.analysis.folds import FoldSet

METHODS: dict[str, str] = {
    "mask": "exact masks",
    "box": "boxes (authors' method)",
    "centroid": "centroids",
}
NORMALISATIONS: dict[str, str] = {
    "count": "annotations covering the cell",
    "share": "share of the group's images with the class covering the cell",
    "max": "fraction of the map's maximum",
}
SCALES: dict[str, str] = {"linear": "linear", "log": "logarithmic"}
GROUPINGS: dict[str, str] = {
    "split": "split",
    "fold": "fold part",
    "filter": "observation filter",
    "all": "all images",
}
GRIDS = (32, 64, 128, 256, 512)
DEFAULT_GRID = 128
FRAME_PX = 512  # XAMI's frames; a HeatmapSet's own `frame` (the data's most common frame) is what figures draw
Frame = int | tuple[int, int]  # a square frame's side, or (width, height), in pixels
REST = "rest"  # the complement of a group in difference maps
# Column order of the authors' figure (artefact_distributions.png): star-loop ... central-ring.
AUTHORS_CLASS_ORDER: tuple[str, ...] = ("star-loop", "smoke-ring", "read-out-streak", "other", "central-ring")

# Colour scales: perceptually uniform by default, the authors' white -> sky blue -> navy on request.
AUTHORS_BLUES = [[0.0, "#ffffff"], [0.5, "#87ceeb"], [1.0, "#000080"]]  # white, skyblue, navy
COLOURSCALES: dict[str, str | list] = {
    "viridis": "Viridis",
    "cividis": "Cividis",
    "authors' blues": AUTHORS_BLUES,
}
DIVERGING = "RdBu_r"  # red: more in the first group, blue: more in the second; white at 0


@dataclass(frozen=True)
class HeatmapSet:
    """Accumulated maps per group and class on one grid.

    counts[g, c, row, col]: annotations of class c in group g covering the cell.
    images[g, c, row, col]: images of group g in which class c covers the cell.
    n_images[g]: images in group g; n_annotations[g, c]: annotations placed on the maps;
    n_class_images[g, c]: images of group g with at least one of them.
    Rows run down the frame (row 0 at y = 0), like the image.
    frame: (width, height) in px of the frame the figures draw the grid on: the mapped
    images' most common frame size; frame_sizes: (width, height, images) of every size
    among them, most common first (more than one: the maps are normalised per frame).
    n_box_stand_ins: for the mask method, annotations placed without a mask (box-only:
    their boxes stand in).
    """

    counts: np.ndarray
    images: np.ndarray
    groups: tuple[str, ...]
    classes: tuple[str, ...]
    n_images: np.ndarray
    n_annotations: np.ndarray
    n_class_images: np.ndarray
    method: str
    grid: int
    frame: tuple[int, int] = (FRAME_PX, FRAME_PX)
    frame_sizes: tuple[tuple[int, int, int], ...] = ()
    n_box_stand_ins: int = 0

    def index(self, group: str, class_name: str) -> tuple[int, int]:
        """Positions of a group and a class in the arrays."""
        return self.groups.index(group), self.classes.index(class_name)


@dataclass(frozen=True)
class Runs:
    """Vertical runs on the grid: annotation row `ann` covers rows lo..hi-1 of column `col`."""

    ann: np.ndarray
    col: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    def __len__(self) -> int:
        return len(self.ann)

    def take(self, keep: np.ndarray) -> Runs:
        """The runs selected by a boolean or index array."""
        return Runs(self.ann[keep], self.col[keep], self.lo[keep], self.hi[keep])


def _empty_runs() -> Runs:
    z = np.zeros(0, dtype=np.int64)
    return Runs(z, z, z, z)


def _concat_runs(parts: Sequence[Runs]) -> Runs:
    parts = [p for p in parts if len(p)]
    if not parts:
        return _empty_runs()
    return Runs(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("ann", "col", "lo", "hi")))


def _ceil_div(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    return -((-a) // b)


def merge_intervals(key: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Union of half-open intervals [lo, hi) that share a key: disjoint (key, lo, hi) runs."""
    if len(key) == 0:
        return key, lo, hi
    order = np.lexsort((lo, key))
    key, lo, hi = key[order], lo[order], hi[order]
    span = int(hi.max()) + 1
    # Furthest end so far within the key: earlier keys weigh less than key * span.
    reach = np.maximum.accumulate(key * span + hi) - key * span
    new = np.ones(len(key), dtype=bool)
    new[1:] = (key[1:] != key[:-1]) | (lo[1:] > reach[:-1])
    starts = np.flatnonzero(new)
    return key[starts], lo[starts], np.maximum.reduceat(hi, starts)


def _merge_runs(runs: Runs, grid: int) -> Runs:
    """Per annotation and column, the union of its runs (each cell counted once)."""
    key, lo, hi = merge_intervals(runs.ann * grid + runs.col, runs.lo, runs.hi)
    return Runs(key // grid, key % grid, lo, hi)


# --- grid geometry ---------------------------------------------------------------------------

def box_cells(x: np.ndarray, y: np.ndarray, w: np.ndarray, h: np.ndarray, width: np.ndarray, height: np.ndarray,
              grid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cells [c0, c1) x [r0, r1) a box overlaps, clipped to the frame; at least one cell."""
    # Multiply before dividing: a box edge on a cell edge then maps to an exact integer.
    x0 = np.clip(x, 0, width) * grid / width
    x1 = np.clip(x + w, 0, width) * grid / width
    y0 = np.clip(y, 0, height) * grid / height
    y1 = np.clip(y + h, 0, height) * grid / height
    c0 = np.minimum(np.floor(x0), grid - 1).astype(np.int64)
    r0 = np.minimum(np.floor(y0), grid - 1).astype(np.int64)
    c1 = np.maximum(np.ceil(x1).astype(np.int64), c0 + 1)
    r1 = np.maximum(np.ceil(y1).astype(np.int64), r0 + 1)
    return c0, c1, r0, r1


def centroid_cells(cx: np.ndarray, cy: np.ndarray, width: np.ndarray, height: np.ndarray,
                   grid: int) -> tuple[np.ndarray, np.ndarray]:
    """(column, row) of the cell holding each centroid, edge cells for points just outside.

    A centroid on a cell edge belongs to the cell after it. Float centroids of polygons with
    integer vertices land a few 1e-13 px short of such edges (a streak from y 127 to 349 has
    its centroid at 238.0 or 237.9999999999998), so positions are rounded to 1e-9 cell first.
    """
    col = np.clip(np.floor(np.round(cx * grid / width, 9)), 0, grid - 1).astype(np.int64)
    row = np.clip(np.floor(np.round(cy * grid / height, 9)), 0, grid - 1).astype(np.int64)
    return col, row


def box_runs(ann: np.ndarray, c0: np.ndarray, c1: np.ndarray, r0: np.ndarray, r1: np.ndarray) -> Runs:
    """One vertical run per box column."""
    n_cols = c1 - c0
    rep = np.repeat(np.arange(len(ann)), n_cols)
    offset = np.arange(len(rep)) - np.repeat(np.cumsum(n_cols) - n_cols, n_cols)
    return Runs(ann[rep], c0[rep] + offset, r0[rep], r1[rep])


# --- compressed RLE strings -> runs, vectorised -------------------------------------------------

def decode_rle_counts(strings: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Uncompressed run lengths of COCO compressed RLE strings: (counts, owner string index).

    The format (pycocotools `rleToString`): 5 data bits per char (char - 48), bit 0x20
    continues a number, bit 0x10 of its last char is the sign; from the 4th count on, a
    count is stored as the difference to the count two places earlier.
    """
    n = len(strings)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    lengths = np.fromiter((len(s) for s in strings), dtype=np.int64, count=n)
    chars = np.frombuffer(b"".join(strings), dtype=np.uint8).astype(np.int64) - 48
    string_of_char = np.repeat(np.arange(n), lengths)
    last = (chars & 0x20) == 0
    ends = np.flatnonzero(last)
    starts = np.concatenate(([0], ends[:-1] + 1))
    number_of_char = np.repeat(np.arange(len(starts)), ends - starts + 1)
    k = np.arange(len(chars)) - starts[number_of_char]
    values = np.add.reduceat((chars & 0x1F) << (5 * k), starts)
    negative = (chars[ends] & 0x10) != 0
    values[negative] -= np.left_shift(1, 5 * (k[ends][negative] + 1))
    owner = string_of_char[starts]
    # Position of each number within its string, then undo the delta coding: counts at
    # odd positions and at even positions >= 2 are two running sums per string.
    per_string = np.bincount(owner, minlength=n)
    first = np.cumsum(per_string) - per_string
    pos = np.arange(len(values)) - first[owner]
    # Two running sums (odd positions; even positions from 2 on), restarted per string.
    odd = pos % 2 == 1
    even = ~odd & (pos > 0)
    counts = values.copy()
    for chain in (odd, even):
        csum = np.cumsum(np.where(chain, values, 0))
        before = csum[first] - np.where(chain[first], values[first], 0)  # sum before each string
        counts[chain] = (csum - before[owner])[chain]
    return counts, owner


def rle_pixel_runs(strings: Sequence[bytes], heights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Foreground pixel runs of compressed RLEs: (owner, pixel column, first row, end row)."""
    counts, owner = decode_rle_counts(strings)
    if len(counts) == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z, z
    per_string = np.bincount(owner, minlength=len(strings))
    first = np.cumsum(per_string) - per_string
    pos = np.arange(len(counts)) - first[owner]
    total = np.cumsum(counts)
    start = total - counts - (total[first] - counts[first])[owner]  # start index within its own mask
    fg = (pos % 2 == 1) & (counts > 0)  # runs alternate 0s and 1s, starting with 0s
    who, f0, f1 = owner[fg], start[fg], start[fg] + counts[fg]
    h = np.asarray(heights, dtype=np.int64)[who]
    # Column-major runs may wrap into the next columns: split them per column.
    col0, col1 = f0 // h, (f1 - 1) // h
    pieces = col1 - col0 + 1
    rep = np.repeat(np.arange(len(who)), pieces)
    j = np.arange(len(rep)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    col = col0[rep] + j
    hr = h[rep]
    lo = np.where(j == 0, f0[rep] - col0[rep] * hr, 0)
    hi = np.where(col == col1[rep], f1[rep] - col1[rep] * hr, hr)
    return who[rep], col, lo, hi


def pixel_runs_to_grid(ann: np.ndarray, col: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                       width: np.ndarray, height: np.ndarray, grid: int) -> Runs:
    """Map pixel runs onto grid runs: a pixel is a unit square, covering the cells it overlaps."""
    g0 = (col * grid) // width
    g1 = _ceil_div((col + 1) * grid, width)
    r0 = (lo * grid) // height
    r1 = _ceil_div(hi * grid, height)
    return _merge_runs(box_runs(ann, g0, g1, r0, r1), grid)


# --- per-annotation runs for each method, mask runs cached ---------------------------------------

MASK_CHUNK = 20_000  # annotations rasterised per pycocotools call
# id(annotations table) -> (weak reference to it, {grid: runs}); entries leave with the table.
_MASK_CACHE: dict[int, tuple[weakref.ref, dict[int, Runs]]] = {}


def _sizes(images: pd.DataFrame, annotations: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Width and height of each annotation's image."""
    idx = pd.Index(images["image_id"]).get_indexer(annotations["image_id"])
    if (idx < 0).any():
        bad = annotations["image_id"].to_numpy()[idx < 0][0]
        raise XamiDataError(f"annotations table: image_id {bad} is not in the images table")
    return images["width"].to_numpy(np.int64)[idx], images["height"].to_numpy(np.int64)[idx]


def compute_mask_runs(images: pd.DataFrame, annotations: pd.DataFrame, grid: int) -> Runs:
    """Grid runs of every annotation's exact mask (uncached; see `mask_runs`)."""
    width, height = _sizes(images, annotations)
    kind = annotations["kind"].to_numpy(dtype=object)
    seg = annotations["segmentation"].to_numpy(dtype=object)
    parts: list[Runs] = []
    poly = np.flatnonzero(kind == "polygon")
    for w, h in {(int(a), int(b)) for a, b in zip(width[poly], height[poly], strict=True)}:
        same_size = poly[(width[poly] == w) & (height[poly] == h)]
        # Chunks bound the memory of the pixel runs (their grid runs are far fewer).
        for sel in np.array_split(same_size, -(-len(same_size) // MASK_CHUNK)):
            flat = [p for i in sel for p in seg[i]]
            owner = np.repeat(sel, [len(seg[i]) for i in sel])
            # One pycocotools call rasterises every part; parts of one annotation merge below.
            strings = [r["counts"] for r in mask_utils.frPyObjects(flat, h, w)]
            who, col, lo, hi = rle_pixel_runs(strings, np.full(len(strings), h))
            parts.append(pixel_runs_to_grid(owner[who], col, lo, hi, w, h, grid))
    rle_rows = np.flatnonzero(kind == "rle")
    for rle in np.array_split(rle_rows, -(-len(rle_rows) // MASK_CHUNK)) if len(rle_rows) else []:
        compressed = [rle_to_compressed(seg[i]) for i in rle]
        # An RLE's own size defines its pixels (it should equal the image's).
        sizes = np.array([r["size"] for r in compressed], dtype=np.int64).reshape(-1, 2)
        who, col, lo, hi = rle_pixel_runs([r["counts"] for r in compressed], sizes[:, 0])
        parts.append(pixel_runs_to_grid(rle[who], col, lo, hi, sizes[who, 1], sizes[who, 0], grid))
    box = np.flatnonzero(kind == "box")
    if len(box):
        parts.append(_box_method_runs(annotations.iloc[box], width[box], height[box], grid, box))
    return _concat_runs(parts)


def _box_method_runs(ann: pd.DataFrame, width: np.ndarray, height: np.ndarray, grid: int,
                     rows: np.ndarray | None = None) -> Runs:
    c0, c1, r0, r1 = box_cells(ann["mask_box_x"].to_numpy(float), ann["mask_box_y"].to_numpy(float), ann["mask_box_w"].to_numpy(float),
                               ann["mask_box_h"].to_numpy(float), width, height, grid)
    rows = np.arange(len(ann)) if rows is None else rows
    return box_runs(rows, c0, c1, r0, r1)


def mask_runs(images: pd.DataFrame, annotations: pd.DataFrame, grid: int) -> Runs:
    """Grid runs of the exact masks, computed once per annotations table and grid."""
    entry = _MASK_CACHE.get(id(annotations))
    if entry is None or entry[0]() is not annotations:
        key = id(annotations)
        entry = (weakref.ref(annotations), {})
        _MASK_CACHE[key] = entry
        weakref.finalize(annotations, _MASK_CACHE.pop, key, None)
    per_table = entry[1]
    if grid not in per_table:
        per_table[grid] = compute_mask_runs(images, annotations, grid)
    return per_table[grid]


def method_runs(images: pd.DataFrame, annotations: pd.DataFrame, method: str, grid: int) -> Runs:
    """Grid runs of every annotation for a method (rows of `annotations` in `ann`)."""
    if method == "mask":
        return mask_runs(images, annotations, grid)
    width, height = _sizes(images, annotations)
    if method == "box":
        return _box_method_runs(annotations, width, height, grid)
    if method == "centroid":
        col, row = centroid_cells(annotations["cx"].to_numpy(float), annotations["cy"].to_numpy(float), width, height, grid)
        return Runs(np.arange(len(annotations)), col, row, row + 1)
    raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")


# --- groups ------------------------------------------------------------------------------------

def group_labels(images: pd.DataFrame, by: str | Mapping[int, str] | pd.Series) -> tuple[pd.Series, tuple[str, ...]]:
    """Group of each image (Series indexed like `images`, None = excluded) and the group order.

    `by`: "all", "split", "filter", or a mapping image_id -> label (e.g. a fold's
    train/valid parts, see `fold_part_groups`); a categorical Series keeps its category
    order, other mappings their first-appearance order. Images the mapping lacks are left out.
    """
    if isinstance(by, str):
        if by == "all":
            return pd.Series("all images", index=images.index, dtype=object), ("all images",)
        if by == "split":
            order = split_order(pd.unique(images["split"]))
            return images["split"].astype(str).astype(object), tuple(order)
        if by == "filter":
            keys = filter_keys(images["filter_letter"])
            order = filter_order(pd.unique(keys))
            names = {f: filter_label(f) for f in order}  # one distinct label per key
            return keys.map(names).astype(object), tuple(names[f] for f in order)
        raise ValueError(f"group by must be 'all', 'split', 'filter' or a mapping, got {by!r}")
    mapping = by if isinstance(by, pd.Series) else pd.Series(dict(by), dtype=object)
    if isinstance(mapping.dtype, pd.CategoricalDtype):
        order = tuple(str(c) for c in mapping.cat.categories)
    else:
        order = tuple(dict.fromkeys(str(v) for v in mapping.dropna()))
    mapped = images["image_id"].map(mapping)
    labels = pd.Series(np.where(mapped.isna(), None, mapped.astype(str)), index=images.index, dtype=object)
    return labels, order


def fold_part_groups(folds: FoldSet, fold: int) -> pd.Series:
    """Image id -> "fold k train" / "fold k valid" for one fold (ordered: train, then valid).

    Images outside the fold set (e.g. test images of the published split) are absent.
    """
    a = folds.assignments
    rows = a[a["fold"] == fold]
    if rows.empty:
        raise ValueError(f"fold {fold} is not in this fold set (folds {folds.folds})")
    name = "published split" if folds.method == "published" else f"fold {fold}"
    parts = [p for p in ("train", "valid") if p in set(rows["part"])]
    labels = pd.Categorical([f"{name} {p}" for p in rows["part"]], categories=[f"{name} {p}" for p in parts])
    return pd.Series(labels, index=rows["image_id"].to_numpy(np.int64), name="group")


# --- accumulation ------------------------------------------------------------------------------

def _runs_to_maps(map_index: np.ndarray, runs: Runs, n_maps: int, grid: int) -> np.ndarray:
    """Sum vertical runs into (n_maps, grid, grid) maps with a 1D difference array per column."""
    size = n_maps * grid * (grid + 1)
    base = (map_index * grid + runs.col) * (grid + 1)
    diff = np.bincount(base + runs.lo, minlength=size) - np.bincount(base + runs.hi, minlength=size)
    maps = np.cumsum(diff.reshape(n_maps, grid, grid + 1), axis=2)[:, :, :grid]
    return np.ascontiguousarray(maps.transpose(0, 2, 1)).astype(np.int32)


def _boxes_to_maps(map_index: np.ndarray, c0: np.ndarray, c1: np.ndarray, r0: np.ndarray, r1: np.ndarray,
                   n_maps: int, grid: int) -> np.ndarray:
    """Sum boxes into maps with a 2D difference array (four corners per box) and prefix sums."""
    g1 = grid + 1
    base = map_index * g1 * g1
    size = n_maps * g1 * g1
    diff = (np.bincount(base + r0 * g1 + c0, minlength=size) - np.bincount(base + r0 * g1 + c1, minlength=size)
            - np.bincount(base + r1 * g1 + c0, minlength=size) + np.bincount(base + r1 * g1 + c1, minlength=size))
    maps = diff.reshape(n_maps, g1, g1).cumsum(axis=1).cumsum(axis=2)[:, :grid, :grid]
    return maps.astype(np.int32)


def _image_union_maps(map_index: np.ndarray, image_index: np.ndarray, runs: Runs, n_maps: int, grid: int) -> np.ndarray:
    """Maps of images covering each cell: runs merged per (image, map, column) first."""
    key = (image_index * n_maps + map_index) * grid + runs.col
    key, lo, hi = merge_intervals(key, runs.lo, runs.hi)
    merged = Runs(key, key % grid, lo, hi)
    return _runs_to_maps((key // grid) % n_maps, merged, n_maps, grid)


def located(annotations: pd.DataFrame, method: str) -> np.ndarray:
    """Annotations with a place on the maps of `method`.

    Masks: a non-empty mask (pixels as pycocotools rasterises them). Boxes and centroids:
    finite geometry, and not an empty RLE (which has neither box nor centroid).
    """
    n = len(annotations)
    area = annotations["mask_area"].to_numpy(float) if "mask_area" in annotations else np.ones(n)
    if method == "mask":
        return ~(area <= 0)  # NaN area (unknown) is kept
    cols = ["mask_box_x", "mask_box_y", "mask_box_w", "mask_box_h"] if method == "box" else ["cx", "cy"]
    ok = np.isfinite(annotations[cols].to_numpy(np.float64)).all(axis=1)
    if "kind" in annotations:
        ok &= ~((annotations["kind"].to_numpy(dtype=object) == "rle") & (area <= 0))
    return ok


def compute_heatmaps(images: pd.DataFrame, annotations: pd.DataFrame, method: str = "mask", grid: int = DEFAULT_GRID,
                     by: str | Mapping[int, str] | pd.Series = "split", classes: Sequence[str] | None = None,
                     with_images: bool = True, runs: Runs | None = None) -> HeatmapSet:
    """Heatmaps per group and class from the images and annotations tables.

    Args:
        images: needs image_id, width, height (and split / filter_letter to group by them).
        annotations: needs image_id, class_name; kind, segmentation for "mask"; mask_box_x/y/w/h
            for "box"; cx, cy for "centroid".
        method: "mask" (exact), "box" (the authors' method) or "centroid".
        grid: cells per side of the normalised detector grid.
        by: "all", "split", "filter", or a mapping image_id -> group label (`fold_part_groups`).
        classes: class order (default: the classes present, sorted).
        with_images: also count images covering each cell (needed for the "share" normalisation).
        runs: precomputed `mask_runs(images, annotations, grid)` (e.g. from a cache); "mask" only.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    if grid < 1:
        raise ValueError(f"grid must be a positive number of cells, got {grid}")
    labels, groups = group_labels(images, by)
    classes = tuple(classes) if classes is not None else tuple(sorted(pd.unique(annotations["class_name"])))
    img_group = pd.Series(pd.Index(groups).get_indexer(labels), index=images["image_id"].to_numpy())
    n_images = np.bincount(img_group[img_group >= 0], minlength=len(groups)).astype(np.int64)

    ann_group = img_group.reindex(annotations["image_id"].to_numpy()).fillna(-1).to_numpy(np.int64)
    ann_class = pd.Index(classes).get_indexer(annotations["class_name"])
    keep = (ann_group >= 0) & (ann_class >= 0) & located(annotations, method)
    n_maps = len(groups) * len(classes)
    ann_map = np.where(keep, ann_group * len(classes) + ann_class, -1)
    n_annotations = np.bincount(ann_map[keep], minlength=n_maps).reshape(len(groups), len(classes))
    image_pos = pd.Index(images["image_id"]).get_indexer(annotations["image_id"]).astype(np.int64)
    pairs = np.unique(image_pos[keep] * n_maps + ann_map[keep])
    n_class_images = np.bincount(pairs % n_maps, minlength=n_maps).reshape(len(groups), len(classes))
    shape = (len(groups), len(classes), grid, grid)

    if method == "box":
        # Counts straight from the boxes' corners; the image union needs runs.
        sub = annotations[keep]
        width, height = _sizes(images, sub)
        c0, c1, r0, r1 = box_cells(sub["mask_box_x"].to_numpy(float), sub["mask_box_y"].to_numpy(float), sub["mask_box_w"].to_numpy(float),
                                   sub["mask_box_h"].to_numpy(float), width, height, grid)
        counts = _boxes_to_maps(ann_map[keep], c0, c1, r0, r1, n_maps, grid)
        runs = box_runs(np.flatnonzero(keep), c0, c1, r0, r1) if with_images else None
    else:
        if method == "centroid":
            sub = annotations[keep]
            width, height = _sizes(images, sub)
            col, row = centroid_cells(sub["cx"].to_numpy(float), sub["cy"].to_numpy(float), width, height, grid)
            runs = Runs(np.flatnonzero(keep), col, row, row + 1)
        else:  # mask runs: given by the caller (cached per dataset and grid) or cached here
            runs = runs if runs is not None else mask_runs(images, annotations, grid)
            runs = runs.take(keep[runs.ann])
        counts = _runs_to_maps(ann_map[runs.ann], runs, n_maps, grid)
    if with_images:
        covering = _image_union_maps(ann_map[runs.ann], image_pos[runs.ann], runs, n_maps, grid)
    else:
        covering = np.zeros((n_maps, grid, grid), dtype=np.int32)
    sizes = frame_sizes(images[(img_group >= 0).to_numpy()])
    stand_ins = int((keep & (annotations["kind"].to_numpy(dtype=object) == "box")).sum()) \
        if method == "mask" and "kind" in annotations else 0
    return HeatmapSet(counts=counts.reshape(shape), images=covering.reshape(shape), groups=groups, classes=classes,
                      n_images=n_images, n_annotations=n_annotations, n_class_images=n_class_images,
                      method=method, grid=grid, frame=sizes[0][:2] if sizes else (FRAME_PX, FRAME_PX),
                      frame_sizes=sizes, n_box_stand_ins=stand_ins)


def frame_sizes(images: pd.DataFrame) -> tuple[tuple[int, int, int], ...]:
    """(width, height, images) of every frame size in an images table, most common first (ties: larger first).

    Sizes that are not positive (a frame whose size is unknown) are left out.
    """
    w, h = images["width"].to_numpy(np.int64), images["height"].to_numpy(np.int64)
    ok = (w > 0) & (h > 0)
    if not ok.any():
        return ()
    pairs, counts = np.unique(np.stack([w[ok], h[ok]], axis=1), axis=0, return_counts=True)
    order = sorted(range(len(counts)), key=lambda i: (-counts[i], -int(pairs[i, 0]) * int(pairs[i, 1])))
    return tuple((int(pairs[i, 0]), int(pairs[i, 1]), int(counts[i])) for i in order)


def _frame(hs: HeatmapSet, frame_px: Frame | None) -> tuple[int, int]:
    """(width, height) the figures draw: `frame_px` when given, else the data's own frame."""
    if frame_px is None:
        return hs.frame
    return (int(frame_px), int(frame_px)) if isinstance(frame_px, (int, np.integer)) else (int(frame_px[0]), int(frame_px[1]))


def cell_text(hs: HeatmapSet, frame_px: Frame | None = None) -> str:
    """A cell's size in pixels of the drawn frame: "4 px", or "5 × 3.75 px" for a frame that is not square."""
    w, h = _frame(hs, frame_px)
    cw, ch = w / hs.grid, h / hs.grid
    return f"{cw:g} px" if cw == ch else f"{cw:g} × {ch:g} px"


def method_label(hs: HeatmapSet) -> str:
    """The method as the maps were really made: "exact masks", or that boxes stood in for some or all masks."""
    total = int(hs.n_annotations.sum())
    if hs.method != "mask" or hs.n_box_stand_ins == 0:
        return METHODS[hs.method]
    if hs.n_box_stand_ins == total:
        return "boxes (no annotation has a mask)"
    return f"exact masks (boxes for {hs.n_box_stand_ins:,} of {total:,} annotations)"


def frame_note(hs: HeatmapSet) -> str:
    """What the maps' axes are, from the data: the frame size (or sizes, and what they are normalised to) and the cells."""
    w, h = hs.frame
    cells = f"{hs.grid} × {hs.grid} cells of {cell_text(hs)}"
    if len(hs.frame_sizes) <= 1:
        return f"Each map is in pixels of a {w} × {h} frame, y down as in the image; {cells}."
    shown = ", ".join(f"{a} × {b} px ({n:,} image{'' if n == 1 else 's'})" for a, b, n in hs.frame_sizes[:4])
    more = f" and {len(hs.frame_sizes) - 4} more sizes" if len(hs.frame_sizes) > 4 else ""
    return (f"Frames differ in size: {shown}{more}. Each annotation is placed relative to its own frame "
            f"(x / width, y / height), so every frame is stretched onto one grid; the axes show that grid in pixels "
            f"of the most common frame, {w} × {h}, y down as in the image; {cells} there.")


def stand_in_note(hs: HeatmapSet) -> str | None:
    """For the mask method: how many annotations have no mask and had their boxes stand in (None: all had masks)."""
    if hs.method != "mask" or hs.n_box_stand_ins == 0:
        return None
    total = int(hs.n_annotations.sum())
    n = hs.n_box_stand_ins
    note = (f"{n:,} of {total:,} annotations {'has' if n == 1 else 'have'} no mask: "
            f"{'its box stands' if n == 1 else 'their boxes stand'} in.")
    if hs.n_box_stand_ins == total:
        note += " With no mask at all, these maps are the box method's."
    return note


def dataset_heatmaps(ds: Dataset, method: str = "mask", grid: int = DEFAULT_GRID,
                     by: str | Mapping[int, str] | pd.Series = "split", folds: FoldSet | None = None, fold: int = 0,
                     runs: Runs | None = None) -> HeatmapSet:
    """Heatmaps of a `Dataset`, classes in the dataset's order; `by="fold"` groups one fold's parts of `folds`."""
    if isinstance(by, str) and by == "fold":
        if folds is None:
            raise ValueError("grouping by fold part needs a fold set (folds=...)")
        by = fold_part_groups(folds, fold)
    return compute_heatmaps(ds.images, ds.annotations, method=method, grid=grid, by=by, classes=ds.class_names, runs=runs)


# --- normalisation and differences -------------------------------------------------------------

def _normalise(counts: np.ndarray, images: np.ndarray, n_images: np.ndarray, how: str) -> np.ndarray:
    """Normalise maps with leading (group, class) axes; n_images per group."""
    if how == "count":
        return counts.astype(np.float64)
    if how == "share":
        n = n_images.astype(np.float64).reshape(-1, *([1] * (images.ndim - 1)))
        return np.divide(images, n, out=np.zeros(images.shape), where=n > 0)
    if how == "max":
        peak = counts.max(axis=(-2, -1), keepdims=True).astype(np.float64)
        return np.divide(counts, peak, out=np.zeros(counts.shape), where=peak > 0)
    raise ValueError(f"normalisation must be one of {list(NORMALISATIONS)}, got {how!r}")


def normalised(hs: HeatmapSet, how: str = "share") -> np.ndarray:
    """Maps (group, class, row, col) as counts, shares of the group's images, or fractions of each map's maximum."""
    return _normalise(hs.counts, hs.images, hs.n_images, how)


def difference(hs: HeatmapSet, group: str, other: str = REST, how: str = "share") -> np.ndarray:
    """Per class, normalised map of `group` minus that of `other` (a group, or REST: all other images)."""
    g = hs.groups.index(group)
    a = _normalise(hs.counts[g:g + 1], hs.images[g:g + 1], hs.n_images[g:g + 1], how)[0]
    if other == REST:
        counts_b = hs.counts.sum(axis=0) - hs.counts[g]
        images_b = hs.images.sum(axis=0) - hs.images[g]
        n_b = hs.n_images.sum() - hs.n_images[g]
        b = _normalise(counts_b[None], images_b[None], np.array([n_b]), how)[0]
    else:
        o = hs.groups.index(other)
        b = _normalise(hs.counts[o:o + 1], hs.images[o:o + 1], hs.n_images[o:o + 1], how)[0]
    return a - b


# --- figures -----------------------------------------------------------------------------------

VALUE_LABELS: dict[str, str] = {"count": "annotations per cell", "share": "share of images", "max": "fraction of map maximum"}
FRAME_LINE = "#9a9a9a"


def display_classes(classes: Sequence[str]) -> list[str]:
    """Classes in the authors' figure order (star-loop ... central-ring), any others after them."""
    known = [c for c in AUTHORS_CLASS_ORDER if c in classes]
    return known + [c for c in classes if c not in known]


def _value_label(how: str, diff: bool = False) -> str:
    label = VALUE_LABELS[how]
    return f"Δ {label}" if diff else label


def _format_value(v: float, how: str) -> str:
    if how == "share":
        return f"{100 * v:.3g}%"
    return f"{v:.3g}" if how == "max" else f"{v:,.0f}"


def _scaled(values: np.ndarray, scale: str) -> np.ndarray:
    """Values to plot (float32 keeps the figure small): zero cells blank (NaN), log10 on a log scale."""
    out = np.where(values > 0, values, np.nan)
    return (np.log10(out) if scale == "log" else out).astype(np.float32)


def _colourbar(vmax: float, vmin_pos: float, scale: str, how: str, title: str, **extra) -> dict:
    """A colour bar whose tick labels show data values (also on a log scale)."""
    bar: dict = {"title": {"text": title, "side": "right"}, "outlinewidth": 0, **extra}
    if scale == "log" and vmax > 0:
        lo, hi = np.floor(np.log10(vmin_pos)), np.ceil(np.log10(vmax))
        ticks = [v for e in np.arange(lo, hi + 1) for v in (10 ** e, 2 * 10 ** e, 5 * 10 ** e) if vmin_pos <= v <= vmax]
        ticks = ticks or [vmax]
        bar.update(tickvals=[float(t) for t in np.log10(ticks)], ticktext=[_format_value(t, how) for t in ticks])
    else:
        bar.update(tickformat={"share": ".0%", "max": ".1f", "count": ",d"}[how])
    return bar


def _range(values: np.ndarray, scale: str) -> tuple[float, float]:
    pos = values[values > 0]
    if pos.size == 0:
        return (0.0, 1.0)
    if scale == "log":
        lo, hi = float(np.log10(pos.min())), float(np.log10(pos.max()))
        return (lo, hi if hi > lo else lo + 1)
    return (0.0, float(pos.max()))


def _extremes(values: np.ndarray) -> tuple[float, float]:
    pos = values[values > 0]
    return (float(pos.max()), float(pos.min())) if pos.size else (1.0, 1.0)


def _quarter_ticks(side: int) -> list[int] | None:
    return [i * side // 4 for i in range(5)] if side % 4 == 0 else None


def _frame_axis_props(frame: tuple[int, int], titles: bool = True, ticks: bool = True) -> tuple[dict, dict]:
    """x and y axis settings for pixel axes 0..width and 0..height, y down like the image."""
    width, height = frame
    xa = {"range": [0, width], "constrain": "domain", "showgrid": False, "zeroline": False, "mirror": True,
          "showline": True, "linecolor": FRAME_LINE, "linewidth": 1, "ticks": "outside" if ticks else "",
          "tickvals": _quarter_ticks(width), "showticklabels": ticks, "tickfont": {"size": 11}}
    ya = dict(xa, range=[height, 0], tickvals=_quarter_ticks(height))
    if titles:
        xa["title"] = {"text": "x (px)"}
        ya["title"] = {"text": "y (px)"}
    return xa, ya


def _frame_axes(fig: go.Figure, frame: tuple[int, int], row: int | None = None, col: int | None = None,
                titles: bool = True, ticks: bool = True) -> None:
    """Pixel axes of the frame (width, height), y down like the image."""
    xa, ya = _frame_axis_props(frame, titles, ticks)
    fig.update_xaxes(**xa, row=row, col=col)
    fig.update_yaxes(**ya, row=row, col=col)


def _heatmap_trace(z: np.ndarray, frame: tuple[int, int], **kwargs) -> go.Heatmap:
    cw, ch = frame[0] / z.shape[1], frame[1] / z.shape[0]
    return go.Heatmap(z=z, x0=cw / 2, dx=cw, y0=ch / 2, dy=ch, hoverongaps=False, **kwargs)


def colourscale(name: str) -> str | list:
    """A named colour scale ("viridis", "cividis", "authors' blues")."""
    return COLOURSCALES[name]


def _square(fig: go.Figure, height: int, title: str) -> None:
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    fig.update_layout(title={"text": title, "font": {"size": 15}, "x": 0.01, "xanchor": "left"}, height=height,
                      margin={"l": 60, "r": 20, "t": 60, "b": 50}, plot_bgcolor="white", paper_bgcolor="white")


def heatmap_figure(hs: HeatmapSet, group: str, class_name: str, how: str = "share", scale: str = "linear",
                   colours: str = "viridis", frame_px: Frame | None = None, height: int = 640) -> go.Figure:
    """One large map with hover: the cell's pixels, annotations covering it, images covering it and their share.

    `frame_px`: the frame drawn (a side or (width, height)); by default the data's own (`hs.frame`).
    """
    frame = _frame(hs, frame_px)
    g, c = hs.index(group, class_name)
    values = normalised(hs, how)[g, c]
    n = int(hs.n_images[g])
    share = hs.images[g, c] / n if n else np.zeros(values.shape)
    custom = np.stack([hs.counts[g, c], hs.images[g, c], share], axis=-1).astype(np.float32)
    zmin, zmax = _range(values, scale)
    vmax, vmin = _extremes(values)
    fig = go.Figure(_heatmap_trace(
        _scaled(values, scale), frame, customdata=custom, colorscale=colourscale(colours), zmin=zmin, zmax=zmax,
        colorbar=_colourbar(vmax, vmin, scale, how, _value_label(how)),
        hovertemplate=(f"pixel x %{{x:.0f}}, y %{{y:.0f}} (cell of {cell_text(hs, frame)})<br>"
                       "annotations covering: %{customdata[0]:,.0f}<br>"
                       f"images covered: %{{customdata[1]:,.0f}} of {n:,} (%{{customdata[2]:.1%}})<extra></extra>")))
    _frame_axes(fig, frame)
    scale_note = ", log scale" if scale == "log" else ""
    _square(fig, height, f"{plot_text(class_name)} · {plot_text(group)}: {VALUE_LABELS[how]}{scale_note}<br>"
                         f"<sup>{method_label(hs)}, {hs.grid} × {hs.grid} cells, "
                         f"{int(hs.n_annotations[g, c]):,} annotations in {n:,} images</sup>")
    return fig


def difference_figure(hs: HeatmapSet, class_name: str, group: str, other: str = REST, how: str = "share",
                      frame_px: Frame | None = None, height: int = 640) -> go.Figure:
    """Difference of normalised maps (group minus other) on a diverging scale centred on zero (frame: `heatmap_figure`)."""
    frame = _frame(hs, frame_px)
    c = hs.classes.index(class_name)
    values = difference(hs, group, other, how)[c]
    bound = float(np.abs(values).max()) or 1.0
    other_label = "all other images" if other == REST else plot_text(other)
    group_label = plot_text(group)  # names from the data, shown in plotly text below
    fig = go.Figure(_heatmap_trace(
        values.astype(np.float32), frame, colorscale=DIVERGING, zmid=0, zmin=-bound, zmax=bound,
        colorbar=_colourbar(bound, bound, "linear", how, f"{_value_label(how, diff=True)} ({group_label} − {other_label})"),
        hovertemplate=(f"pixel x %{{x:.0f}}, y %{{y:.0f}}<br>{group_label} − {other_label}: "
                       f"%{{z:{'.2%' if how == 'share' else '.3g'}}}<extra></extra>")))
    _frame_axes(fig, frame)
    _square(fig, height, f"{plot_text(class_name)}: {group_label} minus {other_label}<br>"
                         f"<sup>{VALUE_LABELS[how]}, {method_label(hs)}; red: more in {group_label}, "
                         f"blue: more in {other_label}</sup>")
    return fig


def small_multiples_figure(hs: HeatmapSet, how: str = "share", scale: str = "linear", colours: str = "viridis",
                           groups: Sequence[str] | None = None, classes: Sequence[str] | None = None,
                           frame_px: Frame | None = None, panel_px: int = 230) -> go.Figure:
    """Rows = groups, columns = classes (the authors' layout); one colour scale per class column (frame: `heatmap_figure`)."""
    frame = _frame(hs, frame_px)
    groups = list(groups or hs.groups)
    classes = list(classes or display_classes(hs.classes))
    values = normalised(hs, how)
    rows, cols = len(groups), len(classes)
    gap = 0.05 / max(rows, 1) + 0.25 / max(rows, 1) * 60 / panel_px
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.025, vertical_spacing=min(gap, 0.3 / max(rows - 1, 1)),
                        subplot_titles=[f"{plot_text(g)} · {plot_text(c)}" for g in groups for c in classes])
    for j, cls in enumerate(classes):
        c = hs.classes.index(cls)
        column = values[[hs.groups.index(g) for g in groups], c]
        zmin, zmax = _range(column, scale)
        vmax, vmin = _extremes(column)
        axis = "coloraxis" if j == 0 else f"coloraxis{j + 1}"
        # A horizontal colour bar under each class column: classes differ by orders of magnitude.
        fig.update_layout({axis: {
            "colorscale": colourscale(colours), "cmin": zmin, "cmax": zmax,
            "colorbar": _colourbar(vmax, vmin, scale, how, "", orientation="h", x=(j + 0.5) / cols, xanchor="center",
                                   len=0.85 / cols, y=0, yref="container", yanchor="bottom", ypad=18, thickness=10,
                                   tickfont={"size": 10}, nticks=4)}})
        for i, grp in enumerate(groups):
            g = hs.groups.index(grp)
            # On a log scale z holds log10 values, so hover reads the value from customdata.
            value = "customdata" if scale == "log" else "z"
            fig.add_trace(_heatmap_trace(_scaled(values[g, c], scale), frame, coloraxis=axis,
                                         customdata=values[g, c].astype(np.float32) if scale == "log" else None,
                                         hovertemplate=f"{plot_text(grp)} · {plot_text(cls)}<br>pixel x %{{x:.0f}}, y %{{y:.0f}}<br>"
                                                       f"{_value_label(how)}: %{{{value}:{'.1%' if how == 'share' else '.3g'}}}"
                                                       "<extra></extra>"),
                          row=i + 1, col=j + 1)
    # All panels' axes in one layout update: per-panel update calls grow with the square of the panels.
    xa, ya = _frame_axis_props(frame, titles=False, ticks=True)
    axes = {}
    for i in range(rows):
        for j in range(cols):
            n = i * cols + j + 1
            suffix = "" if n == 1 else str(n)
            # Tick labels on the outer panels only, as in a printed figure.
            axes[f"xaxis{suffix}"] = dict(xa, showticklabels=i == rows - 1)
            axes[f"yaxis{suffix}"] = dict(ya, showticklabels=j == 0, scaleanchor=f"x{suffix}", scaleratio=1)
    fig.update_layout(axes)
    fig.update_annotations(font={"size": 12})
    scale_note = ", log scale" if scale == "log" else ""
    fig.update_layout(title={"text": f"Colour: {VALUE_LABELS[how]}{scale_note} · {method_label(hs)} · "
                                     f"axes in px, y down", "font": {"size": 13}, "x": 0.0, "xanchor": "left",
                             "y": 1.0, "yanchor": "top", "yref": "container", "pad": {"t": 6}},
                      height=rows * panel_px + 140, margin={"l": 40, "r": 10, "t": 60, "b": 70},
                      plot_bgcolor="white", paper_bgcolor="white", showlegend=False)
    return fig


def map_peak(hs: HeatmapSet, group: str, class_name: str, frame_px: Frame | None = None) -> dict | None:
    """The cell covered by the most images of a map, in pixels of the frame (default `hs.frame`); None for an empty map.

    On a plateau of equal cells (a filled ring is one) the cell nearest the plateau's
    mean position is reported, the first in reading order among equals.
    """
    g, c = hs.index(group, class_name)
    covering = hs.images[g, c]
    if covering.max() <= 0:
        return None
    rows, cols = np.nonzero(covering == covering.max())
    nearest = int(np.argmin((rows - rows.mean()) ** 2 + (cols - cols.mean()) ** 2))
    row, col = int(rows[nearest]), int(cols[nearest])
    width, height = _frame(hs, frame_px)
    n = int(hs.n_images[g])
    return {"x": (col + 0.5) * width / hs.grid, "y": (row + 0.5) * height / hs.grid, "row": int(row), "col": int(col),
            "images": int(covering[row, col]), "n_images": n, "share": covering[row, col] / n,
            "annotations": int(hs.counts[g, c, row, col])}


def difference_extremes(hs: HeatmapSet, class_name: str, group: str, other: str = REST, how: str = "share",
                        frame_px: Frame | None = None) -> dict[str, dict]:
    """Cells of the largest positive ("most") and negative ("least") difference, with their values (px: `map_peak`)."""
    values = difference(hs, group, other, how)[hs.classes.index(class_name)]
    width, height = _frame(hs, frame_px)
    out = {}
    for name, index in (("most", np.argmax(values)), ("least", np.argmin(values))):
        row, col = np.unravel_index(int(index), values.shape)
        out[name] = {"x": (col + 0.5) * width / hs.grid, "y": (row + 0.5) * height / hs.grid, "value": float(values[row, col])}
    return out


def heatmap_summary(hs: HeatmapSet) -> pd.DataFrame:
    """Per group and class: images in the group, annotations placed, images with the class, peak count and share."""
    g, c = np.meshgrid(np.arange(len(hs.groups)), np.arange(len(hs.classes)), indexing="ij")
    n = hs.n_images[g.ravel()]
    peak_images = hs.images.max(axis=(-2, -1)).ravel()
    return pd.DataFrame({
        "group": [hs.groups[i] for i in g.ravel()],
        "class": [hs.classes[i] for i in c.ravel()],
        "images": n.astype(np.int64),
        "annotations": hs.n_annotations.ravel().astype(np.int64),
        "images with class": hs.n_class_images.ravel().astype(np.int64),
        "peak annotations per cell": hs.counts.max(axis=(-2, -1)).ravel().astype(np.int64),
        "peak share of images": np.divide(peak_images, n, out=np.zeros(g.size), where=n > 0),
    })


def summary_table(hs: HeatmapSet) -> pd.DataFrame:
    """One row per class (display order), per group: annotations and images with the class."""
    long = heatmap_summary(hs)
    wide = long.pivot(index="class", columns="group", values=["annotations", "images with class"])
    columns = {(what, grp): f"{grp}: {what}" for grp in hs.groups for what in ("annotations", "images with class")}
    out = pd.DataFrame({name: wide[key] for key, name in columns.items()})
    return out.reindex(display_classes(hs.classes)).rename_axis("class")
