"""Health page figures: what they draw equals what the data says, counted here without the core's tables."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from tests.test_export import pdf_page_mm
from xami_core.analysis import annotation_stats as S
from xami_core.analysis import health as H
from xami_core.model import AUTHOR_COLOURS, rgb_to_hex
from xami_core.render import health_figures as HF
from xami_core.render.export import find_browser


def _bars(fig, class_name: str, part: str) -> list:
    """The bar traces of one class panel and part (the legend's stand-ins have no data)."""
    return [t for t in fig.data if t.type == "bar" and t.x is not None and len(t.x) and t.x[0] is not None
            and t.hovertemplate.startswith(f"{class_name} · {part}")]


@pytest.mark.parametrize("measure", list(S.MEASURES))
def test_measure_histograms_count_every_instance_of_each_class_and_part(sample_ds, measure):
    binned = S.binned_counts(S.instance_measures(sample_ds), measure)
    fig = HF.measure_figure(binned, measure, value="count", classes=sample_ds.class_names)
    ann = sample_ds.annotations
    for (split, name), rows in ann.groupby(["split", "class_name"]):
        if measure == "area":
            expected = int((rows["mask_area"] > 0).sum())  # a log axis has no place for zero
        elif measure == "n_vertices":
            expected = int((rows["kind"] == "polygon").sum())
        elif measure == "aspect_ratio":
            expected = int(((rows["mask_box_w"] > 0) & (rows["mask_box_h"] > 0)).sum())
        else:
            expected = len(rows)
        (trace,) = _bars(fig, name, split)
        assert sum(trace.y) == expected, (split, name)
    shares = HF.measure_figure(binned, measure, value="share")
    for name in sample_ds.class_names:
        for split in sample_ds.splits:
            (trace,) = _bars(shares, name, split)
            assert sum(trace.y) == pytest.approx(1.0)  # shares of the class's instances in the part


def test_area_histogram_on_a_log_axis_with_readable_ticks(sample_ds):
    binned = S.binned_counts(S.instance_measures(sample_ds), "area")
    fig = HF.measure_figure(binned, "area")
    (trace,) = _bars(fig, "star-loop", "train")
    lo = binned.loc[(binned["class_name"] == "star-loop") & (binned["part"] == "train"), "lo"].to_numpy()
    np.testing.assert_allclose(trace.x, np.log10(lo))  # train first in each bin, valid beside it
    assert fig.layout.annotations[-1].text == "instance area (px², log axis)"  # one title under all panels
    assert all(re.fullmatch(r"[\d,.]+", t) for t in fig.layout.xaxis.ticktext)  # 1,000 not 1e+03
    assert all(10 ** v == pytest.approx(float(t.replace(",", ""))) for v, t in
               zip(fig.layout.xaxis.tickvals, fig.layout.xaxis.ticktext))


def test_bars_in_the_authors_colours_hatched_for_valid(sample_ds):
    fig = HF.instances_figure(S.instances_per_image(sample_ds))
    for name, rgb in AUTHOR_COLOURS.items():
        train, valid = _bars(fig, name, "train")[0], _bars(fig, name, "valid")[0]
        assert train.marker.color == valid.marker.color == rgb_to_hex(rgb)
        assert train.marker.pattern.shape == "" and valid.marker.pattern.shape == "/"
    (every,) = _bars(fig, S.ALL_CLASSES, "train")
    assert every.marker.color == HF.ALL_CLASSES_COLOUR
    assert [t.name for t in fig.data if t.showlegend] == ["train (solid)", "valid (hatched)"]


def test_instances_per_image_against_a_count_per_frame(sample_ds):
    fig = HF.instances_figure(S.instances_per_image(sample_ds), value="count")
    img, ann = sample_ds.images, sample_ds.annotations
    for split in sample_ds.splits:
        ids = img.loc[img["split"] == split, "image_id"]
        for name in sample_ds.class_names:
            per_frame = ann[ann["class_name"] == name].groupby("image_id").size().reindex(ids, fill_value=0)
            expected = per_frame.value_counts().sort_index()
            (trace,) = _bars(fig, name, split)
            k = np.round(np.asarray(trace.x) + 0.5 - (0.5 if split == "valid" else 0)).astype(int)
            assert dict(zip(k.tolist(), trace.y)) == expected.to_dict()
        # All classes together: images without any annotation are the hard negatives, at k = 0.
        (every,) = _bars(fig, S.ALL_CLASSES, split)
        zero = dict(zip(np.round(np.asarray(every.x) + 0.5).astype(int).tolist(), every.y)).get(0, 0)
        assert zero == int(((img["split"] == split) & (img["n_annotations"] == 0)).sum())


def test_cooccurrence_heatmap_against_sets_of_classes_per_frame(sample_ds):
    fig = HF.cooccurrence_figure(S.class_cooccurrence(sample_ds), value="share")
    classes = sample_ds.class_names
    ann = sample_ds.annotations
    for trace in fig.data:
        split = re.match(r"([^:]+):", trace.hovertemplate).group(1)
        held = ann[ann["split"] == split].groupby("image_id")["class_name"].agg(set)
        z = np.asarray(trace.z, dtype=float)
        for r, a in enumerate(classes):
            with_a = [s for s in held if a in s]
            assert trace.y[r].endswith(f"({len(with_a):,})")  # the row's frame count in its label
            for c, b_ in enumerate(classes):
                if a == b_ or not with_a:
                    assert np.isnan(z[r, c])  # the diagonal, and a class in no frame, stay blank
                else:
                    assert z[r, c] == pytest.approx(sum(b_ in s for s in with_a) / len(with_a))
    counts = HF.cooccurrence_figure(S.class_cooccurrence(sample_ds), value="count")
    assert counts.layout.coloraxis.cmax == np.nanmax([np.asarray(t.z, float) for t in counts.data])


def test_class_names_are_text_not_markup():
    table = pd.DataFrame({"part": "train", "class_a": ["<b>a</b>", "<b>a</b>", "b%", "b%"],
                          "class_b": ["<b>a</b>", "b%", "<b>a</b>", "b%"], "frames": [2, 1, 1, 3],
                          "frames_a": [2, 2, 3, 3], "share": [1.0, 0.5, 1 / 3, 1.0]})
    fig = HF.cooccurrence_figure(table)
    assert "<b>a</b>" not in "".join(fig.data[0].x) and "&lt;b&gt;a&lt;/b&gt;" in fig.data[0].x[0]
    assert "b&#37;" in fig.data[0].x[1]


def test_values_outside_the_choices_are_refused(sample_ds):
    with pytest.raises(ValueError, match="value must be one of"):
        HF.instances_figure(S.instances_per_image(sample_ds), value="mean")
    with pytest.raises(ValueError, match="measure must be one of"):
        HF.measure_figure(S.binned_counts(S.instance_measures(sample_ds), "area"), "volume")


@pytest.fixture(scope="module")
def report(sample_ds):
    # A strict box threshold so one check has something to report on the clean sample.
    return H.run_checks(sample_ds, box_iou_min=0.95, use_hash_cache=False)


def test_summary_table_and_page(report):
    table = HF.summary_table(report)
    summary = report.summary
    expected = ["counted" if not f else ("passed" if c == 0 else "to look at")
                for c, f in zip(summary["count"], summary["flagged"])]
    assert table["status"].tolist() == expected and table["count"].tolist() == summary["count"].tolist()
    assert "to look at" in expected and "counted" in expected
    fig = HF.summary_figure(report, "local: /data/<b>xami</b>")
    cells = fig.data[0].cells.values
    assert list(cells[0]) == expected
    assert list(cells[2]) == [f"{c:,}" for c in summary["count"]]
    heading = fig.layout.annotations[0].text
    assert "/data/&lt;b&gt;xami&lt;/b&gt;" in heading  # the path is data, shown as typed
    for line in report.verdict.split("; "):
        assert line in heading
    assert "IoU 0.95" in heading and (fig.layout.width, fig.layout.height) == (794, 1123)  # A4 at 96 dpi


@pytest.mark.skipif(find_browser() is None, reason="needs Chrome or Chromium for kaleido")
def test_summary_pdf_is_one_a4_page(report):
    data = HF.summary_pdf(report, "synthetic sample")
    assert data.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page[^s]", data)) == 1
    w, h = pdf_page_mm(data)
    assert w == pytest.approx(210, abs=1) and h == pytest.approx(297, abs=1)
