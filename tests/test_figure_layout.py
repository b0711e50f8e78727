"""Print layouts at one column (88 mm) and two (180 mm), measured on what kaleido renders.

Every figure kind the product exports is rendered once per width for the module (SVG and PDF, one
kaleido browser); Chromium then measures the SVG: each text's turned box and font size, each
image's visible box, each colour bar. The tests check the properties a journal checks: the page
size, frames as square as their pixels, no text over another or off the page, colour bars titled
with distinct tick labels, and plots that get most of the figure.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import plotly.graph_objects as go
import pytest

from tests.svg_geometry import Geometry, SvgMeasurer, texts_overlap
from xami_core.analysis import annotation_stats as AS
from xami_core.analysis import evaluation as EV
from xami_core.analysis import field_groups, fold_balance, fold_tradeoff
from xami_core.analysis import folds as F
from xami_core.analysis import heatmaps as hm
from xami_core.io import metadata
from xami_core.io.sample_predictions import synthetic_predictions
from xami_core.render import evaluation_figures as EF
from xami_core.render import export as E
from xami_core.render import health_figures as HEF
from xami_core.render import heatmap_figures as HF
from xami_core.render import leakage_figures as LF
from xami_core.render import overlay, stretch
from xami_core.render.figure_set import dataset_figures, dataset_tables
from xami_core.render.figures_overlay import overlay_figure
from xami_core.render.fold_figures import deviation_heatmap, fold_class_figure
from xami_core.render.layout import class_abbreviation, paper_layout

WIDTHS = (88.0, 180.0)
# The batch set (figure_set) and the figures the pages export (chart_ui).
BATCH = ["class_counts", "class_shares", "filters", "fold_balance", "kfold_vs_stratified", "heatmaps", "examples"]
PAGES = ["fold_balance_page", "heatmaps_by_filter", "deviation", "deviation_filters", "heatmap_one", "heatmap_difference", "overlay", "exposure", "sky_map"]
# The Fold balance page's leakage charts, the Predictions page's and the Health page's figures.
LEAKAGE = ["class_differences", "tradeoff"]
EVALUATION = ["pr_curves", "confusion", "rates", "ap_by_filter", "prediction_layer"]
HEALTH = ["instances_per_image", "area_histograms", "cooccurrence"]
KINDS = BATCH + PAGES + LEAKAGE + EVALUATION + HEALTH
FRAMES = {"heatmaps", "heatmaps_by_filter", "examples", "heatmap_one", "heatmap_difference", "overlay",
          "prediction_layer"}  # image panels of 512 x 512 px
BARS = {"class_counts", "class_shares", "filters", "kfold_vs_stratified", "class_differences", "rates", "ap_by_filter"}
COLOUR_BARS = {"heatmaps", "heatmaps_by_filter", "heatmap_one", "heatmap_difference", "deviation", "deviation_filters",
               "confusion", "cooccurrence"}
CASES = [(kind, width) for kind in KINDS for width in WIDTHS]
# Heights a user sets instead of the layout's own (the old batch heights, a short panel grid, a square page).
SET_HEIGHTS = [("heatmaps", 180.0, 110.0), ("fold_balance_page", 88.0, 60.0), ("overlay", 88.0, 88.0)]


def specimens(ds) -> dict[str, Callable[[], go.Figure]]:
    """Every exported figure kind, built from the sample as the batch command and the pages build it."""
    builders = {item.name: item.build for item in dataset_figures(ds)}
    folds = F.make_folds(ds, "stratified", 4, 42)
    counts = fold_balance.fold_class_counts(ds, folds)
    filters = fold_balance.fold_filter_counts(ds, folds)
    maps = hm.dataset_heatmaps(ds, method="mask", by="split")
    by_filter = hm.dataset_heatmaps(ds, method="box", by="filter")
    busiest = ds.images.sort_values("n_annotations").iloc[-1]
    joined = metadata.join_metadata(ds.images, metadata.load_obs_metadata(synthetic=True, download=False))
    balance = fold_balance.fold_balance(ds, folds, counts=counts)
    builders |= {
        # The Fold balance page's panels carry each fold's mean |train - valid| in their titles.
        "fold_balance_page": lambda: fold_class_figure(counts, fold_diffs=dict(zip(balance["fold"],
                                                                                  balance["authors_mean_diff"]))),
        # The Heatmaps page grouped by filter (7 rows of 5), counts on a log scale in the authors' blues.
        "heatmaps_by_filter": lambda: HF.small_multiples_figure(by_filter, how="count", scale="log",
                                                                colours="authors' blues"),
        "deviation": lambda: deviation_heatmap(fold_balance.fold_deviation(counts), n_folds=4),
        "deviation_filters": lambda: deviation_heatmap(fold_balance.fold_filter_deviation(filters), what="filter",
                                                       n_folds=4),
        "heatmap_one": lambda: HF.heatmap_figure(maps, "train", "star-loop"),
        "heatmap_difference": lambda: HF.difference_figure(maps, "star-loop", "train"),
        # The Gallery's figure: the frame with the most annotations, every label drawn.
        "overlay": lambda: overlay_figure(stretch.stretch_image(overlay.load_frame(busiest["path"])),
                                          ds.annotations_of(busiest["image_id"]), ds.class_colours("authors"), 0.4,
                                          height=840),
        "exposure": lambda: metadata.exposure_figure(metadata.exposure_histogram(joined)),
        "sky_map": lambda: metadata.sky_map_figure(metadata.sky_positions(joined, "icrs"), "icrs"),
    }
    return builders | leakage_specimens(ds, folds, counts) | evaluation_specimens(ds) | health_specimens(ds)


def leakage_specimens(ds, folds: F.FoldSet, counts) -> dict[str, Callable[[], go.Figure]]:
    """The Fold balance page's train - valid chart and its balance-against-leakage chart (every method)."""
    groups = field_groups.field_groups(ds.images, by="obsid")
    methods = ("published", *fold_tradeoff.COMPARED_METHODS)
    return {
        "class_differences": lambda: LF.class_difference_figure(counts),
        "tradeoff": lambda: LF.tradeoff_figure(fold_tradeoff.method_tradeoff(ds, groups, k=4, methods=methods),
                                               current="stratified"),
    }


