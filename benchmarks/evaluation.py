"""The evaluation section: `evaluate` + `at_thresholds` against a plain pycocotools `COCOeval` run.

Input: the sample tiled with fresh ids to about 7,000 ground-truth instances (XAMI's count),
its synthetic predictions tiled with it, plus deterministic low-score spurious detections up
to about 20,000 predictions. The baseline is what a user writes: the ground truth (ids from 1)
and the results (detectron2's RLE + bbox) as JSON files, `COCO(gt)`, `coco.loadRes(results)`,
`COCOeval(...)` `evaluate()`, `accumulate()`, `summarize()`. Ours: `evaluate` on the in-memory
tables. A second row changes the score threshold three times: ours reads the stored result
(`at_thresholds`; COCOeval's `evaluate()` is made to fail meanwhile, so it provably does not
run), the baseline filters the results by score and runs COCOeval again each time.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from benchmarks.gallery import tiled
from benchmarks.run import Case
from xami_core.analysis import evaluation as EV
from xami_core.io.loader import load_dataset
from xami_core.io.predictions import Predictions, coco_results_to_predictions, image_stem, predictions_to_coco_results
from xami_core.io.sample import sample_root
from xami_core.io.sample_predictions import synthetic_predictions
from xami_core.model import Dataset

GT_TARGET = 7_000  # XAMI's ground-truth instances
PRED_TARGET = 20_000  # predictions at that size
SPURIOUS_SEED = 12
SCORES = (0.25, 0.5, 0.75)  # the threshold changes
IOU = 0.5
# Sizes this section measures (the larger ones of the other sections would take many minutes per run).
OWN_SIZES = ("sample", "XAMI size")


def sample() -> Dataset:
    """The bundled synthetic sample."""
    return load_dataset(sample_root(), source="synthetic sample", synthetic=True)


def spurious_records(ds: Dataset, n: int, seed: int) -> list[dict]:
    """`n` low-score detections of nothing (random ellipses, scores below 0.3) over `ds`'s images, as RLE + bbox."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(ds.images), n)
    out = []
    t = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    for r in rows:
        width, height = int(ds.images["width"].iat[r]), int(ds.images["height"].iat[r])
        a, b = rng.uniform(4, 30, 2)
        cx, cy = rng.uniform(a, width - a), rng.uniform(b, height - b)
        poly = np.stack([cx + a * np.cos(t), cy + b * np.sin(t)], axis=1).round(2).ravel().tolist()
        rle = mask_utils.frPyObjects([poly], height, width)[0]
        out.append({"image_id": image_stem(ds.images["file_name"].iat[r]),
                    "category_id": int(rng.choice(ds.categories["class_id"].to_numpy())),
                    "score": round(float(rng.uniform(0.01, 0.3)), 4),
                    "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                    "segmentation": {"size": [height, width], "counts": rle["counts"].decode("ascii")}})
    return out


def copies_for(label: str, ds: Dataset) -> int:
    """How many copies of the sample a size holds: 1 for the sample, about `GT_TARGET` instances at XAMI size."""
    return 1 if label == "sample" else max(1, round(GT_TARGET / len(ds.annotations)))


def tiled_inputs(times: int) -> tuple[Dataset, Predictions]:
    """The sample and its predictions `times` over (fresh ids; file ids = dataset ids + 1), spurious ones added.

    Each copy holds the sample's synthetic predictions and the same spurious detections, so
    `times` copies hold about `times / copies_for("XAMI size")` x `PRED_TARGET` predictions.
    """
    base = sample()
    per_copy = PRED_TARGET // max(1, round(GT_TARGET / len(base.annotations)))
    synthetic = synthetic_predictions(base)
    extra = coco_results_to_predictions(spurious_records(base, max(0, per_copy - len(synthetic.table)), SPURIOUS_SEED),
                                        base, name="spurious", source="benchmark")
    one = pd.concat([synthetic.table, extra.table], ignore_index=True)
    table = pd.concat([one] * times, ignore_index=True)
    table["image_id"] = table["image_id"].to_numpy() + np.repeat(np.arange(times, dtype=np.int64) * len(base.images),
                                                                 len(one))
    table["pred_id"] = np.arange(len(table), dtype=np.int64)
    ds = tiled(base, times)
    ds = replace(ds, images=ds.images.assign(coco_id=ds.images["image_id"] + 1))
    return ds, replace(synthetic, table=table)


def ground_truth_file(ds: Dataset) -> dict:
    """The dataset as the COCO file a user holds: ids from 1, the stored box and area, iscrowd 0.

    A box-only annotation (`segmentation: []`, which pycocotools cannot rasterise) is written
    as its box polygon, as `evaluate` reads it.
    """
    ann = ds.annotations
    stored = ann[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy(np.float64)
    mask_box = ann[["mask_box_x", "mask_box_y", "mask_box_w", "mask_box_h"]].to_numpy(np.float64)
    boxes = np.where(np.isfinite(stored).all(axis=1)[:, None], stored, mask_box).tolist()
    records = []
    for a, i, c, area, seg, kind, (x, y, w, h) in zip(ann["ann_id"], ann["image_id"], ann["class_id"], ann["area"],
                                                       ann["segmentation"], ann["kind"], boxes):
        polygons = seg if kind == "polygon" else [[x, y, x, y + h, x + w, y + h, x + w, y]]
        records.append({"id": int(a) + 1, "image_id": int(i) + 1, "category_id": int(c), "iscrowd": 0,
                        "area": float(area), "bbox": [x, y, w, h], "segmentation": polygons})
    images = [{"id": int(i) + 1, "file_name": f, "width": int(w), "height": int(h)}
              for i, f, w, h in zip(ds.images["image_id"], ds.images["file_name"], ds.images["width"],
                                    ds.images["height"])]
    categories = [{"id": int(c), "name": n} for c, n in zip(ds.categories["class_id"], ds.categories["name"])]
    return {"images": images, "annotations": records, "categories": categories}


def write_files(times: int, folder: Path) -> tuple[Path, Path]:
    """The ground-truth file and the results file of `tiled_inputs(times)` in `folder`."""
    ds, preds = tiled_inputs(times)
    folder.mkdir(parents=True, exist_ok=True)
    gt, results = folder / "ground_truth.json", folder / "results.json"
    gt.write_text(json.dumps(ground_truth_file(ds)))
    results.write_text(json.dumps(predictions_to_coco_results(preds, ds, image_key="coco_id")))
    return gt, results


def plain_cocoeval(gt: COCO, results: list | str, iou_type: str) -> COCOeval:
    """COCOeval as a user runs it on loaded ground truth: loadRes, evaluate, accumulate, summarize."""
    with contextlib.redirect_stdout(io.StringIO()):
        e = COCOeval(gt, gt.loadRes(results), iou_type)
        e.evaluate()
        e.accumulate()
        e.summarize()
    return e


def baseline_from_files(gt_file: Path, results_file: Path, iou_type: str) -> COCOeval:
    """The whole user run from the two files: COCO(gt), then `plain_cocoeval`."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_file))
    return plain_cocoeval(gt, str(results_file), iou_type)


@contextlib.contextmanager
def cocoeval_forbidden() -> Iterator[None]:
    """Make `COCOeval.evaluate` raise while inside, so a run that calls it fails."""
    original = COCOeval.evaluate

    def refuse(self: COCOeval) -> None:
        raise AssertionError("COCOeval.evaluate() ran on a threshold change")

    COCOeval.evaluate = refuse
    try:
        yield
    finally:
        COCOeval.evaluate = original


def prepare(arg: dict) -> dict:
    """The child's input: the tiled tables; for threshold rows also a first evaluation and the loaded files.

    `_child` does not say which way it measures, so a threshold row's input holds both ways'
    (a few MiB at XAMI size, in both ways' resident memory alike).
    """
    out = dict(arg)
    out["ds"], out["preds"] = tiled_inputs(arg["times"])
    if arg["thresholds"]:
        out["ev"] = EV.evaluate(out["ds"], out["preds"], arg["iou_type"])
        with contextlib.redirect_stdout(io.StringIO()):
            out["gt_coco"] = COCO(arg["gt"])
        out["records"] = json.loads(Path(arg["results"]).read_text())
    return out


def ours(prepared: dict) -> object:
    """`evaluate` on the in-memory tables."""
    return EV.evaluate(prepared["ds"], prepared["preds"], prepared["iou_type"])


def baseline(prepared: dict) -> object:
    """COCO(gt file), loadRes(results file), COCOeval: the ground truth is read again here, as a user's script does."""
    return baseline_from_files(Path(prepared["gt"]), Path(prepared["results"]), prepared["iou_type"])


def thresholds_ours(prepared: dict) -> object:
    """`at_thresholds` at each of `SCORES`, with COCOeval.evaluate() forbidden."""
    with cocoeval_forbidden():
        return [EV.at_thresholds(prepared["ev"], IOU, s) for s in SCORES]


def thresholds_baseline(prepared: dict) -> object:
    """Per score threshold: the results above it, loadRes and COCOeval again (ground truth already loaded)."""
    gt, records = prepared["gt_coco"], prepared["records"]
    return [plain_cocoeval(gt, [r for r in records if r["score"] >= s], prepared["iou_type"]) for s in SCORES]


def cases(name: str, sizes: dict[str, int | None], tmp: Path) -> Iterator[Case]:
    """A full evaluation and three threshold changes, segm then bbox, at the sample and XAMI size."""
    base = sample()
    for label in sizes:
        if label not in OWN_SIZES:
            continue
        times = copies_for(label, base)
        gt, results = write_files(times, tmp / f"evaluation-{label.replace(' ', '_')}")
        n_gt = times * len(base.annotations)
        n_pred = len(json.loads(results.read_text()))
        for iou_type in EV.IOU_TYPES:
            common = {"times": times, "iou_type": iou_type, "gt": str(gt), "results": str(results)}
            yield Case(f"{iou_type}: evaluate, {n_pred:,} predictions", label, times * len(base.images), n_gt,
                       __name__, "ours", "baseline", common | {"thresholds": False})
            yield Case(f"{iou_type}: {len(SCORES)} score thresholds", label, times * len(base.images), n_gt,
                       __name__, "thresholds_ours", "thresholds_baseline", common | {"thresholds": True})
