"""The Health page as users see it: the verdict, the checks and their frames, thresholds, statistics; in AppTest and
in a real browser."""

from __future__ import annotations

import io
import re
import zipfile
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest

from tests.apptest import download_buttons, keep_downloads, page_test, table_with, texts
from tests.browser import SCREENSHOTS
from tests.test_health import _dirty
from xami_core.analysis import annotation_stats as S
from xami_core.analysis import folds as F
from xami_core.analysis import health as H
from xami_core.io.loader import load_dataset
from xami_core.render.export import find_browser
from xami_ui.text import md_literal

HEALTH = "pages/health.py"


@pytest.fixture(scope="module")
def dirty_root(tmp_path_factory):
    """One of each problem (tests/test_health.py), in a folder the page loads from the link."""
    return _dirty(tmp_path_factory.mktemp("health-page"))


def _summary(at):
    return at.table[0].value


def _boxes_below(ds, min_iou: float) -> int:
    """Annotations whose stored box overlaps their mask's box with IoU below `min_iou`, worked out here."""
    ann = ds.annotations
    ann = ann[(ann["kind"] != "box") & ann["bbox_w"].notna()]
    x0, y0, w0, h0 = (ann[f"bbox_{c}"].to_numpy(float) for c in "xywh")
    x1, y1, w1, h1 = (ann[f"mask_box_{c}"].to_numpy(float) for c in "xywh")
    iw = np.clip(np.minimum(x0 + w0, x1 + w1) - np.maximum(x0, x1), 0, None)
    ih = np.clip(np.minimum(y0 + h0, y1 + h1) - np.maximum(y0, y1), 0, None)
    union = w0 * h0 + w1 * h1 - iw * ih
    return int((iw * ih / union < min_iou).sum())


def test_verdict_and_summary_against_the_checks(dirty_root):
    at = page_test(HEALTH, query={"data": str(dirty_root)})
    report = H.run_checks(load_dataset(dirty_root), use_hash_cache=False)
    assert f"**{md_literal(report.verdict)}**" in [w.value for w in at.warning]
    flagged = report.summary[report.summary["flagged"]]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Checks passed"] == f"{int((flagged['count'] == 0).sum())} of {len(flagged)}" == "0 of 13"
    assert metrics["Records to look at"] == f"{report.problem_count:,}"
    assert metrics["Images checked"] == "8" and metrics["Hard negatives (counted)"] == "5"
    shown = _summary(at)
    assert shown["check"].tolist() == report.summary["check"].tolist()
    assert shown["count"].tolist() == report.summary["count"].tolist()
    # The planted problems, counted by hand: one box elsewhere, three bad polygons and one dropped at load,
    # one pair of twin frames across the splits, one frame deleted, one stray file, one box-only annotation
    # and the one whose polygon was dropped (kept as its box).
    counts = dict(zip(report.summary["name"], shown["count"]))
    assert (counts[H.BOX_VS_POLYGON], counts[H.DEGENERATE_POLYGONS], counts[H.DUPLICATE_FRAMES],
            counts[H.FRAME_FILES], counts[H.UNLISTED_FRAMES], counts[H.BOX_ONLY]) == (1, 4, 1, 1, 1, 2)
    assert set(shown["status"].str.replace("\u00a0", " ")) == {"to look at", "counted"}


def test_every_offending_frame_links_to_the_gallery_detail_view(dirty_root):
    at = page_test(HEALTH, query={"data": str(dirty_root)})
    ds = load_dataset(dirty_root)
    boxes = table_with(at, "frame", "iou", "mask_box_x")
    (link,) = boxes["frame"].tolist()
    url = urlsplit(link)
    assert url.path == "gallery"  # relative: the app's gallery page wherever the app is served
    query = parse_qs(url.query)
    planted = ds.images.loc[(ds.images["split"] == "train") & (ds.images["coco_id"] == 1), "image_id"].item()
    assert query["image"] == [str(planted)]
    assert query["data"] == ["path"] and query["path"] == [str(dirty_root)]  # the same data opens
    assert not [k for k in query if k.startswith("h_")]  # not this page's own settings
    twins = table_with(at, "frame", "other frame", "distance")
    assert twins["split"].tolist() == ["train"] and twins["other_split"].tolist() == ["valid"]
    assert parse_qs(urlsplit(twins["other frame"].iloc[0]).query)["image"] == [str(twins["other_image_id"].iloc[0])]
    # Records without a frame (a file on disk no annotation file lists) have no link.
    stray = table_with(at, "frame", "path")
    assert stray.loc[stray["image_id"].isna(), "frame"].isna().all()
    labels = [e.label for e in at.expander]
    assert md_literal("stored box vs the mask's box (IoU below 0.5): 1 record") in labels


