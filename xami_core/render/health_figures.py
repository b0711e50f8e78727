"""Figures of the Health page: annotation statistics per class and part, class co-occurrence, the report summary.

Every builder takes the tidy tables of `analysis.annotation_stats` or a `health.HealthReport` and
returns a plotly Figure; the page shows them, the PDF summary renders one through `render.export`.
Classes keep their palette colours (the authors' by default); parts (train, valid) are told apart
by hatching, as in the other pages' bar charts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from xami_core.analysis.annotation_stats import ALL_CLASSES, LOG_MEASURES, MEASURES
from xami_core.analysis.health import HealthReport
from xami_core.model import class_colour_hex, split_order
from xami_core.render.export import ExportSize, render_figure
from xami_core.render.figures import SPLIT_PATTERNS, TEMPLATE, base_layout, plot_text
from xami_core.render.layout import class_abbreviation, tag

LINE = "#333333"
ALL_CLASSES_COLOUR = "#8c8c8c"  # the "all classes" panel: no class colour of its own
MAX_COLUMNS = 6  # panels per row; more classes wrap
VALUES = ("share", "count")
# How each measure is named on an axis (its unit from `MEASURES`).
MEASURE_LABELS: dict[str, str] = {
    "area": "instance area",
    "aspect_ratio": "box aspect ratio",
    "n_vertices": "polygon vertices",
    "centre_distance": "distance from the frame centre",
}
COOCCURRENCE_SCALE = [[0.0, "#f7fbff"], [0.5, "#6baed6"], [1.0, "#08306b"]]  # white to navy
A4_MM = (210.0, 297.0)
# Summary table fills: a check that found something, one that passed, a count that is not a problem.
FILL_FOUND, FILL_PASSED, FILL_COUNTED = "#fde2c4", "#e3f1e1", "#eceff3"


def measure_label(measure: str) -> str:
    """An axis title for a measure: name, unit, and "log axis" for the measures binned on a log scale.

    Raises:
        KeyError: `measure` is not one of `annotation_stats.MEASURES`.
    """
    unit = MEASURES[measure]
    log = ", log axis" if measure in LOG_MEASURES else ""
    return f"{MEASURE_LABELS[measure]} ({unit}{log})"


def _part_pattern(part: str) -> str:
    return SPLIT_PATTERNS.get(part, "x")


def _hatch_colour(fill: str) -> str:
    """Hatch lines that show on a bar of colour `fill` ("#rrggbb"): white on dark colours, dark on light ones."""
    r, g, b = (int(fill[i:i + 2], 16) for i in (1, 3, 5))
    return "#ffffff" if 0.2126 * r + 0.7152 * g + 0.0722 * b < 110 else LINE


def _number(value: float) -> str:
    """A bin edge or tick as text: whole numbers with thousands separators, small ones to three figures."""
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:.3g}"


def _part_legend(fig: go.Figure, parts: Sequence[str]) -> None:
    """One neutral legend entry per part: the colour is the class, the hatch the part."""
    for part in parts:
        fig.add_bar(x=[None], y=[None], name=f"{plot_text(part)} ({'hatched' if _part_pattern(part) else 'solid'})",
                    showlegend=True, hoverinfo="skip",
                    marker=dict(color="#ffffff", line=dict(color=LINE, width=0.8),
                                pattern=dict(shape=_part_pattern(part), fgcolor=LINE, size=6)))


def _panels(n: int, titles: list[str], shared_y: bool = False) -> tuple[go.Figure, int]:
    """A figure of `n` panels, wrapped at `MAX_COLUMNS`; returns it and the number of columns."""
    cols = max(1, min(n, MAX_COLUMNS))
    rows = max(1, math.ceil(n / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, shared_yaxes=shared_y,
                        horizontal_spacing=0.04 if cols > 3 else 0.08, vertical_spacing=0.22 / rows + 0.06)
    return fig, cols


def _shared_x_title(fig: go.Figure, text: str) -> None:
    """One x-axis title under all panels (a title per narrow panel runs into its neighbours')."""
    fig.add_annotation(text=text, x=0.5, y=0, xref="paper", yref="paper", xanchor="center", yanchor="top",
                       yshift=-30, showarrow=False, font=dict(size=14))


def _log_ticks(lo: float, hi: float) -> tuple[list[float], list[str]]:
    """Tick positions (log10) and labels at 1, 2, 5 x 10^k between 10^lo and 10^hi."""
    values = [m * 10.0**k for k in range(math.floor(lo), math.ceil(hi) + 1) for m in (1, 2, 5)]
    values = [v for v in values if lo - 1e-9 <= math.log10(v) <= hi + 1e-9]
    if len(values) > 8:  # a wide range: decades only
        values = [v for v in values if math.isclose(math.log10(v), round(math.log10(v)))]
    return [math.log10(v) for v in values], [_number(v) for v in values]


def measure_figure(binned: pd.DataFrame, measure: str, value: str = "share", palette: str = "authors",
                   classes: Sequence[str] | None = None, height: int | None = None) -> go.Figure:
    """Histograms of one measure, one panel per class, one hatched or solid bar per part and bin.

    Args:
        binned: `annotation_stats.binned_counts` output for `measure` (bins shared by every panel).
        measure: one of `annotation_stats.MEASURES`; the log-binned ones get a log x axis.
        value: "share" (of the class's instances in the part, so parts of different sizes compare)
            or "count" (instances).
        palette: a key of `model.PALETTES`.
        classes: the dataset's class list, for the colours of classes outside XAMI's five (default:
            the table's classes in their order).
        height: figure height in px (default from the number of panel rows).

    Raises:
        ValueError: `value` is not one of `VALUES`, or `measure` is not one of `MEASURES`.
    """
    if value not in VALUES:
        raise ValueError(f"value must be one of {VALUES}, got {value!r}")
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {list(MEASURES)}, got {measure!r}")
    names = list(dict.fromkeys(binned["class_name"]))
    colours = class_colour_hex(palette, classes if classes is not None else names)
    parts = split_order(binned["part"].unique())
    log = measure in LOG_MEASURES
    lo_edge, hi_edge = binned["lo"].to_numpy(np.float64), binned["hi"].to_numpy(np.float64)
    if log:
        lo_edge, hi_edge = np.log10(lo_edge), np.log10(hi_edge)
    table = binned.assign(x_lo=lo_edge, x_hi=hi_edge)
    totals = table.groupby(["part", "class_name"])["count"].transform("sum").to_numpy(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["share"] = np.where(totals > 0, table["count"] / np.where(totals > 0, totals, 1), 0.0)
    per_class = table.groupby(["part", "class_name"])["count"].sum()
    titles = [f"{plot_text(c)}<br><span style='font-size:0.85em'>"
              + " · ".join(f"{plot_text(p)} {int(per_class.get((p, c), 0)):,}" for p in parts) + "</span>"
              for c in names]
    fig, cols = _panels(len(names), titles)
    unit = MEASURES[measure]
    for i, name in enumerate(names):
        row, col = i // cols + 1, i % cols + 1
        fill = colours.get(name, ALL_CLASSES_COLOUR)
        for j, part in enumerate(parts):
            rows = table[(table["class_name"] == name) & (table["part"] == part)]
            width = (rows["x_hi"] - rows["x_lo"]).to_numpy() / len(parts)
            lo_text = [_number(v) for v in rows["lo"]]
            hi_text = [_number(v) for v in rows["hi"]]
            fig.add_bar(
                x=rows["x_lo"].to_numpy() + width * j, y=rows[value], width=width * 0.94, offset=0,
                name=plot_text(part), showlegend=False,
                marker=dict(color=fill, line=dict(color=LINE, width=0.4),
                            pattern=dict(shape=_part_pattern(part), fgcolor=_hatch_colour(fill), size=5)),
                customdata=np.stack([lo_text, hi_text, rows["count"].to_numpy()], axis=1) if len(rows) else None,
                hovertemplate=(f"{plot_text(name)} · {plot_text(part)}<br>%{{customdata[0]}}–%{{customdata[1]}} "
                               f"{unit}<br>%{{customdata[2]:,}} instances"
                               + (" (%{y:.1%} of the class)" if value == "share" else "") + "<extra></extra>"),
                row=row, col=col,
            )
    _part_legend(fig, parts)
    n_rows = math.ceil(len(names) / cols) if names else 1
    base_layout(fig, height=height or 170 + 230 * n_rows)
    fig.update_layout(barmode="overlay", bargap=0, margin=dict(l=60, r=20, t=90, b=60),
                      legend=dict(y=1.0, yanchor="top", yref="container"))
    if log and len(table):
        ticks, text = _log_ticks(float(np.nanmin(lo_edge)), float(np.nanmax(hi_edge)))
        fig.update_xaxes(tickvals=ticks, ticktext=text)
    fig.update_xaxes(showgrid=False)
    fig.update_yaxes(tickformat=".0%" if value == "share" else ",", rangemode="tozero")
    _shared_x_title(fig, measure_label(measure))
    for i in range(len(names)):
        row, col = i // cols + 1, i % cols + 1
        if col == 1:
            fig.update_yaxes(title_text="share of the class" if value == "share" else "instances", row=row, col=col)
    return tag(fig, "histogram_panels", panels=len(names), x_title=measure_label(measure),
               y_title="share of the class" if value == "share" else "instances")


def instances_figure(table: pd.DataFrame, value: str = "share", palette: str = "authors",
                     classes: Sequence[str] | None = None, height: int | None = None) -> go.Figure:
    """Images holding k instances, per class (and of all classes together), one bar per part and k.

    Args:
        table: `annotation_stats.instances_per_image` output.
        value: "share" (of the part's images) or "count" (images).
        palette: a key of `model.PALETTES`.
        classes: the dataset's class list, for colours (default: the table's classes in their order).
        height: figure height in px (default from the number of panel rows).

    Raises:
        ValueError: `value` is not one of `VALUES`.
    """
    if value not in VALUES:
        raise ValueError(f"value must be one of {VALUES}, got {value!r}")
    column = "share" if value == "share" else "images"
    names = [c for c in dict.fromkeys(table["class_name"]) if c != ALL_CLASSES] + [ALL_CLASSES]
    colours = class_colour_hex(palette, classes if classes is not None else names[:-1])
    parts = split_order(table["part"].unique())
    fig, cols = _panels(len(names), [plot_text(n) for n in names])
    for i, name in enumerate(names):
        row, col = i // cols + 1, i % cols + 1
        fill = colours.get(name, ALL_CLASSES_COLOUR)
        for j, part in enumerate(parts):
            rows = table[(table["class_name"] == name) & (table["part"] == part)]
            fig.add_bar(
                x=rows["instances"].to_numpy() - 0.5 + j / len(parts), y=rows[column], width=0.94 / len(parts),
                offset=0, name=plot_text(part), showlegend=False,
                marker=dict(color=fill, line=dict(color=LINE, width=0.4),
                            pattern=dict(shape=_part_pattern(part), fgcolor=_hatch_colour(fill), size=5)),
                customdata=np.stack([rows["instances"], rows["images"], rows["share"]], axis=1) if len(rows) else None,
                hovertemplate=(f"{plot_text(name)} · {plot_text(part)}<br>%{{customdata[1]:,}} images with "
                               "%{customdata[0]} instances (%{customdata[2]:.1%} of the part)<extra></extra>"),
                row=row, col=col,
            )
    _part_legend(fig, parts)
    n_rows = math.ceil(len(names) / cols)
    base_layout(fig, height=height or 150 + 230 * n_rows)
    fig.update_layout(barmode="overlay", bargap=0, margin=dict(l=60, r=20, t=80, b=60),
                      legend=dict(y=1.0, yanchor="top", yref="container"))
    fig.update_xaxes(showgrid=False, tickformat="d")
    fig.update_yaxes(tickformat=".0%" if value == "share" else ",", rangemode="tozero")
    _shared_x_title(fig, "instances in the image")
    for i, name in enumerate(names):
        row, col = i // cols + 1, i % cols + 1
        shown = table.loc[(table["class_name"] == name) & (table["images"] > 0), "instances"]
        top = int(shown.max()) if len(shown) else 1
        step = next((d for d in (1, 2, 5, 10, 20, 50, 100) if top / d <= 8), 200)  # whole instances, at most 9 ticks
        fig.update_xaxes(range=[-0.7, top + 0.7], tick0=0, dtick=step, row=row, col=col)
        if col == 1:
            fig.update_yaxes(title_text="share of images" if value == "share" else "images", row=row, col=col)
    return tag(fig, "histogram_panels", panels=len(names), x_title="instances in the image",
               y_title="share of images" if value == "share" else "images")


def class_tick(name: str, colour: str) -> str:
    """A class name as an axis label (plotly text) led by a chip of its colour."""
    return f"<span style='color:{colour}'>■</span> {plot_text(name)}"


def cooccurrence_figure(table: pd.DataFrame, value: str = "share", palette: str = "authors",
                        classes: Sequence[str] | None = None, height: int = 420) -> go.Figure:
    """Class co-occurrence in frames, one heatmap per part: rows "frames with class a", columns "also hold class b".

    The diagonal (a frame holding its own class) is left blank: its count is in the row label.

    Args:
        table: `annotation_stats.class_cooccurrence` output.
        value: "share" (P(class b in the frame | class a in it)) or "count" (frames holding both).
        palette: a key of `model.PALETTES` (the colour chips of the axis labels).
        classes: the dataset's class list (default: the table's classes in their order).
        height: figure height in px.

    Raises:
        ValueError: `value` is not one of `VALUES`.
    """
    if value not in VALUES:
        raise ValueError(f"value must be one of {VALUES}, got {value!r}")
    names = list(dict.fromkeys(table["class_a"]))
    colours = class_colour_hex(palette, classes if classes is not None else names)
    parts = split_order(table["part"].unique())
    fig, _ = _panels(max(1, len(parts)), [plot_text(p) for p in parts] or [""])
    column = "share" if value == "share" else "frames"
    peak = table.loc[table["class_a"] != table["class_b"], column].max() if len(table) else 0
    peak = 1.0 if value == "share" else max(1.0, float(peak if peak == peak else 0))
    short_x: dict[str, str] = {}  # print labels: class initials (the layout uses them where the names do not fit)
    short_y: dict[str, str] = {}
    for i, part in enumerate(parts):
        rows = table[table["part"] == part]
        grid = rows.pivot(index="class_a", columns="class_b", values=column).reindex(index=names, columns=names)
        frames = rows.pivot(index="class_a", columns="class_b", values="frames").reindex(index=names, columns=names)
        with_a = rows.drop_duplicates("class_a").set_index("class_a")["frames_a"].reindex(names).fillna(0).astype(int)
        z = grid.to_numpy(np.float64, copy=True)
        np.fill_diagonal(z, np.nan)
        text = [["" if a == b or not np.isfinite(z[r, c]) else (f"{z[r, c]:.0%}" if value == "share" else f"{z[r, c]:,.0f}")
                 for c, b in enumerate(names)] for r, a in enumerate(names)]
        custom = np.dstack([np.asarray(frames.fillna(0).to_numpy(), dtype=np.int64),
                            np.repeat(with_a.to_numpy()[:, None], len(names), axis=1)])
        y_labels = [f"{class_tick(a, colours.get(a, ALL_CLASSES_COLOUR))} ({with_a[a]:,})" for a in names]
        x_labels = [class_tick(b, colours.get(b, ALL_CLASSES_COLOUR)) for b in names]
        for a, x, y in zip(names, x_labels, y_labels):
            short_x[x] = class_tick(class_abbreviation(a), colours.get(a, ALL_CLASSES_COLOUR))
            short_y[y] = f"{short_x[x]} ({with_a[a]:,})"
        fig.add_heatmap(
            z=z, x=x_labels, y=y_labels, text=text, texttemplate="%{text}", customdata=custom,
            coloraxis="coloraxis", xgap=2, ygap=2,
            hovertemplate=(f"{plot_text(part)}: of %{{customdata[1]:,}} frames with %{{y}},<br>%{{customdata[0]:,}} "
                           "also hold %{x}" + (" (%{z:.1%})" if value == "share" else "") + "<extra></extra>"),
            row=1, col=i + 1,
        )
    base_layout(fig, height=height)
    fig.update_layout(
        coloraxis=dict(colorscale=COOCCURRENCE_SCALE, cmin=0, cmax=peak,
                       colorbar=dict(title=dict(text="share" if value == "share" else "frames", side="right"),
                                     tickformat=".0%" if value == "share" else ",", thickness=12)),
        margin=dict(l=60, r=20, t=60, b=60))
    fig.update_yaxes(autorange="reversed", showgrid=False)
    fig.update_xaxes(showgrid=False, tickangle=-30)
    fig.update_yaxes(title_text="frames with (count)", row=1, col=1)
    for i in range(len(parts)):
        fig.update_xaxes(title_text="also hold", row=1, col=i + 1)
        if i:
            fig.update_yaxes(showticklabels=False, row=1, col=i + 1)
    # In print: class initials where the names do not fit, the long forms in the caption notes.
    short = {c: class_abbreviation(c) for c in names}
    note = "Classes: " + ", ".join(f"{s} {plot_text(c)}" for c, s in short.items() if s != c) + "."
    return tag(fig, "matrices", how=value, x_title="also hold", y_title="frames with (count)",
               colour_title="share of the row's frames" if value == "share" else "frames holding both",
               short_x=short_x, short_y=short_y, short_note=note)


def _status(count: int, flagged: bool) -> str:
    if not flagged:
        return "counted"
    return "passed" if count == 0 else "to look at"


def summary_table(report: HealthReport) -> pd.DataFrame:
    """The report's summary as the page and the PDF show it: status, check, count, why.

    status is "passed" (nothing found), "to look at" (a flagged check found records) or
    "counted" (hard negatives: a count, not a problem); count is int64; the check's `name`
    (its CSV file) comes last.
    """
    s = report.summary
    status = [_status(int(c), bool(f)) for c, f in zip(s["count"], s["flagged"])]
    return pd.DataFrame({"status": pd.Series(status, dtype="str"), "check": s["check"], "count": s["count"],
                         "why": s["why"], "name": s["name"]})


def _settings_text(report: HealthReport) -> str:
    settings = report.settings
    parts = []
    if "box_iou_min" in settings:
        parts.append(f"stored box vs mask box flagged below IoU {settings['box_iou_min']:g}")
    if "mask_iou_min" in settings:
        parts.append(f"near-duplicate annotations above mask IoU {settings['mask_iou_min']:g}")
    if "max_hash_distance" in settings:
        parts.append(f"near-duplicate frames within {int(settings['max_hash_distance'])} of 256 hash bits")
    return "; ".join(parts)


def summary_figure(report: HealthReport, dataset: str, width_px: int = 794, height_px: int = 1123) -> go.Figure:
    """The one-page health summary: the verdict, the thresholds, and a table of every check (status, count, why).

    Args:
        report: the checks' results.
        dataset: how to name the dataset (its source and path), shown as data, never as markup.
        width_px, height_px: page size in CSS px (default A4 portrait at 96 dpi).
    """
    table = summary_table(report)
    fills = [{"passed": FILL_PASSED, "to look at": FILL_FOUND}.get(s, FILL_COUNTED) for s in table["status"]]
    verdict = "<br>".join(plot_text(line) for line in report.verdict.split("; "))
    settings = "<br>".join(f"· {plot_text(line)}" for line in _settings_text(report).split("; ") if line)
    lines = [f"<b>{plot_text(dataset)}</b>", verdict, f"<span style='color:#555555'>Thresholds:<br>{settings}<br>"
             "The offending records of every check: one CSV per check in the report zip.</span>"]
    fig = go.Figure(go.Table(
        domain=dict(x=[0, 1], y=[0, 0.84]),
        columnwidth=[1.1, 3.2, 0.9, 6.0],
        header=dict(values=["<b>status</b>", "<b>check</b>", "<b>count</b>", "<b>why it matters</b>"],
                    fill_color="#dfe4ea", line_color="#b8c0ca", align="left", font=dict(size=11)),
        cells=dict(values=[table["status"], [plot_text(c) for c in table["check"]],
                           [f"{int(c):,}" for c in table["count"]], [plot_text(w) for w in table["why"]]],
                   fill_color=[fills] * 4, line_color="#b8c0ca", align=["left", "left", "right", "left"],
                   font=dict(size=10), height=22),
    ))
    fig.add_annotation(text="<br>".join(lines), x=0, y=1, xref="paper", yref="paper", xanchor="left", yanchor="top",
                       align="left", showarrow=False, font=dict(size=12))
    fig.update_layout(template=TEMPLATE, width=width_px, height=height_px,
                      font=dict(family="Helvetica, Arial, sans-serif", size=11, color="#111111"),
                      title=dict(text="Dataset health report", x=0.04, xanchor="left", y=0.985, yanchor="top",
                                 font=dict(size=20)),
                      margin=dict(l=36, r=36, t=70, b=36))
    return fig


def summary_pdf(report: HealthReport, dataset: str) -> bytes:
    """The one-page summary (`summary_figure`) as an A4 PDF, rendered by kaleido.

    Raises:
        render.export.FigureExportError: no Chrome/Chromium, or the render failed.
    """
    width_mm, height_mm = A4_MM
    size = ExportSize(width_mm, height_mm, "mm")
    width_px, height_px = size.layout_px()
    return render_figure(summary_figure(report, dataset, width_px, height_px), "pdf", size)
