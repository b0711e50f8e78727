"""Evaluation: every COCO metric against an independent pycocotools COCOeval run on the same files,
TP/FP/FN and the confusion matrix on a hand-made fixture with known answers, and the `evaluate` command."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pycocotools import mask as mask_utils
from pycocotools.cocoeval import COCOeval

from tests import builders as b
from tests.coco_reference import independent_eval
from xami_core import load_dataset, sample_root
from xami_core.analysis import evaluation as EV
from xami_core.cli import main as cli_main
from xami_core.io.predictions import coco_results_to_predictions, predictions_to_coco_results, read_coco_results
from xami_core.io.sample_predictions import synthetic_predictions

WIDTH, HEIGHT = 128, 96  # not square: a swapped width and height would show


# --- an independent run: pycocotools on the files, nothing of the product ------------------------


def ellipse(cx: float, cy: float, a: float, b_: float, n: int = 14) -> list[float]:
    """An ellipse polygon, flat [x1, y1, ...]."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.round(np.stack([cx + a * np.cos(t), cy + b_ * np.sin(t)], axis=1), 2).ravel().tolist()


def build_fixture(root: Path) -> tuple[Path, list[dict]]:
    """A 7-image COCO file (one image without annotations, a two-part polygon, small/medium/large
    instances) and a results list: jittered copies, confusions, duplicates with equal scores, spurious."""
    rng = np.random.default_rng(7)
    images = [b.image(i, width=WIDTH, height=HEIGHT) for i in range(1, 8)]
    anns, ann_id = [], 1
    for i in range(1, 8):
        if i == 5:
            continue  # a hard negative
        for _ in range(int(rng.integers(2, 6))):
            a, bb = float(rng.uniform(3, 30)), float(rng.uniform(3, 22))
            cx, cy = float(rng.uniform(a, WIDTH - a)), float(rng.uniform(bb, HEIGHT - bb))
            anns.append(b.polygon_ann(ann_id, i, int(rng.integers(1, 6)), ellipse(cx, cy, a, bb)))
            ann_id += 1
    anns.append(b.polygon_ann(ann_id, 2, 3, b.square(5, 5, 10), b.square(30, 30, 8)))  # two parts
    anns.append(b.polygon_ann(ann_id + 1, 3, 2, b.square(8, 4, 100)[:2] + [108, 4, 108, 94, 8, 94]))  # large
    path = b.write_split(root / "data", b.coco(images, anns))
    results = []
    for ann in anns:
        if rng.random() < 0.15:
            continue  # missed
        cat = ann["category_id"] if rng.random() > 0.2 else int(rng.integers(1, 6))
        score = round(float(rng.uniform(0.05, 1)), 2)  # rounded: equal scores happen
        for _ in range(2 if rng.random() < 0.2 else 1):  # duplicates with the same score
            parts = [np.clip(np.reshape(p, (-1, 2)) * rng.normal(1, 0.03) + rng.normal(0, 1.5, 2), 0, [WIDTH, HEIGHT])
                     for p in ann["segmentation"]]
            results.append({"image_id": ann["image_id"], "category_id": cat, "score": score,
                            "polygons": [np.round(p, 2).ravel().tolist() for p in parts]})
    for i in range(1, 8):
        for _ in range(int(rng.integers(0, 3))):
            results.append({"image_id": i, "category_id": int(rng.integers(1, 6)),
                            "score": round(float(rng.uniform(0, 0.6)), 2),
                            "polygons": [ellipse(float(rng.uniform(20, 100)), float(rng.uniform(20, 70)), 9, 6)]})
    return path, results


def encode(results: list[dict], style: str) -> list[dict]:
    """The results as a detector writes them: detectron2 (RLE + bbox), RLE only, polygons + bbox, bbox only."""
    out = []
    for r in results:
        rle = mask_utils.merge(mask_utils.frPyObjects(r["polygons"], HEIGHT, WIDTH))
        pts = np.concatenate([np.reshape(p, (-1, 2)) for p in r["polygons"]])
        lo, hi = pts.min(0), pts.max(0)
        extent = [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]  # not the mask's box
        rec = {"image_id": r["image_id"], "category_id": r["category_id"], "score": r["score"]}
        if style in ("rle+bbox", "rle"):
            rec["segmentation"] = {"size": [HEIGHT, WIDTH], "counts": rle["counts"].decode()}
        if style == "polygon+bbox":
            rec["segmentation"] = r["polygons"]
        if style != "rle":
            rec["bbox"] = extent
        out.append(rec)
    return out


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluation")
    gt_file, results = build_fixture(root)
    return root, gt_file, load_dataset(gt_file.parent), results


