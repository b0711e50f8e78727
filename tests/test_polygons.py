"""The columnar polygon layout (xami_core/polygons.py): what the loader stores and how consumers read rows back."""

from __future__ import annotations

import gc
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from tests import builders as b
from xami_core import load_dataset
from xami_core.polygons import POLYGON_DTYPE, mask_cells, polygon_arrays, polygon_parts, polygons_from_parts

RLE = {"size": [64, 64], "counts": [0, 2, 62, 2, 64 * 64 - 66]}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A set with one annotation of each kind: polygons of one and two parts, a box-only one, an RLE."""
    root = tmp_path_factory.mktemp("mixed")
    b.write_split(root / "train", b.coco(
        [b.image(1, width=64, height=64), b.image(2, width=64, height=64)],
        [b.polygon_ann(1, 1, 3, b.square(1, 1, 5)), b.box_ann(2, 1, 4, [2, 2, 3, 3]),
         {"id": 3, "image_id": 2, "category_id": 5, "bbox": [0, 0, 2, 2], "area": 4, "iscrowd": 1, "segmentation": RLE},
         b.polygon_ann(4, 2, 1, b.square(1.5, 1.25, 5), b.square(20, 20, 4))]))
    return root, load_dataset(root)


def _written(root) -> list:
    """The segmentation of each annotation as the file writes it, in file order."""
    data = json.loads((root / "train" / "_annotations.coco.json").read_text())
    return [a["segmentation"] for a in data["annotations"]]


def test_polygons_are_one_arrow_column_and_rles_a_sparse_one(mixed):
    _, ds = mixed
    ann = ds.annotations
    assert ann["segmentation"].dtype == POLYGON_DTYPE
    assert ann["segmentation"].isna().tolist() == [False, True, True, False]  # box-only and RLE: null
    assert ann["rle"].tolist() == [None, None, RLE, None]


def test_mask_cells_give_each_mask_as_the_file_writes_it(mixed):
    root, ds = mixed
    written = _written(root)
    expected = [written[0], None, RLE, written[3]]  # a box-only annotation ([] in the file) has no mask
    assert mask_cells(ds.annotations).tolist() == expected
    assert [type(c) for c in mask_cells(ds.annotations)] == [list, type(None), dict, list]
    # only the rows asked for, in the order asked, by positions or a mask
    assert mask_cells(ds.annotations, [3, 2]).tolist() == [expected[3], expected[2]]
    assert mask_cells(ds.annotations, np.array([True, False, False, True])).tolist() == [expected[0], expected[3]]
    # rows of a selection (what a page holds: one image's annotations)
    assert mask_cells(ds.annotations_of(1)).tolist() == expected[2:]


def test_polygon_parts_and_flat_arrays_agree(mixed):
    root, ds = mixed
    written = _written(root)
    assert polygon_parts(ds.annotations) == [written[0], [], [], written[3]]
    assert polygon_parts(ds.annotations, [3]) == [written[3]]
    arrays = polygon_arrays(ds.annotations)
    assert arrays.n_parts.tolist() == [1, 0, 0, 2]
    assert arrays.part_lengths.tolist() == [8, 8, 8]
    np.testing.assert_array_equal(arrays.coords, np.concatenate([written[0][0], *written[3]]))
    assert [v.tolist() for v in arrays.part_views()] == [written[0][0], *written[3]]


def test_an_object_column_is_read_as_it_is():
    # Frames built by hand (and prediction tables) keep parts, RLE dicts and None in one object column.
    cells = [[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]], RLE, None]
    frame = pd.DataFrame({"segmentation": pd.Series(cells, dtype=object)})
    assert mask_cells(frame).tolist() == cells
    assert polygon_parts(frame) == [cells[0], [], []]
    assert polygon_arrays(frame, [0]).coords.tolist() == cells[0][0]


def test_a_column_built_from_part_lists_reads_back_equal_after_row_selection_and_concat():
    cells = [[[0.5, 1.0, 2.0, 1.0, 2.0, 3.0]], None, [[1.0, 1.0, 4.0, 1.0, 4.0, 4.0], [9.0, 9.0, 12.0, 9.0, 12.0, 12.0]], []]
    frame = pd.DataFrame({"segmentation": polygons_from_parts(cells), "k": range(4)})
    both = pd.concat([frame, frame[frame["k"] > 1]], ignore_index=True)  # two Arrow chunks
    expected = [cells[0], [], cells[2], [], cells[2], []]
    assert polygon_parts(both) == expected
    assert polygon_parts(both, [4, 0]) == [expected[4], expected[0]]
    assert isinstance(both["segmentation"].array.__arrow_array__(), pa.ChunkedArray)


@pytest.mark.parametrize("rows", [
    [0, 2, 3],  # increasing, the skipped row owns no part: the coordinates are a view
    [3, 0],  # out of order: gathered
    [2, 2, 0],  # a row twice
    [1],  # a row without a polygon only
    [],  # no row
])
def test_take_selects_rows_of_the_flat_arrays(rows):
    cells = [[[0.5, 1.0, 2.0, 1.0, 2.0, 3.0]], None, [[1.0, 1.0, 4.0, 1.0, 4.0, 4.0], [9.0, 9.0, 12.0, 9.0, 12.0, 12.0]],
             [[7.0, 7.0, 8.0, 7.0, 8.0, 8.0]]]
    frame = pd.DataFrame({"segmentation": polygons_from_parts(cells)})
    taken = polygon_arrays(frame).take(np.array(rows, dtype=np.int64))
    assert taken.to_lists() == [cells[i] or [] for i in rows]
    assert taken.to_lists() == polygon_parts(frame, np.array(rows, dtype=np.int64))


@pytest.mark.parametrize("enabled", [True, False])
def test_reading_lists_leaves_the_garbage_collector_as_it_found_it(enabled):
    frame = pd.DataFrame({"segmentation": polygons_from_parts([[[0.5, 1.0, 2.0, 1.0, 2.0, 3.0]]])})
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        assert polygon_parts(frame) == [[[0.5, 1.0, 2.0, 1.0, 2.0, 3.0]]]
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def test_a_column_beyond_arrow_list_offsets_is_refused_before_it_is_built():
    # Offsets past int32 would wrap silently in the Arrow list; the column refuses them (no 2**31 coordinates made).
    from xami_core.polygons import PolygonArrays, polygon_column

    huge = PolygonArrays(np.zeros(0), np.array([0, 2**31], dtype=np.int64), np.array([0, 1], dtype=np.int64))
    with pytest.raises(ValueError, match="polygon coordinates"):
        polygon_column(huge, np.array([True]))
