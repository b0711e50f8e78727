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

Every path is vectorised. Annotations become vertical runs (column, first row, end row)
on the grid (`analysis.rasterise`, where masks are rasterised and their runs cached);
union per image is an interval merge on sorted runs; sums are 1D/2D difference arrays
filled by `np.bincount` and integrated by `cumsum`, so regrouping or renormalising is cheap.
The figures of these maps are drawn by `render.heatmap_figures`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from xami_core.analysis.folds import PARTS
from xami_core.analysis.rasterise import (
    Runs,
    box_cells,
    box_method_runs,
    box_runs,
    centroid_cells,
    image_sizes,
    mask_runs,
    merge_intervals,
)
from xami_core.model import Dataset, filter_keys, filter_label, filter_order, split_order

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


# --- per-annotation runs for each method ------------------------------------------------------


def method_runs(images: pd.DataFrame, annotations: pd.DataFrame, method: str, grid: int) -> Runs:
    """Grid runs of every annotation for a method (rows of `annotations` in `ann`).

    Raises:
        ValueError: an unknown method.
        XamiDataError: an annotation's image_id is not in the images table.
    """
    if method == "mask":
        return mask_runs(images, annotations, grid)
    width, height = image_sizes(images, annotations)
    if method == "box":
        return box_method_runs(annotations, width, height, grid)
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

    Raises:
        ValueError: `by` is a string other than "all", "split" or "filter".
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

    Raises:
        ValueError: `fold` is not in the fold set.
    """
    a = folds.assignments
    rows = a[a["fold"] == fold]
    if rows.empty:
        raise ValueError(f"fold {fold} is not in this fold set (folds {folds.folds})")
    name = "published split" if folds.method == "published" else f"fold {fold}"
    parts = [p for p in PARTS if p in set(rows["part"])]
    labels = pd.Categorical([f"{name} {p}" for p in rows["part"]], categories=[f"{name} {p}" for p in parts])
    return pd.Series(labels, index=rows["image_id"].to_numpy(np.int64), name="group")


# --- accumulation ------------------------------------------------------------------------------

def _column_diff(map_index: np.ndarray, col: np.ndarray, lo: np.ndarray, hi: np.ndarray, n_maps: int,
                 grid: int) -> np.ndarray:
    """Vertical runs as a flat difference array, one (grid + 1) stretch per (map, column); `_diff_to_maps` sums it."""
    size = n_maps * grid * (grid + 1)
    base = (map_index * grid + col) * (grid + 1)
    return np.bincount(base + lo, minlength=size) - np.bincount(base + hi, minlength=size)


def _diff_to_maps(diff: np.ndarray, n_maps: int, grid: int) -> np.ndarray:
    """(n_maps, grid, grid) int32 maps from a `_column_diff` array."""
    maps = np.cumsum(diff.reshape(n_maps, grid, grid + 1), axis=2)[:, :, :grid]
    return np.ascontiguousarray(maps.transpose(0, 2, 1)).astype(np.int32)


def _runs_to_maps(map_index: np.ndarray, runs: Runs, n_maps: int, grid: int) -> np.ndarray:
    """Sum vertical runs into (n_maps, grid, grid) maps with a 1D difference array per column."""
    return _diff_to_maps(_column_diff(map_index, runs.col, runs.lo, runs.hi, n_maps, grid), n_maps, grid)


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


UNION_CHUNK = 1 << 18  # box columns merged at a time (at least one map set's difference array)


def _box_union_maps(map_index: np.ndarray, image_index: np.ndarray, c0: np.ndarray, c1: np.ndarray, r0: np.ndarray,
                    r1: np.ndarray, n_maps: int, grid: int) -> np.ndarray:
    """Maps of images covering each cell by the union of their boxes (cells [c0, c1) x [r0, r1) per box).

    A box alone in its (image, map) is its own union: its four corners go into a 2D difference
    array. Boxes sharing an (image, map) become column runs and are merged a chunk of whole
    groups at a time, so the runs held and sorted at once stay bounded and the cost linear in the
    number of boxes (merging every box column of 150k images in one sort took 2.4 of 3.0 s and 1 GB).
    """
    group = image_index * n_maps + map_index
    order = np.argsort(group, kind="stable")
    group, map_index, c0, c1, r0, r1 = (a[order] for a in (group, map_index, c0, c1, r0, r1))
    first = np.ones(len(group), dtype=bool)
    first[1:] = group[1:] != group[:-1]
    starts = np.flatnonzero(first)
    size_of = np.diff(np.append(starts, len(group)))
    alone = np.repeat(size_of == 1, size_of)
    maps = _boxes_to_maps(map_index[alone], c0[alone], c1[alone], r0[alone], r1[alone], n_maps, grid)
    shared = np.flatnonzero(~alone)
    if not len(shared):
        return maps
    group, map_index, c0, c1, r0, r1 = (a[shared] for a in (group, map_index, c0, c1, r0, r1))
    # Chunks end where a group starts: the columns before that start pass a multiple of `chunk`.
    chunk = max(UNION_CHUNK, n_maps * grid * (grid + 1))
    columns_before = np.cumsum(c1 - c0) - (c1 - c0)
    group_starts = np.flatnonzero(np.append(True, group[1:] != group[:-1]))
    bucket = columns_before[group_starts] // chunk
    cuts = np.append(group_starts[np.append(True, bucket[1:] != bucket[:-1])], len(group))
    diff = np.zeros(n_maps * grid * (grid + 1), dtype=np.int64)
    for a, z in zip(cuts[:-1], cuts[1:]):
        # Groups numbered from 0 within the chunk keep the merge keys small.
        local = np.cumsum(np.append(True, group[a + 1:z] != group[a:z - 1])) - 1
        runs = box_runs(local, c0[a:z], c1[a:z], r0[a:z], r1[a:z])
        key, lo, hi = merge_intervals(runs.ann * grid + runs.col, runs.lo, runs.hi)
        group_map = np.zeros(int(local[-1]) + 1, dtype=np.int64)
        group_map[local] = map_index[a:z]
        diff += _column_diff(group_map[key // grid], key % grid, lo, hi, n_maps, grid)
    return maps + _diff_to_maps(diff, n_maps, grid)


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
        annotations: needs image_id, class_name; kind, segmentation, rle for "mask"; mask_box_x/y/w/h
            for "box"; cx, cy for "centroid".
        method: "mask" (exact), "box" (the authors' method) or "centroid".
        grid: cells per side of the normalised detector grid.
        by: "all", "split", "filter", or a mapping image_id -> group label (`fold_part_groups`).
        classes: class order (default: the classes present, sorted).
        with_images: also count images covering each cell (needed for the "share" normalisation).
        runs: precomputed `mask_runs(images, annotations, grid)` (e.g. from a cache); "mask" only.

    Returns:
        A `HeatmapSet`: counts and images of shape (groups, classes, grid, grid), int32.

    Raises:
        ValueError: an unknown method or grouping, or a grid below one cell.
        XamiDataError: an annotation's image is not in the images table.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    if grid < 1:
        raise ValueError(f"grid must be a positive number of cells, got {grid}")
    labels, groups = group_labels(images, by)
    classes = tuple(classes) if classes is not None else tuple(sorted(pd.unique(annotations["class_name"])))
    img_group = pd.Series(pd.Index(groups).get_indexer(labels), index=images["image_id"].to_numpy())
    n_images = np.bincount(img_group[img_group >= 0], minlength=len(groups)).astype(np.int64)
    place = _place(images, annotations, img_group, len(groups), classes, method)
    n_annotations, n_class_images = _map_totals(place, len(groups), len(classes))
    counts, covering = _count_maps(images, annotations, place, method, grid, with_images, runs)
    sizes = frame_sizes(images[(img_group >= 0).to_numpy()])
    stand_ins = int((place.keep & (annotations["kind"].to_numpy(dtype=object) == "box")).sum()) \
        if method == "mask" and "kind" in annotations else 0
    shape = (len(groups), len(classes), grid, grid)
    return HeatmapSet(counts=counts.reshape(shape), images=covering.reshape(shape), groups=groups, classes=classes,
                      n_images=n_images, n_annotations=n_annotations, n_class_images=n_class_images,
                      method=method, grid=grid, frame=sizes[0][:2] if sizes else (FRAME_PX, FRAME_PX),
                      frame_sizes=sizes, n_box_stand_ins=stand_ins)


@dataclass(frozen=True)
class _Placement:
    """Where each annotation goes: map = group * n_classes + class (arrays of shape (n_annotations,))."""

    keep: np.ndarray  # placed on a map: its image is in a group, its class is shown, it has a place
    ann_map: np.ndarray  # the map, -1 where not kept
    image_pos: np.ndarray  # row of its image in the images table
    n_maps: int


def _place(images: pd.DataFrame, annotations: pd.DataFrame, img_group: pd.Series, n_groups: int,
           classes: tuple[str, ...], method: str) -> _Placement:
    """Each annotation's map from its image's group and its class; annotations without a place are left out."""
    ann_group = img_group.reindex(annotations["image_id"].to_numpy()).fillna(-1).to_numpy(np.int64)
    ann_class = pd.Index(classes).get_indexer(annotations["class_name"])
    keep = (ann_group >= 0) & (ann_class >= 0) & located(annotations, method)
    ann_map = np.where(keep, ann_group * len(classes) + ann_class, -1)
    image_pos = pd.Index(images["image_id"]).get_indexer(annotations["image_id"]).astype(np.int64)
    return _Placement(keep=keep, ann_map=ann_map, image_pos=image_pos, n_maps=n_groups * len(classes))


def _map_totals(place: _Placement, n_groups: int, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Annotations placed per (group, class), and images with at least one of them."""
    kept = place.ann_map[place.keep]
    n_annotations = np.bincount(kept, minlength=place.n_maps).reshape(n_groups, n_classes)
    # Distinct (image, map) pairs from one sort (np.unique's hash table grew superlinearly: 0.5 s at 150k images).
    pairs = np.sort(place.image_pos[place.keep] * place.n_maps + kept)
    pairs = pairs[np.append(True, pairs[1:] != pairs[:-1])] if len(pairs) else pairs
    n_class_images = np.bincount(pairs % place.n_maps, minlength=place.n_maps).reshape(n_groups, n_classes)
    return n_annotations, n_class_images