def ours_vs_theirs(ds, gt_file: Path, results_file: Path, iou_type: str, file_img_ids: list | None,
                   per_class: bool = True) -> None:
    """Overall and per-class metrics of the product equal independent COCOeval runs (one per class)."""
    preds = read_coco_results(results_file, ds)
    assert preds.n_left_out == 0, preds.problems
    image_ids = None
    if file_img_ids is not None:
        image_ids = ds.images.loc[ds.images["coco_id"].isin(file_img_ids), "image_id"].to_numpy()
    ev = EV.evaluate(ds, preds, iou_type, image_ids)
    theirs = independent_eval(gt_file, results_file, iou_type, file_img_ids)
    np.testing.assert_array_equal(ev.stats, theirs.stats)
    table = EV.metrics_table(ev)
    np.testing.assert_array_equal(table.loc["all", list(EV.METRICS)].fillna(-1).to_numpy(dtype=float), theirs.stats)
    # The file's unused parent category (id 0) is one of COCOeval's classes there, all -1; not one here.
    at = [theirs.params.catIds.index(c) for c in ev.class_ids]
    assert set(theirs.params.catIds) - set(ev.class_ids) <= {0}
    np.testing.assert_array_equal(ev.precision, theirs.eval["precision"][:, :, at])
    np.testing.assert_array_equal(ev.recall, theirs.eval["recall"][:, at])
    for k, cat in zip(at, ev.class_ids if per_class else ()):
        one = independent_eval(gt_file, results_file, iou_type, file_img_ids, [cat])
        name = ds.categories.set_index("class_id").loc[cat, "name"]
        np.testing.assert_array_equal(table.loc[name, list(EV.METRICS)].fillna(-1).to_numpy(dtype=float), one.stats,
                                      err_msg=f"{iou_type} class {name}")
        curve = EV.pr_curves(ev, iou=0.75).query("class_name == @name")["precision"].fillna(-1).to_numpy()
        np.testing.assert_array_equal(curve, theirs.eval["precision"][5, :, k, 0, 2])


@pytest.mark.parametrize(("style", "iou_type", "subset"), [
    ("rle+bbox", "segm", None),  # detectron2 / Ultralytics: loadRes gives masks the box's area
    ("rle+bbox", "bbox", None),
    ("rle", "segm", None),  # RLE only: loadRes gives the mask's area and box
    ("rle", "bbox", None),
    ("polygon+bbox", "segm", None),  # polygons are rasterised by COCOeval's _toMask
    ("bbox", "bbox", None),  # a detector without masks
    ("rle+bbox", "segm", [1, 2, 4, 5]),  # a subset (params.imgIds), the hard negative included
    ("rle+bbox", "bbox", [3, 6, 7]),
])
def test_metrics_equal_independent_cocoeval(fixture, style, iou_type, subset):
    root, gt_file, ds, results = fixture
    path = root / f"results-{style}.json"
    path.write_text(json.dumps(encode(results, style)))
    ours_vs_theirs(ds, gt_file, path, iou_type, subset)


