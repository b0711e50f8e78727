"""The gallery's prediction-layer selection (xami_core.analysis.gallery_errors) on a hand-made outcome table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xami_core.analysis import gallery_errors as GE
from xami_core.analysis.evaluation import ThresholdReport
from xami_core.analysis.gallery import GalleryFilter

NAN = float("nan")


def outcome(side: str, image_id: int, cls: str, result: str, iou: float = NAN, score: float = NAN) -> dict:
    return {"side": side, "id": 0, "image_id": image_id, "class_name": cls, "score": score, "outcome": result,
            "matched_id": -1, "matched_class": "", "iou": iou, "best_iou": 0.0}


def report(rows: list[dict]) -> ThresholdReport:
    empty = pd.DataFrame()
    return ThresholdReport(iou_threshold=0.5, score_threshold=0.25, per_class=empty, confusion=empty,
                           instances=pd.DataFrame(rows))


P, G = "prediction", "ground truth"
# Image 1: one TP (IoU .9), a missed smoke ring. Image 2: two TP (IoU .6, .8), a spurious star loop, a missed
# star loop. Image 3: a spurious read-out streak only. Image 4: nothing at all. Image 5: one TP (IoU .6).
REPORT = report([
    outcome(P, 1, "smoke-ring", "TP", 0.9, 0.9), outcome(G, 1, "smoke-ring", "TP", 0.9),
    outcome(G, 1, "smoke-ring", "FN"),
    outcome(P, 2, "star-loop", "TP", 0.6, 0.5), outcome(G, 2, "star-loop", "TP", 0.6),
    outcome(P, 2, "central-ring", "TP", 0.8, 0.4), outcome(G, 2, "central-ring", "TP", 0.8),
    outcome(P, 2, "star-loop", "FP", score=0.3), outcome(G, 2, "star-loop", "FN"),
    outcome(P, 3, "read-out-streak", "FP", score=0.95),
    outcome(P, 5, "star-loop", "TP", 0.6, 0.3), outcome(G, 5, "star-loop", "TP", 0.6),
])
IMAGES = pd.DataFrame({"image_id": [1, 2, 3, 4, 5]})
SCORES = pd.DataFrame({"image_id": [1, 2, 2, 2, 3, 5, 4], "score": [0.9, 0.5, 0.4, 0.3, 0.95, 0.3, 0.1]})


def test_error_counts_cover_every_image():
    counts = GE.error_counts(IMAGES["image_id"], REPORT)
    assert counts.loc[:, ["tp", "fp", "fn", "errors"]].values.tolist() == [
        [1, 0, 1, 1], [2, 1, 1, 2], [0, 1, 0, 1], [0, 0, 0, 0], [1, 0, 0, 0]]
    assert counts["mean_iou"].tolist()[:2] == [0.9, 0.7] and np.isnan(counts.loc[3, "mean_iou"])


@pytest.mark.parametrize("flt, expected", [
    (GE.ErrorFilter(), [1, 2, 3, 4, 5]),  # no constraint
    (GE.ErrorFilter(missed=("smoke-ring",)), [1]),
    (GE.ErrorFilter(missed=("smoke-ring", "star-loop")), [1, 2]),  # any of the classes
    (GE.ErrorFilter(missed=("central-ring",)), []),  # found every time
    (GE.ErrorFilter(spurious=("read-out-streak", "star-loop")), [2, 3]),
    (GE.ErrorFilter(spurious=("star-loop",), missed=("smoke-ring",)), []),  # criteria ANDed
    (GE.ErrorFilter(score_above=0.9), [1, 3]),  # at least the value
    (GE.ErrorFilter(score_above=0.05), [1, 2, 3, 4, 5]),  # scores below the threshold count too
])
def test_error_mask(flt, expected):
    keep = GE.error_mask(IMAGES, REPORT, SCORES, flt)
    assert IMAGES.loc[keep, "image_id"].tolist() == expected


@pytest.mark.parametrize("by, expected", [
    ("errors", [2, 1, 3, 5, 4]),  # most errors; 1 and 3 tie: 1 has a mean IoU, 3 none (last)
    ("iou", [5, 2, 1, 3, 4]),  # lowest mean IoU (.6, .7, .9); without a TP last, more errors first
])
def test_sort_by_errors(by, expected):
    errors = GE.error_counts(IMAGES["image_id"], REPORT)
    assert GE.sort_by_errors(IMAGES.iloc[::-1], errors, by)["image_id"].tolist() == expected


def test_unknown_order_is_refused():
    with pytest.raises(ValueError, match="by must be one of"):
        GE.sort_by_errors(IMAGES, GE.error_counts(IMAGES["image_id"], REPORT), "score")


def test_captions_and_outcome_counts():
    errors = GE.error_counts(IMAGES["image_id"], REPORT)
    assert GE.error_captions(errors, [2, 4]) == ["TP 2 · FP 1 · FN 1 · IoU 0.70", "TP 0 · FP 0 · FN 0"]
    inst = REPORT.instances
    assert GE.outcome_counts(inst[inst["image_id"] == 2]) == {"TP": 2, "FP": 1, "FN": 1}


@pytest.mark.parametrize(("flt", "errors", "expected"), [
    # nothing chosen
    (GalleryFilter(), None, "all images"),
    (GalleryFilter(), GE.ErrorFilter(), "all images"),
    # classes with their mode, classes left out, hard negatives hidden
    (GalleryFilter(classes=("smoke-ring", "star-loop"), class_mode="all", without=("other",), empty="exclude"), None,
     "classes: all of smoke-ring, star-loop; none of other; images without artefacts hidden"),
    # only the hard negatives: the class choices do not apply
    (GalleryFilter(classes=("smoke-ring",), empty="only"), None, "only images without artefacts"),
    # filter, split, fold part, counts, area, search
    (GalleryFilter(filters=("U",), splits=("valid",), fold=(2, "train"), n_annotations=(1, 3), area=(10.0, 250.5),
                   search=" 0743 "), None,
     "filter U (344 nm); split valid; fold 2 train; 1–3 annotations; instance area 10–250.5 px²; search “0743”"),
    # the prediction layer's error filters
    (GalleryFilter(splits=("train",)), GE.ErrorFilter(missed=("smoke-ring",), spurious=("other", "star-loop"),
                                                      score_above=0.6),
     "split train; missed smoke-ring; spurious other, star-loop; a prediction scoring ≥ 0.6"),
])
def test_selection_description(flt, errors, expected):
    assert GE.selection_description(flt, errors) == expected