def _count_maps(images: pd.DataFrame, annotations: pd.DataFrame, place: _Placement, method: str, grid: int,
                with_images: bool, runs: Runs | None) -> tuple[np.ndarray, np.ndarray]:
    """Annotations covering each cell and images covering it (zeros without `with_images`), each (n_maps, grid, grid)."""
    keep = place.keep
    n_maps = place.n_maps
    if method == "box":
        # Straight from the boxes' corners: counts sum them, the image union merges them per (image, map).
        sub = annotations[keep]
        width, height = image_sizes(images, sub)
        c0, c1, r0, r1 = box_cells(sub["mask_box_x"].to_numpy(float), sub["mask_box_y"].to_numpy(float),
                                   sub["mask_box_w"].to_numpy(float), sub["mask_box_h"].to_numpy(float),
                                   width, height, grid)
        counts = _boxes_to_maps(place.ann_map[keep], c0, c1, r0, r1, n_maps, grid)
        if not with_images:
            return counts, np.zeros_like(counts)
        return counts, _box_union_maps(place.ann_map[keep], place.image_pos[keep], c0, c1, r0, r1, n_maps, grid)
    if method == "centroid":
        sub = annotations[keep]
        width, height = image_sizes(images, sub)
        col, row = centroid_cells(sub["cx"].to_numpy(float), sub["cy"].to_numpy(float), width, height, grid)
        runs = Runs(np.flatnonzero(keep), col, row, row + 1)
    else:  # mask runs: given by the caller (cached per dataset and grid) or cached here
        runs = runs if runs is not None else mask_runs(images, annotations, grid)
        runs = runs.take(keep[runs.ann])
    counts = _runs_to_maps(place.ann_map[runs.ann], runs, n_maps, grid)
    if not with_images:
        return counts, np.zeros_like(counts)
    return counts, _image_union_maps(place.ann_map[runs.ann], place.image_pos[runs.ann], runs, n_maps, grid)


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


