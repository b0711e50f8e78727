"""In Chromium: class names from the files show as text, never as a live tag or link (issue 16, item 4)."""

from __future__ import annotations

import os

import pytest

from tests import builders as b

# A tag, a markdown link, and an HTML link (plotly draws <a href> in its text).
HOSTILE = ["<img src=x onerror=alert(1)>", "[click](http://example.invalid)", '<a href="http://example.invalid">z</a>']
JOIN = "\u2060"  # the invisible word joiner xami_ui.text puts into "://" so markdown makes no link of it
# Links in HTML (href) and in plotly's SVG (xlink:href), anywhere in the document.
LINKS_TO_EXAMPLE = """() => [...document.querySelectorAll('a')].filter(a =>
    [a.getAttribute('href'), a.getAttributeNS('http://www.w3.org/1999/xlink', 'href')]
        .some(h => (h || '').includes('example.invalid'))).length"""


@pytest.fixture()
def hostile_folder(tmp_path):
    """One 64 x 64 image with one annotation of each hostile class."""
    root = tmp_path / "ds"
    anns = [b.polygon_ann(k + 1, 1, k + 1, b.square(4 + 20 * k, 4 + 20 * k, 12)) for k in range(len(HOSTILE))]
    b.write_split(root / "train", b.coco([b.image(1, width=64, height=64)], anns, b.categories(HOSTILE)))
    return root


def _check_literal(page, where: str) -> None:
    """No tag or link made from the names in the page."""
    assert page.locator('img[src="x"]').count() == 0, where
    assert page.locator('a[href="http://example.invalid"]').count() == 0, where
    assert page.evaluate(LINKS_TO_EXAMPLE) == 0, where


@pytest.mark.browser
def test_hostile_class_names_show_as_text_in_chromium(hostile_folder):
    from tests.browser import Browser, Server

    server = Server(env=dict(os.environ), args=["--data", str(hostile_folder)])
    browser = Browser(server)
    dialogs: list[str] = []
    browser.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        # Overview: the class bars' category ticks are the names, drawn by plotly from its text.
        page = browser.open("", wait_for="Annotations per class")
        page.locator(".js-plotly-plot .xtick text").first.wait_for()
        ticks = page.locator(".js-plotly-plot .xtick text").all_text_contents()
        for name in HOSTILE:
            assert name in ticks, (name, ticks)
        _check_literal(page, "overview")
        browser.screenshot("text_injection_overview", full_height=1800)

        # Gallery: the class legend (HTML) and thumbnail captions (markdown) show the names.
        page = browser.open("gallery", wait_for="images match")
        main = page.locator("[data-testid='stMain']")
        shown = main.inner_text().replace(JOIN, "")
        for name in HOSTILE:
            assert name in shown, name
        _check_literal(page, "gallery")
        browser.screenshot("text_injection_gallery", full_height=1400)

        # The detail view: the overlay figure's legend holds the names as text.
        main.locator("[data-testid='stButton'] button", has_text="Open").first.click()
        page.get_by_text("Back to gallery").wait_for()
        browser.settle()
        page.locator(".js-plotly-plot .legendtext").first.wait_for()
        legend = page.locator(".js-plotly-plot .legendtext").all_text_contents()
        for name in HOSTILE:
            assert name in legend, (name, legend)
        _check_literal(page, "gallery detail")
        browser.screenshot("text_injection_gallery_detail", full_height=1700)
        assert not dialogs  # no script ran (an onerror alert)
    finally:
        browser.close()
        server.close()
