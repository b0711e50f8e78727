"""A deterministic synthetic prediction set, so the predictions views work without a model.

Made from a dataset's ground truth (meant for the bundled synthetic sample): each instance
moved and reshaped a little, some given another class, some missed, and some spurious
detections added, each with a score. It is not a model's output and is labelled
"synthetic predictions" everywhere. Image ids are the image files' stems, as Ultralytics
writes them, so the records match the images of every split without ambiguity.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from xami_core.io.predictions import Predictions, coco_results_to_predictions, image_stem
from xami_core.io.sample import sample_dir
from xami_core.model import Dataset

SYNTHETIC_NAME = "synthetic predictions"
SYNTHETIC_SOURCE = "synthetic"
SYNTHETIC_VERSION = 1
SYNTHETIC_SEED = 20240626
MISS_RATE = 0.12  # ground truth with no prediction
CONFUSE_RATE = 0.08  # predictions that carry another class
SPURIOUS_PER_IMAGE = 0.5  # mean number of detections of nothing per image (Poisson)
SCALE_SD = 0.06  # relative change of an instance's size
SHIFT_SD = 0.05  # shift as a fraction of the instance's shorter side
VERTEX_SD = 0.02  # per-vertex jitter, likewise
SHIFT_FLOOR_PX = 0.3


def _reshape(points: np.ndarray, rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A polygon (n x 2 px) scaled about its centre, shifted and jittered a little, kept in the frame."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    side = float(max(min(hi - lo), 1.0))
    centre = points.mean(axis=0)
    scale = 1.0 + rng.normal(0.0, SCALE_SD, 2)
    shift = rng.normal(0.0, SHIFT_SD * side + SHIFT_FLOOR_PX, 2)
    jitter = rng.normal(0.0, VERTEX_SD * side, points.shape)
    out = (points - centre) * scale + centre + shift + jitter
    return np.clip(out, 0.0, [width, height])


def _ellipse(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A random ellipse polygon (16 x 2 px) inside the frame."""
    a, b = rng.uniform(6, 40), rng.uniform(4, 25)
    cx, cy = rng.uniform(a, width - a), rng.uniform(a, height - a)
    t = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    ang = rng.uniform(0, np.pi)
    x = cx + a * np.cos(t) * np.cos(ang) - b * np.sin(t) * np.sin(ang)
    y = cy + a * np.cos(t) * np.sin(ang) + b * np.sin(t) * np.cos(ang)
    return np.clip(np.stack([x, y], axis=1), 0.0, [width, height])


def _record(stem: str, category_id: int, score: float, parts: list[np.ndarray], width: int, height: int) -> dict | None:
    """One results record as detectron2 writes it: compressed RLE (string counts) and its box."""
    rles = mask_utils.frPyObjects([np.round(p, 2).ravel().tolist() for p in parts], height, width)
    rle = mask_utils.merge(rles)
    if mask_utils.area(rle) == 0:
        return None
    x, y, w, h = (float(v) for v in mask_utils.toBbox(rle))
    return {"image_id": stem, "category_id": int(category_id), "score": round(float(score), 5),
            "bbox": [x, y, w, h], "segmentation": {"size": [height, width], "counts": rle["counts"].decode("ascii")}}


def synthetic_prediction_records(ds: Dataset, seed: int = SYNTHETIC_SEED) -> list[dict[str, Any]]:
    """The synthetic predictions for `ds` as a COCO results list (image_id: file stem), the same for the same data.

    Per ground-truth instance, in annotation order: missed with probability `MISS_RATE`, else
    a reshaped copy of its mask (its box for a box-only annotation), given another class with
    probability `CONFUSE_RATE` (scores about 0.45 then, about 0.75 otherwise). Then per image
    a Poisson(`SPURIOUS_PER_IMAGE`) number of random ellipses of random classes (scores about 0.3).
    """
    rng = np.random.default_rng(seed)
    frames = {int(i): (image_stem(f), int(w), int(h)) for i, f, w, h in
              zip(ds.images["image_id"], ds.images["file_name"], ds.images["width"], ds.images["height"])}
    class_ids = ds.categories["class_id"].astype(int).to_numpy()
    out: list[dict[str, Any]] = []
    for ann in ds.annotations.itertuples(index=False):
        name, width, height = frames[int(ann.image_id)]
        if rng.random() < MISS_RATE:
            continue
        if ann.kind == "polygon":
            parts = [np.reshape(p, (-1, 2)) for p in ann.segmentation]
        else:
            x, y, w, h = ann.mask_box_x, ann.mask_box_y, ann.mask_box_w, ann.mask_box_h
            parts = [np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float64)]
        confused = len(class_ids) > 1 and rng.random() < CONFUSE_RATE
        category = int(rng.choice(class_ids[class_ids != ann.class_id])) if confused else int(ann.class_id)
        score = rng.beta(4, 5) if confused else rng.beta(6, 2)
        rec = _record(name, category, score, [_reshape(p, rng, width, height) for p in parts], width, height)
        if rec is not None:
            out.append(rec)
    for name, width, height in frames.values():
        for _ in range(int(rng.poisson(SPURIOUS_PER_IMAGE))):
            rec = _record(name, int(rng.choice(class_ids)), rng.beta(2, 4),
                          [_ellipse(rng, width, height)], width, height)
            if rec is not None:
                out.append(rec)
    return out


def synthetic_predictions(ds: Dataset, seed: int = SYNTHETIC_SEED) -> Predictions:
    """The synthetic prediction set for `ds`, in memory, named "synthetic predictions" and marked synthetic."""
    return coco_results_to_predictions(synthetic_prediction_records(ds, seed), ds, name=SYNTHETIC_NAME,
                                       source=SYNTHETIC_SOURCE, synthetic=True)


def synthetic_predictions_path() -> Path:
    """Where the sample's synthetic results file is written (inside the sample's cache folder)."""
    return sample_dir() / f"synthetic_predictions-v{SYNTHETIC_VERSION}.json"


def write_synthetic_predictions(ds: Dataset, path: Path | None = None, seed: int = SYNTHETIC_SEED) -> Path:
    """Write the synthetic predictions for `ds` as a COCO results JSON file, atomically; return its path.

    Raises:
        OSError: the file cannot be written.
    """
    target = path or synthetic_predictions_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(synthetic_prediction_records(ds, seed), handle)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
