"""Figures of fold balance: train vs valid per class per fold, deviation heatmaps, K-fold vs stratified."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .figures import SPLIT_PATTERNS, base_layout
from .folds import METHOD_LABELS, PARTS
from .model import PALETTES, rgb_to_hex

MAX_COLUMNS = 5
# The authors' bar colours in their K-fold vs stratified K-fold figure (kf_skf_errors.png).
METHOD_COLOURS = {"kfold": "#C16FA3", "stratified": "#87CEEB", "multilabel": "#6B8E23", "published": "#555555",
                  "files": "#B8860B"}
LINE = "#333333"


def fold_name(fold: int, n_folds: int) -> str:
    """How a fold is labelled: "fold 0" (as in mskf_0), or "published split" for a single fold."""
    return "published split" if n_folds == 1 else f"fold {fold}"


def fold_class_figure(counts: pd.DataFrame, measure: str = "images", value: str = "share",
                      palette: str = "authors", fold_label: str | None = None) -> go.Figure:
    """Small multiples, one panel per fold: per class, train (solid) vs valid (hatched) bars.

    Args:
        counts: `folds.fold_class_counts` output.
        measure: "images" (images containing the class) or "annotations".
        value: "share" (of the part's (image, class) pairs or annotations) or "count".
        palette: a key of `model.PALETTES`.
        fold_label: panel title override for a single fold.
    """
    column = measure if value == "count" else ("image_share" if measure == "images" else "annotation_share")
    colours = {k: rgb_to_hex(v) for k, v in PALETTES[palette].items()}
    folds = list(dict.fromkeys(counts["fold"]))
    n = len(folds)
    cols = min(n, MAX_COLUMNS)
    rows = math.ceil(n / cols)
    titles = [fold_label or fold_name(f, n) for f in folds]
    fig = make_subplots(rows=rows, cols=cols, shared_yaxes=True, subplot_titles=titles,
                        horizontal_spacing=0.02 if cols > 1 else 0.0, vertical_spacing=0.22 / max(rows, 1) + 0.08)
    unit = "images with the class" if measure == "images" else "annotations"
    for i, fold in enumerate(folds):
        r, c = divmod(i, cols)
        for part in PARTS:
            sel = counts[(counts["fold"] == fold) & (counts["part"] == part)]
            y = sel[column].to_numpy(np.float64)
            fig.add_bar(
                x=sel["class_name"], y=y, name=part, legendgroup=part, showlegend=False,
                marker=dict(color=[colours.get(k, "#888888") for k in sel["class_name"]], line=dict(color=LINE, width=0.8),
                            pattern=dict(shape=SPLIT_PATTERNS.get(part, ""), fgcolor=LINE, size=5)),
                customdata=np.stack([sel["images"], sel["annotations"], sel["part_images"]], axis=1),
                hovertemplate=(f"{titles[i]}, {part}<br>%{{x}}<br>"
                               + ("share %{y:.1%}" if value == "share" else f"%{{y:,}} {unit}")
                               + "<br>%{customdata[0]} images with it, %{customdata[1]} annotations"
                               + "<br>%{customdata[2]} images in the part<extra></extra>"),
                row=r + 1, col=c + 1,
            )
    # Legend swatches in neutral grey: the bar colours are the classes, the pattern is the part.
    for part in PARTS:
        fig.add_bar(x=[None], y=[None], name=part, legendgroup=part,
                    marker=dict(color="#d9d9d9", line=dict(color=LINE, width=0.8),
                                pattern=dict(shape=SPLIT_PATTERNS.get(part, ""), fgcolor=LINE, size=5)),
                    row=1, col=1)
    base_layout(fig, height=max(340, 300 * rows + 60))
    fig.update_layout(barmode="group", bargap=0.2, bargroupgap=0.05, margin=dict(l=70, r=20, t=70, b=110),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0,
                                  title=dict(text="solid / hatched: ")))
    # Panel titles sit just above each panel; lift them clear of the legend row.
    fig.update_annotations(yshift=4, font=dict(size=14))
    fig.update_xaxes(tickangle=-40, tickfont=dict(size=11))
    ytitle = (f"share of the part's {'(image, class) pairs' if measure == 'images' else 'annotations'}"
              if value == "share" else ("images containing the class" if measure == "images" else "annotations"))
    fig.update_yaxes(tickformat=".0%" if value == "share" else ",", rangemode="tozero")
    for r in range(rows):
        fig.update_yaxes(title_text=ytitle, row=r + 1, col=1)
    return fig


def deviation_heatmap(deviation: pd.DataFrame, title: str | None = None, what: str = "class",
                      n_folds: int | None = None) -> go.Figure:
    """Fold x category heatmap of valid minus train share in percentage points, diverging around zero.

    Args:
        deviation: `folds.fold_deviation` or `folds.fold_filter_deviation` output (fractions).
        what: the column axis name ("class" or "filter").
    """
    z = deviation.to_numpy(np.float64) * 100.0
    n_folds = n_folds or len(deviation.index)
    ylabels = [fold_name(int(f), n_folds) for f in deviation.index]
    lim = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    lim = max(lim, 0.5)
    text = np.where(np.isnan(z), "", np.char.mod("%+.1f", np.nan_to_num(z)))
    fig = go.Figure(go.Heatmap(
        z=z, x=[str(c) for c in deviation.columns], y=ylabels, zmid=0.0, zmin=-lim, zmax=lim,
        colorscale="RdBu", text=text, texttemplate="%{text}", textfont=dict(size=12),
        colorbar=dict(title=dict(text="valid − train<br>(percentage<br>points)"), ticksuffix=""),
        hovertemplate="%{y}, %{x}<br>valid − train share: %{z:+.2f} percentage points<extra></extra>",
        xgap=2, ygap=2,
    ))
    base_layout(fig, title, height=max(220, 48 * len(ylabels) + 150))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="artefact class" if what == "class" else "XMM-OM filter (long to short wavelength)", side="bottom")
    return fig


def method_comparison_figure(table: pd.DataFrame, column: str = "authors_mean_diff", title: str | None = None) -> go.Figure:
    """Grouped bars per fold, one bar per method: the mean |train - valid| share difference (percentage points).

    Args:
        table: `folds.method_comparison` output.
        column: "authors_mean_diff" (the authors' figure) or "mean_abs_diff" (over classes only).
    """
    fig = go.Figure()
    for method, part in table.groupby("method", sort=False):
        y = part[column].to_numpy(np.float64) * 100.0
        fig.add_bar(x=[f"fold {f}" for f in part["fold"]], y=y, name=METHOD_LABELS.get(method, method),
                    marker=dict(color=METHOD_COLOURS.get(method, "#888888"), line=dict(color=LINE, width=0.6)),
                    text=[f"{v:.2f}" for v in y], textposition="outside", cliponaxis=False,
                    hovertemplate="%{x}<br>" + METHOD_LABELS.get(method, method)
                    + ": %{y:.3f} percentage points<extra></extra>")
    base_layout(fig, title, height=380)
    fig.update_layout(barmode="group", bargap=0.3)
    fig.update_xaxes(title="fold (k)")
    label = "mean |train − valid| class share" if column == "authors_mean_diff" else "mean |train − valid| share over classes"
    fig.update_yaxes(title=f"{label}<br>(percentage points)", rangemode="tozero")
    return fig

