"""Overlay rendering: mask pixels against pycocotools, contours, boxes, labels, frames and the figure."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
from pycocotools import mask as mask_utils

from xami_core.model import AUTHOR_COLOURS, COLOURBLIND_COLOURS, PALETTES
from xami_core.render import overlay
from xami_core.render.figures_overlay import LINE_WIDTH, chip_rects, hover_text, overlay_figure

# One known polygon on a 20 x 20 frame (COCO coordinates: pixel i covers [i, i + 1)).
POLY = [3.2, 2.5, 16.7, 4.1, 14.3, 15.8, 5.1, 13.2]
N = 20


def frame20() -> np.ndarray:
    """A 20 x 20 grey frame with varied values, so a blend is visible everywhere."""
    return (np.arange(N * N, dtype=np.int64).reshape(N, N) * 7 % 180 + 40).astype(np.uint8)


def annotations(*rows: tuple) -> pd.DataFrame:
    """Annotation rows (ann_id, class, kind, segmentation, box) as the Dataset holds them."""
    out = []
    for ann_id, cls, kind, seg, box in rows:
        out.append({"ann_id": ann_id, "class_name": cls, "kind": kind, "segmentation": seg,
                    "mask_box_x": box[0], "mask_box_y": box[1], "mask_box_w": box[2], "mask_box_h": box[3], "mask_area": np.nan})
    frame = pd.DataFrame(out)
    frame["segmentation"] = pd.Series([r[3] for r in rows], dtype=object)
    return frame


def polygon_box(parts: list[list[float]]) -> tuple[float, float, float, float]:
    pts = np.concatenate([np.reshape(p, (-1, 2)) for p in parts])
    lo, hi = pts.min(0), pts.max(0)
    return float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])


def coco_mask(parts: list[list[float]], h: int = N, w: int = N) -> np.ndarray:
    """pycocotools' own rasterisation: the union of the parts."""
    return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(parts, h, w))).astype(bool)


ONE = annotations((7, "smoke-ring", "polygon", [POLY], polygon_box([POLY])))


@pytest.mark.parametrize("cls, palette, opacity", [
    ("smoke-ring", "authors", 0.45),  # the default opacity, authors' colours
    ("smoke-ring", "authors", 1.0),  # opaque: exactly the class colour
    ("read-out-streak", "authors", 0.25),
    ("central-ring", "colour-blind safe", 0.6),  # the Okabe-Ito palette
    ("star-loop", "colour-blind safe", 0.1),
])
def test_fill_blends_class_colour_inside_and_leaves_outside(cls, palette, opacity):
    base = frame20()
    anns = annotations((1, cls, "polygon", [POLY], polygon_box([POLY])))
    out = overlay.render_overlay(base, anns, palette, opacity, fill=True, contour=False, scale=1.0)
    inside = coco_mask([POLY])
    assert 40 < inside.sum() < 200  # the polygon covers a good part of the frame, not all of it
    colour = np.array(PALETTES[palette][cls], dtype=np.float64)
    expected = np.rint(base[..., None] * (1 - opacity) + colour * opacity)
    np.testing.assert_array_equal(out[inside], expected[inside])
    np.testing.assert_array_equal(out[~inside], np.repeat(base[..., None], 3, axis=2)[~inside])


def test_zero_opacity_and_no_annotations_leave_the_frame():
    base = frame20()
    grey = np.repeat(base[..., None], 3, axis=2)
    np.testing.assert_array_equal(overlay.render_overlay(base, ONE, None, 0.0, contour=False, scale=1.0), grey)
    np.testing.assert_array_equal(overlay.render_overlay(base, ONE.iloc[:0], None, 0.5, scale=1.0), grey)


def test_default_colours_are_the_authors():
    out = overlay.render_overlay(np.zeros((N, N), np.uint8), ONE, None, 1.0, contour=False, scale=1.0)
    assert tuple(out[coco_mask([POLY])][0]) == AUTHOR_COLOURS["smoke-ring"]


