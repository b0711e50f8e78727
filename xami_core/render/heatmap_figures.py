"""Figures of the spatial heatmaps: one map, a difference map, and the authors' small multiples.

The maps come from `analysis.heatmaps` (a `HeatmapSet`); each figure draws them on pixel
axes of the data's own frame (or a given one), y down as in the image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from xami_core.analysis.heatmaps import (
    REST,
    Frame,
    HeatmapSet,
    cell_text,
    difference,
    display_classes,
    drawn_frame,
    method_label,
    normalised,
)
from xami_core.render.figures import plot_text
from xami_core.render.layout import tag

SCALES: dict[str, str] = {"linear": "linear", "log": "logarithmic"}


# Colour scales: perceptually uniform by default, the authors' white -> sky blue -> navy on request.
AUTHORS_BLUES = [[0.0, "#ffffff"], [0.5, "#87ceeb"], [1.0, "#000080"]]  # white, skyblue, navy


COLOURSCALES: dict[str, str | list] = {
    "viridis": "Viridis",
    "cividis": "Cividis",
    "authors' blues": AUTHORS_BLUES,
}


DIVERGING = "RdBu_r"  # red: more in the first group, blue: more in the second; white at 0


VALUE_LABELS: dict[str, str] = {"count": "annotations per cell", "share": "share of images", "max": "fraction of map maximum"}


FRAME_LINE = "#9a9a9a"
# A panel of the class x group grid is about 230 px wide on screen: it cannot show more cells than
# this a side, and a 512 x 512 grid of 35 panels would send tens of MB to the browser for nothing.
MAX_PANEL_CELLS = 128


def _value_label(how: str, diff: bool = False) -> str:
    label = VALUE_LABELS[how]
    return f"Δ {label}" if diff else label


def _format_value(v: float, how: str) -> str:
    if how == "share":
        return f"{100 * v:.3g}%"
    return f"{v:.3g}" if how == "max" else f"{v:,.0f}"


def _scaled(values: np.ndarray, scale: str) -> np.ndarray:
    """Values to plot (float32 keeps the figure small): zero cells blank (NaN), log10 on a log scale."""
    out = np.where(values > 0, values, np.nan)
    return (np.log10(out) if scale == "log" else out).astype(np.float32)


def _colourbar(vmax: float, vmin_pos: float, scale: str, how: str, title: str, **extra) -> dict:
    """A colour bar whose tick labels show data values (also on a log scale)."""
    bar: dict = {"title": {"text": title, "side": "right"}, "outlinewidth": 0, **extra}
    if scale == "log" and vmax > 0:
        lo, hi = np.floor(np.log10(vmin_pos)), np.ceil(np.log10(vmax))
        ticks = [v for e in np.arange(lo, hi + 1) for v in (10 ** e, 2 * 10 ** e, 5 * 10 ** e) if vmin_pos <= v <= vmax]
        ticks = ticks or [vmax]
        bar.update(tickvals=[float(t) for t in np.log10(ticks)], ticktext=[_format_value(t, how) for t in ticks])
    else:
        bar.update(tickformat={"share": ".0%", "max": ".1f", "count": ",d"}[how])
    return bar


def _range(values: np.ndarray, scale: str) -> tuple[float, float]:
    pos = values[values > 0]
    if pos.size == 0:
        return (0.0, 1.0)
    if scale == "log":
        lo, hi = float(np.log10(pos.min())), float(np.log10(pos.max()))
        return (lo, hi if hi > lo else lo + 1)
    return (0.0, float(pos.max()))


def _extremes(values: np.ndarray) -> tuple[float, float]:
    pos = values[values > 0]
    return (float(pos.max()), float(pos.min())) if pos.size else (1.0, 1.0)


def _quarter_ticks(side: int) -> list[int] | None:
    return [i * side // 4 for i in range(5)] if side % 4 == 0 else None


def _frame_axis_props(frame: tuple[int, int], titles: bool = True, ticks: bool = True) -> tuple[dict, dict]:
    """x and y axis settings for pixel axes 0..width and 0..height, y down like the image."""
    width, height = frame
    xa = {"range": [0, width], "constrain": "domain", "showgrid": False, "zeroline": False, "mirror": True,
          "showline": True, "linecolor": FRAME_LINE, "linewidth": 1, "ticks": "outside" if ticks else "",
          "tickvals": _quarter_ticks(width), "showticklabels": ticks, "tickfont": {"size": 11}}
    ya = dict(xa, range=[height, 0], tickvals=_quarter_ticks(height))
    if titles:
        xa["title"] = {"text": "x (px)"}
        ya["title"] = {"text": "y (px)"}
    return xa, ya


def _frame_axes(fig: go.Figure, frame: tuple[int, int], row: int | None = None, col: int | None = None,
                titles: bool = True, ticks: bool = True) -> None:
    """Pixel axes of the frame (width, height), y down like the image."""
    xa, ya = _frame_axis_props(frame, titles, ticks)
    fig.update_xaxes(**xa, row=row, col=col)
    fig.update_yaxes(**ya, row=row, col=col)


def _heatmap_trace(z: np.ndarray, frame: tuple[int, int], **kwargs) -> go.Heatmap:
    cw, ch = frame[0] / z.shape[1], frame[1] / z.shape[0]
    return go.Heatmap(z=z, x0=cw / 2, dx=cw, y0=ch / 2, dy=ch, hoverongaps=False, **kwargs)


def colourscale(name: str) -> str | list:
    """A named colour scale ("viridis", "cividis", "authors' blues").

    Raises:
        KeyError: an unknown name.
    """
    return COLOURSCALES[name]


def _square(fig: go.Figure, height: int, title: str) -> None:
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    fig.update_layout(title={"text": title, "font": {"size": 15}, "x": 0.01, "xanchor": "left"}, height=height,
                      margin={"l": 60, "r": 20, "t": 60, "b": 50}, plot_bgcolor="white", paper_bgcolor="white")


def heatmap_figure(hs: HeatmapSet, group: str, class_name: str, how: str = "share", scale: str = "linear",
                   colours: str = "viridis", frame_px: Frame | None = None, height: int = 640) -> go.Figure:
    """One large map with hover: the cell's pixels, annotations covering it, images covering it and their share.

    `frame_px`: the frame drawn (a side or (width, height)) in px; by default the data's own (`hs.frame`).

    Raises:
        ValueError: an unknown group, class or normalisation.
        KeyError: an unknown colour scale name.
    """
    frame = drawn_frame(hs, frame_px)
    g, c = hs.index(group, class_name)
    values = normalised(hs, how)[g, c]
    n = int(hs.n_images[g])
    share = hs.images[g, c] / n if n else np.zeros(values.shape)
    custom = np.stack([hs.counts[g, c], hs.images[g, c], share], axis=-1).astype(np.float32)
    zmin, zmax = _range(values, scale)
    vmax, vmin = _extremes(values)
    fig = go.Figure(_heatmap_trace(
        _scaled(values, scale), frame, customdata=custom, colorscale=colourscale(colours), zmin=zmin, zmax=zmax,
        colorbar=_colourbar(vmax, vmin, scale, how, _value_label(how)),
        hovertemplate=(f"pixel x %{{x:.0f}}, y %{{y:.0f}} (cell of {cell_text(hs, frame)})<br>"
                       "annotations covering: %{customdata[0]:,.0f}<br>"
                       f"images covered: %{{customdata[1]:,.0f}} of {n:,} (%{{customdata[2]:.1%}})<extra></extra>")))
    _frame_axes(fig, frame)
    scale_note = ", log scale" if scale == "log" else ""
    _square(fig, height, f"{plot_text(class_name)} · {plot_text(group)}: {VALUE_LABELS[how]}{scale_note}<br>"
                         f"<sup>{method_label(hs)}, {hs.grid} × {hs.grid} cells, "
                         f"{int(hs.n_annotations[g, c]):,} annotations in {n:,} images</sup>")
    return tag(fig, "heatmap", frame=list(frame), how=how, scale=scale, colour_title=_value_label(how))


def difference_figure(hs: HeatmapSet, class_name: str, group: str, other: str = REST, how: str = "share",
                      frame_px: Frame | None = None, height: int = 640) -> go.Figure:
    """Difference of normalised maps (group minus other) on a diverging scale centred on zero (frame: `heatmap_figure`).

    Raises:
        ValueError: an unknown group, class or normalisation.
    """
    frame = drawn_frame(hs, frame_px)
    c = hs.classes.index(class_name)
    values = difference(hs, group, other, how)[c]
    bound = float(np.abs(values).max()) or 1.0
    other_label = "all other images" if other == REST else plot_text(other)
    group_label = plot_text(group)  # names from the data, shown in plotly text below
    fig = go.Figure(_heatmap_trace(
        values.astype(np.float32), frame, colorscale=DIVERGING, zmid=0, zmin=-bound, zmax=bound,
        colorbar=_colourbar(bound, bound, "linear", how, f"{_value_label(how, diff=True)} ({group_label} − {other_label})"),
        hovertemplate=(f"pixel x %{{x:.0f}}, y %{{y:.0f}}<br>{group_label} − {other_label}: "
                       f"%{{z:{'.2%' if how == 'share' else '.3g'}}}<extra></extra>")))
    _frame_axes(fig, frame)
    _square(fig, height, f"{plot_text(class_name)}: {group_label} minus {other_label}<br>"
                         f"<sup>{VALUE_LABELS[how]}, {method_label(hs)}; red: more in {group_label}, "
                         f"blue: more in {other_label}</sup>")
    return tag(fig, "heatmap", frame=list(frame), how=how, scale="linear",
               colour_title=f"{_value_label(how, diff=True)}<br>({group_label} − {other_label})")


def small_multiples_figure(hs: HeatmapSet, how: str = "share", scale: str = "linear", colours: str = "viridis",
                           groups: Sequence[str] | None = None, classes: Sequence[str] | None = None,
                           frame_px: Frame | None = None, panel_px: int = 230) -> go.Figure:
    """Rows = groups, columns = classes (the authors' layout); one colour scale per class column (frame: `heatmap_figure`).

    Panels show at most `MAX_PANEL_CELLS` cells a side (block means of finer grids, see
    `panel_cells`), so the figure stays small in the browser at any grid; `heatmap_figure` draws
    one map at full resolution.

    Raises:
        ValueError: an unknown group, class or normalisation.
    """
    frame = drawn_frame(hs, frame_px)
    groups = list(groups or hs.groups)
    classes = list(classes or display_classes(hs.classes))
    values = panel_cells(normalised(hs, how))
    rows, cols = len(groups), len(classes)
    gap = 0.05 / max(rows, 1) + 0.25 / max(rows, 1) * 60 / panel_px
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.025, vertical_spacing=min(gap, 0.3 / max(rows - 1, 1)),
                        subplot_titles=[f"{plot_text(g)} · {plot_text(c)}" for g in groups for c in classes])
    for j, cls in enumerate(classes):
        c = hs.classes.index(cls)
        column = values[[hs.groups.index(g) for g in groups], c]
        zmin, zmax = _range(column, scale)
        vmax, vmin = _extremes(column)
        axis = "coloraxis" if j == 0 else f"coloraxis{j + 1}"
        # A horizontal colour bar under each class column: classes differ by orders of magnitude.
        fig.update_layout({axis: {
            "colorscale": colourscale(colours), "cmin": zmin, "cmax": zmax,
            "colorbar": _colourbar(vmax, vmin, scale, how, "", orientation="h", x=(j + 0.5) / cols, xanchor="center",
                                   len=0.85 / cols, y=0, yref="container", yanchor="bottom", ypad=18, thickness=10,
                                   tickfont={"size": 10}, nticks=4)}})
        for i, grp in enumerate(groups):
            g = hs.groups.index(grp)
            # On a log scale z holds log10 values, so hover reads the value from customdata.
            value = "customdata" if scale == "log" else "z"
            fig.add_trace(_heatmap_trace(_scaled(values[g, c], scale), frame, coloraxis=axis,
                                         customdata=values[g, c].astype(np.float32) if scale == "log" else None,
                                         hovertemplate=f"{plot_text(grp)} · {plot_text(cls)}<br>pixel x %{{x:.0f}}, y %{{y:.0f}}<br>"
                                                       f"{_value_label(how)}: %{{{value}:{'.1%' if how == 'share' else '.3g'}}}"
                                                       "<extra></extra>"),
                          row=i + 1, col=j + 1)
    # All panels' axes in one layout update: per-panel update calls grow with the square of the panels.
    fig.update_layout(_panel_axes(frame, rows, cols))
    fig.update_annotations(font={"size": 12})
    scale_note = ", log scale" if scale == "log" else ""
    fig.update_layout(title={"text": f"Colour: {VALUE_LABELS[how]}{scale_note} · {method_label(hs)} · "
                                     f"axes in px, y down", "font": {"size": 13}, "x": 0.0, "xanchor": "left",
                             "y": 1.0, "yanchor": "top", "yref": "container", "pad": {"t": 6}},
                      height=rows * panel_px + 140, margin={"l": 40, "r": 10, "t": 60, "b": 70},
                      plot_bgcolor="white", paper_bgcolor="white", showlegend=False)
    return tag(fig, "heatmap_grid", groups=[plot_text(g) for g in groups], classes=[plot_text(c) for c in classes],
               frame=list(frame), how=how, scale=scale, colour_title=f"{VALUE_LABELS[how]}{scale_note}")


def panel_cells(maps: np.ndarray, max_cells: int = MAX_PANEL_CELLS) -> np.ndarray:
    """Maps (..., grid, grid) at most `max_cells` a side: the mean of each square block of cells.

    A block mean keeps the map's values comparable (a share stays the share of images covering a
    pixel, averaged over the block); the grids are powers of two, so the blocks tile exactly.

    Returns:
        float64 array (..., grid / f, grid / f), f the smallest power of two that brings the side
        within `max_cells` (the maps themselves when they already fit).

    Raises:
        ValueError: the grid is not square or not a multiple of the block side.
    """
    rows, cols = maps.shape[-2:]
    factor = 1
    while max(rows, cols) // factor > max_cells:
        factor *= 2
    if factor == 1:
        return maps
    if rows != cols or rows % factor:
        raise ValueError(f"maps of {rows} x {cols} cells: expected a square grid divisible by {factor}")
    blocks = maps.reshape(*maps.shape[:-2], rows // factor, factor, cols // factor, factor)
    return blocks.mean(axis=(-3, -1))


def _panel_axes(frame: tuple[int, int], rows: int, cols: int) -> dict:
    """Layout entries for the pixel axes of a rows x cols grid of panels, square pixels, tick labels outside only."""
    xa, ya = _frame_axis_props(frame, titles=False, ticks=True)
    axes = {}
    for i in range(rows):
        for j in range(cols):
            n = i * cols + j + 1
            suffix = "" if n == 1 else str(n)
            # Tick labels on the outer panels only, as in a printed figure.
            axes[f"xaxis{suffix}"] = dict(xa, showticklabels=i == rows - 1)
            axes[f"yaxis{suffix}"] = dict(ya, showticklabels=j == 0, scaleanchor=f"x{suffix}", scaleratio=1)
    return axes
