"""The entrypoint's shared sidebar: data source and palette."""

from __future__ import annotations

import argparse
import hashlib
import os
import sys

import streamlit as st

from xami_core.loader import source_fingerprint
from xami_core.model import PALETTES, Dataset, XamiDataError
from xami_core.sample import sample_root
from xami_core.st_cache import cached_dataset

from .context import PALETTE_KEY, set_current

SAMPLE = "Synthetic sample (bundled)"
LOCAL = "Local folder or zip"
SOURCE_KEY = "data_source"
PATH_KEY = "data_path"


def start_path() -> str | None:
    """A data path given at start: `streamlit run app.py -- --data PATH`, else `XAMI_DATA`."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--data")
    args, _ = parser.parse_known_args(sys.argv[1:])
    return args.data or os.environ.get("XAMI_DATA") or None


def _init_state() -> None:
    """First run of a session: the query string, then the start path, then the sample."""
    if SOURCE_KEY in st.session_state:
        return
    wanted = st.query_params.get("data") or start_path()
    if wanted and wanted != "sample":
        st.session_state[SOURCE_KEY] = LOCAL
        st.session_state[PATH_KEY] = wanted
    else:
        st.session_state[SOURCE_KEY] = SAMPLE
    if st.query_params.get("palette") in PALETTES:
        st.session_state[PALETTE_KEY] = st.query_params["palette"]


def data_source_ui() -> tuple[str, str, bool]:
    """Sidebar widgets for the data source; returns (path, source label, synthetic)."""
    _init_state()
    choice = st.sidebar.radio("Data source", [SAMPLE, LOCAL], key=SOURCE_KEY)
    if choice == LOCAL:
        path = st.sidebar.text_input("Folder or .zip path", key=PATH_KEY,
                                     placeholder="/data/xami_dataset or xami_dataset.zip",
                                     help="Any XAMI layout: split folders with _annotations.coco.json, "
                                          "the no_splits data/ folder, a folder with one COCO file, or a zip of these.")
        if path.strip():
            st.query_params["data"] = path.strip()
            return path.strip(), "local", False
        st.sidebar.info("Enter a path; showing the synthetic sample meanwhile.")
    st.query_params["data"] = "sample"
    return str(sample_root()), "synthetic sample", True


def palette_ui() -> str:
    """Sidebar choice of class colours."""
    palette = st.sidebar.selectbox("Class colours", list(PALETTES), key=PALETTE_KEY,
                                   help="The authors' colours, or the Okabe-Ito colour-blind-safe set.")
    st.query_params["palette"] = palette
    return palette


def load_current_ui() -> Dataset:
    """Load the selected source (cached); on failure say why and fall back to the sample."""
    path, source, synthetic = data_source_ui()
    try:
        fingerprint = source_fingerprint(path)
        ds = cached_dataset(path, source, synthetic, fingerprint)
    except XamiDataError as exc:
        st.error(f"Could not load this data source. {exc}\n\nShowing the synthetic sample instead. "
                 "Check the path, or see the README for the supported layouts.")
        path, source, synthetic = str(sample_root()), "synthetic sample", True
        fingerprint = source_fingerprint(path)
        ds = cached_dataset(path, source, synthetic, fingerprint)
    set_current(ds, f"{path}|{hashlib.sha1(repr(fingerprint).encode()).hexdigest()[:12]}")
    if synthetic:
        st.sidebar.warning("Showing a **synthetic sample**: generated frames, not real XAMI data.")
    else:
        st.sidebar.caption(f"{ds.provenance.layout} · {len(ds.images):,} images · {len(ds.annotations):,} annotations")
    n_err = sum(p.severity == "error" for p in ds.problems)
    n_warn = len(ds.problems) - n_err
    if ds.problems:
        st.sidebar.warning(f"Input problems: {n_err} error(s), {n_warn} warning(s). Details on the Overview page.")
    return ds
