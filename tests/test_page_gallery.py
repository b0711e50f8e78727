"""The Gallery page as users see it: in AppTest (from the entrypoint) and in a real browser."""

from __future__ import annotations

import io
import json
import logging
import re
import zipfile

import cv2
import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import expect

from tests import builders as b
from tests.apptest import download_buttons, keep_downloads, page_test, texts
from xami_core.analysis import gallery
from xami_core.io.loader import load_dataset

PAGE = "pages/gallery.py"
SL, SR, RS, CR = "star-loop", "smoke-ring", "read-out-streak", "central-ring"
# A view a user shares: star loops without smoke rings on UVW1 frames, most annotations first. The
# widgets are bound to the link, which holds an option as the widget shows it.
QUERY = {"classes": SL, "without": SR, "filters": "UVW1 (291 nm)", "sort": gallery.SORT_LABELS["annotations"]}


def expected_ids(ds, has: set[str], without: set[str] = frozenset(), letters: set[str] | None = None) -> list[int]:
    """Matching image ids, most annotations first, found from the loader's per-image class sets."""
    rows = [r for r in ds.images.itertuples()
            if has <= r.classes and not (r.classes & without) and (letters is None or r.filter_letter in letters)]
    return [r.image_id for r in sorted(rows, key=lambda r: (-r.n_annotations, r.image_id))]


def open_buttons(at) -> list[int]:
    return [int(btn.key.rsplit("_", 1)[1]) for btn in at.button if btn.key and btn.key.startswith("gallery_open_")]


def own_params(at) -> dict[str, str]:
    return {k: v for k, v in at.query_params.items() if k not in ("data", "palette")}


def test_link_shows_the_filtered_gallery(sample_ds):
    at = page_test(PAGE, query=QUERY)
    ids = expected_ids(sample_ds, {SL}, {SR}, {"L"})
    assert len(ids) > 5
    assert f"**{len(ids)}** of 160 images match · showing 1–{len(ids)} · page 1 of 1" in texts(at)
    assert open_buttons(at) == ids  # the thumbnails, in the chosen order
    assert at.sidebar.multiselect(key="classes").value == [SL]
    assert at.sidebar.multiselect(key="without").value == [SR]
    assert at.sidebar.multiselect(key="filters").value == ["L"]
    assert at.sidebar.selectbox(key="sort").value == "annotations"
    assert own_params(at) == QUERY  # the URL keeps the view
    # Under each thumbnail: observation, filter and per-class counts.
    first = sample_ds.images.set_index("image_id").loc[ids[0]]
    assert any(f"**{first['obs_key']}** · UVW1" in c.value and "SL" in c.value and "SR" not in c.value for c in at.caption)


@pytest.mark.parametrize("query, has, without", [
    ({"classes": [RS, CR], "mode": gallery.CLASS_MODE_LABELS["exactly"]}, {RS, CR}, None),  # exactly these two classes
    ({"empty": gallery.EMPTY_MODE_LABELS["only"]}, set(), None),  # hard negatives only
])
def test_class_modes_in_the_page(sample_ds, query, has, without):
    at = page_test(PAGE, query=query)
    if without is None and "mode" in query:
        n = sum(r == frozenset(has) for r in sample_ds.images["classes"])
    else:
        n = int((sample_ds.images["n_annotations"] == 0).sum())
        assert at.sidebar.multiselect(key="classes").disabled  # classes make no sense here
    assert n > 0 and f"**{n}** of 160 images match" in texts(at)


def test_widgets_change_the_count_and_the_link(sample_ds):
    at = page_test(PAGE)
    assert "**160** of 160 images match · showing 1–48 · page 1 of 4" in texts(at)
    at.sidebar.multiselect(key="classes").set_value([SR, SL]).run()
    at.sidebar.radio(key="mode").set_value("all").run()
    n = sum({SR, SL} <= c for c in sample_ds.images["classes"])
    assert f"**{n}** of 160 images match" in texts(at)
    # The widgets are bound to the link: the browser writes them into it (test_gallery_in_chromium sees it).
    assert (at.sidebar.multiselect(key="classes").value, at.sidebar.radio(key="mode").value) == ([SR, SL], "all")
    at.sidebar.selectbox(key="fold").set_value((1, "valid")).run()
    part = set(gallery.authors_folds(sample_ds).part_ids(1, "valid").tolist())
    n_fold = sum({SR, SL} <= r.classes and r.image_id in part for r in sample_ds.images.itertuples())
    assert f"**{n_fold}** of 160 images match" in texts(at) and at.sidebar.selectbox(key="fold").value == (1, "valid")


