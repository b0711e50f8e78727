"""Figures of an evaluation: each drawn from the core's tables, value for value, in the class colours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from xami_core.analysis import evaluation as EV
from xami_core.io.sample_predictions import synthetic_predictions
from xami_core.model import class_colour_hex
from xami_core.render import evaluation_figures as EF


@pytest.fixture(scope="module")
def evaluation(sample_ds):
    return EV.evaluate(sample_ds, synthetic_predictions(sample_ds), "bbox")


@pytest.mark.parametrize("palette", ["authors", "colour-blind safe"])
def test_pr_curves_one_line_per_class_in_its_colour(evaluation, palette):
    curves = EV.pr_curves(evaluation, iou=0.75)
    ap = {"star-loop": 0.5123, "other": np.nan}
    fig = EF.pr_curve_figure(curves, iou=0.75, palette=palette, ap=ap)
    colours = class_colour_hex(palette, evaluation.class_names)
    assert [t.line.color for t in fig.data] == [colours[n] for n in evaluation.class_names]
    for trace, name in zip(fig.data, evaluation.class_names):
        part = curves[curves["class_name"] == name]
        np.testing.assert_array_equal(trace.x, part["recall"])
        np.testing.assert_array_equal(trace.y, part["precision"])
        np.testing.assert_array_equal(trace.customdata, part["score"])  # the score at each point, for hover
    names = [t.name for t in fig.data]
    assert "star-loop (51.2)" in names and "other" in names  # AP in percent; none printed where there is none
    assert fig.layout.legend.title.text == "AP75 (%)"
    assert fig.layout.xaxis.title.text == "recall (IoU ≥ 0.75)"


def test_pr_curves_skip_a_class_without_ground_truth(evaluation):
    curves = EV.pr_curves(evaluation)
    curves.loc[curves["class_name"] == "other", ["precision", "score"]] = np.nan  # as COCOeval's -1
    fig = EF.pr_curve_figure(curves)
    assert "other" not in [t.name for t in fig.data] and len(fig.data) == len(evaluation.class_names) - 1


def test_pr_curves_escape_class_names():
    curves = pd.DataFrame({"class_name": ["<b>x</b>"] * 2, "recall": [0.0, 1.0], "precision": [1.0, 0.5],
                           "score": [0.9, 0.1]})
    fig = EF.pr_curve_figure(curves)
    assert fig.data[0].name == "&lt;b&gt;x&lt;/b&gt;"


@pytest.mark.parametrize("value", EF.CONFUSION_VALUES)
def test_confusion_cells_print_counts_and_colour_by_value(evaluation, value):
    confusion = EV.at_thresholds(evaluation, iou=0.5, score=0.25).confusion
    fig = EF.confusion_figure(confusion, value=value)
    heat = fig.data[0]
    counts = confusion.to_numpy()
    np.testing.assert_array_equal(np.asarray(heat.text, dtype=np.int64), counts)
    assert list(heat.x) == list(confusion.columns) and list(heat.y) == list(confusion.index)
    assert heat.x[-1] == heat.y[-1] == EV.BACKGROUND
    z = np.asarray(heat.z, dtype=np.float64)
    if value == "count":
        np.testing.assert_array_equal(z, counts)
    else:  # shares of each ground-truth row; the background row holds only spurious predictions
        np.testing.assert_allclose(np.nansum(z, axis=1), 1.0)
        np.testing.assert_allclose(z[0], counts[0] / counts[0].sum())
    assert fig.layout.yaxis.autorange == "reversed"  # the first class at the top, as a table reads
    assert fig.layout.xaxis.dtick == fig.layout.yaxis.dtick == 1  # every class labelled, also at a column's width


def test_confusion_refuses_an_unknown_value(evaluation):
    with pytest.raises(ValueError, match="row share"):
        EF.confusion_figure(EV.at_thresholds(evaluation).confusion, value="percent")


def test_threshold_bars_hold_the_rates(evaluation):
    per_class = EV.at_thresholds(evaluation, iou=0.5, score=0.4).per_class
    fig = EF.threshold_figure(per_class)
    bars = [t for t in fig.data if t.x[0] is not None]
    swatches = [t for t in fig.data if t.x[0] is None]
    assert [t.name for t in bars] == [t.name for t in swatches] == ["precision", "recall", "F1"]
    colours = class_colour_hex("authors", evaluation.class_names)
    for trace, rate in zip(bars, ("precision", "recall", "f1")):
        np.testing.assert_array_equal(trace.y, per_class[rate].to_numpy())
        assert list(trace.x) == list(per_class.index)
        assert list(trace.marker.color) == [colours[n] for n in evaluation.class_names] + [EF.ALL_COLOUR]
    assert len({t.marker.pattern.shape for t in bars}) == 3  # the rate is told by the pattern
    assert fig.layout.xaxis.dtick == 1


def test_group_bars_in_percent(sample_ds):
    preds = synthetic_predictions(sample_ds)
    groups = dict(list(EV.filter_groups(sample_ds).items())[:3])
    table = EV.metrics_by_group(sample_ds, preds, groups, "bbox")
    fig = EF.group_metrics_figure(table, metrics=("AP", "AP75"), what="XMM-OM filter")
    assert [t.name for t in fig.data] == ["AP", "AP75"]
    for trace, metric in zip(fig.data, ("AP", "AP75")):
        np.testing.assert_allclose(trace.y, table[metric].to_numpy() * 100)
        assert list(trace.x) == list(table.index)
        np.testing.assert_array_equal(np.asarray(trace.customdata)[:, 0], table["n_images"])
    assert fig.layout.xaxis.title.text == "XMM-OM filter"


def test_prediction_layer_draws_each_outcome(sample_ds):
    preds = synthetic_predictions(sample_ds)
    ev = EV.evaluate(sample_ds, preds, "segm")
    report = EV.at_thresholds(ev, iou=0.5, score=0.3)
    errors = EV.image_errors(report)
    image_id = int(errors[(errors["tp"] > 0) & (errors["fp"] > 0) & (errors["fn"] > 0)].index[0])
    inst = report.instances[report.instances["image_id"] == image_id]
    table = preds.table[preds.table["image_id"] == image_id]
    fig = EF.add_prediction_layer(go.Figure(), table, inst, sample_ds.annotations_of(image_id))
    kept = inst[inst["side"] == "prediction"]
    assert len(table) > len(kept) or (table["score"] >= 0.3).all()  # below the threshold: not drawn
    outcomes = [t.legendgroup for t in fig.data]
    assert outcomes.count(EV.TP) == (kept["outcome"] == EV.TP).sum() == errors.loc[image_id, "tp"]
    assert outcomes.count(EV.FP) == errors.loc[image_id, "fp"]
    assert outcomes.count(EV.FN) == errors.loc[image_id, "fn"]
    assert [t.line.color for t in fig.data] == [EF.OUTCOME_COLOURS[o] for o in outcomes]
    assert sum(bool(t.showlegend) for t in fig.data) == 3  # one legend entry per outcome
    tp = next(t for t in fig.data if t.legendgroup == EV.TP)
    assert tp.line.dash == "dash" and "score" in tp.text and "IoU" in tp.text


def test_mask_outline_follows_pixel_edges():
    from pycocotools import mask as mask_utils

    mask = np.zeros((10, 12), dtype=np.uint8, order="F")
    mask[2:5, 3:7] = 1  # rows 2..4, columns 3..6
    (outline,) = EF.mask_outline(mask_utils.encode(mask))
    assert outline[:, 0].min() == 3.5 and outline[:, 0].max() == 6.5  # border pixels' centres (i + 0.5 in COCO px)
    assert outline[:, 1].min() == 2.5 and outline[:, 1].max() == 4.5
