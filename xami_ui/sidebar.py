"""The entrypoint's shared sidebar: data source, observation metadata file and palette."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.errors import StreamlitAPIException
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from xami_core import access
from xami_core.io import archive, hub
from xami_core.io.loader import source_fingerprint
from xami_core.io.sample import sample_root
from xami_core.model import PALETTES, XAMI_URL, Dataset, XamiDataError
from xami_ui.cache import cached_dataset

from .context import PALETTE_KEY, set_current
from .text import md_code
from .text import md_literal as md_escape

SAMPLE = "Synthetic sample (bundled)"
HUB = "XAMI from Hugging Face"
LOCAL = "Local folder or zip"
UPLOAD = "Upload a zip"
SOURCES = (SAMPLE, HUB, LOCAL, UPLOAD)
# The source choice, the path box and the Hub variant are widgets bound to the link (bind="query-params"):
# their keys are the query parameters' names, and a link holds the radio's word for the source, e.g.
# `?data=path&path=/data/xami`, `?data=hf&hf=xami_dataset`, `?data=sample`, `?data=upload`.
# Before these widgets existed `data` held a local path itself (`?data=/data/xami`); such links still open.
LINK_WORDS = {SAMPLE: "sample", HUB: "hf", LOCAL: "path", UPLOAD: "upload"}
SOURCE_KEY = "data"
PATH_KEY = "path"
VARIANT_KEY = "hf"
# Not a selection but a share token: the secret key of an upload, in the link only while its uploader
# shares it (the toggle). The server makes it; a bound widget would show it and let a link type one in.
UPLOAD_PARAM = "upload"
BOUND = {"bind": "query-params", "persist_state": "session"}
UPLOADER_KEY = "upload_zip"
OBS_INFO_KEY = "obs_info_path"
SHARE_KEY = "upload_share"  # the toggle: put the upload's secret key in the link
DELETE_KEY = "upload_delete"
_UPLOAD_KEY = "_xami_upload_key"  # secret key of the upload in use (survives the uploader being cleared)
_UPLOAD_FILE = "_xami_upload_file"  # (uploader file id, secret key): extract each chosen file once
_UPLOAD_DELETED = "_xami_upload_deleted"  # uploader file id whose upload the user deleted: not extracted again
_OWNED = "_xami_owned_uploads"  # secret keys of the uploads this session made (only these it may delete)
_UPLOAD_REFUSED = "_xami_upload_refused"  # (uploader file id, message): a refused zip is not processed again
# The session's own copy of what its user chose. Streamlit drops a widget's state when a page change
# arrives before the browser has drawn that widget (several sessions at once make runs slow enough):
# the path box came back empty and the session fell to the sample. Widgets are re-seeded from this.
_CHOICE = "_xami_choice"
_CHOICE_KEYS = (SOURCE_KEY, PATH_KEY, VARIANT_KEY, SHARE_KEY)
_OBS_INFO_CHOICE = "_xami_obs_info_choice"
_HF_REQUEST = "_xami_hf_request"  # the variant whose download button was pressed
PROGRESS_EVERY_S = 0.15  # at most this often: each update is a message to the browser
SHORT_CITATION = "Dima et al. 2024, arXiv:2406.17323"

Loaded = tuple[str, str, bool]  # (path, source label, synthetic)
T = TypeVar("T")


def start_path() -> str | None:
    """A data path given at start: `streamlit run app.py -- --data PATH`, else `XAMI_DATA`."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--data")
    args, _ = parser.parse_known_args(sys.argv[1:])
    return args.data or os.environ.get("XAMI_DATA") or None


def _remember(key: str, value: object) -> None:
    """Record the user's choice for `key` in the session's own copy (see _CHOICE)."""
    st.session_state[_CHOICE] = {**st.session_state.get(_CHOICE, {}), key: value}


