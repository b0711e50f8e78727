"""Print layouts: each figure kind laid out for a journal column (88 mm) or the page width (180 mm).

The figure builders tag their figures with `layout.meta["paper"]` (kind and what the layout needs);
`paper_layout` lays a copy out in CSS pixels at the printed size: panel grid and aspect, font sizes,
legend and colour-bar places, tick labels that fit, and a height that follows from the width unless
one is given. What it had to shorten or drop is said in the returned notes (for the caption).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import plotly.graph_objects as go

MM_PER_INCH = 25.4
CSS_DPI = 96
SINGLE_MM, DOUBLE_MM = 88.0, 180.0
PAPER_FONT = "Times New Roman, Liberation Serif, Nimbus Roman, DejaVu Serif, serif"
TEXT_PX = 12  # 12 CSS px print as 9 pt
TICK_PX = 10  # 7.5 pt: the smallest size journals accept for tick labels
SMALL_PX = 9  # labels drawn on the data (mask chips)
LINE = 1.25  # line height in font sizes
LEGEND_ROW_PX = 20.0
MAX_CELL_PX = 44.0  # matrix cells (confusion, co-occurrence) print at most about 12 mm
MAX_HEIGHT_MM = 230.0  # a journal page's text height: taller figures lose panels (and say so)
# The explicit layouts place everything in page pixels: plotly must not grow margins for legends or colour bars.
NO_MARGIN = {"l": 0, "r": 0, "t": 0, "b": 0, "pad": 0, "autoexpand": False}
# Widths of characters in font sizes (Times-like serif), a little generous so estimates err on the safe side.
CHAR_EM = 0.52
NARROW_CHARS = frozenset(" .,:;|!'()[]ijlftr1")
WIDE_CHARS = frozenset("mw@%Δ■")


@dataclass(frozen=True)
class PaperLayout:
    """A figure laid out for print: the figure (layout size in CSS px), its size, and notes for the caption."""

    figure: go.Figure
    width: float
    height: float
    unit: str = "mm"
    notes: tuple[str, ...] = field(default=())


@dataclass
class _Page:
    """The page in CSS pixels, with helpers from pixels (from the top left) to paper fractions."""

    w: float
    h: float = 0.0

    def x(self, px: float) -> float:
        return px / self.w

    def y(self, px_from_top: float) -> float:
        return 1.0 - px_from_top / self.h


def text_px(text: object, size: float) -> float:
    """Estimated width in CSS px of one line of plotly text (tags and entities count as what they show)."""
    plain = re.sub(r"<[^>]+>", "", str(text))
    plain = re.sub(r"&#?\w+;", "x", plain)
    return sum(size * (0.8 if ch in WIDE_CHARS else 0.34 if ch in NARROW_CHARS else 0.72 if ch.isupper() else CHAR_EM)
               for ch in plain)


def lines_of(text: object) -> list[str]:
    """The lines of a plotly text (split at <br>)."""
    return re.split(r"<br\s*/?>", str(text))


def block_px(text: object, size: float) -> tuple[float, float]:
    """Estimated (width, height) in CSS px of a multi-line plotly text."""
    parts = lines_of(text)
    return max(text_px(p, size) for p in parts), len(parts) * size * LINE


def wrap(text: str, width_px: float, size: float) -> str:
    """`text` broken at spaces into lines of at most `width_px` (plotly <br>), keeping existing breaks."""
    out = []
    for line in lines_of(text):
        words, cur = line.split(" "), ""
        for word in words:
            trial = f"{cur} {word}".strip()
            if cur and text_px(trial, size) > width_px:
                out.append(cur)
                cur = word
            else:
                cur = trial
        out.append(cur)
    return "<br>".join(out)


def class_abbreviation(name: str) -> str:
    """A short class label: initials of a hyphenated name ("read-out-streak" -> "ROS"), short names as they are."""
    parts = [p for p in re.split(r"[-_ ]+", name) if p]
    if len(name) <= 6 or len(parts) < 2:
        return name
    return "".join(p[0] for p in parts).upper()


def mm_to_px(mm: float) -> float:
    """Millimetres to CSS pixels (96 per inch)."""
    return mm / MM_PER_INCH * CSS_DPI


def px_to_mm(px: float) -> float:
    """CSS pixels to millimetres."""
    return px * MM_PER_INCH / CSS_DPI


def paper_meta(fig: go.Figure) -> dict:
    """The print hints a builder left on the figure (`layout.meta["paper"]`), or {}."""
    meta = fig.layout.meta
    return dict(meta.get("paper", {})) if isinstance(meta, dict) else {}


def tag(fig: go.Figure, kind: str, **hints: object) -> go.Figure:
    """Mark `fig` as a figure of `kind` for `paper_layout`, with the hints its layout needs; returns `fig`."""
    meta = dict(fig.layout.meta) if isinstance(fig.layout.meta, dict) else {}
    meta["paper"] = {"kind": kind, **hints}
    fig.update_layout(meta=meta)
    return fig


# ---------------------------------------------------------------------------------------------------------
# The entry point


def paper_layout(fig: go.Figure, width: float, height: float | None = None, unit: str = "mm",
                 title: str | None = None, serif: bool = True) -> PaperLayout:
    """A copy of `fig` laid out for print at `width` (mm or px), white and serif, sized to read at that width.

    Args:
        fig: the figure as a builder made it (tagged with `tag`, or any plotly figure).
        width: printed width, in `unit`.
        height: printed height, in `unit`; None: what the figure kind needs at this width.
        unit: "mm" or "px" (CSS pixels).
        title: a title to print above the figure, or None (captions usually carry it).
        serif: serif fonts (journals) or the screen's sans-serif.

    Raises:
        ValueError: a unit other than "mm" or "px", or a width or height that is not positive.
    """
    if unit not in ("mm", "px"):
        raise ValueError(f"unit '{unit}': expected 'mm' or 'px'")
    if width <= 0 or (height is not None and height <= 0):
        raise ValueError(f"size {width} x {height} {unit}: width and height must be positive")
    to_px = mm_to_px if unit == "mm" else float
    out = go.Figure(fig)  # a copy: the page's figure stays as it is
    meta = paper_meta(out)
    page = _Page(round(to_px(width)), round(to_px(height)) if height is not None else 0.0)
    family = PAPER_FONT if serif else "Helvetica, Arial, sans-serif"
    _theme(out, family)
    top = _title_band(out, title, page)
    kind = KINDS.get(meta.get("kind", ""), _plain_layout)
    notes = kind(out, page, meta, top, height is not None)
    page.h = round(page.h)
    out.update_layout(width=page.w, height=page.h)
    if out.layout.showlegend:
        out.update_layout(legend=dict(y=page.y(top), yref="container", yanchor="top", x=page.x(2), xref="container",
                                      xanchor="left"))
    if title:
        out.update_layout(title=dict(text=title, font=dict(size=TEXT_PX + 1), x=0.5, xanchor="center",
                                     y=1, yref="container", yanchor="top", pad=dict(t=3)))
    out_height = height if height is not None else (px_to_mm(page.h) if unit == "mm" else page.h)
    return PaperLayout(out, float(width), float(out_height), unit, tuple(notes))


def _theme(out: go.Figure, family: str) -> None:
    """White, serif, black text at print sizes; axes framed with outside ticks, no grid."""
    out.update_layout(
        template="simple_white", paper_bgcolor="white", plot_bgcolor="white", title=None,
        font=dict(family=family, size=TEXT_PX, color="black"), uniformtext=None,
        legend=dict(font=dict(size=TICK_PX + 1), orientation="h", x=0, xanchor="left", yanchor="top",
                    yref="container", itemsizing="constant", tracegroupgap=0, itemwidth=30, title=dict(font=dict(size=TICK_PX + 1))),
    )
    # One layout update for every axis: per-axis update calls are slow in plotly's object model.
    axis = dict(showgrid=False, ticks="outside", ticklen=3, mirror=True, linecolor="black", automargin=False,
                title=dict(font=dict(size=TEXT_PX - 1), standoff=4), tickfont=dict(size=TICK_PX))
    names = [k for k in out.layout.to_plotly_json() if re.fullmatch(r"[xy]axis\d*", k)] or ["xaxis", "yaxis"]
    bare = {name for name in names if out.layout[name].ticks == "" and out.layout[name].showticklabels is False}
    out.update_layout({name: dict(axis, ticks="") if name in bare else axis for name in names})  # bare: sky maps
    out.update_traces(selector=dict(type="bar"), textfont=dict(size=TICK_PX - 1, family=family))
    if out.layout.annotations:
        out.update_annotations(font_family=family)


def _title_band(out: go.Figure, title: str | None, page: _Page) -> float:
    """Pixels at the top taken by the printed title (wrapped to the width)."""
    if not title:
        return 4.0
    return 6.0 + block_px(wrap(title, page.w - 8, TEXT_PX + 1), TEXT_PX + 1)[1]


def _legend_rows(names: Sequence[str], width: float, size: float = TICK_PX + 1) -> int:
    """How many rows a horizontal legend of `names` takes in `width` px."""
    rows, x = 1, 0.0
    for name in names:
        item = 40 + text_px(name, size)
        if x and x + item > width:
            rows, x = rows + 1, 0.0
        x += item
    return rows


def _legend_names(out: go.Figure) -> list[str]:
    if out.layout.showlegend is False:
        return []
    shown = [(t, getattr(t, "showlegend", False)) for t in out.data]
    return [t.name for t, show in shown if show is not False and t.name
            and (show is True or t.type not in ("heatmap", "image"))]


def _place_legend(out: go.Figure, page: _Page, top: float) -> float:
    """The legend in a band at `top` across the width; returns the band's bottom in px (`top` if none)."""
    names = _legend_names(out)
    if not names:
        out.update_layout(showlegend=False)
        return top
    # Print needs no legend title (the caption says what the swatches are: "class", "split"), unless the entries
    # carry numbers the title explains ("AP50 (%)"): then it leads the legend.
    title = out.layout.legend.title.text if out.layout.meta and paper_meta(out).get("legend_title") else None
    out.update_layout(showlegend=True, legend=dict(title=dict(text=title, side="left") if title else None,
                                                   bgcolor="rgba(0,0,0,0)", borderwidth=0))
    rows = _legend_rows(([f"{title}  "] if title else []) + names, page.w - 8)
    # `paper_layout` puts the legend's top at `top` once the height is known; plotly draws rows about 19 px
    # apart at this font size, plus a few px of padding.
    return top + rows * LEGEND_ROW_PX + 6


