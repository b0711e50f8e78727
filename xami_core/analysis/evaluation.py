"""Evaluate a prediction set against a dataset: pycocotools COCOeval, then analyses at chosen thresholds.

`evaluate` runs the expensive part once per (images, predictions, IoU type): COCOeval's
`evaluate()` + `accumulate()` + `summarize()` on ground truth and detections built in memory
from the `Dataset` and `Predictions` tables, plus the IoU of every prediction with every
ground-truth instance of its image (all classes). Everything else reads the stored result:
the metric table and precision-recall curves (slices of `eval["precision"]`, as
pycocotools' `COCOeval.summarize` takes them), and `at_thresholds` (precision, recall and F1
per class, a confusion matrix with background, each instance marked TP/FP/FN) for any IoU and
score threshold without running COCOeval again.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from xami_core.io.predictions import Predictions
from xami_core.io.tables import RLE_BATCH, rle_to_compressed
from xami_core.model import Dataset, XamiDataError, filter_keys, filter_label, filter_order
from xami_core.polygons import mask_cells

IOU_TYPES = ("segm", "bbox")
GT_BOXES = ("stored", "mask")
METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
# pycocotools cocoeval.py, COCOeval.summarize._summarizeDets, in `stats` order:
# (average precision? else recall, IoU threshold or None for the mean over .50:.05:.95, area range, max detections)
SUMMARY: tuple[tuple[bool, float | None, str, int], ...] = (
    (True, None, "all", 100), (True, 0.5, "all", 100), (True, 0.75, "all", 100),
    (True, None, "small", 100), (True, None, "medium", 100), (True, None, "large", 100),
    (False, None, "all", 1), (False, None, "all", 10), (False, None, "all", 100),
    (False, None, "small", 100), (False, None, "medium", 100), (False, None, "large", 100),
)
BACKGROUND = "background"
ALL = "all"
TP, FP, FN = "TP", "FP", "FN"
MAX_IOU = 1 - 1e-10  # COCOeval.evaluateImg caps the threshold so IoU 1.0 can match at t = 1


@dataclass(frozen=True)
class Evaluation:
    """COCOeval's accumulated result for one (image subset, prediction set, IoU type), and the IoUs to re-match.

    Arrays keep COCOeval's axes: T IoU thresholds, R recall thresholds, K classes (class-id
    order), A area ranges, M max-detection settings.

    precision: (T, R, K, A, M), -1 where a class has no ground truth; recall: (T, K, A, M);
    scores: (T, R, K, A, M), the detection score at each precision point; stats: (12,), COCOeval.stats.
    gt: one row per ground-truth instance (ann_id, image_id, category_id, class_name).
    dt: one row per prediction that took part (pred_id, image_id, category_id, class_name, score,
        rank: its order in its image by score, in_eval: among the 100 best of its image and class).
    pairs: (dt_index, gt_index, iou) for every prediction and ground-truth instance of the same
        image with IoU > 0, any classes; indices are rows of `dt` and `gt`.
    """

    name: str
    iou_type: str
    image_ids: np.ndarray
    class_ids: tuple[int, ...]
    class_names: tuple[str, ...]
    iou_thresholds: np.ndarray
    recall_thresholds: np.ndarray
    area_labels: tuple[str, ...]
    max_dets: tuple[int, ...]
    precision: np.ndarray
    recall: np.ndarray
    scores: np.ndarray
    stats: np.ndarray
    gt: pd.DataFrame
    dt: pd.DataFrame
    pairs: pd.DataFrame
    left_out: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ThresholdReport:
    """Counts at one IoU and score threshold (see `at_thresholds`).

    per_class: index class names + "all"; columns n_gt, n_pred, tp, fp, fn, precision, recall, f1.
    confusion: counts, index ground-truth class (+ "background"), columns predicted class (+ "background").
    instances: one row per prediction (score at or above the threshold) and per ground-truth instance.
    """

    iou_threshold: float
    score_threshold: float
    per_class: pd.DataFrame
    confusion: pd.DataFrame
    instances: pd.DataFrame


def _quiet_coco(dataset: dict[str, Any]) -> COCO:
    """A pycocotools COCO object over an in-memory dict (its index built without printing)."""
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _box_polygon(x: float, y: float, w: float, h: float) -> list[list[float]]:
    """The box as one polygon, corner order as pycocotools' loadRes writes it for box-only results."""
    return [[x, y, x, y + h, x + w, y + h, x + w, y]]


