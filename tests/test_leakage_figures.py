"""Readable fold balance beside leakage: the verdict sentence (numbers and thresholds), the per-class
train - valid difference chart, and the balance-against-leakage chart, built from hand-made tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xami_core.model import class_colour_hex
from xami_core.render import leakage_figures as LF

CLASSES = ["central-ring", "other", "star-loop"]


def counts_table(shares: dict[tuple[int, str], list[float]]) -> pd.DataFrame:
    """A `fold_class_counts`-shaped table from per (fold, part) class shares (images = share x 100)."""
    rows = [{"fold": f, "part": p, "class_id": j + 1, "class_name": c, "images": round(s * 100),
             "annotations": round(s * 200), "image_share": s, "annotation_share": s, "part_images": 100}
            for (f, p), values in shares.items() for j, (c, s) in enumerate(zip(CLASSES, values))]
    return pd.DataFrame(rows)


TWO_FOLDS = counts_table({
    (0, "train"): [0.20, 0.05, 0.75], (0, "valid"): [0.21, 0.04, 0.75],  # differences -1, +1, 0 pp
    (1, "train"): [0.203, 0.05, 0.747], (1, "valid"): [0.20, 0.05, 0.75],  # +0.3, 0, -0.3 pp
})


def test_difference_chart_has_a_bar_per_class_and_fold_with_train_minus_valid_in_pp():
    fig = LF.class_difference_figure(TWO_FOLDS, palette="authors")
    assert [t.name for t in fig.data] == CLASSES
    want = {"central-ring": [-1.0, 0.3], "other": [1.0, 0.0], "star-loop": [0.0, -0.3]}
    colours = class_colour_hex("authors", CLASSES)
    for trace in fig.data:
        assert [list(level) for level in trace.x] == [[trace.name] * 2, ["0", "1"]]  # class, then fold under it
        assert list(trace.customdata) == ["fold 0", "fold 1"]  # named so in the hover
        assert np.asarray(trace.y, float) == pytest.approx(want[trace.name], abs=1e-9)
        assert trace.marker.color == colours[trace.name]  # the authors' class colours
        assert list(trace.text) == [f"{v:+.2f}" for v in want[trace.name]]
    # Diverging around 0: a symmetric range that holds the largest difference, a visible zero line.
    lo, hi = fig.layout.yaxis.range
    assert lo == pytest.approx(-hi) and hi > 1.0
    assert fig.layout.yaxis.zeroline and fig.layout.yaxis.zerolinecolor == LF.LINE
    assert "train − valid share" in fig.layout.yaxis.title.text


def test_difference_chart_of_the_published_split_and_of_small_differences():
    # One fold (the published split): the classes alone on the axis; 0.1 pp differences still fill the chart.
    one = counts_table({(0, "train"): [0.200, 0.050, 0.750], (0, "valid"): [0.201, 0.050, 0.749]})
    fig = LF.class_difference_figure(one)
    assert [list(t.x) for t in fig.data] == [[c] for c in CLASSES]
    assert [list(t.customdata) for t in fig.data] == [["published split"]] * 3
    assert fig.layout.yaxis.range[1] < 0.5  # not a ±5 pp scale on which 0.1 pp is a hairline


def test_difference_chart_refuses_an_unknown_measure():
    with pytest.raises(ValueError, match="measure"):
        LF.class_difference_figure(TWO_FOLDS, measure="pixels")


def balance_table(diffs: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"fold": range(len(diffs)), "authors_mean_diff": diffs})


def leakage_table(valid: list[int], leaking: list[int], groups: list[int]) -> pd.DataFrame:
    share = [n / v if v else np.nan for n, v in zip(leaking, valid)]
    return pd.DataFrame({"fold": range(len(valid)), "valid_images": valid, "valid_images_leaking": leaking,
                         "leaking_groups": groups, "valid_share_leaking": share})


@pytest.mark.parametrize(("diffs", "valid", "leaking", "groups", "balanced", "leaks", "parts"), [
    # the authors' folds on the sample: balanced, but some valid frames share a field with train
    ([0.0036, 0.0027, 0.0027, 0.0069], [40] * 4, [9, 11, 11, 5], [8, 11, 11, 4], True, True,
     ["**Balanced but leaking.**", "at most 0.69 pp in every fold (largest: fold 3), within the 1 pp limit",
      "mean over folds 0.40 pp", "36 of 160 valid frames (22.5%) share a field (same ObsID) with train",
      "in 4 of 4 folds (most: fold 1, 27.5%)"]),
    # K-fold: a fold above the limit; no leakage at all
    ([0.0193, 0.0337, 0.0265, 0.0101], [40] * 4, [0] * 4, [0] * 4, False, False,
     ["**Not balanced, no leakage.**", "reaches 3.37 pp in fold 1, above the 1 pp limit",
      "no valid frame shares a field (same ObsID) with train"]),
    # exactly on the limit counts as balanced
    ([0.01, 0.005], [10, 10], [0, 1], [0, 1], True, True,
     ["**Balanced but leaking.**", "within the 1 pp limit", "1 of 20 valid frames (5.0%)", "in 1 of 2 folds"]),
    # the published split: one fold, named so
    ([0.0067], [264], [26], [20], True, True,
     ["at most 0.67 pp in the fold, within", "26 of 264 valid frames (9.8%)"]),
    # a part without annotations: balance undefined, said so
    ([np.nan, 0.002], [3, 3], [0, 0], [0, 0], None, False,
     ["**Balance undefined, no leakage.**", "no class shares"]),
])
def test_verdict_states_numbers_and_thresholds(diffs, valid, leaking, groups, balanced, leaks, parts):
    v = LF.fold_verdict(balance_table(diffs), leakage_table(valid, leaking, groups), "same ObsID")
    assert (v.balanced, v.leaking) == (balanced, leaks)
    for part in parts:
        assert part in v.text, (part, v.text)


@pytest.mark.parametrize(("max_diff", "share", "words"), [
    (0.004, 0.225, "balanced · leaks"),
    (0.0337, 0.0, "not balanced · no leakage"),
    (0.01, 0.0, "balanced · no leakage"),  # on the limit
    (np.nan, np.nan, "balance n/a · leakage n/a"),
])
def test_verdict_words(max_diff, share, words):
    assert LF.verdict_words(max_diff, share) == words


def tradeoff_table() -> pd.DataFrame:
    return pd.DataFrame({
        "method": ["kfold", "stratified", "stratified-group", "multilabel-group"],
        "label": ["K-fold, k = 4, seed = 42", "stratified K-fold (authors), k = 4, seed = 42",
                  "stratified group K-fold (fields kept whole), k = 4, seed = 42",
                  "multilabel stratified group K-fold (fields kept whole), k = 4, seed = 42"],
        "authors_mean_diff": [0.0224, 0.0040, 0.0044, 0.0032], "js_divergence_bits": [0.007, 0.0002, 0.0003, 0.0002],
        "valid_share_leaking": [0.30, 0.33, 0.0, 0.0], "valid_images_leaking": [48, 53, 0, 0],
    })


def test_tradeoff_chart_places_each_method_by_leakage_and_balance():
    table = tradeoff_table()
    fig = LF.tradeoff_figure(table, current="stratified")
    (points,) = [t for t in fig.data if t.type == "scatter"]
    assert np.asarray(points.x, float) == pytest.approx([30.0, 33.0, 0.0, 0.0])  # percent of valid frames
    assert np.asarray(points.y, float) == pytest.approx([2.24, 0.40, 0.44, 0.32])  # percentage points
    assert list(points.text) == ["K-fold", "stratified (authors)", "stratified group", "multilabel group"]
    # The fold set shown is ringed; labels stay inside (left of points on the right), and the two methods
    # without leakage, close together, are labelled apart.
    assert list(points.marker.line.width) == [1, 3, 1, 1]
    assert list(points.textposition) == ["middle left", "middle left", "top right", "bottom right"]
    # The balance limit is drawn, and both axes start at 0 (the origin is best).
    assert any(s.y0 == LF.BALANCED_LIMIT_PP for s in fig.layout.shapes)
    assert fig.layout.yaxis.range[0] == 0 and fig.layout.yaxis.range[1] > 2.24
    assert fig.layout.xaxis.range[0] <= 0 < 33.0 < fig.layout.xaxis.range[1]
