"""Heatmap figures: diverging difference maps, colour scales with blank zeros, the small multiples layout."""

from __future__ import annotations

import numpy as np
import pytest

from tests.heatmap_builders import cells, tiny_ds
from xami_core.analysis import heatmaps as hm
from xami_core.render import heatmap_figures as hf


def test_difference_figure_is_diverging_and_centred(tmp_path):
    hs = hm.dataset_heatmaps(tiny_ds(tmp_path), method="mask", grid=4, by="split")
    trace = hf.difference_figure(hs, "star-loop", "train", "valid").data[0]
    assert trace.zmid == 0 and trace.zmin == pytest.approx(-2 / 3) and trace.zmax == pytest.approx(2 / 3)
    assert trace.colorscale[0][1] != trace.colorscale[-1][1]
    np.testing.assert_allclose(np.asarray(trace.z), cells(c00=2 / 3, c11=-2 / 3), rtol=1e-6)


@pytest.mark.parametrize(("scale", "expected_z"), [
    ("linear", cells(c00=3, c11=1)),                       # zero cells blank, values as they are
    ("log", cells(c00=np.log10(3), c11=0)),                # log10 of the counts
])
def test_colour_scale_values_and_blank_zeros(tmp_path, scale, expected_z):
    hs = hm.dataset_heatmaps(tiny_ds(tmp_path), method="mask", grid=4, by="split")
    fig = hf.heatmap_figure(hs, "train", "star-loop", how="count", scale=scale)
    z = np.asarray(fig.data[0].z, dtype=float)
    blank = cells(c00=1, c11=1) == 0
    assert np.isnan(z[blank]).all()
    np.testing.assert_allclose(z[~blank], expected_z[~blank], rtol=1e-6)
    assert fig.layout.yaxis.range == (512, 0) and fig.layout.yaxis.scaleanchor == "x"  # y down, square
    assert fig.layout.xaxis.title.text == "x (px)" and "annotations" in fig.data[0].colorbar.title.text
    if scale == "log":  # tick labels are data values, not exponents
        assert list(fig.data[0].colorbar.ticktext) == ["1", "2"]


def test_small_multiples_layout(sample_ds):
    hs = hm.dataset_heatmaps(sample_ds, method="box", grid=64, by="split")
    fig = hf.small_multiples_figure(hs, how="max", colours="authors' blues")
    titles = [a.text for a in fig.layout.annotations]
    assert titles[:5] == [f"train · {c}" for c in hm.AUTHORS_CLASS_ORDER]  # train row first, authors' column order
    assert titles[5:] == [f"valid · {c}" for c in hm.AUTHORS_CLASS_ORDER]
    assert len(fig.data) == 10 and fig.layout.coloraxis.colorscale[0][1] == "#ffffff"



@pytest.mark.parametrize(("grid", "shown"), [
    (64, 64),  # fits: the maps themselves
    (128, 128),
    (256, 128),  # means of 2 x 2 cells
    (512, 128),  # means of 4 x 4 cells
])
def test_small_multiples_panels_stay_small(sample_ds, grid, shown):
    hs = hm.dataset_heatmaps(sample_ds, method="box", grid=grid, by="split")
    fig = hf.small_multiples_figure(hs, how="share")
    full = hm.normalised(hs, "share")
    f = grid // shown
    assert len(fig.data) == len(hs.groups) * len(hf.display_classes(hs.classes))
    for trace in fig.data:
        assert np.asarray(trace.z, dtype=float).shape == (shown, shown)
        assert trace.dx == pytest.approx(512 / shown)  # cells drawn at their size in pixels
    # Independently: a block mean by explicit slicing, for one class of one group.
    c = hs.classes.index(hf.display_classes(hs.classes)[0])
    want = np.array([[full[0, c, i * f:(i + 1) * f, j * f:(j + 1) * f].mean() for j in range(shown)] for i in range(shown)])
    want[want == 0] = np.nan  # zero cells are drawn blank
    assert np.isfinite(want).any()
    np.testing.assert_allclose(np.asarray(fig.data[0].z, dtype=float), want, rtol=1e-6, equal_nan=True)  # float32


def test_panel_cells_refuses_a_grid_it_cannot_tile():
    with pytest.raises(ValueError, match="square grid divisible"):
        hf.panel_cells(np.zeros((2, 256, 512)), max_cells=128)  # not square