def evaluation_specimens(ds) -> dict[str, Callable[[], go.Figure]]:
    """The Predictions page's figures on the sample's synthetic predictions (bbox, IoU 0.5, score 0.25)."""
    preds = synthetic_predictions(ds)
    ev = EV.evaluate(ds, preds, "bbox")
    report = EV.at_thresholds(ev, iou=0.5, score=0.25)
    ap = EV.metrics_table(ev)["AP50"].to_dict()
    busiest = ds.images.sort_values("n_annotations").iloc[-1]
    image_id = int(busiest["image_id"])

    def prediction_layer() -> go.Figure:
        truth = ds.annotations_of(image_id)
        fig = overlay_figure(stretch.stretch_image(overlay.load_frame(busiest["path"])), truth,
                             ds.class_colours("authors"), 0.3, fill=True, contour=False, boxes=False, labels=False,
                             height=720)
        return EF.add_prediction_layer(fig, preds.table[preds.table["image_id"] == image_id],
                                       report.instances[report.instances["image_id"] == image_id], truth)

    return {
        "pr_curves": lambda: EF.pr_curve_figure(EV.pr_curves(ev, iou=0.5), iou=0.5, ap=ap),
        "confusion": lambda: EF.confusion_figure(report.confusion),
        "rates": lambda: EF.threshold_figure(report.per_class[["precision", "recall", "f1"]]),
        "ap_by_filter": lambda: EF.group_metrics_figure(EV.metrics_by_group(ds, preds, EV.filter_groups(ds), "bbox"),
                                                        what="XMM-OM filter"),
        "prediction_layer": prediction_layer,
    }


def health_specimens(ds) -> dict[str, Callable[[], go.Figure]]:
    """The Health page's histograms per class (instances per image, instance area) and class co-occurrence."""
    return {
        "instances_per_image": lambda: HEF.instances_figure(AS.instances_per_image(ds), classes=ds.class_names),
        "area_histograms": lambda: HEF.measure_figure(AS.binned_counts(AS.instance_measures(ds), "area"), "area",
                                                      classes=ds.class_names),
        "cooccurrence": lambda: HEF.cooccurrence_figure(AS.class_cooccurrence(ds), classes=ds.class_names),
    }


@dataclass(frozen=True)
class Rendered:
    figure: go.Figure
    size: E.ExportSize
    notes: tuple[str, ...]
    geometry: Geometry
    pdf: bytes