def test_paging_and_page_size():
    at = page_test(PAGE, query={"size": "24", "page": "2"})
    assert "showing 25–48 · page 2 of 7" in texts(at) and len(open_buttons(at)) == 24
    assert at.pagination(key="page").value == 2
    at.selectbox(key="size").set_value(96).run()
    assert "showing 1–96 · page 1 of 2" in texts(at)  # a new page size starts at page 1
    assert (at.selectbox(key="size").value, at.pagination(key="page").value) == (96, 1)


def test_open_image_from_link_and_navigate_within_the_filter(sample_ds):
    ids = expected_ids(sample_ds, {SL}, {SR}, {"L"})
    query = QUERY | {"image": str(ids[1]), "stretch": "asinh", "limits": "zscale",
                     "shown": [c for c in sample_ds.class_names if c != RS]}
    at = page_test(PAGE, query=query)
    img = sample_ds.images.set_index("image_id").loc[ids[1]]
    assert [s.value for s in at.main.subheader] == [f"{img['obs_key']} · UVW1 (291 nm) · {img['split']}"]
    assert f"image 2 of {len(ids)} matching the filters" in texts(at)
    assert at.selectbox(key="stretch").value == "asinh" and at.selectbox(key="limits").value == "zscale"
    assert RS not in at.get("button_group")[0].value  # "Classes shown" pills: the hidden class is off
    table = at.data_editor[0].value
    assert len(table) == img["n_annotations"] and set(table["class"]) == set(img["classes"])
    assert own_params(at) == query  # the whole view round-trips through the URL
    # The figure: one trace per shown annotation (plus the frame), the hidden class left out.
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = [t.get("name") for t in spec["data"][1:] if t.get("hoverinfo") == "text"]
    assert RS not in names and len(names) == img["n_annotations"] - sum(c == RS for c in
                                                                           sample_ds.annotations_of(ids[1])["class_name"])
    at.button(key="gallery_next").click().run()
    assert at.query_params["image"] == str(ids[2])
    at.button(key="gallery_prev").click().run()
    at.button(key="gallery_prev").click().run()
    assert at.query_params["image"] == str(ids[0]) and at.button(key="gallery_prev").disabled
    at.button(key="gallery_back").click().run()
    assert "image" not in at.query_params and len(open_buttons(at)) == len(ids)


def test_open_button_and_back_returns_to_the_images_page(sample_ds):
    at = page_test(PAGE, query={"size": "24"})
    at.pagination(key="page").set_value(3).run()
    third = open_buttons(at)
    at.button(key=f"gallery_open_{third[5]}").click().run()
    assert at.query_params["image"] == str(third[5]) and at.session_state["page"] == 3
    for _ in range(20):  # walk 20 frames on: onto page 4
        at.button(key="gallery_next").click().run()
    order = gallery.select_images(sample_ds, gallery.GalleryFilter())["image_id"].tolist()
    now = int(at.query_params["image"])
    assert order.index(now) == 48 + 5 + 20
    at.button(key="gallery_back").click().run()
    assert at.query_params["page"] == "4" and now in open_buttons(at)


def test_missing_image_and_bad_params_are_handled(tmp_path):
    data = b.coco([b.image(0, width=64, height=64), b.image(1, width=64, height=64)],
                  [b.polygon_ann(0, 0, 4, b.square(10, 10, 20)), b.polygon_ann(1, 1, 3, b.square(30, 5, 8))])
    b.write_split(tmp_path / "train", data)
    (tmp_path / "train" / data["images"][0]["file_name"]).unlink()
    at = page_test(PAGE, query={"data": str(tmp_path), "nann": "0-99", "mode": "bogus", "area": "junk", "image": "0"})
    assert any("Image file missing or unreadable" in w.value for w in at.warning)
    assert len(at.data_editor[0].value) == 1  # its annotation is still listed
    at.button(key="gallery_back").click().run()
    assert "**2** of 2 images match" in texts(at) and len(at.image) == 2  # the missing one as a placeholder


# ---------------------------------------------------------------------------------------
# In Chromium