def _init_state() -> None:
    """Complete the link before the bound widgets read it; later runs restore dropped widgets.

    A session's first run: a link without `data` gets the start path (else the sample), and an old
    link's `?data=/some/path` becomes `?data=path&path=/some/path`. The widgets have no default
    (index None), so every choice, the sample too, stays in the link.
    """
    if _CHOICE in st.session_state:
        for key, value in st.session_state[_CHOICE].items():
            if key not in st.session_state:  # dropped by Streamlit, not changed by the user
                st.session_state[key] = value
        _relink()
        return
    archive.remove_stale_temps()  # folders a killed download or extraction left behind (archive module doc)
    archive.remove_expired_uploads()  # older than XAMI_UPLOAD_TTL_HOURS
    query = st.query_params
    word = query.get(SOURCE_KEY)
    old_path = word if word and word not in LINK_WORDS.values() else None
    if word == LINK_WORDS[UPLOAD] and archive.is_upload_key(query.get(UPLOAD_PARAM, "")):
        st.session_state[_UPLOAD_KEY] = query[UPLOAD_PARAM]  # a link its uploader chose to share
        st.session_state[SHARE_KEY] = True
    path = old_path or (None if word else start_path())
    if path:  # nothing is bound yet in a session's first run: the link may be written
        st.session_state[SOURCE_KEY], st.session_state[PATH_KEY] = LOCAL, path
        query[SOURCE_KEY], query[PATH_KEY] = LINK_WORDS[LOCAL], path
        if old_path:
            _reseed_from_link()
    elif not word:
        st.session_state[SOURCE_KEY] = SAMPLE
        query[SOURCE_KEY] = LINK_WORDS[SAMPLE]
    st.session_state[_CHOICE] = {k: st.session_state[k] for k in _CHOICE_KEYS if k in st.session_state}


def _reseed_from_link() -> None:
    """Make the bound widgets of this run seed from the link as rewritten so far, not as it arrived.

    Bound widgets seed from the query string the run started with, and Streamlit drops a value that
    is not an option (an old link's `data=/some/path`) together with the parameter, after we set ours.
    Streamlit has no public call for this; its session's query parameters have one.
    """
    ctx = get_script_run_ctx()
    if ctx is not None:
        with ctx.session_state.query_params() as params:
            params.set_initial_query_params_from_current()


def _relink() -> None:
    """Put back the parameters of the bound source widgets that Streamlit took out of the link.

    When Streamlit drops a widget's state (see _CHOICE) it also removes its parameter from the link
    and unbinds it; the session kept the value (persist_state), and the link must say it again.
    """
    source = st.session_state.get(SOURCE_KEY)
    wanted = {SOURCE_KEY: LINK_WORDS.get(source),
              PATH_KEY: st.session_state.get(PATH_KEY) if source == LOCAL else None,
              VARIANT_KEY: st.session_state.get(VARIANT_KEY) if source == HUB else None}
    for key, value in wanted.items():
        if value and key not in st.query_params:
            with contextlib.suppress(StreamlitAPIException):  # still bound: the browser writes it
                st.query_params[key] = value


def _share_in_link(key: str | None) -> None:
    """Put an upload's secret key in the link's `upload` parameter, or take it out (None)."""
    if key is None:
        st.query_params.pop(UPLOAD_PARAM, None)
    elif st.query_params.get(UPLOAD_PARAM) != key:
        st.query_params[UPLOAD_PARAM] = key


def _sample() -> Loaded:
    return str(sample_root()), "synthetic sample", True


def _with_progress(work: Callable[[hub.ProgressCallback], T], title: str, start_text: str) -> T:
    """Run `work(report)` under a progress bar with bytes and rate, at the top of the page; it goes when done."""
    slot = st.empty()
    with slot.container(border=True):
        st.markdown(title)
        bar = st.progress(0.0, text=start_text)
    ctx = get_script_run_ctx()
    last = [0.0]

    def report(p: hub.Progress) -> None:
        now = time.monotonic()
        if now - last[0] < PROGRESS_EVERY_S and p.fraction != 1.0:
            return
        last[0] = now
        if get_script_run_ctx() is None and ctx is not None:
            # Xet-backed downloads report from a worker thread, which Streamlit must be told about.
            add_script_run_ctx(threading.current_thread(), ctx)
        bar.progress(p.fraction or 0.0, text=hub.format_progress(p))

    try:
        return work(report)
    finally:
        slot.empty()


