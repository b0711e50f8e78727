"""Chart and table widgets with export: every chart gets a toolbar download and an "Export figure" popover."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from xami_core.render.export import (
    COLUMN_WIDTHS_MM,
    FORMATS,
    MIME,
    NO_BROWSER_HELP,
    ExportSize,
    chart_config,
    find_browser,
    paper_export,
    paper_figure,
    png_size_problem,
    render_figure,
    table_to_csv,
    table_to_latex,
)
from xami_ui.cache import figure_server

TOOLBAR_KEY = "export_toolbar"
CUSTOM = "custom"


def toolbar_format_ui() -> str:
    """Sidebar choice of what the charts' camera button saves (SVG, or PNG at 4x)."""
    return st.sidebar.segmented_control(
        "Chart camera button saves", ["svg", "png"], key=TOOLBAR_KEY, default="svg",
        format_func=lambda f: "SVG (vector)" if f == "svg" else "PNG (4× size)",
        help="The camera icon in each chart's toolbar downloads the chart as your browser shows it. "
             "For PDF, a journal's column width or a set DPI, use 'Export figure' under the chart.") or "svg"


def _size_ui(key: str, aspect: float, wide: bool, fig: go.Figure | None = None) -> ExportSize:
    """Width preset or custom size, and DPI; returns the requested size.

    At a preset width the height defaults to what the figure's print layout needs at that width.
    """
    preset = st.selectbox("Width", [*COLUMN_WIDTHS_MM, CUSTOM], key=f"{key}_preset", index=1 if wide else 0)
    if preset == CUSTOM:
        c1, c2, c3 = st.columns(3)
        unit = c3.selectbox("Unit", ["mm", "px"], key=f"{key}_unit")
        width = c1.number_input("Width", 10.0, 5000.0, 120.0 if unit == "mm" else 1200.0, key=f"{key}_w")
        height = c2.number_input("Height", 10.0, 5000.0, round(width * aspect, 1), key=f"{key}_h")
    else:
        unit, width = "mm", COLUMN_WIDTHS_MM[preset]
        natural = _print_layout(fig, width, key)[0] if fig is not None else width * aspect
        # One height widget per width: switching the width brings that width's own height back.
        height = st.number_input("Height (mm)", 20.0, 300.0, round(min(max(natural, 20.0), 300.0), 1), step=1.0,
                                 key=f"{key}_hmm_{width:g}")
    dpi = st.number_input("PNG resolution (dpi)", 72, 1200, 300, step=50, key=f"{key}_dpi",
                          disabled=unit == "px", help="Vector formats (PDF, SVG) ignore it.")
    return ExportSize(float(width), float(height), unit, int(dpi))


def _print_layout(fig: go.Figure, width_mm: float, key: str) -> tuple[float, tuple[str, ...]]:
    """The figure's print height (mm) at `width_mm` and the layout's notes, worked out once per figure kind and width.

    The popover's body runs on every rerun; the layout takes a fraction of a second, so it is kept per widget.
    """
    memo = st.session_state.setdefault(f"{key}_print_layout", {})
    signature = (width_mm, repr(fig.layout.meta), len(fig.data))
    if signature not in memo:
        _, size, notes = paper_export(fig, width_mm)
        memo[signature] = (size.height, notes)
    return memo[signature]


def export_figure_ui(fig: go.Figure, name: str, key: str, aspect: float = 0.7, wide: bool = False) -> None:
    """An "Export figure" popover: format, size, DPI, theme and title, then a download rendered by kaleido.

    `aspect` (height / width) and `wide` (double column) set the defaults for this kind of figure.
    """
    with st.popover("Export figure", icon=":material/download:"):
        if find_browser() is None:
            st.warning(NO_BROWSER_HELP)
            return
        fmt = st.segmented_control("Format", FORMATS, default="pdf", key=f"{key}_fmt",
                                   format_func=str.upper) or "pdf"
        size = _size_ui(key, aspect, wide, fig)
        paper = st.toggle("Paper theme (white, serif, print sizes)", value=True, key=f"{key}_paper")
        title = st.text_input("Title (optional)", key=f"{key}_title", placeholder="none: the caption carries it")
        if fmt == "png":
            if problem := png_size_problem(size):
                st.error(problem, icon=":material/error:")  # no download that would hold a broken file
                return
            w, h = size.png_px()
            st.caption(f"PNG of {w} × {h} pixels.")

        if paper and size.unit == "mm" and (notes := _print_layout(fig, size.width, key)[1]):
            st.caption(" ".join(notes))  # what the print layout shortened or moved, for the caption

        def render() -> bytes:
            figure_server()  # one browser for the whole app, started on first use
            out = paper_figure(fig, size, title=title or None) if paper else go.Figure(fig).update_layout(title=title or None)
            return render_figure(out, fmt, size)

        st.download_button(f"Download {fmt.upper()}", data=render, file_name=f"{name}.{fmt}", mime=MIME[fmt],
                           on_click="ignore", icon=":material/download:", key=f"{key}_download", type="primary")


def chart_ui(fig: go.Figure, name: str, key: str, aspect: float = 0.7, wide: bool = False, zoom: bool = False,
             **kwargs: object) -> None:
    """Show a plotly chart with its toolbar download set up, and the export popover below it.

    `zoom` lets the mouse wheel zoom (images); other keyword arguments go to `st.plotly_chart`.
    """
    toolbar = st.session_state.get(TOOLBAR_KEY) or "svg"
    config = chart_config(name, toolbar) | ({"scrollZoom": True} if zoom else {})
    st.plotly_chart(fig, config=config, key=key, **({"width": "stretch"} | kwargs))
    export_figure_ui(fig, name, key=f"{key}_export", aspect=aspect, wide=wide)


def table_download_ui(table: pd.DataFrame, name: str, key: str, caption: str | None = None,
                      percent_columns: tuple[str, ...] = (), index: bool = True) -> None:
    """CSV and LaTeX (booktabs) downloads of a table, side by side."""
    row = st.container(horizontal=True)
    # The files are made only when a button is pressed, not on every rerun.
    row.download_button("CSV", data=lambda: table_to_csv(table, index=index), file_name=f"{name}.csv", mime="text/csv",
                       icon=":material/table:", key=f"{key}_csv", on_click="ignore")
    row.download_button("LaTeX", data=lambda: table_to_latex(table, caption=caption, label=f"tab:xami-{name}", index=index,
                                                              percent_columns=percent_columns), file_name=f"{name}.tex", mime="text/x-tex", icon=":material/functions:",
                       key=f"{key}_tex", on_click="ignore", help="A booktabs table; needs \\usepackage{booktabs}.")
