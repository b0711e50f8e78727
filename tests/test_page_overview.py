"""The Overview page as users see it: in AppTest and in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import builders as b
from tests.apptest import page_test, table_with, texts
from tests.test_loader import quirks_coco
from xami_core import load_dataset
from xami_core.analysis import stats


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


# ---------------------------------------------------------------- terms of data that is not XAMI

ROBOFLOW_LICENSES = [{"id": 1, "url": "https://creativecommons.org/licenses/by/4.0/", "name": "CC BY 4.0"}]
ROBOFLOW_INFO = {"year": "2022", "version": "2", "description": "Exported via roboflow.com", "contributor": "A. Grower",
                 "url": "https://universe.roboflow.com/plants/leaves", "date_created": "2022-09-01T10:00:00+00:00"}


@pytest.mark.parametrize(
    ("info", "licenses", "licence", "description"),
    [
        # another subject's Roboflow export: its own licence and description, as the files state them
        (ROBOFLOW_INFO, ROBOFLOW_LICENSES, "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)",
         "Exported via roboflow.com · contributor A. Grower · 2022 · https://universe.roboflow.com/plants/leaves"),
        # the same files with empty blocks: "not stated", never XAMI's terms instead
        ({}, [], "not stated", "not stated"),
    ],
)
def test_other_data_shows_its_own_terms_not_xamis(tmp_path, info, licenses, licence, description):
    from xami_ui.text import md_literal as md_escape

    names = [f"leaf-{i}" for i in range(10)]
    images = [b.image(i, f"IMG_{i:04d}_jpg.rf.{'c' * 32}.jpg", 64, 64) for i in range(3)]
    anns = [b.polygon_ann(i, i % 3, i + 1, b.square(4 + i, 4 + i, 8)) for i in range(10)]
    b.write_split(tmp_path / "ds" / "train", b.coco(images, anns, b.categories(names), info=info, licenses=licenses))
    at = page_test(query={"data": str(tmp_path / "ds")})
    shown = texts(at)
    assert f"**Licence (as the files state it):** {md_escape(licence)}" in shown
    assert f"**Description (as the files state it):** {md_escape(description)}" in shown
    assert ("**Not recognised as XAMI data:** "
            + md_escape("its 10 classes (leaf-0, leaf-1, leaf-2, leaf-3, leaf-4…) are not XAMI's")) in shown
    for xami_term in ("CC BY-NC 3.0 IGO", "Dima", "arXiv:2406.17323", "XAMI data ·"):
        assert xami_term not in shown  # on the page
        assert all(xami_term not in c.value for c in at.sidebar.caption)  # and in the sidebar
    assert at.title[0].value == "Dataset overview"
    # No comparison with the XAMI authors' numbers for data that is not XAMI.
    assert "published numbers" not in shown and not at.success
    assert not [e for e in at.expander if "Published numbers" in e.label]
    assert any("Not recognised as XAMI" in c.value for c in at.sidebar.caption)
    assert {m.label: m.value for m in at.metric}["Classes"] == "10"


def test_xami_data_keeps_xamis_terms(tmp_path):
    # XAMI's classes and observation file names: recognised, XAMI's licence and citation, why it was recognised.
    b.write_split(tmp_path / "ds" / "train", quirks_coco())
    at = page_test(query={"data": str(tmp_path / "ds")})
    shown = texts(at)
    assert "**Licence:** CC BY-NC 3.0 IGO" in shown and "Dima" in shown
    assert "**XAMI data:** XAMI's five classes, and all 3 file names in XAMI's observation naming." in shown
    assert at.title[0].value == "XAMI dataset overview"


# ---------------------------------------------------------------- issue 14 item 3


def test_white_shows_broad_band_not_none(sample_ds):
    at = page_test()
    table = table_with(at, "filter", "wavelength (nm)", "images")
    assert table.loc["W", "filter"] == "White" and table.loc["W", "wavelength (nm)"] == "broad band"
    assert "None" not in set(table["wavelength (nm)"]) and table["wavelength (nm)"].notna().all()


def _plotly_specs(at) -> list[str]:
    return [el.proto.spec for el in at.get("plotly_chart")]


def test_metadata_matching_nothing_is_said_in_words_without_empty_charts(tmp_path):
    b.write_split(tmp_path / "ds" / "train", quirks_coco())
    other = tmp_path / "obs_info_other.json"
    other.write_text('{"S0999999999_U.fits": {"EXPOSURE": 4000.0, "RA": 187.88, "DEC": 70.71, "PA": 318.45}}')
    at = page_test(query={"data": str(tmp_path / "ds")})
    at.sidebar.text_input(key="obs_info_path").set_value(str(other)).run()
    assert not at.exception
    n_images = len(load_dataset(tmp_path / "ds").images)
    assert {m.label: m.value for m in at.metric}["Images with metadata"] == "0"
    assert any(f"None of the {n_images} images' observations is in the metadata file (1 observation)" in i.value
               for i in at.info)
    specs = _plotly_specs(at)
    assert specs  # the class and filter charts are drawn
    assert not [s for s in specs if "exposure time" in s or "Galactic plane" in s]  # no empty histogram or sky map
    assert "Pointings on the sky" not in texts(at) and "Exposure time per image" not in texts(at)
    # The observations looked for are still listed.
    assert table_with(at, "obs_key", "n_images")["n_images"].sum() == n_images


def test_published_mismatches_show_the_difference(tmp_path):
    from tests.test_published import published_coco

    data = published_coco()
    victim = next(a for a in data["valid"]["annotations"] if a["category_id"] == 4)  # one smoke ring fewer
    data["valid"]["annotations"].remove(victim)
    for split, coco in data.items():
        b.write_split(tmp_path / "xami_dataset" / split, coco, with_images=False)
    at = page_test(query={"data": str(tmp_path / "xami_dataset")})
    note = next(i.value for i in at.info if "counts differ from the XAMI authors' published numbers" in i.value)
    assert note.startswith("4 of 30 counts differ")
    assert "smoke-ring annotations, valid: 401 found, 402 published (−1)" in note
    shown = table_with(at, "quantity", "published", "found", "difference")
    off = shown[shown["difference"] != 0]
    assert len(off) == 4 and (off["difference"] == -1).all() and (off["found"] - off["published"] == -1).all()
    assert list(shown["difference"].iloc[:4]) == [-1] * 4  # mismatches first
