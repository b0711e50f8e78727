"""The Overview page as users see it: in AppTest and in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import builders as b
from tests.apptest import page_test, table_with, texts
from tests.test_loader import quirks_coco
from xami_core import load_dataset, stats


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


def test_overview_filter_table_counts_every_image(tmp_path):
    # Letters V, W, L, an unknown X and two names without an observation key: 8 images in all.
    root = b.write_filter_mix(tmp_path / "mix")
    at = page_test(query={"data": str(root)})
    assert {m.label: m.value for m in at.metric}["Images"] == "8"
    table = table_with(at, "filter", "wavelength (nm)", "images")
    assert table.index.tolist() == ["V", "L", "W", "X", "?"]  # by wavelength, White, unknown, no key
    assert table["filter"].tolist() == ["V", "UVW1", "White", "X (unknown filter)", "no observation key"]
    assert table["wavelength (nm)"].tolist() == ["543", "291", "broad band", "unknown", "unknown"]
    assert table["images"].tolist() == [2, 1, 1, 2, 2] and table["images"].sum() == 8  # 8 of 8
    assert "All 8 images, by the filter letter in their file name" in texts(at)


def test_overview_problems_say_what_was_skipped_and_what_was_kept(tmp_path):
    root = b.write_filter_mix(tmp_path / "mix")
    data = b.filter_mix_coco()["train"]
    data["annotations"].append(b.polygon_ann(99, 5, 3, [1.0, 2.0, 3.0]))  # odd coordinates, no usable box: skipped
    b.write_split(root / "train", data)
    ds = load_dataset(root)
    errors = sum(p.severity == "error" for p in ds.problems)
    warnings = len(ds.problems) - errors
    assert errors >= 1 and warnings >= 1  # names without an observation key are kept with a warning
    at = page_test(query={"data": str(root)})
    caption = next(c.value for c in at.caption if "skipped" in c.value)
    assert caption.startswith(f"{errors} record{' or file was' if errors == 1 else 's or files were'} skipped (error); "
                              f"{warnings} record{' was' if warnings == 1 else 's were'} kept with a warning.")
    problems = table_with(at, "record", "outcome", "message")
    assert problems["outcome"].tolist() == ["skipped" if p.severity == "error" else "kept" for p in ds.problems]
    assert "annotation id 99" in set(problems["record"])  # the file's own id, as the Gallery search takes it


def test_overview_names_hard_negatives_by_the_files_ids(tmp_path):
    root = b.write_filter_mix(tmp_path / "mix")
    at = page_test(query={"data": str(root)})
    empty = table_with(at, "split", "image id", "file_name")
    expected = sorted((split, image_id) for split, rows in b.FILTER_MIX.items() for image_id, _, n in rows if n == 0)
    assert sorted(zip(empty["split"], empty["image id"])) == expected