def _request_download(name: str) -> None:
    """The download button's callback: remember which variant to fetch in this run."""
    st.session_state[_HF_REQUEST] = name


def _download_button(slot: DeltaGenerator, v: hub.Variant, key: str = "hf_download", disabled: bool = False) -> None:
    slot.button(f"{'Try again: download' if key == 'hf_retry' else 'Download'} {v.filename}", key=key, type="primary",
                icon=":material/download:", width="stretch", on_click=_request_download, args=(v.name,),
                disabled=disabled)


def _hub_ui() -> Loaded | None:
    """The published variant, downloaded on request (or found in the cache), extracted once."""
    if st.session_state.get(VARIANT_KEY) is None:  # first shown: the default, named in the link too
        st.session_state[VARIANT_KEY] = hub.DEFAULT_VARIANT
        if VARIANT_KEY not in st.query_params:  # not bound while the box was not drawn
            st.query_params[VARIANT_KEY] = hub.DEFAULT_VARIANT
    name = st.sidebar.selectbox("Published variant", list(hub.VARIANTS), key=VARIANT_KEY, index=None, **BOUND,
                                help="The archives of the Hugging Face dataset iulia-elisa/XAMI-dataset. "
                                     "HF_ENDPOINT, HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE and HF_TOKEN apply.")
    _remember(VARIANT_KEY, name)
    v = hub.VARIANTS[name]
    st.sidebar.caption(f"{v.title}, about {v.approx_mb:g} MB · [{hub.REPO_ID}]({XAMI_URL})")
    ready = hub.ready_dataset_path(name)
    if ready is not None:  # later starts: nothing to fetch or extract
        return str(ready), hub.HUB_SOURCE, False
    settings = hub.hub_settings()
    cached = hub.cached_archive(name)
    if cached is None and settings.offline:
        try:
            hub.download_variant(name)  # says clearly why it cannot be had
        except XamiDataError as exc:
            st.error(md_code(exc), icon=":material/cloud_off:")
            return None
    needs_download = cached is None and not settings.offline
    requested = st.session_state.pop(_HF_REQUEST, None) == name
    button = st.sidebar.empty()
    if needs_download and not requested:
        _download_button(button, v)
        st.sidebar.info(f"Not downloaded yet (about {v.approx_mb:g} MB, once: later starts use the cached copy). "
                        "Showing the synthetic sample meanwhile.")
        return None
    if needs_download:  # disabled while it runs: a click would interrupt the download
        _download_button(button, v, disabled=True)
        st.sidebar.caption("Downloading; the progress shows at the top of the page.")
    title = (f"**Downloading `{v.filename}`** from {hub.REPO_ID} ({settings.endpoint}), then extracting it into the cache"
             if needs_download else f"**Extracting `{v.filename}`** from the Hugging Face cache")
    try:
        folder = _with_progress(lambda report: hub.hub_dataset_path(name, progress=report), title=title,
                                start_text="Connecting…" if needs_download else "Starting…")
    except XamiDataError as exc:
        st.error(md_code(exc), icon=":material/cloud_off:")
        if needs_download:  # the disabled button's key is taken in this run: a retry button replaces it
            _download_button(button, v, key="hf_retry")
        return None
    button.empty()
    return str(folder), hub.HUB_SOURCE, False


