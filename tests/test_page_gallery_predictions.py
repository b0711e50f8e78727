"""The gallery's prediction layer as users see it: frames, order and legend counts against COCOeval's own matches
(evalImgs) on the sample's synthetic predictions, in AppTest and in a real browser."""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tests.apptest import page_test, switch_page, texts
from tests.coco_reference import sample_as_one_coco
from xami_core.analysis.gallery_errors import ERROR_SORT_LABELS
from xami_core.io.sample_predictions import synthetic_prediction_records

PAGE = "pages/gallery.py"
LAYER = {"layer": "true", "size": "96"}  # the sample's 160 frames on two pages at most
CLASSES = ["central-ring", "other", "read-out-streak", "smoke-ring", "star-loop"]


@pytest.fixture(scope="module")
def merged(tmp_path_factory, sample_ds):
    """The sample's splits as one COCO file (image and annotation ids from 1, which COCOeval needs), the synthetic
    predictions as results records on those ids, and the split of each image id."""
    return sample_as_one_coco(tmp_path_factory.mktemp("gallery_predictions"), sample_ds)


def cocoeval(gt: Path, records: list, iou_type: str) -> COCOeval:
    """pycocotools on the ground-truth file and the results records: evaluate only (the matches are wanted)."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(gt))
        e = COCOeval(coco, coco.loadRes(records), iou_type)
        e.evaluate()
    return e


def dataset_ids(merged, sample_ds) -> dict[int, int]:
    """The merged file's image id -> the dataset's image id (by split and file name)."""
    gt, _, split_of = merged
    images = json.loads(gt.read_text())["images"]
    ours = sample_ds.images.set_index(["split", "file_name"])["image_id"]
    return {img["id"]: int(ours.loc[(split_of[img["id"]], img["file_name"])]) for img in images}


def independent_outcomes(merged, sample_ds, score: float = 0.25) -> dict[int, dict]:
    """Per dataset image: FN and FP counts per class, TP count and the IoUs of the TP, from COCOeval's matches at
    IoU 0.5 (its first threshold), area all, 100 detections, on the predictions scoring at least `score`."""
    gt, records, _ = merged
    e = cocoeval(gt, [r for r in records if r["score"] >= score], "segm")
    to_ours = dataset_ids(merged, sample_ds)
    out: dict[int, dict] = {i: {"fn": defaultdict(int), "fp": defaultdict(int), "tp": 0, "ious": []}
                            for i in to_ours.values()}
    for ev in e.evalImgs:
        if ev is None or ev["aRng"] != [0, 1e10] or ev["maxDet"] != 100:
            continue
        name, row = CLASSES[ev["category_id"] - 1], out[to_ours[ev["image_id"]]]
        row["fn"][name] += int((ev["gtMatches"][0] == 0).sum())
        row["fp"][name] += int((ev["dtMatches"][0] == 0).sum())
        ious = e.ious[(ev["image_id"], ev["category_id"])]
        for d, matched in enumerate(ev["dtMatches"][0]):
            if matched > 0:
                row["tp"] += 1
                row["ious"].append(float(ious[d, ev["gtIds"].index(int(matched))]))
    return out


def image_box(at) -> list[int]:
    """The frames the gallery lists, in its order (the image box's options)."""
    return [int(v) for v in at.selectbox(key="image").options]


@pytest.mark.parametrize("cls, score", [
    ("smoke-ring", 0.25),  # the Predictions page's default threshold
    ("read-out-streak", 0.6),  # a higher threshold misses more
    ("star-loop", 0.25),
])
def test_has_a_missed_class_lists_exactly_the_frames_cocoeval_misses_it_on(merged, sample_ds, cls, score):
    at = page_test(PAGE, query=LAYER | {"missed": cls, "pred_score": str(score)})
    want = {i for i, row in independent_outcomes(merged, sample_ds, score).items() if row["fn"][cls] > 0}
    assert want  # the synthetic set misses some of each of these
    assert set(image_box(at)) == want
    assert f"**{len(want)}** of 160 images match" in texts(at)


def test_has_a_spurious_class_lists_exactly_the_frames_with_its_false_positives(merged, sample_ds):
    at = page_test(PAGE, query=LAYER | {"spurious": "read-out-streak"})
    want = {i for i, row in independent_outcomes(merged, sample_ds).items() if row["fp"]["read-out-streak"] > 0}
    assert want and set(image_box(at)) == want


def test_score_above_lists_the_frames_with_a_prediction_scoring_that_high(merged, sample_ds):
    _, records, _ = merged
    to_ours = dataset_ids(merged, sample_ds)
    want = {to_ours[r["image_id"]] for r in records if r["score"] >= 0.9}
    at = page_test(PAGE, query=LAYER | {"score_above": "0.9"})
    assert 0 < len(want) < 160 and set(image_box(at)) == want


@pytest.mark.parametrize("sort", ["errors", "iou"])
def test_error_orders_follow_cocoevals_matches(merged, sample_ds, sort):
    outcomes = independent_outcomes(merged, sample_ds)

    def key(image_id: int) -> tuple:
        row = outcomes[image_id]
        errors = sum(row["fn"].values()) + sum(row["fp"].values())
        mean_iou = float(np.mean(row["ious"])) if row["ious"] else None
        no_iou, iou = mean_iou is None, mean_iou if mean_iou is not None else np.inf
        return (-errors, iou, image_id) if sort == "errors" else (no_iou, iou, -errors, image_id)

    at = page_test(PAGE, query=LAYER | {"sort": ERROR_SORT_LABELS[sort]})
    got = image_box(at)
    assert len(got) == 160
    assert got == sorted(outcomes, key=key)


def test_the_detail_view_draws_a_missed_frame_with_counted_legend(merged, sample_ds):
    outcomes = independent_outcomes(merged, sample_ds)
    at = page_test(PAGE, query=LAYER | {"missed": "smoke-ring", "sort": ERROR_SORT_LABELS["errors"]})
    image_id = image_box(at)[0]
    at = page_test(PAGE, query=LAYER | {"missed": "smoke-ring", "sort": ERROR_SORT_LABELS["errors"],
                                        "image": str(image_id)})
    row = outcomes[image_id]
    tp, fp, fn = row["tp"], sum(row["fp"].values()), sum(row["fn"].values())
    assert row["fn"]["smoke-ring"] > 0 and "**Ground truth**" in texts(at)
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(specs) == 2  # the ground truth and, beside it, the predictions
    legend = [t["name"] for t in specs[1]["data"] if t.get("legendgroup") in ("TP", "FP", "FN") and t.get("showlegend")]
    assert sorted(legend) == sorted([f"TP prediction · {tp}", f"FP prediction · {fp}", f"missed (FN) · {fn}"])
    drawn = [t.get("legendgroup") for t in specs[1]["data"]]
    assert (drawn.count("TP"), drawn.count("FP"), drawn.count("FN")) == (tp, fp, fn)
    # Ground truth as contours only on the prediction side: no filled masks.
    truth = [t for t in specs[1]["data"] if t.get("legendgroup") in CLASSES]
    assert truth and not [t for t in truth if t.get("fill") not in (None, "none")]
    assert f"TP prediction · {tp}" in texts(at)  # the legend under the figure too


def test_the_layer_is_off_by_default_and_the_gallery_unchanged(sample_ds):
    at = page_test(PAGE)
    assert at.sidebar.toggle(key="layer").value is False
    assert "Prediction layer:" not in texts(at)
    assert not [c for c in at.caption if re.search(r"TP \d+ · FP", c.value)]
    assert "errors" not in at.sidebar.selectbox(key="sort").options


@pytest.mark.browser
def test_gallery_prediction_layer_in_chromium(browser, merged, sample_ds):
    from playwright.sync_api import expect

    browser.open("", wait_for="Example frames")
    link = urlencode({"layer": "true", "missed": "smoke-ring", "sort": ERROR_SORT_LABELS["errors"]})
    page = browser.open(f"gallery?{link}", wait_for="images match")
    expect(page.get_by_text("Prediction layer:").first).to_be_visible()
    counts = page.locator("[data-testid='stMain'] [data-testid='stCaptionContainer']")
    expect(counts.filter(has_text=re.compile(r"FP \d+ · FN \d+")).first).to_be_visible()  # drawn after the count
    browser.settle()
    captions = counts.all_text_contents()
    shown = [int(m.group(1)) + int(m.group(2)) for c in captions if (m := re.search(r"FP (\d+) · FN (\d+)", c))]
    assert shown and shown == sorted(shown, reverse=True)  # most errors first, as the link asks
    browser.screenshot("gallery_predictions_grid", full_height=1500)
    page.locator("[data-testid='stMain'] [data-testid='stButton'] button", has_text="Open").first.click()
    page.get_by_text("Back to gallery").wait_for()
    browser.settle()
    expect(page.locator(".js-plotly-plot")).to_have_count(2)
    image_id = int(re.search(r"image=(\d+)", page.url).group(1))
    fn = sum(independent_outcomes(merged, sample_ds)[image_id]["fn"].values())
    legend = page.locator(".js-plotly-plot").nth(1).locator(".legendtext")
    expect(legend.filter(has_text=f"missed (FN) · {fn}")).to_have_count(1)
    browser.screenshot("gallery_predictions_detail", full_height=1400)


def test_an_uploaded_results_file_is_evaluated_and_shown_in_the_gallery(sample_ds, tmp_path, monkeypatch):
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path))
    records = synthetic_prediction_records(sample_ds)  # image ids as file stems, as Ultralytics writes them
    at = page_test("pages/predictions.py", query={"pred_synthetic": "false"})
    assert "No prediction set loaded" in texts(at)
    at.file_uploader(key="pred_upload").set_value([("my-model.json", json.dumps(records).encode(), "application/json")])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    sets = at.dataframe[0].value
    assert list(sets["set"]) == ["my-model"] and int(sets["records read"].iloc[0]) == len(records)
    assert int(sets["evaluated"].iloc[0]) == len(records)  # every record usable, all images evaluated
    assert list(sets["source"]) == ["uploaded: my-model.json"]  # the file's own name, not the server's copy
    stored = list((tmp_path / "prediction_uploads").glob("*.json"))
    assert len(stored) == 1 and json.loads(stored[0].read_text()) == records

    # The gallery draws the uploaded set: the upload is kept for the session across pages.
    at.query_params["layer"] = "true"
    switch_page(at, PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Prediction layer: my-model" in texts(at)


def test_without_a_prediction_set_chosen_the_gallery_offers_no_layer(sample_ds, tmp_path):
    at = page_test(PAGE, query={"pred_synthetic": "false"})  # the sidebar's toggle, from the link
    assert not [t for t in at.sidebar.toggle if t.key == "layer"]
    assert "Prediction layer:" not in texts(at)
    # The sidebar's Predictions section offers the inputs on the gallery too: a set chosen there brings the layer.
    assert "Predictions" in [s.value for s in at.sidebar.subheader]
    results = tmp_path / "model.json"
    results.write_text(json.dumps(synthetic_prediction_records(sample_ds)))
    at.sidebar.text_area(key="pred_paths").set_value(str(results)).run()
    at.sidebar.toggle(key="layer").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Prediction layer: model ·" in texts(at)


def test_the_gallery_selection_is_offered_on_the_predictions_page(sample_ds):
    at = page_test(PAGE, query={"classes": "smoke-ring", "split": "valid"})
    n = len(image_box(at))
    anns, images = sample_ds.annotations, sample_ds.images
    expected = set(anns.loc[anns["class_name"] == "smoke-ring", "image_id"]) & set(
        images.loc[images["split"] == "valid", "image_id"])
    assert n == len(expected) > 0
    switch_page(at, "pages/predictions.py")
    at.run()
    assert "Gallery selection" in at.selectbox(key="pred_subset").options
    at.selectbox(key="pred_subset").set_value("Gallery selection").run()
    assert not at.exception, [e.value for e in at.exception]
    assert f"Gallery selection: {n} images, as the Gallery's filters stand: classes: any of smoke-ring; " \
           "split valid." in texts(at)
    assert f"**Gallery selection (classes: any of smoke-ring; split valid)**: {n} images" in texts(at)


def test_the_layers_thumbnails_are_drawn_with_the_layers_set_and_thresholds(monkeypatch):
    import pages.gallery as gallery_page

    calls = []
    real = gallery_page.prediction_thumbnails

    def spy(ds, image_ids, preds, report, iou_type, options, **kwargs):
        calls.append((len(image_ids), preds.label, iou_type, report.score_threshold, report.iou_threshold))
        return real(ds, image_ids, preds, report, iou_type, options, **kwargs)

    monkeypatch.setattr(gallery_page, "prediction_thumbnails", spy)
    page_test(PAGE)
    assert calls == []  # the layer is off: the gallery's own thumbnails
    page_test(PAGE, query=LAYER | {"pred_score": "0.6", "pred_iou_type": "bbox"})
    assert calls == [(96, "synthetic predictions (synthetic, not a real model)", "bbox", 0.6, 0.5)]


def test_the_thresholds_set_on_the_predictions_page_hold_in_the_gallery():
    at = page_test("pages/predictions.py")
    at.slider(key="pred_score").set_value(0.6).run()
    at.slider(key="pred_iou").set_value(0.75).run()
    at.query_params["layer"] = "true"
    switch_page(at, PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "score ≥ 0.6 · IoU ≥ 0.75" in texts(at)  # the layer evaluates at them, not at the defaults
    assert (at.slider(key="pred_score").value, at.slider(key="pred_iou").value) == (0.6, 0.75)
    switch_page(at, "pages/predictions.py")  # and back
    at.run()
    assert (at.slider(key="pred_score").value, at.slider(key="pred_iou").value) == (0.6, 0.75)


def test_the_iou_type_chosen_in_the_gallery_holds_on_the_predictions_page():
    at = page_test(PAGE, query=LAYER)
    at.segmented_control(key="pred_iou_type").set_value("bbox").run()
    assert "Prediction layer: synthetic predictions (synthetic, not a real model) · bbox" in texts(at)
    switch_page(at, "pages/predictions.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.segmented_control(key="pred_iou_type").value == "bbox"
    assert "IoU type **bbox**" in texts(at)
