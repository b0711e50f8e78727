"""Reading predictions: COCO results and YOLO text files matched to a dataset, the Ultralytics conventions,
every kind of bad input named with its file and record, and the synthetic prediction set."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pycocotools import mask as mask_utils

from tests import builders as b
from xami_core import load_dataset
from xami_core.analysis import evaluation as EV
from xami_core.io import predictions as P
from xami_core.io.sample_predictions import (
    SYNTHETIC_NAME,
    synthetic_predictions,
    write_synthetic_predictions,
)
from xami_core.model import XamiDataError

NAMES = [b.file_name(100000001, "L", "a"), b.file_name(100000002, "U", "b"), "123.jpg"]


def stem(name: str) -> str:
    return name.rsplit(".", 1)[0]


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    """Three 64 x 48 images (ids 10, 11, 12; the third named '123.jpg'), one annotation each."""
    root = tmp_path_factory.mktemp("preds")
    images = [b.image(10 + i, name, width=64, height=48) for i, name in enumerate(NAMES)]
    anns = [b.polygon_ann(1 + i, 10 + i, 1 + i, b.square(5, 5, 20)) for i in range(3)]
    return load_dataset(b.write_split(root / "data", b.coco(images, anns)).parent)


def rec(image_id=10, category_id=1, score=0.9, **extra) -> dict:
    """One results record: a polygon square and its box, unless `extra` says otherwise."""
    return {"image_id": image_id, "category_id": category_id, "score": score,
            "segmentation": [b.square(6, 6, 18)], "bbox": [6.0, 6.0, 18.0, 18.0]} | extra


def read(ds, tmp_path: Path, records, **kwargs) -> P.Predictions:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(records))
    return P.read_coco_results(path, ds, **kwargs)


def test_coco_results_table(ds, tmp_path):
    rle = {"size": [48, 64], "counts": [5 * 48 + 5, 10, 38, 10, 3072 - 5 * 48 - 5 - 58]}
    preds = read(ds, tmp_path, [rec(), rec(image_id=11, category_id=2, segmentation=rle, score=0.5),
                                rec(image_id=12, category_id=3, score=0.25, bbox=[1.0, 2.0, 3.0, 4.0]) | {}])
    t = preds.table
    assert list(t.columns) == list(P.PREDICTION_COLUMNS)
    assert t["image_id"].tolist() == [0, 1, 2] and t["category_id"].tolist() == [1, 2, 3]
    assert t["class_name"].tolist() == ["central-ring", "other", "read-out-streak"]
    assert t["kind"].tolist() == ["polygon", "rle", "polygon"]
    assert t.loc[1, "mask_area"] == 20  # two runs of 10 pixels
    assert t.loc[0, "area"] == 18 * 18  # a given box: COCO.loadRes' area is the box's
    assert preds.name == "results" and preds.n_left_out == 0 and not preds.synthetic
    assert preds.splits(ds) == ["all"] and preds.image_ids().tolist() == [0, 1, 2]


@pytest.mark.parametrize(("records", "reason", "message"), [
    # a record that is not an object
    ([rec(), 7], P.NOT_AN_OBJECT, "record 1 | expected an object, found int"),
    # no score, a NaN score, a boolean score
    ([rec(), {k: v for k, v in rec().items() if k != "score"}], P.NO_SCORE, "record 1 (image_id 10, category_id 1) | found no 'score'"),
    ([rec(), rec(score=float("nan"))], P.NO_SCORE, "record 1 (image_id 10, category_id 1) | score nan"),
    ([rec(), rec(score=True)], P.NO_SCORE, "score True"),
    # an image id the dataset does not hold, a stem of no image (outside the dataset)
    ([rec(), rec(image_id=999)], P.UNKNOWN_IMAGE, "record 1 (image_id 999, category_id 1) | image_id 999 is neither"),
    ([rec(), rec(image_id="S9999999999_L_other")], P.UNKNOWN_IMAGE, "image_id 'S9999999999_L_other' is neither"),
    # a category id of no class, the hidden parent category
    ([rec(), rec(category_id=9)], P.UNKNOWN_CATEGORY, "category_id 9 is not a class of the dataset; expected a category id of the dataset (1 "),
    ([rec(), rec(category_id=0)], P.UNKNOWN_CATEGORY, "category_id 0 is not a class"),
    # empty segmentations: [], [[]], an RLE of no pixel
    ([rec(), rec(segmentation=[])], P.EMPTY_SEGMENTATION, "segmentation is empty"),
    ([rec(), rec(segmentation=[[]])], P.EMPTY_SEGMENTATION, "segmentation is empty"),
    ([rec(), rec(segmentation={"size": [48, 64], "counts": [3072]})], P.EMPTY_SEGMENTATION, "covers no pixel"),
    # coordinates far outside the frame: a polygon vertex, a box
    ([rec(), rec(segmentation=[[1, 1, 5000, 1, 5, 9]])], P.OUTSIDE_FRAME, "coordinates x 1..5000"),
    ([rec(), rec(segmentation=None, bbox=[0, 0, 1e9, 4])] , P.BAD_GEOMETRY, "expected a list of polygons"),
    ([rec(), {k: v for k, v in rec(bbox=[0, 0, 1e9, 4]).items() if k != "segmentation"}], P.OUTSIDE_FRAME,
     "lies far outside the 64 x 48 frame"),
    # malformed geometry: odd coordinates, an RLE of the wrong size, neither mask nor box
    ([rec(), rec(segmentation=[[1, 1, 5, 1, 5]])], P.BAD_GEOMETRY, "expected an even number"),
    ([rec(), rec(segmentation={"size": [10, 10], "counts": [100]})], P.BAD_GEOMETRY, "does not match the image's size"),
    ([rec(), {"image_id": 10, "category_id": 1, "score": 0.5}], P.BAD_GEOMETRY, "found neither"),
])
def test_bad_records_are_left_out_and_named(ds, tmp_path, records, reason, message):
    preds = read(ds, tmp_path, records)
    assert len(preds.table) == len(records) - 1  # the rest still loads
    assert preds.left_out == {reason: 1}
    errors = [p for p in preds.problems if p.severity == "error"]
    assert len(errors) == 1 and errors[0].file == str(tmp_path / "results.json")
    record, text = message.split(" | ") if " | " in message else (None, message)
    if record is not None:
        assert errors[0].record == record
    assert text in errors[0].message and errors[0].message.endswith("left out")


def test_unusable_box_beside_a_mask_is_a_warning(ds, tmp_path):
    preds = read(ds, tmp_path, [rec(bbox=[0, 0, "wide", 3])])
    assert len(preds.table) == 1 and not preds.table.loc[0, "bbox_given"]
    assert preds.table.loc[0, "area"] == preds.table.loc[0, "mask_area"]
    assert [p.severity for p in preds.problems] == ["warning"]


@pytest.mark.parametrize(("content", "message"), [
    ({"annotations": []}, "expected a JSON list of result records"),  # a COCO file, not results
    ("[{", "malformed JSON"),
])
def test_files_that_are_not_results(ds, tmp_path, content, message):
    path = tmp_path / "results.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(XamiDataError, match=message):
        P.read_coco_results(path, ds)


def test_size_and_count_bounds(ds, tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    path.write_text(json.dumps([rec()] * 5))
    monkeypatch.setattr(P, "MAX_PREDICTIONS", 3)
    preds = P.read_coco_results(path, ds)
    assert len(preds.table) == 3 and preds.left_out == {P.OVER_LIMIT: 2}
    monkeypatch.setenv("XAMI_MAX_JSON_MB", "0.0001")
    with pytest.raises(XamiDataError, match="XAMI_MAX_JSON_MB"):
        P.read_coco_results(path, ds)
    with pytest.raises(XamiDataError, match="not found"):
        P.read_coco_results(tmp_path / "missing.json", ds)


def test_many_bad_records_are_counted_with_examples(ds, tmp_path):
    preds = read(ds, tmp_path, [rec(image_id=1000 + i) for i in range(12)] + [rec()])
    assert len(preds.table) == 1 and preds.left_out == {P.UNKNOWN_IMAGE: 12}
    errors = [p for p in preds.problems if p.severity == "error"]
    assert len(errors) == P.MAX_EXAMPLES + 1  # five named, then one line for the other seven
    assert "7 more record(s)" in errors[-1].message and "record 5" in errors[-1].message
    summary = [p for p in preds.problems if p.record == "image_id"]
    assert "12 record(s) name 12 image(s)" in summary[0].message


def test_ultralytics_stems_and_class_map(ds, tmp_path):
    """Ultralytics: image_id is the file stem (an int when all digits), category_id its own index map."""
    model_names = ["read-out-streak", "other", "central-ring"]  # the model's own class order
    records = [
        rec(image_id=stem(NAMES[0]), category_id=2),  # index 2 + first id 0: central-ring
        rec(image_id=stem(NAMES[1]), category_id=1),  # other
        rec(image_id=123, category_id=0),  # '123.jpg': no image has id 123, its stem matches
        rec(image_id=stem(NAMES[0]), category_id=7),  # no class 7 in the model's map
    ]
    preds = read(ds, tmp_path, records, category_names=P.yolo_category_names(model_names, first_id=0))
    t = preds.table
    assert t["image_id"].tolist() == [0, 1, 2]
    assert t["class_name"].tolist() == ["central-ring", "other", "read-out-streak"]
    assert preds.left_out == {P.UNKNOWN_CATEGORY: 1}
    # Without the names, ids are the dataset's: 0 and 7 match nothing, and the message says what to do.
    plain = read(ds, tmp_path, records)
    assert len(plain.table) == 2 and plain.left_out == {P.UNKNOWN_CATEGORY: 2}
    assert any("--names" in p.message for p in plain.problems)
    assert P.yolo_category_names(["a", "b"]) == {1: "a", 2: "b"}
    # Ids written as integral floats (numpy through a custom writer) are the ints they stand for.
    floats = read(ds, tmp_path, [rec(image_id=11.0, category_id=2.0), rec(image_id=11.5)])
    assert floats.table["image_id"].tolist() == [1] and floats.left_out == {P.UNKNOWN_IMAGE: 1}
    with pytest.raises(XamiDataError, match="none of the model's class names"):
        read(ds, tmp_path, records, category_names={0: "cat", 1: "dog"})


def test_ids_of_several_splits(tmp_path):
    """Each split of a COCO export numbers its images from 0: ids alone cannot say which image is meant."""
    root = tmp_path / "two"
    for split, tag, n in (("train", "a", 3), ("valid", "b", 2)):
        images = [b.image(i, b.file_name(200000000 + i, "V", tag + split[0]), width=64, height=48) for i in range(n)]
        b.write_split(root / split, b.coco(images, [b.polygon_ann(1, 0, 1, b.square(5, 5, 20))]))
    two = load_dataset(root)
    with pytest.raises(XamiDataError, match="more than one split .*train, valid"):
        read(two, tmp_path, [rec(image_id=0), rec(image_id=1)])
    preds = read(two, tmp_path, [rec(image_id=0), rec(image_id=1)], split="valid")
    assert two.images.set_index("image_id").loc[preds.table["image_id"], "split"].tolist() == ["valid", "valid"]
    with pytest.raises(XamiDataError, match="not a split"):
        read(two, tmp_path, [rec(image_id=0)], split="test")
    # Ids that only one split holds all of (2 is no valid image) are read as that split's, and said so.
    train = read(two, tmp_path, [rec(image_id=0), rec(image_id=2)])
    assert train.table["image_id"].tolist() == [0, 2] and preds.splits(two) == ["valid"]
    assert [p.message for p in train.problems] == ["image ids read as ids of split 'train', the split that holds all "
                                                   "of them"]
    # Stems are unambiguous across splits.
    by_stem = read(two, tmp_path, [rec(image_id=stem(two.images.loc[4, "file_name"]))])
    assert by_stem.table["image_id"].tolist() == [4]


def write_txt(folder: Path, name: str, lines: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join(lines) + "\n")


def test_yolo_prediction_files(ds, tmp_path):
    labels = tmp_path / "predict" / "labels"  # as Ultralytics saves them: runs/segment/predict/labels
    write_txt(labels, stem(NAMES[0]) + ".txt", [
        "0 0.25 0.25 0.5 0.25 0.5 0.5 0.25 0.5 0.875",  # a square, conf 0.875
        "2 0.5 0.5 0.25 0.5 0.6",  # a box: cx cy w h conf
        "1 0.1 0.1 0.2 0.1 0.2 0.2",  # no confidence (save_conf=False): wrong number of values
        "1 0.1 0.1 0.2 0.1 0.2 0.2 0.1 0.2 nan",  # a NaN confidence
        "1 0.1 0.1 90 0.1 0.2 0.2 0.7",  # far outside the frame
        "7 0.1 0.1 0.2 0.1 0.2 0.2 0.7",  # no class 7
        "",
    ])
    write_txt(labels, "S0000000000_Q_unknown.txt", ["0 0.1 0.1 0.2 0.1 0.2 0.2 0.5", "0 0.1 0.1 0.2 0.1 0.2 0.2 0.5"])
    preds = P.load_predictions(labels.parent, ds)
    t = preds.table
    assert preds.name == "predict" and len(t) == 2
    assert t.loc[0, "segmentation"] == [[16.0, 12.0, 32.0, 12.0, 32.0, 24.0, 16.0, 24.0]]  # 64 x 48 px
    assert (t.loc[0, "score"], t.loc[0, "class_name"]) == (0.875, "central-ring")
    assert t.loc[1, ["kind", "bbox_x", "bbox_y", "bbox_w", "bbox_h"]].tolist() == ["box", 24.0, 12.0, 16.0, 24.0]
    assert t.loc[1, "class_name"] == "read-out-streak" and t.loc[1, "record"].endswith("line 2")
    assert preds.left_out == {P.WRONG_VALUES: 1, P.NO_SCORE: 1, P.OUTSIDE_FRAME: 1, P.UNKNOWN_CATEGORY: 1,
                              P.UNKNOWN_IMAGE: 2}
    by_record = {p.record: p for p in preds.problems}
    assert "save_conf=True" in by_record["line 3"].message and by_record["line 3"].file.endswith(NAMES[0][:-4] + ".txt")
    assert "far outside" in by_record["line 5"].message
    assert "no image file stem" in by_record["file"].message
    # A box-only prediction has no mask: segm leaves it out and says so.
    ev = EV.evaluate(ds, preds, "segm")
    assert len(ev.dt) == 1 and ev.left_out == {"box-only prediction (no mask for segm)": 1}


def test_yolo_names_and_missing_folder(ds, tmp_path):
    folder = tmp_path / "yolo"
    write_txt(folder, stem(NAMES[1]) + ".txt", ["1 0.1 0.1 0.3 0.1 0.3 0.3 0.5"])
    preds = P.read_yolo_predictions(folder, ds, names=["star-loop", "smoke-ring"], name="model b")
    assert preds.table["class_name"].tolist() == ["smoke-ring"] and preds.label == "model b"
    with pytest.raises(XamiDataError, match="not found"):
        P.read_yolo_predictions(tmp_path / "nothing", ds)


def test_results_round_trip(ds, tmp_path):
    mask = np.zeros((48, 64), dtype=np.uint8, order="F")
    mask[10:20, 30:45] = 1
    counts = mask_utils.encode(mask)["counts"].decode()
    preds = read(ds, tmp_path, [rec(), rec(image_id=11, segmentation={"size": [48, 64], "counts": counts})])
    assert preds.table["kind"].tolist() == ["polygon", "rle"] and preds.table.loc[1, "mask_area"] == 150
    again = P.coco_results_to_predictions(P.predictions_to_coco_results(preds, ds), ds, name="again", source="memory")
    cols = ["image_id", "category_id", "score", "kind", "bbox_x", "bbox_y", "bbox_w", "bbox_h", "mask_area", "area"]
    pd.testing.assert_frame_equal(again.table[cols], preds.table[cols])
    by_stem = P.predictions_to_coco_results(preds, ds, image_key="stem")
    assert [r["image_id"] for r in by_stem] == [stem(NAMES[0]), stem(NAMES[1])]
    with pytest.raises(ValueError, match="image_key"):
        P.predictions_to_coco_results(preds, ds, image_key="path")


def test_synthetic_predictions(sample_ds, tmp_path):
    preds = synthetic_predictions(sample_ds)
    assert preds.name == SYNTHETIC_NAME and preds.synthetic and "synthetic" in preds.label
    assert preds.n_left_out == 0 and len(preds.table) > 0
    assert set(preds.splits(sample_ds)) == set(sample_ds.splits)
    report = EV.at_thresholds(EV.evaluate(sample_ds, preds, "bbox"), iou=0.5, score=0.0)
    m = report.confusion.to_numpy()
    assert np.trace(m[:-1, :-1]) > 0  # found
    assert m[:-1, :-1].sum() > np.trace(m[:-1, :-1])  # some classes confused
    assert m[:-1, -1].sum() > 0 and m[-1, :-1].sum() > 0  # some missed, some spurious
    assert preds.table["score"].between(0, 1).all() and preds.table["score"].nunique() > 10
    path = write_synthetic_predictions(sample_ds, tmp_path / "synthetic.json")  # made again: deterministic
    from_file = P.read_coco_results(path, sample_ds)
    pd.testing.assert_frame_equal(from_file.table.drop(columns=["record", "segmentation", "rle"]),
                                  preds.table.drop(columns=["record", "segmentation", "rle"]))
    assert not math.isnan(from_file.table["area"].sum())


@pytest.mark.parametrize(("content", "message"), [
    # 0 bytes: empty, not malformed
    (b"", r"model.json: the file is empty \(0 bytes\); expected a JSON list of result records"),
    (b"\n \n", r"model.json: the file holds only white space \(3 bytes\); expected a JSON list"),
    (b"[1, 2", r"model.json \[line 1, column 6\]: malformed JSON: .*; expected a JSON list"),
    (b"null", r"model.json \[top level\]: expected a JSON list of result records .*, found null$"),
])
def test_a_file_is_named_as_shown_not_by_its_copy(ds, tmp_path, content, message):
    copy = tmp_path / "3f2a9c.json"  # e.g. this server's copy of an upload
    copy.write_bytes(content)
    with pytest.raises(XamiDataError, match=message) as caught:
        P.read_coco_results(copy, ds, shown_as="model.json")
    assert str(tmp_path) not in str(caught.value) and "3f2a9c" not in str(caught.value)


def test_records_and_yolo_files_are_named_as_shown(ds, tmp_path):
    copy = tmp_path / "copy.json"
    copy.write_text(json.dumps([rec(), rec(score=None)]))
    preds = P.read_coco_results(copy, ds, shown_as="model.json")
    assert preds.source == "model.json" and [p.file for p in preds.problems] == ["model.json"]
    folder = tmp_path / "run"
    write_txt(folder / "labels", stem(NAMES[0]) + ".txt", ["0 0.1 0.1 0.3 0.1 0.3 0.3", "0 a b c d e f 0.5"])
    yolo = P.load_predictions(folder, ds, shown_as="~/runs/run")
    assert yolo.source == str(Path("~/runs/run") / "labels")
    assert [(p.file, p.record) for p in yolo.problems] == [(str(Path("~/runs/run/labels") / (stem(NAMES[0]) + ".txt")),
                                                            f"line {k}") for k in (1, 2)]
    assert "of numbers, found '0 a b c d e f 0.5'" in yolo.problems[1].message
    (tmp_path / "empty").mkdir()
    with pytest.raises(XamiDataError, match="^mine: the folder holds no .txt prediction file .*; expected one "
                                            "'<image stem>.txt' per image"):
        P.load_predictions(tmp_path / "empty", ds, shown_as="mine")


def test_inputs_with_no_predictions_are_read_and_said(ds, tmp_path):
    # `[]` or a folder of empty .txt files: nothing left out, nothing to evaluate; a warning names the input.
    empty_json = read(ds, tmp_path, [])
    folder = tmp_path / "empty_run"
    write_txt(folder, stem(NAMES[0]) + ".txt", [""])
    empty_yolo = P.read_yolo_predictions(folder, ds)
    for preds, record, says in ((empty_json, "top level", "an empty list: no predictions to evaluate"),
                                (empty_yolo, "folder", "the .txt files hold no prediction lines")):
        assert len(preds.table) == 0 and preds.left_out == {}
        [problem] = preds.problems
        assert (problem.record, problem.severity) == (record, "warning") and problem.message.startswith(says)
    # A file with records, all left out, says why per record, not that it is empty.
    bad = read(ds, tmp_path, [{"image_id": 99, "category_id": 1, "score": 0.5, "bbox": [1, 1, 2, 2]}])
    assert not [p for p in bad.problems if "no predictions to evaluate" in p.message]
