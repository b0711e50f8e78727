"""Figures and tables for papers: a paper theme, PDF/SVG/PNG through kaleido, CSV and LaTeX tables."""

from __future__ import annotations

import math
import os
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from xami_core.render.layout import DOUBLE_MM, SINGLE_MM, TEXT_PX, paper_layout

MM_PER_INCH = 25.4
CSS_DPI = 96  # plotly lays figures out in CSS pixels; Chrome prints 96 of them per inch
FORMATS = ("pdf", "svg", "png")
MIME = {"pdf": "application/pdf", "svg": "image/svg+xml", "png": "image/png"}
# Journal column widths (A&A, MNRAS, ApJ are all close to these).
COLUMN_WIDTHS_MM = {"single column (88 mm)": SINGLE_MM, "double column (180 mm)": DOUBLE_MM}
PAPER_FONT_PX = TEXT_PX  # 12 CSS px print as 9 pt at the figure's physical size
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
NO_BROWSER_HELP = (
    "Figure export to PDF, SVG or PNG renders with kaleido, which needs Chrome or Chromium, and none was "
    "found on PATH (or in BROWSER_PATH). Install one (Debian/Ubuntu: `apt-get install chromium`; or run "
    "`plotly_get_chrome`), then try again. Meanwhile the camera button in each chart's toolbar still "
    "downloads SVG or PNG from your own browser."
)


# Chromium's canvas limits (measured with kaleido 1 and Debian's Chromium: 16384 x 16384 and 8192 x 32768
# render, 16385 x 16384 and 65536 x 100 come back as a 3-byte "data:," instead of a PNG).
MAX_PNG_PIXELS = 2**28
MAX_PNG_SIDE = 65535
SIGNATURES = {"png": (b"\x89PNG\r\n\x1a\n",), "pdf": (b"%PDF-",), "svg": (b"<svg", b"<?xml")}


class FigureExportError(Exception):
    """A figure could not be rendered; the message says why and what to do."""


@dataclass(frozen=True)
class ExportSize:
    """Requested output size: width and height in mm or px, and the PNG resolution in dots per inch."""

    width: float
    height: float
    unit: str = "mm"  # "mm" or "px"
    dpi: int = 300

    def layout_px(self) -> tuple[int, int]:
        """The figure's layout size in CSS pixels."""
        if self.unit == "px":
            return round(self.width), round(self.height)
        return round(self.width / MM_PER_INCH * CSS_DPI), round(self.height / MM_PER_INCH * CSS_DPI)

    def png_px(self) -> tuple[int, int]:
        """The PNG's pixel size: exact for px sizes, the physical size times the DPI for mm sizes."""
        if self.unit == "px":
            return round(self.width), round(self.height)
        return round(self.width / MM_PER_INCH * self.dpi), round(self.height / MM_PER_INCH * self.dpi)

    def png_scale(self) -> float:
        """Scale from layout pixels to PNG pixels, just large enough to cover `png_px()` in both directions.

        Chrome truncates the scaled size, and the layout size is rounded to whole pixels, so
        the render can come out up to a pixel larger; `render_figure` trims it to `png_px()`.
        """
        (lw, lh), (pw, ph) = self.layout_px(), self.png_px()
        return max(pw / lw, ph / lh) * (1 + 1e-9)


def png_size_problem(size: ExportSize) -> str | None:
    """Why the renderer cannot make a PNG of `size` (too many pixels, or a side too long), or None if it can."""
    (lw, lh), scale = size.layout_px(), size.png_scale()
    # The browser draws the layout size times the scale (a pixel or so more than the PNG, trimmed after).
    rw, rh = math.floor(lw * scale) + 1, math.floor(lh * scale) + 1
    if rw * rh <= MAX_PNG_PIXELS and max(rw, rh) <= MAX_PNG_SIDE:
        return None
    w, h = size.png_px()
    fit = math.sqrt(MAX_PNG_PIXELS / (rw * rh)) * min(1.0, MAX_PNG_SIDE / max(rw, rh))
    lower = (f"lower the resolution to {math.floor(size.dpi * fit)} dpi or less, or the size" if size.unit == "mm"
             else "make it smaller")
    return (f"A PNG of {w:,} × {h:,} pixels is larger than the renderer (Chromium) can draw: at most "
            f"{MAX_PNG_PIXELS / 1e6:.0f} million pixels (about 16,000 × 16,000) and {MAX_PNG_SIDE:,} pixels per side. "
            f"To export it, {lower}; or choose PDF or SVG, which have no pixel limit.")


