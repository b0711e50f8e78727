"""The dataset and palette chosen in the entrypoint's sidebar, for the page being run."""

from __future__ import annotations

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
    return st.session_state[_DATASET]


def dataset_key() -> str:
    """A string that identifies the current dataset's content (for dependent caches)."""
    return st.session_state[_DATASET_KEY]


def current_palette() -> str:
    """The class colour palette chosen in the sidebar ("authors" by default)."""
    return st.session_state.get(PALETTE_KEY, "authors")
