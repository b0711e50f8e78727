"""Polygon masks held column-wise: the `segmentation` column of `Dataset.annotations`, and reading rows back.

Layout: `annotations["segmentation"]` has dtype `POLYGON_DTYPE`, `pd.ArrowDtype(list<list<float64>>)`.
Per annotation row it holds the polygon parts, each part the flat x1, y1, x2, y2, ... coordinates
in px; it is null for an RLE or box-only annotation. In memory that is one Arrow float64 buffer
with every coordinate of the set, an offset per part and one per row (and a validity bitmap):
about 8 bytes a coordinate, where a Python list of floats costs about 32. RLE dicts (COCO iscrowd
masks, users' own sets: rare) sit in the `rle` column (object: the dict as written, None elsewhere).

Why an Arrow list column rather than numpy offset arrays held beside the tables on the `Dataset`:
- the coordinates stay a column of the annotations table, so every row selection the pages and
  analyses make (`ann[ann.image_id == i]`, `iloc`, `take`, `concat`, `reset_index`) carries its
  polygons along; offsets held apart would need every consumer to re-index them;
- Parquet writes and reads the column as it is: the index cache stores it and reads it back
  without one Python object per coordinate or part;
- the flat buffers are reachable without a copy (`polygon_arrays`), so geometry is vectorised.
Python lists are made only for the rows a caller asks for (`polygon_parts`, `mask_cells`):
pycocotools' `frPyObjects` takes a list of parts (a list of 1-d arrays works as well; a 2-d
ndarray it reads as boxes).

The accessors also take the older layout: an object `segmentation` column of polygon part lists,
RLE dicts or None (annotation frames built by hand, prediction tables), read as it is.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import pandas as pd
import pyarrow as pa

POLYGON_TYPE = pa.list_(pa.list_(pa.float64()))
POLYGON_DTYPE = pd.ArrowDtype(POLYGON_TYPE)
SEGMENTATION = "segmentation"  # the polygon column
RLE = "rle"  # the RLE column (object: dict or None)
INT32_MAX = 2**31 - 1  # Arrow list offsets

Rows = np.ndarray | Sequence[int] | None


@dataclass(frozen=True)
class PolygonArrays:
    """The polygon parts of some annotation rows as flat arrays (a row without a polygon has no part).

    coords: float64, shape (n_numbers,): x1, y1, x2, y2, ... of every part, one part after another (px);
        it may be a read-only view of the column's buffer.
    part_offsets: int64, shape (n_parts + 1,): part k is `coords[part_offsets[k]:part_offsets[k + 1]]`.
    row_offsets: int64, shape (n_rows + 1,): row i owns parts `row_offsets[i]` to `row_offsets[i + 1]`.
    """

    coords: np.ndarray
    part_offsets: np.ndarray
    row_offsets: np.ndarray

    @property
    def n_parts(self) -> np.ndarray:
        """Parts per row (int64, shape (n_rows,))."""
        return np.diff(self.row_offsets)

    @property
    def part_lengths(self) -> np.ndarray:
        """Numbers per part, twice its vertices (int64, shape (n_parts,))."""
        return np.diff(self.part_offsets)

    def part_views(self) -> list[np.ndarray]:
        """Every part as a 1-d float64 view into `coords` (no copy), in order."""
        return np.split(self.coords, self.part_offsets[1:-1]) if len(self.part_offsets) > 1 else []

    def take(self, rows: np.ndarray) -> PolygonArrays:
        """The arrays of some rows (int positions into this one's rows), vectorised.

        When the parts of `rows` lie one after another (increasing rows, those skipped owning no
        part: the polygon rows of a column, in chunks) the coordinates are a view, not a copy.
        """
        rows = np.asarray(rows, dtype=np.int64)
        starts, ends = self.row_offsets[rows], self.row_offsets[rows + 1]
        row_offsets = _offsets(ends - starts)
        if len(rows) == 0:
            return PolygonArrays(self.coords[:0], np.zeros(1, dtype=np.int64), row_offsets)
        if (starts[1:] == ends[:-1]).all():
            first, last = int(starts[0]), int(ends[-1])
            part_offsets = self.part_offsets[first:last + 1]
            coords = self.coords[int(part_offsets[0]):int(part_offsets[-1])]
            return PolygonArrays(coords, part_offsets - part_offsets[0], row_offsets)
        parts = _ranges(starts, ends - starts)
        lengths = self.part_lengths[parts]
        coords = self.coords[_ranges(self.part_offsets[parts], lengths)]
        return PolygonArrays(coords, _offsets(lengths), row_offsets)

    def to_lists(self) -> list[list[list[float]]]:
        """Per row, its parts as lists of floats ([] for a row without a polygon)."""
        with _collector_paused():
            values = self.coords.tolist()
            bounds = self.part_offsets.tolist()
            # Slices made by `map` in C: a Python loop over a million parts costs twice as much.
            parts = list(map(values.__getitem__, map(slice, bounds[:-1], bounds[1:])))
            rows = self.row_offsets.tolist()
            return list(map(parts.__getitem__, map(slice, rows[:-1], rows[1:])))


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused, then restored as it was.

    Lists of floats hold no cycle, but each new list counts towards the collector's next pass:
    a million parts trigger passes over the whole heap (150k images: 7 s with it, 1.4 s without).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _offsets(lengths: np.ndarray) -> np.ndarray:
    """Offsets (int64, shape (n + 1,)) of consecutive runs of the given lengths."""
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The concatenated ranges start, start + 1, ..., start + length - 1 (int64), without a Python loop."""
    total = int(lengths.sum())
    run_start = _offsets(lengths)[:-1]
    return np.repeat(starts - run_start, lengths) + np.arange(total, dtype=np.int64)


def polygon_column(arrays: PolygonArrays, valid: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """The `segmentation` column (dtype `POLYGON_DTYPE`) of flat arrays; rows where `valid` (bool, shape
    (n_rows,)) is False are null (they must own no part).

    Raises:
        ValueError: more than 2**31 - 1 coordinates or parts (Arrow's list offsets are int32).
    """
    if max(int(arrays.part_offsets[-1]), int(arrays.row_offsets[-1])) > INT32_MAX:
        raise ValueError(f"{int(arrays.part_offsets[-1]):,} polygon coordinates in {int(arrays.row_offsets[-1]):,} "
                         f"parts: more than one dataset table holds (at most {INT32_MAX:,} of each)")
    inner = pa.ListArray.from_arrays(pa.array(arrays.part_offsets.astype(np.int32)), pa.array(arrays.coords))
    outer = pa.ListArray.from_arrays(pa.array(arrays.row_offsets.astype(np.int32)), inner,
                                     mask=pa.array(~np.asarray(valid, dtype=bool)))
    return pd.arrays.ArrowExtensionArray(pa.chunked_array([outer], type=POLYGON_TYPE))


def arrays_from_parts(cells: Sequence[list[list[float]] | None]) -> PolygonArrays:
    """Flat arrays of per-row polygon part lists (None or [] for a row without a polygon), read in one pass."""
    n_parts = np.fromiter((len(c) if c else 0 for c in cells), dtype=np.int64, count=len(cells))
    part_lists = list(chain.from_iterable(c for c in cells if c))
    lengths = np.fromiter(map(len, part_lists), dtype=np.int64, count=len(part_lists))
    # One flat array of every coordinate (no array per part).
    coords = np.fromiter(chain.from_iterable(part_lists), dtype=np.float64, count=int(lengths.sum()))
    return PolygonArrays(coords, _offsets(lengths), _offsets(n_parts))


def polygons_from_parts(cells: Sequence[list[list[float]] | None]) -> pd.api.extensions.ExtensionArray:
    """The `segmentation` column of per-row polygon part lists (None or [] for a row without a polygon: null)."""
    arrays = arrays_from_parts(cells)
    return polygon_column(arrays, arrays.n_parts > 0)


def _positions(rows: Rows, n: int) -> np.ndarray | None:
    """Row positions (int64) from positions or a boolean mask; None for every row."""
    if rows is None:
        return None
    rows = np.asarray(rows)
    if rows.dtype == bool:
        return np.flatnonzero(rows)
    return rows.astype(np.int64, copy=False).reshape(-1) if len(rows) else np.zeros(0, dtype=np.int64)


def _is_columnar(column: pd.Series) -> bool:
    """Whether a segmentation column is the Arrow list layout (else the object layout)."""
    return isinstance(column.dtype, pd.ArrowDtype)


def _arrow_rows(column: pd.Series, rows: np.ndarray | None) -> pa.ListArray:
    """The column's Arrow list array for `rows` (positions; None: all), in one chunk."""
    chunked = column.array.__arrow_array__()
    if rows is not None:
        chunked = chunked.take(pa.array(rows, type=pa.int64()))
    return chunked.combine_chunks() if chunked.num_chunks != 1 else chunked.chunk(0)


def polygon_arrays(annotations: pd.DataFrame, rows: Rows = None) -> PolygonArrays:
    """The polygon parts of `rows` (positions or a boolean mask; None: every row) as flat arrays.

    Rows without a polygon (RLE, box-only) own no part. From the columnar layout the coordinates
    are read without a copy when the rows are all rows.
    """
    column = annotations[SEGMENTATION]
    positions = _positions(rows, len(column))
    if not _is_columnar(column):
        cells = column.to_numpy(dtype=object)
        cells = cells if positions is None else cells[positions]
        return arrays_from_parts([c if type(c) is list else None for c in cells.tolist()])
    outer = _arrow_rows(column, positions)
    row_lengths = outer.value_lengths().fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    parts = outer.flatten()  # null rows and slicing taken care of
    part_lengths = parts.value_lengths().to_numpy(zero_copy_only=False).astype(np.int64)
    coords = parts.flatten().to_numpy(zero_copy_only=False)
    return PolygonArrays(coords, _offsets(part_lengths), _offsets(row_lengths))


def polygon_parts(annotations: pd.DataFrame, rows: Rows = None) -> list[list[list[float]]]:
    """Per row of `rows` (positions or a boolean mask; None: every row), its polygon parts as float lists
    ([] for a row without a polygon); lists are made for these rows only."""
    return polygon_arrays(annotations, rows).to_lists()


def mask_cells(annotations: pd.DataFrame, rows: Rows = None) -> np.ndarray:
    """Per row of `rows` (positions or a boolean mask; None: every row), its mask as COCO writes it: polygon
    parts (a list of float lists), an RLE dict, or None for a box-only annotation (object array, shape (n,))."""
    column = annotations[SEGMENTATION]
    positions = _positions(rows, len(column))
    if not _is_columnar(column):
        cells = column.to_numpy(dtype=object)
        return (cells if positions is None else cells[positions]).copy()
    lists = polygon_arrays(annotations, positions).to_lists()
    out = np.fromiter(lists, dtype=object, count=len(lists))  # one element per row, lists kept whole
    polygon = _arrow_rows(column, positions).is_valid().to_numpy(zero_copy_only=False)
    out[~polygon] = None
    if RLE in annotations:
        rles = annotations[RLE].to_numpy(dtype=object)
        rles = rles if positions is None else rles[positions]
        out[~polygon] = rles[~polygon]
    return out