def test_a_threshold_is_a_setting_of_the_link(sample_ds):
    at = page_test(HEALTH)
    names = H.run_checks(sample_ds, use_hash_cache=False).summary["name"].tolist()
    assert dict(zip(names, _summary(at)["count"]))[H.BOX_VS_POLYGON] == _boxes_below(sample_ds, 0.5) == 0
    at.slider(key="h_box_iou").set_value(0.95).run()
    assert not at.exception
    expected = _boxes_below(sample_ds, 0.95)
    assert expected > 0  # the sample's stored boxes are close to, not exactly, their polygons' boxes
    assert dict(zip(names, _summary(at)["count"]))[H.BOX_VS_POLYGON] == expected
    box_only = int((sample_ds.annotations["kind"] == "box").sum())  # the sample's one annotation without a mask
    assert {m.label: m.value for m in at.metric}["Records to look at"] == f"{expected + box_only:,}"
    assert md_literal(f"stored box vs the mask's box (IoU below 0.95): {expected:,} records") in [
        e.label for e in at.expander]
    # The link opens the page with that threshold.
    again = page_test(HEALTH, query={"h_box_iou": "0.95"})
    assert dict(zip(names, _summary(again)["count"]))[H.BOX_VS_POLYGON] == expected


def test_a_moved_threshold_reuses_the_prepared_checks(dirty_root, monkeypatch):
    # Hashes, mask IoUs and polygon validity are worked out once per dataset; a slider only compares.
    calls = []
    real = H.prepare_checks
    monkeypatch.setattr(H, "prepare_checks", lambda *a, **k: calls.append(1) or real(*a, **k))
    at = page_test(HEALTH, query={"data": str(dirty_root)})
    before = len(calls)
    assert before <= 1  # 0 when an earlier test of this module already prepared the same content
    for key, value in (("h_box_iou", 0.95), ("h_mask_iou", 0.3), ("h_hash", 20)):
        at.slider(key=key).set_value(value).run()
        assert not at.exception
    assert len(calls) == before
    names = H.run_checks(load_dataset(dirty_root), 0.95, 0.3, 20, use_hash_cache=False).summary
    assert _summary(at)["count"].tolist() == names["count"].tolist()


@pytest.fixture
def downloads_page(dirty_root, monkeypatch):
    """The Health page on the dirty fixture, with its download buttons and a way to click them."""
    click = keep_downloads(monkeypatch)
    at = page_test(HEALTH, query={"data": str(dirty_root)})
    return at, download_buttons(at), click


def test_report_zip_has_a_csv_per_check_with_the_counts_shown(downloads_page, dirty_root):
    at, buttons, click = downloads_page
    name, data = click(buttons["Report: a CSV per check (zip)"])
    assert name == "health_report.zip"
    shown = _summary(at)
    report = H.run_checks(load_dataset(dirty_root), use_hash_cache=False)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        files = {n: pd.read_csv(zf.open(n)) for n in zf.namelist()}
    assert set(files) == {"summary.csv"} | {f"{n}.csv" for n in report.summary["name"]}
    # One row per offending record: each check's CSV holds as many rows as the page's summary counts.
    counts = dict(zip(report.summary["name"], shown["count"], strict=True))
    assert {n: len(files[f"{n}.csv"]) for n in counts} == counts
    assert files["summary.csv"]["count"].tolist() == shown["count"].tolist()
    assert files["summary.csv"]["check"].tolist() == shown["check"].tolist()
    assert sum(counts.values()) > 10 and counts[H.DEGENERATE_POLYGONS] == 4
    assert files[f"{H.BOX_VS_POLYGON}.csv"]["image_id"].tolist() == table_with(at, "frame", "iou")["image_id"].tolist()


@pytest.mark.skipif(find_browser() is None, reason="needs Chrome or Chromium for kaleido")
def test_summary_pdf_download_is_one_page(downloads_page):
    _, buttons, click = downloads_page
    assert not buttons["One-page summary (PDF)"].disabled
    name, data = click(buttons["One-page summary (PDF)"])
    assert name == "health_summary.pdf" and data.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page[^s]", data)) == 1


def test_statistics_per_class_and_split(sample_ds):
    at = page_test(HEALTH, query={"h_stat": "instance area"})  # a bound control's link holds its label
    table = table_with(at, "part", "class", "median", "q95")
    ann = sample_ds.annotations
    for (split, name), rows in ann.groupby(["split", "class_name"]):
        row = table[(table["part"] == split) & (table["class"] == name)].iloc[0]
        assert row["n"] == len(rows) and row["median"] == pytest.approx(np.median(rows["mask_area"]))
        assert row["max"] == pytest.approx(rows["mask_area"].max()) and row["unit"] == "px²"
    every = table[(table["part"] == "valid") & (table["class"] == S.ALL_CLASSES)].iloc[0]
    assert every["n"] == int((ann["split"] == "valid").sum())


