"""AppTest helpers: every page test starts from the entrypoint, like a user."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")


def page_test(page: str | None = None, query: dict[str, str] | None = None, timeout: float = 120) -> AppTest:
    """An AppTest run from app.py, with optional query parameters, opened on `page` (e.g. "pages/folds.py")."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    if page:
        switch_page(at, page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def switch_page(at: AppTest, page: str) -> AppTest:
    """Open the page of the file `page` (e.g. "pages/folds.py") on the next run, as its link does.

    app.py passes each page file's function to `st.Page` with the file name as URL path, and a
    page is known by its URL path. `AppTest.switch_page` looks a file up among the file pages
    `st.navigation` registered, so it finds none once a run registered the functions; with the
    registry forgotten it names the page by its file name, as before a first run.
    """
    at._registered_pages = {}
    return at.switch_page(page)


def texts(at: AppTest) -> str:
    """All markdown, captions, titles, alerts and metric labels/values of a run, joined."""
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "error", "warning", "info", "success"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [f"{m.label}: {m.value}" for m in at.metric]
    return "\n".join(parts)


def table_with(at: AppTest, *columns: str):
    """The first dataframe shown whose columns include all of `columns` (position-independent)."""
    for frame in at.dataframe:
        value = frame.value
        if set(columns) <= set(getattr(value, "columns", ())):
            return value
    raise AssertionError(f"no table with columns {columns}")
