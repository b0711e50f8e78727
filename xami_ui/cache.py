"""The Streamlit caches of the core: `st.cache_resource` for loaded datasets, `st.cache_data` for per-view results."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import replace

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from xami_core.io.archive import CacheFullError
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
    del extraction  # part of the cache key only: a new extraction of the same content is loaded again
    if load_in_worker_enabled():
        ds = load_in_worker(path, source, synthetic)
    else:
        ds = load_dataset(path, source=source, synthetic=synthetic)
    digest = hashlib.sha1(repr((source, synthetic, fingerprint)).encode()).hexdigest()[:16]
    return replace(ds, content_key=f"{path}|{digest}")


def cached_dataset(path: str, source: str, synthetic: bool, fingerprint: tuple) -> Dataset:
    """Load a dataset once per (path, content fingerprint); a zip's deleted extraction is made again.

    The dataset's `content_key` names that content, for the per-view caches below. A failure is remembered
    per fingerprint too (Streamlit does not cache exceptions), so a rerun answers at once with the same
    message; an edited source is tried again. A zip the cache has no room for now is not remembered
    (`archive.CacheFullError`): it is tried again once room is made.

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
    except CacheFullError:  # no room in the cache now; there may be once an upload goes
        raise
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


def content_key(ds: Dataset) -> str:
    """A Dataset's key in the per-view caches: its `content_key`, set by `cached_dataset`.

    Raises:
        ValueError: the dataset has no content key (it was not loaded through `cached_dataset`),
            so two different datasets would share cache entries.
    """
    if not ds.content_key:
        raise ValueError("a Dataset without a content_key cannot key a cache; load it with cached_dataset")
    return ds.content_key


BY_CONTENT = {Dataset: content_key}  # the `hash_funcs` of every cache taking a Dataset


# --- folds (issue 4: pages/folds.py) -------------------------------------------------------
from xami_core.analysis import fold_balance as _fold_balance  # noqa: E402 - section-local import, keeps the sections independent
from xami_core.analysis import folds as _folds  # noqa: E402 - section-local import, keeps the sections independent
from xami_core.io import fold_files as _fold_files  # noqa: E402 - section-local import, keeps the sections independent


@st.cache_data(show_spinner="Making folds…", max_entries=64, hash_funcs=BY_CONTENT)
def cached_folds(ds: Dataset, method: str, k: int, seed: int) -> _folds.FoldSet:
    """Folds of a dataset, computed once per content, method, k and seed.

    Raises:
        ValueError: an unknown method, or k outside `folds.K_MIN`..`folds.K_MAX`.
        XamiDataError: the folds cannot be made (see `folds.make_folds`).
    """
    return _folds.make_folds(ds, method, k, seed)


@st.cache_data(show_spinner="Reading fold files…", max_entries=16, hash_funcs=BY_CONTENT)
def cached_fold_files(ds: Dataset, folder: str, fingerprint: tuple) -> _folds.FoldSet:
    """Folds read from the authors' files in `folder`, reloaded when those files change.

    Raises:
        XamiDataError: the folder cannot be used or read, or matches no image (see `fold_files.read_fold_files`).
    """
    del fingerprint  # cache key only: edited fold files are read again
    return _fold_files.read_fold_files(folder, ds)


@st.cache_data(show_spinner="Comparing K-fold and stratified K-fold…", max_entries=64, hash_funcs=BY_CONTENT)
def cached_method_comparison(ds: Dataset, k: int, seed: int, measure: str,
                             methods: tuple[str, ...] = ("kfold", "stratified")) -> pd.DataFrame:
    """The authors' K-fold vs stratified comparison for one k and seed (optionally more methods).

    Raises:
        XamiDataError: the folds of a method cannot be made (see `folds.make_folds`).
    """
    return _fold_balance.method_comparison(ds, k, seed, methods=methods, measure=measure)


# --- heatmaps (issue 5: pages/heatmaps.py) -------------------------------------------------
from xami_core.analysis import heatmaps as _heatmaps  # noqa: E402 - section-local import, keeps the sections independent
from xami_core.analysis import rasterise as _rasterise  # noqa: E402 - section-local import, keeps the sections independent
from xami_core.render import heatmap_figures as _heatmap_figures  # noqa: E402 - section-local import, keeps the sections independent


@st.cache_data(show_spinner="Rasterising masks…", max_entries=8, hash_funcs=BY_CONTENT)
def cached_mask_runs(ds: Dataset, grid: int) -> _rasterise.Runs:
    """Exact masks of a dataset on a `grid` x `grid` raster, rasterised once per content and grid."""
    return _rasterise.mask_runs(ds.images, ds.annotations, grid)


