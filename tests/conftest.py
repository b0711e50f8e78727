"""Shared fixtures: an isolated cache, the sample dataset, a browser on a live server."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Isolate every write of the product (sample, extractions, thumbnails) in a temp cache,
# before anything imports the core.
_CACHE = Path(tempfile.mkdtemp(prefix="xami-test-cache-"))
os.environ["XAMI_CACHE"] = str(_CACHE)
os.environ.pop("XAMI_DATA", None)

# A cut-down copy of the authors' obs_info_1024_all.json (see tests/data/README.md).
OBS_INFO_COPY = Path(__file__).resolve().parent / "data" / "obs_info_1024_cut.json"
OBS_INFO_COPY_RECORDS = 103


def pytest_unconfigure(config):
    """Remove this run's temp cache (also after --collect-only or an interrupted run)."""
    shutil.rmtree(_CACHE, ignore_errors=True)


@pytest.fixture(scope="session")
def sample_ds():
    """The bundled synthetic sample, loaded once."""
    from xami_core import load_dataset, sample_root

    return load_dataset(sample_root(), source="synthetic sample", synthetic=True)


@pytest.fixture(scope="session")
def server():
    """One Streamlit server for the session's browser tests."""
    from tests.browser import SCREENSHOTS, Server

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    srv = Server(env=dict(os.environ))
    yield srv
    srv.close()


@pytest.fixture()
def browser(server):
    """A fresh Chromium page on the session's server."""
    from tests.browser import Browser

    b = Browser(server)
    yield b
    b.close()


@pytest.fixture(autouse=True)
def apptest_reruns_run_the_entrypoint(monkeypatch):
    """Make every AppTest run start from app.py, as a live server does once st.navigation has run.

    AppTest resets Streamlit's "pages/ folder" flag before each run, so without this a rerun
    (a click, a widget change) would run the page file alone, and the app would have to rerun
    itself through app.py, dropping the click. The cold-server case that flag exists for is
    covered by a browser test with a fresh server.
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False  # what st.navigation sets in a live session

    monkeypatch.setattr(PagesManager, "__init__", init)
