"""Several browser sessions at once on a server started with `--data`: each keeps its data source."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import builders
from tests.apptest import page_test, switch_page
from xami_ui import sidebar

N_SESSIONS = 4
ROUNDS = 3
# Each round every session moves at once (clicks before anyone waits), so their script runs overlap.
ROUTE = ["Gallery", "reload", "Fold balance", "Overview", "reload"]


def _dataset(root: Path) -> Path:
    """A small COCO split of 3 images, 3 annotations (the sample has 160 images)."""
    images = [builders.image(i, width=64, height=64) for i in range(3)]
    anns = [builders.polygon_ann(10 + i, i, 3, builders.square(4, 4, 8)) for i in range(3)]
    builders.write_split(root / "train", builders.coco(images, anns))
    return root


@pytest.mark.browser
def test_concurrent_sessions_keep_the_start_data(tmp_path):
    from playwright.sync_api import expect

    from tests.browser import Browser, Server

    data = _dataset(tmp_path / "mine")
    env = dict(os.environ)
    env.pop("XAMI_DATA", None)
    app = Server(env=env, args=["--data", str(data)])
    browser = Browser(app)
    pages = [browser.page] + [browser._browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                              for _ in range(N_SESSIONS - 1)]
    seen_urls: list[str] = []
    try:
        def check(page, step: str) -> None:
            """Once the run has drawn the path box (or the link says the sample): this folder's data, not the sample."""
            page.wait_for_function(
                "() => !document.querySelector('[data-testid=\"stStatusWidget\"]') && "
                "(location.search.includes('data=sample') || "
                "[...document.querySelectorAll('[data-testid=stSidebar] input[type=text]')].some(i => i.value))")
            seen_urls.append(page.url)
            sidebar = page.locator("[data-testid='stSidebar']")
            assert "data=sample" not in page.url, (step, page.url)
            assert sidebar.locator("[data-testid='stAlert']", has_text="synthetic sample").count() == 0, (step, page.url)
            # A lost source shows as an empty box that stays empty (and the link turns to data=sample).
            expect(sidebar.get_by_role("textbox", name="Folder or .zip path")).to_have_value(str(data), timeout=15_000)
            assert "data=sample" not in page.url, (step, page.url)
            assert sidebar.get_by_text("3 images").count() == 1, (step, page.url)

        for page in pages:  # every session opens the app at once
            page.goto(app.url + "/", wait_until="commit")
        for page in pages:
            page.get_by_text("3 images").first.wait_for()
            check(page, "start")
        for round_ in range(ROUNDS):
            for step in ROUTE:
                for page in pages:
                    if step == "reload":
                        page.reload(wait_until="commit")
                    else:
                        page.get_by_role("link", name=step).click(no_wait_after=True)
                for page in pages:
                    page.get_by_text("3 images").first.wait_for()
                    check(page, f"round {round_} {step}")
        assert all("data=path" in url and (f"path={data}".replace("/", "%2F") in url or f"path={data}" in url)
                   for url in seen_urls)
    finally:
        browser.close()
        app.close()


@pytest.mark.parametrize(
    "dropped",
    [
        (sidebar.PATH_KEY,),  # the path box's state (what the concurrent sessions lost)
        (sidebar.SOURCE_KEY, sidebar.PATH_KEY),  # both: the user's choice, not the start path, comes back
        (sidebar.SOURCE_KEY, sidebar.PATH_KEY, sidebar.PALETTE_KEY),  # and the palette
    ],
)
def test_widget_state_streamlit_drops_is_restored_from_the_session(tmp_path, monkeypatch, dropped):
    start, mine = _dataset(tmp_path / "start"), _dataset(tmp_path / "mine")
    monkeypatch.setenv("XAMI_DATA", str(start))
    at = page_test()
    at.sidebar.text_input(key=sidebar.PATH_KEY).input(str(mine)).run()
    at.query_params[sidebar.PATH_KEY] = str(mine)  # the box is bound to the link: the browser writes it there
    at.sidebar.selectbox(key=sidebar.PALETTE_KEY).set_value("colour-blind safe").run()
    # A page change whose browser had not drawn these widgets yet (its run was still going): the
    # rerun request lacks their states and Streamlit drops them, as it did under several sessions.
    original = at._tree.get_widget_states

    def without_dropped():
        states = original()
        keep = [w for w in states.widgets if not any(w.id.endswith(f"-{key}") for key in dropped)]
        del states.widgets[:]
        states.widgets.extend(keep)
        return states

    switch_page(at, "pages/folds.py")
    monkeypatch.setattr(at._tree, "get_widget_states", without_dropped)
    at.run()
    assert not at.exception and not at.sidebar.error
    assert at.sidebar.radio(key=sidebar.SOURCE_KEY).value == sidebar.LOCAL
    assert at.sidebar.text_input(key=sidebar.PATH_KEY).value == str(mine)
    assert (at.query_params["data"], at.query_params["path"]) == ("path", str(mine))
    # The palette is bound to the link (the browser writes it there); the session kept the choice.
    assert at.sidebar.selectbox(key=sidebar.PALETTE_KEY).value == "colour-blind safe"
    assert any("3 images" in c.value for c in at.sidebar.caption)