def _rotated_title(out: go.Figure, text: str, x_px: float, y_mid_px: float, page: _Page, size: float = TEXT_PX - 1,
                   name: str = "ytitle") -> None:
    out.add_annotation(text=text, x=page.x(x_px), y=page.y(y_mid_px), xref="paper", yref="paper", textangle=-90,
                       showarrow=False, xanchor="center", yanchor="middle", font=dict(size=size), name=name)


def _axis_titles(out: go.Figure, page: _Page, x_title: str, y_title: str, x0: float, x1: float, y0: float,
                 y1: float) -> None:
    """Axis titles as annotations: x at the page's foot under the plot (x0..x1), y at its left edge (y0..y1)."""
    if x_title:
        out.add_annotation(text=x_title, x=page.x((x0 + x1) / 2), y=page.y(page.h - 2), xref="paper", yref="paper",
                           showarrow=False, xanchor="center", yanchor="bottom", font=dict(size=TEXT_PX - 1),
                           name="xtitle")
    if y_title:
        width = (TEXT_PX - 1) * LINE * len(lines_of(y_title))
        _rotated_title(out, y_title, 3 + width / 2, (y0 + y1) / 2, page)


def _fit_y_title(text: str, length_px: float, size: float) -> str:
    """A y-axis title wrapped to fit the axis length (at most two lines; the caption can carry the rest)."""
    if text_px(text, size) <= length_px:
        return text
    return wrap(text, max(length_px, 40), size)


def _tick_fit(labels: Sequence[str], per_category: float, short: dict[str, str] | None,
              size: float = TICK_PX) -> tuple[list[str], float, bool]:
    """Category tick labels that fit `per_category` px: as they are, shortened, or rotated 45 degrees.

    Returns the labels, the angle, and whether they were shortened.
    """
    widest = max((block_px(label, size)[0] for label in labels), default=0.0)
    if widest <= per_category - 2:
        return list(labels), 0.0, False
    if short:
        shorter = [short.get(label, label) for label in labels]
        if max(block_px(s, size)[0] for s in shorter) <= per_category - 2:
            return shorter, 0.0, True
    one_line = [re.sub(r"<br\s*/?>", " ", label) for label in labels]
    return one_line, -45.0, False


def _tick_band(labels: Sequence[str], angle: float, size: float = TICK_PX) -> float:
    """Height in px of a band of x tick labels (below the axis, ticks included)."""
    if not labels:
        return 0.0
    if angle:
        widest = max(text_px(re.sub(r"<br\s*/?>", " ", s), size) for s in labels)
        turn = math.sin(math.radians(abs(angle)))
        return 5 + (widest + size) * turn
    return 12 + max(len(lines_of(s)) for s in labels) * size * 1.3  # plotly sets labels about 12 px below the axis


def _bar_values(out: go.Figure) -> np.ndarray:
    """Every bar height in the figure (NaN for gaps), for sizing the y tick labels."""
    parts = [np.asarray(pd.to_numeric(pd.Series(list(t.y)), errors="coerce"), np.float64)
             for t in out.data if t.type == "bar" and t.y is not None]
    return np.concatenate(parts) if parts else np.array([1.0])


def _y_tick_width(out: go.Figure, axis: go.layout.YAxis, values: np.ndarray) -> float:
    """Width of the y tick labels (estimated from the data's largest value and the axis format)."""
    top = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    fmt = axis.tickformat or ""
    label = f"{top:.0%}" if "%" in fmt else f"{top:,.0f}" if "," in fmt or top >= 10 else f"{top:.1f}"
    return text_px(label, TICK_PX) + 6


def _category_axis(out: go.Figure, axis_name: str, trace_axis: str, labels: list[str], new: list[str]) -> None:
    """Rename the categories of the traces on one x axis (`trace_axis` as traces name it, "x", "x2"...)."""
    mapping = dict(zip(labels, new))
    for t in out.data:
        if (getattr(t, "xaxis", None) or "x") == trace_axis and t.x is not None:
            t.x = [mapping.get(v, v) if v is not None else None for v in t.x]
    ax = out.layout[axis_name]
    if ax.categoryarray is not None:
        ax.categoryarray = [mapping.get(v, v) for v in ax.categoryarray]


def _categories(out: go.Figure, trace_axis: str = "x") -> list[str]:
    """The categories on an x axis, in order (the axis' category array, else first appearance)."""
    ax = out.layout["xaxis" if trace_axis == "x" else f"xaxis{trace_axis[1:]}"]
    if ax.categoryarray is not None:
        return list(ax.categoryarray)
    seen: dict[str, None] = {}
    for t in out.data:
        if (getattr(t, "xaxis", None) or "x") == trace_axis and t.x is not None:
            seen.update(dict.fromkeys(v for v in t.x if v is not None))
    return list(seen)


def _one_line(text: str) -> str:
    return re.sub(r"<br\s*/?>", " ", text)


def _short_note(long: Sequence[str], short: Sequence[str], what: str) -> str:
    pairs = [_one_line(lg) if _one_line(lg).startswith(s) else f"{s} {_one_line(lg)}"
             for lg, s in zip(long, short) if s != lg]
    return f"{what}: " + ", ".join(pairs) + "."


# ---------------------------------------------------------------------------------------------------------
# Kinds


