"""Folds: the authors' recipe reproduced bit for bit, balance metrics against hand computations,
the authors' file formats written and read back, and the `folds` command."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from iterstrat.ml_stratifiers import MultilabelStratifiedKFold
from sklearn.model_selection import KFold, StratifiedKFold

from tests import builders as b
from xami_core import load_dataset
from xami_core.analysis import fold_balance
from xami_core.analysis import folds as F
from xami_core.cli import main as cli_main
from xami_core.io import fold_files
from xami_core.io.coco import read_coco
from xami_core.model import AUTHOR_COLOURS, XamiDataError, rgb_to_hex
from xami_core.render.fold_figures import deviation_heatmap, fold_class_figure, method_comparison_figure

ROOT = Path(__file__).resolve().parents[1]


# --- an independent implementation of the authors' notebook (stratified_kfold.ipynb) -----------


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


def authors_folds(json_files: list[Path], method: str, k: int, seed: int) -> dict[int, dict[str, set[str]]]:
    """fold -> part -> file names, from sklearn/iterstrat called directly."""
    names, images, labels = authors_input(json_files)
    if method == "stratified":
        splits = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(images, labels)
    elif method == "kfold":
        splits = KFold(n_splits=k, shuffle=True, random_state=seed).split(images, labels)
    else:  # multilabel: the indicator of category ids 1..5, built from the label strings
        y = np.array([[str(c) in lab for c in range(1, 6)] for lab in labels], dtype=int)
        splits = MultilabelStratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(images, y)
    return {i: {"train": {names[j] for j in tr}, "valid": {names[j] for j in va}} for i, (tr, va) in enumerate(splits)}


def ours_by_name(ds, folds: F.FoldSet) -> dict[int, dict[str, set[str]]]:
    """The same shape from a FoldSet."""
    names = ds.images.set_index("image_id")["file_name"]
    return {f: {p: set(names.loc[folds.part_ids(f, p)]) for p in F.PARTS} for f in folds.folds}


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


@pytest.fixture(scope="module")
def no_splits(tmp_path_factory):
    root = no_splits_fixture(tmp_path_factory.mktemp("no_splits"))
    return root, load_dataset(root)


def sample_jsons() -> list[Path]:
    from xami_core import sample_root

    return [sample_root() / "train" / "_annotations.coco.json", sample_root() / "valid" / "_annotations.coco.json"]


CASES = [
    ("stratified", 4, 42),  # the authors' folds
    ("stratified", 2, 0),  # fewest folds
    ("stratified", 10, 7),  # most folds: many rare labels
    ("kfold", 4, 42),  # the authors' baseline
    ("kfold", 3, 123),  # another k and seed
    ("multilabel", 4, 42),  # iterative stratification
    ("multilabel", 5, 1),  # another k and seed
]


@pytest.mark.parametrize(("method", "k", "seed"), CASES)
def test_sample_folds_match_direct_sklearn(sample_ds, method, k, seed):
    # Splits pooled train then valid, JSON order: identical assignment to running the recipe.
    assert ours_by_name(sample_ds, F.make_folds(sample_ds, method, k, seed)) == authors_folds(sample_jsons(), method, k, seed)


@pytest.mark.parametrize(("method", "k", "seed"), [c if c[1] != 10 else ("stratified", 6, 7) for c in CASES])
def test_fixture_folds_match_direct_sklearn(no_splits, method, k, seed):
    # A single file whose ids are not in JSON order.
    root, ds = no_splits
    ours = ours_by_name(ds, F.make_folds(ds, method, k, seed))
    assert ours == authors_folds([root / "data" / "_annotations.coco.json"], method, k, seed)


def wide_ids_fixture(root: Path, n: int = 48) -> Path:
    """A COCO file whose category ids reach two digits: {1, 23} and {3, 12} are both "123" in the
    authors' string-sorted labels, but "123" and "312" if ids were sorted as numbers."""
    cats = [{"id": i, "name": f"class-{i}", "supercategory": "artefacts"} for i in (1, 3, 12, 23)]
    sets = [[1, 23], [3, 12], [1], [3], [12], [23], [1, 3], []]
    images, anns = [], []
    for pos in range(n):
        images.append(b.image(pos, b.file_name(300000000 + pos, "U"), 64, 64))
        for c in sets[pos % len(sets)] if pos % 5 else sets[(pos // 5) % 2]:
            anns.append(b.polygon_ann(len(anns), pos, c, b.square(4, 4, 8)))
    b.write_split(root / "data", b.coco(images, anns, cats))
    return root


@pytest.mark.parametrize(("ids", "label"), [
    ([], ""),  # no annotation
    ([5, 3, 4, 3], "345"),  # the notebook's example, one id repeated
    ([1, 23], "123"),  # ids sort as text: "1" < "23"
    ([3, 12], "123"),  # "12" < "3" as text
    ([3, 10], "103"),  # "10" < "3" as text
])
def test_authors_labels_sort_ids_as_text(ids, label):
    from xami_core.io.tables import authors_labels

    # image 1 holds the annotations, images 0 and 2 hold none
    got = authors_labels(np.ones(len(ids), dtype=np.int64), np.asarray(ids, dtype=np.int64), 3)
    assert list(got) == ["", label, ""]
    assert label == "".join(sorted(set(str(i) for i in ids)))  # the notebook's expression


@pytest.mark.parametrize(("k", "seed"), [(4, 42), (3, 0)])
def test_two_digit_category_ids_follow_the_recipe(tmp_path, k, seed):
    # Their label strings group {1, 23} with {3, 12}; ours must too, or the folds differ.
    root = wide_ids_fixture(tmp_path)
    ds = load_dataset(root)
    _, labels = F.fold_input(ds)
    sets = ds.images.sort_values("image_id")["classes"].to_numpy()
    pair_a = np.array([s == {"class-1", "class-23"} for s in sets])
    pair_b = np.array([s == {"class-3", "class-12"} for s in sets])
    assert pair_a.any() and pair_b.any()
    assert set(labels[pair_a | pair_b]) == {"123"} and "123" not in set(labels[~(pair_a | pair_b)])
    ours = ours_by_name(ds, F.make_folds(ds, "stratified", k, seed))
    assert ours == authors_folds([root / "data" / "_annotations.coco.json"], "stratified", k, seed)


def test_folds_are_partitions(sample_ds):
    fs = F.make_folds(sample_ds, "stratified", 4, 42)
    a = fs.assignments
    assert list(a.columns) == ["fold", "image_id", "part"]
    assert a.groupby("fold").size().eq(len(sample_ds.images)).all()  # every image in every fold
    valid = a[a["part"] == "valid"]
    assert valid["image_id"].is_unique and len(valid) == len(sample_ds.images)  # each image valid exactly once
    assert fs.k == 4 and fs.seed == 42 and fs.method == "stratified"


def test_rare_class_warning_is_captured(sample_ds):
    # The sample has label strings with 2 images: sklearn warns for k = 4, and the table lists them.
    fs = F.make_folds(sample_ds, "stratified", 4, 42)
    assert any("least populated class" in w for w in fs.warnings)
    rare = F.rare_labels(sample_ds, 4)
    counts = sample_ds.images["strat_label"].value_counts()
    assert set(rare["strat_label"]) == set(counts[counts < 4].index)
    assert (rare["images"].to_numpy() == counts.loc[rare["strat_label"]].to_numpy()).all()
    assert not F.make_folds(sample_ds, "kfold", 4, 42).warnings  # KFold ignores labels


def test_published_fold(sample_ds):
    fs = F.make_folds(sample_ds, "published")
    a = fs.assignments.merge(sample_ds.images[["image_id", "split"]], on="image_id")
    assert fs.folds == [0] and (a["part"] == a["split"]).all() and len(a) == len(sample_ds.images)


@pytest.mark.parametrize(("method", "k", "error"), [
    ("stratified", 1, ValueError),  # k below 2
    ("kfold", 11, ValueError),  # k above 10
    ("random", 4, ValueError),  # unknown method
])
def test_bad_arguments(sample_ds, method, k, error):
    with pytest.raises(error):
        F.make_folds(sample_ds, method, k, 0)


def test_impossible_stratification_is_a_data_error(no_splits):
    # 60 images: every label string has fewer than 10 members, so sklearn refuses k = 10.
    with pytest.raises(XamiDataError, match="k = 10 is impossible"):
        F.make_folds(no_splits[1], "stratified", 10, 0)


def test_published_needs_splits(no_splits):
    # A no_splits set has no published split.
    with pytest.raises(XamiDataError, match="train.*valid"):
        F.make_folds(no_splits[1], "published")


# --- balance metrics against hand computations -------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """train: A {1: 1 ann, 3: 2 anns} (V), B {3: 1} (L), C empty (L); valid: D {1: 1} (V), E {3: 1, 5: 1} (W)."""
    root = tmp_path_factory.mktemp("tiny")
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
    return ds, F.make_folds(ds, "published")


def js_by_hand(p: list[float], q: list[float]) -> float:
    m = [(x + y) / 2 for x, y in zip(p, q)]
    kl = lambda a: sum(x * math.log2(x / y) for x, y in zip(a, m) if x > 0)  # noqa: E731
    return 0.5 * kl(p) + 0.5 * kl(q)


def test_tiny_class_counts(tiny):
    ds, fs = tiny
    c = fold_balance.fold_class_counts(ds, fs).set_index(["part", "class_name"])
    # (image, class) pairs and annotations per part and class
    assert c.loc[("train", "central-ring"), "images"] == 1 and c.loc[("train", "read-out-streak"), "images"] == 2
    assert c.loc[("train", "read-out-streak"), "annotations"] == 3 and c.loc[("valid", "star-loop"), "annotations"] == 1
    assert c.loc[("train", "read-out-streak"), "image_share"] == pytest.approx(2 / 3)
    assert c.loc[("train", "read-out-streak"), "annotation_share"] == pytest.approx(3 / 4)
    assert c.loc[("valid", "star-loop"), "image_share"] == pytest.approx(1 / 3)
    assert c.loc[("train", "other"), "images"] == 0 and c.loc[("train", "other"), "image_share"] == 0
    assert c.loc[("train", "central-ring"), "part_images"] == 3 and c.loc[("valid", "central-ring"), "part_images"] == 2


@pytest.mark.parametrize(("measure", "authors", "classes", "largest", "p", "q"), [
    # images: train shares (1/3, 0, 2/3, 0, 0), valid (1/3, 0, 1/3, 0, 1/3); |d| sums to 2/3
    ("images", 2 / 3 / 6, 2 / 3 / 5, 1 / 3, [1, 0, 2, 0, 0], [1, 0, 1, 0, 1]),
    # annotations: train (1/4, 0, 3/4, 0, 0), valid (1/3, 0, 1/3, 0, 1/3); |d| = 1/12 + 5/12 + 4/12
    ("annotations", 10 / 12 / 6, 10 / 12 / 5, 5 / 12, [1, 0, 3, 0, 0], [1, 0, 1, 0, 1]),
])
def test_tiny_balance(tiny, measure, authors, classes, largest, p, q):
    ds, fs = tiny
    bal = fold_balance.fold_balance(ds, fs, measure).iloc[0]
    assert bal["authors_mean_diff"] == pytest.approx(authors)
    assert bal["mean_abs_diff"] == pytest.approx(classes)
    assert bal["max_abs_diff"] == pytest.approx(largest)
    assert bal["max_diff_class"] == "read-out-streak"
    ps, qs = np.array(p) / sum(p), np.array(q) / sum(q)
    assert bal["js_divergence"] == pytest.approx(js_by_hand(list(ps), list(qs)))
    assert (bal["train_images"], bal["valid_images"], bal["train_empty"], bal["valid_empty"]) == (3, 2, 1, 0)


def test_tiny_chi_square(tiny):
    # Counts over used classes: train (1, 2, 0), valid (1, 1, 1); expected (1, 1.5, 0.5) per row.
    ds, fs = tiny
    bal = fold_balance.fold_balance(ds, fs, "images").iloc[0]
    chi2 = 2 * (0.5**2 / 1.5 + 0.5**2 / 0.5)
    assert bal["chi2"] == pytest.approx(chi2) and bal["dof"] == 2
    assert bal["p_value"] == pytest.approx(math.exp(-chi2 / 2))  # chi-square survival function with 2 dof


def test_tiny_deviation_and_filters(tiny):
    ds, fs = tiny
    dev = fold_balance.fold_deviation(fold_balance.fold_class_counts(ds, fs), "images")
    assert list(dev.columns) == ds.class_names
    assert dev.loc[0].to_numpy() == pytest.approx([0, 0, -1 / 3, 0, 1 / 3])
    fc = fold_balance.fold_filter_counts(ds, fs)
    assert list(dict.fromkeys(fc["filter_letter"])) == ["V", "L", "W"]  # by wavelength, White last
    shares = fc.set_index(["part", "filter_letter"])["share"]
    assert shares[("train", "V")] == pytest.approx(1 / 3) and shares[("train", "L")] == pytest.approx(2 / 3)
    assert shares[("valid", "V")] == pytest.approx(1 / 2) and shares[("valid", "W")] == pytest.approx(1 / 2)
    fdev = fold_balance.fold_filter_deviation(fc)
    assert fdev.loc[0, "UVW1"] == pytest.approx(-2 / 3) and fdev.loc[0, "White"] == pytest.approx(1 / 2)
    empty = fold_balance.empty_per_fold(ds, fs).set_index("part")
    assert empty.loc["train", "empty_images"] == 1 and empty.loc["valid", "empty_images"] == 0


def test_tiny_rare_labels(tiny):
    # Five images, five different label strings: all rare for k = 2, none for k = 1.
    ds, _ = tiny
    rare = F.rare_labels(ds, 2)
    assert sorted(rare["strat_label"]) == ["", "1", "13", "3", "35"]
    assert rare.set_index("strat_label").loc["", "classes"] == F.NO_ARTEFACT
    assert F.rare_labels(ds, 1).empty


def test_balance_summary(tiny, sample_ds):
    ds, fs = tiny
    bal = fold_balance.fold_balance(ds, fs, "images")
    summary = fold_balance.balance_summary(bal)
    assert (summary.valid_min, summary.valid_max) == (2, 2)
    assert summary.mean_authors_diff == pytest.approx(2 / 3 / 6)
    assert (summary.worst_diff, summary.worst_class, summary.worst_fold) == (pytest.approx(1 / 3), "read-out-streak", 0)
    assert summary.min_p == pytest.approx(bal["p_value"].iloc[0])
    # Over several folds: the extremes of the per-fold rows.
    bal = fold_balance.fold_balance(sample_ds, F.make_folds(sample_ds, "kfold", 3, 1))
    summary = fold_balance.balance_summary(bal)
    worst = bal.loc[bal["max_abs_diff"].idxmax()]
    assert (summary.valid_min, summary.valid_max) == (53, 54)
    assert summary.worst_diff == worst["max_abs_diff"] and summary.worst_fold == worst["fold"]
    assert summary.mean_authors_diff == pytest.approx(bal["authors_mean_diff"].mean())


def test_balance_summary_without_annotations(tmp_path):
    # Only hard negatives: shares are undefined, the summary says so instead of failing.
    b.write_split(tmp_path / "train", b.coco([b.image(0), b.image(1)], []))
    b.write_split(tmp_path / "valid", b.coco([b.image(0)], []))
    ds = load_dataset(tmp_path)
    summary = fold_balance.balance_summary(fold_balance.fold_balance(ds, F.make_folds(ds, "published")))
    assert math.isnan(summary.mean_authors_diff) and math.isnan(summary.worst_diff) and math.isnan(summary.min_p)
    assert summary.worst_class == "" and fold_balance.pp_text(summary.worst_diff) == "n/a"


@pytest.mark.parametrize(("fraction", "text"), [
    (0.007143, "0.71 pp"),  # a share difference of 0.71 percentage points
    (0.0, "0.00 pp"),  # perfect balance
    (float("nan"), "n/a"),  # undefined
])
def test_pp_text(fraction, text):
    assert fold_balance.pp_text(fraction) == text


def test_js_divergence_edges():
    assert fold_balance.js_divergence(np.array([1, 2, 3]), np.array([2, 4, 6])) == pytest.approx(0)  # same distribution
    assert fold_balance.js_divergence(np.array([1, 0]), np.array([0, 1])) == pytest.approx(1)  # disjoint: 1 bit
    assert math.isnan(fold_balance.js_divergence(np.zeros(3), np.ones(3)))  # an empty part


def test_method_comparison_matches_balance(sample_ds):
    comp = fold_balance.method_comparison(sample_ds, 4, 42)
    for method in ("kfold", "stratified"):
        bal = fold_balance.fold_balance(sample_ds, F.make_folds(sample_ds, method, 4, 42))
        got = comp[comp["method"] == method]["authors_mean_diff"].to_numpy()
        assert got == pytest.approx(bal["authors_mean_diff"].to_numpy())


def test_authors_measure_matches_their_percentages(sample_ds):
    # Their `percentages()`: per fold and part, counts over the characters of the label strings / total.
    _, labels = F.fold_input(sample_ds)
    fs = F.make_folds(sample_ds, "stratified", 4, 42)
    pos = {int(i): n for n, i in enumerate(F.fold_input(sample_ds)[0])}
    ours = fold_balance.fold_balance(sample_ds, fs)
    for fold in fs.folds:
        pct = {}
        for part in F.PARTS:
            counts = dict.fromkeys("012345", 0)
            total = 0
            for image_id in fs.part_ids(fold, part):
                for cat in labels[pos[int(image_id)]]:
                    counts[cat] += 1
                    total += 1
            pct[part] = {c: v / total for c, v in counts.items()}
        diffs = [abs(pct["train"][c] - pct["valid"][c]) for c in sorted(pct["train"])]
        assert ours.loc[fold, "authors_mean_diff"] == pytest.approx(np.mean(diffs), abs=1e-15)


# --- the authors' files ------------------------------------------------------------------------


def authors_write_csv(skf_image_ids: dict, names: list[str], prefix: str, ids: list[int]) -> dict[int, bytes]:
    """Their `write_csv`, with csv.DictWriter into memory."""
    out = {}
    for mskf in skf_image_ids:
        buf = io.StringIO(newline="")
        writer = csv.DictWriter(buf, fieldnames=["IMADE_ID", "IMAGE_PATH", "SPLIT"])
        writer.writeheader()
        for split in skf_image_ids[mskf]:
            for image in skf_image_ids[mskf][split]:
                writer.writerow({"IMADE_ID": ids[image[0]], "IMAGE_PATH": os.path.join(prefix, names[image[0]]),
                                 "SPLIT": split})
        out[mskf] = buf.getvalue().encode()
    return out


def test_csv_bytes_match_the_authors_writer(no_splits):
    # Byte for byte what their notebook writes (IMADE_ID = the JSON id; CRLF; train rows then valid).
    root, ds = no_splits
    json_file = root / "data" / "_annotations.coco.json"
    names, images, labels = authors_input([json_file])
    ids = [im["id"] for im in json.loads(json_file.read_text())["images"]]
    skf = StratifiedKFold(n_splits=4, shuffle=True, random_state=42)
    skf_image_ids = {i: {"train": images[tr], "valid": images[va]} for i, (tr, va) in enumerate(skf.split(images, labels))}
    prefix = "../../xami_dataset_no_splits/train"
    expected = authors_write_csv(skf_image_ids, names, prefix, ids)
    fs = F.make_folds(ds, "stratified", 4, 42)
    for fold in fs.folds:
        assert fold_files.fold_csv_text(ds, fs, fold, prefix).encode() == expected[fold]


def test_csv_default_paths_are_the_loaded_files(sample_ds):
    fs = F.make_folds(sample_ds, "kfold", 3, 5)
    frame = fold_files.fold_csv_frame(sample_ds, fs, 1)
    assert list(frame.columns) == ["IMADE_ID", "IMAGE_PATH", "SPLIT"]
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in frame["IMAGE_PATH"])
    # A split layout reuses COCO ids per file: the global image_id is written instead.
    assert frame["IMADE_ID"].is_unique and set(frame["IMADE_ID"]) == set(sample_ds.images["image_id"])


@pytest.mark.parametrize(("method", "k", "seed"), [("stratified", 4, 42), ("multilabel", 3, 9), ("published", 1, 0)])
def test_csv_round_trip(sample_ds, tmp_path, method, k, seed):
    # Write mskf_i.csv, read the folder back: the same folds.
    fs = F.make_folds(sample_ds, method, k, seed)
    written = fold_files.write_fold_csvs(sample_ds, fs, tmp_path)
    assert [p.name for p in written] == [f"mskf_{i}.csv" for i in fs.folds]
    back = fold_files.read_fold_files(tmp_path, sample_ds)
    assert back.method == "files" and not back.problems
    pd.testing.assert_frame_equal(back.assignments, fs.assignments.sort_values(["fold", "image_id"], ignore_index=True))


def test_csv_zip_holds_every_fold(sample_ds):
    fs = F.make_folds(sample_ds, "stratified", 4, 42)
    with zipfile.ZipFile(io.BytesIO(fold_files.fold_csvs_zip(sample_ds, fs, "imgs"))) as zf:
        assert zf.namelist() == [f"mskf_{i}.csv" for i in range(4)]
        assert zf.read("mskf_2.csv").decode() == fold_files.fold_csv_text(sample_ds, fs, 2, "imgs")


def test_coco_zip_reads_back(no_splits, tmp_path):
    # mskf_i/{train,valid}/_annotations.coco.json: valid COCO, categories as the input, folders read back as folds.
    root, ds = no_splits
    fs = F.make_folds(ds, "stratified", 3, 42)
    with zipfile.ZipFile(io.BytesIO(fold_files.fold_coco_zip(ds, fs))) as zf:
        zf.extractall(tmp_path)
    original = json.loads((root / "data" / "_annotations.coco.json").read_text())
    for fold in fs.folds:
        for part in F.PARTS:
            path = tmp_path / f"mskf_{fold}" / part / "_annotations.coco.json"
            data = json.loads(path.read_text())
            assert data["categories"] == original["categories"]  # parent id 0 included
            recs = read_coco(path, part)
            assert not [p for p in recs.problems if p.severity == "error"]
            ids = {im["id"] for im in data["images"]}
            want = [a for a in original["annotations"] if a["image_id"] in ids]
            assert len(data["annotations"]) == len(want)
            # Values compare as numbers: the reader keeps coordinates as floats (14 == 14.0).
            got = sorted((a["id"], a["image_id"], a["category_id"], a["segmentation"]) for a in data["annotations"])
            assert got == sorted((a["id"], a["image_id"], a["category_id"], a["segmentation"]) for a in want)
    back = fold_files.read_fold_files(tmp_path, ds)
    pd.testing.assert_frame_equal(back.assignments, fs.assignments.sort_values(["fold", "image_id"], ignore_index=True))


def test_authors_reader_selects_the_right_images(no_splits, tmp_path):
    # Their create_directories_and_copy_files keeps images whose JSON id is in IMADE_ID of the part.
    root, ds = no_splits
    fs = F.make_folds(ds, "stratified", 4, 42)
    fold_files.write_fold_csvs(ds, fs, tmp_path)
    coco_data = json.loads((root / "data" / "_annotations.coco.json").read_text())
    image_data = pd.read_csv(tmp_path / "mskf_1.csv")
    split_ids = image_data[image_data["SPLIT"] == "valid"]["IMADE_ID"].tolist()
    chosen = {img["file_name"] for img in coco_data["images"] if img["id"] in split_ids}
    names = ds.images.set_index("image_id")["file_name"]
    assert chosen == set(names.loc[fs.part_ids(1, "valid")])
    for source in image_data["IMAGE_PATH"]:
        assert Path(source).is_file()  # their copy step reads from here


def test_read_fold_files_reports_problems(sample_ds, tmp_path):
    fs = F.make_folds(sample_ds, "kfold", 2, 0)
    fold_files.write_fold_csvs(sample_ds, fs, tmp_path)
    path = tmp_path / "mskf_0.csv"
    lines = path.read_text().splitlines()
    lines[1] = "999,somewhere/S0000000000_V_png.rf.unknown.jpg,train"  # no such image
    lines[2] = lines[2].rsplit(",", 1)[0] + ",test"  # an unknown part
    path.write_text("\n".join(lines) + "\n")
    back = fold_files.read_fold_files(tmp_path, sample_ds)
    messages = " | ".join(str(p) for p in back.problems)
    assert "matches no image" in messages and "expected SPLIT train or valid" in messages
    assert "2 of 160 dataset images are not in this fold" in messages
    assert len(back.assignments[back.assignments["fold"] == 0]) == 158


@pytest.mark.parametrize(("content", "match"), [
    (None, "no fold files found"),  # an empty folder
    ("a,b\n1,2\n", "no fold file entry matches"),  # a csv without the authors' columns
])
def test_read_fold_files_errors(sample_ds, tmp_path, content, match):
    if content is not None:
        (tmp_path / "mskf_0.csv").write_text(content)
    with pytest.raises(XamiDataError, match=match):
        fold_files.read_fold_files(tmp_path, sample_ds)


def test_fold_folders_from_image_files(sample_ds, tmp_path):
    # mskf_0/{train,valid}/ with only images (no JSON): matched by file name.
    fs = F.make_folds(sample_ds, "stratified", 2, 42)
    names = sample_ds.images.set_index("image_id")["file_name"]
    for part in F.PARTS:
        folder = tmp_path / "mskf_0" / part
        folder.mkdir(parents=True)
        for name in names.loc[fs.part_ids(0, part)]:
            (folder / name).write_bytes(b"")
    back = fold_files.read_fold_files(tmp_path, sample_ds)
    expected = fs.assignments[fs.assignments["fold"] == 0].sort_values("image_id", ignore_index=True)
    pd.testing.assert_frame_equal(back.assignments, expected)


# --- figures ----------------------------------------------------------------------------------


def test_fold_class_figure_uses_class_colours(sample_ds):
    fs = F.make_folds(sample_ds, "stratified", 4, 42)
    counts = fold_balance.fold_class_counts(sample_ds, fs)
    fig = fold_class_figure(counts, measure="annotations", value="count")
    bars = [t for t in fig.data if t.showlegend is False]
    assert len(bars) == 4 * 2  # one train and one valid trace per fold
    assert list(bars[0].marker.color) == [rgb_to_hex(AUTHOR_COLOURS[c]) for c in sample_ds.class_names]
    first = counts[(counts["fold"] == 0) & (counts["part"] == "train")]["annotations"].to_numpy()
    assert list(bars[0].y) == list(first)
    assert bars[1].marker.pattern.shape == "/"  # valid is hatched


def test_heatmap_is_centred(sample_ds):
    fs = F.make_folds(sample_ds, "kfold", 4, 42)
    dev = fold_balance.fold_deviation(fold_balance.fold_class_counts(sample_ds, fs))
    fig = deviation_heatmap(dev)
    hm = fig.data[0]
    assert hm.zmid == 0 and hm.zmin == -hm.zmax
    assert np.allclose(np.array(hm.z, float), dev.to_numpy() * 100)


@pytest.mark.parametrize(("largest", "floor", "limit"), [
    (0.017, 5.0, 5.0),  # a balanced fold (1.7 pp at most) stays pale: the scale keeps +-5 pp
    (0.15, 5.0, 15.0),  # a 15 pp deviation sets the scale
    (0.017, 0.0, 1.7),  # without a floor the largest deviation is full colour
])
def test_heatmap_colour_floor(largest, floor, limit):
    dev = pd.DataFrame({"a": [largest, -largest / 2], "b": [0.0, largest / 3]}, index=[0, 1])
    hm = deviation_heatmap(dev, floor_pp=floor).data[0]
    assert hm.zmax == pytest.approx(limit) and hm.zmin == pytest.approx(-limit)


def test_filter_heatmap_names_wavelengths(tiny):
    ds, fs = tiny
    fig = deviation_heatmap(fold_balance.fold_filter_deviation(fold_balance.fold_filter_counts(ds, fs)), what="filter")
    assert list(fig.data[0].x) == ["V<br>543 nm", "UVW1<br>291 nm", "White<br>broad band"]  # by wavelength
    assert "wavelength" in fig.layout.xaxis.title.text


def test_fold_panels_carry_their_balance(sample_ds):
    fs = F.make_folds(sample_ds, "stratified", 4, 42)
    counts = fold_balance.fold_class_counts(sample_ds, fs)
    bal = fold_balance.fold_balance(sample_ds, fs, counts=counts)
    fig = fold_class_figure(counts, fold_diffs=dict(zip(bal["fold"], bal["authors_mean_diff"])))
    titles = [a.text for a in fig.layout.annotations]
    assert titles == [f"fold {f} · mean |Δ| {d * 100:.2f} pp" for f, d in zip(bal["fold"], bal["authors_mean_diff"])]
    assert [a.text for a in fold_class_figure(counts).layout.annotations] == [f"fold {f}" for f in range(4)]
    # The legend sits above the panel titles (paper y 1.0), not on top of them.
    assert fig.layout.legend.y > 1.05 and fig.layout.legend.yanchor == "bottom"
    assert [t.name for t in fig.data if t.showlegend is not False] == ["train (solid)", "valid (hatched)"]


def test_comparison_figure(sample_ds):
    comp = fold_balance.method_comparison(sample_ds, 3, 1)
    fig = method_comparison_figure(comp)
    assert [t.name for t in fig.data] == ["K-fold", "stratified K-fold (authors)"]
    assert np.allclose(fig.data[1].y, comp[comp["method"] == "stratified"]["authors_mean_diff"] * 100)


# --- command line ------------------------------------------------------------------------------


def test_cli_writes_csvs(tmp_path, capsys):
    from xami_core import sample_root

    out = tmp_path / "out"
    code = cli_main(["folds", "--data", str(sample_root()), "--method", "stratified", "--k", "4", "--seed", "42",
                     "--out", str(out), "--coco"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["mskf_0.csv", "mskf_1.csv", "mskf_2.csv", "mskf_3.csv", "mskf_coco.zip"]
    printed = capsys.readouterr()
    ds = load_dataset(sample_root())
    mean = fold_balance.fold_balance(ds, F.make_folds(ds, "stratified", 4, 42))["authors_mean_diff"].mean() * 100
    assert f"{mean:.3f} percentage points" in printed.out
    assert "least populated class" in printed.err


@pytest.mark.parametrize(("args", "code"), [
    (["--k", "11"], 2),  # k out of range
    (["--method", "published", "--data", "NO_SPLITS"], 2),  # a no_splits set has no published split
])
def test_cli_errors(tmp_path, no_splits, args, code):
    from xami_core import sample_root

    data = str(no_splits[0]) if "NO_SPLITS" in args else str(sample_root())
    args = [data if a == "NO_SPLITS" else a for a in args]
    base = ["folds", "--out", str(tmp_path)] + ([] if "--data" in args else ["--data", data])
    assert cli_main(base + args) == code


def test_cli_as_module(tmp_path):
    # The documented invocation, in a fresh interpreter.
    from xami_core import sample_root

    proc = subprocess.run([sys.executable, "-m", "xami_core", "folds", "--data", str(sample_root()), "--method", "kfold",
                           "--k", "3", "--seed", "1", "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mskf_0.csv", "mskf_1.csv", "mskf_2.csv"]
    assert "K-fold, k = 3, seed = 1" in proc.stdout