@pytest.fixture(scope="module")
def rendered(sample_ds) -> dict[tuple[str, float], Rendered]:
    """Each kind at each width, laid out with the height its layout picks, as SVG (measured) and PDF."""
    out = {}
    with E.FigureRenderer() as renderer, SvgMeasurer() as measurer:
        for kind, build in specimens(sample_ds).items():
            fig = build()
            for width in WIDTHS:
                laid, size, notes = E.paper_export(fig, width)
                geometry = measurer.measure(renderer.render(laid, "svg", size))
                out[kind, width] = Rendered(laid, size, notes, geometry, renderer.render(laid, "pdf", size))
        builders = specimens(sample_ds)
        for kind, width, height in SET_HEIGHTS:
            laid, size, notes = E.paper_export(builders[kind](), width, height)
            geometry = measurer.measure(renderer.render(laid, "svg", size))
            out[kind, width, height] = Rendered(laid, size, notes, geometry, renderer.render(laid, "pdf", size))
    return out


def pdf_page_mm(data: bytes) -> tuple[float, float]:
    """The first MediaBox of a PDF, in mm."""
    box = re.search(rb"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*\]", data)
    assert box, "no MediaBox"
    x0, y0, x1, y1 = (float(v) for v in box.groups())
    return (x1 - x0) / 72 * 25.4, (y1 - y0) / 72 * 25.4


def test_every_exported_kind_is_covered(sample_ds):
    assert set(specimens(sample_ds)) == set(KINDS)
    assert {item.name for item in dataset_figures(sample_ds)} == set(BATCH)


@pytest.mark.parametrize(("kind", "width"), CASES)
def test_pdf_page_is_the_requested_size(rendered, kind, width):
    r = rendered[kind, width]
    assert r.size.width == width and r.size.unit == "mm"
    page_w, page_h = pdf_page_mm(r.pdf)
    assert abs(page_w - width) < 0.3 and abs(page_h - r.size.height) < 0.3
    # The SVG is the same page in CSS px (96 per inch).
    assert (round(r.geometry.width), round(r.geometry.height)) == r.size.layout_px()


@pytest.mark.parametrize(("kind", "width"), CASES)
def test_no_text_overlaps_another_or_leaves_the_page(rendered, kind, width):
    g = rendered[kind, width].geometry
    assert g.texts, "nothing drawn"
    outside = [t.text for t in g.texts
               if min(x for x, _ in t.corners) < -0.5 or min(y for _, y in t.corners) < -0.5
               or max(x for x, _ in t.corners) > g.width + 0.5 or max(y for _, y in t.corners) > g.height + 0.5]
    assert outside == []
    # At least a pixel apart: touching labels read as one ("512" + "0" as "5120").
    clashes = [(a.text, b.text) for i, a in enumerate(g.texts) for b in g.texts[i + 1:]
               if texts_overlap(a, b, tolerance=-1.0)]
    assert clashes == []


@pytest.mark.parametrize(("kind", "width"), CASES)
def test_text_is_large_enough_to_print(rendered, kind, width):
    # 7 pt at the printed size is the smallest journals take (9 CSS px print as 6.75 pt; chips on the data may be 9 px).
    sizes = {t.size for t in rendered[kind, width].geometry.texts}
    assert min(sizes) >= 9


@pytest.mark.parametrize(("kind", "width"), [(k, w) for k, w in CASES if k in FRAMES])
def test_frames_keep_their_pixel_aspect(rendered, kind, width):
    images = rendered[kind, width].geometry.images
    assert images, "no frame drawn"
    for x0, y0, x1, y1 in images:
        assert abs((x1 - x0) / (y1 - y0) - 1.0) < 0.005  # 512 x 512 frames print square


@pytest.mark.parametrize(("kind", "width"), [(k, w) for k, w in CASES if k in COLOUR_BARS])
def test_colour_bars_are_titled_with_distinct_labels(rendered, kind, width):
    r = rendered[kind, width]
    g = r.geometry
    assert g.bars, "no colour bar drawn"
    shared_title = any(a.name == "bartitle" and a.text for a in r.figure.layout.annotations)
    for i in range(len(g.bars)):
        ticks = [t.text for t in g.texts if t.bar == i and t.bar_part == "tick"]
        assert len(ticks) >= 2 and len(set(ticks)) == len(ticks)  # never "0% 1% 1% 2%"
        assert shared_title or any(t.bar == i and t.bar_part == "title" for t in g.texts)


@pytest.mark.parametrize("width", WIDTHS)
def test_heatmap_grid_bars_sit_in_line_next_to_their_panels(rendered, width):
    g = rendered["heatmaps", width].geometry
    assert len(g.bars) == 5  # one per class: its groups share the scale
    panels_bottom = max(y1 for _, _, _, y1 in g.images)
    panels_right = max(x1 for _, _, x1, _ in g.images)
    horizontal = all(x1 - x0 > y1 - y0 for x0, y0, x1, y1 in g.bars)
    if horizontal:  # under the grid, one row, each bar under its own column
        assert max(b[1] for b in g.bars) - min(b[1] for b in g.bars) < 1
        assert min(b[1] for b in g.bars) - panels_bottom < 50
    else:  # beside the grid, one column, each bar beside its own row
        assert max(b[0] for b in g.bars) - min(b[0] for b in g.bars) < 1
        assert min(b[0] for b in g.bars) - panels_right < 12


