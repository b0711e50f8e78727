"""The detail view's interactive figure: a frame with its masks, zoom, pan and hover."""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from xami_core.model import CLASS_NAMES, FALLBACK_COLOUR, rgb_to_hex
from xami_core.render.figures import plot_text
from xami_core.render.layout import tag
from xami_core.render.overlay import (
    RGB,
    Colours,
    Shapes,
    encode_png,
    ink_colour,
    outline_colour,
    place_labels,
    polygon_outlines,
    resolve_colours,
    rle_outlines,
    visible_annotations,
)

Chip = tuple[str, RGB, tuple[int, int, int, int]]  # label text, class colour, anchor box (x, y, w, h) in px
# Room above the frame for the class legend (its title and a row of entries), in every overlay figure, so
# that frames drawn side by side (with and without annotations) have the same size and place.
LEGEND_ROOM = 64
LINE_WIDTH = 1.5  # contours and boxes alike (screen px): a box drawn on request is as visible as a contour
# Label chips are plotly annotations: sized in screen pixels over a frame in data pixels. They are placed for
# the smallest the detail view shows a frame (LABEL_FRAME_PX across; 432 px at 1600x1000, frames beside each
# other), so shown larger or zoomed in they stay apart and inside the frame. In Chromium a chip of the 11 px
# font is 18 px high (text, 1 px padding, 1 px border) and about 4.7 px a character plus 4 px wide.
LABEL_FRAME_PX = 360
CHIP_FONT_PX, CHIP_HEIGHT_PX, CHIP_CHAR_PX, CHIP_PAD_PX = 11, 18, 5.5, 8


def _rgba(rgb: tuple[int, int, int], alpha: float) -> str:
    return f"rgba({rgb[0]},{rgb[1]},{rgb[2]},{alpha:.3f})"


