"""The dataset and palette chosen in the entrypoint's sidebar, for the page being run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from xami_core.model import Dataset

from .text import md_literal

_DATASET = "_xami_dataset"
_DATASET_KEY = "_xami_dataset_key"
PALETTE_KEY = "palette"
_THIS_RUN = threading.local()  # Streamlit runs each session's script in its own thread


def set_current(ds: Dataset, key: str) -> None:
    """Called once per run by app.py after the sidebar has loaded the data."""
    st.session_state[_DATASET] = ds
    st.session_state[_DATASET_KEY] = key


@contextmanager
def framed_run() -> Iterator[None]:
    """app.py wraps `page.run()` in this, so a page knows the frame (sidebar, data) ran before it."""
    _THIS_RUN.framed = True
    try:
        yield
    finally:
        _THIS_RUN.framed = False


def current_dataset() -> Dataset:
    """The dataset selected in the sidebar."""
    if not getattr(_THIS_RUN, "framed", False) or _DATASET not in st.session_state:
        _rerun_through_entrypoint()
    return st.session_state[_DATASET]


def _rerun_through_entrypoint() -> None:
    """Run app.py first when Streamlit ran a page file on its own.

    Until some run calls `st.navigation`, Streamlit treats a `pages/` folder as a v1
    multipage app: a server's first request for a page URL (a shared link) runs that page
    without app.py, so nothing is loaded, and Streamlit's AppTest re-enters that mode on
    every run (a widget change would rerun the page alone and drop the sidebar's state).
    Calling `st.navigation` ends that mode; the rerun then goes through app.py to the same
    page (page identity is the URL path, which `st.Page` derives from the file name in both
    modes).
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


def synthetic_notice_ui(ds: Dataset) -> None:
    """The page-top warning that the data shown is the generated sample, not real XAMI data."""
    if ds.provenance.synthetic:
        st.warning("**Synthetic sample**: generated frames, not real XAMI data. Load the real dataset from the sidebar.",
                   icon=":material/science:")


def terms_caption_ui(ds: Dataset) -> None:
    """A page's one-line caption of the data's terms: XAMI's licence and citation only for data recognised as XAMI."""
    prov = ds.provenance
    if prov.synthetic:
        st.caption("Synthetic sample: generated frames, not real XAMI data.")
    elif prov.recognised_xami:
        st.caption(f"XAMI data · licence {prov.licence} · cite: {prov.citation}")
    else:
        st.caption(f"Not recognised as XAMI data · licence (as the files state it): {md_literal(prov.licence)}")
