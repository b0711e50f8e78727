"""Figure and table export from the pages: the popover's controls, and real downloads in Chromium."""

from __future__ import annotations

import json
import struct

import pytest

from tests.apptest import page_test, switch_page
from xami_core.render.export import ExportSize

PAGES_WITH_CHARTS = ["pages/overview.py", "pages/folds.py", "pages/heatmaps.py"]


def _popovers(at) -> list:
    return [p for p in at.get("popover") if p.proto.popover.label == "Export figure"]


@pytest.mark.parametrize("page", PAGES_WITH_CHARTS)
def test_every_chart_has_an_export_popover(page):
    # One "Export figure" popover per plotly chart, each offering PDF, SVG and PNG.
    at = page_test(None if page == "pages/overview.py" else page)
    charts = at.get("plotly_chart")
    formats = [w for w in at.get("button_group") if w.proto.label == "Format"]
    assert charts and len(_popovers(at)) == len(charts) == len(formats)
    assert all([o.content for o in w.proto.options] == ["PDF", "SVG", "PNG"] for w in formats)


def test_toolbar_camera_follows_the_sidebar_choice():
    # The sidebar's "camera button saves" choice reaches every chart's plotly config, on every page.
    at = page_test()
    toolbar = next(w for w in at.sidebar.get("button_group") if w.proto.label == "Chart camera button saves")
    assert toolbar.value == "svg"
    toolbar.set_value("png").run()
    switch_page(at, "pages/folds.py")
    at.run()
    charts = at.get("plotly_chart")
    assert charts
    for chart in charts:
        options = json.loads(chart.proto.config)["toImageButtonOptions"]
        assert options["format"] == "png" and options["scale"] == 4 and options["filename"]


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.browser
def test_export_downloads_in_chromium(browser, tmp_path):
    page = browser.open("", wait_for="XAMI dataset overview")
    page.get_by_role("link", name="Fold balance").click()
    page.get_by_text("Train vs valid per class, every fold").wait_for()
    browser.settle()

    # The first chart's export (the fold panels: double column by default) as PNG at 300 dpi.
    page.get_by_role("button", name="Export figure").first.click()
    dialog = page.locator("[data-testid='stPopoverBody']").last
    dialog.get_by_text("PNG", exact=True).click()
    browser.settle()
    dialog = page.locator("[data-testid='stPopoverBody']").last
    dialog.get_by_text("PNG of", exact=False).wait_for()
    assert f"PNG of {ExportSize(180.0, 10.0, 'mm', 300).png_px()[0]} ×" in dialog.inner_text()  # 180 mm wide
    browser.screenshot("export_popover")
    with page.expect_download(timeout=120_000) as download:
        dialog.get_by_role("button", name="Download PNG").click()
    target = tmp_path / download.value.suggested_filename
    download.value.save_as(target)
    assert target.name.startswith("fold_classes_stratified_k4_seed42") and target.suffix == ".png"
    height_mm = float(dialog.get_by_label("Height (mm)").input_value())
    assert _png_size(target.read_bytes()) == ExportSize(180.0, height_mm, "mm", 300).png_px()
    page.keyboard.press("Escape")

    # The balance table as LaTeX.
    with page.expect_download() as download:
        page.locator(".st-key-fold_balance_table_tex").get_by_role("button", name="LaTeX").click()
    latex = download.value.path().read_text()
    assert r"\toprule" in latex and r"\bottomrule" in latex and r"mean $|$$\Delta$$|$ (authors) (pp)" in latex
