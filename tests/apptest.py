"""AppTest helpers: every page test starts from the entrypoint, like a user."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest, app_test

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


class _KeptStorage(MemoryMediaFileStorage):
    """AppTest's media storage, kept after the run so a test can read what a download button serves."""

    made: list[_KeptStorage] = []

    def __init__(self, endpoint: str) -> None:
        super().__init__(endpoint)
        _KeptStorage.made.append(self)


class _KeptManager(MediaFileManager):
    """AppTest's media file manager, kept after the run (it holds the download buttons' deferred data)."""

    made: list[_KeptManager] = []

    def __init__(self, storage: MemoryMediaFileStorage) -> None:
        super().__init__(storage)
        _KeptManager.made.append(self)


def keep_downloads(monkeypatch: pytest.MonkeyPatch) -> Callable[[object], tuple[str, bytes]]:
    """Make the next AppTest keep its media manager; returns `click(button_proto) -> (file name, bytes)`,
    what a download button serves when clicked (its deferred data made as the server makes it)."""
    monkeypatch.setattr(app_test, "MediaFileManager", _KeptManager)
    monkeypatch.setattr(app_test, "MemoryMediaFileStorage", _KeptStorage)

    def click(button: object) -> tuple[str, bytes]:
        manager, storage = _KeptManager.made[-1], _KeptStorage.made[-1]
        url = manager.execute_deferred(button.deferred_file_id)
        served = storage.get_file(url.rsplit("/", 1)[-1])
        return served.filename, served.content

    return click


def download_buttons(at: AppTest) -> dict[str, object]:
    """The run's download buttons (their protos) by label."""
    return {b.proto.label: b.proto for b in at.get("download_button")}