def _check_output(data: bytes, fmt: str) -> bytes:
    """`data` if it starts as a `fmt` file should; raises FigureExportError otherwise (never a broken download)."""
    head = data.lstrip()[:64] if fmt == "svg" else data[:8]
    if not any(head.startswith(sig) for sig in SIGNATURES[fmt]):
        raise FigureExportError(f"the renderer returned {len(data):,} bytes that are not a {fmt.upper()} file "
                                f"(it starts {data[:16]!r}); try a smaller size or another format")
    return data


def find_browser() -> str | None:
    """The Chrome/Chromium kaleido will use: `BROWSER_PATH`, else the first browser on PATH."""
    override = os.environ.get("BROWSER_PATH")
    if override and os.access(override, os.X_OK):
        return override
    for name in BROWSER_NAMES:
        if path := shutil.which(name):
            return path
    return None


def chart_config(name: str, toolbar_format: str = "svg") -> dict:
    """Plotly toolbar settings: the camera button saves `name` as SVG, or as PNG at four times the size."""
    options = {"format": toolbar_format, "filename": name}
    if toolbar_format == "png":
        options["scale"] = 4
    return {"displaylogo": False, "toImageButtonOptions": options}


def paper_figure(fig: go.Figure, size: ExportSize, title: str | None = None, serif: bool = True) -> go.Figure:
    """A copy of `fig` laid out for print at `size` (see `layout.paper_layout`): white, serif, print sizes.

    Args:
        fig: the figure as the page shows it.
        size: the printed size (sets the layout size, so fonts keep their point size).
        title: a title to print, or None for none (captions usually carry it).
        serif: serif fonts (journals) or the screen's sans-serif.
    """
    return paper_layout(fig, size.width, size.height, size.unit, title=title, serif=serif).figure


def paper_export(fig: go.Figure, width: float, height: float | None = None, unit: str = "mm", dpi: int = 300,
                 title: str | None = None, serif: bool = True) -> tuple[go.Figure, ExportSize, tuple[str, ...]]:
    """`fig` laid out for print at `width`, its size (height from the layout unless given) and caption notes.

    Raises:
        ValueError: a unit other than "mm" or "px", or a size that is not positive.
    """
    laid = paper_layout(fig, width, height, unit, title=title, serif=serif)
    return laid.figure, ExportSize(laid.width, round(laid.height, 2), unit, dpi), laid.notes


def render_figure(fig: go.Figure, fmt: str, size: ExportSize) -> bytes:
    """The figure as PDF, SVG or PNG bytes at `size` (PNG: exactly `size.png_px()` pixels).

    Raises:
        FigureExportError: an unknown format, no Chrome or Chromium to render with, a size over the
            export limits, or kaleido failing to render.
    """
    if fmt not in FORMATS:
        raise FigureExportError(f"format '{fmt}': expected one of {', '.join(FORMATS)}")
    browser = find_browser()
    if browser is None:
        raise FigureExportError(NO_BROWSER_HELP)
    os.environ.setdefault("BROWSER_PATH", browser)  # kaleido then uses the browser found here
    if fmt == "png" and (problem := png_size_problem(size)):
        raise FigureExportError(problem)
    start_figure_server()  # a one-shot render would start a browser with its profile in $HOME/.config
    width, height = size.layout_px()
    scale = size.png_scale() if fmt == "png" else 1.0
    try:
        with warnings.catch_warnings():  # plotly warns that a running batch server ignores per-call options
            warnings.filterwarnings("ignore", message="The kopts argument is ignored")
            data = pio.to_image(fig, format=fmt, width=width, height=height, scale=scale)
    except Exception as exc:  # kaleido reports browser trouble with several exception types
        raise FigureExportError(f"rendering the {fmt.upper()} failed in kaleido ({type(exc).__name__}: {exc}). "
                                f"{NO_BROWSER_HELP if 'browser' in str(exc).lower() else ''}".strip()) from exc
    data = _check_output(data, fmt)
    return _trim_png(data, size.png_px()) if fmt == "png" else data


