"""Fold balance made readable beside sky-field leakage: a verdict per fold set, per-class train - valid
differences, and fold methods on both axes (class balance against leakage).

Differences of 0.1-0.5 percentage points are invisible on side-by-side share bars; the
difference chart draws them on their own scale, diverging around 0. Thresholds of the verdict
are stated in the sentence: a fold set is balanced when every fold's mean |train - valid| class
share (the authors' measure, `fold_balance.fold_balance`'s `authors_mean_diff`) is at most
`BALANCED_LIMIT_PP`, and leaks when any valid frame's field group (`analysis.leakage`) also has a
frame in train.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from xami_core.analysis.folds import PARTS
from xami_core.model import class_colour_hex
from xami_core.render.figures import base_layout, plot_text
from xami_core.render.fold_figures import METHOD_COLOURS, fold_name
from xami_core.render.layout import tag

BALANCED_LIMIT_PP = 1.0  # every fold's authors' mean |train - valid| share at most this (percentage points)
LINE = "#333333"
# Short names for points of the balance-against-leakage chart (the table carries the full labels).
SHORT_LABELS = {"published": "published split", "kfold": "K-fold", "stratified": "stratified (authors)",
                "multilabel": "multilabel", "stratified-group": "stratified group", "multilabel-group": "multilabel group",
                "files": "fold files"}
TRADEOFF_COLOURS = {**METHOD_COLOURS, "stratified-group": "#1F5F8B", "multilabel-group": "#3B5323"}


@dataclass(frozen=True)
class Verdict:
    """What a user should conclude about one fold set.

    balanced: every fold within `BALANCED_LIMIT_PP` (None when the balance is undefined: a part without annotations).
    leaking: some valid frame shares a field with train.
    text: the verdict as one markdown paragraph, with the numbers and thresholds it rests on.
    """

    balanced: bool | None
    leaking: bool
    text: str


def verdict_words(max_fold_diff: float, leak_share: float, limit_pp: float = BALANCED_LIMIT_PP) -> str:
    """A two-part verdict for a table cell: "balanced · no leakage", "not balanced · leaks", ...

    Args:
        max_fold_diff: the largest per-fold authors' mean |train - valid| share (a fraction; NaN: undefined).
        leak_share: the share of valid frames with a field in train (a fraction; NaN: no valid frames).
        limit_pp: the balance limit in percentage points.
    """
    balance = ("balance n/a" if not np.isfinite(max_fold_diff)
               else "balanced" if max_fold_diff * 100 <= limit_pp + 1e-12 else "not balanced")
    leak = "leakage n/a" if not np.isfinite(leak_share) else "leaks" if leak_share > 0 else "no leakage"
    return f"{balance} · {leak}"


def fold_verdict(balance: pd.DataFrame, leakage: pd.DataFrame, grouping: str,
                 limit_pp: float = BALANCED_LIMIT_PP) -> Verdict:
    """The verdict sentence of a fold set from its balance and leakage tables.

    Args:
        balance: `fold_balance.fold_balance` output (one row per fold).
        leakage: `leakage.fold_leakage` output for the same folds.
        grouping: how the field groups were made (`FieldGroups.label`, e.g. "same ObsID").
        limit_pp: the balance limit in percentage points (default `BALANCED_LIMIT_PP`).
    """
    diffs = balance["authors_mean_diff"].to_numpy(np.float64)
    n_folds = len(balance)
    if n_folds == 0 or not np.isfinite(diffs).all():
        balanced, balance_text = None, ("undefined: some part of a fold has no annotation, so it has no class "
                                        "shares")
    else:
        worst = int(np.argmax(diffs))
        balanced = bool(diffs[worst] * 100 <= limit_pp + 1e-12)
        fold = fold_name(int(balance["fold"].iloc[worst]), n_folds)
        if balanced:
            where = "the fold" if n_folds == 1 else f"every fold (largest: {fold})"
            balance_text = (f"the authors' mean |train − valid| class share is at most {diffs[worst] * 100:.2f} pp "
                            f"in {where}, within the {limit_pp:g} pp limit")
        else:
            balance_text = (f"the authors' mean |train − valid| class share reaches {diffs[worst] * 100:.2f} pp in "
                            f"{fold}, above the {limit_pp:g} pp limit")
        if n_folds > 1:
            balance_text += f" (mean over folds {np.mean(diffs) * 100:.2f} pp)"
    valid = int(leakage["valid_images"].sum())
    leaking_frames = int(leakage["valid_images_leaking"].sum())
    leaking = leaking_frames > 0
    if valid == 0:
        leak_text = "no fold has valid frames, so nothing can leak"
    elif leaking:
        shares = leakage["valid_share_leaking"].to_numpy(np.float64)
        worst = int(np.nanargmax(shares))
        folds_leaking = int((leakage["leaking_groups"] > 0).sum())
        worst_text = "" if n_folds == 1 else (f", in {folds_leaking} of {len(leakage)} folds (most: "
                                              f"{fold_name(int(leakage['fold'].iloc[worst]), len(leakage))}, "
                                              f"{shares[worst]:.1%})")
        leak_text = (f"{leaking_frames:,} of {valid:,} valid frames ({leaking_frames / valid:.1%}) share a field "
                     f"({grouping}) with train{worst_text}; a fold set that does not leak has 0")
    else:
        leak_text = f"no valid frame shares a field ({grouping}) with train"
    head = {None: "Balance undefined", True: "Balanced", False: "Not balanced"}[balanced]
    if leaking:
        head += " but leaking" if balanced else " and leaking"
    else:
        head += ", no leakage"
    return Verdict(balanced, leaking, f"**{head}.** Class balance: {balance_text}. Leakage: {leak_text}.")


def class_difference_figure(counts: pd.DataFrame, measure: str = "images", palette: str = "authors",
                            title: str | None = None) -> go.Figure:
    """Per class, a bar per fold: train share minus valid share, in percentage points, diverging around 0.

    The x axis has two levels, the class and under it the fold (one level for a single fold, the
    published split), so class names are tick labels rather than panel titles and every bar has the
    same width.

    Args:
        counts: `fold_balance.fold_class_counts` output.
        measure: "images" (shares of (image, class) pairs, the authors' measure) or "annotations".
        palette: a key of `model.PALETTES` (the bars take the class colours).
        title: an optional figure title.

    Raises:
        ValueError: an unknown measure.
    """
    if measure not in ("images", "annotations"):
        raise ValueError(f"measure must be 'images' or 'annotations', got {measure!r}")
    share = "image_share" if measure == "images" else "annotation_share"
    classes = list(dict.fromkeys(counts["class_name"]))
    folds = list(dict.fromkeys(counts["fold"]))
    wide = counts.pivot_table(index=["class_name", "fold"], columns="part", values=share, dropna=False,
                              sort=False).reindex(columns=list(PARTS))
    diff_pp = ((wide["train"] - wide["valid"]) * 100).reindex(pd.MultiIndex.from_product([classes, folds]))
    colours = class_colour_hex(palette, classes)
    what = "(image, class) pairs" if measure == "images" else "annotations"
    single = len(folds) == 1
    show_text = len(folds) <= 6
    fig = go.Figure()
    for cls in classes:
        y = diff_pp.loc[cls].to_numpy(np.float64)
        name = plot_text(cls)
        x = [name] if single else [[name] * len(folds), [str(f) for f in folds]]
        fig.add_bar(x=x, y=y, name=name, showlegend=False,
                    marker=dict(color=colours[cls], line=dict(color=LINE, width=0.8)),
                    text=[f"{v:+.2f}" if np.isfinite(v) else "n/a" for v in y] if show_text else None,
                    textposition="outside", cliponaxis=False, textfont=dict(size=11),
                    customdata=[fold_name(f, len(folds)) for f in folds],
                    hovertemplate=f"{name}, %{{customdata}}<br>train − valid share of {what}: %{{y:+.3f}} pp"
                                  "<extra></extra>")
    finite = diff_pp.to_numpy(np.float64)
    finite = finite[np.isfinite(finite)]
    # Symmetric around 0, with room for the labels; a floor keeps float noise from filling the chart.
    reach = max(float(np.abs(finite).max()) if len(finite) else 0.0, 0.05) * (1.35 if show_text else 1.1)
    base_layout(fig, title, height=360)
    fig.update_layout(barmode="relative", bargap=0.25)
    fig.update_yaxes(range=[-reach, reach], zeroline=True, zerolinecolor=LINE, zerolinewidth=1.5, ticksuffix=" pp",
                     title="train − valid share")  # of what: the page's caption and the hover say
    fig.update_xaxes(title="artefact class" if single else "fold, per artefact class", tickangle=0)
    return tag(fig, "grouped_bars", group_title="artefact class (bars: folds in order)")


def tradeoff_figure(table: pd.DataFrame, current: str | None = None, limit_pp: float = BALANCED_LIMIT_PP,
                    title: str | None = None) -> go.Figure:
    """Fold methods as points: leakage (share of valid frames with a field in train, %) against class balance
    (the authors' mean |train - valid| share, pp); the origin is best.

    Args:
        table: `fold_tradeoff.fold_set_tradeoff` / `method_tradeoff` output (one row per fold set).
        current: the `method` of the fold set the page shows, drawn with a ring (None: none).
        limit_pp: the balance limit drawn as a dashed line (percentage points).
        title: an optional figure title.
    """
    x = table["valid_share_leaking"].to_numpy(np.float64) * 100
    y = table["authors_mean_diff"].to_numpy(np.float64) * 100
    methods = table["method"].astype(str).tolist()
    is_current = [m == current for m in methods]
    fig = go.Figure()
    fig.add_scatter(
        x=x, y=y, mode="markers+text", name="fold methods", showlegend=False,
        text=[plot_text(SHORT_LABELS.get(m, m)) for m in methods], textposition=_label_positions(x, y),
        textfont=dict(size=12),
        marker=dict(size=[16 if c else 12 for c in is_current], color=[TRADEOFF_COLOURS.get(m, "#777777") for m in methods],
                    line=dict(color=[LINE if c else "white" for c in is_current], width=[3 if c else 1 for c in is_current])),
        customdata=np.stack([table["label"].map(plot_text).to_numpy(object),
                             table["js_divergence_bits"].to_numpy(np.float64),
                             table["valid_images_leaking"].to_numpy(np.int64)], axis=1) if len(table) else None,
        hovertemplate="%{customdata[0]}<br>leakage: %{x:.1f} % of valid frames (%{customdata[2]})"
                      "<br>mean |train − valid|: %{y:.2f} pp<br>Jensen-Shannon: %{customdata[1]:.5f} bits<extra></extra>",
    )
    top = max(float(np.nanmax(y)) if np.isfinite(y).any() else 0.0, limit_pp) * 1.15
    right = max(float(np.nanmax(x)) if np.isfinite(x).any() else 0.0, 5.0) * 1.08
    fig.add_hline(y=limit_pp, line=dict(color="#999999", width=1, dash="dash"),
                  annotation=dict(text=f"balance limit {limit_pp:g} pp", font=dict(size=11, color="#666666")),
                  annotation_position="top right")
    base_layout(fig, title, height=400)
    fig.update_xaxes(title="valid frames whose field is also in train (%)", range=[-right * 0.04, right],
                     ticksuffix=" %", zeroline=True, zerolinecolor="#bbbbbb")
    fig.update_yaxes(title="mean |train − valid| class share, authors (pp)", range=[0, top], rangemode="tozero")
    return tag(fig, "labelled_points")


def _label_positions(x: np.ndarray, y: np.ndarray) -> list[str]:
    """Text positions that keep labels apart and inside the chart: right of a point, left of it in the right
    half (a narrow printed figure has no room beyond it), and for two points close on both axes (e.g. every
    method without leakage, at 0 %) the lower label below and the upper above."""
    def span(v: np.ndarray) -> float:
        return max(float(np.nanmax(v)) - float(np.nanmin(v)), 1e-9) if np.isfinite(v).any() else 1.0

    xs, ys = np.nan_to_num(x) / span(x), np.nan_to_num(y) / span(y)
    top = float(np.nanmax(x)) if np.isfinite(x).any() else 0.0
    side = ["left" if top > 0 and v > 0.5 * top else "right" for v in np.nan_to_num(x)]
    out = [f"middle {s}" for s in side]
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            if abs(xs[i] - xs[j]) < 0.15 and abs(ys[i] - ys[j]) < 0.12:  # labels about 15 % wide, 10 % high
                low, high = (i, j) if ys[i] <= ys[j] else (j, i)
                out[low], out[high] = f"bottom {side[low]}", f"top {side[high]}"
    return out