def drawn_frame(hs: HeatmapSet, frame_px: Frame | None = None) -> tuple[int, int]:
    """(width, height) in px of the frame figures draw the grid on: `frame_px` when given, else the data's own frame."""
    if frame_px is None:
        return hs.frame
    return (int(frame_px), int(frame_px)) if isinstance(frame_px, (int, np.integer)) else (int(frame_px[0]), int(frame_px[1]))


def cell_text(hs: HeatmapSet, frame_px: Frame | None = None) -> str:
    """A cell's size in pixels of the drawn frame: "4 px", or "5 × 3.75 px" for a frame that is not square."""
    w, h = drawn_frame(hs, frame_px)
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
    """Heatmaps of a `Dataset`, classes in the dataset's order; `by="fold"` groups one fold's parts of `folds`.

    Raises:
        ValueError: `by="fold"` without `folds`, a fold not in `folds`, or a bad option (see `compute_heatmaps`).
    """
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
    """Maps (group, class, row, col) as counts, shares of the group's images, or fractions of each map's maximum.

    Returns:
        float64 array of the shape of `hs.counts`.

    Raises:
        ValueError: `how` is not one of `NORMALISATIONS`.
    """
    return _normalise(hs.counts, hs.images, hs.n_images, how)


def difference(hs: HeatmapSet, group: str, other: str = REST, how: str = "share") -> np.ndarray:
    """Per class, normalised map of `group` minus that of `other` (a group, or REST: all other images).

    Returns:
        float64 array of shape (classes, grid, grid).

    Raises:
        ValueError: an unknown group or normalisation.
    """
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


