"""Making folds: the authors' recipe reproduced bit for bit, the other methods, rare label strings,
and the `folds` command (balance: test_fold_balance.py; files: test_fold_files.py; figures: test_fold_figures.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from iterstrat.ml_stratifiers import MultilabelStratifiedKFold
from sklearn.model_selection import KFold, StratifiedKFold

from tests import builders as b
from tests.fold_builders import authors_input, no_splits_fixture, tiny_dataset
from xami_core import load_dataset
from xami_core.analysis import fold_balance
from xami_core.analysis import folds as F
from xami_core.cli import main as cli_main
from xami_core.model import XamiDataError

ROOT = Path(__file__).resolve().parents[1]


# --- an independent implementation of the authors' notebook (stratified_kfold.ipynb) -----------


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
    """Five images in two parts (see `fold_builders.tiny_dataset`) and their published fold."""
    return tiny_dataset(tmp_path_factory.mktemp("tiny"))


def test_tiny_rare_labels(tiny):
    # Five images, five different label strings: all rare for k = 2, none for k = 1.
    ds, _ = tiny
    rare = F.rare_labels(ds, 2)
    assert sorted(rare["strat_label"]) == ["", "1", "13", "3", "35"]
    assert rare.set_index("strat_label").loc["", "classes"] == F.NO_ARTEFACT
    assert F.rare_labels(ds, 1).empty


# --- the authors' files ------------------------------------------------------------------------


# --- figures ----------------------------------------------------------------------------------


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