def _trim_png(data: bytes, target: tuple[int, int]) -> bytes:
    """Cut a rendered PNG to the requested pixel size (rounding leaves at most a pixel of white margin)."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    w, h = target
    if img is None or (img.shape[1], img.shape[0]) == (w, h):
        return data
    if img.shape[1] < w or img.shape[0] < h:  # never expected; pad rather than stretch
        img = cv2.copyMakeBorder(img, 0, max(0, h - img.shape[0]), 0, max(0, w - img.shape[1]),
                                 cv2.BORDER_CONSTANT, value=(255,) * img.shape[2])
    ok, buf = cv2.imencode(".png", img[:h, :w])
    return buf.tobytes() if ok else data


def start_figure_server() -> None:
    """Start kaleido's one shared browser; renders after this skip the browser start-up.

    Raises:
        FigureExportError: no Chrome or Chromium is found.
    """
    browser = find_browser()
    if browser is None:
        raise FigureExportError(NO_BROWSER_HELP)
    os.environ.setdefault("BROWSER_PATH", browser)
    import kaleido  # noqa: PLC0415 - only needed when rendering

    _print_pdf_without_margins()
    kaleido.start_sync_server(silence_warnings=True, browser_cls=_confined_chromium())


def _print_pdf_without_margins() -> None:
    """Make kaleido print PDFs edge to edge.

    kaleido 1.x prints with 0.1 inch margins on a page of the figure's size, so the figure moves
    9.6 px right and down and loses as much at the right and bottom (a bottom axis title or colour
    bar label comes out cut). Its PDF printer (a private function, `kaleido._kaleido_tab._devtools_utils.print_pdf`
    in kaleido 1.3 to 1.5) is replaced by the same call with zero margins; a kaleido without it keeps
    its own printer (margins and all) rather than failing the export.
    """
    try:
        from kaleido._kaleido_tab import _devtools_utils as devtools  # noqa: PLC0415 - only needed when rendering
    except ImportError:
        return
    if not callable(getattr(devtools, "print_pdf", None)) or getattr(devtools.print_pdf, "edge_to_edge", False):
        return

    async def print_pdf(tab: object) -> str | None:
        params = {"printBackground": True, "marginTop": 0, "marginBottom": 0, "marginLeft": 0, "marginRight": 0,
                  "preferCSSPageSize": True, "pageRanges": "1"}
        response = await tab.send_command("Page.printToPDF", params=params)
        devtools._raise_error(response)
        return response.get("result", {}).get("data")

    print_pdf.edge_to_edge = True
    devtools.print_pdf = print_pdf


def _confined_chromium() -> type:
    """choreographer's Chromium with HOME and the XDG folders inside its temporary profile.

    choreographer already passes a temporary `--user-data-dir` (removed when the browser stops), but
    Chromium still keeps its crash reports in `$XDG_CONFIG_HOME/chromium` (default `~/.config/chromium`)
    and dconf writes `~/.cache`; pointing those at the temporary profile leaves nothing behind.
    """
    from choreographer.browsers.chromium import Chromium  # noqa: PLC0415 - only needed when rendering

    class ConfinedChromium(Chromium):
        def get_env(self) -> dict[str, str]:
            env = dict(super().get_env())
            home = str(self.tmp_dir.path)  # made by pre_open(), which runs before get_env()
            env.update(HOME=home, XDG_CONFIG_HOME=f"{home}/config", XDG_CACHE_HOME=f"{home}/cache",
                       XDG_DATA_HOME=f"{home}/data")
            return env

    return ConfinedChromium


def stop_figure_server() -> None:
    """Stop kaleido's shared browser."""
    import kaleido  # noqa: PLC0415

    kaleido.stop_sync_server(silence_warnings=True)


class FigureRenderer:
    """Keeps one kaleido browser alive for a batch, so figures after the first take well under a second."""

    def __enter__(self) -> FigureRenderer:
        start_figure_server()
        return self

    def __exit__(self, *exc: object) -> None:
        stop_figure_server()

    def render(self, fig: go.Figure, fmt: str, size: ExportSize) -> bytes:
        """Render one figure with the running browser."""
        return render_figure(fig, fmt, size)


LATEX_SYMBOLS = {"|": r"$|$", "Δ": r"$\Delta$", "−": "--", "±": r"$\pm$", "×": r"$\times$", "²": r"$^2$",
                 "χ": r"$\chi$", "≥": r"$\geq$", "≤": r"$\leq$", "·": r"$\cdot$", "–": "--"}


def _escape_latex(text: str) -> str:
    """Escape LaTeX's special characters in running text (captions)."""
    out = text.replace("\\", r"\textbackslash{}")
    for ch in "&%$#_{}":
        out = out.replace(ch, "\\" + ch)
    return out.replace("~", r"\textasciitilde{}").replace("^", r"\textasciicircum{}")


