"""The dataset and palette chosen in the entrypoint's sidebar, for the page being run."""

from __future__ import annotations

import runpy
from pathlib import Path

import streamlit as st

from xami_core.model import Dataset

from .text import md_literal

_DATASET = "_xami_dataset"
PALETTE_KEY = "palette"
APP = Path(__file__).resolve().parents[1] / "app.py"


def set_current(ds: Dataset) -> None:
    """Called once per run by app.py after the sidebar has loaded the data."""
    st.session_state[_DATASET] = ds


def current_dataset() -> Dataset:
    """The dataset selected in the sidebar (app.py loads it before it runs the page).

    Raises:
        KeyError: no run of app.py has loaded a dataset in this session (a page function called
            outside the app's navigation).
    """
    return st.session_state[_DATASET]


def run_app() -> None:
    """Run the entrypoint, app.py, in this script run: for a page file Streamlit ran as a script.

    Streamlit treats a `pages/` folder next to the entrypoint as a legacy (v1) multipage app
    until some run in the process calls `st.navigation`: a fresh server's first request for
    a page URL (a shared link such as /gallery), and every AppTest run, executes that page's
    file instead of app.py. A page file only defines its page function (app.py passes it to
    `st.Page`) and calls this when run as `__main__`; app.py then draws the frame and, through
    `st.navigation` (which ends that mode), the page of the URL, in the same run.
    """
    runpy.run_path(str(APP), run_name="__main__")


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