def _local_ui() -> Loaded | None:
    """A folder or zip path, refused outside the deployment's allowed roots."""
    raw = st.sidebar.text_input("Folder or .zip path", key=PATH_KEY, **BOUND,
                                placeholder="/data/xami_dataset or xami_dataset.zip",
                                help="Any XAMI layout: split folders with _annotations.coco.json, "
                                     "the no_splits data/ folder, a folder with one COCO file, a YOLOv8-seg "
                                     "folder with data.yaml, or a zip of these.")
    _remember(PATH_KEY, raw)
    path = raw.strip()
    try:
        roots = access.allowed_roots()
    except XamiDataError:  # said once at the top of the sidebar; check_local_path refuses every path
        roots = []
    if roots:
        st.sidebar.caption("This deployment opens paths under: " + ", ".join(md_code(r) for r in roots))
    if not path:
        st.sidebar.info("Enter a path; showing the synthetic sample meanwhile.")
        return None
    try:
        resolved = access.check_local_path(path, what="data path")
    except XamiDataError as exc:
        st.error(f"Path refused. {md_code(exc)}\n\nShowing the synthetic sample instead.", icon=":material/block:")
        return None
    return str(resolved), "local", False


def _owned_uploads() -> set[str]:
    """The secret keys of the uploads this session made (a session that opened a shared link owns none)."""
    return st.session_state.setdefault(_OWNED, set())


def _forget_upload() -> None:
    """The uploader changed (a new file, or the file removed): the earlier upload no longer applies, and
    when this session made it, it is deleted from the server (its user replaced or removed it)."""
    key = st.session_state.pop(_UPLOAD_KEY, None)
    known = st.session_state.pop(_UPLOAD_FILE, None)
    owned = _owned_uploads()
    for made in {key, known[1] if known else None} & owned:
        archive.delete_upload(made)
        owned.discard(made)


def _delete_upload() -> None:
    """The delete button's callback: remove this session's upload from the server and stop sharing it."""
    key = st.session_state.pop(_UPLOAD_KEY, None)
    known = st.session_state.pop(_UPLOAD_FILE, None)
    if known:  # the uploader still holds the file: do not extract it again on the next run
        st.session_state[_UPLOAD_DELETED] = known[0]
    if key and key in _owned_uploads():  # a shared link lets others open an upload, never delete it
        archive.delete_upload(key)
        _owned_uploads().discard(key)
    st.session_state[SHARE_KEY] = False
    _remember(SHARE_KEY, False)


def _refused_upload_ui(message: str) -> None:
    """Say why the zip in the uploader cannot be used (kept per file, so a rerun does not store it again)."""
    st.error(f"Could not use the upload. {md_code(message)}\n\nShowing the synthetic sample instead; choose "
             "the file again to try once more.")
    _share_in_link(None)


def _upload_settings_ui() -> float | None:
    """The hours an upload is kept; None (with the reason shown) when this deployment takes no uploads."""
    try:
        allowed = access.uploads_allowed()
        ttl = archive.upload_ttl_hours()
    except XamiDataError:  # the setting's message is at the top of the sidebar
        st.sidebar.info("Uploads are off until the deployment setting above is fixed; showing the synthetic sample.")
        return None
    if not allowed:
        st.sidebar.info(f"Uploads are turned off on this deployment ({access.ALLOW_UPLOADS_ENV}=0); "
                        "showing the synthetic sample.")
        return None
    return ttl


