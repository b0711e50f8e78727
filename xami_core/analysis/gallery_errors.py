"""The gallery's prediction layer: which frames a model gets wrong, and in which order to show them.

Reads a `ThresholdReport` (each instance TP, FP or FN at one IoU and score threshold) and the
evaluated predictions' scores; every selection is a groupby or `isin` over those tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from xami_core.analysis.evaluation import FN, FP, TP, ThresholdReport, image_errors
from xami_core.analysis.gallery import GalleryFilter
from xami_core.model import filter_label

ERROR_SORTS: tuple[str, ...] = ("errors", "iou")
ERROR_SORT_LABELS: dict[str, str] = {
    "errors": "most errors",
    "iou": "lowest mean IoU",
}
COUNT_COLUMNS = ("tp", "fp", "fn", "errors")
# The class modes inside a sentence ("classes: any of smoke-ring"); the radio's labels are "any of these", ...
CLASS_MODE_WORDS = {"any": "any of", "all": "all of", "none": "none of", "exactly": "exactly"}


@dataclass(frozen=True)
class ErrorFilter:
    """Which frames pass on the model's outcomes; every criterion is ANDed, an empty one puts no constraint.

    missed: classes of which the frame has a missed ground-truth instance (FN) — any of them.
    spurious: classes of which the frame has an FP prediction (spurious, a duplicate or confused
        with another class) — any of them.
    score_above: the frame has a prediction (of those evaluated) scoring at least this, or None.
    """

    missed: tuple[str, ...] = ()
    spurious: tuple[str, ...] = ()
    score_above: float | None = None



def error_counts(image_ids: np.ndarray | pd.Series, report: ThresholdReport) -> pd.DataFrame:
    """`evaluation.image_errors` for every image of `image_ids`, zeros where the image has no instance.

    Returns:
        index image_id (in the order given); columns tp, fp, fn, errors (int) and mean_iou (NaN without a TP).
    """
    ids = pd.Index(np.asarray(image_ids, dtype=np.int64), name="image_id")
    errors = image_errors(report).reindex(ids)
    counts = errors[list(COUNT_COLUMNS)].fillna(0).astype(np.int64)
    return counts.assign(mean_iou=errors["mean_iou"])


def error_mask(images: pd.DataFrame, report: ThresholdReport, scores: pd.DataFrame, flt: ErrorFilter) -> np.ndarray:
    """Boolean array over the rows of `images` (with column image_id): which frames pass `flt`.

    Args:
        images: rows of `Dataset.images`.
        report: outcomes at the chosen thresholds (`evaluation.at_thresholds`).
        scores: the evaluated predictions (`Evaluation.dt`: image_id, score), for `flt.score_above`.
        flt: the filter.
    """
    ids = images["image_id"]
    keep = np.ones(len(images), dtype=bool)
    inst = report.instances
    if flt.missed:
        missed = inst[(inst["side"] == "ground truth") & (inst["outcome"] == FN) & inst["class_name"].isin(flt.missed)]
        keep &= ids.isin(missed["image_id"].unique()).to_numpy()
    if flt.spurious:
        spurious = inst[(inst["side"] == "prediction") & (inst["outcome"] == FP)
                        & inst["class_name"].isin(flt.spurious)]
        keep &= ids.isin(spurious["image_id"].unique()).to_numpy()
    if flt.score_above is not None:
        keep &= ids.isin(scores.loc[scores["score"] >= flt.score_above, "image_id"].unique()).to_numpy()
    return keep


def sort_by_errors(images: pd.DataFrame, errors: pd.DataFrame, by: str) -> pd.DataFrame:
    """The rows of `images` in an error order; ties by image id.

    Args:
        images: rows of `Dataset.images`.
        errors: `error_counts` of (at least) those images.
        by: "errors" (most FP + FN first, then the lower mean IoU) or "iou" (lowest mean IoU of the
            TP first, then the most errors); a frame without a TP has no mean IoU and comes last.

    Raises:
        ValueError: `by` is not one of `ERROR_SORTS`.
    """
    if by not in ERROR_SORTS:
        raise ValueError(f"by must be one of {ERROR_SORTS}, got {by!r}")
    row = errors.reindex(images["image_id"].to_numpy())
    n_errors = row["errors"].fillna(0).to_numpy()
    iou = row["mean_iou"].to_numpy(dtype=np.float64)
    no_iou = np.isnan(iou)
    iou = np.where(no_iou, np.inf, iou)
    ids = images["image_id"].to_numpy()
    keys = (ids, iou, -n_errors) if by == "errors" else (ids, -n_errors, iou, no_iou)
    return images.iloc[np.lexsort(keys)]


def error_captions(errors: pd.DataFrame, image_ids: list[int] | np.ndarray) -> list[str]:
    """A line per image for its thumbnail: "TP 3 · FP 1 · FN 2" (and the mean IoU of the TP when there is one)."""
    row = errors.reindex(np.asarray(image_ids, dtype=np.int64))
    tp, fp, fn = (row[c].fillna(0).astype(np.int64).to_numpy() for c in ("tp", "fp", "fn"))
    iou = row["mean_iou"].to_numpy(dtype=np.float64)
    return [f"TP {a} · FP {b} · FN {c}" + ("" if np.isnan(m) else f" · IoU {m:.2f}")
            for a, b, c, m in zip(tp, fp, fn, iou)]


def outcome_counts(instances: pd.DataFrame) -> dict[str, int]:
    """TP and FP predictions and FN ground-truth instances among rows of `ThresholdReport.instances`."""
    preds = instances["side"] == "prediction"
    outcome = instances["outcome"]
    return {TP: int((preds & (outcome == TP)).sum()), FP: int((preds & (outcome == FP)).sum()),
            FN: int((~preds & (outcome == FN)).sum())}


def selection_description(flt: GalleryFilter, errors: ErrorFilter | None = None) -> str:
    """The gallery's selection in a few words, for the Predictions page's subset name: "all images", or each
    criterion set, joined by "; " ("classes: any of smoke-ring; split valid; missed star-loop")."""
    parts = []
    if flt.empty == "only":
        parts.append("only images without artefacts")
    else:
        if flt.classes:
            parts.append(f"classes: {CLASS_MODE_WORDS[flt.class_mode]} {', '.join(flt.classes)}")
        if flt.without:
            parts.append(f"none of {', '.join(flt.without)}")
        if flt.empty == "exclude":
            parts.append("images without artefacts hidden")
    if flt.filters:
        parts.append(f"filter {', '.join(filter_label(f) for f in flt.filters)}")
    if flt.splits:
        parts.append(f"split {', '.join(flt.splits)}")
    if flt.fold is not None:
        parts.append(f"fold {flt.fold[0]} {flt.fold[1]}")
    if flt.n_annotations is not None:
        parts.append(f"{flt.n_annotations[0]}–{flt.n_annotations[1]} annotations")
    if flt.area is not None:
        parts.append(f"instance area {flt.area[0]:g}–{flt.area[1]:g} px²")
    if flt.search.strip():
        parts.append(f"search “{flt.search.strip()}”")
    if flt.image_ids is not None:
        parts.append(f"{len(flt.image_ids):,} chosen images")
    if errors is not None:
        if errors.missed:
            parts.append(f"missed {', '.join(errors.missed)}")
        if errors.spurious:
            parts.append(f"spurious {', '.join(errors.spurious)}")
        if errors.score_above is not None:
            parts.append(f"a prediction scoring ≥ {errors.score_above:g}")
    return "; ".join(parts) or "all images"