def test_overlapping_classes_blend_in_class_order():
    # A second polygon of another class overlapping the first: the overlap gets both blends,
    # central-ring first then smoke-ring (the class order), each at the opacity.
    other = [8.0, 6.0, 19.0, 6.0, 19.0, 19.0, 8.0, 19.0]
    anns = annotations((1, "smoke-ring", "polygon", [POLY], polygon_box([POLY])),
                       (2, "central-ring", "polygon", [other], polygon_box([other])))
    base = frame20()
    out = overlay.render_overlay(base, anns, "authors", 0.5, contour=False, scale=1.0)
    sr, cr = coco_mask([POLY]), coco_mask([other])
    both = sr & cr
    assert both.sum() > 10
    once = np.rint(base[..., None] * 0.5 + np.array(AUTHOR_COLOURS["central-ring"]) * 0.5)
    twice = np.rint(once * 0.5 + np.array(AUTHOR_COLOURS["smoke-ring"]) * 0.5)
    np.testing.assert_array_equal(out[both], twice[both])
    np.testing.assert_array_equal(out[cr & ~sr], once[cr & ~sr])


def edge_distance(points: np.ndarray) -> np.ndarray:
    """Distance of every pixel centre to a closed polygon's outline (COCO coordinates)."""
    contour = points.reshape(-1, 1, 2).astype(np.float32)
    return np.array([[abs(cv2.pointPolygonTest(contour, (x + 0.5, y + 0.5), True)) for x in range(N)] for y in range(N)])


def changed(out: np.ndarray, base: np.ndarray) -> np.ndarray:
    return np.any(out.astype(int) != base[..., None].astype(int), axis=2)


def test_contour_is_drawn_on_the_outline_only():
    base = frame20()
    out = overlay.render_overlay(base, ONE, "authors", 0.5, fill=False, contour=True, scale=1.0)
    moved = changed(out, base)
    dist = edge_distance(np.reshape(POLY, (-1, 2)))
    assert moved.sum() > 30
    assert dist[moved].max() <= 1.6  # every touched pixel is next to the outline (1 px anti-aliased line)
    assert not moved[dist >= 2.0].any()  # inside and outside, away from the line: untouched
    pts = np.reshape(POLY, (-1, 2))
    for a, b in zip(pts, np.roll(pts, -1, axis=0)):  # each edge's midpoint pixel is drawn
        mx, my = (a + b) / 2
        assert moved[int(my), int(mx)]
    # The line is the class colour lifted towards white (the authors' smoke ring is dark).
    strongest = out[moved][np.argmax(np.abs(out[moved].astype(int) - base[moved][:, None]).sum(axis=1))]
    assert np.abs(strongest.astype(int) - overlay.outline_colour(AUTHOR_COLOURS["smoke-ring"])).max() < 60


def test_box_is_drawn_on_the_box_edges():
    base = frame20()
    out = overlay.render_overlay(base, ONE, "authors", 0.5, fill=False, contour=False, boxes=True, scale=1.0)
    moved = changed(out, base)
    x, y, w, h = polygon_box([POLY])
    corners = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
    dist = edge_distance(corners)
    assert moved.sum() > 30 and dist[moved].max() <= 1.6 and not moved[dist >= 2.0].any()
    for cx, cy in corners:  # all four corners are drawn
        assert moved[min(int(cy), N - 1), min(int(cx), N - 1)]


def test_box_only_annotation_gets_a_dashed_box_and_no_fill():
    base = np.full((64, 64), 60, np.uint8)
    box = (8.0, 10.0, 44.0, 40.0)
    anns = annotations((3, "other", "box", None, box))
    out = overlay.render_overlay(base, anns, "authors", 0.8, fill=True, contour=True, boxes=False, scale=1.0)
    moved = changed(out, base)
    corners = np.array([[8, 10], [52, 10], [52, 50], [8, 50]], dtype=float)
    dist = np.array([[abs(cv2.pointPolygonTest(corners.reshape(-1, 1, 2).astype(np.float32), (x + 0.5, y + 0.5), True))
                      for x in range(64)] for y in range(64)])
    assert moved.sum() > 40 and dist[moved].max() <= 1.6  # drawn even with boxes off, only on the box edge
    on_edge = dist <= 0.5
    assert (~moved[on_edge]).sum() > 20  # gaps between the dashes
    assert not moved[dist >= 2.0].any()  # no fill


def test_labels_are_chips_in_the_class_colour():
    base = np.full((200, 200), 90, np.uint8)
    poly = [60.0, 60.0, 140.0, 60.0, 140.0, 140.0, 60.0, 140.0]
    anns = annotations((5, "central-ring", "polygon", [poly], polygon_box([poly])))
    colour = np.array(AUTHOR_COLOURS["central-ring"])
    with_labels = overlay.render_overlay(base, anns, "authors", 0.45, labels=True, scale=1.0)
    without = overlay.render_overlay(base, anns, "authors", 0.45, labels=False, scale=1.0)
    assert (with_labels == colour).all(axis=2).sum() > 100  # a solid chip
    assert (without == colour).all(axis=2).sum() == 0  # masks are blended, never solid
    text = overlay.render_overlay(base, anns, "authors", 0.45, labels=True, label_ids=True, scale=1.0)
    assert not np.array_equal(text, with_labels)  # "central-ring 5" is longer than "central-ring"


