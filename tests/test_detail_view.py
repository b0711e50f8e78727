"""The gallery's detail view as users see it: the frame and its raw twin, pixel values, histogram and
limits, the observation's context, draw choices kept in the link; in AppTest and in Chromium."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tests import builders as b
from tests.apptest import page_test, texts
from tests.browser import SCREENSHOTS
from xami_core.io import metadata
from xami_core.io.sample import sample_dir
from xami_core.model import filter_label
from xami_core.render import overlay, stretch

PAGE = "pages/gallery.py"


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def frame_traces(spec: dict) -> list[dict]:
    return [t for t in spec["data"] if t.get("type") == "image"]


def test_detail_view_shows_both_frames_the_histogram_and_the_observation(sample_ds):
    img = sample_ds.images.iloc[7]
    at = page_test(PAGE, query={"image": str(int(img["image_id"])), "limits": "zscale"})
    pair, histogram = charts(at)
    # The same frame twice in one figure, annotated (left) and not (right), the axes linked so both zoom
    # together; both read the stored values on hover.
    left, right = frame_traces(pair)
    assert left.get("xaxis", "x") == "x" and (right["xaxis"], right["yaxis"]) == ("x2", "y2")
    assert (pair["layout"]["xaxis2"]["matches"], pair["layout"]["yaxis2"]["matches"]) == ("x", "y")
    assert [t for t in pair["data"] if t.get("hoverinfo") == "text"]  # the masks, on the left frame only
    assert not [t for t in pair["data"] if t.get("xaxis") == "x2" and t.get("type") != "image"]
    assert all("%{customdata}" in t["hovertemplate"] for t in (left, right))
    # The histogram marks the limits the stretch uses (zscale on the file's pixels).
    vmin, vmax = stretch.display_limits(overlay.load_raw_frame(img["path"]), "zscale")
    assert [s["x0"] for s in histogram["layout"]["shapes"]] == pytest.approx([vmin, vmax])
    assert f"zscale: {vmin:.4g} to {vmax:.4g}" in texts(at)
    # The observation, from the sample's synthetic metadata file (read here as plain JSON).
    record = json.loads((sample_dir() / metadata.SYNTHETIC_OBS_INFO_FILE).read_text())[f"{img['obs_key']}.fits"]
    shown = texts(at).replace("\\", "")  # as the user reads it (markdown escapes removed)
    assert f"ObsID: **{img['obsid']}**" in shown and f"Filter: **{filter_label(img['filter_letter'])}**" in shown
    assert f"RA (ICRS): **{record['RA']:.5f}°" in shown and f"Dec (ICRS): **{record['DEC']:+.5f}°" in shown
    assert f"Exposure: **{record['EXPOSURE']:,.0f} s**" in shown and f"Position angle: **{record['PA']:.2f}°**" in shown
    assert "Generated frame: its ObsID is made up" in shown  # no archive link (test_a_generated_frame_has_...)
    assert metadata.SYNTHETIC_LABEL in shown


@pytest.mark.parametrize("draw, boxes, labels", [
    (["box", "fill"], True, False),  # boxes asked for, labels not
    (["contour"], False, False),  # outlines only
])
def test_draw_choices_opacity_and_colour_map_come_from_the_link(sample_ds, draw, boxes, labels):
    img = sample_ds.images.loc[sample_ds.images["n_annotations"] > 0].iloc[0]
    link = {"image": str(int(img["image_id"])), "draw": draw, "opacity": "0.7", "cmap": "grey inverted"}
    at = page_test(PAGE, query=link)
    assert at.session_state["draw"] == draw and at.session_state["opacity"] == 0.7
    assert at.session_state["cmap"] == "grey_inverted"
    # Kept in the link (a one-element list is one value there).
    assert {k: v for k, v in at.query_params.items() if k not in ("data", "palette")} == \
        {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in link.items()}
    overlaid = charts(at)[0]
    names = [t.get("name", "") for t in overlaid["data"]]
    assert any(n.endswith(" box") for n in names) is boxes
    chips = [a for a in overlaid["layout"].get("annotations", []) if a.get("xref") == "x"]
    assert bool(chips) is labels  # label chips on the annotated frame
    fills = [t["fillcolor"] for t in overlaid["data"] if t.get("hoverinfo") == "text" and t.get("fill") == "toself"]
    assert ("fill" in draw) is bool(fills) and all(f.endswith(",0.700)") for f in fills)
    # Another choice redraws (the browser test sees the link follow).
    at.pills(key="draw").set_value(["label"]).run()
    assert at.session_state["draw"] == ["label"]
    assert [a for a in charts(at)[0]["layout"]["annotations"] if a.get("xref") == "x"]


def test_without_metadata_the_view_says_so(tmp_path):
    data = b.coco([b.image(0, width=64, height=48)], [b.polygon_ann(0, 0, 4, b.square(10, 10, 20))])
    b.write_split(tmp_path / "train", data)
    at = page_test(PAGE, query={"data": str(tmp_path), "image": "0"})
    shown = texts(at).replace("\\", "")
    assert "No observation metadata is loaded" in shown and "ObsID and filter come from the file name" in shown
    obsid = b.image(0)["file_name"][1:11]
    assert f"ObsID: **{obsid}**" in shown and "RA (ICRS)" not in shown
    assert f"#obsid={obsid})" in shown  # the archive link needs only the ObsID


def test_a_generated_frame_has_no_archive_link():
    # The sample's ObsIDs are made up: a link would open another, real observation in the archive.
    at = page_test(PAGE, query={"data": "sample", "image": "0"})
    shown = texts(at)
    assert "Generated frame: its ObsID is made up, so no link to the XMM-Newton Science Archive." in shown
    assert "nxsa.esac.esa.int" not in shown and "ObsID: **" in shown.replace("\\", "")


def test_a_missing_file_keeps_the_view_without_pixels(tmp_path):
    data = b.coco([b.image(0, width=64, height=64)], [b.polygon_ann(0, 0, 4, b.square(10, 10, 20))])
    b.write_split(tmp_path / "train", data)
    (tmp_path / "train" / data["images"][0]["file_name"]).unlink()
    at = page_test(PAGE, query={"data": str(tmp_path), "image": "0"})
    assert any("Image file missing or unreadable" in w.value for w in at.warning)
    (pair,) = charts(at)  # no histogram
    assert len(frame_traces(pair)) == 2 and all("customdata" not in t for t in frame_traces(pair))  # no values


# ---------------------------------------------------------------------------------------
# In Chromium


@pytest.mark.browser
def test_detail_view_in_chromium(browser, sample_ds):
    img = sample_ds.images.iloc[7]
    page = browser.page
    page.set_viewport_size({"width": 1600, "height": 1000})
    browser.open(f"gallery?image={int(img['image_id'])}&cmap=hot", wait_for="Back to gallery")
    page.locator(".js-plotly-plot").first.locator(".imagelayer image").nth(1).wait_for()
    browser.settle()
    # The frame in the first screenful, and no band between it and the plot area's edge.
    plot = page.locator(".js-plotly-plot").first
    frame = plot.locator(".imagelayer image").first.bounding_box()
    area = plot.locator(".bglayer rect").first.bounding_box()
    assert frame["y"] + frame["height"] <= 1000, frame
    assert [round(v) for v in (frame["x"], frame["y"], frame["width"], frame["height"])] == \
        [round(v) for v in (area["x"], area["y"], area["width"], area["height"])]
    # Hover a sky pixel of the raw frame: its value as stored in the file.
    raw = overlay.load_raw_frame(img["path"])
    h, w = raw.shape
    centre = raw[h // 4:3 * h // 4, w // 4:3 * w // 4]
    row, col = np.unravel_index(np.argmax(centre), centre.shape)  # the brightest pixel of the centre: a star
    row, col = int(row) + h // 4, int(col) + w // 4
    assert raw[row, col] > 0
    target = plot.locator(".imagelayer image").nth(1).bounding_box()  # the right frame, without annotations
    page.mouse.move(target["x"] + (col + 0.5) * target["width"] / w, target["y"] + (row + 0.5) * target["height"] / h)
    label = page.locator(".js-plotly-plot .hoverlayer .hovertext").first
    label.wait_for()
    text = label.text_content()
    # The label names the pixel under the cursor (mouse events land on whole screen pixels: within one
    # frame pixel of the aim at this zoom) and the value stored there.
    found = re.search(r"pixel centre x ([\d.]+), y ([\d.]+)\s*value\s*(\d+)", text)
    assert found, text
    hx, hy = int(float(found[1]) - 0.5), int(float(found[2]) - 0.5)
    assert abs(hx - col) <= 1 and abs(hy - row) <= 1, (text, col, row)
    assert int(found[3]) == int(raw[hy, hx]), (text, raw[hy, hx])
    page.screenshot(path=str(SCREENSHOTS / "detail_view_first_screen.png"))  # the hover label included
    page.mouse.move(5, 5)
    # A draw choice goes into the link.
    page.locator("[data-testid='stMain'] .st-key-draw").get_by_role("button", name="box").click()
    browser.settle()
    page.wait_for_function("() => new URLSearchParams(location.search).getAll('draw').includes('box')")
    # Zooming the annotated frame zooms the other with it.
    browser.scroll_to(plot)
    left = plot.locator(".imagelayer image").first.bounding_box()  # where it is now (the click scrolled)
    page.mouse.move(left["x"] + left["width"] / 2, left["y"] + left["height"] / 2)
    page.mouse.wheel(0, -300)
    page.wait_for_function("""() => { const l = document.querySelector('.js-plotly-plot')._fullLayout;
        return l.xaxis.range[1] - l.xaxis.range[0] < 500 && l.xaxis2.range.join() === l.xaxis.range.join()
            && l.yaxis2.range.join() === l.yaxis.range.join(); }""")
    page.set_viewport_size({"width": 1600, "height": 2200})
    browser.settle()
    page.screenshot(path=str(SCREENSHOTS / "detail_view_full.png"))


@pytest.mark.parametrize("pixels, n_charts", [
    (None, 2),  # the ground truth and the predictions only
    ("true", 4),  # and, on request, the frame without annotations and the histogram
])
def test_with_the_prediction_layer_the_pixels_come_on_request(sample_ds, pixels, n_charts):
    link = {"layer": "true", "image": str(int(sample_ds.images["image_id"].iloc[7]))}
    at = page_test(PAGE, query=link | ({"pixels": pixels} if pixels else {}))
    assert "**Ground truth**" in texts(at) and len(charts(at)) == n_charts
    assert "ObsID: **" in texts(at)  # the observation either way


@pytest.mark.browser
def test_boxes_and_labels_in_chromium(browser, sample_ds):
    """Labels of the frame with the most annotations along its top edge: every chip inside the frame and none
    over another, as Chromium draws them at 1600x1000; the boxes drawn as solid lines."""
    ann = sample_ds.annotations
    image_id = int(ann[ann["bbox_y"] < 25].groupby("image_id").size().idxmax())
    n = int((ann["image_id"] == image_id).sum())
    page = browser.page
    page.set_viewport_size({"width": 1600, "height": 1000})
    browser.open(f"gallery?image={image_id}&draw=box&draw=label", wait_for="Back to gallery")
    plot = page.locator(".js-plotly-plot").first
    plot.locator("g.annotation").nth(n - 1).wait_for()
    browser.settle()
    frame = plot.locator(".bglayer rect").first.bounding_box()
    chips = [a.locator("rect").first.bounding_box() for a in plot.locator("g.annotation").all()]
    chips = [c for c in chips if c["y"] >= frame["y"] - 1]  # the chips (the raw frame's note sits above)
    assert len(chips) == n
    for i, c in enumerate(chips):
        assert frame["x"] - 0.5 <= c["x"] and c["x"] + c["width"] <= frame["x"] + frame["width"] + 0.5, c
        assert frame["y"] - 0.5 <= c["y"] and c["y"] + c["height"] <= frame["y"] + frame["height"] + 0.5, c
        for o in chips[:i]:
            apart = (c["x"] + c["width"] <= o["x"] or o["x"] + o["width"] <= c["x"]
                     or c["y"] + c["height"] <= o["y"] or o["y"] + o["height"] <= c["y"])
            assert apart, (c, o)
    spec = page.evaluate("() => document.querySelector('.js-plotly-plot').data.filter(t => (t.name || '').endsWith(' box'))"
                         ".map(t => [t.line.width, t.line.dash || 'solid'])")
    assert spec and all(width >= 1.5 and dash == "solid" for width, dash in spec)
    page.screenshot(path=str(SCREENSHOTS / "detail_view_boxes_labels.png"))
