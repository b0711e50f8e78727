"""The loader against pycocotools and hand-made fixtures, quirks and bad input included."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import shapely
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from tests import builders as b
from xami_core import XamiDataError, detect_layout, load_dataset
from xami_core.io.loader import source_fingerprint
from xami_core.io.sample import sample_root

# ---------------------------------------------------------------- the sample vs pycocotools


@pytest.mark.parametrize("split", ["train", "valid"])
def test_sample_counts_match_pycocotools(sample_ds, split):
    coco = COCO(str(sample_root() / split / "_annotations.coco.json"))
    imgs = sample_ds.images[sample_ds.images["split"] == split]
    anns = sample_ds.annotations[sample_ds.annotations["split"] == split]
    assert len(imgs) == len(coco.getImgIds())
    assert len(anns) == len(coco.getAnnIds())
    for cat in coco.loadCats(coco.getCatIds()):
        expected = len(coco.getAnnIds(catIds=[cat["id"]]))
        assert (anns["class_name"] == cat["name"]).sum() == expected, cat["name"]
    # per-image annotation counts, through the original COCO ids
    per_image = dict(zip(imgs["coco_id"], imgs["n_annotations"]))
    assert per_image == {i: len(coco.getAnnIds(imgIds=[i])) for i in coco.getImgIds()}


def test_sample_mask_areas_match_pycocotools(sample_ds):
    coco = COCO(str(sample_root() / "train" / "_annotations.coco.json"))
    anns = sample_ds.annotations[(sample_ds.annotations["split"] == "train") & (sample_ds.annotations["kind"] == "polygon")]
    expected = [float(mask_utils.area(coco.annToRLE(coco.anns[i]))) for i in anns["coco_id"]]
    np.testing.assert_array_equal(anns["mask_area"].to_numpy(), expected)


def test_sample_geometry_matches_opencv(sample_ds):
    # Independent computation of polygon extents and areas with OpenCV, part by part.
    anns = sample_ds.annotations[sample_ds.annotations["kind"] == "polygon"].head(200)
    for row in anns.itertuples():
        parts = [np.asarray(p, np.float32).reshape(-1, 2) for p in row.segmentation]  # OpenCV takes float32
        pts = np.concatenate(parts)
        assert row.mask_box_x == pytest.approx(pts[:, 0].min(), abs=1e-4)
        assert row.mask_box_w == pytest.approx(pts[:, 0].max() - pts[:, 0].min(), abs=1e-3)
        assert row.mask_box_h == pytest.approx(pts[:, 1].max() - pts[:, 1].min(), abs=1e-3)
        # Areas in float64 with shapely (OpenCV's float32 points round the sample's 2-decimal vertices).
        exact = sum(shapely.Polygon(np.reshape(p, (-1, 2))).area for p in row.segmentation)
        assert row.polygon_area == pytest.approx(exact, rel=1e-9)
        assert row.polygon_area == pytest.approx(sum(cv2.contourArea(p) for p in parts), rel=1e-4)
        if len(parts) == 1:
            m = cv2.moments(parts[0])
            assert (row.cx, row.cy) == pytest.approx((m["m10"] / m["m00"], m["m01"] / m["m00"]), rel=1e-5)


def test_sample_is_labelled_and_complete(sample_ds):
    assert sample_ds.provenance.synthetic and "synthetic" in sample_ds.provenance.label.lower()
    assert set(sample_ds.splits) == {"train", "valid"}
    assert set(sample_ds.annotations["class_name"]) == set(sample_ds.class_names)
    assert "artefacts" not in sample_ds.class_names  # the unused Roboflow parent is hidden
    assert set(sample_ds.images["filter_letter"]) == set("VBULMSW")
    assert (sample_ds.images["n_annotations"] == 0).sum() >= 3
    assert (sample_ds.annotations["n_parts"] > 1).any() and (sample_ds.annotations["kind"] == "box").sum() == 1
    assert len(sample_ds.images) >= 120 and sample_ds.images["has_file"].all() and not sample_ds.problems


# ---------------------------------------------------------------- quirks on hand-made fixtures

RLE_UNCOMPRESSED = {"size": [512, 512], "counts": [512 * 10 + 20, 5, 507, 5, 512 * 512 - (512 * 10 + 20) - 517]}


def quirks_coco() -> dict:
    images = [b.image(0, b.file_name(743200101, "V")), b.image(1, b.file_name(893811101, "M")), b.image(2, b.file_name(555020101, "U"))]
    anns = [
        b.polygon_ann(10, 0, 3, b.square(10, 10, 20)),                                  # plain polygon
        b.polygon_ann(11, 0, 3, b.square(100, 0, 4), b.square(100, 300, 4)),            # multi-part polygon
        b.polygon_ann(12, 1, 5, bbox=[5, 6, 30, 40]),                                   # box-only ([])
        {"id": 13, "image_id": 1, "category_id": 4, "bbox": [20, 10, 5, 2], "area": 10, "segmentation": RLE_UNCOMPRESSED, "iscrowd": 0},  # RLE
        b.polygon_ann(14, 1, 1, [500.0, 500.0, 530.0, 500.0, 530.0, 530.0]),            # crosses the frame edge
    ]
    return b.coco(images, anns)  # image 2 has no annotation: a hard negative


def test_quirks_load_with_expected_geometry(tmp_path):
    b.write_split(tmp_path / "ds" / "train", quirks_coco())
    ds = load_dataset(tmp_path / "ds")
    ann = ds.annotations.set_index("coco_id")
    assert list(ds.splits) == ["train"] and len(ds.images) == 3 and len(ann) == 5
    assert ann.loc[11, "n_parts"] == 2 and ann.loc[11, "mask_box_h"] == 304
    assert ann.loc[12, "kind"] == "box" and ann.loc[12, "mask_area"] == 1200 and ann.loc[12, "cx"] == 20
    rle = mask_utils.frPyObjects(RLE_UNCOMPRESSED, 512, 512)
    assert ann.loc[13, "kind"] == "rle" and ann.loc[13, "mask_area"] == mask_utils.area(rle)
    assert ann.loc[10, "mask_area"] == mask_utils.area(mask_utils.frPyObjects([b.square(10, 10, 20)], 512, 512))[0]
    assert ann.loc[10, "cx"] == pytest.approx(20) and ann.loc[10, "cy"] == pytest.approx(20)
    img = ds.images.set_index("coco_id")
    assert img.loc[2, "n_annotations"] == 0 and img.loc[2, "strat_label"] == ""
    assert img.loc[0, "strat_label"] == "3" and img.loc[1, "strat_label"] == "145"
    assert img.loc[1, "filter_name"] == "UVM2" and img.loc[0, "obs_key"] == "S0743200101_V"
    assert not ds.problems


@pytest.mark.parametrize(
    ("mutate", "record", "expected", "kept_annotations"),
    [
        # an annotation pointing at an image that does not exist
        (lambda d: d["annotations"].append(b.polygon_ann(20, 99, 3, b.square(0, 0, 5))), "annotation id 20", "image_id 99", 6),
        # an unknown category
        (lambda d: d["annotations"].append(b.polygon_ann(21, 0, 42, b.square(0, 0, 5))), "annotation id 21", "category_id 42", 6),
        # an odd-length polygon: reported, the annotation kept as its box (it counts)
        (lambda d: d["annotations"].append(b.polygon_ann(22, 0, 3, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], bbox=[1, 2, 3, 4])), "annotation id 22, polygon 0", "even number", 7),
        (lambda d: d["annotations"].append(b.polygon_ann(22, 0, 3, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], bbox=[1, 2, 3, 4])), "annotation id 22", "kept as a box-only annotation", 7),
        # a polygon of two points, likewise
        (lambda d: d["annotations"].append(b.polygon_ann(23, 0, 3, [1.0, 2.0, 3.0, 4.0], bbox=[1, 2, 3, 4])), "annotation id 23, polygon 0", "at least 3 points", 7),
        # a bad polygon and an empty box: nothing to keep
        (lambda d: d["annotations"].append(b.polygon_ann(26, 0, 3, [1.0, 2.0, 3.0], bbox=[1, 2, 0, 0])), "annotation id 26", "no usable polygon and no usable bbox", 6),
        # one bad part of a multi-part polygon: the good part is kept
        (lambda d: d["annotations"].append(b.polygon_ann(24, 0, 3, b.square(0, 0, 5), [1.0, 2.0, 3.0])), "annotation id 24, polygon 1", "even number", 7),
        # an annotation without its image id
        (lambda d: d["annotations"].append({"id": 25, "category_id": 3, "segmentation": [b.square(0, 0, 5)]}), "annotation id 25", "missing required key(s): image_id", 6),
        # an image without width
        (lambda d: d["images"].append({"id": 7, "file_name": "x.jpg", "height": 512}), "image id 7", "missing required key(s): width", 6),
    ],
)
def test_bad_records_are_reported_and_the_rest_loads(tmp_path, mutate, record, expected, kept_annotations):
    data = quirks_coco()
    data["annotations"].append(b.polygon_ann(15, 2, 2, b.square(1, 1, 9)))
    mutate(data)
    path = b.write_split(tmp_path / "train", data)
    ds = load_dataset(tmp_path / "train")
    hits = [p for p in ds.problems if p.record == record and expected in p.message]
    assert hits, [str(p) for p in ds.problems]
    assert hits[0].file == str(path)
    assert len(ds.annotations) == kept_annotations


def test_unknown_keys_are_warnings(tmp_path):
    data = quirks_coco()
    data["annotations"][0]["score"] = 0.9
    data["extra_top"] = 1
    b.write_split(tmp_path / "train", data)
    ds = load_dataset(tmp_path / "train")
    messages = {(p.severity, p.message.split(";")[0]) for p in ds.problems}
    assert ("warning", "unknown key 'score' in 1 annotation record(s)") in messages
    assert ("warning", "unknown key 'extra_top'") in messages
    assert len(ds.annotations) == 5


@pytest.mark.parametrize(
    ("valid_text", "expected"),
    [
        ('{"images": [', "malformed JSON"),          # truncated file
        ("[1, 2]", "expected a JSON object"),       # wrong top-level type
        ('{"images": []}', "expected list(s) under key(s): annotations, categories"),
        (None, "annotation file not found"),        # a split folder without its JSON
    ],
)
def test_a_broken_split_is_reported_and_the_others_load(tmp_path, valid_text, expected):
    b.write_split(tmp_path / "ds" / "train", quirks_coco())
    if valid_text is None:
        (tmp_path / "ds" / "valid").mkdir()
    else:
        b.write_split(tmp_path / "ds" / "valid", valid_text)
    ds = load_dataset(tmp_path / "ds")
    assert ds.splits == ["train"] and len(ds.annotations) == 5
    problem = next(p for p in ds.problems if expected in p.message)
    assert problem.file.endswith(str(Path("valid") / "_annotations.coco.json"))
    if valid_text == '{"images": [':
        assert problem.record == "line 1, column 13"


def test_missing_image_file_is_a_warning(tmp_path):
    b.write_split(tmp_path / "train", quirks_coco())
    missing = tmp_path / "train" / quirks_coco()["images"][1]["file_name"]
    missing.unlink()
    ds = load_dataset(tmp_path / "train")
    assert (~ds.images["has_file"]).sum() == 1 and len(ds.annotations) == 5
    assert any(p.file == str(missing) and "missing" in p.message for p in ds.problems)


def test_nothing_loadable_raises_a_clear_error(tmp_path):
    b.write_split(tmp_path / "train", "{not json")
    with pytest.raises(XamiDataError, match=r"No images could be loaded.*malformed JSON"):
        load_dataset(tmp_path / "train")
    # A folder with nothing a layout needs (pytest's shared temp root could hold other tests' files).
    (tmp_path / "empty" / "notes").mkdir(parents=True)
    with pytest.raises(XamiDataError, match="no XAMI layout found"):
        load_dataset(tmp_path / "empty")
    with pytest.raises(XamiDataError, match="no such file"):
        load_dataset(tmp_path / "nope")


def test_input_files_are_never_modified(tmp_path):
    b.write_split(tmp_path / "train", quirks_coco())
    before = {p: hashlib.sha1(p.read_bytes()).hexdigest() for p in (tmp_path / "train").iterdir()}
    load_dataset(tmp_path / "train")
    assert before == {p: hashlib.sha1(p.read_bytes()).hexdigest() for p in (tmp_path / "train").iterdir()}


# ---------------------------------------------------------------- layouts and zips


def _make(tmp_path: Path, layout: str) -> Path:
    data = quirks_coco()
    if layout == "splits":
        b.write_split(tmp_path / "xami_dataset" / "train", data)
        b.write_split(tmp_path / "xami_dataset" / "valid", b.coco([b.image(0)], [b.polygon_ann(0, 0, 4, b.square(3, 3, 3))]))
        return tmp_path / "xami_dataset"
    if layout == "no_splits":
        b.write_split(tmp_path / "xami_dataset_no_splits" / "data", data)
        return tmp_path / "xami_dataset_no_splits"
    b.write_split(tmp_path / "mine", data)
    return tmp_path / "mine"


@pytest.mark.parametrize(
    ("layout", "kind", "splits", "n_ann"),
    [
        ("splits", "coco-splits", ["train", "valid"], 6),     # the published split layout
        ("no_splits", "coco-single", ["all"], 5),             # xami_dataset_no_splits/data/
        ("single", "coco-single", ["all"], 5),                # one folder with one COCO file
    ],
)
@pytest.mark.parametrize("zipped", [False, True])
def test_layouts_folder_and_zip(tmp_path, layout, kind, splits, n_ann, zipped):
    root = _make(tmp_path / "src", layout)
    path = b.zip_folder(root.parent, tmp_path / "data.zip") if zipped else root
    assert detect_layout(root).kind == kind
    ds = load_dataset(path)
    assert ds.splits == splits and len(ds.annotations) == n_ann
    assert ds.provenance.path == str(path)


def test_fingerprint_changes_when_a_file_is_edited(tmp_path):
    path = b.write_split(tmp_path / "train", quirks_coco())
    first = source_fingerprint(tmp_path)
    data = json.loads(path.read_text())
    data["annotations"].pop()
    path.write_text(json.dumps(data))
    assert source_fingerprint(tmp_path) != first
    assert len(load_dataset(tmp_path)) if False else len(load_dataset(tmp_path).annotations) == 4


def test_classes_follow_names_whatever_the_file_ids(tmp_path):
    # A file numbering the classes 0..4 with no Roboflow parent (as in the authors' no_splits notebook).
    from xami_core.analysis import folds as F
    from xami_core.io import fold_files
    from xami_core.model import CLASS_NAMES

    cats = [{"id": i, "name": name, "supercategory": "none"} for i, name in enumerate(CLASS_NAMES)]
    data = b.coco([b.image(0), b.image(1), b.image(2), b.image(3)],
                  [b.polygon_ann(0, 0, 2, b.square(10, 10, 20)),  # read-out-streak
                   b.polygon_ann(1, 0, 4, b.square(50, 50, 20)),  # star-loop
                   b.polygon_ann(2, 1, 0, b.square(250, 270, 20)),  # central-ring
                   b.polygon_ann(3, 3, 3, b.square(90, 90, 10))], cats)  # smoke-ring
    b.write_split(tmp_path / "ds", data)
    ds = load_dataset(tmp_path / "ds")
    img = ds.images.set_index("image_id")
    assert img.loc[0, "classes"] == {"read-out-streak", "star-loop"} and img.loc[1, "classes"] == {"central-ring"}
    assert img.loc[2, "classes"] == frozenset()
    # the authors' label strings keep the file's own ids
    assert list(img["strat_label"]) == ["24", "0", "", "3"]
    # the per-fold COCO export names every annotation's class as the input did
    folds = F.make_folds(ds, "kfold", 2, 0)
    exported = {}
    for coco in fold_files.fold_coco(ds, folds).values():
        name_of = {c["id"]: c["name"] for c in coco["categories"]}
        exported |= {a["id"]: name_of[a["category_id"]] for a in coco["annotations"]}
    assert exported == dict(zip(ds.annotations["coco_id"], ds.annotations["class_name"]))
