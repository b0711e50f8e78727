"""The detail view's pixel tools: histogram, limits, colour maps, the frame figure's extent and hover values."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
from astropy.visualization import ZScaleInterval

from xami_core.render import overlay, pixels, stretch
from xami_core.render.figures_overlay import frame_figure, overlay_figure, side_by_side_figure

RNG = np.random.default_rng(7)
SKY_U8 = np.clip(RNG.normal(60, 12, (48, 64)), 0, 255).astype(np.uint8)
SKY_U8[:, :5] = 0  # a border outside the detector window
SKY_U16 = np.clip(RNG.normal(3000, 400, (40, 32)), 0, 65535).astype(np.uint16)
SKY_F32 = RNG.normal(0.0, 1.0, (30, 30)).astype(np.float32)
SKY_F32[3, 4] = np.nan


@pytest.mark.parametrize("raw", [
    SKY_U8,  # 8-bit JPEG pixels: one bin per grey level
    SKY_U16,  # 16-bit PNG: one bin per level while the range is narrow enough
    SKY_F32,  # float frames: equal bins over the finite range, NaN left out
    np.full((4, 4), 9, np.uint8),  # a flat frame: one bin
])
def test_histogram_counts_equal_numpy(raw):
    hist = pixels.pixel_histogram(raw, 0.0, 1.0)
    finite = raw[np.isfinite(raw)] if raw.dtype.kind == "f" else raw.ravel()
    expected, _ = np.histogram(finite, bins=hist.edges)
    np.testing.assert_array_equal(hist.counts, expected)
    assert hist.counts.sum() == finite.size  # every finite pixel counted once, the border included


@pytest.mark.parametrize("raw, step", [
    (SKY_U8, 1.0),  # integer levels: unit bins centred on the integers
    (np.array([[0, 70000]], np.int32), None),  # too many levels for unit bins: HISTOGRAM_BINS equal bins
])
def test_histogram_edges(raw, step):
    edges = pixels.histogram_edges(raw)
    if step:
        assert edges[0] == raw.min() - 0.5 and edges[-1] == raw.max() + 0.5
        np.testing.assert_allclose(np.diff(edges), step)
    else:
        assert len(edges) == pixels.HISTOGRAM_BINS + 1 and (edges[0], edges[-1]) == (0, 70000)


@pytest.mark.parametrize("limits, lower, upper", [
    ("zscale", 0.5, 99.8),  # IRAF zscale
    ("percentile", 0.5, 99.8),  # the default
    ("percentile", 5.0, 95.0),
    ("minmax", 0.5, 99.8),
])
@pytest.mark.parametrize("raw", [SKY_U8, SKY_U16])
def test_limits_are_astropys_and_numpys_on_the_detector_window(raw, limits, lower, upper):
    window = raw[raw != 0].astype(np.float64)  # the zero border is left out
    expected = {"zscale": lambda: ZScaleInterval().get_limits(window),
                "percentile": lambda: tuple(np.percentile(window, [lower, upper])),
                "minmax": lambda: (window.min(), window.max())}[limits]()
    got = stretch.display_limits(raw, limits, lower, upper)
    np.testing.assert_allclose(got, expected)


@pytest.mark.parametrize("name, level, rgb", [
    ("grey", 0, (0, 0, 0)),
    ("grey", 255, (255, 255, 255)),
    ("grey_inverted", 0, (255, 255, 255)),  # sources dark on a white sky
    ("grey_inverted", 255, (0, 0, 0)),
    ("viridis", 0, (68, 1, 84)),  # viridis' ends
    ("viridis", 255, (253, 231, 37)),
    ("hot", 0, (0, 0, 0)),
    ("hot", 255, (255, 255, 255)),
])
def test_colour_map_ends(name, level, rgb):
    assert tuple(pixels.colour_lut(name)[level]) == rgb


def test_colour_maps_keep_the_frame_and_grey_stays_grey():
    out = pixels.apply_colour_map(SKY_U8, "grey")
    assert out.shape == (*SKY_U8.shape, 3)
    np.testing.assert_array_equal(out[..., 0], SKY_U8)
    np.testing.assert_array_equal(pixels.apply_colour_map(SKY_U8, "grey_inverted")[..., 1], 255 - SKY_U8)
    # hot brightens monotonically (summed channels), so the stretch's order is kept
    assert np.all(np.diff(pixels.colour_lut("hot").astype(int).sum(axis=1)) >= 0)
    with pytest.raises(ValueError, match="colour map"):
        pixels.colour_lut("jet")
    with pytest.raises(ValueError, match="2-D uint8"):
        pixels.apply_colour_map(SKY_U16)


def test_histogram_figure_marks_the_limits():
    vmin, vmax = stretch.display_limits(SKY_U8, "zscale")
    fig = pixels.histogram_figure(pixels.pixel_histogram(SKY_U8, vmin, vmax))
    assert [s.x0 for s in fig.layout.shapes] == [vmin, vmax]
    assert fig.layout.yaxis.type == "log"
    np.testing.assert_array_equal(fig.data[0].y, pixels.pixel_histogram(SKY_U8, vmin, vmax).counts)


def _empty_annotations() -> pd.DataFrame:
    return pd.DataFrame({"ann_id": pd.Series([], dtype=np.int64), "class_name": pd.Series([], dtype=object),
                         "kind": pd.Series([], dtype=object), "segmentation": pd.Series([], dtype=object)})


@pytest.mark.parametrize("make", [
    lambda frame, raw: overlay_figure(frame, _empty_annotations(), raw=raw),  # with annotations
    lambda frame, raw: frame_figure(frame, raw),  # without
    # both side by side (the right frame's axes match the left's, so these ranges are its ranges too)
    lambda frame, raw: side_by_side_figure(overlay_figure(frame, _empty_annotations(), raw=raw),
                                           frame_figure(frame, raw, note="plain")),
])
@pytest.mark.parametrize("shape", [(48, 64), (512, 512)])
def test_frame_fills_the_axes_exactly_without_padding(make, shape):
    # The frame's pixels cover [0, w] x [0, h] in COCO coordinates; the axes show exactly that, and the plot
    # area has no padding (Streamlit's theme pads it 8 px, which showed the black background as a band).
    h, w = shape
    raw = np.zeros(shape, np.uint8)
    fig = make(pixels.apply_colour_map(raw), raw)
    image = fig.data[0]
    assert (image.x0 - image.dx / 2, image.y0 - image.dy / 2) == (0, 0)
    assert list(fig.layout.xaxis.range) == [0, w] and list(fig.layout.yaxis.range) == [h, 0]
    assert fig.layout.margin.pad == 0
    assert fig.layout.xaxis.constrain == fig.layout.yaxis.constrain == "domain"


def test_hover_shows_the_stored_value_not_the_display_level():
    display = pixels.apply_colour_map(stretch.stretch_image(SKY_U16, "asinh", "zscale"), "viridis")
    fig = frame_figure(display, SKY_U16)
    np.testing.assert_array_equal(fig.data[0].customdata, SKY_U16)
    assert "%{customdata}" in fig.data[0].hovertemplate
    with pytest.raises(ValueError, match="do not match"):
        frame_figure(display, SKY_U16[:-1])


@pytest.mark.parametrize("ext, data", [
    (".png", SKY_U16),  # 16-bit PNG keeps its depth
    (".png", SKY_U8),
    (".jpg", SKY_U8),  # JPEG: grey, lossy (close to what was written)
])
def test_load_raw_frame_keeps_the_files_values(tmp_path, ext, data):
    path = tmp_path / f"f{ext}"
    cv2.imwrite(str(path), data)
    raw = overlay.load_raw_frame(path)
    assert raw.dtype == data.dtype and raw.shape == data.shape
    if ext == ".png":
        np.testing.assert_array_equal(raw, data)
    else:
        assert np.abs(raw.astype(int) - data.astype(int)).mean() < 4
    assert overlay.load_raw_frame(tmp_path / "missing.png") is None


def test_histogram_bars_outside_the_limits_are_pale():
    hist = pixels.pixel_histogram(SKY_U8, 40.5, 80.5)  # limits on bin edges: levels 41 to 80 are inside
    colours = np.asarray(pixels.histogram_figure(hist).data[0].marker.color)
    inside = (hist.centres >= 41) & (hist.centres <= 80)
    assert set(colours[inside]) == {pixels.INSIDE_COLOUR} and set(colours[~inside]) == {pixels.CLIPPED_COLOUR}


@pytest.mark.parametrize("colour_map, expect", [
    ("grey", lambda display: display),
    ("grey_inverted", lambda display: 255 - display),  # the downloaded PNG in the view's colour map
])
def test_full_overlay_uses_the_stored_values_and_the_colour_map(tmp_path, colour_map, expect):
    path = tmp_path / "f.png"
    cv2.imwrite(str(path), SKY_U16)
    out = overlay.full_overlay(path, _empty_annotations(), 32, 40, stretch="sqrt", limits="zscale",
                               colour_map=colour_map)
    display = stretch.stretch_image(SKY_U16, "sqrt", "zscale")  # the 16-bit values, not an 8-bit copy
    np.testing.assert_array_equal(out[..., 0], expect(display))


def test_side_by_side_links_the_axes_and_keeps_the_overlay():
    frame = pixels.apply_colour_map(SKY_U8)
    annotated = overlay_figure(frame, _empty_annotations(), raw=SKY_U8, labels=False)
    fig = side_by_side_figure(annotated, frame_figure(frame, SKY_U8, note="plain"))
    left, right = fig.data
    assert (left.xaxis, right.xaxis, right.yaxis) == (None, "x2", "y2")
    assert (fig.layout.xaxis2.matches, fig.layout.yaxis2.matches) == ("x", "y")
    assert fig.layout.xaxis.domain[1] < fig.layout.xaxis2.domain[0]  # side by side, not overlapping
    np.testing.assert_array_equal(right.customdata, SKY_U8)
    assert [a.text for a in fig.layout.annotations] == ["plain"] and fig.layout.annotations[0].x > 0.5
    assert len(annotated.data) == 1  # the overlay figure itself is left as it was (it is what is exported)
