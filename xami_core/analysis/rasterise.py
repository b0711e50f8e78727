"""Segmentations on a grid: every annotation as vertical runs of grid cells.

The heatmaps (`analysis.heatmaps`) sum these runs into maps. A run is (annotation row,
column, first row, end row) on a `grid` x `grid` raster in normalised detector coordinates
(u = x / width, v = y / height):

- boxes cover the cells their area overlaps (`box_cells`, `box_runs`);
- a centroid covers the one cell that holds it (`centroid_cells`);
- an exact mask is rasterised at the image's own pixel size (polygons by pycocotools'
  `frPyObjects`, one C call per chunk of `MASK_CHUNK` annotations, each part a view into the
  `segmentation` column's flat coordinates: `polygons.polygon_arrays`), its compressed RLE
  string is decoded to foreground pixel runs with numpy (`decode_rle_counts`,
  `rle_pixel_runs`), and each pixel, a unit square, covers the cells it overlaps
  (`pixel_runs_to_grid`). Box-only annotations use their recomputed box.

A mask's cells cannot be derived from a summary (box, area, centroid), so the mask path
needs one rasterisation per annotation; `mask_runs` keeps its result per annotations table
and grid (the app also caches it per dataset: `xami_ui.cache.cached_mask_runs`).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pycocotools import mask as mask_utils

from xami_core.io.tables import rle_to_compressed
from xami_core.model import XamiDataError
from xami_core.polygons import mask_cells, polygon_arrays


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


def _sorted_by_key_and_lo(key: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(key, lo, hi) in (key, lo) order.

    Small non-negative integers (grid runs: keys below 2**63 / span**2) are packed into one int64
    each and sorted by value: a direct sort of one array, far faster than `np.lexsort`'s indirect
    two-key sort, whose random gathers dominated large inputs (1.9 of 3.0 s for 150k images' boxes).
    """
    span = int(hi.max()) + 1 if len(hi) else 1
    if (len(key) and key.min() >= 0 and lo.min() >= 0 and hi.min() >= 0
            and int(key.max()) < np.iinfo(np.int64).max // (span * span)):
        packed = np.sort((key.astype(np.int64) * span + lo) * span + hi)
        rest, hi = np.divmod(packed, span)
        key, lo = np.divmod(rest, span)
        return key, lo, hi
    order = np.lexsort((lo, key))
    return key[order], lo[order], hi[order]


def merge_intervals(key: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Union of half-open intervals [lo, hi) that share a key: disjoint (key, lo, hi) runs, sorted by (key, lo)."""
    if len(key) == 0:
        return key, lo, hi
    key, lo, hi = _sorted_by_key_and_lo(np.asarray(key), np.asarray(lo), np.asarray(hi))
    span = int(hi.max()) + 1
    changes = np.ones(len(key), dtype=bool)
    changes[1:] = key[1:] != key[:-1]
    # Furthest end so far within the key: earlier keys weigh less than rank * span (ranks, not keys: no overflow).
    offset = (np.cumsum(changes) - 1) * span
    reach = np.maximum.accumulate(offset + hi) - offset
    new = changes.copy()
    new[1:] |= lo[1:] > reach[:-1]
    starts = np.flatnonzero(new)
    return key[starts], lo[starts], np.maximum.reduceat(hi, starts)


def _merge_runs(runs: Runs, grid: int) -> Runs:
    """Per annotation and column, the union of its runs (each cell counted once)."""
    key, lo, hi = merge_intervals(runs.ann * grid + runs.col, runs.lo, runs.hi)
    return Runs(key // grid, key % grid, lo, hi)


# --- grid geometry ---------------------------------------------------------------------------

def box_cells(x: np.ndarray, y: np.ndarray, w: np.ndarray, h: np.ndarray, width: np.ndarray, height: np.ndarray,
              grid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cells [c0, c1) x [r0, r1) a box overlaps, clipped to the frame; at least one cell.

    Boxes (x, y, w, h) and frames (width, height) are in px; returns four int64 arrays of
    grid cell indices, each of shape (n_boxes,).
    """
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


# --- compressed RLE strings -> pixel runs, vectorised -------------------------------------------

def decode_rle_counts(strings: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Uncompressed run lengths of COCO compressed RLE strings: (counts, owner string index), int64 arrays of shape (n_runs,).

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
    """Foreground pixel runs of compressed RLEs: (owner, pixel column, first row, end row), int64 arrays of shape (n_runs,)."""
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


# --- pixel runs -> grid runs, masks rasterised per annotation (cached) ---------------------------

def pixel_runs_to_grid(ann: np.ndarray, col: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                       width: np.ndarray, height: np.ndarray, grid: int) -> Runs:
    """Map pixel runs onto grid runs: a pixel is a unit square, covering the cells it overlaps."""
    g0 = (col * grid) // width
    g1 = _ceil_div((col + 1) * grid, width)
    r0 = (lo * grid) // height
    r1 = _ceil_div(hi * grid, height)
    return _merge_runs(box_runs(ann, g0, g1, r0, r1), grid)


MASK_CHUNK = 20_000  # annotations rasterised per pycocotools call


# id(annotations table) -> (weak reference to it, {grid: runs}); entries leave with the table.
_MASK_CACHE: dict[int, tuple[weakref.ref, dict[int, Runs]]] = {}


def image_sizes(images: pd.DataFrame, annotations: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Width and height in px of each annotation's image: two int64 arrays of shape (n_annotations,).

    Raises:
        XamiDataError: an annotation's image_id is not in the images table.
    """
    idx = pd.Index(images["image_id"]).get_indexer(annotations["image_id"])
    if (idx < 0).any():
        bad = annotations["image_id"].to_numpy()[idx < 0][0]
        raise XamiDataError(f"annotations table: image_id {bad} is not in the images table")
    return images["width"].to_numpy(np.int64)[idx], images["height"].to_numpy(np.int64)[idx]


def compute_mask_runs(images: pd.DataFrame, annotations: pd.DataFrame, grid: int) -> Runs:
    """Grid runs of every annotation's exact mask (uncached; see `mask_runs`); box-only annotations give their box.

    Raises:
        XamiDataError: an annotation's image_id is not in the images table.
    """
    width, height = image_sizes(images, annotations)
    kind = annotations["kind"].to_numpy(dtype=object)
    parts: list[Runs] = []
    poly = np.flatnonzero(kind == "polygon")
    for w, h in {(int(a), int(b)) for a, b in zip(width[poly], height[poly], strict=True)}:
        same_size = poly[(width[poly] == w) & (height[poly] == h)]
        # Chunks bound the memory of the pixel runs (their grid runs are far fewer).
        for sel in np.array_split(same_size, -(-len(same_size) // MASK_CHUNK)):
            polygons = polygon_arrays(annotations, sel)
            flat = polygons.part_views()  # 1-d arrays: pycocotools reads them as polygons, like lists
            owner = np.repeat(sel, polygons.n_parts)
            # One pycocotools call rasterises every part; parts of one annotation merge below.
            strings = [r["counts"] for r in mask_utils.frPyObjects(flat, h, w)]
            who, col, lo, hi = rle_pixel_runs(strings, np.full(len(strings), h))
            parts.append(pixel_runs_to_grid(owner[who], col, lo, hi, w, h, grid))
    rle_rows = np.flatnonzero(kind == "rle")
    for rle in np.array_split(rle_rows, -(-len(rle_rows) // MASK_CHUNK)) if len(rle_rows) else []:
        compressed = [rle_to_compressed(cell) for cell in mask_cells(annotations, rle)]
        # An RLE's own size defines its pixels (it should equal the image's).
        sizes = np.array([r["size"] for r in compressed], dtype=np.int64).reshape(-1, 2)
        who, col, lo, hi = rle_pixel_runs([r["counts"] for r in compressed], sizes[:, 0])
        parts.append(pixel_runs_to_grid(rle[who], col, lo, hi, sizes[who, 1], sizes[who, 0], grid))
    box = np.flatnonzero(kind == "box")
    if len(box):
        parts.append(box_method_runs(annotations.iloc[box], width[box], height[box], grid, box))
    return _concat_runs(parts)


def box_method_runs(ann: pd.DataFrame, width: np.ndarray, height: np.ndarray, grid: int,
                    rows: np.ndarray | None = None) -> Runs:
    """Grid runs of the recomputed boxes (`mask_box_x/y/w/h`, px) of `ann`, labelled `rows` (default 0..n-1)."""
    c0, c1, r0, r1 = box_cells(ann["mask_box_x"].to_numpy(float), ann["mask_box_y"].to_numpy(float), ann["mask_box_w"].to_numpy(float),
                               ann["mask_box_h"].to_numpy(float), width, height, grid)
    rows = np.arange(len(ann)) if rows is None else rows
    return box_runs(rows, c0, c1, r0, r1)


def mask_runs(images: pd.DataFrame, annotations: pd.DataFrame, grid: int) -> Runs:
    """Grid runs of the exact masks, computed once per annotations table and grid.

    Raises:
        XamiDataError: an annotation's image_id is not in the images table.
    """
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

