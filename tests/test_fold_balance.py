"""Fold balance against hand computations: class counts and shares, the authors' mean difference, JS divergence,
chi-square, filter shares, the summary and the K-fold vs stratified comparison."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests import builders as b
from tests.fold_builders import tiny_dataset
from xami_core import load_dataset
from xami_core.analysis import fold_balance
from xami_core.analysis import folds as F


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Five images in two parts (see `fold_builders.tiny_dataset`) and their published fold."""
    return tiny_dataset(tmp_path_factory.mktemp("tiny"))


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