@pytest.mark.browser
def test_gallery_in_chromium(browser, sample_ds, tmp_path):
    page = browser.open("gallery", wait_for="images match")
    # The area inputs' labels each fit on one line of their half-width column (as the slider's above does).
    sidebar = page.locator("[data-testid='stSidebar']")
    one_line = sidebar.locator(".st-key-nann [data-testid='stWidgetLabel']").bounding_box()["height"]
    for key in ("area_lo", "area_hi"):
        assert sidebar.locator(f".st-key-{key} [data-testid='stWidgetLabel']").bounding_box()["height"] == one_line
    # Filter by a class in the sidebar multiselect.
    # A rerun that lands while the list is open closes it: open it again then (a slow machine has more of them).
    classes = page.locator("[data-testid='stSidebar'] .st-key-classes [data-testid='stMultiSelect']")
    browser.pick(classes, SL)
    n = sum(SL in c for c in sample_ds.images["classes"])
    page.get_by_text(f"{n} of 160 images match").first.wait_for()
    page.locator("[data-testid='stImage'] img").first.wait_for()
    expect(page.locator("[data-testid='stImage'] img")).to_have_count(min(n, 48))
    assert "classes=star-loop" in page.url
    browser.screenshot("gallery_grid", full_height=1500)

    # Open the first thumbnail: the detail view, addressed by the URL.
    page.locator("[data-testid='stMain'] [data-testid='stButton'] button", has_text="Open").first.click()
    page.get_by_text("Back to gallery").wait_for()
    browser.settle()
    page.locator(".js-plotly-plot").first.wait_for()
    image_id = int(re.search(r"image=(\d+)", page.url).group(1))
    img = sample_ds.images.set_index("image_id").loc[image_id]
    assert page.get_by_text(gallery.detail_title(img)).is_visible()
    legend = page.locator(".js-plotly-plot .legendtext")
    assert RS in legend.all_text_contents()

    # Toggle a class off: it leaves the figure and enters the link.
    page.locator("[data-testid='stMain'] [data-testid='stButtonGroup']").first.get_by_role("button", name=RS).click()
    browser.settle()
    # The link lists the classes shown, the hidden one left out.
    shown_in_link = "() => new URLSearchParams(location.search).getAll('shown')"
    page.wait_for_function(f"() => ({shown_in_link})().length > 0 && !({shown_in_link})().includes('{RS}')")
    # The link changes before the rerun has redrawn the figure (a longer run since the detail view has
    # three charts): wait for the redraw, then look.
    browser.settle()
    page.wait_for_function("() => ![...document.querySelectorAll('.js-plotly-plot .legendtext')]"
                           f".some(t => t.textContent === '{RS}')")
    assert RS not in page.locator(".js-plotly-plot .legendtext").all_text_contents()
    browser.screenshot("gallery_detail", full_height=1700)

    # Download the overlaid PNG: a PNG at the frame's full resolution.
    with page.expect_download() as info:
        page.get_by_role("button", name="Download overlaid PNG").click()
    target = tmp_path / "overlay.png"
    info.value.save_as(target)
    raw = target.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    png = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    assert png.shape == (int(img["height"]), int(img["width"]), 3)

    # The link opens the same view in a fresh session.
    link = page.url
    fresh = browser.context.new_page()
    fresh.goto(link)
    fresh.get_by_text(gallery.detail_title(img)).wait_for(timeout=60_000)
    assert "classes=star-loop" in fresh.url and "shown=" in fresh.url and f"shown={RS}" not in fresh.url
    assert RS not in fresh.locator(".js-plotly-plot .legendtext").all_text_contents()
    fresh.close()


def test_fold_filter_on_a_dataset_too_small_for_folds(tmp_path):
    # Three frames cannot make four folds: the fold filter is set aside with a warning, the rest works.
    b.write_split(tmp_path / "ds" / "train", b.coco([b.image(i) for i in range(3)],
                                                   [b.polygon_ann(0, 0, 3, b.square(5, 5, 10))]))
    at = page_test(PAGE, query={"data": str(tmp_path / "ds"), "fold": "fold 0 · valid"})
    assert any("fold part filter is ignored" in w.value for w in at.warning)
    assert "**3** of 3 images match" in texts(at)


