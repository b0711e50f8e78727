"""The Spatial heatmaps page as users see it: in AppTest and in a real browser."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.apptest import page_test, texts
from xami_core import load_dataset, sample_root
from xami_core.analysis.folds import make_folds
from xami_core.analysis.heatmaps import GROUPINGS
from xami_core.model import FILTER_ORDER

PAGE = "pages/heatmaps.py"
# The authors' figure order of the columns, which the table follows too.
CLASS_ORDER = ["star-loop", "smoke-ring", "read-out-streak", "other", "central-ring"]


def expected_table(ds, group_of_image) -> dict[str, dict[str, int]]:
    """Independent per-class counts from the annotations table: annotations and images with the class per group."""
    ann = ds.annotations.assign(group=ds.annotations["image_id"].map(group_of_image)).dropna(subset=["group"])
    out: dict[str, dict[str, int]] = {}
    for (cls, grp), rows in ann.groupby(["class_name", "group"]):
        out.setdefault(cls, {})[f"{grp}: annotations"] = len(rows)
        out[cls][f"{grp}: images with class"] = rows["image_id"].nunique()
    return out


def shown_table(at) -> dict[str, dict[str, int]]:
    table = at.dataframe[0].value
    assert list(table.index) == CLASS_ORDER
    return {cls: {k: int(v) for k, v in row.items() if v} for cls, row in table.iterrows()}


def plotly_figures(at) -> list[dict]:
    return [json.loads(e.proto.spec) for e in at.get("plotly_chart")]


def test_default_view_counts_match_the_annotations(sample_ds):
    at = page_test(PAGE)
    split_of = sample_ds.images.set_index("image_id")["split"]
    assert shown_table(at) == expected_table(sample_ds, split_of)
    assert "**train**: 120 images · **valid**: 40 images" in texts(at)
    # The sample's one box-only annotation is drawn by its box, and the text says so.
    n_box, n = int((sample_ds.annotations["kind"] == "box").sum()), len(sample_ds.annotations)
    assert n_box == 1
    assert f"exact masks (boxes for 1 of {n:,} annotations), 128 × 128 cells of 4 px" in texts(at)
    assert f"1 of {n:,} annotations has no mask: its box stands in." in texts(at)
    assert "Each map is in pixels of a 512 × 512 frame, y down as in the image; 128 × 128 cells of 4 px." in texts(at)
    # The defaults: exact masks, shares of images, perceptually uniform colours, train row over valid row;
    # the link holds no setting (a bound widget leaves its default out of it).
    assert (at.selectbox(key="hm_by").value, at.segmented_control(key="hm_method").value,
            at.segmented_control(key="hm_norm").value, at.segmented_control(key="hm_scale").value,
            at.selectbox(key="hm_colours").value, at.selectbox(key="hm_grid").value) == (
        "split", "mask", "share", "linear", "viridis", 128)
    assert not [k for k in at.query_params if k.startswith("hm_")]
    small, single = plotly_figures(at)
    titles = [a["text"] for a in small["layout"]["annotations"]]
    assert titles == [f"{g} · {c}" for g in ("train", "valid") for c in CLASS_ORDER]
    assert small["layout"]["coloraxis"]["colorscale"][0][1] == "#440154"  # viridis starts dark purple
    assert single["layout"]["yaxis"]["range"] == [512, 0] and single["layout"]["xaxis"]["title"]["text"] == "x (px)"


def test_switching_method_to_box_keeps_counts_and_changes_the_maps(sample_ds):
    at = page_test(PAGE)
    before = plotly_figures(at)[1]["data"][0]["z"]
    at.segmented_control(key="hm_method").set_value("box").run()
    assert not at.exception
    assert at.segmented_control(key="hm_method").value == "box"  # bound: the browser test sees it in the link
    assert "boxes (authors' method), 128 × 128" in texts(at)
    assert shown_table(at) == expected_table(sample_ds, sample_ds.images.set_index("image_id")["split"])
    assert plotly_figures(at)[1]["data"][0]["z"] != before  # boxes cover more cells than the star-loop masks


def test_grouping_by_filter_orders_rows_by_wavelength(sample_ds):
    at = page_test(PAGE)
    at.selectbox(key="hm_by").set_value("filter").run()
    assert not at.exception
    names = {"V": "V (543 nm)", "B": "B (450 nm)", "U": "U (344 nm)", "L": "UVW1 (291 nm)", "M": "UVM2 (231 nm)",
             "S": "UVW2 (212 nm)", "W": "White (broad band)"}
    filter_of = sample_ds.images.set_index("image_id")["filter_letter"].map(names)
    assert shown_table(at) == expected_table(sample_ds, filter_of)
    small = plotly_figures(at)[0]
    rows = [a["text"].split(" · ")[0] for a in small["layout"]["annotations"]][::5]
    assert rows == [names[f] for f in FILTER_ORDER]
    assert at.selectbox(key="hm_by").value == "filter"


def test_grouping_by_fold_part_uses_the_authors_folds(sample_ds):
    at = page_test(PAGE, query={"hm_by": GROUPINGS["fold"], "hm_fold": "2"})  # a bound selectbox's link shows the label
    assert at.selectbox(key="hm_fold_method").value == "stratified"
    assert at.number_input(key="hm_k").value == 4 and at.number_input(key="hm_seed").value == 42
    folds = make_folds(sample_ds, "stratified", 4, 42)
    part = folds.assignments[folds.assignments["fold"] == 2].set_index("image_id")["part"]
    assert shown_table(at) == expected_table(sample_ds, "fold 2 " + part)
    assert f"**fold 2 valid**: {len(folds.part_ids(2, 'valid'))} images" in texts(at)
    at.selectbox(key="hm_fold").set_value(0).run()
    assert at.selectbox(key="hm_fold").value == 0 and "**fold 0 train**" in texts(at)


def test_a_single_set_defaults_to_the_authors_folds(tmp_path):
    # One COCO file (like the no_splits set): no split to compare, so fold 0 of the authors' folds is shown.
    # A copy: the sample itself sits in the cache, which is never accepted as a data path.
    folder = Path(shutil.copytree(sample_root() / "valid", tmp_path / "valid"))
    ds = load_dataset(folder)
    at = page_test(PAGE, query={"data": str(folder)})
    assert at.selectbox(key="hm_by").value == "fold" and at.selectbox(key="hm_fold").value == 0
    folds = make_folds(ds, "stratified", 4, 42)
    part = folds.assignments[folds.assignments["fold"] == 0].set_index("image_id")["part"]
    assert shown_table(at) == expected_table(ds, "fold 0 " + part)


def test_a_shared_link_restores_the_view():
    at = page_test(PAGE, query={"hm_method": "centroid", "hm_norm": "count", "hm_scale": "log", "hm_grid": "64 × 64",
                                "hm_colours": "authors' blues", "hm_class": "central-ring", "hm_group": "valid"})
    assert at.segmented_control(key="hm_method").value == "centroid" and at.selectbox(key="hm_grid").value == 64
    assert at.selectbox(key="hm_class").value == "central-ring" and at.selectbox(key="hm_group").value == "valid"
    metrics = {m.label: m.value for m in at.metric}
    # Centroids of the valid central rings: the most covered 8 px cell sits on x 262, y 283 px.
    x, y = (float(v) for v in metrics["Most covered cell"].removeprefix("x ").removesuffix(" px").split(", y "))
    assert abs(x - 262) <= 8 and abs(y - 283) <= 8
    single = plotly_figures(at)[1]
    assert single["data"][0]["colorscale"][0][1] == "#ffffff"  # the authors' white-sky blue-navy scale
    assert "log scale" in single["layout"]["title"]["text"]


def test_difference_map_is_centred_on_zero():
    at = page_test(PAGE, query={"hm_class": "star-loop"})
    at.toggle(key="hm_diff").set_value(True).run()
    assert not at.exception
    assert at.selectbox(key="hm_other").value == "valid"
    trace = plotly_figures(at)[1]["data"][0]
    assert trace["zmid"] == 0 and trace["zmax"] > 0 and trace["zmin"] == -trace["zmax"]
    assert "star-loop: train minus valid" in plotly_figures(at)[1]["layout"]["title"]["text"]
    metrics = {m.label: m.value for m in at.metric}
    assert set(metrics) == {"Most in train", "Most in valid"}


def test_bad_query_values_fall_back_to_defaults():
    at = page_test(PAGE, query={"hm_method": "splines", "hm_grid": "7", "hm_by": "moon", "hm_class": "comet"})
    assert at.segmented_control(key="hm_method").value == "mask" and at.selectbox(key="hm_grid").value == 128
    assert at.selectbox(key="hm_by").value == "split" and at.selectbox(key="hm_class").value == "star-loop"


@pytest.mark.browser
def test_heatmaps_in_chromium(browser):
    from playwright.sync_api import expect

    # The entrypoint first, then the page's link in the same session (test_app_frame opens a cold deep link).
    browser.open("", wait_for="Example frames")
    page = browser.open("heatmaps", wait_for="Class × group")
    expect(page.locator(".js-plotly-plot")).to_have_count(2, timeout=60_000)  # the small multiples and the single map
    page.get_by_role("radiogroup", name="Method").get_by_role("radio", name="box", exact=True).click()
    browser.settle()
    page.get_by_text("boxes (authors' method), 128 × 128").first.wait_for()
    assert "hm_method=box" in page.url
    small, single = page.locator(".js-plotly-plot").nth(0), page.locator(".js-plotly-plot").nth(1)
    # Ten panels drawn as heatmap images, one horizontal colour bar per class column (plotly draws them
    # after the script run ends, so the checks wait for them).
    expect(small.locator(".hm image")).to_have_count(10, timeout=60_000)
    expect(small.locator(".colorbar")).to_have_count(5)
    expect(single.locator(".hm image")).to_have_count(1)
    expect(single.locator(".colorbar .cbtitle")).to_have_text("share of images")  # the colour bar's quantity
    expect(single.locator(".xtitle")).to_have_text("x (px)")
    expect(single.locator(".ytitle")).to_have_text("y (px)")
    browser.screenshot("heatmaps", full_height=2300)
    # Hover over the frame centre: the pixel, the annotations and the images covering the cell.
    page.set_viewport_size({"width": 1400, "height": 1000})
    browser.settle()
    browser.scroll_to(single)
    hover = single.locator(".hoverlayer .hovertext").first
    for step in range(4):  # plotly shows hover labels on mouse moves; a busy machine may miss the first
        box = single.locator(".nsewdrag").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2 + 3 * step, box["y"] + box["height"] / 2, steps=5)
        if hover.count():
            break
        page.wait_for_timeout(1000)
    hover.wait_for(timeout=60_000)
    text = hover.text_content() or ""
    assert "pixel x" in text and "annotations covering" in text and "of 120" in text
    browser.screenshot("heatmaps_hover")


def test_box_only_data_at_640_px_is_described_as_it_is(tmp_path):
    # A detection export like the crater set: 640 px frames, one class, boxes only, no polygon at all.
    from tests import builders as b

    for split, first in (("train", 0), ("valid", 4)):
        images = [b.image(i, f"mars_{i:03d}_png.rf.{'d' * 32}.jpg", 640, 640) for i in range(first, first + 4)]
        anns = [b.box_ann(10 * i + k, i, 1, [40.0 * k, 30.0 * k, 50.0, 40.0]) for i in range(first, first + 4) for k in range(3)]
        b.write_split(tmp_path / "craters" / split, b.coco(images, anns, b.categories(["crater"], parent="craters")))
    ds = load_dataset(tmp_path / "craters")
    n = len(ds.annotations)
    assert n == 24 and (ds.annotations["kind"] == "box").all()
    at = page_test(PAGE, query={"data": str(tmp_path / "craters")})
    shown = texts(at)
    assert at.segmented_control(key="hm_method").value == "mask"  # the default method...
    # ...says boxes stand in for every annotation, and gives the frame and cells of this data.
    assert f"{n} of {n} annotations have no mask: their boxes stand in." in shown
    assert "boxes (no annotation has a mask), 128 × 128 cells of 5 px" in shown
    assert "Each map is in pixels of a 640 × 640 frame, y down as in the image; 128 × 128 cells of 5 px." in shown
    assert "512" not in shown and "exact masks," not in shown
    assert "XMM-OM" not in shown  # no XAMI-specific description of other data
    single = plotly_figures(at)[1]
    assert single["layout"]["xaxis"]["range"] == [0, 640] and single["layout"]["yaxis"]["range"] == [640, 0]
