"""Datasets and an independent reading of the authors' notebook, shared by the fold tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests import builders as b
from xami_core import load_dataset
from xami_core.analysis.folds import FoldSet, make_folds
from xami_core.model import Dataset


def authors_input(json_files: list[Path]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """File names, the (n, 1) image array and label strings, built as the notebook does (JSON order)."""
    names, images, labels = [], [], []
    offset = 0
    for path in json_files:
        data_in = json.loads(path.read_text())
        for k in range(len(data_in["images"])):
            img_id = data_in["images"][k]["id"]
            annotations = [a for a in data_in["annotations"] if a["image_id"] == img_id]
            categories = sorted(set(str(annot["category_id"]) for annot in annotations))
            images.append([offset + k])
            labels.append("".join(list(categories)))
            names.append(data_in["images"][k]["file_name"])
        offset += len(data_in["images"])
    return names, np.array(images), np.array(labels)


def no_splits_fixture(root: Path, n: int = 60, seed: int = 3) -> Path:
    """A no_splits layout (data/_annotations.coco.json) with varied label combinations, hard negatives,
    a rare combination, and JSON ids deliberately out of order (the recipe follows JSON order)."""
    rng = np.random.default_rng(seed)
    ids = rng.permutation(n) + 100
    letters = list("VBULMSW")
    images, anns = [], []
    ann_id = 0
    for pos, img_id in enumerate(ids):
        images.append(b.image(int(img_id), b.file_name(200000000 + pos, letters[pos % 7], "ab"[pos % 2]), 64, 64))
        if pos % 9 == 4:
            continue  # a hard negative
        cats = sorted(set(rng.choice([1, 3, 4, 5], size=int(rng.integers(1, 4))).tolist()))
        if pos == 7:
            cats = [2]  # "other" alone: a rare label
        for c in cats:
            for _ in range(int(rng.integers(1, 3))):
                anns.append(b.polygon_ann(ann_id, int(img_id), c, b.square(5 + 3 * c, 6, 8)))
                ann_id += 1
    b.write_split(root / "data", b.coco(images, anns))
    return root


def tiny_dataset(root: Path) -> tuple[Dataset, FoldSet]:
    """train: A {1: 1 ann, 3: 2 anns} (V), B {3: 1} (L), C empty (L); valid: D {1: 1} (V), E {3: 1, 5: 1} (W)."""
    sq = b.square(4, 4, 10)
    train = b.coco([b.image(0, b.file_name(1, "V"), 64, 64), b.image(1, b.file_name(2, "L"), 64, 64),
                    b.image(2, b.file_name(3, "L"), 64, 64)],
                   [b.polygon_ann(0, 0, 1, sq), b.polygon_ann(1, 0, 3, sq), b.polygon_ann(2, 0, 3, sq),
                    b.polygon_ann(3, 1, 3, sq)])
    valid = b.coco([b.image(0, b.file_name(4, "V"), 64, 64), b.image(1, b.file_name(5, "W"), 64, 64)],
                   [b.polygon_ann(0, 0, 1, sq), b.polygon_ann(1, 1, 3, sq), b.polygon_ann(2, 1, 5, sq)])
    b.write_split(root / "train", train)
    b.write_split(root / "valid", valid)
    ds = load_dataset(root)
    return ds, make_folds(ds, "published")
