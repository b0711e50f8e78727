"""The Streamlit caches of the core: `st.cache_resource` for loaded datasets, `st.cache_data` for per-view results."""

from __future__ import annotations

import threading
from collections import OrderedDict

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from xami_core.io.loader import extraction_key, load_dataset, needs_extraction
from xami_core.io.worker import load_in_worker, load_in_worker_enabled
from xami_core.model import Dataset, XamiDataError

FAILED_LOADS = 64  # failures remembered (short messages); the oldest is forgotten first
_failed: OrderedDict[tuple, str] = OrderedDict()  # (path, source, synthetic, fingerprint) -> message
_failed_lock = threading.Lock()  # sessions run in threads


# A resource, not data: a Dataset is immutable (frozen, and no page or core function changes its
# tables), so every rerun and session shares one object; `st.cache_data` unpickled a copy per rerun.
@st.cache_resource(show_spinner="Loading dataset…", max_entries=8)
def _loaded_dataset(path: str, source: str, synthetic: bool, fingerprint: tuple, extraction: str) -> Dataset:
    """Load a dataset once per (path, content fingerprint, extraction token), in a limited worker process."""
    del fingerprint, extraction  # part of the cache key only: an edited file or a new extraction changes it
    if load_in_worker_enabled():
        return load_in_worker(path, source, synthetic)
    return load_dataset(path, source=source, synthetic=synthetic)


def cached_dataset(path: str, source: str, synthetic: bool, fingerprint: tuple) -> Dataset:
    """Load a dataset once per (path, content fingerprint); a zip's deleted extraction is made again.

    A failure is remembered per fingerprint too (Streamlit does not cache exceptions), so a
    rerun answers at once with the same message; an edited source is tried again.

    Raises:
        XamiDataError: the source cannot be loaded, or its load went over `XAMI_LOAD_MAX_GB` or
            `XAMI_LOAD_TIMEOUT_S` (the message of the first attempt).
    """
    key = (path, source, synthetic, fingerprint)
    with _failed_lock:
        message = _failed.get(key)
    if message is not None:
        raise XamiDataError(message)
    try:
        if needs_extraction(path):
            with st.spinner("Extracting the archive into the cache…"):
                extraction = extraction_key(path)
        else:
            extraction = extraction_key(path)  # touches the extraction's "last used" time
        return _loaded_dataset(path, source, synthetic, fingerprint, extraction)
    except XamiDataError as exc:
        with _failed_lock:
            _failed[key] = str(exc)
            while len(_failed) > FAILED_LOADS:
                _failed.popitem(last=False)
        raise


def forget_failed_loads() -> None:
    """Forget every remembered failure (tests; a deployment that fixed its settings)."""
    with _failed_lock:
        _failed.clear()


# --- folds (issue 4: pages/folds.py) -------------------------------------------------------
from xami_core.analysis import fold_balance as _fold_balance  # noqa: E402 - section-local import, keeps the sections independent
from xami_core.analysis import folds as _folds  # noqa: E402 - section-local import, keeps the sections independent
from xami_core.io import fold_files as _fold_files  # noqa: E402 - section-local import, keeps the sections independent


@st.cache_data(show_spinner="Making folds…", max_entries=64)
def cached_folds(ds_key: str, _ds: Dataset, method: str, k: int, seed: int) -> _folds.FoldSet:
    """Folds of the current dataset (keyed by its content key), computed once per method, k and seed."""
    del ds_key  # cache key: identifies `_ds`
    return _folds.make_folds(_ds, method, k, seed)


@st.cache_data(show_spinner="Reading fold files…", max_entries=16)
def cached_fold_files(ds_key: str, _ds: Dataset, folder: str, fingerprint: tuple) -> _folds.FoldSet:
    """Folds read from the authors' files in `folder`, reloaded when those files change."""
    del ds_key, fingerprint
    return _fold_files.read_fold_files(folder, _ds)


