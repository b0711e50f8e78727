"""The app frame: a shared link opened as the very first request to a freshly started server."""

from __future__ import annotations

import os

import pytest


@pytest.mark.browser
def test_deep_link_on_a_cold_server():
    # A fresh server, so its first request is the link itself (Streamlit's legacy pages/ mode).
    from tests.browser import SCREENSHOTS, Browser, Server

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    server = Server(env=dict(os.environ))
    browser = Browser(server)
    try:
        page = browser.open("heatmaps?hm_method=centroid", wait_for="Annotations per class and group")
        # The frame ran: the app's own navigation and the sidebar's data source are there.
        assert page.get_by_role("link", name="Spatial heatmaps").is_visible()
        assert page.get_by_text("Data source").is_visible()
        assert page.get_by_text("centroids", exact=False).first.is_visible()
        assert "KeyError" not in page.content()
        assert "hm_method=centroid" in page.url
        browser.screenshot("cold_deep_link")
    finally:
        browser.close()
        server.close()
