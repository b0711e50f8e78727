"""The bulk load path: the same tables and problems as reading record by record, and geometry that
matches an independent computation (pycocotools mask areas, a plain shoelace per polygon), on every
fixture the tests load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pycocotools import mask as mask_utils

from tests import builders as b
from tests.test_yolo import coco_to_yolo
from xami_core import load_dataset, sample_root
from xami_core.io import coco as coco_reader
from xami_core.io import tables

CASES = Path(__file__).resolve().parent / "data" / "cases"


def _problem_mix() -> dict:
    """One COCO file holding, between clean records, one of each kind of problem an annotation can have."""
    sq = b.square(10, 10, 20)
    anns = [
        b.polygon_ann(1, 1, 1, sq),                                              # clean, float coordinates
        b.polygon_ann(2, 1, 2, [10, 10, 40, 10, 40, 40, 10, 40]),               # clean, integer coordinates
        b.polygon_ann(3, 2, 3, sq, b.square(20, 20, 20)),                        # two overlapping parts: merged
        b.polygon_ann(4, 2, 4, sq, b.square(200, 200, 10)),                      # two parts apart: areas add up
        b.box_ann(5, 2, 5, [5.0, 6.0, 7.0, 8.0]),                                # box only
        {"id": 6, "image_id": 3, "category_id": 1, "bbox": [0, 0, 2, 2], "area": 3,
         "segmentation": {"size": [200, 300], "counts": [0, 3, 197, 3, 59797]}},  # uncompressed RLE
        b.polygon_ann(1, 1, 1, sq),                                              # duplicate id: later skipped
        b.polygon_ann(8.0, 1, 1, sq),                                            # float id read as 8 ...
        b.polygon_ann(8, 1, 2, sq),                                              # ... so this 8 is a duplicate
        b.polygon_ann("s9", 1, 1, sq),                                           # string id
        b.polygon_ann(10, "2", 1, sq),                                           # image id as a string
        b.polygon_ann(11, 1, 99, sq),                                            # unknown category
        b.polygon_ann(12, 1, 1, sq) | {"bbox": [1, 2, 3]},                        # bad bbox: ignored, kept
        b.polygon_ann(13, 1, 1, sq) | {"area": -5},                              # bad area: mask area used
        b.polygon_ann(14, 1, 1, sq) | {"area": True},                            # boolean area
        b.polygon_ann(15, 1, 1, [10, 10, True, 10, 30, 30]),                    # boolean coordinate
        b.polygon_ann(16, 1, 1, [10, 10, 30, 10, 30, 30, 10]),                  # odd count
        b.polygon_ann(17, 1, 1, [10, 10, 30, 10]),                              # fewer than 3 points
        b.polygon_ann(18, 1, 1, [10, 10, 1e9, 10, 30, 30]),                     # far outside the frame
        b.polygon_ann(19, 1, 1, sq) | {"segmentation": [sq, 7]},                 # one part not a list
        b.polygon_ann(20, 1, 1, sq) | {"segmentation": None},                    # segmentation null
        {"id": 21, "image_id": 1, "bbox": [1, 1, 2, 2], "segmentation": []},      # no category_id
        {"id": 22, "image_id": 1, "category_id": 1, "segmentation": []},          # no segmentation, no box
        b.polygon_ann(True, 1, 1, sq),                                           # boolean id
        b.polygon_ann(24, 1, 1, [10, 10, 30, 10, 30, 30], bbox=[-1, 0, 5, 5]),  # clean, box at the edge
        b.polygon_ann(25, 3, 2, b.square(0.5, 0.5, 1e-6)),                      # degenerate: vertex mean
        b.polygon_ann(26, 3, 2, *[b.square(1, 1, 5)] * 1001),                   # too many parts: first 1,000 read
    ]
    images = [b.image(1), b.image(2), b.image(3, width=300, height=200)]
    return b.coco(images, anns)


def _outside_mix() -> dict:
    """Clean records, and polygons with one vertex far outside the frame on each side (boxes usable)."""
    box = {"bbox": [10.0, 10.0, 20.0, 20.0], "area": 100.0}
    far = [[10, 10, 30, 10, 3000, 30], [10, 10, 30, 10, 30, 3000], [-3000, 10, 30, 10, 30, 30],
           [10, -3000, 30, 10, 30, 30]]
    anns = [b.polygon_ann(1, 1, 1, b.square(10, 10, 20))]
    anns += [b.polygon_ann(2 + k, 1, 1, b.square(10, 10, 20), part) | box for k, part in enumerate(far)]
    return b.coco([b.image(1)], anns)


def _fixture(name: str, tmp: Path) -> Path:
    """The folder of fixture `name` (written under `tmp` when built in code)."""
    if name == "sample":
        return sample_root()
    if name.startswith("cases/"):
        return CASES / name.removeprefix("cases/")
    if name == "filter mix":
        return b.write_filter_mix(tmp / "mix")
    if name == "outside mix":
        b.write_split(tmp / "outside" / "train", _outside_mix())
        return tmp / "outside"
    if name == "problem mix":
        b.write_split(tmp / "problems" / "train", _problem_mix())
        return tmp / "problems"
    return coco_to_yolo(sample_root(), tmp / "yolo")  # "yolo"


COCO_FIXTURES = ["sample", "cases/huge-coord", "cases/string-ids", "cases/subfolder", "cases/wh-mismatch",
                 "filter mix", "problem mix", "outside mix"]


@pytest.mark.parametrize("name", COCO_FIXTURES)
def test_bulk_path_gives_what_record_by_record_reading_gives(name, tmp_path, monkeypatch):
    fast = load_dataset(_fixture(name, tmp_path))
    # Every record the record-by-record way, as the loader read them all before the bulk path.
    monkeypatch.setattr(coco_reader, "_screen_annotations", lambda raw, images, cat_ids: [None] * len(raw))
    slow = load_dataset(_fixture(name, tmp_path))
    assert [str(p) for p in fast.problems] == [str(p) for p in slow.problems]
    pd.testing.assert_frame_equal(fast.images, slow.images)
    rest = [c for c in fast.annotations.columns if c != "segmentation"]
    pd.testing.assert_frame_equal(fast.annotations[rest], slow.annotations[rest])
    assert fast.annotations["segmentation"].tolist() == slow.annotations["segmentation"].tolist()


def test_problem_mix_takes_the_bulk_path_for_its_clean_records(tmp_path):
    # Clean records with an id no other record has come out of the bulk path; the RLE (6), the
    # ids written twice (1, and 8 as 8.0 and 8) and every record with a problem go record by record.
    raw = _problem_mix()
    images = {im["id"]: im for im in raw["images"]}
    parsed = coco_reader._screen_annotations(raw["annotations"], images, {c["id"] for c in raw["categories"]})
    assert [p["coco_id"] for p in parsed if p is not None] == [2, 3, 4, 5, 24, 25]
    ds = load_dataset(_fixture("problem mix", tmp_path))
    assert sorted(ds.annotations["coco_id"].astype(str)) == sorted(
        ["1", "2", "3", "4", "5", "6", "8", "s9", "10", "12", "13", "14", "15", "19", "24", "25", "26"])


def _shoelace(parts: list[list[float]]) -> tuple[float, float, float]:
    """Area and centroid of polygon parts, one part at a time: parts weighted by their absolute area."""
    area = mx = my = 0.0
    for part in parts:
        xy = np.asarray(part, dtype=np.float64).reshape(-1, 2)
        x, y = xy[:, 0] - xy[0, 0], xy[:, 1] - xy[0, 1]  # about the first vertex
        x1, y1 = np.roll(x, -1), np.roll(y, -1)
        cross = x * y1 - x1 * y
        a = cross.sum() / 2
        area += abs(a)
        mx += np.sign(a) * (((x + x1) * cross).sum() / 6 + xy[0, 0] * a)
        my += np.sign(a) * (((y + y1) * cross).sum() / 6 + xy[0, 1] * a)
    if area <= 1e-9:  # no area: the mean of the vertices
        every = np.concatenate([np.reshape(p, (-1, 2)) for p in parts])
        return area, float(every[:, 0].mean()), float(every[:, 1].mean())
    return area, mx / area, my / area


def _expected(ds) -> pd.DataFrame:
    """The geometry columns computed annotation by annotation, independently of the loader."""
    rows = []
    for ann in ds.annotations.itertuples():
        h, w = ds.images.at[ann.image_id, "height"], ds.images.at[ann.image_id, "width"]
        if ann.kind == "polygon":
            every = np.concatenate([np.reshape(p, (-1, 2)) for p in ann.segmentation])
            (x0, y0), (x1, y1) = every.min(axis=0), every.max(axis=0)
            rle = mask_utils.merge(mask_utils.frPyObjects(ann.segmentation, int(h), int(w)))  # COCO.annToRLE
            area, cx, cy = _shoelace(ann.segmentation)
            rows.append((x0, y0, x1 - x0, y1 - y0, float(mask_utils.area(rle)), area, cx, cy, len(every),
                         len(ann.segmentation)))
        elif ann.kind == "rle":
            seg = ann.rle  # the RLE dict (the segmentation column holds polygons only)
            rle = mask_utils.frPyObjects(seg, *seg["size"]) if isinstance(seg["counts"], list) else seg
            ys, xs = np.nonzero(mask_utils.decode(rle))
            x, y, bw, bh = mask_utils.toBbox(rle)
            rows.append((x, y, bw, bh, float(mask_utils.area(rle)), np.nan, xs.mean() + 0.5, ys.mean() + 0.5, 0, 0))
        else:
            rows.append((ann.bbox_x, ann.bbox_y, ann.bbox_w, ann.bbox_h, ann.bbox_w * ann.bbox_h, np.nan,
                         ann.bbox_x + ann.bbox_w / 2, ann.bbox_y + ann.bbox_h / 2, 0, 0))
    return pd.DataFrame(rows, columns=["mask_box_x", "mask_box_y", "mask_box_w", "mask_box_h", "mask_area",
                                       "polygon_area", "cx", "cy", "n_vertices", "n_parts"])


@pytest.mark.parametrize("name", [*COCO_FIXTURES, "yolo"])
def test_tables_match_an_independent_computation(name, tmp_path):
    ds = load_dataset(_fixture(name, tmp_path))
    ann, images = ds.annotations, ds.images
    expected = _expected(ds)
    for column in ("n_vertices", "n_parts"):  # counts: exact
        np.testing.assert_array_equal(ann[column].to_numpy(), expected[column].to_numpy(), err_msg=column)
    for column in ("mask_box_x", "mask_box_y", "mask_box_w", "mask_box_h", "mask_area", "polygon_area", "cx", "cy"):
        np.testing.assert_allclose(ann[column].to_numpy(), expected[column].to_numpy(), rtol=1e-9, err_msg=column)
    per_image = ann.groupby("image_id").size().reindex(images["image_id"], fill_value=0)
    np.testing.assert_array_equal(images["n_annotations"].to_numpy(), per_image.to_numpy())
    labels = {i: "".join(sorted({str(c) for c in group})) for i, group in ann.groupby("image_id")["category_id"]}
    assert images["strat_label"].tolist() == [labels.get(i, "") for i in images["image_id"]]


def test_geometry_in_chunks_gives_the_same_tables(monkeypatch):
    # The polygon geometry is measured in chunks of annotations: chunks of 7 give what one chunk gives.
    whole = load_dataset(sample_root())
    monkeypatch.setattr(tables, "GEOMETRY_CHUNK", 7)
    chunked = load_dataset(sample_root())
    pd.testing.assert_frame_equal(chunked.annotations.drop(columns="segmentation"),
                                  whole.annotations.drop(columns="segmentation"))