def test_gallery_finds_and_names_records_by_the_files_ids(tmp_path):
    # Image ids 5..8 repeat in the train and valid files; the loader numbers the images 0..7.
    root = b.write_filter_mix(tmp_path / "mix")
    at = page_test(PAGE, query={"data": str(root), "q": "image id 6", "split": "valid"})
    assert "**1** of 8 images match" in texts(at)
    (internal,) = open_buttons(at)
    assert internal != 6  # the file's id and the loader's differ, so the test can tell them apart
    captions = [c.value for c in at.caption]
    assert any(c.startswith("**S0200000106_X** · X (unknown filter) · valid · id 6") for c in captions)
    # The detail view names the image and its annotations as the file does.
    at.button(key=f"gallery_open_{internal}").click().run()
    assert not at.exception
    assert [s.value for s in at.main.subheader] == ["S0200000106_X · X (unknown filter) · valid"]
    assert "image id 6 in the valid split's annotation file" in texts(at)
    assert f"image id {internal} " not in texts(at) and f"image id {internal}\n" not in texts(at)
    table = at.data_editor[0].value
    assert sorted(table["id"]) == [10, 11]  # the valid file's annotation ids (the loader's are 4 and 5)


@pytest.mark.parametrize("choice, n", [
    ("X", 2),  # the unknown letter, one image per split
    ("?", 2),  # names without an observation key
])
def test_gallery_filters_by_unknown_and_missing_filter_keys(tmp_path, choice, n):
    root = b.write_filter_mix(tmp_path / "mix")
    at = page_test(PAGE, query={"data": str(root)})
    picker = at.sidebar.multiselect(key="filters")
    assert picker.options == ["V (543 nm)", "UVW1 (291 nm)", "White (broad band)", "X (unknown filter)", "no observation key"]
    picker.set_value([choice]).run()
    assert f"**{n}** of 8 images match" in texts(at)


# ---------------------------------------------------------------------------------------
# Links: every selection is a widget bound to the link (bind="query-params"); a link holds an
# option as the widget shows it. These replace the tests of the hand-written link encoder.


@pytest.mark.parametrize("link, widgets", [
    # classes in "exactly" mode, images without artefacts hidden, one split
    ({"classes": [SR, SL], "mode": gallery.CLASS_MODE_LABELS["exactly"], "empty": gallery.EMPTY_MODE_LABELS["exclude"],
      "split": "valid"}, {"classes": [SR, SL], "mode": "exactly", "empty": "exclude", "split": ["valid"]}),
    # a search, both ranges and a part of the authors' folds
    ({"q": "0100000004", "nann": ["1", "3"], "area_lo": "200", "area_hi": "400", "fold": "fold 3 · valid"},
     {"q": "0100000004", "nann": (1, 3), "area_lo": 200.0, "area_hi": 400.0, "fold": (3, "valid")}),
    # the layout: a seeded shuffle, page 3 of 24 small thumbnails without masks
    ({"sort": gallery.SORT_LABELS["shuffle"], "seed": "42", "page": "3", "size": "24", "thumb": "small",
      "overlay": "false"}, {"sort": "shuffle", "seed": 42, "page": 3, "size": 24, "thumb": "small", "overlay": False}),
])
def test_a_link_opens_its_view_and_keeps_it(link, widgets):
    at = page_test(PAGE, query=link)
    assert {key: at.session_state[key] for key in widgets} == widgets
    assert own_params(at) == link  # nothing dropped, nothing added


@pytest.mark.parametrize("link, key, value, kept", [
    ({"classes": [SR, "comet"]}, "classes", [SR], SR),  # an unknown class is dropped, the known one kept
    ({"mode": "most"}, "mode", "any", None),  # not an option: the default
    ({"empty": "sometimes"}, "empty", "include", None),
    ({"filters": ["UVW1 (291 nm)", "Q"]}, "filters", ["L"], "UVW1 (291 nm)"),  # an unknown filter is dropped
    ({"nann": ["1", "99"]}, "nann", "all", None),  # beyond the largest number of annotations: no constraint
    ({"nann": "x"}, "nann", "all", None),  # not a number
    ({"area_lo": "5"}, "area_lo", "smallest", None),  # below the smallest instance
    ({"fold": "fold 7 · valid"}, "fold", ("any",), None),  # the authors made four folds
    ({"size": "13"}, "size", 48, None),
    ({"thumb": "huge"}, "thumb", "medium", None),
    ({"sort": "best"}, "sort", "observation", None),
    ({"page": "-2"}, "page", 1, None),
])
def test_a_link_value_the_widget_cannot_hold_falls_back(sample_ds, link, key, value, kept):
    at = page_test(PAGE, query=link)
    if value == "all":
        value = (0, gallery.max_annotations(sample_ds))
    elif value == "smallest":
        value = gallery.area_range(sample_ds)[0]
    assert at.session_state[key] == value
    assert own_params(at) == ({key: kept} if kept else {})  # the link keeps only what the widget holds


