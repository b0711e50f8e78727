"""The Overview page as users see it: in AppTest and in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import builders as b
from tests.apptest import page_test, texts
from tests.test_loader import quirks_coco
from xami_core import stats


def test_overview_shows_the_sample_counts(sample_ds):
    at = page_test()
    summary = stats.split_summary(sample_ds)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images"] == f"{summary.loc['total', 'images']:,}"
    assert metrics["Annotations"] == f"{summary.loc['total', 'annotations']:,}"
    assert metrics["Images without artefacts"] == str(summary.loc["total", "empty images"])
    assert metrics["Classes"] == "5"
    shown = at.dataframe[0].value
    assert shown.loc["train", "images"] == 120 and shown.loc["valid", "images"] == 40
    assert "Synthetic sample" in texts(at)
    assert at.query_params["data"] == "sample"


def test_overview_per_class_and_filter_tables(sample_ds):
    at = page_test()
    class_table = at.dataframe[1].value
    expected = stats.class_counts(sample_ds)
    for row in expected.itertuples():
        assert class_table.loc[row.class_name, f"{row.split} annotations"] == row.annotations
    filters = at.dataframe[2].value
    assert list(filters["filter"]) == ["V", "B", "U", "UVW1", "UVM2", "UVW2", "White"]  # by wavelength
    assert filters["images"].sum() == len(sample_ds.images)


def test_overview_of_a_local_folder_given_in_the_link(tmp_path):
    b.write_split(tmp_path / "ds" / "train", quirks_coco())
    at = page_test(query={"data": str(tmp_path / "ds")})
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images"] == "3" and metrics["Annotations"] == "5" and metrics["Images without artefacts"] == "1"
    assert "CC BY-NC 3.0 IGO" in texts(at) and "arXiv:2406.17323" in texts(at)
    assert at.sidebar.radio[0].value == "Local folder or zip"


def test_overview_lists_input_problems(tmp_path):
    data = quirks_coco()
    data["annotations"].append(b.polygon_ann(99, 0, 3, [1.0, 2.0, 3.0]))
    b.write_split(tmp_path / "train", data)
    at = page_test(query={"data": str(tmp_path / "train")})
    assert "Input problems (2)" in texts(at)  # the bad part, then the annotation left without polygon
    problems = at.dataframe[-1].value
    assert "annotation id 99, polygon 0" in set(problems["record"])


def test_a_bad_path_says_why_and_falls_back_to_the_sample(tmp_path):
    at = page_test(query={"data": str(tmp_path / "missing")})
    assert any("no such file or folder" in e.value and "synthetic sample" in e.value for e in at.error)
    assert {m.label: m.value for m in at.metric}["Images"] == "160"


@pytest.mark.browser
def test_overview_in_chromium(browser):
    page = browser.open("", wait_for="Example frames")
    assert page.get_by_text("XAMI dataset overview").is_visible()
    # four example frames, and the class chart drawn by plotly
    page.locator("[data-testid='stImage'] img").first.wait_for()
    expect(page.locator("[data-testid='stImage'] img")).to_have_count(4)
    expect(page.locator(".js-plotly-plot").nth(1)).to_be_visible()
    page.get_by_text("annotation share", exact=True).click()
    browser.settle()
    assert (page.locator(".js-plotly-plot .ytitle").first.text_content() or "").startswith("share of annotations")
    browser.screenshot("overview", full_height=2600)


def test_real_layout_with_the_published_numbers_says_so(tmp_path):
    # A stand-in with exactly the published counts: the Overview confirms every one of them.
    from tests.test_published import published_coco

    for split, data in published_coco().items():
        b.write_split(tmp_path / "xami_dataset" / split, data, with_images=False)
    at = page_test(query={"data": str(tmp_path / "xami_dataset")})
    assert any("All 30 counts the XAMI authors published" in s.value for s in at.success)
    assert {m.label: m.value for m in at.metric}["Images"] == "1,055"


def test_other_data_is_told_how_it_differs(tmp_path):
    b.write_split(tmp_path / "ds" / "train", quirks_coco())
    at = page_test(query={"data": str(tmp_path / "ds")})
    assert any("counts differ from the XAMI authors' published numbers" in i.value for i in at.info)
    assert not at.success