@pytest.mark.parametrize(("kind", "width"), [(k, w) for k, w in CASES if k in BARS])
def test_bar_charts_give_the_plot_most_of_the_figure(rendered, kind, width):
    fig = rendered[kind, width].figure
    low, high = fig.layout.yaxis.domain
    assert high - low > 0.5  # two-line labels turned 90 degrees used to squeeze it to a quarter
    assert fig.layout.xaxis.tickangle in (0, -45, None)


@pytest.mark.parametrize("width", WIDTHS)
def test_overlay_legend_stays_small(rendered, width):
    g = rendered["overlay", width].geometry
    legend = [t.box for t in g.texts if t.role == "legend"]
    assert legend and max(b[3] for b in legend) - min(b[1] for b in legend) < 0.2 * g.height


@pytest.mark.parametrize(("kind", "width", "height"), SET_HEIGHTS)
def test_a_set_height_is_kept_and_laid_out_cleanly(rendered, kind, width, height):
    r = rendered[kind, width, height]
    page_w, page_h = pdf_page_mm(r.pdf)
    assert abs(page_w - width) < 0.3 and abs(page_h - height) < 0.3
    g = r.geometry
    assert [(a.text, b.text) for i, a in enumerate(g.texts) for b in g.texts[i + 1:]
            if texts_overlap(a, b, tolerance=-1.0)] == []
    assert all(abs((x1 - x0) / (y1 - y0) - 1.0) < 0.005 for x0, y0, x1, y1 in g.images if kind in FRAMES)


def test_too_many_rows_for_a_page_are_left_out_and_said(rendered):
    r = rendered["heatmaps_by_filter", 180.0]
    assert r.size.height <= 230.0 + 0.5
    assert any("left out" in note and "White" in note for note in r.notes)


def test_layout_follows_the_width(sample_ds):
    fig = dataset_figures(sample_ds)[3].build()  # fold balance: four panels
    single, double = paper_layout(fig, 88), paper_layout(fig, 180)
    assert single.height != double.height  # not the double column's height kept at one column
    assert any("2 rows of 2" in note for note in single.notes)
    assert any("ROS read-out-streak" in note for note in single.notes)  # short labels, long form in the notes
    fixed = paper_layout(fig, 88, 70)
    assert (fixed.figure.layout.width, fixed.figure.layout.height) == E.ExportSize(88, 70).layout_px()


def test_fold_panels_have_equal_bar_widths(sample_ds):
    fig = dataset_figures(sample_ds)[3].build()
    panels = {t.xaxis: t.offsetgroup for t in fig.data if t.x is not None and t.x[0] is not None}
    # The legend swatches share their part's offset group, so fold 0 has as many bar slots as the others.
    assert len({t.offsetgroup for t in fig.data}) == 2 and len(panels) == 4


@pytest.mark.parametrize(("name", "short"), [("read-out-streak", "ROS"), ("star-loop", "SL"), ("other", "other")])
def test_class_abbreviation(name, short):
    assert class_abbreviation(name) == short


def test_latex_filter_table_says_broad_band_for_white(sample_ds):
    table = next(t for t in dataset_tables(sample_ds) if t.name == "filters")
    latex = E.table_to_latex(table.table, index=table.index)
    assert re.search(r"White & broad band &", latex)


def test_contact_sheet_holds_every_render():
    def png(width: int, height: int) -> bytes:
        return cv2.imencode(".png", np.zeros((height, width, 3), np.uint8))[1].tobytes()

    sheet = cv2.imdecode(np.frombuffer(E.contact_sheet([("a", [("88 mm", png(100, 50)), ("180 mm", png(200, 80))]),
                                                        ("b", [("88 mm", png(100, 40))])]), np.uint8), cv2.IMREAD_COLOR)
    assert sheet.shape[1] >= 100 + 200 and sheet.shape[0] >= 80 + 40
    # Both renders of the first row are there, side by side at their own size (black on white).
    dark = (sheet.sum(axis=2) == 0)
    assert dark.sum() >= 100 * 50 + 200 * 80 + 100 * 40  # the labels are black too
    with pytest.raises(E.FigureExportError):
        E.contact_sheet([("a", [("88 mm", b"not a png")])])