@pytest.mark.parametrize("hidden_classes, hidden_ids, drawn", [
    ((), (), True),
    (("smoke-ring",), (), False),  # class toggled off
    ((), (7,), False),  # annotation toggled off
    (("star-loop",), (8,), True),  # other toggles do not touch it
])
def test_toggles(hidden_classes, hidden_ids, drawn):
    base = frame20()
    out = overlay.render_overlay(base, ONE, None, 0.5, scale=1.0, hidden_classes=hidden_classes, hidden_ann_ids=hidden_ids)
    assert changed(out, base).any() == drawn


# ---------------------------------------------------------------------------------------
# Masks against pycocotools


PARTS = [[1.5, 1.5, 9.0, 1.5, 9.0, 9.0, 1.5, 9.0], [6.0, 6.0, 14.0, 6.0, 14.0, 12.0, 6.0, 12.0]]  # overlapping parts
TRIANGLE = [10.2, 14.1, 18.9, 19.5, 11.0, 19.9]


@pytest.mark.parametrize("scale", [1.0, 0.5, 2.0])
def test_annotation_masks_equal_pycocotools(scale):
    h, w = int(N * scale), int(N * scale)
    anns = annotations((1, "smoke-ring", "polygon", PARTS, polygon_box(PARTS)),
                       (2, "star-loop", "polygon", [POLY], polygon_box([POLY])),
                       (3, "star-loop", "polygon", [TRIANGLE], polygon_box([TRIANGLE])),
                       (4, "other", "box", None, (2.0, 2.0, 5.0, 5.0)))
    masks = overlay.annotation_masks(anns, h, w, scale)
    scaled = lambda parts: [list(np.asarray(p) * scale) for p in parts]  # noqa: E731
    np.testing.assert_array_equal(masks[0], coco_mask(scaled(PARTS), h, w))  # union of overlapping parts
    np.testing.assert_array_equal(masks[1], coco_mask(scaled([POLY]), h, w))
    np.testing.assert_array_equal(masks[2], coco_mask(scaled([TRIANGLE]), h, w))
    assert not masks[3].any()  # a box-only annotation has no mask
    unions = overlay.class_union_masks(anns, h, w, scale)
    assert set(unions) == {"smoke-ring", "star-loop"}
    np.testing.assert_array_equal(unions["star-loop"], masks[1] | masks[2])
    np.testing.assert_array_equal(unions["smoke-ring"], masks[0])


@pytest.mark.parametrize("as_list", [False, True])  # compressed (string) or uncompressed (counts list) RLE
def test_rle_masks(as_list):
    rng = np.random.default_rng(3)
    truth = np.zeros((N, N), np.uint8)
    truth[4:15, 6:12] = 1
    truth[rng.integers(0, N, 30), rng.integers(0, N, 30)] = 1
    rle = mask_utils.encode(np.asfortranarray(truth))
    if as_list:
        # Uncompressed COCO RLE: run lengths, column-major, starting with zeros.
        flat = truth.ravel(order="F")
        edges = np.flatnonzero(np.diff(np.r_[0, flat, 1 - flat[-1]]) != 0)
        counts = np.diff(np.r_[0, edges]).tolist()
        seg = {"size": [N, N], "counts": counts}
    else:
        seg = {"size": [N, N], "counts": rle["counts"].decode()}
    anns = annotations((1, "other", "rle", seg, (0, 0, N, N)))
    np.testing.assert_array_equal(overlay.annotation_masks(anns, N, N)[0], truth.astype(bool))
    np.testing.assert_array_equal(overlay.class_union_masks(anns, N, N)["other"], truth.astype(bool))
    out = overlay.render_overlay(np.zeros((N, N), np.uint8), anns, None, 1.0, contour=False, scale=1.0)
    assert (out == AUTHOR_COLOURS["other"]).all(axis=2).sum() == truth.sum()


def test_annotation_mask_of_a_box_fills_it():
    m = overlay.annotation_mask(None, "box", (2.0, 3.0, 4.0, 5.0), N, N)
    expected = np.zeros((N, N), bool)
    expected[3:8, 2:6] = True
    np.testing.assert_array_equal(m, expected)
    np.testing.assert_array_equal(overlay.annotation_mask([POLY], "polygon", polygon_box([POLY]), N, N), coco_mask([POLY]))


