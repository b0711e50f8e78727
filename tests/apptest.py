"""AppTest helpers: every page test starts from the entrypoint, like a user."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")


def page_test(page: str | None = None, query: dict[str, str] | None = None, timeout: float = 120) -> AppTest:
    """An AppTest run from app.py, with optional query parameters, switched to `page` (e.g. "pages/folds.py")."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


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
