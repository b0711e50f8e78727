"""The dataset and palette chosen in the entrypoint's sidebar, for the page being run."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from xami_core.model import Dataset

_DATASET = "_xami_dataset"
_DATASET_KEY = "_xami_dataset_key"
PALETTE_KEY = "palette"


def set_current(ds: Dataset, key: str) -> None:
    """Called once per run by app.py after the sidebar has loaded the data."""
    st.session_state[_DATASET] = ds
    st.session_state[_DATASET_KEY] = key


def current_dataset() -> Dataset:
    """The dataset selected in the sidebar."""
    if _DATASET not in st.session_state:
        _rerun_through_entrypoint()
    return st.session_state[_DATASET]


def _rerun_through_entrypoint() -> None:
    """Run app.py first when Streamlit ran a page file on its own.

    Until some run calls `st.navigation`, Streamlit treats a `pages/` folder as a v1
    multipage app: a server's first request for a page URL (a shared link) runs that page
    without app.py, so nothing is loaded. Calling `st.navigation` ends that mode; the rerun
    then goes through app.py to the same page (page identity is the URL path, which
    `st.Page` derives from the file name in both modes).
    """
    pages = sorted(Path(__file__).resolve().parents[1].joinpath("pages").glob("*.py"))
    st.navigation([st.Page(page) for page in pages], position="hidden")
    st.rerun()


def dataset_key() -> str:
    """A string that identifies the current dataset's content (for dependent caches)."""
    return st.session_state[_DATASET_KEY]


def current_palette() -> str:
    """The class colour palette chosen in the sidebar ("authors" by default)."""
    return st.session_state.get(PALETTE_KEY, "authors")
