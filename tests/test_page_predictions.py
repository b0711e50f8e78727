"""The Predictions page as users see it: every number shown against an independent pycocotools run, in AppTest
and in a real browser."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from pycocotools.cocoeval import COCOeval

from tests.apptest import page_test, texts
from tests.coco_reference import independent_eval, sample_as_one_coco
from xami_core.io.sample_predictions import synthetic_prediction_records

PAGE = "pages/predictions.py"
METRICS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
CLASSES = ["central-ring", "other", "read-out-streak", "smoke-ring", "star-loop"]


# --- an independent run: the sample's files merged, ids from 1, pycocotools on files ---------------


@pytest.fixture(scope="module")
def files(tmp_path_factory, sample_ds):
    """The sample's splits as one COCO file (image ids 1.., annotation ids from 1, as the page's note says COCOeval
    needs) and the synthetic predictions as a results file with those image ids; split of each image id."""
    root = tmp_path_factory.mktemp("predictions_page")
    gt, records, split_of = sample_as_one_coco(root, sample_ds)
    results = root / "results.json"
    results.write_text(json.dumps(records))
    return gt, results, records, split_of


def percent(value: float) -> str:
    """A COCOeval number as the page prints it: percent, one decimal, "—" for -1."""
    return "—" if value == -1 else f"{100 * value:.1f}"


# --- what the page shows ----------------------------------------------------------------------------


def shown(frame) -> pd.DataFrame:
    """A table's cells as the browser prints them: the column's printf format where it has one, the table's
    placeholder where there is no value, integers as they are."""
    formats = {name: config.get("type_config", {}).get("format") for name, config in json.loads(frame.proto.columns).items()}
    value = frame.value

    def cell(v, fmt):
        if pd.isna(v):
            return frame.proto.placeholder
        return fmt % v if fmt else str(v)

    return pd.DataFrame({c: [cell(v, formats.get(c)) for v in value[c]] for c in value.columns}, index=value.index)


def table_with(at, *columns: str):
    for frame in at.dataframe:
        if set(columns) <= set(frame.value.columns):
            return frame
    raise AssertionError(f"no table with columns {columns}")


def metric_cells(at) -> pd.DataFrame:
    return shown(table_with(at, "AP", "AR100", "n_gt"))


def rate_cells(at) -> pd.DataFrame:
    return shown(table_with(at, "precision", "recall", "F1"))


def assert_metrics_equal(at, gt: Path, results: Path, iou_type: str, img_ids: list | None, per_class: bool) -> None:
    cells = metric_cells(at)
    theirs = independent_eval(gt, results, iou_type, img_ids)
    assert list(cells.loc["all", METRICS]) == [percent(v) for v in theirs.stats], iou_type
    for k, name in enumerate(CLASSES if per_class else ()):
        one = independent_eval(gt, results, iou_type, img_ids, [k + 1])
        assert list(cells.loc[name, METRICS]) == [percent(v) for v in one.stats], (iou_type, name)


def test_metrics_equal_an_independent_cocoeval(files):
    gt, results, _, split_of = files
    at = page_test(PAGE)
    # The synthetic predictions are on by default on the sample, and said to be synthetic.
    assert "**Synthetic predictions**" in texts(at)
    assert "synthetic predictions (synthetic, not a real model)" in list(at.dataframe[0].value["set"])
    assert "reads id 0 as “no match”" in texts(at)  # why numbers can differ from a plain run on 0-based files
    assert "**all images**: 160 images" in texts(at)
    assert_metrics_equal(at, gt, results, "segm", None, per_class=True)
    cells = metric_cells(at)
    assert cells.loc["all", "n_gt"] == "906" and cells.loc["all", "n_pred"] == str(len(json.loads(results.read_text())))

    at.segmented_control(key="pred_iou_type").set_value("bbox").run()
    assert not at.exception
    assert_metrics_equal(at, gt, results, "bbox", None, per_class=True)

    at.selectbox(key="pred_subset").set_value("split valid").run()
    assert not at.exception
    valid = [i for i, s in split_of.items() if s == "valid"]
    assert f"**split valid**: {len(valid)} images" in texts(at)
    assert_metrics_equal(at, gt, results, "bbox", valid, per_class=False)


def independent_rates(gt: Path, records: list, score: float) -> dict[str, tuple[int, int, int]]:
    """(TP, predictions, ground truth) per class at IoU 0.5 from COCOeval's own matches (evalImgs) on the
    predictions scoring at least `score`, area all, 100 detections."""
    kept = [r for r in records if r["score"] >= score]
    e = independent_eval(gt, kept, "segm")
    out = {}
    for k, name in enumerate(CLASSES):
        tp = n_pred = n_gt = 0
        for ev in e.evalImgs:
            if ev is None or ev["category_id"] != k + 1 or ev["aRng"] != [0, 1e10] or ev["maxDet"] != 100:
                continue
            tp += int((ev["dtMatches"][0] > 0).sum())
            n_pred += len(ev["dtIds"])
            n_gt += len(ev["gtIds"])
        out[name] = (tp, n_pred, n_gt)
    return out


def assert_rates_equal(at, gt: Path, records: list, score: float) -> None:
    cells = rate_cells(at)
    for name, (tp, n_pred, n_gt) in independent_rates(gt, records, score).items():
        fp, fn = n_pred - tp, n_gt - tp
        expected = [str(n_gt), str(n_pred), str(tp), str(fp), str(fn), f"{tp / n_pred:.3f}", f"{tp / n_gt:.3f}",
                    f"{2 * tp / (2 * tp + fp + fn):.3f}"]
        assert list(cells.loc[name, ["ground truth", "predictions", "TP", "FP", "FN", "precision", "recall", "F1"]]) \
            == expected, (score, name)


def test_score_slider_changes_the_rates_without_rerunning_cocoeval(files, monkeypatch):
    gt, _, records, _ = files
    at = page_test(PAGE)
    assert at.slider(key="pred_score").value == 0.25
    before = rate_cells(at)
    assert_rates_equal(at, gt, records, 0.25)

    def refuse(self):
        raise AssertionError("COCOeval ran again for a new score threshold")

    with monkeypatch.context() as patch:  # the independent runs below need COCOeval back
        patch.setattr(COCOeval, "evaluate", refuse)
        patch.setattr(COCOeval, "accumulate", refuse)
        at.slider(key="pred_score").set_value(0.6).run()
        assert not at.exception, [e.value for e in at.exception]
    after = rate_cells(at)
    assert (after.loc["all", ["precision", "recall", "F1"]] != before.loc["all", ["precision", "recall", "F1"]]).all()
    assert_rates_equal(at, gt, records, 0.6)


def test_bad_inputs_say_what_and_the_rest_is_evaluated(files, sample_ds, tmp_path):
    # A model's results file with Ultralytics-style image ids (file stems), two bad records among them.
    records = synthetic_prediction_records(sample_ds)
    bad = [*records, {"image_id": records[0]["image_id"], "category_id": 1},  # no score
           {"image_id": "no-such-image", "category_id": 1, "score": 0.5, "bbox": [1.0, 1.0, 4.0, 4.0]}]
    (tmp_path / "model_a.json").write_text(json.dumps(bad))
    (tmp_path / "not_a_list.json").write_text(json.dumps({"image_id": 1}))
    missing = tmp_path / "missing.json"
    at = page_test(PAGE)
    at.text_area(key="pred_paths").set_value(
        f"{tmp_path / 'model_a.json'}\n{missing}\nbroken = {tmp_path / 'not_a_list.json'}").run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [str(e.value).replace("\\", "") for e in at.error]  # as read: markdown escapes dropped
    assert len(errors) == 2, errors
    assert any("missing.json" in e and "not found" in e for e in errors), errors
    assert any("(broken)" in e and "not_a_list.json: expected a JSON list" in e.replace(" [top level]", "") for e in errors), errors
    # The good file is loaded beside the synthetic set, its two bad records counted and named.
    sets = at.dataframe[0].value.set_index("set")
    assert list(sets.index) == ["synthetic predictions (synthetic, not a real model)", "model_a"]
    assert sets.loc["model_a", "unusable"] == 2 and sets.loc["model_a", "records read"] == len(records) + 2
    shown_text = texts(at).replace("\\", "")
    assert "**Unusable records by reason**: missing or non-finite score: 1; image not in the dataset: 1" in shown_text
    assert "2 record(s) of model_a" in shown_text
    # Two sets side by side: the model names are the columns; the same predictions give the same numbers.
    overall = shown(table_with(at, "model_a"))
    assert list(overall.columns) == list(sets.index) and list(overall.index) == METRICS
    assert (overall.iloc[:, 0] == overall.iloc[:, 1]).all()


@pytest.mark.parametrize("how", ["env", "argv"])
def test_predictions_given_at_start(sample_ds, tmp_path, monkeypatch, how):
    records = synthetic_prediction_records(sample_ds)
    paths = [tmp_path / "start_a.json", tmp_path / "start_b.json"]
    for path in paths:
        path.write_text(json.dumps(records))
    if how == "env":  # several paths separated as in PATH
        monkeypatch.setenv("XAMI_PREDICTIONS", f"{paths[0]}{os.pathsep}{paths[1]}")
    else:  # streamlit run app.py -- --predictions A --predictions B
        monkeypatch.setattr("sys.argv", ["app.py", "--predictions", str(paths[0]), "--predictions", str(paths[1])])
    at = page_test(PAGE)
    assert at.text_area(key="pred_paths").value == f"{paths[0]}\n{paths[1]}"
    assert at.toggle(key="pred_synthetic").value is False  # given predictions replace the synthetic ones
    assert list(at.dataframe[0].value["set"]) == ["start_a", "start_b"]
    assert "**Synthetic predictions**" not in texts(at)


def test_fingerprint_follows_the_files(tmp_path):
    """The cache key of a predictions path: an edited results file or YOLO .txt file is read again."""
    from xami_core.io.predictions import predictions_fingerprint

    results = tmp_path / "r.json"
    results.write_text("[]")
    before = predictions_fingerprint(results)
    results.write_text("[ ]")
    assert predictions_fingerprint(results) != before
    labels = tmp_path / "run" / "labels"
    labels.mkdir(parents=True)
    (labels / "a.txt").write_text("0 0.1 0.1 0.2 0.1 0.2 0.2 0.9\n")
    before = predictions_fingerprint(tmp_path / "run")  # a run folder: its labels/ subfolder
    assert before == predictions_fingerprint(labels)
    (labels / "b.txt").write_text("")
    assert predictions_fingerprint(tmp_path / "run") != before
    assert predictions_fingerprint(tmp_path / "missing")[-1] == "unreadable"


def test_the_worst_frame_is_drawn_with_its_outcomes(sample_ds):
    at = page_test(PAGE)
    errors = table_with(at, "image", "errors").value
    assert list(errors["errors"]) == sorted(errors["errors"], reverse=True)
    first = sample_ds.images.set_index("file_name").loc[errors["image"].iloc[0], "image_id"]
    assert at.selectbox(key="pred_frame").value == first
    spec = json.loads(at.get("plotly_chart")[3].proto.spec)  # PR curves, rates, confusion, then the frame
    drawn = [t.get("legendgroup") for t in spec["data"]]
    row = errors.iloc[0]
    assert (drawn.count("TP"), drawn.count("FP"), drawn.count("FN")) == (row["TP"], row["FP"], row["FN"])


def test_nothing_loaded_says_how_to_load():
    at = page_test(PAGE, query={"pred_synthetic": "false"})
    assert not at.exception
    assert "No prediction set loaded" in texts(at)
    assert not [f for f in at.dataframe]


@pytest.mark.browser
def test_predictions_in_chromium(browser):
    from playwright.sync_api import expect

    browser.open("", wait_for="Example frames")
    page = browser.open("predictions", wait_for="Precision–recall curves")
    # PR curves, rates, confusion matrix, the frame with the most errors, per filter
    expect(page.locator(".js-plotly-plot")).to_have_count(5, timeout=60_000)
    pr = page.locator(".js-plotly-plot").nth(0)
    expect(pr.locator(".scatterlayer .trace")).to_have_count(5)  # one curve per class
    rates = page.locator(".js-plotly-plot").nth(1)  # precision, recall and F1 bars, labelled with their values
    before = rates.locator(".bartext").all_text_contents()
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="Score threshold").get_by_role("slider")
    slider.focus()
    for _ in range(35):  # 0.25 -> 0.60 in steps of 0.01
        page.keyboard.press("ArrowRight")
    page.wait_for_function("() => window.location.search.includes('pred_score=0.6')")
    browser.settle()
    expect(slider).to_have_attribute("aria-valuetext", "0.60")
    page.wait_for_function("([el, old]) => [...el.querySelectorAll('.bartext')].map(t => t.textContent).join() != old",
                           arg=[rates.element_handle(), ",".join(before)])
    browser.screenshot("predictions", full_height=4200)
    frame = page.locator(".js-plotly-plot").nth(3)  # a frame with missed artefacts, drawn with its outcomes
    browser.scroll_to(frame)
    expect(frame.locator(".legendtext").filter(has_text="missed (FN)")).to_have_count(1)
    expect(frame.locator("image").first).to_be_visible()
    browser.screenshot("predictions_frame")


@pytest.mark.browser
def test_bad_predictions_uploads_in_chromium(browser, sample_ds):
    """An empty upload and one with bad records: the messages name the uploaded files and are read in full."""
    from playwright.sync_api import expect

    records = synthetic_prediction_records(sample_ds)
    bad = [*records, {"image_id": records[0]["image_id"], "category_id": 1, "score": 0.5,
                      "segmentation": [[1, 1, 5, 1, 5]]},
           {"image_id": "no-such-image", "category_id": 1, "score": 0.5, "bbox": [1.0, 1.0, 4.0, 4.0]}]
    browser.open("", wait_for="Example frames")
    page = browser.open("predictions", wait_for="Precision–recall curves")
    page.locator("[data-testid='stSidebar'] input[type='file']").set_input_files([
        {"name": "empty-run.json", "mimeType": "application/json", "buffer": b""},
        {"name": "model-b.json", "mimeType": "application/json", "buffer": json.dumps(bad).encode()}])
    page.get_by_text("Predictions not loaded").wait_for()
    browser.settle()
    alert = page.locator("[data-testid='stAlertContentError']").filter(has_text="Predictions not loaded")
    expect(alert.get_by_role("paragraph")).to_have_text(
        "Predictions not loaded: empty-run.json: the file is empty (0 bytes); expected a JSON list of result records "
        "({image_id, category_id, score, segmentation, bbox})")
    problems = page.locator("[data-testid='stExpander']").filter(has_text="Problems in model-b")
    expect(problems.get_by_text("image_id 'no-such-image' is neither an image id nor an image file stem of the "
                                "dataset; left out", exact=False)).to_be_visible()
    browser.scroll_to(problems)
    browser.screenshot("predictions_bad_upload", full_height=1600)


@pytest.mark.browser
def test_the_gallery_selection_subset_follows_the_gallery_in_chromium(browser):
    from playwright.sync_api import expect

    browser.open("gallery?classes=smoke-ring&split=valid", wait_for="images match")
    page = browser.page
    page.get_by_role("link", name="Predictions").click()
    page.get_by_text("Precision–recall curves").wait_for()
    browser.settle()
    page.get_by_label("Evaluate on", exact=True).click()
    page.get_by_role("option", name="Gallery selection", exact=True).click()
    page.get_by_text("as the Gallery's filters stand: classes: any of smoke-ring; split valid.").wait_for()
    browser.settle()
    # In the Gallery, the split filter widened to valid and train; back on Predictions, the subset follows.
    page.get_by_role("link", name="Gallery").click()
    page.get_by_text("images match").first.wait_for()
    browser.settle()
    splits = page.locator("[data-testid='stSidebar'] .st-key-split [data-testid='stMultiSelect']")
    browser.pick(splits, "train")  # again when a rerun that lands while the list is open closes it
    page.get_by_role("link", name="Predictions").click()
    page.get_by_text("Precision–recall curves").wait_for()
    browser.settle()
    expect(page.get_by_text("as the Gallery's filters stand: classes: any of smoke-ring; split valid, train.")
           ).to_be_visible()
    expect(page.get_by_role("combobox", name="Evaluate on")).to_have_value("Gallery selection")
    assert "pred_subset=Gallery+selection" in page.url or "pred_subset=Gallery%20selection" in page.url


def test_the_inputs_are_in_the_sidebars_predictions_section(files, tmp_path):
    _, results, _, _ = files
    at = page_test(PAGE)
    assert "Predictions" in [s.value for s in at.sidebar.subheader]
    assert at.sidebar.toggle(key="pred_synthetic").value is True  # the sample's synthetic set, on by default
    assert [t.key for t in at.main.text_area] == []  # no longer on the page itself
    at.sidebar.text_area(key="pred_paths").set_value(f"mine = {results}").run()
    assert not at.exception, [e.value for e in at.exception]
    assert list(at.dataframe[0].value["set"]) == ["synthetic predictions (synthetic, not a real model)", "mine"]
    # Still bound to the link: a link's paths fill the sidebar's box.
    linked = page_test(PAGE, query={"pred_paths": f"mine = {results}", "pred_synthetic": "false"})
    assert linked.sidebar.text_area(key="pred_paths").value == f"mine = {results}"
    assert linked.sidebar.toggle(key="pred_synthetic").value is False
    assert list(linked.dataframe[0].value["set"]) == ["mine"]


def dataset_of(at):
    from xami_ui.context import _DATASET

    return at.session_state[_DATASET]


def test_the_gallery_selection_is_a_subset_equal_to_cocoeval_with_its_img_ids(files):
    gt, results, _, split_of = files
    at = page_test(PAGE)
    ds = dataset_of(at)
    # What the gallery keeps for its current selection: the frames with a smoke ring (as its class filter would).
    anns = ds.annotations
    ids = tuple(sorted(int(i) for i in anns.loc[anns["class_name"] == "smoke-ring", "image_id"].unique()))
    assert 0 < len(ids) < len(ds.images)
    from xami_ui.predictions import GALLERY_SELECTION_KEY

    at.session_state[GALLERY_SELECTION_KEY] = ("classes: smoke-ring", ids, ds.content_key)
    at.run()
    assert "Gallery selection" in at.selectbox(key="pred_subset").options
    assert at.selectbox(key="pred_subset").value == "all images"  # offered, not chosen for the user
    at.selectbox(key="pred_subset").set_value("Gallery selection").run()
    assert not at.exception, [e.value for e in at.exception]
    assert f"Gallery selection: {len(ids)} images, as the Gallery's filters stand: classes: smoke-ring." in texts(at)
    assert f"**Gallery selection (classes: smoke-ring)**: {len(ids)} images" in texts(at)
    # The same frames in the merged file (by split and file name), evaluated by pycocotools with params.imgIds.
    ours = ds.images.set_index("image_id").loc[list(ids), ["split", "file_name"]]
    merged = {(split_of[img["id"]], img["file_name"]): img["id"] for img in json.loads(gt.read_text())["images"]}
    img_ids = sorted(merged[(s, f)] for s, f in zip(ours["split"], ours["file_name"]))
    assert_metrics_equal(at, gt, results, "segm", img_ids, per_class=True)
    at.segmented_control(key="pred_iou_type").set_value("bbox").run()
    assert_metrics_equal(at, gt, results, "bbox", img_ids, per_class=False)


def test_a_gallery_selection_of_other_data_is_not_evaluated():
    at = page_test(PAGE)
    from xami_ui.predictions import GALLERY_SELECTION_KEY

    at.session_state[GALLERY_SELECTION_KEY] = ("classes: smoke-ring", (1, 2, 3), "another dataset|0")
    at.run()
    at.selectbox(key="pred_subset").set_value("Gallery selection").run()
    assert not at.exception, [e.value for e in at.exception]
    assert NO_GALLERY_SELECTION in [w.value for w in at.warning]  # said, not evaluated on all images instead
    assert "COCO metrics" not in [h.value for h in at.subheader] and not [t for t in at.dataframe]


# --- the gallery selection follows the gallery ------------------------------------------------------

NO_GALLERY_SELECTION = ("**Gallery selection**: the Gallery has no selection for this dataset in this session, so "
                        "there is nothing to evaluate. Open the Gallery: the frames its filters select become this "
                        "subset. Or choose another subset above.")


def gallery_frames(at) -> list[int]:
    """The frames the gallery lists (its image box's options)."""
    return [int(v) for v in at.selectbox(key="image").options]


def test_the_gallery_selection_follows_the_gallerys_filters(sample_ds):
    from tests.apptest import switch_page

    # The gallery keeps its selection (smoke rings in valid); the Predictions page evaluates on it.
    at = page_test("pages/gallery.py", query={"classes": "smoke-ring", "split": "valid"})
    first = gallery_frames(at)
    switch_page(at, PAGE)
    at.run()
    at.selectbox(key="pred_subset").set_value("Gallery selection").run()
    assert f"**Gallery selection (classes: any of smoke-ring; split valid)**: {len(first)} images" in texts(at)
    # The gallery's filters change: back on the Predictions page the subset is still the gallery's selection, now
    # the new one (its name in the link and the session does not hold the count).
    switch_page(at, "pages/gallery.py")
    at.run()
    at.sidebar.multiselect(key="split").set_value(["train"]).run()
    second = gallery_frames(at)
    assert second and set(second) != set(first)
    switch_page(at, PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="pred_subset").value == "Gallery selection"
    assert f"**Gallery selection (classes: any of smoke-ring; split train)**: {len(second)} images" in texts(at)
    assert metric_cells(at).loc["all", "n_gt"] == str(int(sample_ds.annotations["image_id"].isin(second).sum()))


def test_without_a_gallery_selection_the_page_says_so():
    at = page_test(PAGE)  # the gallery was not opened in this session
    assert "Gallery selection" in at.selectbox(key="pred_subset").options
    at.selectbox(key="pred_subset").set_value("Gallery selection").run()
    assert not at.exception, [e.value for e in at.exception]
    assert NO_GALLERY_SELECTION in [w.value for w in at.warning]
    assert "COCO metrics" not in [h.value for h in at.subheader] and not [t for t in at.dataframe]


def test_an_empty_gallery_selection_is_said_not_evaluated():
    from xami_ui.predictions import GALLERY_SELECTION_KEY

    at = page_test(PAGE)
    at.session_state[GALLERY_SELECTION_KEY] = ("search “nothing”", (), dataset_of(at).content_key)
    at.selectbox(key="pred_subset").set_value("Gallery selection").run()
    assert [w.value for w in at.warning if "Gallery selection" in w.value] == [
        "**Gallery selection**: the Gallery's filters select no image (search “nothing”), so there is nothing to "
        "evaluate. Change them in the Gallery, or choose another subset above."]
    assert not [t for t in at.dataframe]


def test_a_link_with_the_old_gallery_selection_label_opens_on_the_gallery_selection():
    # Links made before named the option with its size and description.
    at = page_test(PAGE, query={"pred_subset": "Gallery selection (12 images: classes: any of smoke-ring)"})
    assert at.selectbox(key="pred_subset").value == "Gallery selection"
    assert NO_GALLERY_SELECTION in [w.value for w in at.warning]  # a new session: the gallery kept nothing yet


# --- the sets table: what its counts count ----------------------------------------------------------


def test_the_sets_counts_add_up_on_a_set_with_unusable_and_box_only_records(sample_ds, tmp_path):
    records = synthetic_prediction_records(sample_ds)  # image ids as file stems
    stems = sample_ds.images.assign(stem=sample_ds.images["file_name"].str.rsplit(".", n=1).str[0])
    valid = set(stems.loc[stems["split"] == "valid", "stem"])
    box_only = {"image_id": sorted(valid)[0], "category_id": 1, "score": 0.9, "bbox": [10.0, 10.0, 20.0, 20.0]}
    unmatched = [{"image_id": "no-such-image", "category_id": 1, "score": 0.5, "bbox": [1.0, 1.0, 4.0, 4.0]},
                 {"image_id": records[0]["image_id"], "category_id": 99, "score": 0.5, "bbox": [1.0, 1.0, 4.0, 4.0]},
                 {"image_id": records[0]["image_id"], "category_id": 1}]  # no score
    (tmp_path / "mixed.json").write_text(json.dumps([*records, box_only, *unmatched]))
    at = page_test(PAGE, query={"pred_synthetic": "false", "pred_paths": str(tmp_path / "mixed.json")})
    at.selectbox(key="pred_subset").set_value("split valid").run()
    assert not at.exception, [e.value for e in at.exception]
    n_valid = sum(r["image_id"] in valid for r in records)
    row = at.dataframe[0].value.set_index("set").loc["mixed"]
    counts = ["records read", "unusable", "box only (segm)", "on other images", "evaluated"]
    assert [int(row[c]) for c in counts] == [len(records) + 4, 3, 1, len(records) - n_valid, n_valid]
    assert row["records read"] == row["unusable"] + row["box only (segm)"] + row["on other images"] + row["evaluated"]
    assert "records read = unusable + box only (segm) + on other images + evaluated." in texts(at)
    # bbox evaluates the box-only prediction.
    at.segmented_control(key="pred_iou_type").set_value("bbox").run()
    row = at.dataframe[0].value.set_index("set").loc["mixed"]
    assert [int(row[c]) for c in counts] == [len(records) + 4, 3, 0, len(records) - n_valid, n_valid + 1]


def test_problem_messages_are_shown_in_full(sample_ds, tmp_path):
    records = synthetic_prediction_records(sample_ds)
    bad = {"image_id": records[0]["image_id"], "category_id": 1, "score": 0.5, "segmentation": [[1, 1, 5, 1, 5]]}
    path = tmp_path / "odd.json"
    path.write_text(json.dumps([*records, bad]))
    at = page_test(PAGE, query={"pred_synthetic": "false", "pred_paths": str(path)})
    assert [e.label for e in at.main.expander] == ["Problems in odd: 1 unusable record(s), 1 message(s)"]
    expected = (f"- {path} [record {len(records)} (image_id '{records[0]['image_id']}', category_id 1)]: polygon 0: "
                "expected an even number (at least 6) of coordinates, found 5; left out")
    # The whole message, as a line of text (not a cut table cell); as read, markdown escapes dropped.
    assert expected in [m.value.replace("\\", "") for m in at.markdown]
    assert [t.value.columns.tolist() for t in at.dataframe if "message" in t.value.columns] == []


# --- every way in names the input as given, says what was expected and nothing else ---------------


def errors_of(at) -> list[str]:
    return [str(e.value).replace("\\", "") for e in at.error]  # as read: markdown escapes dropped


RESULTS_FORM = "expected a JSON list of result records ({image_id, category_id, score, segmentation, bbox})"


@pytest.mark.parametrize("name, content, message", [
    # a 0-byte file: said to be empty, not malformed
    ("empty.json", "", "{path}: the file is empty (0 bytes); " + RESULTS_FORM),
    ("blank.json", " \n\n", "{path}: the file holds only white space (3 bytes); " + RESULTS_FORM),
    ("broken.json", '[{"image_id": 1,', "{path} [line 1, column 17]: malformed JSON: Expecting property name "
                                         "enclosed in double quotes; " + RESULTS_FORM),
    ("gt.json", '{"images": [], "annotations": []}', "{path} [top level]: " + RESULTS_FORM + ", found an object "
     "with 'images' and 'annotations': a COCO annotation file (ground truth), not a model's results"),
    # one YOLO text file instead of their folder
    ("S0123456789_L_x.txt", "0 0.1 0.1 0.2 0.1 0.2 0.2 0.9\n", "{path}: a single text file, not JSON; expected a COCO "
     "results .json file or a folder of YOLO .txt prediction files (give the folder that holds the .txt files, one "
     "per image)"),
    # a path that is not there
    (None, None, "{path}: not found; expected a COCO results .json file or a folder of YOLO .txt prediction files"),
])
def test_a_bad_path_in_the_box_is_named_as_typed(tmp_path, name, content, message):
    path = tmp_path / (name or "missing.json")
    if content is not None:
        path.write_text(content)
    typed = f"{tmp_path}/sub/../{path.name}"  # named as the user typed it, not as resolved
    at = page_test(PAGE, query={"pred_synthetic": "false"})
    at.sidebar.text_area(key="pred_paths").set_value(typed).run()
    assert not at.exception, [e.value for e in at.exception]
    assert errors_of(at) == [f"**Predictions not loaded**: {message.replace('{path}', typed)}"]


@pytest.mark.parametrize("how", ["env", "argv"])
def test_a_bad_file_given_at_start_is_named_and_said(tmp_path, monkeypatch, how):
    path = tmp_path / "start.json"
    path.write_text("")
    if how == "env":
        monkeypatch.setenv("XAMI_PREDICTIONS", str(path))
    else:
        monkeypatch.setattr("sys.argv", ["app.py", "--predictions", str(path)])
    at = page_test(PAGE)
    assert errors_of(at) == [f"**Predictions not loaded**: {path}: the file is empty (0 bytes); {RESULTS_FORM}"]
    assert "No prediction set loaded" in texts(at)


def test_a_yolo_folder_names_its_files_and_lines(sample_ds, tmp_path):
    labels = tmp_path / "run" / "labels"
    labels.mkdir(parents=True)
    image = sample_ds.images["file_name"].iloc[0].rsplit(".", 1)[0]
    (labels / f"{image}.txt").write_text("0 0.1 0.1 0.3 0.1 0.3 0.3 0.8\n1 0.1 0.1 oops 0.1 0.3 0.3 0.8\n"
                                         "1 0.1 0.1 0.3 0.1 0.3 0.3\n")
    (labels / "not-an-image.txt").write_text("0 0.1 0.1 0.3 0.1 0.3 0.3 0.8\n")
    (tmp_path / "empty_run").mkdir()
    at = page_test(PAGE, query={"pred_synthetic": "false"})
    at.sidebar.text_area(key="pred_paths").set_value(f"yolo = {tmp_path / 'run'}\n{tmp_path / 'empty_run'}").run()
    assert not at.exception, [e.value for e in at.exception]
    assert errors_of(at) == [
        f"**Predictions not loaded**: {tmp_path / 'empty_run'}: the folder holds no .txt prediction file (nor a "
        "labels/ folder with them); expected one '<image stem>.txt' per image, a line 'class x1 y1 ... xn yn conf' "
        "per instance (YOLOv8 predict with save_txt=True, save_conf=True)"]
    row = at.dataframe[0].value.set_index("set").loc["yolo"]
    assert (int(row["records read"]), int(row["unusable"]), int(row["evaluated"])) == (4, 3, 1)
    lines = "\n".join(m.value for m in at.markdown).replace("\\", "")
    folder = tmp_path / "run" / "labels"
    assert (f"- {folder / (image + '.txt')} [line 2]: expected 'class x1 y1 ... xn yn conf' of numbers, found "
            "'1 0.1 0.1 oops 0.1 0.3 0.3 0.8'; left out") in lines
    assert (f"- {folder / (image + '.txt')} [line 3]: expected 2k + 1 values after the class (k >= 3 points, then "
            "the confidence) or 5 (cx cy w h conf), found 6 (no confidence at the end: save with save_conf=True); "
            "left out") in lines
    assert (f"- {folder / 'not-an-image.txt'} [file]: 1 prediction(s) for not-an-image, which is no image file stem "
            "of the dataset; expected a file named after an image, '<image stem>.txt'; left out") in lines


def test_a_predictions_path_inside_the_cache_folder_is_refused_with_upload_advice_that_fits():
    # Predictions are a .json file (the uploader takes .json) or a folder of .txt files: never "upload the zip".
    from xami_core.paths import cache_dir

    at = page_test(PAGE)
    at.sidebar.text_area(key="pred_paths").set_value(str(cache_dir() / "prediction_uploads")).run()
    [error] = [e.value for e in at.error if "cache folder" in e.value]
    assert "upload the file or choose another path" in error and "upload the zip" not in error


def test_an_empty_results_list_is_evaluated_and_said_on_the_page(tmp_path):
    empty = tmp_path / "nothing.json"
    empty.write_text("[]")
    at = page_test(PAGE, query={"pred_paths": f"empty = {empty}", "pred_synthetic": "false"})
    assert not at.exception and list(at.dataframe[0].value["set"]) == ["empty"]
    assert "Problems in empty: 0 unusable record(s), 1 message(s)" in [e.label for e in at.expander]
    [line] = [m.value for m in at.markdown if "nothing.json" in m.value]
    assert "[top level]: warning: an empty list: no predictions to evaluate" in line.replace("\\", ""), line
