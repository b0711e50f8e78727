"""Heatmaps against brute force (pycocotools masks, cell-by-cell overlap, exact centroids) and hand-computed values."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from pycocotools import mask as mask_utils

from tests import builders as b
from tests.heatmap_builders import band_mask, cells, tiny_ds
from xami_core import load_dataset
from xami_core.analysis import heatmaps as hm
from xami_core.analysis.folds import make_folds
from xami_core.render import heatmap_figures as hf

# ---------------------------------------------------------------- brute-force references


def pixel_mask(seg, kind: str, h: int, w: int) -> np.ndarray:
    """The annotation's pixels as pycocotools rasterises them (parts merged), bool (h, w)."""
    if kind == "polygon":
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
    else:
        rle = mask_utils.frPyObjects(seg, h, w) if isinstance(seg["counts"], list) else seg
    return mask_utils.decode(rle).astype(bool)


def cells_of_pixels(mask: np.ndarray, grid: int) -> np.ndarray:
    """Cell by cell: covered when a mask pixel (a unit square) overlaps the cell with positive area."""
    h, w = mask.shape
    out = np.zeros((grid, grid), dtype=bool)
    for r in range(grid):
        # Pixel rows y with y < (r + 1) h / grid and y + 1 > r h / grid.
        y0, y1 = (r * h) // grid, -(-(r + 1) * h // grid)
        for c in range(grid):
            x0, x1 = (c * w) // grid, -(-(c + 1) * w // grid)
            out[r, c] = mask[y0:y1, x0:x1].any()
    return out


def cells_of_box(x: float, y: float, bw: float, bh: float, h: int, w: int, grid: int) -> np.ndarray:
    """Cells whose area overlaps the box clipped to the frame (interval tests on every cell edge)."""
    x0, x1 = max(x, 0), min(x + bw, w)
    y0, y1 = max(y, 0), min(y + bh, h)
    lo_x, hi_x = np.arange(grid) * w / grid, np.arange(1, grid + 1) * w / grid
    lo_y, hi_y = np.arange(grid) * h / grid, np.arange(1, grid + 1) * h / grid
    return ((lo_y < y1) & (hi_y > y0))[:, None] & ((lo_x < x1) & (hi_x > x0))[None, :]


def exact_centroid(seg, kind: str, h: int, w: int) -> tuple[Fraction, Fraction]:
    """Area centroid in exact rational arithmetic (polygon parts weighted by area); pixel centres for RLE."""
    if kind == "polygon":
        area = sx = sy = Fraction(0)
        for part in seg:
            xs, ys = [Fraction(v) for v in part[0::2]], [Fraction(v) for v in part[1::2]]
            a2 = mx = my = Fraction(0)
            for i in range(len(xs)):
                j = (i + 1) % len(xs)
                cross = xs[i] * ys[j] - xs[j] * ys[i]
                a2, mx, my = a2 + cross, mx + (xs[i] + xs[j]) * cross, my + (ys[i] + ys[j]) * cross
            sign = 1 if a2 > 0 else -1
            area, sx, sy = area + abs(a2) / 2, sx + sign * mx / 6, sy + sign * my / 6
        return sx / area, sy / area
    ys, xs = np.nonzero(pixel_mask(seg, kind, h, w))
    return Fraction(int(xs.sum()), len(xs)) + Fraction(1, 2), Fraction(int(ys.sum()), len(ys)) + Fraction(1, 2)


def reference_cells(row, method: str, h: int, w: int, grid: int) -> np.ndarray:
    """What one annotation covers under `method`, computed without the core."""
    if method == "centroid":
        if row.kind == "box":  # a box-only annotation: its centre
            cx, cy = row.mask_box_x + row.mask_box_w / 2, row.mask_box_y + row.mask_box_h / 2
        else:
            cx, cy = exact_centroid(row.rle if row.kind == "rle" else row.segmentation, row.kind, h, w)
        out = np.zeros((grid, grid), dtype=bool)
        # math.floor of an exact value: a centroid on a cell edge goes to the cell after it.
        out[min(max(math.floor(cy * grid / h), 0), grid - 1), min(max(math.floor(cx * grid / w), 0), grid - 1)] = True
        return out
    if row.kind == "box" or method == "box":
        return cells_of_box(row.mask_box_x, row.mask_box_y, row.mask_box_w, row.mask_box_h, h, w, grid)
    return cells_of_pixels(pixel_mask(row.rle if row.kind == "rle" else row.segmentation, row.kind, h, w), grid)