def _bars_layout(out: go.Figure, page: _Page, meta: dict, top: float, fixed: bool) -> list[str]:
    """One bar chart: legend band on top, category labels that fit, value labels only where they fit."""
    notes: list[str] = []
    if not fixed:
        page.h = round(page.w * (0.72 if page.w < 500 else 0.48))
    body_top = _place_legend(out, page, top) + (8 if any(t.text is not None for t in out.data) else 2)
    ya, xa = out.layout.yaxis, out.layout.xaxis
    values = _bar_values(out)
    y_title, x_title = ya.title.text or "", xa.title.text or ""
    ya.title.text = xa.title.text = None  # drawn as annotations, placed from the layout's own sizes
    left = 8 + (TEXT_PX - 1) * LINE * 2 + _y_tick_width(out, ya, values)
    plot_w = page.w - left - 6
    labels = _categories(out)
    short = meta.get("short_x") or None
    new, angle, shortened = _tick_fit(labels, plot_w / max(len(labels), 1), short)
    if new != labels:
        _category_axis(out, "xaxis", "x", labels, new)
    if shortened:
        notes.append(_short_note(labels, new, meta.get("short_what", "Short labels")))
    xa.tickangle = angle
    x_title = wrap(x_title, plot_w, TEXT_PX - 1)
    bottom = _tick_band(new, angle) + ((TEXT_PX - 1) * LINE * len(lines_of(x_title)) + 4 if x_title else 2)
    plot_h = page.h - body_top - bottom
    # Value labels over the bars: only if each fits over its bar.
    with_text = [t for t in out.data if t.type == "bar" and t.text is not None and t.showlegend is not True]
    if with_text:
        group = len(with_text) if (out.layout.barmode or "group") == "group" else 1
        bar_px = plot_w / max(len(labels), 1) * (1 - (out.layout.bargap or 0.2)) / group
        widest = max(text_px(s, TICK_PX - 1) for t in with_text for s in t.text)
        if widest > bar_px + 2:
            for t in with_text:
                t.text = None
            notes.append("Values over the bars dropped at this width (they are in the table).")
        else:
            for t in with_text:
                t.constraintext = "none"  # one size for every value label (plotly would shrink some)
    _axis_titles(out, page, x_title, _fit_y_title(y_title, plot_h, TEXT_PX - 1), left, page.w - 6, body_top,
                 page.h - bottom)
    xa.domain = [page.x(left), page.x(page.w - 6)]
    ya.domain = [page.y(page.h - bottom), page.y(body_top)]
    out.update_layout(margin=NO_MARGIN)
    ya.nticks = 6
    return notes