def test_thumbnail_scale_rasterises_small(sample_ds):
    # At thumbnail size the masks are pycocotools' masks of the scaled polygons.
    ann = sample_ds.annotations[sample_ds.annotations["kind"] == "polygon"].iloc[:5]
    got = overlay.annotation_masks(ann, 128, 128, 0.25)
    for k, parts in enumerate(ann["segmentation"]):
        np.testing.assert_array_equal(got[k], coco_mask([list(np.asarray(p) * 0.25) for p in parts], 128, 128))


# ---------------------------------------------------------------------------------------
# Frames, files and PNG


def test_load_frame_variants(tmp_path):
    img = (np.arange(64 * 64).reshape(64, 64) % 251).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "a.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert overlay.load_frame(tmp_path / "a.jpg").shape == (64, 64)
    assert overlay.load_frame(tmp_path / "a.jpg", reduce=4).shape == (16, 16)  # decoded small by the JPEG decoder
    deep = (np.arange(32 * 32).reshape(32, 32) * 60).astype(np.uint16)  # a 16-bit frame
    cv2.imwrite(str(tmp_path / "b.png"), deep)
    got = overlay.load_frame(tmp_path / "b.png")
    assert got.dtype == np.uint8 and got.min() == 0 and got.max() == 255
    assert overlay.load_frame(tmp_path / "missing.jpg") is None
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    assert overlay.load_frame(tmp_path / "broken.jpg") is None


def test_full_overlay_is_full_resolution_and_survives_a_missing_file(tmp_path):
    img = np.full((40, 60), 100, np.uint8)
    cv2.imwrite(str(tmp_path / "f.png"), img)
    poly = [10.0, 10.0, 30.0, 10.0, 30.0, 30.0, 10.0, 30.0]
    anns = annotations((1, "star-loop", "polygon", [poly], polygon_box([poly])))
    for factor in (1, 2, 4):
        out = overlay.full_overlay(tmp_path / "f.png", anns, 60, 40, "authors", factor=factor, opacity=1.0, contour=False)
        assert out.shape == (40 * factor, 60 * factor, 3)
        assert tuple(out[20 * factor, 20 * factor]) == AUTHOR_COLOURS["star-loop"]  # masks scale with the frame
    missing = overlay.full_overlay(tmp_path / "gone.png", anns, 60, 40, factor=2, labels=True)
    assert missing.shape == (80, 120, 3)
    png = overlay.encode_png(missing)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR).shape == (80, 120, 3)


def test_placeholder_says_what_is_missing():
    img = overlay.placeholder_frame(300, 200, "image file missing")
    assert img.shape == (200, 300) and img[0, 150] == overlay.PLACEHOLDER_GREY and img.max() >= 150


def test_outline_colour_lifts_dark_colours_only():
    assert overlay.outline_colour(AUTHOR_COLOURS["star-loop"]) == AUTHOR_COLOURS["star-loop"]  # light: unchanged
    dark = AUTHOR_COLOURS["read-out-streak"]
    lifted = overlay.outline_colour(dark)
    assert all(lc > dc for lc, dc in zip(lifted, dark))


# ---------------------------------------------------------------------------------------
# The interactive figure


def figure_annotations() -> pd.DataFrame:
    anns = annotations((1, "smoke-ring", "polygon", PARTS, polygon_box(PARTS)),
                       (2, "star-loop", "polygon", [POLY], polygon_box([POLY])),
                       (3, "star-loop", "polygon", [TRIANGLE], polygon_box([TRIANGLE])),
                       (4, "other", "box", None, (2.0, 2.0, 5.0, 5.0)))
    anns["mask_area"] = [coco_mask(PARTS).sum(), coco_mask([POLY]).sum(), coco_mask([TRIANGLE]).sum(), 25.0]
    return anns


def drawn(fig, boxes: bool = False) -> list:
    """The traces that draw annotations on the frame (not the frame, not the legend's swatches); with `boxes`,
    the boxes of masked annotations too."""
    return [t for t in fig.data[1:] if t.x != (None,) and (boxes or t.hoverinfo != "skip")]


