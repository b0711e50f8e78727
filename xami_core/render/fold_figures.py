"""Figures of fold balance: train vs valid per class per fold, deviation heatmaps, K-fold vs stratified."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from xami_core.analysis.folds import METHOD_LABELS, PARTS
from xami_core.model import FILTERS, class_colour_hex, filter_detail
from xami_core.render.figures import SPLIT_PATTERNS, base_layout, plot_text
from xami_core.render.layout import tag

MAX_COLUMNS = 5
# The authors' bar colours in their K-fold vs stratified K-fold figure (kf_skf_errors.png).
METHOD_COLOURS = {"kfold": "#C16FA3", "stratified": "#87CEEB", "multilabel": "#6B8E23", "published": "#555555",
                  "files": "#B8860B"}
LINE = "#333333"


# Deviations within this many percentage points draw pale in the heatmaps (see `deviation_heatmap`).
DEVIATION_FLOOR_PP = 5.0
# Filter letter by display name ("UVW1" -> "L"): the fold tables name filters by `model.filter_name`.
_LETTER_OF_NAME = {name: letter for letter, (name, _) in FILTERS.items()}


def _column_label(column: str, what: str) -> str:
    """Heatmap column label (plotly text): the class name, or the filter with its effective wavelength."""
    if what != "filter":
        return plot_text(column)
    letter = _LETTER_OF_NAME.get(column)
    if letter is None:  # an unknown letter's name already says so ("X (unknown filter)"), as does "no observation key"
        return plot_text(column)
    return f"{plot_text(column)}<br>{filter_detail(letter)}"


def fold_name(fold: int, n_folds: int) -> str:
    """How a fold is labelled: "fold 0" (as in mskf_0), or "published split" for a single fold."""
    return "published split" if n_folds == 1 else f"fold {fold}"


def fold_class_figure(counts: pd.DataFrame, measure: str = "images", value: str = "share",
                      palette: str = "authors", fold_label: str | None = None,
                      fold_diffs: dict[int, float] | None = None) -> go.Figure:
    """Small multiples, one panel per fold: per class, train (solid) vs valid (hatched) bars.

    Args:
        counts: `fold_balance.fold_class_counts` output.
        measure: "images" (images containing the class) or "annotations".
        value: "share" (of the part's (image, class) pairs or annotations) or "count".
        palette: a key of `model.PALETTES` (classes outside XAMI's five: `model.class_colours`).
        fold_label: panel title override for a single fold.
        fold_diffs: per fold, a mean |train - valid| share (a fraction) to print in its panel title,
            so the balance of every fold is read without looking elsewhere.
    """
    column = measure if value == "count" else ("image_share" if measure == "images" else "annotation_share")
    colours = class_colour_hex(palette, dict.fromkeys(counts["class_name"]))  # classes in the dataset's order
    folds = list(dict.fromkeys(counts["fold"]))
    n = len(folds)
    cols = min(n, MAX_COLUMNS)
    rows = math.ceil(n / cols)
    names = [plot_text(fold_label) if fold_label else fold_name(f, n) for f in folds]
    diffs = fold_diffs or {}
    titles = [f"{name} · mean |Δ| {diffs[f] * 100:.2f} pp" if np.isfinite(diffs.get(f, np.nan)) else name
              for name, f in zip(names, folds)]
    fig = make_subplots(rows=rows, cols=cols, shared_yaxes=True, subplot_titles=titles,
                        horizontal_spacing=0.02 if cols > 1 else 0.0, vertical_spacing=0.22 / max(rows, 1) + 0.08)
    hover_value = "share %{y:.1%}" if value == "share" else \
        f"%{{y:,}} {'images with the class' if measure == 'images' else 'annotations'}"
    for i, fold in enumerate(folds):
        r, c = divmod(i, cols)
        _add_part_bars(fig, counts[counts["fold"] == fold], column, colours, f"{names[i]}, ", hover_value, r + 1, c + 1)
    _add_part_legend(fig)
    ytitle = _fold_class_layout(fig, rows, measure, value)
    return tag(fig, "fold_panels", panels=n, ytitle=ytitle)


def _part_marker(colour: str | list[str], part: str) -> dict:
    """Bar marker: the class colour(s), hatched for a part drawn with a pattern (valid), with a dark rim."""
    return dict(color=colour, line=dict(color=LINE, width=0.8),
                pattern=dict(shape=SPLIT_PATTERNS.get(part, ""), fgcolor=LINE, size=5))


def _add_part_bars(fig: go.Figure, fold_counts: pd.DataFrame, column: str, colours: dict[str, str], where: str,
                   hover_value: str, row: int, col: int) -> None:
    """One panel: per part, a bar per class (class colours, the part's pattern), with counts in the hover."""
    for part in PARTS:
        sel = fold_counts[fold_counts["part"] == part]
        fig.add_bar(
            x=[plot_text(k) for k in sel["class_name"]], y=sel[column].to_numpy(np.float64), name=part, legendgroup=part,
            offsetgroup=part, showlegend=False, marker=_part_marker([colours[k] for k in sel["class_name"]], part),
            customdata=np.stack([sel["images"], sel["annotations"], sel["part_images"]], axis=1),
            hovertemplate=(f"{where}{part}<br>%{{x}}<br>" + hover_value
                           + "<br>%{customdata[0]} images with it, %{customdata[1]} annotations"
                           + "<br>%{customdata[2]} images in the part<extra></extra>"),
            row=row, col=col,
        )


def _add_part_legend(fig: go.Figure) -> None:
    """Legend swatches in neutral grey: the bar colours are the classes, the pattern is the part."""
    for part in PARTS:
        # Same offset group as the part's bars: the swatch takes no bar slot, so fold 0's bars keep their width.
        fig.add_bar(x=[None], y=[None], name=f"{part} ({'hatched' if SPLIT_PATTERNS.get(part) else 'solid'})",
                    legendgroup=part, offsetgroup=part, marker=_part_marker("#d9d9d9", part), row=1, col=1)


def _fold_class_layout(fig: go.Figure, rows: int, measure: str, value: str) -> str:
    """Height by panel rows, the legend above the panel titles, share or count axes; returns the y title."""
    height = max(360, 300 * rows + 80)
    top, bottom = 80, 110
    base_layout(fig, height=height)
    # The legend sits in the top margin, above the panel titles (which sit on the panels' top edge).
    legend_y = 1.0 + 34 / (height - top - bottom)
    fig.update_layout(barmode="group", bargap=0.2, bargroupgap=0.05, margin=dict(l=70, r=20, t=top, b=bottom),
                      legend=dict(orientation="h", yanchor="bottom", y=legend_y, xanchor="left", x=0.0))
    fig.update_annotations(yshift=4, font=dict(size=14))
    fig.update_xaxes(tickangle=-40, tickfont=dict(size=11))
    ytitle = (f"share of the part's {'(image, class) pairs' if measure == 'images' else 'annotations'}"
              if value == "share" else ("images containing the class" if measure == "images" else "annotations"))
    fig.update_yaxes(tickformat=".0%" if value == "share" else ",", rangemode="tozero")
    for r in range(rows):
        fig.update_yaxes(title_text=ytitle, row=r + 1, col=1)
    return ytitle


def deviation_heatmap(deviation: pd.DataFrame, title: str | None = None, what: str = "class",
                      n_folds: int | None = None, floor_pp: float = DEVIATION_FLOOR_PP) -> go.Figure:
    """Fold x category heatmap of valid minus train share in percentage points, diverging around zero.

    Args:
        deviation: `fold_balance.fold_deviation` or `fold_balance.fold_filter_deviation` output (fractions).
        what: the column axis name ("class" or "filter"); filters get their effective wavelength.
        floor_pp: the colour scale spans at least ± this many percentage points, so a well balanced
            fold stays pale instead of being stretched to full colour by its largest tiny deviation.
    """
    z = deviation.to_numpy(np.float64) * 100.0
    n_folds = n_folds or len(deviation.index)
    ylabels = [fold_name(int(f), n_folds) for f in deviation.index]
    lim = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 0.0
    lim = max(lim, floor_pp)
    text = np.where(np.isnan(z), "", np.char.mod("%+.1f", np.nan_to_num(z)))
    fig = go.Figure(go.Heatmap(
        z=z, x=[_column_label(str(c), what) for c in deviation.columns], y=ylabels, zmid=0.0, zmin=-lim, zmax=lim,
        colorscale="RdBu", text=text, texttemplate="%{text}", textfont=dict(size=12),
        colorbar=dict(title=dict(text="valid − train<br>(percentage<br>points)"), ticksuffix=""),
        hovertemplate="%{y}, %{x}<br>valid − train share: %{z:+.2f} percentage points<extra></extra>",
        xgap=2, ygap=2,
    ))
    base_layout(fig, title, height=max(220, 48 * len(ylabels) + 150))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="artefact class" if what == "class" else "XMM-OM filter (effective wavelength, long to short)",
                     side="bottom")
    columns = [_column_label(str(c), what) for c in deviation.columns]
    short = dict(zip(columns, (plot_text(c) for c in deviation.columns))) if what == "filter" else None
    return tag(fig, "deviation", colour_title="valid − train (pp)", short_x=short,
               short_what="Filters (effective wavelength)" if what == "filter" else "Classes")


def method_comparison_figure(table: pd.DataFrame, column: str = "authors_mean_diff", title: str | None = None) -> go.Figure:
    """Grouped bars per fold, one bar per method: the mean |train - valid| share difference (percentage points).

    Args:
        table: `fold_balance.method_comparison` output.
        column: "authors_mean_diff" (the authors' figure) or "mean_abs_diff" (over classes only).
    """
    fig = go.Figure()
    for method, part in table.groupby("method", sort=False):
        y = part[column].to_numpy(np.float64) * 100.0
        label = plot_text(METHOD_LABELS.get(method, method))
        fig.add_bar(x=[f"fold {f}" for f in part["fold"]], y=y, name=label,
                    marker=dict(color=METHOD_COLOURS.get(method, "#888888"), line=dict(color=LINE, width=0.6)),
                    text=[f"{v:.2f}" for v in y], textposition="outside", cliponaxis=False,
                    hovertemplate="%{x}<br>" + label
                    + ": %{y:.3f} percentage points<extra></extra>")
    base_layout(fig, title, height=380)
    fig.update_layout(barmode="group", bargap=0.3)
    fig.update_xaxes(title="fold (k)")
    label = "mean |train − valid| class share" if column == "authors_mean_diff" else "mean |train − valid| share over classes"
    fig.update_yaxes(title=f"{label}<br>(percentage points)", rangemode="tozero")
    return tag(fig, "bars")