# --- reading the maps: display order, peaks, summaries -----------------------------------------


def display_classes(classes: Sequence[str]) -> list[str]:
    """Classes in the authors' figure order (star-loop ... central-ring), any others after them."""
    known = [c for c in AUTHORS_CLASS_ORDER if c in classes]
    return known + [c for c in classes if c not in known]


def map_peak(hs: HeatmapSet, group: str, class_name: str, frame_px: Frame | None = None) -> dict | None:
    """The cell covered by the most images of a map, in pixels of the frame (default `hs.frame`); None for an empty map.

    On a plateau of equal cells (a filled ring is one) the cell nearest the plateau's
    mean position is reported, the first in reading order among equals. x and y are the
    cell centre in px; share is a fraction of the group's images.

    Raises:
        ValueError: an unknown group or class.
    """
    g, c = hs.index(group, class_name)
    covering = hs.images[g, c]
    if covering.max() <= 0:
        return None
    rows, cols = np.nonzero(covering == covering.max())
    nearest = int(np.argmin((rows - rows.mean()) ** 2 + (cols - cols.mean()) ** 2))
    row, col = int(rows[nearest]), int(cols[nearest])
    width, height = drawn_frame(hs, frame_px)
    n = int(hs.n_images[g])
    return {"x": (col + 0.5) * width / hs.grid, "y": (row + 0.5) * height / hs.grid, "row": int(row), "col": int(col),
            "images": int(covering[row, col]), "n_images": n, "share": covering[row, col] / n,
            "annotations": int(hs.counts[g, c, row, col])}


def difference_extremes(hs: HeatmapSet, class_name: str, group: str, other: str = REST, how: str = "share",
                        frame_px: Frame | None = None) -> dict[str, dict]:
    """Cells of the largest positive ("most") and negative ("least") difference, with their values (px: `map_peak`).

    Raises:
        ValueError: an unknown group, class or normalisation.
    """
    values = difference(hs, group, other, how)[hs.classes.index(class_name)]
    width, height = drawn_frame(hs, frame_px)
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