def test_a_link_with_range_ends_reversed_or_bad_display_values(sample_ds):
    # Ends either way round mean the same range; display values that are not options fall back.
    image_id = int(sample_ds.images["image_id"].iloc[4])
    at = page_test(PAGE, query={"nann": ["3", "1"], "image": str(image_id), "stretch": "cube", "limits": "auto",
                                "pct": ["90", "10"], "shown": "comet"})
    n = int(sample_ds.images["n_annotations"].between(1, 3).sum())
    assert f"of {n:,} matching the filters" in texts(at) or "does not match the current filters" in texts(at)
    assert (at.session_state["stretch"], at.session_state["limits"]) == ("linear", "percentile")
    assert at.session_state["shown"] == sample_ds.class_names  # an unknown class: every class shown
    at.button(key="gallery_back").click().run()
    assert f"**{n}** of 160 images match" in texts(at)


@pytest.mark.parametrize("link, chosen", [
    (["X (unknown filter)"], ["X"]),  # an unknown letter present in the data is a valid choice
    (["no observation key", "V (543 nm)"], ["?", "V"]),  # so is "no observation key"
    (["UVW2 (212 nm)"], []),  # a known filter absent from the data is dropped
])
def test_filter_links_keep_unknown_and_missing_keys(tmp_path, link, chosen):
    root = b.write_filter_mix(tmp_path / "mix")
    at = page_test(PAGE, query={"data": str(root), "filters": link})
    assert at.sidebar.multiselect(key="filters").value == chosen


def test_an_image_link_opens_that_frame_and_the_box_holds_it(sample_ds):
    ids = expected_ids(sample_ds, {SL}, {SR}, {"L"})
    outside = int(sample_ds.images.loc[~sample_ds.images["image_id"].isin(ids), "image_id"].iloc[0])
    at = page_test(PAGE, query=QUERY | {"image": str(ids[3])})
    img = sample_ds.images.set_index("image_id").loc[ids[3]]
    assert [s.value for s in at.main.subheader] == [f"{img['obs_key']} · UVW1 (291 nm) · {img['split']}"]
    box = at.selectbox(key="image")
    assert box.value == ids[3] and box.options[:len(ids)] == [str(i) for i in ids]  # the matching frames, in order
    assert at.query_params["image"] == str(ids[3]) and not open_buttons(at)
    # Choosing another frame in the box opens it; a frame the filters leave out can be linked too.
    box.set_value(ids[0]).run()
    assert at.button(key="gallery_prev").disabled and f"image 1 of {len(ids)} matching" in texts(at)
    other = page_test(PAGE, query=QUERY | {"image": str(outside)})
    assert other.selectbox(key="image").value == outside and "does not match the current filters" in texts(other)


@pytest.mark.parametrize("value", [
    "9999",  # no such image id
    "abc",  # not a number
    "",  # empty
])
def test_an_image_link_naming_no_frame_falls_back_to_the_grid(value):
    at = page_test(PAGE, query={"image": value})
    assert at.selectbox(key="image").value is None and not at.main.subheader
    assert "**160** of 160 images match · showing 1–48 · page 1 of 4" in texts(at) and len(open_buttons(at)) == 48
    assert "image" not in at.query_params  # Streamlit drops a value the box cannot hold