def _upload_ui() -> Loaded | None:
    """A zip sent through the browser, extracted into the cache under a secret key only this session knows."""
    ttl = _upload_settings_ui()
    if ttl is None:
        _share_in_link(None)
        return None
    limit = st.get_option("server.maxUploadSize")
    file = st.sidebar.file_uploader(
        "XAMI archive (.zip)", type=["zip"], key=UPLOADER_KEY, on_change=_forget_upload,
        help=f"Any XAMI layout, zipped; up to {limit} MB (server.maxUploadSize in .streamlit/config.toml). "
             f"It is checked and extracted into this server's cache under a secret key only this browser session "
             f"knows (unless you share it in the link), and removed after {ttl:g} hours or when you delete it.")
    if file is not None and file.file_id == st.session_state.get(_UPLOAD_DELETED):
        st.sidebar.info(f"Deleted {md_code(file.name)} from this server. Choose a file to upload again; "
                        "showing the synthetic sample meanwhile.")
        _share_in_link(None)
        return None
    refused = st.session_state.get(_UPLOAD_REFUSED)
    if file is not None and refused and refused[0] == file.file_id:  # said again, not stored and checked again
        _refused_upload_ui(refused[1])
        return None
    if file is not None:
        known = st.session_state.get(_UPLOAD_FILE)
        key = known[1] if known and known[0] == file.file_id else None
        folder = archive.uploaded_dir(key) if key else None
        if folder is None:  # a new file, or this file's upload expired: a new secret key
            try:
                key, folder = _with_progress(
                    lambda report: archive.extract_upload(file.getvalue(), file.name,
                                                          on_bytes=hub.byte_meter("extract", report)),
                    title=f"**Checking and extracting {md_code(file.name)}** into the cache", start_text="Starting…")
            except XamiDataError as exc:
                st.session_state[_UPLOAD_REFUSED] = (file.file_id, str(exc))
                _refused_upload_ui(str(exc))
                return None
            _owned_uploads().add(key)
        st.session_state[_UPLOAD_FILE] = (file.file_id, key)
        st.session_state[_UPLOAD_KEY] = key
        st.sidebar.caption(f"{md_code(file.name)} · kept for {ttl:g} h")
    elif key := st.session_state.get(_UPLOAD_KEY):
        folder = archive.uploaded_dir(key)
        if folder is None:
            st.session_state.pop(_UPLOAD_KEY, None)
            st.error("The upload this link refers to is not on this server (it expired, was deleted, or the link "
                     "is incomplete); upload the zip again. Showing the synthetic sample meanwhile.")
            _share_in_link(None)
            return None
        st.sidebar.caption("Showing an upload shared in the link; choose a file to replace it.")
    else:
        st.sidebar.info("Choose a .zip; showing the synthetic sample meanwhile.")
        _share_in_link(None)
        return None
    share = st.sidebar.toggle(
        "Share this upload in the link", key=SHARE_KEY,
        help="Off: only this browser session can open the upload. On: the page's link carries the upload's "
             "secret key, and anyone with the link can open it until it expires or is deleted.")
    _remember(SHARE_KEY, share)
    if key in _owned_uploads():
        st.sidebar.button("Delete this upload from the server", key=DELETE_KEY, icon=":material/delete:",
                          on_click=_delete_upload, width="stretch")
    else:  # opened through a shared link: its uploader decides when it goes
        st.sidebar.button("Stop using this shared upload", key=DELETE_KEY, icon=":material/close:",
                          on_click=_delete_upload, width="stretch")
    _share_in_link(key if share else None)
    return str(folder), "upload", False


_LOG = logging.getLogger("xami_explorer")
_LOGGED_SETTINGS: set[str] = set()  # messages already written to the server's log by this process


def settings_problems() -> list[str]:
    """The deployment's bad settings (`access.settings_problems`); each new one is also written to the
    server's log (standard error) once per process, so whoever started the server sees it there."""
    problems = access.settings_problems()
    for problem in problems:
        if problem not in _LOGGED_SETTINGS:
            _LOGGED_SETTINGS.add(problem)
            _LOG.error("deployment setting: %s", problem)
    return problems


def data_source_ui() -> Loaded:
    """Sidebar widgets for the data source; returns (path, source label, synthetic), the sample when none is ready."""
    _init_state()
    for problem in settings_problems():  # a misconfigured deployment: said on every page, from the first visit
        st.sidebar.error(f"Deployment setting: {md_code(problem)}", icon=":material/block:")
    choice = st.sidebar.radio("Data source", SOURCES, key=SOURCE_KEY, index=None, format_func=LINK_WORDS.get,
                              captions=SOURCES, **BOUND)
    choice = choice or SAMPLE  # an empty `?data=` clears the radio
    _remember(SOURCE_KEY, choice)
    if choice != UPLOAD:
        _share_in_link(None)
    chosen = {HUB: _hub_ui, LOCAL: _local_ui, UPLOAD: _upload_ui}.get(choice)
    loaded = chosen() if chosen else None
    return _sample() if loaded is None else loaded


