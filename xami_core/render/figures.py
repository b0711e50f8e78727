"""Plotly figures built from core tables; pages, exports and the batch command share them."""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from xami_core.model import class_colour_hex, filter_label, filter_name, filter_order, split_colour, split_order
from xami_core.render.layout import tag

SPLIT_PATTERNS = {"train": "", "valid": "/", "test": ".", "all": ""}
FONT = "Helvetica, Arial, sans-serif"

# The template object, looked up once: a template given by name is looked up and validated again for
# every figure (about a quarter of a small figure's build time); the figure's JSON is the same.
TEMPLATE = pio.templates["plotly_white"]

def plot_text(text: object) -> str:
    """Text from the data (a class, split, file or filter name) made literal for plotly's text.

    Plotly draws a subset of HTML (`<a href>`, `<b>`, `<br>`, entities) in names, tick labels, titles,
    hover and annotations, and fills `%{...}` placeholders in templates: `<`, `>` and `&` become
    entities and `%` becomes `&#37;` (plotly converts entities after filling templates), so the
    text shows as typed. Quotes stay: without `<` no attribute can open, and plotly has no `&quot;`.
    """
    return html.escape(str(text), quote=False).replace("%", "&#37;")


def base_layout(fig: go.Figure, title: str | None = None, height: int = 380) -> go.Figure:
    """A quiet layout: white background, light grid, legend on top."""
    fig.update_layout(
        template=TEMPLATE,
        title=title,
        height=height,
        margin=dict(l=60, r=20, t=50 if title else 30, b=60),
        font=dict(family=FONT, size=13),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
    )
    return fig


def class_distribution_figure(counts: pd.DataFrame, value: str = "annotations", palette: str = "authors",
                              title: str | None = None) -> go.Figure:
    """Bars per class, one bar per split (hatched for valid), in the class colours.

    Args:
        counts: `stats.class_counts` output.
        value: "annotations", "annotation share", "images" or "image share".
        palette: a key of `model.PALETTES` (classes outside XAMI's five: `model.class_colours`).
    """
    colours = class_colour_hex(palette, dict.fromkeys(counts["class_name"]))  # classes in the dataset's order
    fig = go.Figure()
    for split, part in counts.groupby("split", sort=False):
        shown = plot_text(split)
        fig.add_bar(
            x=[plot_text(c) for c in part["class_name"]], y=part[value], name=shown,
            marker=dict(color=[colours[c] for c in part["class_name"]],
                        line=dict(color="#333333", width=0.8),
                        pattern=dict(shape=SPLIT_PATTERNS.get(split, "x"), fgcolor="#333333", size=6)),
            hovertemplate=f"%{{x}}<br>{shown}: %{{y}}<extra></extra>",
            text=[f"{v:.1%}" if "share" in value else f"{v:,}" for v in part[value]],
            textposition="outside", cliponaxis=False, showlegend=False,
        )
        # A neutral legend entry per split: colour is the class, the hatch is the split.
        fig.add_bar(x=[None], y=[None], name=shown, showlegend=True, hoverinfo="skip",
                    marker=dict(color="#ffffff", line=dict(color="#333333", width=0.8),
                                pattern=dict(shape=SPLIT_PATTERNS.get(split, "x"), fgcolor="#333333", size=6)))
    base_layout(fig, title)
    fig.update_layout(barmode="group", bargap=0.25)
    fig.update_xaxes(title="artefact class")
    noun = {"annotation share": "annotations", "image share": "images"}.get(value, value)
    fig.update_yaxes(title=f"share of {noun} in the split" if "share" in value else f"number of {noun}",
                     tickformat=".0%" if "share" in value else ",")
    if "share" not in value:
        _whole_ticks(fig, counts[value])
    return tag(fig, "bars")


def filter_figure(per_filter: pd.DataFrame, value: str = "images", title: str | None = None) -> go.Figure:
    """Stacked bars per observation filter (ordered by wavelength), one segment per split."""
    def label(letter: str) -> str:
        return plot_text(filter_label(letter, sep="\n")).replace("\n", "<br>")  # an unknown letter is data

    order = filter_order(per_filter["filter_letter"])
    splits = split_order(per_filter["split"])
    fig = go.Figure()
    for split in splits:  # legend and stack in the conventional split order (train first)
        part = per_filter[per_filter["split"] == split]
        shown = plot_text(split)
        fig.add_bar(x=[label(f) for f in part["filter_letter"]], y=part[value], name=shown,
                    marker=dict(color=split_colour(split), line=dict(color="#333333", width=0.6)),
                    hovertemplate=f"%{{x}}<br>{shown}: %{{y:,}} {value}<extra></extra>")
    base_layout(fig, title)
    fig.update_layout(barmode="stack", legend_traceorder="normal")
    fig.update_xaxes(title="XMM-OM filter (effective wavelength)", categoryorder="array", categoryarray=[label(f) for f in order])
    fig.update_yaxes(title=f"number of {value}", tickformat=",")
    _whole_ticks(fig, per_filter[value])
    # In print, a narrow figure names the filters only; the wavelengths go into the caption.
    return tag(fig, "bars", short_x={label(f): plot_text(filter_name(f)) for f in order},
               short_what="Filters (effective wavelength)")


def _whole_ticks(fig: go.Figure, counts: pd.Series) -> None:
    """Counts have no halves: small ranges get a tick per unit instead of 0.5 steps."""
    if len(counts) and counts.max() <= 8:
        fig.update_yaxes(dtick=1)