@st.cache_data(show_spinner="Accumulating heatmaps…", max_entries=24, hash_funcs=BY_CONTENT)
def cached_heatmaps(ds: Dataset, method: str, grid: int, by: str, fold_method: str = "stratified",
                    k: int = _folds.AUTHORS_K, seed: int = _folds.AUTHORS_SEED, fold: int = 0) -> _heatmaps.HeatmapSet:
    """Heatmaps per group and class; `by="fold"` groups one fold's train and valid parts (fold arguments).

    Raises:
        ValueError: an unknown method or grouping, or a fold not in the fold set.
        XamiDataError: the folds cannot be made (see `folds.make_folds`).
    """
    runs = cached_mask_runs(ds, grid) if method == "mask" else None
    folds = cached_folds(ds, fold_method, k, seed) if by == "fold" else None
    return _heatmaps.dataset_heatmaps(ds, method=method, grid=grid, by=by, folds=folds, fold=fold, runs=runs)


# --- observation metadata (issue 3: pages/overview.py) -------------------------------------
from xami_core.io import metadata as _metadata  # noqa: E402 - section-local import, keeps the sections independent


@st.cache_data(show_spinner=False, max_entries=8)
def cached_obs_info(path: str, label: str, fingerprint: tuple) -> _metadata.ObsMetadata:
    """An observation-metadata file read once per content version, cited as `label`.

    Raises:
        XamiDataError: the file cannot be read or is not an obs_info JSON (see `metadata.read_obs_info`).
    """
    del fingerprint  # cache key only: an edited or re-downloaded file is read again
    meta = _metadata.read_obs_info(path)
    return _metadata.ObsMetadata(table=meta.table, source=label, problems=meta.problems)


# --- field groups and leakage (issue 13: pages/folds.py) -----------------------------------
from xami_core.analysis import field_groups as _field_groups  # noqa: E402 - section-local import, keeps the sections independent
from xami_core.analysis import fold_tradeoff as _fold_tradeoff  # noqa: E402 - section-local import, keeps the sections independent


@st.cache_data(show_spinner="Grouping frames by sky field…", max_entries=32, hash_funcs=BY_CONTENT)
def cached_field_groups(ds: Dataset, by: str, radius_arcmin: float | None = None,
                        obs_info: tuple[str, str, tuple] | None = None) -> _field_groups.FieldGroups:
    """Field groups of a dataset's frames, by ObsID or (`by="sky"`) by pointings within `radius_arcmin`.

    `obs_info` is the key of `cached_obs_info` (path, label, fingerprint) for "sky"; without it no
    frame has a pointing, and every frame keeps its ObsID group (`FieldGroups.n_without_position`).

    Raises:
        ValueError: an unknown grouping or a radius outside (0, 10800] arcmin.
        XamiDataError: the metadata file cannot be read (see `cached_obs_info`).
    """
    if by != "sky":
        return _field_groups.field_groups(ds.images, by=by)
    radius = _field_groups.OM_FOV_ARCMIN if radius_arcmin is None else radius_arcmin
    if obs_info is None:
        unplaced = ds.images.assign(ra_deg=float("nan"), dec_deg=float("nan"))
        return _field_groups.field_groups(unplaced, by="sky", radius_arcmin=radius)
    return _field_groups.field_groups(ds.images, by="sky", radius_arcmin=radius, metadata=cached_obs_info(*obs_info))


@st.cache_data(show_spinner="Making folds that keep fields whole…", max_entries=64, hash_funcs=BY_CONTENT)
def cached_grouped_folds(ds: Dataset, method: str, k: int, seed: int, by: str, radius_arcmin: float | None = None,
                         obs_info: tuple[str, str, tuple] | None = None) -> _folds.FoldSet:
    """Folds of a grouped method ("stratified-group", "multilabel-group") over the field groups of `cached_field_groups`.

    Raises:
        ValueError: an unknown method, k outside `folds.K_MIN`..`folds.K_MAX`, or bad grouping arguments.
        XamiDataError: the folds cannot be made (fewer field groups than folds), or the metadata cannot be read.
    """
    groups = cached_field_groups(ds, by, radius_arcmin, obs_info)
    return _folds.make_folds(ds, method, k, seed, groups=groups)