def test_matches_equal_cocoeval_evalimgs(fixture):
    """At each of COCOeval's IoU thresholds, the TP predictions and matched ground truth are COCOeval's own."""
    root, gt_file, ds, results = fixture
    path = root / "results-matches.json"
    path.write_text(json.dumps(encode(results, "rle+bbox")))
    for iou_type in ("segm", "bbox"):
        ev = EV.evaluate(ds, read_coco_results(path, ds), iou_type)
        theirs = independent_eval(gt_file, path, iou_type)
        file_ann_id = dict(zip(ds.annotations["ann_id"], ds.annotations["coco_id"]))
        for t in (0, 5, 9):
            their_dt, their_gt = set(), set()
            for e in theirs.evalImgs:
                if e is None or e["aRng"] != [0, 1e10] or e["maxDet"] != 100:
                    continue
                their_dt |= {d for d, m in zip(e["dtIds"], e["dtMatches"][t]) if m > 0}
                their_gt |= {g for g, m in zip(e["gtIds"], e["gtMatches"][t]) if m > 0}
            inst = EV.at_thresholds(ev, iou=float(theirs.params.iouThrs[t]), score=0.0).instances
            tp = inst[inst["outcome"] == EV.TP]
            assert {i + 1 for i in tp.loc[tp["side"] == "prediction", "id"]} == their_dt  # loadRes ids: index + 1
            assert {file_ann_id[i] for i in tp.loc[tp["side"] == "ground truth", "id"]} == their_gt
            assert len(their_dt) > 0


def test_sample_with_synthetic_predictions_equals_cocoeval(tmp_path):
    """The bundled sample's valid split and its synthetic predictions, written as files, per filter subset too."""
    folder = tmp_path / "valid"
    shutil.copytree(sample_root() / "valid", folder)
    ds = load_dataset(folder)
    preds = synthetic_predictions(ds)
    path = tmp_path / "synthetic.json"
    path.write_text(json.dumps(predictions_to_coco_results(preds, ds)))
    letter = ds.images["filter_letter"].value_counts().index[0]
    subset = ds.images.loc[ds.images["filter_letter"] == letter, "coco_id"].tolist()
    for iou_type in ("segm", "bbox"):
        ours_vs_theirs(ds, folder / "_annotations.coco.json", path, iou_type, None)
        ours_vs_theirs(ds, folder / "_annotations.coco.json", path, iou_type, subset, per_class=False)


def test_thresholds_do_not_rerun_cocoeval(sample_ds, monkeypatch):
    ev = EV.evaluate(sample_ds, synthetic_predictions(sample_ds), "bbox")

    def refuse(self):
        raise AssertionError("COCOeval.evaluate ran again")

    monkeypatch.setattr(COCOeval, "evaluate", refuse)
    monkeypatch.setattr(COCOeval, "accumulate", refuse)
    for score in (0.1, 0.5, 0.9):
        report = EV.at_thresholds(ev, iou=0.6, score=score)
        assert report.per_class.loc["all", "n_pred"] == (ev.dt["in_eval"] & (ev.dt["score"] >= score)).sum()
    assert len(EV.pr_curves(ev)) == len(ev.class_names) * 101
    EV.metrics_table(ev)


# --- a hand-made fixture with known answers ------------------------------------------------------


