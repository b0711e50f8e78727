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

