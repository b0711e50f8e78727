"""Figures of a prediction set's evaluation: precision-recall curves, confusion matrix, threshold counts, AP per group.

Built from the tables of `analysis.evaluation` (`pr_curves`, `ThresholdReport`, `metrics_by_group`);
the Predictions page and any export call the same functions. AP and AR are drawn in percent
(COCOeval's fractions x 100), as the page's tables show them.
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from pycocotools import mask as mask_utils

from xami_core.analysis.evaluation import ALL, BACKGROUND, FN, FP, TP
from xami_core.model import class_colour_hex
from xami_core.render.figures import SPLIT_PATTERNS, base_layout, plot_text
from xami_core.render.layout import class_abbreviation, tag

LINE = "#333333"
ALL_COLOUR = "#555555"  # the overall ("all") bar: not a class, so no class colour
BACKGROUND_COLOUR = "#bbbbbb"
# Precision, recall and F1 side by side in the class colour, told apart by pattern (as splits are elsewhere).
RATE_PATTERNS = {"precision": "", "recall": SPLIT_PATTERNS["valid"], "f1": "."}
RATE_LABELS = {"precision": "precision", "recall": "recall", "f1": "F1"}
GROUP_METRIC_COLOURS = {"AP": "#1f4e79", "AP50": "#6fa8dc", "AP75": "#9fc5e8"}
CONFUSION_VALUES = ("count", "row share")
# Outcomes over a frame (Dark2: told apart by colour-blind readers too); predictions dashed, missed instances dotted.
OUTCOME_COLOURS = {TP: "#1b9e77", FP: "#d95f02", FN: "#7570b3"}
OUTCOME_LABELS = {TP: "TP prediction", FP: "FP prediction", FN: "missed (FN)"}


def _colours(names: list[str], palette: str) -> dict[str, str]:
    """Class colours for the class names of a table (in its order), "all" and "background" in greys."""
    classes = [n for n in names if n not in (ALL, BACKGROUND)]
    return class_colour_hex(palette, classes) | {ALL: ALL_COLOUR, BACKGROUND: BACKGROUND_COLOUR}


def pr_curve_figure(curves: pd.DataFrame, iou: float = 0.5, palette: str = "authors",
                    ap: dict[str, float] | None = None, title: str | None = None) -> go.Figure:
    """Precision against recall per class, one line per class in the class colours.

    Args:
        curves: `evaluation.pr_curves` output (class_name, recall, precision, score); a class
            without ground truth (all precision NaN) gets no line.
        iou: the IoU threshold the curves are at (for the legend and hover).
        palette: a key of `model.PALETTES`.
        ap: optional class name -> AP at this IoU (a fraction), printed in the legend.
        title: optional figure title.
    """
    names = list(dict.fromkeys(curves["class_name"]))
    colours = _colours(names, palette)
    fig = go.Figure()
    for name in names:
        part = curves[curves["class_name"] == name]
        if part["precision"].isna().all():
            continue
        shown = plot_text(name)
        label = shown if ap is None or name not in ap or not np.isfinite(ap[name]) else f"{shown} ({100 * ap[name]:.1f})"
        fig.add_scatter(
            x=part["recall"], y=part["precision"], name=label, mode="lines", line=dict(color=colours[name], width=2.2,
                                                                                     shape="hv"),
            customdata=part["score"], connectgaps=False,
            hovertemplate=(f"{shown}<br>recall %{{x:.2f}}<br>precision %{{y:.3f}}<br>score at this point "
                           "%{customdata:.3f}<extra></extra>"))
    base_layout(fig, title, height=420)
    if ap is not None:
        fig.update_layout(legend_title_text=f"AP{round(100 * iou)} (%)")
    fig.update_xaxes(title=f"recall (IoU ≥ {iou:g})", range=[0, 1.01], dtick=0.2, tickformat=".1f")
    fig.update_yaxes(title="precision (interpolated, COCOeval)", range=[0, 1.02], dtick=0.2, tickformat=".1f")
    return tag(fig, "curves", legend_title=ap is not None)


def confusion_figure(confusion: pd.DataFrame, value: str = "count", title: str | None = None) -> go.Figure:
    """The confusion matrix as a heatmap: ground truth down, prediction across, background last on both.

    Args:
        confusion: `ThresholdReport.confusion` (counts; index ground truth, columns prediction).
        value: "count" (colour by count) or "row share" (colour by the share of the ground-truth row,
            so rare classes read as well as common ones); the cells print the counts either way.
        title: optional figure title.

    Raises:
        ValueError: `value` is not one of `CONFUSION_VALUES`.
    """
    if value not in CONFUSION_VALUES:
        raise ValueError(f"value must be one of {CONFUSION_VALUES}, got {value!r}")
    counts = confusion.to_numpy(np.int64)
    rows = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(rows > 0, counts / np.maximum(rows, 1), np.nan)
    z = counts.astype(np.float64) if value == "count" else share
    x = [plot_text(c) for c in confusion.columns]
    y = [plot_text(c) for c in confusion.index]
    fig = go.Figure(go.Heatmap(
        z=z, x=x, y=y, colorscale="Blues", zmin=0, text=counts.astype(str), texttemplate="%{text}",
        customdata=np.nan_to_num(share), xgap=2, ygap=2,
        colorbar=dict(title=dict(text="count" if value == "count" else "share of<br>the row"),
                      tickformat="," if value == "count" else ".0%"),
        hovertemplate=("ground truth %{y}<br>predicted %{x}<br>%{text} instances (%{customdata:.1%} of the row)"
                       "<extra></extra>")))
    base_layout(fig, title, height=max(320, 46 * len(y) + 170))
    # dtick 1: every class labelled, also at a column's width (plotly would skip every other one).
    fig.update_yaxes(title="ground truth", autorange="reversed", dtick=1)
    fig.update_xaxes(title="prediction", side="bottom", dtick=1)
    # In print: square cells, class initials where the names do not fit (the long forms in the caption notes).
    names = [str(c) for c in confusion.columns] + [str(c) for c in confusion.index]
    short = {plot_text(n): plot_text(class_abbreviation(n)) for n in dict.fromkeys(names)}
    note = "Classes: " + ", ".join(f"{s} {n}" for n, s in short.items() if s != n) + "."
    return tag(fig, "matrices", how="count" if value == "count" else "share", x_title="prediction",
               y_title="ground truth", colour_title="count" if value == "count" else "share of the row",
               short_x=short, short_y=short, short_note=note)


def threshold_figure(per_class: pd.DataFrame, palette: str = "authors", title: str | None = None) -> go.Figure:
    """Precision, recall and F1 per class (and overall) at one IoU and score threshold, as grouped bars.

    Args:
        per_class: `ThresholdReport.per_class` (index class names then "all"; columns precision, recall, f1).
        palette: a key of `model.PALETTES`.
        title: optional figure title.
    """
    names = [str(n) for n in per_class.index]
    colours = _colours(names, palette)
    x = [plot_text(n) for n in names]
    fig = go.Figure()
    for rate, pattern in RATE_PATTERNS.items():
        values = per_class[rate].to_numpy(np.float64)
        label = RATE_LABELS[rate]
        fig.add_bar(x=x, y=values, name=label, legendgroup=rate, showlegend=False,
                    marker=dict(color=[colours[n] for n in names], line=dict(color=LINE, width=0.8),
                                pattern=dict(shape=pattern, fgcolor=LINE, size=6)),
                    text=["" if np.isnan(v) else f"{v:.2f}" for v in values], textposition="outside",
                    cliponaxis=False, hovertemplate=f"%{{x}}<br>{label}: %{{y:.3f}}<extra></extra>")
        # A neutral legend swatch: the colour is the class, the pattern is the rate.
        fig.add_bar(x=[None], y=[None], name=label, legendgroup=rate, hoverinfo="skip",
                    marker=dict(color="#ffffff", line=dict(color=LINE, width=0.8),
                                pattern=dict(shape=pattern, fgcolor=LINE, size=6)))
    base_layout(fig, title, height=400)
    fig.update_layout(barmode="group", bargap=0.25)
    fig.update_xaxes(title="artefact class", dtick=1)  # every class labelled, also in print
    fig.update_yaxes(title="precision, recall, F1", range=[0, 1.1], dtick=0.2, tickformat=".1f")
    return tag(fig, "bars", short_x={n: plot_text(class_abbreviation(str(i))) for i, n in zip(names, x)},
               short_what="Classes")


def group_metrics_figure(table: pd.DataFrame, metrics: tuple[str, ...] = ("AP", "AP50"), what: str = "group",
                         title: str | None = None) -> go.Figure:
    """Bars per image group (filters, fold parts), one bar per COCO metric, in percent.

    Args:
        table: `evaluation.metrics_by_group` output (fractions; NaN where COCOeval gives -1).
        metrics: columns of `table` to draw.
        what: the x axis title (e.g. "XMM-OM filter").
        title: optional figure title.
    """
    x = [plot_text(g) for g in table.index]
    fig = go.Figure()
    for metric in metrics:
        values = table[metric].to_numpy(np.float64) * 100.0
        fig.add_bar(x=x, y=values, name=metric,
                    marker=dict(color=GROUP_METRIC_COLOURS.get(metric, ALL_COLOUR), line=dict(color=LINE, width=0.6)),
                    text=["" if np.isnan(v) else f"{v:.1f}" for v in values], textposition="outside",
                    cliponaxis=False, customdata=np.stack([table["n_images"], table["n_gt"]], axis=1),
                    hovertemplate=(f"%{{x}}<br>{metric}: %{{y:.1f}}<br>%{{customdata[0]}} images, "
                                   "%{customdata[1]} instances<extra></extra>"))
    base_layout(fig, title, height=380)
    fig.update_layout(barmode="group", bargap=0.3)
    fig.update_xaxes(title=what, dtick=1)  # every group labelled, also in print
    fig.update_yaxes(title="COCO metric (%)", range=[0, 105])
    # In print: filter names without their wavelength where "UVW1 (291 nm)" does not fit.
    return tag(fig, "bars", short_x={g: g.split(" (")[0] for g in x}, short_what="Groups")


def mask_outline(rle: dict) -> list[np.ndarray]:
    """Outer contours of a compressed RLE mask as closed polygons, each (n, 2) in COCO px.

    The contour runs through the centres of the mask's border pixels (pixel i's centre is i + 0.5 in
    COCO coordinates, where the overlay draws it), half a pixel inside the mask's edge.
    """
    mask = np.ascontiguousarray(mask_utils.decode(rle))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1, 2).astype(np.float64) + 0.5 for c in contours]


def _path(parts: list[np.ndarray]) -> tuple[list[float | None], list[float | None]]:
    """x and y of closed polygons, parts separated by None (one scatter trace)."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    for part in parts:
        ring = np.vstack([part, part[:1]])
        xs += ring[:, 0].tolist() + [None]
        ys += ring[:, 1].tolist() + [None]
    return xs, ys