def obs_info_ui() -> str | None:
    """An optional local observation-metadata file (instead of the download); None when not given or refused."""
    with st.sidebar.expander("Observation metadata file"):
        path = st.text_input("Local obs_info JSON (optional)", key=OBS_INFO_KEY,
                             placeholder="/data/obs_info_1024_all.json",
                             help="The authors' obs_info_1024_all.json (RA, Dec, exposure, position angle), "
                                  "used instead of downloading it from their GitHub repository. "
                                  "A deployment can set XAMI_OBS_INFO instead.").strip()
        checked = None
        if path:
            try:
                checked = str(access.check_local_path(path, what="metadata file", instead=""))
            except XamiDataError as exc:
                st.error(f"Path refused. {md_code(exc)}")
    st.session_state[_OBS_INFO_CHOICE] = checked
    return checked


def current_obs_info_path() -> str | None:
    """The local observation-metadata file chosen in the sidebar, if any (for the pages)."""
    return st.session_state.get(_OBS_INFO_CHOICE)


def palette_ui() -> str:
    """Sidebar choice of class colours, bound to the link's `palette` parameter (absent for the authors' colours)."""
    return st.sidebar.selectbox("Class colours", list(PALETTES), key=PALETTE_KEY, bind="query-params",
                                persist_state="session",
                                help="The authors' colours, or the Okabe-Ito colour-blind-safe set.")


def _load(source: Loaded) -> Dataset:
    """The dataset of a (path, source label, synthetic) choice, through the shared cache.

    Raises:
        XamiDataError, OSError: it cannot be loaded (see `cache.cached_dataset`).
    """
    path, label, synthetic = source
    return cached_dataset(path, label, synthetic, source_fingerprint(path))


def load_current_ui() -> Dataset:
    """Load the selected source (cached); on failure say why and fall back to the sample. When the sample
    cannot be loaded either (a bad deployment setting), say so and stop the run: pages have nothing to show."""
    chosen = data_source_ui()
    try:
        ds = _load(chosen)
    except (XamiDataError, OSError) as error:  # OSError: a file that vanished or became unreadable while loading
        path, source, _ = chosen
        # An upload's folder in the cache is named by its secret key: the message names the upload instead.
        exc = XamiDataError(str(error).replace(path, "upload:")) if source == "upload" else error
        fallback = None
        with contextlib.suppress(XamiDataError, OSError):
            fallback = _sample()
        if fallback is not None and fallback != chosen:
            st.error(f"Could not load this data source. {md_code(exc)}\n\nShowing the synthetic sample instead. "
                     "Check the path, or see the README for the supported layouts.")
        try:
            if fallback is None or fallback == chosen:
                raise exc
            ds = _load(fallback)
        except (XamiDataError, OSError) as failed:  # a bad deployment setting, an unwritable cache: nothing to show
            st.error(f"No data can be shown: even the bundled synthetic sample cannot be loaded. {md_code(failed)}"
                     "\n\nIf a deployment setting is named, fix it (see the sidebar) and restart the server.",
                     icon=":material/block:")
            st.stop()
    set_current(ds)
    if ds.provenance.synthetic:  # the sample, or files marked synthetic (a subset exported from it)
        st.sidebar.warning("Showing a **synthetic sample**: generated frames, not real XAMI data.")
        st.session_state[_OBS_INFO_CHOICE] = None
    else:
        prov = ds.provenance
        terms = (f"XAMI data · licence {prov.licence} · cite {SHORT_CITATION}" if prov.recognised_xami
                 else f"Not recognised as XAMI · licence (as the files state it): {md_escape(prov.licence)}")
        st.sidebar.caption(f"{prov.layout} · {len(ds.images):,} images · {len(ds.annotations):,} annotations  \n{terms}")
        obs_info_ui()
    n_err = sum(p.severity == "error" for p in ds.problems)
    n_warn = len(ds.problems) - n_err
    if ds.problems:
        st.sidebar.warning(f"Input problems: {n_err} error(s), {n_warn} warning(s). Details on the Overview page.")
    return ds