def test_figure_has_one_hoverable_trace_per_annotation():
    fig = overlay_figure(frame20(), figure_annotations(), None, 0.4, boxes=False, labels=True)
    kinds = [t.type for t in fig.data]
    shapes = drawn(fig)
    assert kinds[0] == "image" and len(shapes) == 4 and all(t.type == "scatter" for t in shapes)
    # The legend lists each class once, as a solid swatch of its colour; hover names class, id, area and box.
    legend = [t for t in fig.data[1:] if t.showlegend]
    assert sorted(t.name for t in legend) == ["other", "smoke-ring", "star-loop"]
    assert all(t.line.color.endswith(",1.000)") and t.x == (None,) for t in legend)
    texts = {t.text for t in shapes}
    area = int(coco_mask([POLY]).sum())
    assert hover_text("star-loop", 2, "polygon", area, polygon_box([POLY])) in texts
    assert f"mask area {area:,} px²" in hover_text("star-loop", 2, "polygon", area, polygon_box([POLY]))
    assert any("box only" in t for t in texts)
    star = [t for t in shapes if t.name == "star-loop"]
    assert all(t.fillcolor == "rgba(255,188,248,0.400)" for t in star)  # authors' colour at the opacity
    assert len(fig.layout.annotations) == 4  # one label chip each
    assert list(fig.layout.xaxis.range) == [0, N] and list(fig.layout.yaxis.range) == [N, 0]  # image orientation
    assert fig.layout.xaxis.title.text == "x (pixel)" and fig.layout.yaxis.title.text == "y (pixel)"


def test_figure_toggles_and_boxes():
    anns = figure_annotations()
    hidden = overlay_figure(frame20(), anns, "colour-blind safe", hidden_classes=("star-loop",), hidden_ann_ids=(4,),
                            boxes=False, labels=False)
    assert [t.name for t in drawn(hidden)] == ["smoke-ring"] and len(hidden.layout.annotations) == 0
    cb = COLOURBLIND_COLOURS["smoke-ring"]
    assert drawn(hidden)[0].fillcolor.startswith(f"rgba({cb[0]},{cb[1]},{cb[2]},")
    boxed = overlay_figure(frame20(), anns, None, boxes=True, labels=False)
    assert len(drawn(boxed, boxes=True)) == 4 + 3  # a box per masked annotation (the box-only one is its box)


@pytest.mark.parametrize("file_ids, shown", [
    (None, ["smoke-ring 1", "star-loop 2", "star-loop 3", "other 4"]),  # no file ids: the table's own ids
    ([101, 102, 103, 104], ["smoke-ring 101", "star-loop 102", "star-loop 103", "other 104"]),  # the file's ids win
])
def test_figure_names_annotations_by_their_files_ids(file_ids, shown):
    anns = figure_annotations()
    if file_ids is not None:
        anns["coco_id"] = file_ids
    fig = overlay_figure(frame20(), anns, None, boxes=False, labels=True, hidden_ann_ids=())
    assert sorted(a.text for a in fig.layout.annotations) == sorted(shown)  # label chips
    hovers = " ".join(t.text for t in drawn(fig))
    assert all(f"annotation {s.split()[-1]}<br>" in hovers for s in shown)
    # Toggles still go by the internal ann_id: hiding 2 hides the star loop the file calls 102.
    hidden = overlay_figure(frame20(), anns, None, boxes=False, labels=True, hidden_ann_ids=(2,))
    assert sorted(a.text for a in hidden.layout.annotations) == sorted(shown[:1] + shown[2:])


def test_png_labels_use_the_files_ids():
    base = np.full((200, 200), 90, np.uint8)
    poly = [60.0, 60.0, 140.0, 60.0, 140.0, 140.0, 60.0, 140.0]
    anns = annotations((5, "central-ring", "polygon", [poly], polygon_box([poly])))
    same = overlay.render_overlay(base, anns.assign(coco_id=5), "authors", labels=True, label_ids=True, scale=1.0)
    plain = overlay.render_overlay(base, anns, "authors", labels=True, label_ids=True, scale=1.0)
    other = overlay.render_overlay(base, anns.assign(coco_id=123456), "authors", labels=True, label_ids=True, scale=1.0)
    assert np.array_equal(same, plain)  # "central-ring 5" either way
    assert not np.array_equal(other, plain)  # "central-ring 123456": the file's id is drawn


