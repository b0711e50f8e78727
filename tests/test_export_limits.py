"""Figure export (issue 16, item 6): sizes the renderer cannot draw are refused, its output is checked, and
the browser it starts leaves no profile behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import plotly.graph_objects as go
import pytest

from tests.apptest import page_test
from xami_core.render import export as E

ROOT = Path(__file__).resolve().parents[1]
needs_browser = pytest.mark.skipif(E.find_browser() is None, reason="needs Chrome or Chromium")


def _bar() -> go.Figure:
    return go.Figure(go.Bar(x=["a", "b"], y=[1, 2]))


@pytest.mark.parametrize(
    ("size", "refused"),
    [
        (E.ExportSize(88, 60), False),  # a journal column at 300 dpi
        (E.ExportSize(16000, 16000, "px"), False),  # 256 million pixels: under Chromium's 2**28
        (E.ExportSize(16384, 16385, "px"), True),  # just over 2**28 pixels (measured: a 3-byte file)
        (E.ExportSize(20000, 14000, "px"), True),  # 280 million pixels (measured: a 3-byte file)
        (E.ExportSize(70000, 100, "px"), True),  # few pixels, but a side over 65,535 (measured at 65,536)
        (E.ExportSize(5000, 3500, "mm", 1200), True),  # the popover's largest custom size: 236,220 px wide
        (E.ExportSize(180, 126, "mm", 1200), False),  # double column at 1200 dpi: 8,504 x 5,953
    ],
)
def test_png_sizes_the_renderer_cannot_draw_are_refused(size, refused):
    w, h = size.png_px()
    problem = E.png_size_problem(size)
    assert (problem is not None) == refused
    assert (w * h > E.MAX_PNG_PIXELS or max(w, h) > E.MAX_PNG_SIDE) <= refused  # never lets a too-big one through
    if refused:
        assert f"{w:,} × {h:,} pixels" in problem and "PDF or SVG" in problem
        with pytest.raises(E.FigureExportError, match="larger than the renderer"):
            E.render_figure(_bar(), "png", size)  # refused before any browser starts


@pytest.mark.parametrize(
    ("fmt", "returned"),
    [
        ("png", b"u\xabZ"),  # what kaleido returns for an oversized canvas: base64 of "data:,"
        ("pdf", b""),  # nothing at all
        ("svg", b"\x89PNG\r\n\x1a\n...."),  # another format
    ],
)
def test_output_that_is_not_the_format_is_an_error(monkeypatch, fmt, returned):
    monkeypatch.setattr(E, "start_figure_server", lambda: None)
    monkeypatch.setattr(E, "find_browser", lambda: "/usr/bin/true")
    monkeypatch.setattr(E.pio, "to_image", lambda *a, **k: returned)
    with pytest.raises(E.FigureExportError, match=f"not a {fmt.upper()} file"):
        E.render_figure(_bar(), fmt, E.ExportSize(88, 60))


PROFILE_SCRIPT = """
import plotly.graph_objects as go
from xami_core.render import export as E
data = E.render_figure(go.Figure(go.Bar(x=[1, 2], y=[3, 4])), "png", E.ExportSize(40, 30))
assert data.startswith(b"\\x89PNG"), data[:16]
E.stop_figure_server()
"""


@needs_browser
def test_export_leaves_no_browser_profile(tmp_path):
    # The renderer's profile, crash reports and caches stay in its temporary folder, removed when it stops.
    # Short folders: Chromium's sockets live under TMPDIR and a Unix socket path holds at most 107 bytes.
    home, tmp = Path(tempfile.mkdtemp(prefix="xh", dir="/tmp")), Path(tempfile.mkdtemp(prefix="xt", dir="/tmp"))
    env = os.environ | {"HOME": str(home), "TMPDIR": str(tmp), "PYTHONPATH": str(ROOT)}
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        env.pop(name, None)
    log = tmp_path / "render.log"
    with log.open("w") as out:  # a file, not a pipe: Chromium's crash handler may keep a pipe open a while
        done = subprocess.run([sys.executable, "-c", PROFILE_SCRIPT], env=env, cwd=ROOT, stdout=out,
                              stderr=subprocess.STDOUT, timeout=300)
    assert done.returncode == 0, log.read_text()[-2000:]
    left_home = sorted(p.relative_to(home).as_posix() for p in home.rglob("*"))
    left_tmp = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*"))
    shutil.rmtree(home)
    shutil.rmtree(tmp)
    assert left_home == []  # no .config/chromium, no .cache
    assert left_tmp == []  # the temporary profile is gone


@needs_browser
def test_popover_refuses_an_oversized_png_with_a_message():
    # Custom size 5000 x 3500 mm at 1200 dpi as PNG: an error in the popover and no download button.
    at = page_test()
    fmt = next(w for w in at.get("button_group") if w.proto.label == "Format")
    key = fmt.key.removesuffix("_fmt")
    fmt.set_value("png").run()
    at.selectbox(key=f"{key}_preset").set_value("custom").run()
    at.number_input(key=f"{key}_w").set_value(5000.0).run()
    at.number_input(key=f"{key}_h").set_value(3500.0).run()
    at.number_input(key=f"{key}_dpi").set_value(1200).run()
    errors = [e.value for e in at.error]
    assert any("236,220 × 165,354 pixels is larger than the renderer" in e for e in errors), errors
    assert f"{key}_download" not in [b.key for b in at.get("download_button")]
    at.number_input(key=f"{key}_dpi").set_value(300).run()  # 59,055 x 41,339: still over 2**28 pixels
    assert any("larger than the renderer" in e.value for e in at.error)
    at.number_input(key=f"{key}_w").set_value(120.0).run()
    at.number_input(key=f"{key}_h").set_value(80.0).run()
    assert not any("larger than the renderer" in e.value for e in at.error)
