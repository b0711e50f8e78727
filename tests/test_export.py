"""Figure and table export: sizes, file signatures, the paper theme, LaTeX structure, the batch command."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest

from xami_core.cli import main as cli_main
from xami_core.io.sample import sample_root
from xami_core.render import export as E

ROOT = Path(__file__).resolve().parents[1]


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def pdf_page_mm(data: bytes) -> tuple[float, float]:
    """The first MediaBox of a PDF, in mm."""
    box = re.search(rb"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*\]", data)
    assert box, "no MediaBox"
    x0, y0, x1, y1 = (float(v) for v in box.groups())
    return (x1 - x0) / 72 * 25.4, (y1 - y0) / 72 * 25.4


@pytest.mark.parametrize(
    ("size", "layout", "png"),
    [
        (E.ExportSize(88, 66, "mm", 300), (333, 249), (1039, 780)),  # single column at 300 dpi
        (E.ExportSize(180, 90, "mm", 600), (680, 340), (4252, 2126)),  # double column at 600 dpi
        (E.ExportSize(800, 500, "px", 300), (800, 500), (800, 500)),  # pixels are exact, dpi ignored
        (E.ExportSize(25.4, 25.4, "mm", 96), (96, 96), (96, 96)),  # one inch at CSS resolution
    ],
)
def test_export_sizes(size, layout, png):
    assert size.layout_px() == layout
    assert size.png_px() == png


def _bar() -> go.Figure:
    fig = go.Figure(go.Bar(x=["read-out-streak", "smoke-ring"], y=[3, 4], name="train"))
    fig.update_layout(title="screen title", template="plotly_dark")
    return fig


def test_paper_theme_is_white_serif_and_sized():
    size = E.ExportSize(88, 60)
    out = E.paper_figure(_bar(), size, title=None)
    assert (out.layout.width, out.layout.height) == size.layout_px() == (333, 227)  # 88 x 60 mm at 96 px per inch
    assert "serif" in out.layout.font.family and out.layout.font.size == E.PAPER_FONT_PX
    assert out.layout.paper_bgcolor == "white" and out.layout.plot_bgcolor == "white"
    assert out.layout.title.text is None  # the caption carries it
    assert E.paper_figure(_bar(), size, title="Classes").layout.title.text == "Classes"
    assert _bar().layout.template.layout.paper_bgcolor != "white"  # the input is untouched


@pytest.mark.parametrize(("fmt", "signature"), [("pdf", b"%PDF-"), ("svg", b"<svg"), ("png", b"\x89PNG")])
def test_rendered_files_are_valid(fmt, signature):
    size = E.ExportSize(88, 60, "mm", 200)
    data = E.render_figure(E.paper_figure(_bar(), size), fmt, size)
    assert signature in data[:200]
    if fmt == "png":
        assert png_size(data) == size.png_px()
    if fmt == "pdf":
        w, h = pdf_page_mm(data)
        assert abs(w - 88) < 1 and abs(h - 60) < 1
        # kaleido (Chrome) embeds the fonts as subsets
        assert b"/FontFile2" in data or b"/FontFile3" in data or b"/FontFile " in data
    if fmt == "svg":
        assert b'width="333"' in data and b'height="227"' in data


def test_png_in_pixels_is_exact():
    size = E.ExportSize(640, 480, "px")
    assert png_size(E.render_figure(_bar(), "png", size)) == (640, 480)


def test_unknown_format_is_refused():
    with pytest.raises(E.FigureExportError, match="expected one of pdf, svg, png"):
        E.render_figure(_bar(), "gif", E.ExportSize(10, 10))


def test_no_browser_says_how_to_fix(monkeypatch, tmp_path):
    # Chromium hidden: an empty PATH and no BROWSER_PATH.
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    assert E.find_browser() is None
    with pytest.raises(E.FigureExportError) as err:
        E.render_figure(_bar(), "pdf", E.ExportSize(88, 60))
    message = str(err.value)
    assert "apt-get install chromium" in message and "camera button" in message


@pytest.mark.parametrize(
    ("toolbar", "expected"),
    [
        ("svg", {"format": "svg", "filename": "classes"}),  # vector from the browser
        ("png", {"format": "png", "filename": "classes", "scale": 4}),  # high-scale raster
    ],
)
def test_chart_toolbar_config(toolbar, expected):
    config = E.chart_config("classes", toolbar)
    assert config["toImageButtonOptions"] == expected and config["displaylogo"] is False


def _tabular_rows(latex: str) -> list[str]:
    body = latex.split(r"\midrule")[1].split(r"\bottomrule")[0]
    return [r.strip() for r in body.strip().split(r"\\") if r.strip()]


def test_latex_table_structure():
    table = pd.DataFrame({"class_name": ["read_out & streak", "smoke-ring"], "train share": [0.4012, 0.2],
                          "images": [1234, 56], "ratio": [0.123, 1.5]}).set_index("class_name")
    latex = E.table_to_latex(table, caption="Classes per_split 100%", label="tab:x", percent_columns=("train share",))
    assert latex.count(r"\begin{tabular}") == latex.count(r"\end{tabular}") == 1
    assert latex.count(r"\begin{table}") == latex.count(r"\end{table}") == 1
    assert latex.index(r"\toprule") < latex.index(r"\midrule") < latex.index(r"\bottomrule")
    assert r"\caption{Classes per\_split 100\%}" in latex and r"\label{tab:x}" in latex
    assert r"class\_name" in latex and r"read\_out \& streak" in latex  # escaped header and cells
    align = re.search(r"\\begin\{tabular\}\{(\w+)\}", latex).group(1)
    for row in _tabular_rows(latex):
        # every row has as many cells as the column spec, counting unescaped ampersands
        assert len(re.findall(r"(?<!\\)&", row)) + 1 == len(align)
    first = _tabular_rows(latex)[0]
    assert "40.1\\%" in first and "1{,}234" in first and "0.12" in first


def test_latex_symbols_become_commands():
    # Unicode from the screen tables turns into LaTeX that compiles with any font.
    table = pd.DataFrame({"mean |Δ| (pp)": [1.5], "area (px²)": [3]})
    header = E.table_to_latex(table, index=False).split(r"\toprule")[1].split(r"\\")[0]
    assert header.strip() == r"mean $|$$\Delta$$|$ (pp) & area (px$^2$)"


def test_latex_whole_columns_have_no_decimals():
    table = pd.DataFrame({"filter": ["V", "White"], "wavelength (nm)": [543.0, None], "share": [0.5, 0.25]})
    rows = _tabular_rows(E.table_to_latex(table, index=False))
    assert rows[0] == r"V & 543 & 0.50" and rows[1] == r"White &  & 0.25"


def test_csv_round_trip():
    table = pd.DataFrame({"images": [1, 2]}, index=pd.Index(["train", "valid"], name="split"))
    back = pd.read_csv(__import__("io").BytesIO(E.table_to_csv(table)), index_col="split")
    assert back.equals(table)


EXPECTED_FIGURES = {"class_counts", "class_shares", "filters", "fold_balance", "kfold_vs_stratified", "heatmaps", "examples"}
EXPECTED_TABLES = {"splits", "classes", "filters", "fold_balance"}


def test_batch_command_writes_the_full_set(tmp_path, capsys):
    out = tmp_path / "figs"
    assert cli_main(["figures", "--data", str(sample_root()), "--out", str(out), "--format", "svg", "--quiet"]) == 0
    printed = {Path(p).name for p in capsys.readouterr().out.split()}
    expected = {f"{n}.svg" for n in EXPECTED_FIGURES} | {f"{n}.{x}" for n in EXPECTED_TABLES for x in ("csv", "tex")}
    assert printed == expected == {p.name for p in out.iterdir()}
    for name in EXPECTED_FIGURES:
        assert (out / f"{name}.svg").read_bytes().lstrip().startswith((b"<svg", b"<?xml"))
    classes = pd.read_csv(out / "classes.csv", index_col=0)
    in_files = sum(len(json.loads(f.read_text())["annotations"]) for f in sample_root().glob("*/_annotations.coco.json"))
    assert in_files > 0 and int(classes.loc["total", "total annotations"]) == in_files


def test_batch_command_without_browser_writes_tables_and_exits_3(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    out = tmp_path / "figs"
    assert cli_main(["figures", "--data", str(sample_root()), "--out", str(out), "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "figures not written" in err and "apt-get install chromium" in err
    assert {p.suffix for p in out.iterdir()} == {".csv", ".tex"}


def test_batch_command_bad_data_exit_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "xami_core", "figures", "--data", str(tmp_path / "nope"),
                             "--out", str(tmp_path / "o")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 2 and "no such file or folder" in result.stderr


@pytest.mark.parametrize(
    ("text", "mm"),
    [
        ("single", 88.0),  # one journal column
        ("double", 180.0),  # the page width
        ("120", 120.0),  # any width in mm
        ("120mm", 120.0),  # with its unit
    ],
)
def test_figures_width_option(text, mm):
    from xami_core.cli.figures import column_width  # noqa: PLC0415

    assert column_width(text) == mm


@pytest.mark.parametrize("text", ["wide", "5", "0", "900"])
def test_figures_width_option_refuses(text):
    import argparse  # noqa: PLC0415

    from xami_core.cli.figures import column_width  # noqa: PLC0415

    with pytest.raises(argparse.ArgumentTypeError):
        column_width(text)