def hand_made(root: Path):
    """Two 100 x 100 images. Image 1: A (class 1), B (class 2), C (class 3); image 2: nothing.

    Predictions: p0 = A exactly (class 1, 0.9): TP; p1 = B moved 2 px (class 1, 0.8): B confused as
    class 1; p2 = a square on nothing (class 2, 0.7): spurious; p3 = A again (class 1, 0.6): a
    duplicate, spurious; p4 = C exactly (class 3, 0.1): below a 0.25 threshold, so C is missed;
    p5 = on image 2 (class 4, 0.5): spurious.
    """
    images = [b.image(1, width=100, height=100), b.image(2, width=100, height=100)]
    anns = [b.polygon_ann(1, 1, 1, b.square(10, 10, 20)), b.polygon_ann(2, 1, 2, b.square(50, 50, 20)),
            b.polygon_ann(3, 1, 3, b.square(10, 60, 10))]
    gt_file = b.write_split(root / "hand", b.coco(images, anns))
    ds = load_dataset(gt_file.parent)

    def box(x, y, s):
        return [float(x), float(y), float(s), float(s)]

    records = [
        {"image_id": 1, "category_id": 1, "score": 0.9, "bbox": box(10, 10, 20)},
        {"image_id": 1, "category_id": 1, "score": 0.8, "bbox": box(52, 50, 20)},
        {"image_id": 1, "category_id": 2, "score": 0.7, "bbox": box(70, 10, 10)},
        {"image_id": 1, "category_id": 1, "score": 0.6, "bbox": box(10, 10, 20)},
        {"image_id": 1, "category_id": 3, "score": 0.1, "bbox": box(10, 60, 10)},
        {"image_id": 2, "category_id": 4, "score": 0.5, "bbox": box(40, 40, 10)},
    ]
    for r in records:  # the box as a polygon mask too, so segm has the same geometry
        x, y, w, h = r["bbox"]
        r["segmentation"] = [[x, y, x + w, y, x + w, y + h, x, y + h]]
    return ds, coco_results_to_predictions(records, ds, name="hand", source="hand-made")


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_confusion_and_outcomes_known_answers(tmp_path, iou_type):
    ds, preds = hand_made(tmp_path)
    ev = EV.evaluate(ds, preds, iou_type)
    report = EV.at_thresholds(ev, iou=0.5, score=0.25)
    names = ds.class_names
    expected = pd.DataFrame(0, index=[*names, "background"], columns=[*names, "background"])
    expected.loc["central-ring", "central-ring"] = 1  # p0 on A
    expected.loc["other", "central-ring"] = 1  # p1 on B: B (other) predicted as central-ring
    expected.loc["read-out-streak", "background"] = 1  # C missed (p4 below the threshold)
    expected.loc["background", "other"] = 1  # p2
    expected.loc["background", "central-ring"] = 1  # p3, the duplicate
    expected.loc["background", "smoke-ring"] = 1  # p5 on the empty image
    pd.testing.assert_frame_equal(report.confusion, expected, check_names=False, check_dtype=False)

    pc = report.per_class
    assert pc.loc["central-ring", ["n_gt", "n_pred", "tp", "fp", "fn"]].tolist() == [1, 3, 1, 2, 0]
    assert pc.loc["central-ring", "precision"] == pytest.approx(1 / 3)
    assert pc.loc["central-ring", "recall"] == 1.0
    assert pc.loc["central-ring", "f1"] == pytest.approx(0.5)
    assert pc.loc["other", ["tp", "fp", "fn"]].tolist() == [0, 1, 1]
    assert pc.loc["read-out-streak", ["n_pred", "tp", "fn", "recall", "f1"]].tolist() == [0, 0, 1, 0.0, 0.0]
    assert math.isnan(pc.loc["read-out-streak", "precision"])  # no prediction: undefined
    assert math.isnan(pc.loc["star-loop", "recall"]) and math.isnan(pc.loc["star-loop", "f1"])
    assert pc.loc["all", ["n_gt", "n_pred", "tp", "fp", "fn"]].tolist() == [3, 5, 1, 4, 2]

    inst = report.instances.set_index(["side", "id"])
    assert inst.loc[("prediction", 0), "outcome"] == "TP" and inst.loc[("prediction", 0), "iou"] == pytest.approx(1.0)
    p1 = inst.loc[("prediction", 1)]
    assert (p1["outcome"], p1["matched_class"]) == ("FP", "other")
    if iou_type == "bbox":  # 18 x 20 overlap of two 20 x 20 boxes
        assert p1["iou"] == pytest.approx(360 / 440)
    assert inst.loc[("prediction", 3), "outcome"] == "FP" and math.isnan(inst.loc[("prediction", 3), "iou"])
    assert inst.loc[("prediction", 3), "best_iou"] == pytest.approx(1.0)  # the duplicate overlaps A fully
    assert ("prediction", 4) not in inst.index  # below the score threshold
    assert inst.loc[("ground truth", 0), ["outcome", "matched_id"]].tolist() == ["TP", 0]
    assert inst.loc[("ground truth", 1), "outcome"] == "FN"  # confused: FN of its class
    assert inst.loc[("ground truth", 2), "outcome"] == "FN"

    errors = EV.image_errors(report)
    assert errors.loc[0, ["tp", "fp", "fn", "errors"]].tolist() == [1, 3, 2, 5]
    assert errors.loc[1, ["tp", "fp", "fn"]].tolist() == [0, 1, 0]

    low = EV.at_thresholds(ev, iou=0.5, score=0.0)  # p4 now takes part: C found
    assert low.confusion.loc["read-out-streak", "read-out-streak"] == 1
    strict = EV.at_thresholds(ev, iou=0.9, score=0.25)  # B's 0.82 overlap no longer counts as a confusion
    assert strict.confusion.loc["other", "background"] == 1


