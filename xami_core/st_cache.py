"""The one module of the core that imports Streamlit: cached wrappers of core loaders."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from . import overlay
from .loader import load_dataset
from .model import PALETTES, Dataset


@st.cache_data(show_spinner="Loading dataset…", max_entries=8)
def cached_dataset(path: str, source: str, synthetic: bool, fingerprint: tuple) -> Dataset:
    """Load a dataset once per (path, content fingerprint)."""
    del fingerprint  # part of the cache key only: an edited file changes it
    return load_dataset(path, source=source, synthetic=synthetic)


@st.cache_data(show_spinner=False, max_entries=2048)
def cached_overlay_png(path: str, ds_key: str, image_id: int, _annotations: pd.DataFrame, width: int, height: int,
                       palette: str, thumb: int | None, labels: bool = False) -> bytes:
    """PNG of a frame with its overlay, computed once per image, palette and size."""
    del ds_key, image_id  # cache key: the annotations come from that dataset and image
    return overlay.overlay_png(path, _annotations, width, height, PALETTES[palette], thumb=thumb, labels=labels)


# --- folds (issue 4: pages/folds.py) -------------------------------------------------------
from . import folds as _folds  # noqa: E402 - section-local import, keeps the sections independent


@st.cache_data(show_spinner="Making folds…", max_entries=64)
def cached_folds(ds_key: str, _ds: Dataset, method: str, k: int, seed: int) -> _folds.FoldSet:
    """Folds of the current dataset (keyed by its content key), computed once per method, k and seed."""
    del ds_key  # cache key: identifies `_ds`
    return _folds.make_folds(_ds, method, k, seed)


@st.cache_data(show_spinner="Reading fold files…", max_entries=16)
def cached_fold_files(ds_key: str, _ds: Dataset, folder: str, fingerprint: tuple) -> _folds.FoldSet:
    """Folds read from the authors' files in `folder`, reloaded when those files change."""
    del ds_key, fingerprint
    return _folds.read_fold_files(folder, _ds)


@st.cache_data(show_spinner="Comparing K-fold and stratified K-fold…", max_entries=64)
def cached_method_comparison(ds_key: str, _ds: Dataset, k: int, seed: int, measure: str) -> pd.DataFrame:
    """The authors' K-fold vs stratified comparison for one k and seed."""
    del ds_key
    return _folds.method_comparison(_ds, k, seed, measure=measure)