def reference_maps(ds, method: str, grid: int) -> tuple[np.ndarray, np.ndarray]:
    """(counts, images) of the first class and the only split, annotation by annotation."""
    counts = np.zeros((grid, grid), dtype=np.int64)
    per_image: dict[int, np.ndarray] = {}
    size = ds.images.set_index("image_id")
    for row in ds.annotations.itertuples():
        h, w = int(size.at[row.image_id, "height"]), int(size.at[row.image_id, "width"])
        cells = reference_cells(row, method, h, w, grid)
        counts += cells
        per_image[row.image_id] = per_image.get(row.image_id, np.zeros_like(cells)) | cells
    return counts, sum(per_image.values(), np.zeros((grid, grid), dtype=np.int64))


def rle_of(mask: np.ndarray) -> dict:
    """A compressed RLE with string counts, as a COCO file stores it."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode()}


# ---------------------------------------------------------------- fixtures as COCO records

def rle_ann(id: int, image_id: int, category_id: int, rle: dict) -> dict:
    """One annotation whose segmentation is an RLE dict."""
    return {"id": id, "image_id": image_id, "category_id": category_id, "bbox": [0, 0, 1, 1], "area": 1,
            "segmentation": rle, "iscrowd": 0}


CONCAVE = [100.0, 100.0, 220.0, 100.0, 220.0, 130.0, 140.0, 130.0, 140.0, 210.0, 220.0, 210.0, 220.0, 240.0, 100.0, 240.0]
STAR = [256.0, 150.0, 275.0, 235.0, 360.0, 256.0, 275.0, 277.0, 256.0, 362.0, 237.0, 277.0, 152.0, 256.0, 237.0, 235.0]

CASES = {
    # a single square: edges inside cells, so cells are partly covered
    "single square": (512, 512, 32, lambda: [b.polygon_ann(1, 0, 5, b.square(100.5, 60.2, 41))]),
    # a C shape (concave, no hole): the notch cells stay empty under mask, not under box
    "concave polygon": (512, 512, 32, lambda: [b.polygon_ann(1, 0, 5, CONCAVE)]),
    # a four-pointed star: concave on every side
    "star polygon": (512, 512, 16, lambda: [b.polygon_ann(1, 0, 5, STAR)]),
    # one annotation in three parts, two of them overlapping: each cell counted once for it
    "multi-part polygon": (512, 512, 32, lambda: [b.polygon_ann(
        1, 0, 5, b.square(20, 20, 30), b.square(40, 40, 30), b.square(400, 300, 50))]),
    # compressed RLE whose runs wrap across columns
    "compressed RLE": (512, 512, 32, lambda: [rle_ann(1, 0, 5, rle_of(band_mask(512, 512)))]),
    # uncompressed RLE (counts as a list), a short vertical bar
    "uncompressed RLE": (512, 512, 64, lambda: [rle_ann(1, 0, 5, {
        "size": [512, 512], "counts": [512 * 300 + 100, 40, 472, 40, 512 * 512 - 512 * 300 - 100 - 552]})]),
    # polygon crossing the right and bottom frame edges, and a box-only annotation hanging off the top-left
    "frame edges": (512, 512, 32, lambda: [
        b.polygon_ann(1, 0, 5, [480.0, 470.0, 540.0, 480.0, 500.0, 530.0]),
        b.polygon_ann(2, 0, 5, bbox=[-12.0, -7.0, 40.0, 30.0])]),
    # two overlapping annotations in one image: counts add up, images do not
    "overlapping annotations": (512, 512, 32, lambda: [
        b.polygon_ann(1, 0, 5, b.square(200, 200, 60)), b.polygon_ann(2, 0, 5, b.square(230, 230, 60))]),
    # a 300 x 200 frame on a grid that divides neither side: pixels straddle cells
    "non-512 image": (200, 300, 32, lambda: [
        b.polygon_ann(1, 0, 5, [30.0, 20.0, 250.0, 60.0, 120.0, 180.0]),
        rle_ann(2, 0, 5, rle_of(band_mask(200, 300)))]),
    # a 1024 x 1024 frame: same grid cells as the 512 frame at twice the pixels
    "1024 image": (1024, 1024, 32, lambda: [b.polygon_ann(1, 0, 5, [int(2 * v) for v in CONCAVE])]),
    # the grid finer than the image (64 px frame on 96 cells): a pixel covers two cells
    "grid finer than pixels": (64, 64, 96, lambda: [b.polygon_ann(1, 0, 5, [5.0, 5.0, 40.0, 9.0, 20.0, 50.0])]),
}


def fixture_ds(tmp_path, height: int, width: int, anns: list[dict]):
    data = b.coco([b.image(0, height=height, width=width)], anns)
    b.write_split(tmp_path / "train", data)
    ds = load_dataset(tmp_path / "train")
    assert not [p for p in ds.problems if p.severity == "error"], ds.problems
    return ds


@pytest.mark.parametrize("method", list(hm.METHODS))
@pytest.mark.parametrize("case", list(CASES))
def test_methods_match_brute_force(tmp_path, case, method):
    height, width, grid, make = CASES[case]
    ds = fixture_ds(tmp_path, height, width, make())
    hs = hm.dataset_heatmaps(ds, method=method, grid=grid, by="all")
    counts, images = reference_maps(ds, method, grid)
    c = hs.classes.index("star-loop")
    assert counts.sum() > 0
    np.testing.assert_array_equal(hs.counts[0, c], counts)
    np.testing.assert_array_equal(hs.images[0, c], images)
    assert hs.n_annotations[0, c] == len(ds.annotations) and hs.n_class_images[0, c] == 1


def test_box_method_at_pixel_grid_is_the_authors_slice(tmp_path):
    # Integer boxes at grid = 512: the authors' heat[y:y+h, x:x+w] += 1, one of them on the frame edge.
    boxes = [[10, 20, 30, 5], [25, 22, 10, 40], [490, 500, 22, 12]]
    ds = fixture_ds(tmp_path, 512, 512, [b.polygon_ann(i, 0, 5, bbox=box) for i, box in enumerate(boxes)])
    heat = np.zeros((512, 512), dtype=np.int64)
    for x, y, w, h in boxes:
        heat[y:y + h, x:x + w] += 1
    hs = hm.dataset_heatmaps(ds, method="box", grid=512, by="all")
    np.testing.assert_array_equal(hs.counts[0, hs.classes.index("star-loop")], heat)


def test_empty_rle_has_no_place_on_any_map(tmp_path):
    # An all-zero mask: nothing to rasterise, and no box or centroid either.
    ds = fixture_ds(tmp_path, 512, 512, [rle_ann(1, 0, 5, rle_of(np.zeros((512, 512), bool))),
                                         b.polygon_ann(2, 0, 5, b.square(10, 10, 10))])
    for method in hm.METHODS:
        hs = hm.dataset_heatmaps(ds, method=method, grid=16, by="all")
        c = hs.classes.index("star-loop")
        assert hs.n_annotations[0, c] == 1 and hs.counts[0, c].sum() == 1 and hs.counts[0, c, 0, 0] == 1


# ---------------------------------------------------------------- the whole sample, vectorised references

def test_sample_masks_at_pixel_grid_are_pycocotools_masks(sample_ds):
    # At grid = frame size every cell is a pixel: the counts are the sum of pycocotools masks.
    hs = hm.dataset_heatmaps(sample_ds, method="mask", grid=512, by="split")
    expected = np.zeros_like(hs.counts)
    for row in sample_ds.annotations.itertuples():
        g, c = hs.index(row.split, row.class_name)
        if row.kind == "box":
            expected[g, c] += cells_of_box(row.mask_box_x, row.mask_box_y, row.mask_box_w, row.mask_box_h, 512, 512, 512)
        else:
            expected[g, c] += pixel_mask(row.segmentation, row.kind, 512, 512)
    np.testing.assert_array_equal(hs.counts, expected)


@pytest.mark.parametrize("method", list(hm.METHODS))
def test_sample_on_a_coarse_grid_matches_block_any(sample_ds, method):
    # 128 cells of 4 x 4 pixels: a cell is covered when any of its 16 pixels is (boxes: cell overlap).
    hs = hm.dataset_heatmaps(sample_ds, method=method, grid=128, by="split")
    counts = np.zeros_like(hs.counts)
    union: dict[tuple, np.ndarray] = {}
    for row in sample_ds.annotations.itertuples():
        if method == "mask" and row.kind != "box":
            cells = pixel_mask(row.segmentation, row.kind, 512, 512).reshape(128, 4, 128, 4).any(axis=(1, 3))
        else:
            cells = reference_cells(row, method, 512, 512, 128)
        key = hs.index(row.split, row.class_name)
        counts[key] += cells
        union[(*key, row.image_id)] = union.get((*key, row.image_id), False) | cells
    images = np.zeros_like(hs.images)
    for (g, c, _), cells in union.items():
        images[g, c] += cells
    np.testing.assert_array_equal(hs.counts, counts)
    np.testing.assert_array_equal(hs.images, images)


@pytest.mark.parametrize(("grid", "by", "chunk"), [
    (4, "all", 1),              # chunks of 100 columns (the floor: one map set's difference array): 8 chunks
    (16, "filter", 1),          # one chunk at the floor
    (128, "split", 1 << 18),    # the default
])
def test_box_union_in_chunks_is_each_images_union(sample_ds, monkeypatch, grid, by, chunk):
    # Boxes alone in their (image, class) go in by their corners, shared ones merged a chunk of groups at a time.
    monkeypatch.setattr(hm, "UNION_CHUNK", chunk)
    hs = hm.dataset_heatmaps(sample_ds, method="box", grid=grid, by=by)
    labels, _ = hm.group_labels(sample_ds.images, by)
    group_of = dict(zip(sample_ds.images["image_id"], labels, strict=True))
    union: dict[tuple, np.ndarray] = {}
    boxes: dict[tuple, int] = {}
    for row in sample_ds.annotations.itertuples():
        key = (*hs.index(group_of[row.image_id], row.class_name), row.image_id)
        union[key] = union.get(key, False) | reference_cells(row, "box", 512, 512, grid)
        boxes[key] = boxes.get(key, 0) + 1
    images = np.zeros_like(hs.images)
    for (g, c, _), covered in union.items():
        images[g, c] += covered
    assert 1 in boxes.values() and max(boxes.values()) > 2  # both paths taken
    np.testing.assert_array_equal(hs.images, images)


# ---------------------------------------------------------------- normalisations and differences by hand


@pytest.mark.parametrize(("how", "train", "valid"), [
    ("count", cells(c00=3, c11=1), cells(c11=1)),           # annotations covering the cell
    ("share", cells(c00=2 / 3, c11=1 / 3), cells(c11=1)),   # images with the class there / images in the group
    ("max", cells(c00=1, c11=1 / 3), cells(c11=1)),         # counts / the map's own maximum
])
def test_normalisations_by_hand(tmp_path, how, train, valid):
    hs = hm.dataset_heatmaps(tiny_ds(tmp_path), method="mask", grid=4, by="split")
    values = hm.normalised(hs, how)
    c = hs.classes.index("star-loop")
    assert hs.groups == ("train", "valid") and list(hs.n_images) == [3, 1]
    np.testing.assert_allclose(values[0, c], train)
    np.testing.assert_allclose(values[1, c], valid)


@pytest.mark.parametrize(("by", "group", "other", "how", "expected"), [
    ("split", "train", "valid", "share", cells(c00=2 / 3, c11=1 / 3 - 1)),   # train minus valid
    ("split", "train", "valid", "count", cells(c00=3)),                      # raw counts: (1,1) cancels
    ("split", "valid", hm.REST, "max", cells(c00=-1, c11=1 - 1 / 3)),        # valid vs the rest (= train)
    ("filter", "V (543 nm)", hm.REST, "share", cells(c00=1, c11=0)),         # V: 2 of 2; rest U + UVW1: 0 of 2, 1 of 2
    ("filter", "V (543 nm)", "UVW1 (291 nm)", "share", cells(c00=1, c11=-1 / 2)),
])
def test_difference_maps_by_hand(tmp_path, by, group, other, how, expected):
    hs = hm.dataset_heatmaps(tiny_ds(tmp_path), method="mask", grid=4, by=by)
    np.testing.assert_allclose(hm.difference(hs, group, other, how)[hs.classes.index("star-loop")], expected)


def test_difference_extremes_by_hand(tmp_path):
    hs = hm.dataset_heatmaps(tiny_ds(tmp_path), method="mask", grid=4, by="split")
    ends = hm.difference_extremes(hs, "star-loop", "train", "valid", how="share")
    assert ends["most"] == {"x": 64, "y": 64, "value": pytest.approx(2 / 3)}       # cell (0, 0): train only
    assert ends["least"] == {"x": 192, "y": 192, "value": pytest.approx(-2 / 3)}   # cell (1, 1): 1/3 vs 1


def test_peak_and_summary_by_hand(tmp_path):
    hs = hm.dataset_heatmaps(tiny_ds(tmp_path), method="mask", grid=4, by="split")
    peak = hm.map_peak(hs, "train", "star-loop")
    assert (peak["x"], peak["y"], peak["images"], peak["share"], peak["annotations"]) == (64, 64, 2, 2 / 3, 3)
    table = hm.summary_table(hs)
    assert table.loc["star-loop"].to_dict() == {"train: annotations": 4, "train: images with class": 2,
                                                "valid: annotations": 1, "valid: images with class": 1}
    assert list(table.index) == ["star-loop", "smoke-ring", "read-out-streak", "other", "central-ring"]


# ---------------------------------------------------------------- groups

def test_filters_are_ordered_by_wavelength(sample_ds):
    hs = hm.dataset_heatmaps(sample_ds, method="centroid", grid=16, by="filter")
    assert hs.groups == ("V (543 nm)", "B (450 nm)", "U (344 nm)", "UVW1 (291 nm)", "UVM2 (231 nm)",
                         "UVW2 (212 nm)", "White (broad band)")
    expected = sample_ds.images["filter_letter"].value_counts()
    assert list(hs.n_images) == [expected[f] for f in ("V", "B", "U", "L", "M", "S", "W")]


@pytest.mark.parametrize("fold", [0, 3])
def test_fold_parts_group_train_then_valid(sample_ds, fold):
    folds = make_folds(sample_ds, "stratified", 4, 42)
    hs = hm.dataset_heatmaps(sample_ds, method="centroid", grid=16, by="fold", folds=folds, fold=fold)
    assert hs.groups == (f"fold {fold} train", f"fold {fold} valid")
    ann = sample_ds.annotations
    for g, part in enumerate(("train", "valid")):
        ids = folds.part_ids(fold, part)
        assert hs.n_images[g] == len(ids)
        counts = ann[ann["image_id"].isin(ids)].groupby("class_name").size()
        assert {c: int(hs.n_annotations[g, i]) for i, c in enumerate(hs.classes)} == counts.reindex(hs.classes, fill_value=0).to_dict()
        # centroids: one cell per annotation
        assert hs.counts[g].sum() == len(ann[ann["image_id"].isin(ids)])


@pytest.mark.parametrize(("by", "groups", "n_images"), [
    ("all", ("all images",), [160]),                                            # one map per class
    ("split", ("train", "valid"), [120, 40]),                                    # the published split
    (pd.Series({0: "b", 1: "a", 2: "b"}), ("b", "a"), [2, 1]),                   # a mapping: first-appearance order, others left out
    (pd.Series(pd.Categorical(["x", "y"], categories=["y", "x"]), index=[5, 6]), ("y", "x"), [1, 1]),  # categorical order
])
def test_group_by(sample_ds, by, groups, n_images):
    hs = hm.dataset_heatmaps(sample_ds, method="centroid", grid=8, by=by)
    assert hs.groups == groups and list(hs.n_images) == n_images
    kept = sample_ds.images["image_id"] if isinstance(by, str) else by.index
    assert hs.counts.sum() == sample_ds.annotations["image_id"].isin(kept).sum()


@pytest.mark.parametrize("grid", [1, 7, 64, 512])
def test_any_grid_places_each_centroid_once(sample_ds, grid):
    hs = hm.dataset_heatmaps(sample_ds, method="centroid", grid=grid, by="split")
    assert hs.counts.shape[-2:] == (grid, grid)
    np.testing.assert_array_equal(hs.counts.sum(axis=(-2, -1)), hs.n_annotations)


@pytest.mark.parametrize("method", list(hm.METHODS))
def test_central_ring_is_one_tight_spot(sample_ds, method):
    # The physical expectation the page must show: the ring near x 262, y 283 px, nowhere else.
    hs = hm.dataset_heatmaps(sample_ds, method=method, grid=128, by="split")
    g, c = hs.index("train", "central-ring")
    peak = hm.map_peak(hs, "train", "central-ring")
    assert abs(peak["x"] - 262) <= 6 and abs(peak["y"] - 283) <= 6
    rows, cols = np.nonzero(hs.counts[g, c])
    assert np.hypot(cols * 4 + 2 - 262, rows * 4 + 2 - 283).max() < 40


def test_peak_on_a_plateau_is_its_middle():
    # A 3 x 3 plateau of equal cells: the middle one, not the first in reading order.
    images = np.zeros((1, 1, 8, 8), dtype=np.int32)
    images[0, 0, 2:5, 3:6] = 4
    hs = hm.HeatmapSet(counts=images, images=images, groups=("g",), classes=("c",), n_images=np.array([8]),
                       n_annotations=np.array([[4]]), n_class_images=np.array([[4]]), method="mask", grid=8)
    peak = hm.map_peak(hs, "g", "c")
    assert (peak["row"], peak["col"], peak["x"], peak["y"], peak["share"]) == (3, 4, 288, 224, 0.5)


# ---------------------------------------------------------------- frame sizes and box stand-ins, from the data


def sized_dataset(tmp_path, sizes: list[tuple[int, int]], kinds: list[str]):
    """One image per size (the files written at that size), one annotation per kind on the first image."""
    images = [b.image(i, f"frame{i}_jpg.rf.{'0' * 32}.jpg", w, h) for i, (w, h) in enumerate(sizes)]
    anns = [b.box_ann(k, 0, 1, [8, 8, 16, 16]) if kind == "box" else b.polygon_ann(k, 0, 1, b.square(8, 8, 16))
            for k, kind in enumerate(kinds)]
    b.write_split(tmp_path / "ds" / "train", b.coco(images, anns, b.categories(["crater"])))
    return load_dataset(tmp_path / "ds")


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        ([(640, 640)] * 3, ((640, 640, 3),)),  # one size
        ([(640, 480), (1024, 1024), (640, 480)], ((640, 480, 2), (1024, 1024, 1))),  # most common first
        ([(100, 100), (200, 200)], ((200, 200, 1), (100, 100, 1))),  # a tie: the larger frame first
        ([(0, 0), (64, 64)], ((64, 64, 1),)),  # an unknown size is left out
        ([(0, 0)], ()),  # none known
    ],
)
def test_frame_sizes(sizes, expected):
    images = pd.DataFrame({"width": [w for w, _ in sizes], "height": [h for _, h in sizes]})
    assert hm.frame_sizes(images) == expected


@pytest.mark.parametrize(
    ("sizes", "grid", "frame", "cell", "note"),
    [
        # XAMI's frames: the text the page always had
        ([(512, 512)], 128, (512, 512), "4 px", "Each map is in pixels of a 512 × 512 frame, y down as in the image; "
                                                "128 × 128 cells of 4 px."),
        # a 1024 px export: its own frame and cells
        ([(1024, 1024)] * 2, 128, (1024, 1024), "8 px", "Each map is in pixels of a 1024 × 1024 frame"),
        # a 640 px export at grid 64
        ([(640, 640)], 64, (640, 640), "10 px", "64 × 64 cells of 10 px."),
        # frames that are not square: cells are not either
        ([(640, 480)], 128, (640, 480), "5 × 3.75 px", "a 640 × 480 frame"),
        # mixed sizes: said, with what the maps are normalised to and which frame the axes show
        ([(640, 640), (640, 640), (1024, 768)], 128, (640, 640), "5 px",
         "Frames differ in size: 640 × 640 px (2 images), 1024 × 768 px (1 image). Each annotation is placed "
         "relative to its own frame (x / width, y / height)"),
    ],
)
def test_frame_text_comes_from_the_data(tmp_path, sizes, grid, frame, cell, note):
    ds = sized_dataset(tmp_path, sizes, ["polygon"])
    hs = hm.dataset_heatmaps(ds, method="box", grid=grid, by="all")
    assert hs.frame == frame and hm.cell_text(hs) == cell and note in hm.frame_note(hs)
    fig = hf.heatmap_figure(hs, "all images", "crater")
    assert list(fig.layout.xaxis.range) == [0, frame[0]] and list(fig.layout.yaxis.range) == [frame[1], 0]
    # The box (8..24 px) of the first image, in the drawn frame's pixels: its cells start at x = 8 * frame / width.
    w0, h0 = sizes[0]
    peak = hm.map_peak(hs, "all images", "crater")
    cw, ch = frame[0] / grid, frame[1] / grid
    assert peak["x"] - cw / 2 <= 24 * frame[0] / w0 and peak["x"] + cw / 2 >= 8 * frame[0] / w0
    assert peak["y"] - ch / 2 <= 24 * frame[1] / h0 and peak["y"] + ch / 2 >= 8 * frame[1] / h0


@pytest.mark.parametrize(
    ("kinds", "method", "label", "note"),
    [
        # a detection export: no mask at all
        (["box"] * 3, "mask", "boxes (no annotation has a mask)",
         "3 of 3 annotations have no mask: their boxes stand in. With no mask at all, these maps are the box method's."),
        # some box-only among polygons
        (["polygon", "box", "polygon", "box"], "mask", "exact masks (boxes for 2 of 4 annotations)",
         "2 of 4 annotations have no mask: their boxes stand in."),
        # one: singular
        (["polygon", "box"], "mask", "exact masks (boxes for 1 of 2 annotations)",
         "1 of 2 annotations has no mask: its box stands in."),
        # masks for all: nothing to say
        (["polygon"] * 2, "mask", "exact masks", None),
        # the box method uses boxes for everything by design: nothing stands in
        (["box"] * 3, "box", "boxes (authors' method)", None),
    ],
)
def test_boxes_standing_in_for_masks_are_counted(tmp_path, kinds, method, label, note):
    ds = sized_dataset(tmp_path, [(640, 640)], kinds)
    hs = hm.dataset_heatmaps(ds, method=method, grid=64, by="all")
    assert hs.n_box_stand_ins == (sum(k == "box" for k in kinds) if method == "mask" else 0)
    assert hm.method_label(hs) == label and hm.stand_in_note(hs) == note
    assert label in hf.heatmap_figure(hs, "all images", "crater").layout.title.text