def test_no_predictions(tmp_path):
    """A model that finds nothing: AP 0 where there is ground truth, every instance a miss."""
    ds, _ = hand_made(tmp_path)
    nothing = coco_results_to_predictions([], ds, name="nothing", source="memory")
    for iou_type in EV.IOU_TYPES:
        ev = EV.evaluate(ds, nothing, iou_type)
        assert ev.stats[0] == 0.0 and len(ev.dt) == 0
        report = EV.at_thresholds(ev)
        assert report.confusion["background"].tolist() == [1, 1, 1, 0, 0, 0]
        assert set(report.instances["outcome"]) == {"FN"}


def test_compare_and_groups(tmp_path):
    ds, preds = hand_made(tmp_path)
    ev = EV.evaluate(ds, preds, "bbox")
    table = EV.compare_metrics({"model a": ev, "model b": ev}, "AP50")
    assert list(table.columns) == ["model a", "model b"] and table.loc["all", "model a"] == ev.stats[1]
    groups = EV.metrics_by_group(ds, preds, {"first": [0], "second": [1], "none": [99]}, "bbox")
    assert list(groups.index) == ["first", "second"]  # a group without images is skipped
    assert groups.loc["first", "n_gt"] == 3 and groups.loc["second", "n_gt"] == 0
    assert math.isnan(groups.loc["second", "AP"])  # no ground truth: COCOeval's -1


def test_filter_and_fold_groups(sample_ds):
    groups = EV.filter_groups(sample_ds)
    assert list(groups) == ["V (543 nm)", "B (450 nm)", "U (344 nm)", "UVW1 (291 nm)", "UVM2 (231 nm)",
                            "UVW2 (212 nm)", "White (broad band)"]  # by wavelength, not alphabetically
    assert sum(len(g) for g in groups.values()) == len(sample_ds.images)
    letters = sample_ds.images.set_index("image_id")["filter_letter"]
    assert set(letters.loc[groups["UVW1 (291 nm)"]]) == {"L"}
    valid = sample_ds.images.loc[sample_ds.images["split"] == "valid", "image_id"].to_numpy()
    assert sum(len(g) for g in EV.filter_groups(sample_ds, valid).values()) == len(valid)
    assignments = pd.DataFrame({"fold": [0, 0, 1, 1, 1], "image_id": [3, 1, 1, 2, 3],
                                "part": ["valid", "valid", "train", "valid", "valid"]})
    parts = EV.fold_part_groups(assignments)
    assert list(parts) == ["fold 0 valid", "fold 1 valid"] and parts["fold 0 valid"].tolist() == [1, 3]
    assert EV.fold_part_groups(assignments, "train")["fold 1 train"].tolist() == [1]
    with pytest.raises(ValueError, match="missing"):
        EV.fold_part_groups(assignments.drop(columns="part"))


def test_bad_arguments(tmp_path):
    ds, preds = hand_made(tmp_path)
    with pytest.raises(ValueError, match="iou_type"):
        EV.evaluate(ds, preds, "keypoints")
    with pytest.raises(Exception, match="no image to evaluate"):
        EV.evaluate(ds, preds, "bbox", [1234])
    ev = EV.evaluate(ds, preds, "bbox")
    for iou in (1.5, 0.0):  # IoU 0 would match boxes that do not touch
        with pytest.raises(ValueError, match="iou"):
            EV.at_thresholds(ev, iou=iou)
    with pytest.raises(ValueError, match="iou must be one of"):
        EV.pr_curves(ev, iou=0.52)