def _box(x: float, y: float, w: float, h: float) -> np.ndarray:
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float64)


def add_prediction_layer(fig: go.Figure, predictions: pd.DataFrame, instances: pd.DataFrame,
                         ground_truth: pd.DataFrame) -> go.Figure:
    """Draw one frame's predictions over its overlay: outlines coloured TP/FP (dashed), missed instances (dotted box).

    Args:
        fig: a frame's figure in COCO pixel coordinates (e.g. `figures_overlay.overlay_figure`).
        predictions: rows of `Predictions.table` for the frame (pred_id, kind, rle, bbox_*, class_name, score).
        instances: rows of `ThresholdReport.instances` for the frame; predictions not among them (below the
            score threshold) are not drawn.
        ground_truth: rows of `Dataset.annotations` for the frame (ann_id, class_name, mask_box_*), for the
            missed instances' boxes.

    Returns:
        `fig`, with one trace per drawn prediction and per missed instance, and one legend entry per outcome.
    """
    shown_outcomes: set[str] = set()

    def add(parts: list[np.ndarray], outcome: str, dash: str, hover: str) -> None:
        xs, ys = _path(parts)
        fig.add_scatter(x=xs, y=ys, mode="lines", line=dict(color=OUTCOME_COLOURS[outcome], width=2, dash=dash),
                        name=OUTCOME_LABELS[outcome], legendgroup=outcome, showlegend=outcome not in shown_outcomes,
                        hoveron="points+fills", text=hover, hovertemplate="%{text}<extra></extra>")
        shown_outcomes.add(outcome)

    preds = instances[instances["side"] == "prediction"].set_index("id")
    for row in predictions[predictions["pred_id"].isin(preds.index)].itertuples(index=False):
        match = preds.loc[row.pred_id]
        parts = mask_outline(row.rle) if row.rle is not None else [_box(row.bbox_x, row.bbox_y, row.bbox_w, row.bbox_h)]
        matched = (f"<br>IoU {match['iou']:.2f} with {plot_text(match['matched_class'])}"
                   if match["matched_id"] >= 0 else "")
        add(parts, str(match["outcome"]), "dash",
            f"{match['outcome']}: {plot_text(row.class_name)}<br>score {row.score:.3f}{matched}")
    missed = instances[(instances["side"] == "ground truth") & (instances["outcome"] == FN)]
    boxes = ground_truth.set_index("ann_id")
    for row in missed.itertuples(index=False):
        ann = boxes.loc[row.id]
        box = _box(ann["mask_box_x"], ann["mask_box_y"], ann["mask_box_w"], ann["mask_box_h"])
        best = f"<br>best IoU of a prediction of its class {row.best_iou:.2f}" if row.best_iou > 0 else ""
        add([box], FN, "dot", f"missed {plot_text(row.class_name)}{best}")
    return fig
