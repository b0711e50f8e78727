"""The gallery's prediction view of a frame: ground truth as contours, a model's predictions and misses over it."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from xami_core.analysis.evaluation import FN, FP, TP
from xami_core.analysis.gallery_errors import outcome_counts
from xami_core.render.evaluation_figures import OUTCOME_LABELS, add_prediction_layer
from xami_core.render.figures_overlay import overlay_figure
from xami_core.render.overlay import Colours


def outcome_legend_name(outcome: str, n: int) -> str:
    """A legend entry of the layer with its count: "TP prediction · 3"."""
    return f"{OUTCOME_LABELS[outcome]} · {n}"


def prediction_figure(frame: np.ndarray, truth: pd.DataFrame, predictions: pd.DataFrame, instances: pd.DataFrame,
                      colours: Colours = None, *, hidden_classes: Iterable[str] = (), height: int = 720) -> go.Figure:
    """A frame with its ground truth as class-coloured contours and a model's outcomes over it.

    Args:
        frame: the stretched 2-D uint8 frame, in the annotations' pixel grid.
        truth: rows of `Dataset.annotations` for the frame.
        predictions: rows of `Predictions.table` for the frame.
        instances: rows of `ThresholdReport.instances` for the frame (predictions below the score
            threshold are not among them and are not drawn).
        colours: class colours or a palette name, as `overlay_figure` takes them.
        hidden_classes: ground-truth classes not drawn (the predictions and misses are all drawn).
        height: in pixels.

    Returns:
        The figure: predictions outlined dashed (TP green, FP orange), missed instances as dotted
        boxes, every outline's hover giving class, score and match; the legend lists the outcomes with
        their counts (the classes are the ground-truth figure's).
    """
    fig = overlay_figure(frame, truth, colours, 0.0, fill=False, contour=True, boxes=False, labels=False,
                         hidden_classes=hidden_classes, height=height)
    add_prediction_layer(fig, predictions, instances, truth)
    counts = outcome_counts(instances)
    for trace in fig.data:
        group = getattr(trace, "legendgroup", None)
        if group in (TP, FP, FN):
            if trace.showlegend:
                trace.name = outcome_legend_name(group, counts[group])
        elif group:
            # The classes' legend is the ground-truth figure's beside it; one row here keeps the frames level.
            trace.showlegend = False
    fig.update_layout(legend_title_text="outcome (click to hide)")
    return fig