def test_figure_boxes_are_as_visible_as_contours():
    """The "box" draw choice: solid lines in the contour's colour, width and opacity (not a faint dotted line)."""
    fig = overlay_figure(frame20(), figure_annotations(), None, boxes=True, contour=True, labels=False)
    boxes = [t for t in drawn(fig, boxes=True) if t.name.endswith(" box")]
    contours = {t.name: t.line for t in drawn(fig) if t.hoverinfo == "text" and t.line.dash is None}
    assert len(boxes) == 3 and LINE_WIDTH >= 1.5
    for box in boxes:
        contour = contours[box.name.removesuffix(" box")]
        assert (box.line.width, box.line.color, box.line.dash) == (contour.width, contour.color, None)
        assert box.line.color.endswith(",1.000)")  # opaque


@pytest.mark.parametrize("line_width", [1, 2, 3, 4])
def test_png_boxes_are_as_wide_as_contours(line_width):
    """A square mask's box is the square: drawn as a box or as a contour, its top edge covers as many rows."""
    base = np.zeros((64, 64), np.uint8)
    square = [16.0, 16.0, 48.0, 16.0, 48.0, 48.0, 16.0, 48.0]
    anns = annotations((1, "central-ring", "polygon", [square], polygon_box([square])))
    contour = overlay.render_overlay(base, anns, "authors", 0.0, fill=False, contour=True, scale=1.0,
                                     line_width=line_width)
    boxed = overlay.render_overlay(base, anns, "authors", 0.0, fill=False, contour=False, boxes=True, scale=1.0,
                                   line_width=line_width)

    def rows_at_top_edge(out: np.ndarray) -> int:  # in the middle column, away from the corners
        return int((out[8:24, 32] > 0).any(axis=1).sum())

    assert rows_at_top_edge(boxed) == rows_at_top_edge(contour) >= line_width


@pytest.mark.parametrize("anchors, width, height", [
    # six read-out streaks along the top edge at one spot: stacked down, inside the frame
    ([(100, 0, 4, 512)] * 6, 512, 512),
    # boxes reaching past the top and right edges (a label above them would be cut)
    ([(480, -3, 40, 30), (470, 0, 50, 20), (490, 2, 30, 25)], 512, 512),
    # at the bottom-left corner
    ([(0, 500, 12, 12), (2, 498, 10, 14)], 512, 512),
    # mixed: some at one spot, some apart
    ([(50, 5, 20, 20), (52, 6, 20, 20), (300, 200, 30, 30), (50, 5, 20, 20), (300, 200, 30, 30)], 256, 256),
])
def test_labels_are_placed_inside_the_frame_and_apart(anchors, width, height):
    rects = [(90, 18, 0, 0)] * len(anchors)
    spots = overlay.place_labels(rects, anchors, width, height)
    boxes = [(x, y, w, h) for (x, y), (w, h, _, _) in zip(spots, rects)]
    assert all(x >= 0 and y >= 0 and x + w <= width and y + h <= height for x, y, w, h in boxes)
    assert all(overlay._overlaps(*box, [other]) == 0 for i, box in enumerate(boxes) for other in boxes[:i])
    assert spots == overlay.place_labels(rects, anchors, width, height)  # deterministic


def test_labels_at_one_spot_stack_one_chip_height_apart():
    # Four read-out streaks down the whole frame at one x: the first label at the top edge, the second below
    # the box (clamped to the bottom edge), the others slide down from the top, one chip height + 1 px apart.
    spots = overlay.place_labels([(90, 18, 0, 0)] * 4, [(100, 0, 4, 512)] * 4, 512, 512)
    assert spots == [(100, 0), (100, 494), (100, 19), (100, 38)]


def test_a_full_column_keeps_every_chip_inside():
    # More chips than the frame has rows for: some must overlap, none may leave the frame.
    spots = overlay.place_labels([(60, 18, 0, 0)] * 8, [(10, 10, 5, 5)] * 8, 64, 64)
    assert all(0 <= x <= 4 and 0 <= y <= 46 for x, y in spots)


@pytest.mark.parametrize("fig_height, side", [
    (560, 512),  # the detail view: sized for a frame shown 360 px across
    (515, 512),  # beside the predictions
    (300, 512),  # a short figure: sized for its own plot height
    (560, 1024),  # a larger frame: chips take as many screen pixels, so twice the frame pixels
])
def test_chip_rects_are_sized_for_the_smallest_display(fig_height, side):
    (w, h, _, _), = chip_rects(["read-out-streak 123"], side, side, fig_height)
    shown = min(360, fig_height - 64 - 50)
    # At least the size Chromium draws (18 px high, 4.7 px a character and 4 px), at that display size.
    assert h >= 18 * side / shown and w >= (19 * 4.7 + 4) * side / shown