def table_to_latex(table: pd.DataFrame, caption: str | None = None, label: str | None = None,
                   index: bool = True, percent_columns: tuple[str, ...] = (), decimals: int = 2) -> str:
    """A booktabs LaTeX table (`\\toprule`, `\\midrule`, `\\bottomrule`) with every cell escaped.

    Args:
        table: the table as the page shows it.
        caption: optional caption (escaped).
        label: optional `\\label` key.
        index: include the index as the first column(s), named in the header.
        percent_columns: columns holding fractions (0..1), printed as percentages.
        decimals: decimals for other non-integer numbers.
    """
    frame = table.copy()
    if isinstance(frame.columns, pd.MultiIndex):
        frame.columns = [" ".join(str(c) for c in col if str(c)) for col in frame.columns]
    if index:  # the index becomes ordinary first column(s), its name in the header row
        frame = frame.reset_index()
    frame.columns = [str(c) for c in frame.columns]
    def integer(v: object) -> str:
        return "" if pd.isna(v) else f"{int(v):,}".replace(",", "{,}")

    def decimal(v: object) -> str:
        return "" if pd.isna(v) else f"{float(v):.{decimals}f}"

    def percent(v: object) -> str:
        return "" if pd.isna(v) else f"{100 * float(v):.1f}\\%"

    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]
    # A column whose values are all whole (counts, wavelengths) prints without decimals.
    whole = {c for c in numeric if (frame[c].dropna() % 1 == 0).all()}
    formatters = {c: percent if c in percent_columns else integer if c in whole else decimal for c in numeric}
    styler = frame.style.format(na_rep="", escape="latex").format(formatters, subset=numeric)
    styler = styler.format_index(escape="latex", axis=1).hide(axis="index")
    latex = styler.to_latex(hrules=True, caption=_escape_latex(caption) if caption else None, label=label,
                            position_float="centering", column_format=None)
    for char, command in LATEX_SYMBOLS.items():  # symbols the screen tables use, in math mode for any font
        latex = latex.replace(char, command)
    return latex


def table_to_csv(table: pd.DataFrame, index: bool = True) -> bytes:
    """The table as UTF-8 CSV bytes."""
    return table.to_csv(index=index).encode("utf-8")


def contact_sheet(rows: Sequence[tuple[str, Sequence[tuple[str, bytes]]]], gap_px: int = 24) -> bytes:
    """One PNG of many rendered PNGs: a row per figure, its renders side by side at their own pixel sizes.

    Args:
        rows: per figure, its name and its (label, PNG bytes) renders (e.g. "88 mm", "180 mm").
        gap_px: white space between renders and rows, in pixels.

    Raises:
        FigureExportError: a render that is not a PNG, or no render at all.
    """
    label_h = 34
    decoded = []
    for name, renders in rows:
        images = []
        for label, data in renders:
            img = cv2.imdecode(np.frombuffer(_check_output(data, "png"), np.uint8), cv2.IMREAD_COLOR)
            if img is None:
                raise FigureExportError(f"the {label} render of {name} could not be read as a PNG")
            images.append((label, img))
        decoded.append((name, images))
    if not any(images for _, images in decoded):
        raise FigureExportError("a contact sheet needs at least one rendered figure")
    width = max(sum(img.shape[1] for _, img in images) + gap_px * (len(images) + 1) for _, images in decoded)
    height = sum(label_h + max((img.shape[0] for _, img in images), default=0) + gap_px for _, images in decoded) + gap_px
    sheet = np.full((height, width, 3), 255, np.uint8)
    y = gap_px
    for name, images in decoded:
        x = gap_px
        for label, img in images:
            cv2.putText(sheet, f"{name} - {label}", (x, y + label_h - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2,
                        cv2.LINE_AA)
            h, w = img.shape[:2]
            sheet[y + label_h:y + label_h + h, x:x + w] = img
            # A hairline frame shows where each figure's page ends.
            cv2.rectangle(sheet, (x - 1, y + label_h - 1), (x + w, y + label_h + h), (180, 180, 180), 1)
            x += w + gap_px
        y += label_h + max((img.shape[0] for _, img in images), default=0) + gap_px
    ok, buf = cv2.imencode(".png", sheet)
    if not ok:
        raise FigureExportError("the contact sheet could not be encoded as PNG")
    return buf.tobytes()