def _closed_path(parts: list[np.ndarray]) -> tuple[list[float | None], list[float | None]]:
    """x and y lists of closed polygons separated by None (one scatter trace, many parts)."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    for p in parts:
        ring = np.vstack([p, p[:1]])
        xs += ring[:, 0].tolist() + [None]
        ys += ring[:, 1].tolist() + [None]
    return xs, ys


def hover_text(class_name: str, ann_id: object, kind: str, area: float, box: Iterable[float]) -> str:
    """Hover text (plotly markup) of one annotation: class, id (the one in its input file), area and box in pixels."""
    x, y, w, h = (float(v) for v in box)
    what = "box only (no mask)" if kind == "box" else f"mask area {area:,.0f} px²"
    return (f"<b>{plot_text(class_name)}</b> · annotation {plot_text(ann_id)}<br>{what}<br>"
            f"box x {x:.1f}, y {y:.1f}, w {w:.1f}, h {h:.1f} px")


def overlay_figure(frame: np.ndarray, annotations: pd.DataFrame, colours: Colours = None, opacity: float = 0.4,
                   *, fill: bool = True, contour: bool = True, boxes: bool = True, labels: bool = True,
                   hidden_classes: Iterable[str] = (), hidden_ann_ids: Iterable[int] = (),
                   title: str = "", height: int = 720, raw: np.ndarray | None = None) -> go.Figure:
    """A plotly figure of a displayed frame with one filled trace per annotation.

    Args:
        frame: the stretched 2-D uint8 frame (or RGB, e.g. in a colour map), in the annotations' pixel grid.
        annotations: rows of `Dataset.annotations` for this image (needs mask_area).
        colours: class name -> RGB (`Dataset.class_colours(palette)`) or a palette name; the authors' by default.
        opacity: fill alpha of the masks.
        fill, contour, boxes, labels: what to draw (box-only annotations always get a dashed box).
        hidden_classes, hidden_ann_ids: toggled-off classes and annotations.
        title: figure title, plotly markup (pass names from the data through `figures.plot_text`); height: in pixels.
        raw: the frame's pixel values as stored (`overlay.load_raw_frame`, the frame's shape), shown on hover.
    """
    pal = resolve_colours(colours, [*CLASS_NAMES, *sorted(set(annotations["class_name"]) - set(CLASS_NAMES))])
    h, w = frame.shape[:2]
    fig = _frame_figure(frame, raw)
    keep = visible_annotations(annotations, hidden_classes, hidden_ann_ids)
    chips = _add_annotation_traces(fig, keep, annotations, pal, opacity, fill=fill, contour=contour, boxes=boxes)
    _overlay_layout(fig, _label_chips(chips, w, h, height) if labels else [], w, h, height, title)
    # In print the chips are placed again for the printed frame size (see `layout.paper_layout`).
    printed = [[plot_text(text), [int(v) for v in colour], [int(v) for v in box]] for text, colour, box in chips]
    return tag(fig, "overlay", frame=[int(w), int(h)], chips=printed if labels else [])


def frame_figure(frame: np.ndarray, raw: np.ndarray | None = None, title: str = "", height: int = 720,
                 note: str = "") -> go.Figure:
    """The displayed frame alone (no annotations), on the same axes and margins as `overlay_figure`.

    Args:
        frame: the stretched 2-D uint8 frame, or RGB (H, W, 3) uint8.
        raw: the frame's pixel values as stored (same H, W), shown on hover.
        title: plotly markup; height: in pixels.
        note: plotly markup written above the frame where `overlay_figure` has its legend.

    Raises:
        ValueError: `raw` is not the frame's height and width.
    """
    h, w = frame.shape[:2]
    fig = _frame_figure(frame, raw)
    _overlay_layout(fig, [], w, h, height, title)
    if note:  # where the overlay figure has its legend
        fig.add_annotation(text=note, xref="paper", yref="paper", x=0.0, y=1.02, xanchor="left", yanchor="bottom",
                           showarrow=False, font=dict(size=12))
    return tag(fig, "overlay", frame=[int(w), int(h)], chips=[])


def side_by_side_figure(annotated: go.Figure, plain: go.Figure, gap: float = 0.06) -> go.Figure:
    """`overlay_figure` and `frame_figure` of one frame side by side in one figure, their axes linked:
    zooming or panning one frame moves the other, so a mask can be compared with the sky under it.

    Args:
        annotated: the overlay figure (its legend, label chips and layout are kept; its frame on the left).
        plain: the frame figure (its traces and note go to the right).
        gap: the share of the width between the two frames (room for the right frame's y tick labels).
    """
    fig = go.Figure(annotated)
    for trace in plain.data:
        fig.add_trace(go.Figure(trace).data[0].update(xaxis="x2", yaxis="y2"))
    for note in plain.layout.annotations:  # `frame_figure`'s note, above the right frame
        fig.add_annotation(go.layout.Annotation(note).update(x=0.5 + gap / 2))
    axis = dict(showgrid=False, zeroline=False, constrain="domain")
    fig.update_layout(xaxis=dict(domain=[0.0, 0.5 - gap / 2]),
                      xaxis2=dict(domain=[0.5 + gap / 2, 1.0], matches="x", anchor="y2", title_text="x (pixel)", **axis),
                      yaxis2=dict(matches="y", anchor="x2", **axis))
    return fig


def _frame_figure(frame: np.ndarray, raw: np.ndarray | None = None) -> go.Figure:
    """A figure holding the frame as a PNG image trace on COCO pixel coordinates (hover: the stored value).

    Raises:
        ValueError: `raw` is not the frame's height and width.
    """
    src = "data:image/png;base64," + base64.b64encode(encode_png(frame)).decode()
    fig = go.Figure()
    where = "pixel centre x %{x}, y %{y}"
    extra: dict = {"hovertemplate": f"{where}<extra></extra>"}
    if raw is not None:
        values = np.asarray(raw)
        if values.shape != frame.shape[:2]:
            raise ValueError(f"raw pixel values of shape {values.shape} do not match the frame's {frame.shape[:2]}")
        # The stored values (not the stretched grey level) ride along as a typed array, read on hover.
        extra = {"customdata": values, "hovertemplate": f"{where}<br>value <b>%{{customdata}}</b><extra></extra>"}
    # Pixel i covers [i, i+1) in COCO coordinates: its centre sits at i + 0.5.
    fig.add_trace(go.Image(source=src, x0=0.5, y0=0.5, dx=1, dy=1, name="frame", **extra))
    return fig


def _box_path(box: np.ndarray) -> tuple[list[float | None], list[float | None]]:
    """The closed outline of an (x, y, w, h) box."""
    bx, by, bw, bh = box
    return _closed_path([np.array([[bx, by], [bx + bw, by], [bx + bw, by + bh], [bx, by + bh]])])


def _add_annotation_traces(fig: go.Figure, keep: Shapes, annotations: pd.DataFrame, pal: Mapping[str, RGB],
                           opacity: float, *, fill: bool, contour: bool, boxes: bool) -> list[Chip]:
    """One filled (or dashed box) trace per visible annotation, classes in XAMI order; returns their label chips."""
    area = dict(zip(annotations["ann_id"], annotations["mask_area"])) if "mask_area" in annotations else {}
    # Users see the annotation's id in its input file (what the input-problems table names).
    file_id = dict(zip(annotations["ann_id"], annotations["coco_id"])) if "coco_id" in annotations else {}
    order = {c: i for i, c in enumerate(CLASS_NAMES)}
    rows = sorted(range(len(keep)), key=lambda i: (order.get(keep.class_name[i], 99), keep.ann_id[i]))
    # One legend entry per class, a solid swatch of the class colour: an entry drawn from the annotation
    # traces themselves would show their translucent fill (pale at a low opacity, near white in print).
    for cls in dict.fromkeys(str(keep.class_name[i]) for i in rows):
        colour = pal.get(cls, FALLBACK_COLOUR)
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=dict(color=_rgba(colour, 1), width=8),
                                 legendgroup=plot_text(cls), name=plot_text(cls), showlegend=True, hoverinfo="skip"))
    chips = []
    for i in rows:  # one trace per annotation, so hover names that annotation (a frame has a few dozen)
        one = keep.take(slice(i, i + 1))
        cls, ann_id, kind = str(one.class_name[0]), int(one.ann_id[0]), str(one.kind[0])
        colour = pal.get(cls, FALLBACK_COLOUR)
        line = outline_colour(colour)
        text = hover_text(cls, file_id.get(ann_id, ann_id), kind, float(area.get(ann_id, np.nan)), one.box[0])
        common = dict(legendgroup=plot_text(cls), name=plot_text(cls), showlegend=False, hoverlabel=dict(bgcolor=_rgba(colour, 0.95), font=dict(color=rgb_to_hex(ink_colour(colour)))))
        if kind == "box":
            xs, ys = _box_path(one.box[0])
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", fill="toself", fillcolor=_rgba(colour, 0.04),
                                     line=dict(color=_rgba(line, 1), width=LINE_WIDTH, dash="dash"),
                                     hoveron="fills", text=text, hoverinfo="text", **common))
        else:
            xs, ys = _closed_path(polygon_outlines(one) + rle_outlines(one))
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", fill="toself" if fill else "none",
                                     fillcolor=_rgba(colour, opacity if fill else 0.0),
                                     line=dict(color=_rgba(line, 1 if contour else 0), width=LINE_WIDTH if contour else 0),
                                     hoveron="fills" if fill else "points+fills", text=text, hoverinfo="text", **common))
            if boxes:
                bxs, bys = _box_path(one.box[0])
                # Solid, in the contour's colour and width (a dotted 1 px line vanished on the sky); box-only
                # annotations keep their dashed box.
                fig.add_trace(go.Scatter(x=bxs, y=bys, mode="lines", line=dict(color=_rgba(line, 1), width=LINE_WIDTH),
                                         hoverinfo="skip", legendgroup=plot_text(cls), showlegend=False, name=f"{plot_text(cls)} box"))
        bx, by, bw, bh = one.box[0]
        chips.append((f"{cls} {file_id.get(ann_id, ann_id)}", colour, (int(bx), int(by), int(bw), int(bh))))
    return chips


def _overlay_layout(fig: go.Figure, chips: list[dict], width: int, height: int, fig_height: int, title: str) -> None:
    """Label chips, legend above the frame, pan by default, pixel axes with y down and square pixels."""
    fig.update_layout(
        # the legend sits above the frame; pad 0: a padded plot area (Streamlit's theme pads it 8 px) shows
        # the black background as a band around the frame that reads like the detector window's border
        annotations=chips, height=fig_height, margin=dict(l=60, r=10, t=LEGEND_ROOM + 30 if title else LEGEND_ROOM,
                                                          b=50, pad=0),
        title=dict(text=title, x=0.01, font=dict(size=14)) if title else None,
        dragmode="pan", plot_bgcolor="black",
        legend=dict(title=dict(text="class (click to hide)"), itemsizing="constant", orientation="h",
                    yanchor="bottom", y=1.02, x=0.0, groupclick="togglegroup"),
        uirevision="keep",  # keep zoom and pan when toggles redraw the figure
    )
    fig.update_xaxes(range=[0, width], title_text="x (pixel)", showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(range=[height, 0], title_text="y (pixel)", showgrid=False, zeroline=False,
                     scaleanchor="x", scaleratio=1, constrain="domain")


def _label_chips(chips: list[Chip], width: int, height: int,
                 fig_height: int) -> list[dict]:
    """Plotly annotations for label chips, placed like the PNG labels (`place_labels`): inside the frame, apart."""
    if not chips:
        return []
    rects = chip_rects([t for t, _, _ in chips], width, height, fig_height)
    spots = place_labels(rects, [a for _, _, a in chips], width, height)
    return [dict(x=x, y=y, xref="x", yref="y", text=plot_text(text), showarrow=False, xanchor="left", yanchor="top",
                 font=dict(size=CHIP_FONT_PX, color=rgb_to_hex(ink_colour(colour))), bgcolor=_rgba(colour, 0.9),
                 bordercolor="black", borderwidth=1, borderpad=1)
            for (text, colour, _), (x, y) in zip(chips, spots)]


def chip_rects(texts: list[str], width: int, height: int, fig_height: int) -> list[tuple[int, int, int, int]]:
    """Each label chip's (width, height, 0, 0) in frame pixels, for `place_labels`, at the smallest display.

    The frame is taken as shown `LABEL_FRAME_PX` across (or less in a figure too short for that,
    `fig_height` px high), the chip's size rounded up: shown larger, chips take less of the frame.
    """
    plot_px = max(fig_height - LEGEND_ROOM - 50, 100)  # the plot area's height without title (margins t, b)
    per_px = max(width, height) / min(LABEL_FRAME_PX, plot_px)
    return [(math.ceil((len(t) * CHIP_CHAR_PX + CHIP_PAD_PX) * per_px), math.ceil(CHIP_HEIGHT_PX * per_px), 0, 0)
            for t in texts]