def test_export_hands_over_the_filtered_selection(sample_ds, monkeypatch, tmp_path):
    """The grid's "Export selection" gives the matching frames: its counts, a CSV row each and a COCO zip
    that loads back with the same annotations."""
    click = keep_downloads(monkeypatch)
    at = page_test(PAGE, query=QUERY)
    ids = expected_ids(sample_ds, {SL}, {SR}, {"L"})
    n_anns = int(sample_ds.images.set_index("image_id").loc[ids, "n_annotations"].sum())
    assert f"**{len(ids)}** images · **{n_anns}** annotations · frames " in texts(at)
    buttons = download_buttons(at)
    name, data = click(buttons["File list (CSV)"])
    assert name == "xami_gallery_selection.csv"
    table = pd.read_csv(io.BytesIO(data), dtype={"obsid": str})
    wanted = sample_ds.images.set_index("image_id").loc[ids]
    assert table["file_name"].tolist() == wanted["file_name"].tolist()  # the gallery's order
    name, data = click(buttons["COCO subset with frames (zip)"])
    assert name == "xami_gallery_selection_coco.zip"
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zf.extractall(tmp_path)
    back = load_dataset(tmp_path / "xami_gallery_selection")
    assert sorted(back.images["file_name"]) == sorted(wanted["file_name"])
    assert back.annotations["class_name"].value_counts().to_dict() == \
        sample_ds.annotations[sample_ds.annotations["image_id"].isin(ids)]["class_name"].value_counts().to_dict()
    # The subset of the sample stays labelled synthetic when the app is pointed at it, as the sample is.
    assert back.provenance.synthetic
    at = page_test(PAGE, query={"data": str(tmp_path / "xami_gallery_selection")})
    assert f"**{len(ids)}** of {len(ids)} images match" in texts(at)
    assert any("**synthetic sample**" in w.value for w in at.sidebar.warning)
    assert "Synthetic sample: generated frames, not real XAMI data." in [c.value for c in at.main.caption]


@pytest.mark.parametrize("query, says", [
    ({"q": "no-such-frame"}, "search “no-such-frame”"),  # a search alone: the class mode has nothing to do with it
    ({"classes": [SL, SR], "mode": gallery.CLASS_MODE_LABELS["all"], "without": SL},
     "classes: all of star-loop, smoke-ring; none of star-loop"),  # classes that contradict each other
    ({"split": "valid", "q": "image id 999999"}, "split valid; search “image id 999999”"),  # two filters, both named
])
def test_an_empty_result_names_the_filters_and_shows_no_range(query, says):
    at = page_test(PAGE, query=query)
    shown = texts(at)
    assert "**0** of 160 images match" in shown and "showing" not in shown and "page 1 of" not in shown
    assert [i.value for i in at.main.info] == [gallery.no_match_text(says)]
    assert "Loosen the class mode" not in shown and not open_buttons(at)


def test_an_inverted_area_range_matches_nothing_and_says_why():
    # Area ≥ above Area ≤ (typed, or from a link): no instance can be in the range, so no image matches and the
    # sidebar says so; before, the area filter was dropped and all 160 images matched without a word.
    at = page_test(PAGE, query={"area_lo": "5000", "area_hi": "1000"})
    assert (at.sidebar.number_input(key="area_lo").value, at.sidebar.number_input(key="area_hi").value) == (5000, 1000)
    assert "**0** of 160 images match" in texts(at)
    assert [w.value for w in at.sidebar.warning if "Area ≥" in w.value] == [
        "Area ≥ 5,000 px² is above Area ≤ 1,000 px²: no instance is in that range, so no image matches. Swap or "
        "widen them."]
    assert [i.value for i in at.main.info] == [gallery.no_match_text("instance area 5000–1000 px²")]


def test_moving_the_page_from_callbacks_logs_no_session_state_warning(sample_ds, monkeypatch):
    """A new filter goes back to page 1 and "Back to gallery" to the frame's page, with no Streamlit warning that
    the page widget has a default and a Session State value (logged once per process: the flag is reset here)."""
    from streamlit.elements.lib import policies

    logged: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: logged.append(record.getMessage())
    monkeypatch.setattr(policies, "_shown_default_value_warning", False)
    policies._LOGGER.addHandler(handler)
    try:
        at = page_test(PAGE, query={"size": "24"})
        at.pagination(key="page").set_value(3).run()
        at.selectbox(key="sort").set_value("shuffle").run()  # same number of pages: back to the first
        assert at.pagination(key="page").value == 1 and "showing 1–24 · page 1 of 7" in texts(at)
        at.pagination(key="page").set_value(2).run()
        at.button(key=f"gallery_open_{open_buttons(at)[3]}").click().run()
        for _ in range(30):  # walk on, onto page 3
            at.button(key="gallery_next").click().run()
        at.button(key="gallery_back").click().run()
        assert at.pagination(key="page").value == 3 and "page 3 of 7" in texts(at)
    finally:
        policies._LOGGER.removeHandler(handler)
    assert not [m for m in logged if "Session State" in m]
    assert not at.exception and not [w.value for w in at.warning if "page" in w.value.lower()]