def _gt_rles(ann: pd.DataFrame, heights: np.ndarray, widths: np.ndarray) -> list[dict]:
    """Compressed RLE masks of ground-truth rows as pycocotools' annToRLE makes them.

    Polygons are rasterised and their parts merged; RLEs pass through; a box-only annotation
    (Roboflow's `segmentation: []`, which pycocotools cannot rasterise) becomes its box.
    """
    out: list[dict] = []
    for seg, kind, h, w, box in zip(mask_cells(ann), ann["kind"], heights, widths,
                                    ann[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy()):
        if kind == "rle":
            out.append(rle_to_compressed(seg))
            continue
        parts = seg if kind == "polygon" else _box_polygon(*map(float, box))
        rles = mask_utils.frPyObjects(parts, int(h), int(w))
        out.append(rles[0] if len(rles) == 1 else mask_utils.merge(rles))
    return out


def ground_truth_coco(ds: Dataset, image_ids: Sequence[int] | np.ndarray | None = None, iou_type: str = "segm",
                      boxes: str = "stored") -> tuple[COCO, pd.DataFrame]:
    """The dataset's ground truth as an in-memory pycocotools COCO object, and its annotation rows.

    Image ids are the dataset's; annotation ids are `ann_id + 1`: COCOeval stores a match as the
    ground truth's id and reads 0 as "unmatched", so on a file numbered from 0 (Roboflow's
    exports) a plain pycocotools run counts the detection matched to annotation 0 as a false
    positive; here it counts as the true positive it is. Category ids are the dataset's class ids; every annotation has iscrowd 0
    and the area the dataset holds (the file's `area`, else the mask's). Images without
    annotations are included (their detections count as false positives).

    Args:
        ds: the dataset.
        image_ids: the images to include (default: all).
        iou_type: "segm" (masks as compressed RLE) or "bbox".
        boxes: "stored" (the file's bbox, as pycocotools reads it; the mask's box where the file's
            was unusable) or "mask" (boxes recomputed from the masks, as the XAMI authors do).

    Raises:
        ValueError: an unknown `iou_type` or `boxes`.
    """
    if iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type must be one of {IOU_TYPES}, got {iou_type!r}")
    if boxes not in GT_BOXES:
        raise ValueError(f"boxes must be one of {GT_BOXES}, got {boxes!r}")
    images = ds.images if image_ids is None else ds.images[ds.images["image_id"].isin(np.asarray(image_ids))]
    ann = ds.annotations[ds.annotations["image_id"].isin(images["image_id"])]
    box = ann[["mask_box_x", "mask_box_y", "mask_box_w", "mask_box_h"]].to_numpy(dtype=np.float64)
    if boxes == "stored":
        stored = ann[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy(dtype=np.float64)
        usable = np.isfinite(stored).all(axis=1)
        box = np.where(usable[:, None], stored, box)
    records = [{"id": int(a) + 1, "image_id": int(i), "category_id": int(c), "iscrowd": 0, "area": float(ar),
                "bbox": b} for a, i, c, ar, b in zip(ann["ann_id"], ann["image_id"], ann["class_id"], ann["area"],
                                                     box.tolist())]
    if iou_type == "segm":
        size = images.set_index("image_id")[["height", "width"]]
        hw = size.loc[ann["image_id"]].to_numpy()
        for rec, rle in zip(records, _gt_rles(ann, hw[:, 0], hw[:, 1])):
            rec["segmentation"] = rle
    coco = _quiet_coco({
        "images": [{"id": int(i), "width": int(w), "height": int(h)}
                   for i, w, h in zip(images["image_id"], images["width"], images["height"])],
        "categories": [{"id": int(c), "name": n} for c, n in zip(ds.categories["class_id"], ds.categories["name"])],
        "annotations": records,
    })
    return coco, ann


def _iou_block(dt: list | np.ndarray, gt: list | np.ndarray) -> np.ndarray:
    """pycocotools' IoU of detections with ground truth (iscrowd 0), in slices it accepts; shape (n_dt, n_gt)."""
    out = np.zeros((len(dt), len(gt)))
    for i in range(0, len(dt), RLE_BATCH):
        for j in range(0, len(gt), RLE_BATCH):
            block = mask_utils.iou(dt[i:i + RLE_BATCH], gt[j:j + RLE_BATCH], [0] * len(gt[j:j + RLE_BATCH]))
            out[i:i + RLE_BATCH, j:j + RLE_BATCH] = np.asarray(block).reshape(len(dt[i:i + RLE_BATCH]), -1)
    return out


def _all_pairs(dt: pd.DataFrame, dt_geom: list | np.ndarray, gt: pd.DataFrame, gt_geom: list | np.ndarray) -> pd.DataFrame:
    """(dt_index, gt_index, iou) for every detection and ground truth of one image with IoU > 0, any class."""
    dt_rows = dt.groupby("image_id").indices  # image id -> row positions, one pass
    gt_rows = gt.groupby("image_id").indices
    frames = []
    for image_id in sorted(dt_rows.keys() & gt_rows.keys()):
        di, gi = dt_rows[image_id], gt_rows[image_id]
        if isinstance(dt_geom, np.ndarray):
            ious = _iou_block(dt_geom[di], gt_geom[gi])
        else:
            ious = _iou_block([dt_geom[k] for k in di], [gt_geom[k] for k in gi])
        r, c = np.nonzero(ious > 0)
        frames.append(pd.DataFrame({"dt_index": di[r], "gt_index": gi[c], "iou": ious[r, c]}))
    if not frames:
        return pd.DataFrame({"dt_index": np.zeros(0, np.int64), "gt_index": np.zeros(0, np.int64), "iou": np.zeros(0)})
    return pd.concat(frames, ignore_index=True)


def evaluate(ds: Dataset, preds: Predictions, iou_type: str = "segm",
             image_ids: Sequence[int] | np.ndarray | None = None, boxes: str = "stored") -> Evaluation:
    """Run pycocotools COCOeval (evaluate, accumulate, summarize) on `preds` over a subset of `ds`'s images.

    The subset (a split, a fold part, a filter, a gallery selection) becomes `params.imgIds`;
    predictions for other images do not take part. For "segm", box-only predictions cannot
    take part and are counted in `Evaluation.left_out`. The detection areas are those
    `COCO.loadRes` would give the results file (see `predictions.eval_area`).

    Args:
        ds: the dataset (ground truth).
        preds: a prediction set read for `ds`.
        iou_type: "segm" (mask IoU) or "bbox" (box IoU).
        image_ids: dataset image ids to evaluate on (default: every image).
        boxes: ground-truth boxes for "bbox", see `ground_truth_coco`.

    Raises:
        ValueError: an unknown `iou_type` or `boxes`.
        XamiDataError: no image of the dataset is in `image_ids`.
    """
    ids = np.unique(ds.images["image_id"].to_numpy() if image_ids is None
                    else np.intersect1d(np.asarray(image_ids, dtype=np.int64), ds.images["image_id"].to_numpy()))
    if not len(ids):
        raise XamiDataError("no image to evaluate on: the selection holds no image of the dataset")
    gt_coco, ann = ground_truth_coco(ds, ids, iou_type, boxes)
    table = preds.table[preds.table["image_id"].isin(ids)]
    left_out: dict[str, int] = {}
    if iou_type == "segm":
        boxes_only = table["kind"] == "box"
        if boxes_only.any():
            left_out["box-only prediction (no mask for segm)"] = int(boxes_only.sum())
        table = table[~boxes_only]
    box = table[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy(dtype=np.float64)
    dt_records = [{"id": int(p) + 1, "image_id": int(i), "category_id": int(c), "score": float(s), "area": float(a),
                   "bbox": b, "iscrowd": 0}
                  for p, i, c, s, a, b in zip(table["pred_id"], table["image_id"], table["category_id"],
                                              table["score"], table["area"], box.tolist())]
    if iou_type == "segm":
        for rec, rle in zip(dt_records, table["rle"]):
            rec["segmentation"] = rle
    dt_coco = _quiet_coco({"images": gt_coco.dataset["images"], "categories": gt_coco.dataset["categories"],
                           "annotations": dt_records})
    cocoeval = COCOeval(gt_coco, dt_coco, iou_type)
    cocoeval.params.imgIds = ids.tolist()
    with contextlib.redirect_stdout(io.StringIO()):
        cocoeval.evaluate()
        cocoeval.accumulate()
        cocoeval.summarize()
    p = cocoeval.params

    class_ids = tuple(int(c) for c in p.catIds)
    names = dict(zip(ds.categories["class_id"].astype(int), ds.categories["name"]))
    dt = pd.DataFrame({"pred_id": table["pred_id"].to_numpy(), "image_id": table["image_id"].to_numpy(),
                       "category_id": table["category_id"].to_numpy(), "class_name": table["class_name"].to_numpy(),
                       "score": table["score"].to_numpy()})
    # COCOeval's order in an image and class: score descending, ties in file order (a stable sort).
    order = np.lexsort((dt["pred_id"].to_numpy(), -dt["score"].to_numpy(), dt["image_id"].to_numpy()))
    rank = np.empty(len(dt), dtype=np.int64)
    rank[order] = np.arange(len(dt))
    dt["rank"] = rank
    dt["in_eval"] = (dt.sort_values("rank").groupby(["image_id", "category_id"]).cumcount() < p.maxDets[-1]).sort_index()
    gt = pd.DataFrame({"ann_id": ann["ann_id"].to_numpy(), "image_id": ann["image_id"].to_numpy(),
                       "category_id": ann["class_id"].to_numpy(), "class_name": ann["class_name"].to_numpy()})
    if iou_type == "segm":
        gt_geom: list | np.ndarray = [gt_coco.anns[int(a) + 1]["segmentation"] for a in gt["ann_id"]]
        dt_geom: list | np.ndarray = list(table["rle"])
    else:
        gt_geom = np.array([gt_coco.anns[int(a) + 1]["bbox"] for a in gt["ann_id"]], dtype=np.float64).reshape(-1, 4)
        dt_geom = box
    return Evaluation(
        name=preds.name, iou_type=iou_type, image_ids=ids, class_ids=class_ids,
        class_names=tuple(names[c] for c in class_ids), iou_thresholds=np.asarray(p.iouThrs),
        recall_thresholds=np.asarray(p.recThrs), area_labels=tuple(p.areaRngLbl), max_dets=tuple(p.maxDets),
        precision=cocoeval.eval["precision"], recall=cocoeval.eval["recall"], scores=cocoeval.eval["scores"],
        stats=np.asarray(cocoeval.stats, dtype=np.float64), gt=gt, dt=dt,
        pairs=_all_pairs(dt, dt_geom, gt, gt_geom), left_out=left_out)


def summary_value(ev: Evaluation, ap: bool, iou: float | None, area: str, max_dets: int,
                  class_index: int | None = None) -> float:
    """One number of COCOeval.summarize, overall or for one class (index into `ev.class_ids`).

    The recipe of pycocotools cocoeval.py `_summarize`: the slice of `eval["precision"]` (AP) or
    `eval["recall"]` (AR) at the IoU threshold (all ten when None), area range and max
    detections, then the mean of its entries above -1; -1 when there is none (no ground truth).

    Raises:
        ValueError: `iou`, `area` or `max_dets` is not one of COCOeval's parameters.
    """
    t = slice(None) if iou is None else np.flatnonzero(ev.iou_thresholds == iou)
    if iou is not None and not len(t):
        raise ValueError(f"iou must be one of COCOeval's thresholds {ev.iou_thresholds.tolist()}, got {iou}")
    if area not in ev.area_labels or max_dets not in ev.max_dets:
        raise ValueError(f"area must be one of {ev.area_labels} and max_dets one of {ev.max_dets}")
    a, m = ev.area_labels.index(area), ev.max_dets.index(max_dets)
    k = slice(None) if class_index is None else slice(class_index, class_index + 1)
    s = ev.precision[t, :, k, a, m] if ap else ev.recall[t, k, a, m]
    valid = s[s > -1]
    return float(np.mean(valid)) if len(valid) else -1.0


def metrics_table(ev: Evaluation) -> pd.DataFrame:
    """COCO metrics overall ("all", equal to COCOeval.stats) and per class; NaN where COCOeval gives -1.

    Returns:
        index "all" then class names; columns `METRICS` (fractions 0..1), n_gt, n_pred (the
        instances and predictions that took part).
    """
    rows = {ALL: [summary_value(ev, *spec) for spec in SUMMARY]}
    for k, name in enumerate(ev.class_names):
        rows[name] = [summary_value(ev, *spec, class_index=k) for spec in SUMMARY]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(METRICS)).replace(-1.0, np.nan)
    n_gt = ev.gt["class_name"].value_counts()
    n_dt = ev.dt["class_name"].value_counts()
    table["n_gt"] = [len(ev.gt)] + [int(n_gt.get(n, 0)) for n in ev.class_names]
    table["n_pred"] = [len(ev.dt)] + [int(n_dt.get(n, 0)) for n in ev.class_names]
    table.index.name = "class"
    return table


def pr_curves(ev: Evaluation, iou: float = 0.5, area: str = "all", max_dets: int = 100) -> pd.DataFrame:
    """Precision-recall curves per class from `eval["precision"]` at one IoU threshold.

    Returns:
        one row per (class, recall threshold): class_name, recall (COCOeval's 101 points 0..1),
        precision (COCOeval's interpolated precision; NaN where the class has no ground truth or
        the recall is not reached), score (the detection score at that point; NaN likewise).

    Raises:
        ValueError: `iou`, `area` or `max_dets` is not one of COCOeval's parameters.
    """
    t = np.flatnonzero(ev.iou_thresholds == iou)
    if not len(t) or area not in ev.area_labels or max_dets not in ev.max_dets:
        raise ValueError(f"iou must be one of {ev.iou_thresholds.tolist()}, area one of {ev.area_labels}, "
                         f"max_dets one of {ev.max_dets}")
    a, m = ev.area_labels.index(area), ev.max_dets.index(max_dets)
    prec = ev.precision[t[0], :, :, a, m]  # (R, K)
    score = ev.scores[t[0], :, :, a, m]
    unreached = prec <= -1
    n_r, n_k = prec.shape
    return pd.DataFrame({
        "class_name": np.repeat(np.array(ev.class_names, dtype=object), n_r),
        "recall": np.tile(ev.recall_thresholds, n_k),
        "precision": np.where(unreached, np.nan, prec).T.ravel(),
        "score": np.where(unreached, np.nan, score).T.ravel(),
    })


def _greedy(pairs: pd.DataFrame, dt_taken: np.ndarray, gt_taken: np.ndarray, dt_rank: np.ndarray,
            gt_ids: np.ndarray) -> list[tuple[int, int, float]]:
    """Greedy one-to-one matches (dt_index, gt_index, iou): detections by rank, each to its free ground
    truth of highest IoU, ties to the later annotation (as COCOeval.evaluateImg resolves them)."""
    if not len(pairs):
        return []
    d, g, iou = pairs["dt_index"].to_numpy(), pairs["gt_index"].to_numpy(), pairs["iou"].to_numpy()
    order = np.lexsort((-gt_ids[g], -iou, dt_rank[d]))
    out = []
    for di, gi, v in zip(d[order].tolist(), g[order].tolist(), iou[order].tolist()):
        if dt_taken[di] or gt_taken[gi]:
            continue
        dt_taken[di] = gt_taken[gi] = True
        out.append((di, gi, v))
    return out


def at_thresholds(ev: Evaluation, iou: float = 0.5, score: float = 0.25) -> ThresholdReport:
    """Precision, recall, F1, a confusion matrix and TP/FP/FN per instance at one IoU and score threshold.

    Reads only what `evaluate` stored (COCOeval does not run again). The recipe:
    1. Predictions with score >= `score` among the 100 best of their image and class take part.
    2. Same-class matching, as COCOeval.evaluateImg matches at one IoU threshold with area
       "all": per image, predictions by score (ties in file order) each take the unmatched
       ground truth of their class with the highest IoU >= `iou`. Matched: TP; other
       predictions: FP; unmatched ground truth: FN. Precision = TP / (TP + FP), recall =
       TP / ground truth, F1 = 2 TP / (2 TP + FP + FN); NaN where the denominator is 0.
    3. Confusions: FP predictions, by score, each take the still unmatched ground truth of
       another class with the highest IoU >= `iou` (greedy, one-to-one). Such a pair is counted
       in the confusion matrix at (ground-truth class, predicted class) and stays FP/FN above.
    4. Left over: predictions are "background" ground truth (spurious), ground truth is
       "background" prediction (missed). A duplicate of a matched instance is spurious.

    Args:
        ev: the result of `evaluate`.
        iou: IoU threshold, above 0 and at most 1 (any value, not only COCOeval's ten; pairs that do
            not overlap are never matched).
        score: score threshold; predictions below it do not take part.

    Raises:
        ValueError: `iou` not in (0, 1] or a non-finite `score`.
    """
    if not 0 < iou <= 1 or not np.isfinite(score):
        raise ValueError(f"iou must be above 0 and at most 1, and score finite, got iou={iou}, score={score}")
    dt, gt, pairs = ev.dt, ev.gt, ev.pairs
    keep = (dt["in_eval"] & (dt["score"] >= score)).to_numpy()
    dt_class, gt_class = dt["category_id"].to_numpy(), gt["category_id"].to_numpy()
    usable = pairs[keep[pairs["dt_index"].to_numpy()] & (pairs["iou"].to_numpy() >= min(iou, MAX_IOU))]
    same = dt_class[usable["dt_index"].to_numpy()] == gt_class[usable["gt_index"].to_numpy()]
    dt_rank, gt_ids = dt["rank"].to_numpy(), gt["ann_id"].to_numpy()
    dt_taken, gt_taken = ~keep, np.zeros(len(gt), dtype=bool)
    matches = _greedy(usable[same], dt_taken, gt_taken, dt_rank, gt_ids)
    matched_dt = np.zeros(len(dt), dtype=bool)
    matched_dt[[m[0] for m in matches]] = True
    confusions = _greedy(usable[~same], dt_taken, gt_taken, dt_rank, gt_ids)

    # Per class and overall (micro) counts.
    names = list(ev.class_names)
    code_of = {c: k for k, c in enumerate(ev.class_ids)}
    dt_code = np.array([code_of[c] for c in dt_class], dtype=np.int64).reshape(-1)
    gt_code = np.array([code_of[c] for c in gt_class], dtype=np.int64).reshape(-1)
    n_k = len(names)
    n_pred = np.bincount(dt_code[keep], minlength=n_k)
    tp = np.bincount(dt_code[matched_dt], minlength=n_k)
    n_gt = np.bincount(gt_code, minlength=n_k)
    per_class = pd.DataFrame({"n_gt": n_gt, "n_pred": n_pred, "tp": tp, "fp": n_pred - tp, "fn": n_gt - tp},
                             index=pd.Index(names, name="class"))
    per_class.loc[ALL] = per_class.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        c = per_class.astype(np.float64)
        per_class["precision"] = np.where(c["n_pred"] > 0, c["tp"] / c["n_pred"], np.nan)
        per_class["recall"] = np.where(c["n_gt"] > 0, c["tp"] / c["n_gt"], np.nan)
        denominator = 2 * c["tp"] + c["fp"] + c["fn"]
        per_class["f1"] = np.where(denominator > 0, 2 * c["tp"] / denominator, np.nan)

    # Confusion matrix: rows ground truth, columns prediction, background last on both.
    labels = [*names, BACKGROUND]
    matrix = np.zeros((n_k + 1, n_k + 1), dtype=np.int64)
    np.add.at(matrix, (gt_code[[m[1] for m in matches]], dt_code[[m[0] for m in matches]]), 1)
    np.add.at(matrix, (gt_code[[m[1] for m in confusions]], dt_code[[m[0] for m in confusions]]), 1)
    np.add.at(matrix, (gt_code[~gt_taken], n_k), 1)
    spurious = keep.copy()
    spurious[[m[0] for m in matches + confusions]] = False
    np.add.at(matrix, (n_k, dt_code[spurious]), 1)
    confusion = pd.DataFrame(matrix, index=pd.Index(labels, name="ground truth"),
                             columns=pd.Index(labels, name="prediction"))

    return ThresholdReport(iou_threshold=float(iou), score_threshold=float(score), per_class=per_class,
                           confusion=confusion, instances=_instances(ev, keep, matches, confusions))


def _instances(ev: Evaluation, keep: np.ndarray, matches: list[tuple[int, int, float]],
               confusions: list[tuple[int, int, float]]) -> pd.DataFrame:
    """One row per kept prediction and per ground-truth instance: outcome, match and IoUs."""
    dt, gt, pairs = ev.dt, ev.gt, ev.pairs
    n_dt, n_gt = len(dt), len(gt)
    dt_match, gt_match = np.full(n_dt, -1), np.full(n_gt, -1)
    dt_iou, gt_iou = np.full(n_dt, np.nan), np.full(n_gt, np.nan)
    for di, gi, v in matches + confusions:
        dt_match[di], gt_match[gi], dt_iou[di], gt_iou[gi] = gi, di, v, v
    dt_tp = np.zeros(n_dt, dtype=bool)
    dt_tp[[m[0] for m in matches]] = True
    gt_tp = np.zeros(n_gt, dtype=bool)
    gt_tp[[m[1] for m in matches]] = True
    # Best IoU with any instance of the same class on the other side (kept predictions only).
    d, g, v = pairs["dt_index"].to_numpy(), pairs["gt_index"].to_numpy(), pairs["iou"].to_numpy()
    same = (dt["category_id"].to_numpy()[d] == gt["category_id"].to_numpy()[g]) & keep[d]
    dt_best, gt_best = np.zeros(n_dt), np.zeros(n_gt)
    np.maximum.at(dt_best, d[same], v[same])
    np.maximum.at(gt_best, g[same], v[same])
    ann_ids, pred_ids = gt["ann_id"].to_numpy(), dt["pred_id"].to_numpy()
    dt_names, gt_names = dt["class_name"].to_numpy(dtype=object), gt["class_name"].to_numpy(dtype=object)
    kept = np.flatnonzero(keep)
    preds = pd.DataFrame({
        "side": "prediction", "id": pred_ids[kept], "image_id": dt["image_id"].to_numpy()[kept],
        "class_name": dt_names[kept], "score": dt["score"].to_numpy()[kept],
        "outcome": np.where(dt_tp[kept], TP, FP),
        "matched_id": np.where(dt_match[kept] >= 0, ann_ids[np.maximum(dt_match[kept], 0)], -1) if n_gt else -1,
        "matched_class": np.where(dt_match[kept] >= 0, gt_names[np.maximum(dt_match[kept], 0)], "") if n_gt else "",
        "iou": dt_iou[kept], "best_iou": dt_best[kept]})
    truth = pd.DataFrame({
        "side": "ground truth", "id": ann_ids, "image_id": gt["image_id"].to_numpy(), "class_name": gt_names,
        "score": np.nan, "outcome": np.where(gt_tp, TP, FN),
        "matched_id": np.where(gt_match >= 0, pred_ids[np.maximum(gt_match, 0)], -1) if n_dt else -1,
        "matched_class": np.where(gt_match >= 0, dt_names[np.maximum(gt_match, 0)], "") if n_dt else "",
        "iou": gt_iou, "best_iou": gt_best})
    out = pd.concat([preds, truth], ignore_index=True)
    out["id"] = out["id"].astype(np.int64)
    out["matched_id"] = out["matched_id"].astype(np.int64)
    return out


def image_errors(report: ThresholdReport) -> pd.DataFrame:
    """Per image with any instance: counts of TP, FP (spurious or confused), FN and the mean matched IoU.

    Returns:
        index image_id; columns tp, fp, fn, errors (fp + fn), mean_iou (over TP predictions; NaN
        without one), for the gallery's "most errors" and "lowest mean IoU" orders.
    """
    inst = report.instances
    preds = inst[inst["side"] == "prediction"]
    truth = inst[inst["side"] == "ground truth"]
    out = pd.DataFrame({
        "tp": preds[preds["outcome"] == TP].groupby("image_id").size(),
        "fp": preds[preds["outcome"] == FP].groupby("image_id").size(),
        "fn": truth[truth["outcome"] == FN].groupby("image_id").size(),
    }).reindex(np.unique(inst["image_id"].to_numpy())).fillna(0).astype(np.int64)
    out["errors"] = out["fp"] + out["fn"]
    out["mean_iou"] = preds[preds["outcome"] == TP].groupby("image_id")["iou"].mean().reindex(out.index)
    out.index.name = "image_id"
    return out


def compare_metrics(evaluations: Mapping[str, Evaluation], metric: str = "AP") -> pd.DataFrame:
    """One metric for several prediction sets side by side: index "all" + classes, one column per set name.

    Raises:
        ValueError: `metric` is not one of `METRICS`.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    columns = {name: metrics_table(ev)[metric] for name, ev in evaluations.items()}
    return pd.DataFrame(columns)


def metrics_by_group(ds: Dataset, preds: Predictions, groups: Mapping[str, Sequence[int] | np.ndarray],
                     iou_type: str = "segm", boxes: str = "stored") -> pd.DataFrame:
    """Overall COCO metrics per image group (filters, fold parts): one COCOeval run per group.

    Returns:
        index group names (groups without any image of the dataset are skipped); columns `METRICS`
        (NaN where COCOeval gives -1), n_images, n_gt, n_pred.

    Raises:
        ValueError: an unknown `iou_type` or `boxes`.
    """
    rows = {}
    for name, ids in groups.items():
        try:
            ev = evaluate(ds, preds, iou_type, ids, boxes)
        except XamiDataError:
            continue
        row = metrics_table(ev).loc[ALL]
        rows[name] = row.to_dict() | {"n_images": len(ev.image_ids)}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=[*METRICS, "n_images", "n_gt", "n_pred"])
    table.index.name = "group"
    return table


def filter_groups(ds: Dataset, image_ids: Sequence[int] | np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Image ids per XMM-OM filter, labelled "UVW1 (291 nm)" etc., in wavelength order (for `metrics_by_group`).

    Returns:
        label -> sorted dataset image ids, shape (n,); only filters with images among `image_ids`
        (default: all images).
    """
    images = ds.images if image_ids is None else ds.images[ds.images["image_id"].isin(np.asarray(image_ids))]
    keys = filter_keys(images["filter_letter"])
    return {filter_label(k): np.sort(images.loc[keys == k, "image_id"].to_numpy())
            for k in filter_order(keys.unique())}


def fold_part_groups(assignments: pd.DataFrame, part: str = "valid") -> dict[str, np.ndarray]:
    """Image ids of one part of every fold ("fold 0 valid", ...), from a fold table (columns fold, image_id, part).

    Returns:
        label -> sorted dataset image ids, shape (n,), folds in order.

    Raises:
        ValueError: the table lacks one of the columns fold, image_id, part.
    """
    missing = {"fold", "image_id", "part"} - set(assignments.columns)
    if missing:
        raise ValueError(f"expected fold assignments with columns fold, image_id, part; missing {sorted(missing)}")
    chosen = assignments[assignments["part"] == part]
    return {f"fold {int(fold)} {part}": np.sort(group["image_id"].to_numpy())
            for fold, group in chosen.groupby("fold", sort=True)}