@st.cache_data(show_spinner="Comparing K-fold and stratified K-fold…", max_entries=64)
def cached_method_comparison(ds_key: str, _ds: Dataset, k: int, seed: int, measure: str,
                             methods: tuple[str, ...] = ("kfold", "stratified")) -> pd.DataFrame:
    """The authors' K-fold vs stratified comparison for one k and seed (optionally more methods)."""
    del ds_key
    return _fold_balance.method_comparison(_ds, k, seed, methods=methods, measure=measure)


# --- heatmaps (issue 5: pages/heatmaps.py) -------------------------------------------------
from xami_core.analysis import heatmaps as _heatmaps  # noqa: E402 - section-local import, keeps the sections independent
from xami_core.analysis import rasterise as _rasterise  # noqa: E402 - section-local import, keeps the sections independent
from xami_core.render import heatmap_figures as _heatmap_figures  # noqa: E402 - section-local import, keeps the sections independent


@st.cache_data(show_spinner="Rasterising masks…", max_entries=8)
def cached_mask_runs(ds_key: str, _ds: Dataset, grid: int) -> _rasterise.Runs:
    """Exact masks of the current dataset on a grid, rasterised once per dataset and grid."""
    del ds_key  # cache key: identifies `_ds`
    return _rasterise.mask_runs(_ds.images, _ds.annotations, grid)


@st.cache_data(show_spinner="Accumulating heatmaps…", max_entries=24)
def cached_heatmaps(ds_key: str, _ds: Dataset, method: str, grid: int, by: str, fold_method: str = "stratified",
                    k: int = _folds.AUTHORS_K, seed: int = _folds.AUTHORS_SEED, fold: int = 0) -> _heatmaps.HeatmapSet:
    """Heatmaps per group and class; `by="fold"` groups one fold's train and valid parts (fold arguments)."""
    runs = cached_mask_runs(ds_key, _ds, grid) if method == "mask" else None
    folds = cached_folds(ds_key, _ds, fold_method, k, seed) if by == "fold" else None
    return _heatmaps.dataset_heatmaps(_ds, method=method, grid=grid, by=by, folds=folds, fold=fold, runs=runs)


# --- observation metadata (issue 3: pages/overview.py) -------------------------------------
from xami_core.io import metadata as _metadata  # noqa: E402 - section-local import, keeps the sections independent


@st.cache_data(show_spinner=False, max_entries=8)
def cached_obs_info(path: str, label: str, fingerprint: tuple) -> _metadata.ObsMetadata:
    """An observation-metadata file read once per content version, cited as `label`."""
    del fingerprint  # cache key only: an edited or re-downloaded file is read again
    meta = _metadata.read_obs_info(path)
    return _metadata.ObsMetadata(table=meta.table, source=label, problems=meta.problems)


# --- figure export (issue 7: xami_ui/export.py) ---------------------------------------------
@st.cache_resource(show_spinner="Starting the figure renderer…")
def figure_server() -> bool:
    """Start one kaleido browser for the whole app (a shared engine), so exports after the first are quick."""
    from xami_core.render import export as _export  # noqa: PLC0415 - only needed once someone exports

    try:
        _export.start_figure_server()
    except _export.FigureExportError:
        return False  # render_figure then explains what is missing
    return True


@st.cache_data(show_spinner="Drawing the maps…", max_entries=16)
def cached_small_multiples(ds_key: str, _hs: _heatmaps.HeatmapSet, view: tuple, how: str, scale: str,
                           colours: str) -> go.Figure:
    """The class x group figure, built once per heatmap view (`view`: the arguments of `cached_heatmaps`).

    plotly validates every panel's settings, which takes a good part of a second; a rerun that
    only changes the single map below reuses this figure.
    """
    del ds_key, view  # cache key: they identify `_hs`
    return _heatmap_figures.small_multiples_figure(_hs, how=how, scale=scale, colours=colours)
