"""Thumbnails with the prediction layer (xami_core.render.prediction_overlay.prediction_thumbnails) on a hand-made
frame: each outcome's colour where, and only where, its instance is; cached by the set, the IoU type and thresholds."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tests import builders as b
from xami_core import load_dataset
from xami_core.analysis import evaluation as EV
from xami_core.analysis.gallery import ThumbOptions, thumbs_dir
from xami_core.io import predictions as P
from xami_core.render import prediction_overlay as PO
from xami_core.render.evaluation_figures import OUTCOME_COLOURS

SIZE = 128  # the frame's size and the thumbnail's: one thumbnail pixel per frame pixel
OPTIONS = ThumbOptions(size=SIZE)


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    """One 128 x 128 frame: a smoke ring (square at 10, 10, side 30) and a star loop (square at 80, 80, side 30)."""
    root = tmp_path_factory.mktemp("pred_thumbs")
    images = [b.image(1, width=SIZE, height=SIZE)]
    anns = [b.polygon_ann(1, 1, 4, b.square(10, 10, 30)), b.polygon_ann(2, 1, 5, b.square(80, 80, 30))]
    return load_dataset(b.write_split(root / "data", b.coco(images, anns)).parent)


@pytest.fixture(scope="module")
def preds(ds, tmp_path_factory):
    """A smoke ring found (square at 12, 12, side 26: IoU 0.75, TP at 0.5), a spurious read-out streak at
    (80, 10, side 20) (FP); the star loop has no prediction (FN)."""
    records = [{"image_id": 1, "category_id": 4, "score": 0.9, "segmentation": [b.square(12, 12, 26)]},
               {"image_id": 1, "category_id": 3, "score": 0.8, "segmentation": [b.square(80, 10, 20)]}]
    path = tmp_path_factory.mktemp("pred_thumbs_results") / "results.json"
    path.write_text(json.dumps(records))
    return P.read_coco_results(path, ds)


def rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[k:k + 2], 16) for k in (1, 3, 5)])


def near(image: np.ndarray, colour: str, tolerance: int = 0) -> np.ndarray:
    """Boolean H x W: the pixels within `tolerance` of `colour` on every channel."""
    return (np.abs(image.astype(int) - rgb(colour)) <= tolerance).all(axis=2)


def region(mask: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> int:
    """How many pixels of `mask` in the rectangle [x0, x1) x [y0, y1)."""
    return int(mask[y0:y1, x0:x1].sum())


def report_at(ds, preds, iou_type="segm", score=0.25, iou=0.5) -> EV.ThresholdReport:
    return EV.at_thresholds(EV.evaluate(ds, preds, iou_type), iou=iou, score=score)


def drawn(ds, preds, report) -> np.ndarray:
    """The thumbnail as drawn, before JPEG."""
    img = ds.images.iloc[0]
    return PO.render_prediction_thumbnail(img["path"], SIZE, SIZE, ds.annotations, preds.table, report.instances,
                                          OPTIONS)


def test_each_outcome_colour_is_where_its_instance_is_and_nowhere_else(ds, preds):
    report = report_at(ds, preds)
    assert sorted(report.instances["outcome"]) == ["FN", "FP", "TP", "TP"]  # TP pair, the FP, the missed star loop
    out = drawn(ds, preds, report)
    tp, fp, fn = (near(out, OUTCOME_COLOURS[o]) for o in ("TP", "FP", "FN"))
    # TP: the found smoke ring's outline (12..38), nowhere else.
    assert region(tp, 11, 11, 39, 39) >= 4 * 20 and tp.sum() == region(tp, 11, 11, 39, 39)
    assert region(tp, 14, 14, 36, 36) == 0  # an outline, not a fill
    # FP: the spurious square's outline (80..100), nowhere else.
    assert region(fp, 79, 9, 101, 31) >= 4 * 15 and fp.sum() == region(fp, 79, 9, 101, 31)
    # FN: the missed star loop's box (80..110), nowhere else.
    assert region(fn, 79, 79, 111, 111) >= 4 * 25 and fn.sum() == region(fn, 79, 79, 111, 111)
    # Nothing where there is nothing: the empty lower left quarter keeps the frame's grey.
    assert region(tp | fp | fn, 0, 64, 64, 128) == 0
    assert len(set(map(tuple, out[70:120, 5:60].reshape(-1, 3)))) == 1
    # The ground truth as thin contours in its class colour, not filled: the smoke ring's inside is the frame's.
    assert (out[25, 25] == out[100, 30]).all()


def test_a_higher_score_threshold_draws_the_smoke_ring_missed(ds, preds):
    out = drawn(ds, preds, report_at(ds, preds, score=0.95))  # neither prediction takes part
    assert not near(out, OUTCOME_COLOURS["TP"]).any() and not near(out, OUTCOME_COLOURS["FP"]).any()
    fn = near(out, OUTCOME_COLOURS["FN"])
    assert region(fn, 9, 9, 41, 41) > 0 and region(fn, 79, 79, 111, 111) > 0  # both instances missed


def test_the_jpeg_keeps_the_outcome_colours(ds, preds, tmp_path, monkeypatch):
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path))
    report = report_at(ds, preds)
    (data,) = PO.prediction_thumbnails(ds, ds.images["image_id"].tolist(), preds, report, "segm", OPTIONS)
    out = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert out.shape == (SIZE, SIZE, 3)
    tp = near(out, OUTCOME_COLOURS["TP"], tolerance=40)
    assert region(tp, 11, 11, 39, 39) >= 4 * 15 and region(tp, 40, 40, 128, 128) == 0
    fp = near(out, OUTCOME_COLOURS["FP"], tolerance=40)
    assert region(fp, 79, 9, 101, 31) >= 4 * 10 and region(fp, 0, 40, 128, 128) == 0


def test_the_disk_cache_key_holds_the_set_the_iou_type_and_the_thresholds(ds, preds, tmp_path, monkeypatch):
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path))
    PO._MEMORY.clear()
    segm = report_at(ds, preds)

    def files() -> int:
        return len(list(thumbs_dir().glob("*/*.jpg")))

    first = PO.prediction_thumbnails(ds, ds.images["image_id"].tolist(), preds, segm, "segm", OPTIONS)
    assert files() == 1
    assert PO.prediction_thumbnails(ds, ds.images["image_id"].tolist(), preds, segm, "segm", OPTIONS) == first  # the same view: reused
    PO._MEMORY.clear()
    assert PO.prediction_thumbnails(ds, ds.images["image_id"].tolist(), preds, segm, "segm", OPTIONS) == first and files() == 1  # from disk
    PO.prediction_thumbnails(ds, ds.images["image_id"].tolist(), preds, report_at(ds, preds, "bbox"), "bbox", OPTIONS)
    assert files() == 2  # another IoU type
    PO.prediction_thumbnails(ds, ds.images["image_id"].tolist(), preds, report_at(ds, preds, score=0.3), "segm", OPTIONS)
    assert files() == 3  # another score threshold, the same outcomes
    PO.prediction_thumbnails(ds, ds.images["image_id"].tolist(), preds, report_at(ds, preds, iou=0.6), "segm", OPTIONS)
    assert files() == 4  # another IoU threshold, the same outcomes
    other = P.Predictions(name="other", table=preds.table, source="elsewhere", content_key="another model")
    PO.prediction_thumbnails(ds, ds.images["image_id"].tolist(), other, segm, "segm", OPTIONS)
    assert files() == 5  # another set with the same shapes
