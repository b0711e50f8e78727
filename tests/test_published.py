"""A Roboflow-style stand-in with exactly the published XAMI numbers: the loader must reproduce every one."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO

from tests import builders as b
from xami_core import load_dataset
from xami_core.analysis import stats
from xami_core.analysis.published import (
    PUBLISHED_CLASSES,
    PUBLISHED_FILTER_ANNOTATIONS,
    PUBLISHED_FILTER_IMAGES,
    PUBLISHED_SPLITS,
    published_comparison,
)

SPLITS = ("train", "valid")
EMPTY_PER_SPLIT = {"train": 38, "valid": 12}  # about 50 hard negatives, as in XAMI


def _quota(total: int, weights: dict[str, int]) -> dict[str, int]:
    """Split `total` over keys in proportion to `weights` (largest remainders), summing exactly."""
    keys = list(weights)
    w = np.array([weights[k] for k in keys], float)
    raw = total * w / w.sum()
    out = np.floor(raw).astype(int)
    out[np.argsort(raw - out)[::-1][: total - out.sum()]] += 1
    return dict(zip(keys, out.tolist()))


def published_coco() -> dict[str, dict]:
    """COCO dicts for train and valid whose counts equal every published XAMI number."""
    n_images = {s: PUBLISHED_SPLITS[s][0] for s in SPLITS}
    n_anns = {s: PUBLISHED_SPLITS[s][1] for s in SPLITS}
    # Images and annotations per filter, shared between the splits in proportion.
    train_imgs = _quota(n_images["train"], PUBLISHED_FILTER_IMAGES)
    train_anns = _quota(n_anns["train"], PUBLISHED_FILTER_ANNOTATIONS)
    per_filter = {
        "train": {f: (train_imgs[f], train_anns[f]) for f in PUBLISHED_FILTER_IMAGES},
        "valid": {f: (PUBLISHED_FILTER_IMAGES[f] - train_imgs[f], PUBLISHED_FILTER_ANNOTATIONS[f] - train_anns[f])
                  for f in PUBLISHED_FILTER_IMAGES},
    }
    out = {}
    rng = np.random.default_rng(7)
    for split_index, split in enumerate(SPLITS):
        classes = [name for name, counts in PUBLISHED_CLASSES.items() for _ in range(counts[split_index])]
        classes = list(rng.permutation(classes))
        images, anns = [], []
        empties_left = EMPTY_PER_SPLIT[split]
        for letter, (n_img, n_ann) in per_filter[split].items():
            first = len(images)
            for _ in range(n_img):
                obsid = 100000000 + 7919 * len(images) + 31 * split_index
                tag = hashlib.md5(f"{split}{len(images)}".encode()).hexdigest()
                images.append(b.image(len(images), name=f"S{obsid:010d}_{letter}_png.rf.{tag}.jpg"))
            # The first images of a filter are hard negatives (keeping one holder); the rest get annotations.
            n_empty = min(empties_left, n_img - 1)
            assert n_ann >= n_img - n_empty  # every holder gets at least one
            empties_left -= n_empty
            holders = list(range(first + n_empty, first + n_img))
            for j in range(n_ann):
                image_id = holders[j % len(holders)]
                cls = classes.pop()
                x, y = float(rng.uniform(0, 480)), float(rng.uniform(0, 480))
                ann = b.polygon_ann(len(anns) + 10 * split_index, image_id, b.XAMI_CATEGORIES[
                    [c["name"] for c in b.XAMI_CATEGORIES].index(cls)]["id"], b.square(x, y, 12.5))
                ann["bbox"] = [int(x), int(y), 12.5, 12.5]  # Roboflow: integer corner, float size
                anns.append(ann)
        assert not classes and empties_left == 0
        out[split] = b.coco(images, anns)
    return out


@pytest.fixture(scope="module")
def published_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("xami") / "xami_dataset"
    for split, data in published_coco().items():
        b.write_split(root / split, data, with_images=False)
    return root


@pytest.fixture(scope="module")
def published_ds(published_root):
    return load_dataset(published_root)


def test_every_published_number_is_reproduced(published_ds):
    table = published_comparison(published_ds)
    assert table["match"].all(), table[~table["match"]]
    assert len(table) == 4 + 2 + 10 + 14  # splits, totals, class x split, filters (images and annotations)


def test_counts_agree_with_pycocotools(published_root, published_ds):
    # An independent count per split and class with pycocotools' own index.
    counts = stats.class_counts(published_ds).set_index(["split", "class_name"])
    for split in SPLITS:
        coco = COCO(str(published_root / split / "_annotations.coco.json"))
        for cat in coco.loadCats(coco.getCatIds()):
            n = len(coco.getAnnIds(catIds=[cat["id"]]))
            if cat["name"] == "artefacts":
                assert n == 0  # the Roboflow parent is unused, and hidden
                assert "artefacts" not in published_ds.class_names
                continue
            assert counts.loc[(split, cat["name"]), "annotations"] == n
        no_ann = [i for i in coco.getImgIds() if not coco.getAnnIds(imgIds=[i])]
        assert stats.split_summary(published_ds).loc[split, "empty images"] == len(no_ann)


def test_no_splits_variant_compares_on_totals(tmp_path):
    # The no_splits archive holds every image in data/: totals, classes and filters still match.
    merged = published_coco()
    offset = len(merged["train"]["images"])
    data = merged["train"]
    data["images"] += [im | {"id": im["id"] + offset} for im in merged["valid"]["images"]]
    data["annotations"] += [a | {"id": a["id"] + 100000, "image_id": a["image_id"] + offset}
                            for a in merged["valid"]["annotations"]]
    b.write_split(tmp_path / "xami_dataset_no_splits" / "data", data, with_images=False)
    table = published_comparison(load_dataset(tmp_path / "xami_dataset_no_splits"))
    assert table["match"].all(), table[~table["match"]]
    assert "train images" not in set(table["quantity"])


def test_a_missing_annotation_is_caught(published_root, tmp_path):
    # Drop one smoke ring from valid: exactly the affected numbers stop matching.
    data = json.loads((published_root / "valid" / "_annotations.coco.json").read_text())
    victim = next(a for a in data["annotations"] if a["category_id"] == 4)
    data["annotations"].remove(victim)
    b.write_split(tmp_path / "ds" / "train", json.loads((published_root / "train" / "_annotations.coco.json").read_text()),
                  with_images=False)
    b.write_split(tmp_path / "ds" / "valid", data, with_images=False)
    table = published_comparison(load_dataset(tmp_path / "ds")).set_index("quantity")
    wrong = set(table.index[~table["match"]])
    letter = next(im["file_name"][12] for im in data["images"] if im["id"] == victim["image_id"])
    from xami_core.model import FILTERS

    assert wrong == {"valid annotations", "all annotations", "smoke-ring annotations, valid",
                     f"{FILTERS[letter][0]} annotations"}
    assert table.loc["smoke-ring annotations, valid", "found"] == 401
    # The difference is what was found minus what the authors published: one annotation short.
    assert set(table.index[table["difference"] != 0]) == wrong
    assert (table.loc[list(wrong), "difference"] == -1).all()
    assert table.loc["smoke-ring annotations, valid", "published"] == 402


@pytest.mark.parametrize(
    ("found", "published", "expect"),
    [
        (790, 791, "train images: 790 found, 791 published (−1)"),  # one short
        (1300, 1267, "train images: 1,300 found, 1,267 published (+33)"),  # more than published, thousands grouped
    ],
)
def test_difference_in_words(found, published, expect):
    from xami_core.analysis.published import difference_text

    row = {"quantity": "train images", "found": found, "published": published, "difference": found - published}
    assert difference_text(row) == expect


def test_differences_named_largest_first():
    import pandas as pd

    from xami_core.analysis.published import differences_text

    table = pd.DataFrame({"quantity": ["a", "b", "c", "d"], "published": [10, 10, 10, 10], "found": [9, 10, 13, 7]})
    table["difference"] = table["found"] - table["published"]
    table["match"] = table["difference"] == 0
    assert differences_text(table) == ("c: 13 found, 10 published (+3); d: 7 found, 10 published (−3); "
                                       "a: 9 found, 10 published (−1)")
    assert differences_text(table, most=1) == "c: 13 found, 10 published (+3); and 2 more"