@st.cache_data(show_spinner="Comparing fold methods on balance and leakage…", max_entries=32, hash_funcs=BY_CONTENT)
def cached_method_tradeoff(ds: Dataset, k: int, seed: int, measure: str, methods: tuple[str, ...], by: str,
                           radius_arcmin: float | None = None,
                           obs_info: tuple[str, str, tuple] | None = None) -> pd.DataFrame:
    """`fold_tradeoff.method_tradeoff` of `methods` for one k and seed, leakage against these field groups.

    Raises:
        ValueError: an unknown method or measure, k out of range, or bad grouping arguments.
        XamiDataError: a method cannot make k folds of this dataset, or the metadata cannot be read.
    """
    groups = cached_field_groups(ds, by, radius_arcmin, obs_info)
    return _fold_tradeoff.method_tradeoff(ds, groups, k, seed, methods=methods, measure=measure)


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


@st.cache_data(show_spinner="Drawing the maps…", max_entries=16, hash_funcs=BY_CONTENT)
def cached_small_multiples(ds: Dataset, view: tuple, how: str, scale: str, colours: str) -> go.Figure:
    """The class x group figure, built once per heatmap view (`view`: the arguments of `cached_heatmaps` after `ds`).

    plotly validates every panel's settings, which takes a good part of a second; a rerun that
    only changes the single map below reuses this figure.

    Raises:
        ValueError, XamiDataError: as `cached_heatmaps` for this view.
    """
    hs = cached_heatmaps(ds, *view)
    return _heatmap_figures.small_multiples_figure(hs, how=how, scale=scale, colours=colours)


# --- predictions (issue 12: pages/predictions.py) ------------------------------------------
from xami_core.analysis import evaluation as _evaluation  # noqa: E402 - section-local import, keeps the sections independent
from xami_core.io import predictions as _predictions  # noqa: E402 - section-local import, keeps the sections independent
from xami_core.io import sample_predictions as _sample_predictions  # noqa: E402 - section-local import, keeps the sections independent


def predictions_key(preds: _predictions.Predictions) -> str:
    """A prediction set's key in the per-view caches: its `content_key`, set where it is loaded below.

    Raises:
        ValueError: the set has no content key (it was not loaded through these caches), so two
            different sets would share cache entries.
    """
    if not preds.content_key:
        raise ValueError("Predictions without a content_key cannot key a cache; load them with cached_predictions")
    return preds.content_key


BY_PREDICTIONS = BY_CONTENT | {_predictions.Predictions: predictions_key}  # caches taking a Dataset and Predictions


# Resources, as datasets are: a prediction set is immutable and holds every mask, so sessions share one object.
@st.cache_resource(show_spinner="Reading predictions…", max_entries=16, hash_funcs=BY_CONTENT)
def cached_predictions(ds: Dataset, path: str, name: str, fingerprint: tuple,
                       shown_as: str | None = None) -> _predictions.Predictions:
    """A results file or YOLO folder read for `ds` once per content (`fingerprint`: `predictions_fingerprint`),
    named in messages as `shown_as` (default: `path`).

    Raises:
        XamiDataError: the path cannot be read or matched (see `predictions.load_predictions`).
    """
    preds = _predictions.load_predictions(path, ds, name=name or None, shown_as=shown_as)
    digest = hashlib.sha1(repr((name, fingerprint)).encode()).hexdigest()[:16]
    return replace(preds, content_key=f"{content_key(ds)}|{path}|{digest}")


@st.cache_resource(show_spinner="Making the synthetic predictions…", max_entries=4, hash_funcs=BY_CONTENT)
def cached_synthetic_predictions(ds: Dataset) -> _predictions.Predictions:
    """The deterministic synthetic prediction set for `ds` (the bundled sample's), made once per content."""
    preds = _sample_predictions.synthetic_predictions(ds)
    return replace(preds, content_key=f"{content_key(ds)}|synthetic-v{_sample_predictions.SYNTHETIC_VERSION}")


@st.cache_data(show_spinner="Running COCOeval…", max_entries=32, hash_funcs=BY_PREDICTIONS)
def cached_evaluation(ds: Dataset, preds: _predictions.Predictions, iou_type: str,
                      image_ids: tuple[int, ...]) -> _evaluation.Evaluation:
    """pycocotools COCOeval of `preds` on the images `image_ids`, run once per (content, subset, IoU type).

    Raises:
        ValueError: an unknown `iou_type`.
        XamiDataError: no image of the dataset is in `image_ids`.
    """
    return _evaluation.evaluate(ds, preds, iou_type, list(image_ids))


