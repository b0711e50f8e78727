"""Fold figures: class colours and hatched valid bars, centred deviation heatmaps, filter wavelengths,
per-panel balance, the method comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.fold_builders import tiny_dataset
from xami_core.analysis import fold_balance
from xami_core.analysis import folds as F
from xami_core.model import AUTHOR_COLOURS, rgb_to_hex
from xami_core.render.fold_figures import deviation_heatmap, fold_class_figure, method_comparison_figure


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Five images in two parts (see `fold_builders.tiny_dataset`) and their published fold."""
    return tiny_dataset(tmp_path_factory.mktemp("tiny"))


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

