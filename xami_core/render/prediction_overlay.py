"""The gallery's prediction views: a frame's figure and the grid's thumbnails, with the ground truth as contours and a
model's predictions and misses over it, coloured by outcome."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from xami_core.analysis.evaluation import FN, FP, TP, ThresholdReport
from xami_core.analysis.gallery import ThumbOptions, annotations_digest, render_thumbnail, thumbs_dir
from xami_core.analysis.gallery_errors import outcome_counts
from xami_core.io.predictions import Predictions
from xami_core.model import Dataset
from xami_core.paths import file_fingerprint
from xami_core.render.evaluation_figures import OUTCOME_COLOURS, OUTCOME_LABELS, add_prediction_layer, mask_outline
from xami_core.render.figures_overlay import overlay_figure
from xami_core.render.overlay import Colours, Shapes

PREDICTION_THUMB_VERSION = 1  # bump when the drawing changes, so old cached files are not reused
_MEMORY: OrderedDict[str, bytes] = OrderedDict()
MEMORY_ITEMS = 2048
SHIFT = 4  # OpenCV fixed-point bits: outlines keep 1/16 px precision at thumbnail size


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


# ---------------------------------------------------------------------------------------
# Thumbnails with the prediction layer


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    """"#1b9e77" -> (27, 158, 119)."""
    return tuple(int(hex_colour[k:k + 2], 16) for k in (1, 3, 5))


def _fixed(points: np.ndarray) -> np.ndarray:
    """COCO pixel-edge coordinates (already scaled) to OpenCV fixed-point pixel-centre coordinates."""
    return np.round((points - 0.5) * (1 << SHIFT)).astype(np.int32)


def _box(x: float, y: float, w: float, h: float) -> np.ndarray:
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float64)


def outcome_line_width(size: int) -> int:
    """The outcome outlines' width in thumbnail pixels: 1 on small thumbnails (below 192 px), else 2; the ground
    truth's contours are 1 px, so the model's outcomes stand out over them."""
    return 1 if size < 192 else 2


def draw_outcomes(rgb: np.ndarray, scale: float, predictions: pd.DataFrame, instances: pd.DataFrame,
                  truth: pd.DataFrame, line_width: int = 1) -> np.ndarray:
    """Outline one frame's outcomes on an RGB image in place (and return it): each drawn prediction's mask (its box
    when it has none) in its outcome's colour (TP, FP), each missed instance's box in the FN colour.

    Args:
        rgb: H x W x 3 uint8, the frame drawn `scale` output pixels per frame pixel.
        scale: output pixels per frame pixel.
        predictions: rows of `Predictions.table` for the frame.
        instances: rows of `ThresholdReport.instances` for the frame; predictions not among them (below the
            score threshold) are not drawn.
        truth: rows of `Dataset.annotations` for the frame (ann_id, mask_box_*), for the missed instances' boxes.
        line_width: in output pixels.
    """
    outcome = instances.loc[instances["side"] == "prediction"].set_index("id")["outcome"]
    drawn = predictions[predictions["pred_id"].isin(outcome.index)]
    lines: dict[str, list[np.ndarray]] = {TP: [], FP: [], FN: []}
    for pred_id, rle, x, y, w, h in zip(drawn["pred_id"], drawn["rle"], drawn["bbox_x"], drawn["bbox_y"],
                                        drawn["bbox_w"], drawn["bbox_h"]):
        parts = mask_outline(rle) if rle is not None else [_box(x, y, w, h)]
        lines[str(outcome.loc[pred_id])] += [p * scale for p in parts]
    missed = instances.loc[(instances["side"] == "ground truth") & (instances["outcome"] == FN), "id"]
    boxes = truth.set_index("ann_id").loc[missed.to_numpy(), ["mask_box_x", "mask_box_y", "mask_box_w", "mask_box_h"]]
    lines[FN] += [_box(*b) * scale for b in boxes.to_numpy(np.float64)]
    # Crisp lines (no anti-aliasing): at thumbnail size a blended outline loses its outcome's colour.
    for kind in (FN, TP, FP):  # an FP over a TP stays visible: the errors are what the grid is for
        if lines[kind]:
            cv2.polylines(rgb, [_fixed(p) for p in lines[kind]], True, _rgb(OUTCOME_COLOURS[kind]), line_width,
                          cv2.LINE_8, SHIFT)
    return rgb


def render_prediction_thumbnail(path: str, width: int, height: int, truth: pd.DataFrame, predictions: pd.DataFrame,
                                instances: pd.DataFrame, options: ThumbOptions) -> np.ndarray:
    """A thumbnail (RGB, longer side `options.size`): the frame as the gallery shows it, the ground truth as thin
    class-coloured contours (when `options.overlay`, never filled) and the outcomes outlined (`draw_outcomes`)."""
    rgb = render_thumbnail(path, width, height, truth, replace(options, fill=False, contour=True))
    scale = rgb.shape[1] / width
    return draw_outcomes(rgb, scale, predictions, instances, truth, outcome_line_width(options.size))


def _outcomes_digest(predictions: pd.DataFrame, instances: pd.DataFrame) -> str:
    """A digest of what a thumbnail draws of a frame's outcomes: each instance's outcome and each prediction's shape."""
    drawn = predictions[predictions["pred_id"].isin(instances.loc[instances["side"] == "prediction", "id"])]
    raw = repr((instances[["side", "id", "outcome"]].to_numpy().tolist(),
                drawn["pred_id"].tolist(), [None if r is None else r["counts"] for r in drawn["rle"]],
                drawn[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy().tolist()))
    return hashlib.sha1(raw.encode()).hexdigest()


def _encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    """JPEG bytes with full-resolution colour (4:4:4): halved chroma would smear a 1 px outline's colour.

    Raises:
        ValueError: OpenCV cannot encode the array.
    """
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, quality,
                            cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def _write_atomic(target: Path, data: bytes) -> None:
    """Write a file so readers see it whole or not at all."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".jpg")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, target)


def prediction_thumbnails(ds: Dataset, image_ids: Sequence[int], preds: Predictions, report: ThresholdReport,
                          iou_type: str, options: ThumbOptions, disk_cache: bool = True) -> list[bytes]:
    """JPEG thumbnails of frames, in the order of `image_ids`, with the prediction layer drawn over them.

    The ground truth as thin class-coloured contours (when `options.overlay`), each prediction at or
    above the score threshold outlined in its outcome's colour (`OUTCOME_COLOURS`: TP, FP) and each
    missed instance's box in the FN colour. Cached in memory and on disk beside the gallery's
    thumbnails, keyed by the image file, the ground truth, the options, the prediction set
    (`preds.content_key`), `iou_type`, both thresholds and the frame's outcomes.

    Args:
        ds: the dataset.
        image_ids: dataset image ids (a page of the grid).
        preds: the prediction set drawn.
        report: its outcomes at the thresholds (`evaluation.at_thresholds` for `iou_type`), over images
            that include `image_ids`.
        iou_type: "segm" or "bbox", the IoU the outcomes were matched with.
        options: as the gallery's thumbnails (size, palette, stretch); `fill` is ignored.
        disk_cache: store and reuse files under `gallery.thumbs_dir()`.

    Returns:
        One JPEG (bytes) per image id, longer side `options.size` px.

    Raises:
        ValueError: OpenCV cannot encode a thumbnail.
    """
    image_ids = [int(i) for i in image_ids]
    options = options if options.class_names else replace(options, class_names=tuple(ds.class_names))
    images = ds.images.set_index("image_id").loc[image_ids, ["path", "width", "height"]]
    # The page's rows once, then each frame's by groupby (a page holds tens of frames).
    ann, table, inst = ds.annotations, preds.table, report.instances
    truth_of = dict(tuple(ann[ann["image_id"].isin(image_ids)].sort_values("ann_id").groupby("image_id")))
    preds_of = dict(tuple(table[table["image_id"].isin(image_ids)].groupby("image_id")))
    inst_of = dict(tuple(inst[inst["image_id"].isin(image_ids)].groupby("image_id")))
    out = []
    for image_id, path, width, height in zip(image_ids, images["path"], images["width"], images["height"]):
        truth = truth_of.get(image_id, ann.iloc[:0])
        predictions = preds_of.get(image_id, table.iloc[:0])
        instances = inst_of.get(image_id, inst.iloc[:0])
        try:
            fp = file_fingerprint(Path(path))
        except OSError:
            fp = None  # a missing file: drawn on a placeholder, not cached, so it shows once the file appears
        key = None if fp is None else hashlib.sha1(repr((
            PREDICTION_THUMB_VERSION, fp, int(width), int(height),
            annotations_digest(Shapes.of(truth)) if options.overlay else "", sorted(asdict(options).items()),
            preds.content_key, iou_type, float(report.score_threshold), float(report.iou_threshold),
            _outcomes_digest(predictions, instances))).encode()).hexdigest()
        if key is not None and key in _MEMORY:
            _MEMORY.move_to_end(key)
            out.append(_MEMORY[key])
            continue
        target = thumbs_dir() / key[:2] / f"{key}.jpg" if (key and disk_cache) else None
        if target is not None and target.is_file():
            data = target.read_bytes()
        else:
            data = _encode_jpeg(render_prediction_thumbnail(str(path), int(width), int(height), truth, predictions,
                                                            instances, options), options.quality)
            if target is not None:
                _write_atomic(target, data)
        if key is not None:
            _MEMORY[key] = data
            while len(_MEMORY) > MEMORY_ITEMS:
                _MEMORY.popitem(last=False)
        out.append(data)
    return out