@st.cache_data(show_spinner=False, max_entries=64, hash_funcs=BY_PREDICTIONS)
def cached_thresholds(ds: Dataset, preds: _predictions.Predictions, iou_type: str, image_ids: tuple[int, ...],
                      iou: float, score: float) -> _evaluation.ThresholdReport:
    """Counts at one IoU and score threshold, from the cached COCOeval run (a new threshold never reruns it).

    Raises:
        ValueError: as `evaluation.at_thresholds`, or an unknown `iou_type`.
        XamiDataError: as `cached_evaluation`.
    """
    return _evaluation.at_thresholds(cached_evaluation(ds, preds, iou_type, image_ids), iou=iou, score=score)


@st.cache_data(show_spinner="Running COCOeval per group…", max_entries=32, hash_funcs=BY_PREDICTIONS)
def cached_group_metrics(ds: Dataset, preds: _predictions.Predictions, iou_type: str,
                         groups: tuple[tuple[str, tuple[int, ...]], ...]) -> pd.DataFrame:
    """Overall COCO metrics per image group ((label, image ids) pairs): one COCOeval run per group, once.

    Raises:
        ValueError: an unknown `iou_type`.
    """
    return _evaluation.metrics_by_group(ds, preds, dict(groups), iou_type)


# --- dataset health and annotation statistics (issue 14: pages/health.py) ---------------------
from xami_core.analysis import annotation_stats as _annotation_stats  # noqa: E402 - section-local import, keeps the sections independent
from xami_core.analysis import health as _health  # noqa: E402 - section-local import, keeps the sections independent

SPLIT_PARTS = "split"  # `cached_annotation_stats` parts: the split; "fold<k>": fold k of the authors' folds


@st.cache_resource(show_spinner="Checking the dataset…", max_entries=8, hash_funcs=BY_CONTENT)
def cached_check_inputs(ds: Dataset) -> _health.CheckInputs:
    """The health checks' threshold-free work (frame hashes, mask and box IoUs, polygon validity, files), once per
    content and shared without a copy (read only, as the dataset is)."""
    return _health.prepare_checks(ds)


@st.cache_data(show_spinner=False, max_entries=32, hash_funcs=BY_CONTENT)
def cached_health_report(ds: Dataset, box_iou_min: float, mask_iou_min: float,
                         max_hash_distance: int) -> _health.HealthReport:
    """Every health check at these thresholds: the shared inputs compared with them (a moved slider recomputes
    nothing else).

    Raises:
        ValueError: a threshold outside its range (see `health.run_checks`).
    """
    return _health.run_checks(ds, box_iou_min=box_iou_min, mask_iou_min=mask_iou_min,
                              max_hash_distance=max_hash_distance, inputs=cached_check_inputs(ds))


def stat_parts(ds: Dataset, parts: str) -> pd.Series | None:
    """Each image's part for `parts`: None for the split, or the train/valid parts of "fold<k>" of the authors' folds.

    Raises:
        ValueError: `parts` is neither `SPLIT_PARTS` nor "fold<k>" with k a fold of the authors' folds.
        XamiDataError: the authors' folds cannot be made for this dataset (see `folds.make_folds`).
    """
    if parts == SPLIT_PARTS:
        return None
    fold = parts.removeprefix("fold")
    if not fold.isdigit():
        raise ValueError(f"parts must be {SPLIT_PARTS!r} or 'fold<k>', got {parts!r}")
    folds = cached_folds(ds, "stratified", _folds.AUTHORS_K, _folds.AUTHORS_SEED)
    return _annotation_stats.fold_parts(folds.assignments, int(fold))


@st.cache_data(show_spinner="Measuring the annotations…", max_entries=16, hash_funcs=BY_CONTENT)
def cached_annotation_stats(ds: Dataset, parts: str) -> dict[str, pd.DataFrame]:
    """The Health page's statistics for one choice of parts (`stat_parts`), computed once per content.

    Returns:
        "instances" (`instance_measures`), "summary" (`measure_summary`), "per_image"
        (`instances_per_image`) and "cooccurrence" (`class_cooccurrence`).

    Raises:
        ValueError, XamiDataError: as `stat_parts`.
    """
    part_of = stat_parts(ds, parts)
    instances = _annotation_stats.instance_measures(ds, part_of)
    return {"instances": instances, "summary": _annotation_stats.measure_summary(instances),
            "per_image": _annotation_stats.instances_per_image(ds, part_of),
            "cooccurrence": _annotation_stats.class_cooccurrence(ds, part_of)}


