"""The independent reference for evaluation tests: pycocotools run on files, as a user runs it."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def independent_eval(gt_file: Path, results: Path | list, iou_type: str, img_ids: list | None = None,
                     cat_ids: list | None = None) -> COCOeval:
    """COCO(gt file), loadRes(results file or list), evaluate, accumulate, summarize; nothing of the product."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_file))
        e = COCOeval(gt, gt.loadRes(results if isinstance(results, list) else str(results)), iou_type)
        if img_ids is not None:
            e.params.imgIds = img_ids
        if cat_ids is not None:
            e.params.catIds = cat_ids
        e.evaluate()
        e.accumulate()
        e.summarize()
    return e