def test_statistics_of_a_fold_of_the_authors_folds(sample_ds):
    at = page_test(HEALTH, query={"h_parts": "authors' fold 2"})
    per_image = table_with(at, "part", "class", "instances", "images")
    folds = F.make_folds(sample_ds, "stratified", F.AUTHORS_K, F.AUTHORS_SEED).assignments
    fold = folds[folds["fold"] == 2]
    every = per_image[per_image["class"] == S.ALL_CLASSES]
    assert every.groupby("part")["images"].sum().to_dict() == fold["part"].value_counts().to_dict()
    empty = set(sample_ds.images.loc[sample_ds.images["n_annotations"] == 0, "image_id"])
    valid_empty = len(empty & set(fold.loc[fold["part"] == "valid", "image_id"]))
    assert every[(every["part"] == "valid") & (every["instances"] == 0)]["images"].sum() == valid_empty
    assert at.selectbox(key="h_parts").value == "fold2"


def test_sample_flags_only_its_box_only_annotation(sample_ds):
    # The sample's one annotation without a mask (train annotation 31, "other"); every other check passes.
    at = page_test(HEALTH)
    n_empty = int((sample_ds.images["n_annotations"] == 0).sum())
    assert not at.success and [w.value for w in at.warning if "checks" in w.value] == [
        f"**{md_literal(f'1 of 13 checks found 1 record to look at; images without annotations (hard negatives): {n_empty} (counted, not flagged).')}**"]
    assert "Synthetic sample" in texts(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Checks passed"] == "12 of 13" and metrics["Records to look at"] == "1"
    shown = _summary(at)
    row = shown[shown["check"] == "annotations without a mask (box only)"]
    assert row["count"].tolist() == [1] and row["status"].str.replace("\u00a0", " ").tolist() == ["to look at"]
    others = shown.drop(row.index)
    assert others["count"].sum() == n_empty  # the other checks' counts as before: the hard negatives only
    assert md_literal("annotations without a mask (box only): 1 record") in [e.label for e in at.expander]
    box_only = sample_ds.annotations[sample_ds.annotations["kind"] == "box"]
    table = table_with(at, "frame", "ann_id", "reason", "bbox_w")
    assert table["ann_id"].tolist() == box_only["ann_id"].tolist() == [31]
    assert table["class_name"].tolist() == ["other"] and table["reason"].tolist() == ["no mask in the file"]
    query = parse_qs(urlsplit(table["frame"].iloc[0]).query)
    assert urlsplit(table["frame"].iloc[0]).path == "gallery" and query["image"] == [str(box_only["image_id"].item())]


@pytest.mark.browser
def test_health_in_chromium(browser, dirty_root, sample_ds):
    page = browser.open(f"health?data={dirty_root}", wait_for="Checks passed")
    page.locator(".js-plotly-plot").first.wait_for()
    browser.screenshot("health_dirty", full_height=2400)
    # On the sample: a threshold changed in the page, then the first offending frame's link.
    page = browser.open("health?data=sample", wait_for="Checks passed")
    page.set_viewport_size({"width": 1400, "height": 1000})
    slider = page.get_by_role("slider").first
    slider.focus()
    page.keyboard.press("End")  # box IoU 1.0: every stored box that differs at all from its polygon's
    browser.settle()
    assert "h_box_iou=1" in page.url
    expected = _boxes_below(sample_ds, 1.0)
    label = f"stored box vs the mask's box (IoU below 1): {expected:,} records"
    page.get_by_text(label).click()
    browser.settle()
    browser.screenshot("health")
    grid = page.locator("[data-testid='stExpander']").filter(has_text=label).locator("[data-testid='stDataFrame']")
    browser.scroll_to(grid)
    box = grid.bounding_box()
    x, y = box["x"] + 30, box["y"] + 35 + 17  # the first row's link cell (header and rows 35 px high)
    page.mouse.move(x, y)  # the grid opens a link cell under the pointer
    page.wait_for_timeout(300)
    with browser.context.expect_page() as opened:
        page.mouse.click(x, y)
    gallery = opened.value
    gallery.get_by_text("Back to gallery").wait_for()
    assert "/gallery?image=" in gallery.url and "data=sample" in gallery.url
    gallery.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')")
    gallery.wait_for_timeout(800)
    gallery.screenshot(path=str(SCREENSHOTS / "health_to_gallery.png"))