@st.cache_data(show_spinner=False, max_entries=64, hash_funcs=BY_CONTENT)
def cached_measure_bins(ds: Dataset, parts: str, measure: str, bins: int = 30) -> pd.DataFrame:
    """`annotation_stats.binned_counts` of one measure for one choice of parts.

    Raises:
        ValueError: an unknown measure, or as `stat_parts`.
        XamiDataError: as `stat_parts`.
    """
    return _annotation_stats.binned_counts(cached_annotation_stats(ds, parts)["instances"], measure, bins=bins)


# --- per-rerun tables of the Overview and Fold balance pages (issue 11: warm reruns at 150k images) -----------
from xami_core.analysis import leakage as _leakage  # noqa: E402 - section-local import, keeps the sections independent
from xami_core.analysis import stats as _stats  # noqa: E402 - section-local import, keeps the sections independent


@st.cache_data(show_spinner=False, max_entries=8, hash_funcs=BY_CONTENT)
def cached_overview_tables(ds: Dataset) -> dict[str, pd.DataFrame]:
    """The Overview page's count tables, once per content (at 150,000 images they took about 2 s of every rerun).

    Returns:
        "summary" (`stats.split_summary`), "class_counts" (`stats.class_counts`), "class_table"
        (`stats.class_count_table`), "per_filter" (`stats.filter_split_counts`), "filters"
        (`stats.filter_counts`) and "empty" (`stats.empty_images`).
    """
    return {"summary": _stats.split_summary(ds), "class_counts": _stats.class_counts(ds),
            "class_table": _stats.class_count_table(ds), "per_filter": _stats.filter_split_counts(ds),
            "filters": _stats.filter_counts(ds), "empty": _stats.empty_images(ds)}


def fold_set_key(folds: _folds.FoldSet) -> str:
    """A fold set's key in the per-view caches: a digest of its recipe and its assignments (fold, image, part)."""
    a = folds.assignments
    digest = hashlib.sha1(repr((folds.method, folds.k, folds.seed, folds.source, len(a))).encode())
    for column in (a["fold"], a["image_id"], a["part"] == "valid"):
        digest.update(column.to_numpy(dtype="int64").tobytes())
    return digest.hexdigest()


@st.cache_data(show_spinner=False, max_entries=64, hash_funcs=BY_CONTENT | {_folds.FoldSet: fold_set_key})
def cached_fold_class_counts(ds: Dataset, folds: _folds.FoldSet) -> pd.DataFrame:
    """`fold_balance.fold_class_counts` once per content and fold set (about 1 s of every rerun at 150,000 images)."""
    return _fold_balance.fold_class_counts(ds, folds)


def field_groups_key(groups: _field_groups.FieldGroups) -> str:
    """Field groups' key in the per-view caches: a digest of how they were made and of each frame's group."""
    digest = hashlib.sha1(repr((groups.by, groups.radius_arcmin, len(groups.group))).encode())
    digest.update(groups.group.astype("int64").tobytes())
    digest.update(groups.image_ids.astype("int64").tobytes())
    return digest.hexdigest()


BY_FOLDS = BY_CONTENT | {_folds.FoldSet: fold_set_key, _field_groups.FieldGroups: field_groups_key}


@st.cache_data(show_spinner=False, max_entries=64, hash_funcs=BY_FOLDS)
def cached_leaking_groups(ds: Dataset, folds: _folds.FoldSet, groups: _field_groups.FieldGroups) -> pd.DataFrame:
    """`leakage.leaking_groups` once per content, fold set and field groups (about 0.3 s of a rerun at 150k)."""
    return _leakage.leaking_groups(folds, groups, ds.images)


@st.cache_data(show_spinner=False, max_entries=64, hash_funcs=BY_FOLDS)
def cached_fold_filter_counts(ds: Dataset, folds: _folds.FoldSet) -> pd.DataFrame:
    """`fold_balance.fold_filter_counts` once per content and fold set."""
    return _fold_balance.fold_filter_counts(ds, folds)


@st.cache_data(show_spinner=False, max_entries=64, hash_funcs=BY_FOLDS)
def cached_empty_per_fold(ds: Dataset, folds: _folds.FoldSet) -> pd.DataFrame:
    """`fold_balance.empty_per_fold` once per content and fold set."""
    return _fold_balance.empty_per_fold(ds, folds)


@st.cache_data(show_spinner=False, max_entries=16, hash_funcs=BY_CONTENT)
def cached_rare_labels(ds: Dataset, k: int) -> pd.DataFrame:
    """`folds.rare_labels` once per content and k."""
    return _folds.rare_labels(ds, k)