def test_evaluate_command_writes_files(fixture, tmp_path):
    root, gt_file, ds, results = fixture
    path = tmp_path / "results.json"
    path.write_text(json.dumps(encode(results, "rle+bbox")))
    out = tmp_path / "out"
    assert cli_main(["evaluate", "--data", str(gt_file.parent), "--predictions", str(path), "--out", str(out),
                     "--iou", "0.6", "--score", "0.3"]) == 0
    report = json.loads((out / "metrics.json").read_text())
    for iou_type in ("segm", "bbox"):
        theirs = independent_eval(gt_file, path, iou_type)
        assert list(report[iou_type]["stats"].values()) == theirs.stats.tolist()
        csv = pd.read_csv(out / f"metrics_{iou_type}.csv", index_col=0)
        assert csv.loc["all", "AP"] == pytest.approx(theirs.stats[0])
        assert "\\toprule" in (out / f"metrics_{iou_type}.tex").read_text()
        confusion = pd.read_csv(out / f"confusion_{iou_type}.csv", index_col=0)
        assert confusion.to_numpy().sum() > 0 and "background" in confusion.index
        assert (out / f"thresholds_{iou_type}.tex").is_file() and (out / f"instances_{iou_type}.csv").is_file()
        by_filter = pd.read_csv(out / f"by_filter_{iou_type}.csv", index_col=0)
        only = independent_eval(gt_file, path, iou_type, ds.images["coco_id"].tolist())  # every image is a UVW1 frame
        assert list(by_filter.index) == ["UVW1 (291 nm)"] and by_filter["AP"].iloc[0] == pytest.approx(only.stats[0])
    assert report["iou_threshold"] == 0.6 and report["left_out"] == {}
    for name in ("pr_curves", "rates", "confusion", "by_filter"):  # the page's figures, in print layout
        for iou_type in ("segm", "bbox"):
            assert (out / f"{name}_{iou_type}.pdf").read_bytes().startswith(b"%PDF-")


def test_evaluate_command_without_a_browser_writes_the_tables_and_exits_3(fixture, tmp_path, monkeypatch):
    root, gt_file, ds, results = fixture
    path = tmp_path / "results.json"
    path.write_text(json.dumps(encode(results, "rle+bbox")))
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium on it
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    monkeypatch.delenv("XAMI_CHROMIUM", raising=False)
    out = tmp_path / "out"
    args = ["evaluate", "--data", str(gt_file.parent), "--predictions", str(path), "--out", str(out), "--iou-type", "bbox"]
    assert cli_main(args) == 3
    assert (out / "metrics.json").is_file() and not list(out.glob("*.pdf"))
    assert cli_main([*args, "--out", str(tmp_path / "tables"), "--no-figures"]) == 0


def test_annotation_id_zero_is_not_read_as_unmatched(tmp_path):
    """Roboflow numbers annotations from 0; COCOeval stores a match as the ground truth's id and reads
    0 as "no match", so a plain run on such a file counts a correct detection of annotation 0 as a false
    positive. Here ground truth ids are renumbered (ann_id + 1): the numbers are COCOeval's on the same
    file with ids from 1, and a plain run on the file with id 0 is lower."""
    images = [b.image(0, width=100, height=100)]
    boxes = [[10.0, 10.0, 20.0, 20.0], [50.0, 10.0, 20.0, 20.0]]
    results = [{"image_id": 0, "category_id": 1, "score": 0.9 - 0.1 * i, "bbox": box} for i, box in enumerate(boxes)]
    (tmp_path / "results.json").write_text(json.dumps(results))
    for first in (0, 1):
        anns = [b.polygon_ann(first + i, 0, 1, b.square(box[0], box[1], 20)) for i, box in enumerate(boxes)]
        b.write_split(tmp_path / f"ids-from-{first}", b.coco(images, anns))
    from_zero = tmp_path / "ids-from-0" / "_annotations.coco.json"
    ds = load_dataset(from_zero.parent)
    ev = EV.evaluate(ds, read_coco_results(tmp_path / "results.json", ds), "bbox")
    from_one = independent_eval(tmp_path / "ids-from-1" / "_annotations.coco.json", tmp_path / "results.json", "bbox")
    np.testing.assert_array_equal(ev.stats, from_one.stats)
    assert ev.stats[0] == 1.0
    assert independent_eval(from_zero, tmp_path / "results.json", "bbox").stats[0] < 1.0
