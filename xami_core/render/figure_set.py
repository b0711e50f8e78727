"""A dataset's full set of paper figures and tables, shared by the batch command and the pages."""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from xami_core.analysis import fold_balance, stats
from xami_core.analysis import folds as F
from xami_core.analysis import heatmaps as hm
from xami_core.model import Dataset, class_colour_hex
from xami_core.render.figures import class_distribution_figure, filter_figure
from xami_core.render.fold_figures import fold_class_figure, method_comparison_figure
from xami_core.render.heatmap_figures import small_multiples_figure
from xami_core.render.layout import DOUBLE_MM, SINGLE_MM, tag
from xami_core.render.overlay import encode_png, full_overlay


@dataclass(frozen=True)
class PaperFigure:
    """A named figure of the set, with its usual printed width in mm (single or double column).

    The height follows from the width (`layout.paper_layout`) unless `height_mm` is given.
    """

    name: str
    caption: str
    build: Callable[[], go.Figure]
    width_mm: float = SINGLE_MM
    height_mm: float | None = None


@dataclass(frozen=True)
class PaperTable:
    """A named table of the set, as CSV and LaTeX."""

    name: str
    caption: str
    table: pd.DataFrame
    percent_columns: tuple[str, ...] = ()
    index: bool = True


def examples_figure(frames: Sequence[np.ndarray], captions: Sequence[str], columns: int = 4,
                    panel_px: int = 260, legend: dict[str, str] | None = None) -> go.Figure:
    """A grid of RGB frames (overlays) with a caption above each, pixel axes hidden.

    `legend` maps class names to colours, shown as a row of swatches.
    """
    n = len(frames)
    cols = max(1, min(columns, n))
    rows = max(1, math.ceil(n / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(captions), horizontal_spacing=0.01,
                        vertical_spacing=0.08 / rows)
    for i, rgb in enumerate(frames):
        r, c = divmod(i, cols)
        # A PNG data URI keeps the figure small (a z array would be megabytes of JSON).
        source = "data:image/png;base64," + base64.b64encode(encode_png(rgb)).decode("ascii")
        fig.add_trace(go.Image(source=source, hoverinfo="skip"), row=r + 1, col=c + 1)
    for name, colour in (legend or {}).items():
        fig.add_scatter(x=[None], y=[None], mode="markers", name=name, showlegend=True,
                        marker=dict(symbol="square", size=10, color=colour, line=dict(color="black", width=0.5)))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    fig.update_annotations(font=dict(size=11))
    fig.update_layout(width=cols * panel_px, height=rows * (panel_px + 30) + 20, margin=dict(l=4, r=4, t=30, b=4),
                      paper_bgcolor="white", plot_bgcolor="white")
    frame = [int(frames[0].shape[1]), int(frames[0].shape[0])] if n else [1, 1]
    return tag(fig, "image_grid", panels=n, frame=frame)


def example_frames(ds: Dataset, palette: str, n: int = 4, size: int = 512) -> tuple[list[np.ndarray], list[str]]:
    """The Overview's example frames (a greedy cover of the classes), stretched, with masks and contours.

    No text labels: at a printed width of a few cm they would not read; the legend names the colours.
    """
    frames, captions = [], []
    images = ds.images.set_index("image_id")
    for image_id in stats.example_images(ds, n=n):
        row = images.loc[image_id]
        factor = max(1, size // int(row["width"]))
        frames.append(full_overlay(row["path"], ds.annotations_of(image_id), int(row["width"]), int(row["height"]),
                                   ds.class_colours(palette), factor=factor, labels=False))
        captions.append(f"{row['obs_key']} ({row['filter_name']})")
    return frames, captions


def dataset_figures(ds: Dataset, palette: str = "authors", k: int = F.AUTHORS_K, seed: int = F.AUTHORS_SEED) -> list[PaperFigure]:
    """Every figure of the dataset section of a paper; each is built only when asked for."""
    counts = stats.class_counts(ds)

    def folds() -> F.FoldSet:
        return F.make_folds(ds, "stratified", k, seed)

    def heatmap_grid() -> go.Figure:
        return small_multiples_figure(hm.dataset_heatmaps(ds, method="mask", by="split"), how="share")

    def examples() -> go.Figure:
        shown = sorted(set().union(*ds.images.set_index("image_id").loc[stats.example_images(ds, n=4), "classes"]))
        colours = class_colour_hex(palette, ds.class_names)
        return examples_figure(*example_frames(ds, palette), legend={c: colours[c] for c in ds.class_names if c in shown})

    return [
        PaperFigure("class_counts", "Annotations per class and split.",
                    lambda: class_distribution_figure(counts, value="annotations", palette=palette)),
        PaperFigure("class_shares", "Share of annotations per class in each split.",
                    lambda: class_distribution_figure(counts, value="annotation share", palette=palette)),
        PaperFigure("filters", "Images per XMM-OM filter, ordered by effective wavelength.",
                    lambda: filter_figure(stats.filter_split_counts(ds), value="images")),
        PaperFigure("fold_balance", f"Class shares in train and valid of each fold (stratified K-fold, k = {k}, seed {seed}).",
                    lambda: fold_class_figure(fold_balance.fold_class_counts(ds, folds()), palette=palette), DOUBLE_MM),
        PaperFigure("kfold_vs_stratified", f"Mean absolute train-valid class share difference per fold, K-fold vs stratified K-fold (k = {k}, seed {seed}).",
                    lambda: method_comparison_figure(fold_balance.method_comparison(ds, k, seed))),
        PaperFigure("heatmaps", "Where each artefact class falls on the detector (mask coverage, fraction of images), per split.",
                    heatmap_grid, DOUBLE_MM),
        PaperFigure("examples", "Example frames with their annotations in the class colours.", examples, DOUBLE_MM),
    ]


def dataset_tables(ds: Dataset, k: int = F.AUTHORS_K, seed: int = F.AUTHORS_SEED) -> Iterator[PaperTable]:
    """Every table of the dataset section: splits, classes, filters and the folds' balance."""
    yield PaperTable("splits", "Images and annotations per split.", stats.split_summary(ds))
    classes = stats.class_count_table(ds)
    classes.columns = [f"{split} {what}" for split, what in classes.columns]
    yield PaperTable("classes", "Annotations per class and split.", classes,
                     percent_columns=tuple(c for c in classes.columns if c.endswith("share")))
    yield PaperTable("filters", "Images and annotations per XMM-OM filter.", stats.filter_counts(ds), index=False)
    folds = F.make_folds(ds, "stratified", k, seed)
    balance = fold_balance.fold_balance(ds, folds)
    yield PaperTable("fold_balance", f"Balance of the stratified K-fold split (k = {k}, seed {seed}).", balance,
                     index=False)