def _fold_panels_layout(out: go.Figure, page: _Page, meta: dict, top: float, fixed: bool) -> list[str]:
    """Small multiples of bar panels (one per fold): a grid that fits the width, one shared y title and scale."""
    notes: list[str] = []
    n = int(meta.get("panels", 1))
    min_panel = 130.0
    cols = max(1, min(n, int((page.w - 50) // min_panel)))
    if n > cols and cols >= 2 and n % cols == 1 and n % (cols - 1) != 1:
        cols -= 1  # avoid a last row of one panel where a smaller column count fills rows better
    rows = math.ceil(n / cols)
    if cols < n:
        notes.append(f"The {n} panels wrap into {rows} rows of {cols} at this width.")
    gap_x = 6.0
    ytitle = meta.get("ytitle", "")
    values = _bar_values(out)
    tick_w = _y_tick_width(out, out.layout.yaxis, values)
    left = 6 + (TEXT_PX - 1) * LINE * 2 + tick_w
    panel_w = (page.w - left - 6 - gap_x * (cols - 1)) / cols
    labels = _categories(out)
    short = {c: class_abbreviation(re.sub(r"<[^>]+>", "", c)) for c in labels}
    new, angle, shortened = _tick_fit(labels, panel_w / max(len(labels), 1), short)
    if shortened:
        notes.append(_short_note(labels, new, "Classes"))
    band = _tick_band(new, angle)
    # Panel titles ("fold 0 · mean |Δ| 0.52 pp") break at the dot into two lines when one is too wide.
    titles = [a for a in out.layout.annotations if (a.yref or "paper") == "paper" and a.textangle is None]
    title_size = TICK_PX + (1 if panel_w > 140 else 0)
    two_lines = any(text_px(a.text, title_size) > panel_w - 4 for a in titles)
    if two_lines:
        for a in titles:
            a.text = a.text.replace(" · ", "<br>")
        notes.append("Panel titles break into two lines at this width.")
    title_h = title_size * LINE * (2 if two_lines else 1) + 3
    panel_h = panel_w * (0.62 if cols > 1 else 0.5)
    body_top = _place_legend(out, page, top) + 2
    if fixed:
        panel_h = max(30.0, (page.h - body_top - 4 - rows * (title_h + band + 4)) / rows)
    else:
        page.h = round(body_top + rows * (title_h + panel_h + band + 4) + 4)
    row_h = title_h + panel_h + band + 4
    axes: dict[str, dict] = {}
    for i in range(n):
        r, c = divmod(i, cols)
        suffix = "" if i == 0 else str(i + 1)
        if new != labels:
            _category_axis(out, f"xaxis{suffix}", f"x{suffix}", labels, new)
        x0 = left + c * (panel_w + gap_x)
        y0 = body_top + r * row_h + title_h
        axes[f"xaxis{suffix}"] = dict(domain=[page.x(x0), page.x(x0 + panel_w)], tickangle=angle,
                                      tickfont=dict(size=TICK_PX))
        axes[f"yaxis{suffix}"] = dict(domain=[page.y(y0 + panel_h), page.y(y0)], showticklabels=c == 0,
                                      title=dict(text=None), matches=None if i == 0 else "y", nticks=5)
        if i < len(titles):
            titles[i].update(x=page.x(x0 + panel_w / 2), y=page.y(y0 - 1), xanchor="center", yanchor="bottom",
                             yshift=0, font=dict(size=title_size))
    out.update_layout(axes)
    grid_mid = body_top + (page.h - body_top) / 2
    _rotated_title(out, _fit_y_title(ytitle, page.h - body_top - 10, TEXT_PX - 1), 4 + (TEXT_PX - 1) * LINE, grid_mid, page)
    out.update_layout(margin=NO_MARGIN, bargap=0.15, bargroupgap=0.0)
    return notes


def _nice_ticks(lo: float, hi: float, most: int = 4) -> list[float]:
    """At most `most` round tick values in [lo, hi] (steps of 1, 2, 2.5 or 5 times a power of ten)."""
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(most - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]
    ticks = [round(t, 12) for t in ticks if lo - 1e-12 <= t <= hi + 1e-12]
    if len(ticks) < 2 and most < 12:  # a step too coarse for the range (e.g. +-15 in steps of 20): finer
        return _nice_ticks(lo, hi, most + 1)
    return ticks


def _tick_text(values: Sequence[float], percent: bool) -> list[str]:
    """Labels for tick values with just enough decimals that no two read the same."""
    for decimals in range(0, 6):
        text = [f"{100 * v:.{decimals}f}%" if percent else f"{v:,.{decimals}f}" for v in values]
        if len(set(text)) == len(text):
            return text
    return [f"{v:.3g}" for v in values]


def _linear_colourbar_ticks(bar: go.layout.coloraxis.ColorBar | go.heatmap.ColorBar, lo: float, hi: float,
                            percent: bool, most: int) -> None:
    """Explicit round, distinct tick labels on a linear colour bar."""
    ticks = _nice_ticks(lo, hi, most)
    bar.tickvals = ticks
    bar.ticktext = _tick_text(ticks, percent)
    bar.tickformat = None
    bar.nticks = None


def _thin_log_ticks(bar: go.layout.coloraxis.ColorBar, most: int) -> None:
    """Keep at most `most` of a log colour bar's labelled ticks (evenly, ends kept)."""
    vals, text = list(bar.tickvals or []), list(bar.ticktext or [])
    if len(vals) > most:
        keep = sorted({round(i * (len(vals) - 1) / (most - 1)) for i in range(most)})
        bar.tickvals, bar.ticktext = [vals[i] for i in keep], [text[i] for i in keep]


def _heatmap_grid_layout(out: go.Figure, page: _Page, meta: dict, top: float, fixed: bool) -> list[str]:
    """Class x group maps: group columns and class rows at one column, the reverse at two; one bar per class."""
    notes: list[str] = []
    groups, classes = list(meta["groups"]), list(meta["classes"])
    frame_w, frame_h = meta["frame"]
    percent = meta.get("how") == "share"
    log = meta.get("scale") == "log"
    n_groups, n_classes = len(groups), len(classes)
    transpose = page.w < 500 and n_classes > n_groups  # one column: classes down the page
    rows, cols = (n_classes, n_groups) if transpose else (n_groups, n_classes)
    head = TICK_PX * LINE + 2  # column headings
    side = TICK_PX * LINE + 2  # row headings (rotated)
    tick_w = text_px(str(frame_h), TICK_PX) + 10  # label, its gap to the axis and to the row heading
    unit_w = (TEXT_PX - 1) * LINE + 2
    left = 4 + unit_w + side + tick_w
    gap = TICK_PX + 2.0  # room for the corner panel's end tick labels
    bar_title = meta.get("colour_title", "")
    if transpose:
        right = 4 + 9 + 4 + text_px("00.0%", TICK_PX) + 4 + (TEXT_PX - 1) * LINE
        panel = (page.w - left - right - gap * (cols - 1)) / cols
        bottom = 5 + TICK_PX * LINE + (TEXT_PX - 1) * LINE + 4
    else:
        right = 6.0
        panel = (page.w - left - right - gap * (cols - 1)) / cols
        bottom = 5 + TICK_PX * LINE + (TEXT_PX - 1) * LINE + 8 + 9 + 5 + TICK_PX * LINE + (TEXT_PX - 1) * LINE + 8
    body_top = top + head
    aspect = frame_h / frame_w
    kept = n_groups
    if fixed:
        panel = min(panel, (page.h - body_top - bottom - gap * (rows - 1)) / rows / aspect)
    elif transpose:  # classes down the page: no taller than a page
        panel = min(panel, (mm_to_px(MAX_HEIGHT_MM) - body_top - bottom - gap * (rows - 1)) / rows / aspect)
        page.h = round(body_top + rows * panel * aspect + gap * (rows - 1) + bottom)
    else:
        if not transpose:  # more group rows than a page holds: the first ones, and the notes say which are left out
            fit = max(1, int((mm_to_px(MAX_HEIGHT_MM) - body_top - bottom + gap) // (panel * aspect + gap)))
            if fit < n_groups:
                kept = rows = fit
                notes.append(f"Only the first {fit} of {n_groups} groups fit on a page at this width; left out: "
                             + ", ".join(groups[fit:]) + ".")
        page.h = round(body_top + rows * panel * aspect + gap * (rows - 1) + bottom)
    panel_h = panel * aspect
    out.layout.annotations = []
    axes: dict[str, dict] = {}  # one layout update for all panels (per-axis updates are slow in plotly)
    if kept < n_groups:
        hidden = {f"x{gi * n_classes + ci + 1}" for gi in range(kept, n_groups) for ci in range(n_classes)}
        out.data = [t for t in out.data if (t.xaxis or "x") not in hidden]
        for name in hidden:
            axes[f"xaxis{name[1:]}"] = dict(visible=False, domain=[0, 0.01])
            axes[f"yaxis{name[1:]}"] = dict(visible=False, domain=[0, 0.01], scaleanchor=None)
    groups = groups[:kept]
    for gi in range(kept):
        for ci in range(n_classes):
            n = gi * n_classes + ci + 1
            suffix = "" if n == 1 else str(n)
            r, c = (ci, gi) if transpose else (gi, ci)
            x0 = left + c * (panel + gap)
            y0 = body_top + r * (panel_h + gap)
            corner = r == rows - 1 and c == 0  # one labelled corner: all panels share the frame's axes
            common = dict(showticklabels=corner, ticklen=2, linecolor="#555555", tickfont=dict(size=TICK_PX), title=None)
            axes[f"xaxis{suffix}"] = dict(common, domain=[page.x(x0), page.x(x0 + panel)],
                                          tickvals=[0, frame_w // 2, frame_w])
            axes[f"yaxis{suffix}"] = dict(common, domain=[page.y(y0 + panel_h), page.y(y0)], scaleanchor=None,
                                          tickvals=[0, frame_h // 2, frame_h])
    out.update_layout(axes)
    grid_right = left + cols * panel + (cols - 1) * gap
    grid_bottom = body_top + rows * panel_h + (rows - 1) * gap
    col_names, row_names = (groups, classes) if transpose else (classes, groups)
    short_cols = [_heading(name, panel) for name in col_names]
    short_rows = [_heading(name, panel_h) for name in row_names]
    for long, short in ((col_names, short_cols), (row_names, short_rows)):
        if short != long:
            notes.append(_short_note(long, short, "Headings"))
    col_names, row_names = short_cols, short_rows
    for c, name in enumerate(col_names):
        out.add_annotation(text=name, x=page.x(left + c * (panel + gap) + panel / 2), y=page.y(body_top - 2),
                           xref="paper", yref="paper", showarrow=False, xanchor="center", yanchor="bottom",
                           font=dict(size=TICK_PX + 1))
    for r, name in enumerate(row_names):
        _rotated_title(out, name, left - tick_w - side / 2, body_top + r * (panel_h + gap) + panel_h / 2, page,
                       size=TICK_PX + 1, name="row")
    out.add_annotation(text="x (px)", x=page.x(left + panel / 2), y=page.y(grid_bottom + 4 + TICK_PX * LINE),
                       xref="paper", yref="paper", showarrow=False, xanchor="center", yanchor="top",
                       font=dict(size=TEXT_PX - 1))
    _rotated_title(out, "y (px)", 4 + unit_w / 2, grid_bottom - panel_h / 2, page)
    # One colour bar per class (its groups share the scale), beside its row or under its column.
    for ci in range(n_classes):
        axis = "coloraxis" if ci == 0 else f"coloraxis{ci + 1}"
        cax = out.layout[axis]
        bar = cax.colorbar
        bar.title.text = None
        bar.update(outlinewidth=0, thickness=9, tickfont=dict(size=TICK_PX), ticklen=2, ticks="outside",
                   xref="paper", yref="paper")
        if transpose:
            y0 = body_top + ci * (panel_h + gap)
            inset = TICK_PX * 0.7  # half a label above and below: neighbouring bars' end labels keep apart
            bar.update(orientation="v", x=page.x(grid_right + 4), xanchor="left", y=page.y(y0 + panel_h - inset),
                       yanchor="bottom", len=panel_h - 2 * inset, lenmode="pixels", xpad=0, ypad=0)
        else:
            x0 = left + ci * (panel + gap)
            inset = text_px("00.0%", TICK_PX) / 2  # half an end label each side
            bar.update(orientation="h", x=page.x(x0 + inset), xanchor="left", len=panel - 2 * inset, lenmode="pixels",
                       y=page.y(grid_bottom + 5 + TICK_PX * LINE + (TEXT_PX - 1) * LINE + 6), yanchor="top",
                       xpad=0, ypad=0)
        room = panel_h if transpose else panel  # a bar's length: short bars get fewer labels
        most = 4 if room > 90 else 3 if room > 60 else 2
        if log:
            _thin_log_ticks(bar, most)
        else:
            _linear_colourbar_ticks(bar, cax.cmin or 0.0, cax.cmax or 1.0, percent, most)
    if transpose:
        _rotated_title(out, f"{bar_title} (one scale per class)", page.w - 4 - (TEXT_PX - 1) * LINE / 2,
                       body_top + (grid_bottom - body_top) / 2, page, name="bartitle")
        out.layout.annotations[-1].textangle = 90
        notes.append("Classes run down the rows and groups across the columns at this width.")
    else:
        out.add_annotation(text=f"{bar_title} (one scale per class column)", x=page.x(left + (grid_right - left) / 2),
                           y=page.y(page.h - 4), xref="paper", yref="paper", showarrow=False, xanchor="center",
                           yanchor="bottom", font=dict(size=TEXT_PX - 1), name="bartitle")
    out.update_layout(margin=NO_MARGIN, showlegend=False)
    notes.append("Axes in detector pixels (y down); every panel shares the labelled corner panel's axes.")
    return notes


def _heading(name: str, room: float, size: float = TICK_PX + 1) -> str:
    """A panel heading that fits `room` px: as it is, else its name without the bracket ("UVW1 (291 nm)" -> "UVW1")
    or a class abbreviation ("read-out-streak" -> "ROS")."""
    if text_px(name, size) <= room - 4:
        return name
    short = name.split(" (")[0]
    return short if short != name else class_abbreviation(name)


def _image_grid_layout(out: go.Figure, page: _Page, meta: dict, top: float, fixed: bool) -> list[str]:
    """Frames in a grid with square pixels: as many per row as fit at 40 mm, a caption above each."""
    notes: list[str] = []
    n = int(meta.get("panels", 1))
    frame_w, frame_h = meta.get("frame", (1, 1))
    cols = max(1, min(n, int((page.w - 8) // mm_to_px(40))))
    rows = math.ceil(n / cols)
    if cols < n:
        notes.append(f"The {n} frames wrap into {rows} rows of {cols} at this width.")
    gap = 6.0
    body_top = _place_legend(out, page, top) + 2
    cap = TICK_PX * LINE + 2
    panel = (page.w - 8 - gap * (cols - 1)) / cols
    if fixed:
        panel = min(panel, (page.h - body_top - 4 - rows * cap - gap * (rows - 1)) / rows * frame_w / frame_h)
    panel_h = panel * frame_h / frame_w
    if not fixed:
        page.h = round(body_top + rows * (cap + panel_h) + gap * (rows - 1) + 4)
    left = (page.w - cols * panel - gap * (cols - 1)) / 2
    captions = [a for a in out.layout.annotations if (a.xref or "paper").startswith("paper")]
    for i in range(n):
        r, c = divmod(i, cols)
        suffix = "" if i == 0 else str(i + 1)
        x0 = left + c * (panel + gap)
        y0 = body_top + r * (cap + panel_h + gap) + cap
        xa, ya = out.layout[f"xaxis{suffix}"], out.layout[f"yaxis{suffix}"]
        xa.update(domain=[page.x(x0), page.x(x0 + panel)], range=[-0.5, frame_w - 0.5], visible=False)
        ya.update(domain=[page.y(y0 + panel_h), page.y(y0)], range=[frame_h - 0.5, -0.5], visible=False,
                  scaleanchor=None)
        if i < len(captions):
            text = captions[i].text
            size = TICK_PX if text_px(text, TICK_PX) <= panel else TICK_PX - 1
            captions[i].update(x=page.x(x0 + panel / 2), y=page.y(y0 - 1), xanchor="center", yanchor="bottom",
                               font=dict(size=size))
    out.update_layout(margin=NO_MARGIN)
    return notes


def _frame_ticks(side: int, plot_px: float) -> list[int]:
    """Pixel ticks of a frame side: halves in a small plot, quarters in a large one (0, 128, ... 512)."""
    parts = 4 if plot_px > 400 else 2
    return [i * side // parts for i in range(parts + 1)] if side % parts == 0 else [int(v) for v in _nice_ticks(0, side, parts + 1)]


def _overlay_layout(out: go.Figure, page: _Page, meta: dict, top: float, fixed: bool) -> list[str]:
    """One frame with pixel axes: square, as wide as the page allows; label chips re-placed at print size."""
    from xami_core.render.overlay import place_labels  # noqa: PLC0415 - the overlay module is heavy (OpenCV)

    notes: list[str] = []
    frame_w, frame_h = meta["frame"]
    body_top = _place_legend(out, page, top) + 4
    left = 6 + (TEXT_PX - 1) * LINE + text_px(str(frame_h), TICK_PX) + 6
    bottom = 5 + TICK_PX * LINE + (TEXT_PX - 1) * LINE + 4
    plot_w = page.w - left - 8
    if fixed:
        plot_w = min(plot_w, (page.h - body_top - bottom) * frame_w / frame_h)
    plot_h = plot_w * frame_h / frame_w
    if not fixed:
        page.h = round(body_top + plot_h + bottom)
    left = left + (page.w - left - 8 - plot_w) / 2
    xa, ya = out.layout.xaxis, out.layout.yaxis
    xa.update(domain=[page.x(left), page.x(left + plot_w)], range=[0, frame_w], constrain=None, nticks=None,
              tickvals=_frame_ticks(frame_w, plot_w), title=dict(text="x (px)"))
    ya.update(domain=[page.y(body_top + plot_h), page.y(body_top)], range=[frame_h, 0], constrain=None,
              scaleanchor=None, tickvals=_frame_ticks(frame_h, plot_h), title=dict(text="y (px)"))
    out.update_layout(margin=NO_MARGIN, dragmode=False)
    chips = meta.get("chips") or []
    out.layout.annotations = [a for a in out.layout.annotations if a.xref not in ("x", "x1")]
    if chips and plot_w < 400:
        notes.append("Annotation labels dropped at this width (too small to read); the legend names the classes.")
    elif chips:
        per_px = frame_w / plot_w
        size = SMALL_PX
        rects = [(int(math.ceil((text_px(t, size) + 6) * per_px)), int(math.ceil((size * LINE + 3) * per_px)), 0, 0)
                 for t, _, _ in chips]
        spots = place_labels(rects, [tuple(a) for _, _, a in chips], frame_w, frame_h)
        kept: list[tuple[float, float, float, float]] = []
        dropped = 0
        for (text, colour, _), (x, y), (cw, ch, _, _) in zip(chips, spots, rects):
            box = (x, y, x + cw, y + ch)
            if any(box[0] < k[2] and k[0] < box[2] and box[1] < k[3] and k[1] < box[3] for k in kept):
                dropped += 1
                continue
            kept.append(box)
            ink = "#000000" if sum(colour) > 380 else "#ffffff"
            out.add_annotation(x=x, y=y, xref="x", yref="y", text=text, showarrow=False, xanchor="left",
                               yanchor="top", font=dict(size=size, color=ink),
                               bgcolor=f"rgba({colour[0]},{colour[1]},{colour[2]},0.9)", bordercolor="black",
                               borderwidth=0.5, borderpad=1)
        if dropped:
            notes.append(f"{dropped} overlapping annotation label(s) dropped; the masks and legend still show them.")
    return notes


def _heatmap_layout(out: go.Figure, page: _Page, meta: dict, top: float, fixed: bool) -> list[str]:
    """One square map with a titled colour bar at its right, tick labels distinct."""
    frame_w, frame_h = meta["frame"]
    bar_title = meta.get("colour_title", "")
    title_lines = lines_of(wrap(bar_title, 0.8 * page.w, TEXT_PX - 1))
    right = 4 + 9 + 4 + text_px("00.0%", TICK_PX) + 4 + (TEXT_PX - 1) * LINE * len(title_lines) + 4
    left = 6 + (TEXT_PX - 1) * LINE + text_px(str(frame_h), TICK_PX) + 6
    bottom = 5 + TICK_PX * LINE + (TEXT_PX - 1) * LINE + 4
    body_top = top + 4
    plot_w = page.w - left - right
    if fixed:
        plot_w = min(plot_w, (page.h - body_top - bottom) * frame_w / frame_h)
    plot_h = plot_w * frame_h / frame_w
    if not fixed:
        page.h = round(body_top + plot_h + bottom)
    xa, ya = out.layout.xaxis, out.layout.yaxis
    xa.update(domain=[page.x(left), page.x(left + plot_w)], constrain=None, tickvals=_frame_ticks(frame_w, plot_w))
    ya.update(domain=[page.y(body_top + plot_h), page.y(body_top)], constrain=None, scaleanchor=None,
              tickvals=_frame_ticks(frame_h, plot_h))
    percent = meta.get("how") == "share"
    for t in out.data:
        if t.type != "heatmap":
            continue
        bar = t.colorbar
        bar.update(orientation="v", x=page.x(left + plot_w + 4), xanchor="left", y=page.y(body_top + plot_h),
                   yanchor="bottom", len=plot_h, lenmode="pixels", thickness=9, xpad=0, ypad=0, outlinewidth=0,
                   tickfont=dict(size=TICK_PX), ticks="outside", ticklen=2, xref="paper", yref="paper",
                   title=dict(text="<br>".join(title_lines), side="right", font=dict(size=TEXT_PX - 1)))
        if meta.get("scale") == "log":
            _thin_log_ticks(bar, 4)
        else:
            _linear_colourbar_ticks(bar, t.zmin if t.zmin is not None else 0.0, t.zmax if t.zmax is not None else 1.0,
                                    percent, 5 if plot_h > 300 else 4)
    out.update_layout(margin=NO_MARGIN, showlegend=False)
    return ["Axes in detector pixels (y down)."]


def _deviation_layout(out: go.Figure, page: _Page, meta: dict, top: float, fixed: bool) -> list[str]:
    """Fold x category cells with values: short column labels when long ones do not fit, bar at the right."""
    notes: list[str] = []
    heat = next(t for t in out.data if t.type == "heatmap")
    labels = [str(v) for v in heat.x]
    ylabels = [str(v) for v in heat.y]
    bar_title = meta.get("colour_title", "")
    right = 4 + 9 + 4 + text_px("+00", TICK_PX) + 4 + (TEXT_PX - 1) * LINE * len(lines_of(bar_title)) + 4
    left = 6 + max(text_px(s, TICK_PX) for s in ylabels) + 6
    plot_w = page.w - left - right
    short = meta.get("short_x") or {c: class_abbreviation(c) for c in labels}
    new, angle, shortened = _tick_fit(labels, plot_w / max(len(labels), 1), short)
    if shortened:
        notes.append(_short_note(labels, new, meta.get("short_what", "Classes")))
    heat.x = new
    xa, ya = out.layout.xaxis, out.layout.yaxis
    x_title = meta.get("x_title") or xa.title.text or ""
    x_title = wrap(x_title, plot_w, TEXT_PX - 1)
    bottom = _tick_band(new, angle) + (TEXT_PX - 1) * LINE * len(lines_of(x_title)) + 6
    cell_h = 22.0
    body_top = top + 4
    if not fixed:
        page.h = round(body_top + cell_h * len(ylabels) + bottom)
    plot_h = page.h - body_top - bottom
    xa.update(domain=[page.x(left), page.x(left + plot_w)], tickangle=angle, title=dict(text=x_title))
    ya.update(domain=[page.y(body_top + plot_h), page.y(body_top)], title=None)
    cell_w = plot_w / max(len(labels), 1)
    if text_px("+00.0", TICK_PX) > cell_w - 2:
        heat.texttemplate = None
        notes.append("Cell values dropped at this width (they are in the table).")
    heat.textfont = dict(size=TICK_PX)
    heat.colorbar.update(orientation="v", x=page.x(left + plot_w + 4), xanchor="left", y=page.y(body_top + plot_h),
                         yanchor="bottom", len=plot_h, lenmode="pixels", thickness=9, xpad=0, ypad=0,
                         tickfont=dict(size=TICK_PX), ticks="outside", ticklen=2, xref="paper", yref="paper", outlinewidth=0,
                         title=dict(text=bar_title, side="right", font=dict(size=TEXT_PX - 1)))
    _linear_colourbar_ticks(heat.colorbar, heat.zmin, heat.zmax, False, 5 if plot_h > 120 else 3)
    out.update_layout(margin=NO_MARGIN)
    return notes


def _thin_axis_ticks(axis: go.layout.XAxis, lo: float, hi: float, most: int) -> None:
    """At most `most` labelled ticks on a numeric axis: explicit ticks thinned evenly (round ones first), a dtick
    widened."""
    vals, text = list(axis.tickvals or []), list(axis.ticktext or [])
    if vals:
        inside = [(v, t) for v, t in zip(vals, text or vals) if lo - 1e-9 <= v <= hi + 1e-9]
        if len(inside) > most:
            decades = [(v, t) for v, t in inside if str(t).lstrip("0.,").startswith("1")]  # 1, 10, 100, 1,000...
            inside = decades if len(decades) >= 2 else inside
            if len(inside) > most:
                keep = sorted({round(i * (len(inside) - 1) / (most - 1)) for i in range(most)})
                inside = [inside[i] for i in keep]
        axis.tickvals, axis.ticktext = [v for v, _ in inside], [t for _, t in inside]
    elif axis.dtick is not None:
        step = float(axis.dtick)
        while math.floor(hi / step + 1e-9) - math.ceil(lo / step - 1e-9) + 1 > most:  # ticks at multiples of step
            step *= 2 if str(step).startswith(("1", "5")) else 2.5
        axis.dtick = step
    else:
        axis.nticks = most


def _histogram_panels_layout(out: go.Figure, page: _Page, meta: dict, top: float, fixed: bool) -> list[str]:
    """Histogram panels (one per class): a grid that fits the width, a few ticks per panel, shared axis titles."""
    notes: list[str] = []
    n = int(meta.get("panels", 1))
    min_panel = 118.0
    tick_w = text_px("100%", TICK_PX) + 6
    left = 6 + (TEXT_PX - 1) * LINE + 2
    cols = max(1, min(n, int((page.w - left - 6 + 6) // (min_panel + tick_w + 6))))
    rows = math.ceil(n / cols)
    cols = math.ceil(n / rows)  # rows as full as they can be (5 panels: 3 + 2, not 4 + 1)
    if cols < n:
        notes.append(f"The {n} panels wrap into {rows} rows of {cols} at this width.")
    gap_x = 8.0
    # Half of the widest x tick label past the last panel's edge (plotly hides labels that would leave the page).
    right = 4 + max([text_px(t, TICK_PX) / 2 for ax in out.select_xaxes() for t in (ax.ticktext or ())] + [8.0])
    panel_w = (page.w - left - right - cols * tick_w - gap_x * (cols - 1)) / cols
    titles = list(out.layout.annotations[:n])
    title_size = TICK_PX + 1
    for a in titles:  # the counts line of a title that does not fit is left to the caption
        head, *rest = lines_of(a.text)
        if rest and text_px(re.sub(r"<[^>]+>", "", rest[0]), TICK_PX) > panel_w - 2:
            a.text = head
        if text_px(head, title_size) > panel_w - 2:
            a.text = a.text.replace(head, class_abbreviation(head), 1)
    two_lines = any(len(lines_of(a.text)) > 1 for a in titles)
    title_h = title_size * LINE * (2 if two_lines else 1) + 3
    band = 12 + TICK_PX * 1.3
    x_title = meta.get("x_title", "")
    bottom = (TEXT_PX - 1) * LINE + 4
    body_top = _place_legend(out, page, top) + 2
    panel_h = panel_w * (0.75 if cols > 1 else 0.5)
    if fixed:
        panel_h = max(30.0, (page.h - body_top - bottom - rows * (title_h + band + 4)) / rows)
    else:
        page.h = round(body_top + rows * (title_h + panel_h + band + 4) + bottom)
    row_h = title_h + panel_h + band + 4
    most = max(2, int(panel_w // 34))
    # Panels without a range of their own share the bins' extent (plotly's autorange cut the last bar).
    extents = [_data_range(out, "x" if i == 0 else f"x{i + 1}") for i in range(n)]
    lo_all, hi_all = min(e[0] for e in extents), max(e[1] for e in extents)
    pad = 0.01 * (hi_all - lo_all)
    axes: dict[str, dict] = {}
    for i in range(n):
        r, c = divmod(i, cols)
        suffix = "" if i == 0 else str(i + 1)
        x0 = left + tick_w + c * (panel_w + tick_w + gap_x)
        y0 = body_top + r * row_h + title_h
        xa = out.layout[f"xaxis{suffix}"]
        if xa.range is None:
            xa.range = [lo_all - pad, hi_all + pad]
        lo, hi = xa.range
        _thin_axis_ticks(xa, lo, hi, most)
        axes[f"xaxis{suffix}"] = dict(domain=[page.x(x0), page.x(x0 + panel_w)], tickangle=0, title=dict(text=None),
                                      range=xa.range,
                                      tickvals=xa.tickvals, ticktext=xa.ticktext, dtick=xa.dtick, nticks=xa.nticks)
        axes[f"yaxis{suffix}"] = dict(domain=[page.y(y0 + panel_h), page.y(y0)], title=dict(text=None), nticks=4)
        if i < len(titles):
            titles[i].update(x=page.x(x0 + panel_w / 2), y=page.y(y0 - 1), xanchor="center", yanchor="bottom",
                             yshift=0, font=dict(size=title_size))
    out.layout.annotations = titles  # the axis titles are redrawn below
    out.update_layout(axes)
    grid_right = left + tick_w + cols * panel_w + (cols - 1) * (tick_w + gap_x)
    _axis_titles(out, page, wrap(x_title, grid_right - left, TEXT_PX - 1), "", left + tick_w, grid_right, 0, 0)
    y_title = meta.get("y_title", "")
    _rotated_title(out, _fit_y_title(y_title, page.h - body_top - bottom, TEXT_PX - 1), 4 + (TEXT_PX - 1) * LINE / 2,
                   body_top + (page.h - bottom - body_top) / 2, page)
    out.update_layout(margin=NO_MARGIN)
    return notes


def _data_range(out: go.Figure, trace_axis: str) -> tuple[float, float]:
    """The x extent of the bars on one axis (their left edges and widths)."""
    lo, hi = math.inf, -math.inf
    for t in out.data:
        if (getattr(t, "xaxis", None) or "x") == trace_axis and t.x is not None and len(t.x) and t.x[0] is not None:
            x = np.asarray(t.x, np.float64)
            w = np.asarray(t.width, np.float64) if t.width is not None else np.zeros_like(x)
            lo, hi = min(lo, float(np.nanmin(x))), max(hi, float(np.nanmax(x + w)))
    return (lo, hi) if np.isfinite(lo) else (0.0, 1.0)


def _matrices_layout(out: go.Figure, page: _Page, meta: dict, top: float, fixed: bool) -> list[str]:
    """Square class x class matrices (one per part) with one shared, titled colour bar: side by side on the page
    width, stacked in one column; class labels shortened when they do not fit."""
    notes: list[str] = []
    heats = [t for t in out.data if t.type == "heatmap"]
    n = len(heats)
    side_by_side = page.w >= 500 or n == 1
    cols, rows = (n, 1) if side_by_side else (1, n)
    xs, ys = [str(v) for v in heats[0].x], [str(v) for v in heats[0].y]
    bar_title = meta.get("colour_title", "")
    title_lines = lines_of(wrap(bar_title, 200, TEXT_PX - 1))
    right = 4 + 9 + 4 + text_px("100%", TICK_PX) + 4 + (TEXT_PX - 1) * LINE * len(title_lines) + 4
    short_x, short_y = meta.get("short_x") or {}, meta.get("short_y") or {}
    unit_w = (TEXT_PX - 1) * LINE + 4
    gap = 10.0

    def geometry(x_labels: list[str], y_labels: list[str]) -> tuple[float, float, float]:
        label_w = max(text_px(s, TICK_PX) for s in y_labels) + 10  # labels, tick and gap
        cell = (page.w - unit_w - right - cols * label_w - gap * (cols - 1)) / cols / len(x_labels)
        return label_w, cell, max(text_px(s, TICK_PX) for s in x_labels)

    label_w, cell, widest = geometry(xs, ys)
    if widest > cell * 1.9 or label_w > 0.3 * page.w / cols:
        xs2, ys2 = [short_x.get(s, s) for s in xs], [short_y.get(s, s) for s in ys]
        if (xs2, ys2) != (xs, ys):
            for t in heats:
                t.x, t.y = [short_x.get(str(v), str(v)) for v in t.x], [short_y.get(str(v), str(v)) for v in t.y]
            notes.append(meta.get("short_note", "Class labels shortened."))
            xs, ys = xs2, ys2
            label_w, cell, widest = geometry(xs, ys)
    free = cols * len(xs) * max(cell - MAX_CELL_PX, 0.0)  # cells stop growing: a matrix is not a poster
    cell = min(cell, MAX_CELL_PX)
    angle = 0.0 if widest <= cell - 2 else -45.0 if widest <= cell * 1.9 else -90.0
    turn = math.sin(math.radians(abs(angle)))
    band = 12 + TICK_PX * 1.3 if not angle else 6 + (widest + TICK_PX) * turn
    head = TICK_PX * LINE + 4
    panel_w = cell * len(xs)
    panel_h = cell * len(ys)
    body_top = top + 2
    x_title = meta.get("x_title", "")
    bottom = band + (TEXT_PX - 1) * LINE + 4
    if not fixed:
        page.h = round(body_top + rows * (head + panel_h) + (rows - 1) * (band + gap) + bottom)
    else:
        panel_h = min(panel_h, (page.h - body_top - bottom - (rows - 1) * (band + gap)) / rows - head)
    text_fits = text_px("100%", TICK_PX - 1) <= min(cell, panel_h / len(ys)) - 2
    titles = [a for a in out.layout.annotations if (a.yref or "paper") == "paper"][:n]
    axes: dict[str, dict] = {}
    for i, t in enumerate(heats):
        r, c = (0, i) if side_by_side else (i, 0)
        suffix = "" if i == 0 else str(i + 1)
        x0 = free / 2 + unit_w + label_w + c * (label_w + panel_w + gap)
        y0 = body_top + head + r * (head + panel_h + band + gap)
        axes[f"xaxis{suffix}"] = dict(domain=[page.x(x0), page.x(x0 + panel_w)], tickangle=angle, title=dict(text=None),
                                      showticklabels=side_by_side or i == n - 1, tickfont=dict(size=TICK_PX))
        axes[f"yaxis{suffix}"] = dict(domain=[page.y(y0 + panel_h), page.y(y0)], title=dict(text=None),
                                      showticklabels=True, tickfont=dict(size=TICK_PX))
        if i < len(titles):
            titles[i].update(x=page.x(x0 + panel_w / 2), y=page.y(y0 - 2), xanchor="center", yanchor="bottom",
                             yshift=0, font=dict(size=TICK_PX + 1))
        t.textfont = dict(size=TICK_PX if cell > 30 else TICK_PX - 1)
        if not text_fits:
            t.texttemplate = None
    if not text_fits:
        notes.append("Cell values dropped at this width (they are in the table).")
    out.layout.annotations = titles
    out.update_layout(axes)
    grid_top = body_top + head
    grid_bottom = grid_top + rows * panel_h + (rows - 1) * (head + band + gap)
    grid_right = free / 2 + unit_w + cols * (label_w + panel_w) + (cols - 1) * gap
    shared = heats[0].coloraxis is not None
    cax = out.layout[heats[0].coloraxis] if shared else heats[0]
    for t in heats[1:] if shared else heats[1:]:
        t.showscale = False
    if shared:
        lo, hi = cax.cmin, cax.cmax
    else:
        finite = np.asarray(heats[0].z, np.float64)
        lo = cax.zmin if cax.zmin is not None else float(np.nanmin(finite))
        hi = cax.zmax if cax.zmax is not None else float(np.nanmax(finite))
    cax.colorbar.update(orientation="v", x=page.x(grid_right + 4), xanchor="left", y=page.y(grid_bottom),
                        yanchor="bottom", len=grid_bottom - grid_top, lenmode="pixels", thickness=9, xpad=0, ypad=0,
                        outlinewidth=0, tickfont=dict(size=TICK_PX), ticks="outside", ticklen=2, xref="paper",
                        yref="paper", title=dict(text="<br>".join(title_lines), side="right",
                                                 font=dict(size=TEXT_PX - 1)))
    _linear_colourbar_ticks(cax.colorbar, lo or 0.0, hi if hi is not None else 1.0, meta.get("how") == "share",
                            5 if grid_bottom - grid_top > 120 else 3)
    _axis_titles(out, page, x_title, "", free / 2 + unit_w + label_w, grid_right, 0, 0)
    y_title = meta.get("y_title", "")
    if y_title:
        _rotated_title(out, _fit_y_title(y_title, grid_bottom - grid_top, TEXT_PX - 1), free / 2 + 3 + unit_w / 2,
                       (grid_top + grid_bottom) / 2, page)
    out.update_layout(margin=NO_MARGIN, showlegend=False)
    return notes


# Where a point's label may go, in the order tried: beside the point first, then above or below it.
LABEL_SPOTS = ("middle right", "middle left", "top center", "bottom center", "top right", "top left", "bottom right",
               "bottom left")


def _label_box(spot: str, px: float, py: float, radius: float, w: float, h: float) -> tuple[float, float, float, float]:
    """The box (x0, y0, x1, y1, px from the top left) plotly draws a point's text in at `spot`."""
    vertical, horizontal = spot.split(" ")
    if vertical == "middle":
        y0 = py - h / 2
        x0 = px + radius + 2 if horizontal == "right" else px - radius - 2 - w
    else:
        y0 = py - radius - 1 - h if vertical == "top" else py + radius + 1
        x0 = {"left": px - w, "center": px - w / 2, "right": px}[horizontal]
    return x0, y0, x0 + w, y0 + h


def _boxes_meet(a: tuple[float, ...], b: tuple[float, ...], pad: float = 1.0) -> bool:
    return a[0] < b[2] + pad and b[0] < a[2] + pad and a[1] < b[3] + pad and b[1] < a[3] + pad


def _labelled_points_layout(out: go.Figure, page: _Page, meta: dict, top: float, fixed: bool) -> list[str]:
    """A scatter of labelled points (fold methods): axis titles that fit, and each label re-placed at print size
    where it meets no other label, point or line label and stays inside the plot."""
    if not fixed:
        page.h = round(page.w * (0.72 if page.w < 500 else 0.5))
    xa, ya = out.layout.xaxis, out.layout.yaxis
    x_title, y_title = xa.title.text or "", ya.title.text or ""
    xa.title.text = ya.title.text = None
    body_top = top + 6
    y_ticks = _nice_ticks(*ya.range, 5)
    tick_w = max(text_px(f"{v:g}{ya.ticksuffix or ''}", TICK_PX) for v in y_ticks) + 6
    plot_h_guess = page.h - body_top - 40
    y_title = _fit_y_title(y_title, plot_h_guess, TEXT_PX - 1)
    left = 6 + (TEXT_PX - 1) * LINE * len(lines_of(y_title)) + tick_w
    right = page.w - 8
    x_title = wrap(x_title, right - left, TEXT_PX - 1)
    bottom = 12 + TICK_PX * 1.3 + (TEXT_PX - 1) * LINE * len(lines_of(x_title)) + 4
    x0, x1, y0, y1 = left, right, body_top, page.h - bottom
    xa.update(domain=[page.x(x0), page.x(x1)], tickvals=_nice_ticks(*xa.range, 5 if page.w < 500 else 7),
              nticks=None)
    ya.update(domain=[page.y(y1), page.y(y0)], tickvals=y_ticks, nticks=None)
    _axis_titles(out, page, x_title, y_title, x0, x1, y0, y1)

    def to_px(vx: float, vy: float) -> tuple[float, float]:
        (rx0, rx1), (ry0, ry1) = xa.range, ya.range
        return x0 + (vx - rx0) / (rx1 - rx0) * (x1 - x0), y1 - (vy - ry0) / (ry1 - ry0) * (y1 - y0)

    taken: list[tuple[float, float, float, float]] = []
    for a in out.layout.annotations:  # the balance limit's label, right-aligned over its line
        if a.yref == "y" and a.xref == "x domain":
            a.font.size = TICK_PX
            w, h = text_px(a.text, TICK_PX), TICK_PX * LINE
            _, ly = to_px(0, a.y)
            taken.append((x1 - w, ly - h, x1, ly))
    for t in out.data:
        if t.type != "scatter" or t.text is None or t.x is None:
            continue
        t.textfont.size = TICK_PX
        sizes = t.marker.size if isinstance(t.marker.size, (list, tuple)) else [t.marker.size or 8] * len(t.x)
        points = [to_px(vx, vy) + (sz / 2 + 1.5,) for vx, vy, sz in zip(t.x, t.y, sizes)]
        taken += [(px - r, py - r, px + r, py + r) for px, py, r in points]
        given = list(t.textposition) if isinstance(t.textposition, (list, tuple)) else [t.textposition] * len(t.x)
        placed = []
        for (px, py, r), text, first in zip(points, t.text, given):
            w, h = text_px(text, TICK_PX) + 2, TICK_PX * LINE
            boxes = [(spot, _label_box(spot, px, py, r, w, h)) for spot in (first, *LABEL_SPOTS)]
            fits = [(spot, b) for spot, b in boxes if b[0] >= x0 + 1 and b[2] <= x1 - 1 and b[1] >= y0 + 1
                    and b[3] <= y1 - 1 and not any(_boxes_meet(b, o) for o in taken
                                                   if not (o[0] <= px <= o[2] and o[1] <= py <= o[3]))]
            spot, box = fits[0] if fits else boxes[0]
            taken.append(box)
            placed.append(spot)
        t.textposition = placed
    out.update_layout(margin=NO_MARGIN, showlegend=False)
    return []


def _grouped_bars_layout(out: go.Figure, page: _Page, meta: dict, top: float, fixed: bool) -> list[str]:
    """Bars on a two-level axis (a group of bars per class, one bar per fold): fold labels under the bars, the class
    headings under them, shortened when they do not fit; value labels only where they fit over their bar."""
    notes: list[str] = []
    if not fixed:
        page.h = round(page.w * (0.72 if page.w < 500 else 0.45))
    bars = [t for t in out.data if t.type == "bar" and t.x is not None]
    two_level = bool(bars) and isinstance(bars[0].x[0], (list, tuple))
    groups = [str(t.x[0][0] if two_level else t.x[0]) for t in bars]
    inner = [str(v) for v in bars[0].x[1]] if two_level else [""]
    k = len(inner)
    step = k + 0.6  # a gap of 0.6 bar slots between groups
    ya, xa = out.layout.yaxis, out.layout.xaxis
    y_title, x_title = ya.title.text or "", meta.get("x_title", xa.title.text or "")
    ya.title.text = xa.title.text = None
    suffix = ya.ticksuffix or ""
    y_ticks = _nice_ticks(*ya.range, 5) if ya.range is not None else None
    tick_w = (max(text_px(f"{v:+g}{suffix}", TICK_PX) for v in y_ticks) if y_ticks else 40) + 6
    left = 8 + (TEXT_PX - 1) * LINE * 2 + tick_w
    plot_w = page.w - left - 6
    span = len(groups) * step - 0.6
    slot = plot_w / span  # px per bar slot
    positions = []
    for i, t in enumerate(bars):
        pos = [i * step + j for j in range(k)]
        t.x, t.width = pos, 0.8
        positions += pos
    headings = [_heading(g, slot * k + 0.6 * slot) for g in groups]
    if headings != groups:
        notes.append(_short_note(groups, headings, meta.get("short_what", "Classes")))
    fold_labels = two_level and text_px(max(inner, key=len), TICK_PX) <= slot - 2
    xa.update(type="linear", range=[-0.6, span - 0.4], tickvals=positions if fold_labels else [],
              ticktext=inner * len(groups) if fold_labels else [], tickangle=0, ticks="" if not fold_labels else "outside",
              showticklabels=fold_labels, domain=[page.x(left), page.x(page.w - 6)])
    if two_level and not fold_labels:
        notes.append(f"Bars in each group: {', '.join(inner)} from left to right.")
    fold_band = 12 + TICK_PX * 1.3 if fold_labels else 4
    head_h = (TICK_PX + 1) * LINE + 2
    x_title = wrap(x_title if fold_labels or not two_level else meta.get("group_title", x_title), plot_w, TEXT_PX - 1)
    bottom = fold_band + head_h + (TEXT_PX - 1) * LINE * len(lines_of(x_title)) + 4
    body_top = top + 4
    ya.update(domain=[page.y(page.h - bottom), page.y(body_top)], tickvals=y_ticks,
              ticktext=[(f"{v:+g}" if v else "0").replace("-", "−") + suffix for v in y_ticks] if y_ticks else None)
    for i, h in enumerate(headings):
        centre = left + ((i * step + (k - 1) / 2) + 0.6) / (span + 0.2) * plot_w
        out.add_annotation(text=h, x=page.x(centre), y=page.y(page.h - bottom + fold_band), xref="paper", yref="paper",
                           showarrow=False, xanchor="center", yanchor="top", font=dict(size=TICK_PX + 1), name="group")
    bar_px = slot * 0.8
    with_text = [t for t in bars if t.text is not None]
    if with_text:
        widest = max(text_px(v, TICK_PX - 1) for t in with_text for v in t.text)
        if widest > bar_px + 4:
            for t in with_text:
                t.text = None
            notes.append("Values over the bars dropped at this width (they are in the table).")
        else:
            for t in with_text:
                t.update(constraintext="none", textfont=dict(size=TICK_PX - 1))
    _axis_titles(out, page, x_title, _fit_y_title(y_title, page.h - bottom - body_top, TEXT_PX - 1), left,
                 page.w - 6, body_top, page.h - bottom)
    out.update_layout(margin=NO_MARGIN, showlegend=False, uniformtext=None)
    return notes


def _plain_layout(out: go.Figure, page: _Page, meta: dict, top: float, fixed: bool) -> list[str]:
    """Any other figure: legend band on top, margins that hold the tick labels, a few ticks per axis."""
    body_top = _place_legend(out, page, top) + 4
    if not fixed:  # the plot keeps its aspect; a legend band adds to the height
        page.h = round(page.w * (0.72 if page.w < 500 else 0.5) + body_top)
    has_axes = any(ax.visible is not False for ax in out.select_xaxes())
    out.update_layout(margin=dict(l=6, r=8, t=body_top, b=6) if has_axes else dict(l=4, r=4, t=body_top, b=4))
    out.update_xaxes(automargin=True, nticks=5 if page.w < 500 else 8)
    out.update_yaxes(automargin=True, nticks=6)
    out.update_traces(selector=dict(type="heatmap"), colorbar=dict(thickness=9, tickfont=dict(size=TICK_PX)))
    return []


KINDS: dict[str, Callable[[go.Figure, _Page, dict, float, bool], list[str]]] = {
    "bars": _bars_layout,
    "fold_panels": _fold_panels_layout,
    "heatmap_grid": _heatmap_grid_layout,
    "image_grid": _image_grid_layout,
    "overlay": _overlay_layout,
    "heatmap": _heatmap_layout,
    "deviation": _deviation_layout,
    "histogram_panels": _histogram_panels_layout,
    "matrices": _matrices_layout,
    "labelled_points": _labelled_points_layout,
    "grouped_bars": _grouped_bars_layout,
    "curves": _plain_layout,  # lines on numeric axes: the plain layout, with a legend title when the builder asks
}
