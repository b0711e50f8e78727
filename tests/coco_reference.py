"""The independent reference for evaluation tests: pycocotools run on files, as a user runs it."""

from __future__ import annotations

import contextlib
import io
import json
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


def sample_as_one_coco(folder: Path, sample_ds) -> tuple[Path, list[dict], dict[int, str]]:
    """The sample's splits as one COCO file in `folder` (image and annotation ids from 1, which COCOeval needs;
    the box-only annotation as its box polygon, which pycocotools can rasterise), the synthetic predictions
    as results records on those image ids, and the split of each image id."""
    from xami_core import sample_root
    from xami_core.io.image_files import base_name
    from xami_core.io.sample_predictions import synthetic_prediction_records

    images, anns, split_of, categories = [], [], {}, None
    for split in ("train", "valid"):
        data = json.loads((sample_root() / split / "_annotations.coco.json").read_text())
        categories = data["categories"]
        new_id = {}
        for img in data["images"]:
            new_id[img["id"]] = len(images) + 1
            images.append(img | {"id": new_id[img["id"]]})
            split_of[new_id[img["id"]]] = split
        for ann in data["annotations"]:
            seg = ann["segmentation"]
            if seg == []:
                x, y, w, h = ann["bbox"]
                seg = [[x, y, x, y + h, x + w, y + h, x + w, y]]
            anns.append(ann | {"id": len(anns) + 1, "image_id": new_id[ann["image_id"]], "segmentation": seg})
    gt = folder / "ground_truth.json"
    gt.write_text(json.dumps({"images": images, "annotations": anns, "categories": categories}))
    id_of_stem = {base_name(img["file_name"]).rsplit(".", 1)[0]: img["id"] for img in images}
    records = [r | {"image_id": id_of_stem[r["image_id"]]} for r in synthetic_prediction_records(sample_ds)]
    return gt, records, split_of
