"""The prediction sets chosen in the sidebar, for every page that shows them (Predictions, Gallery).

`sidebar_ui` draws the sidebar's "Predictions" section (the synthetic toggle, the paths box, both
bound to the link, and the uploader) on the pages that use predictions; `chosen_sets` loads what
they hold on any page, from the widgets' kept values, else the link's, else their defaults, so a
page that shows predictions never repeats the loading code. The score and IoU sliders are drawn
here too, so both pages bind the same widgets; the gallery's current selection is kept here for the
Predictions page to evaluate on (`remember_gallery_selection`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from xami_core import access
from xami_core.access import check_local_path
from xami_core.io import archive
from xami_core.io.predictions import Predictions, predictions_fingerprint
from xami_core.model import Dataset, XamiDataError
from xami_core.paths import cache_dir, shown
from xami_ui.cache import cached_predictions, cached_synthetic_predictions
from xami_ui.text import md_literal

# Widget keys are the query-parameter names (bind="query-params"); the gallery shares the threshold keys.
Q_SYNTHETIC, Q_PATHS, Q_SET, Q_IOU_TYPE = "pred_synthetic", "pred_paths", "pred_set", "pred_iou_type"
Q_SCORE, Q_IOU = "pred_score", "pred_iou"
BOUND = {"bind": "query-params", "persist_state": "session"}
START_ENV = "XAMI_PREDICTIONS"
NAME_SEP = " = "  # "name = path" on a line names a set
DEFAULT_SCORE, DEFAULT_IOU = 0.25, 0.5
UPLOADER_KEY = "pred_upload"  # not bound to the link: a file cannot travel in it
_UPLOADS = "_xami_pred_uploads"  # Upload records of the files uploaded in this session, kept across pages
_STORED = "_xami_pred_stored"  # {uploader file id: Upload}: each file the uploader holds is stored once per session
_REFUSED = "_xami_pred_refused"  # {uploader file id: message}: a file that could not be kept is not tried on every rerun
UPLOAD_DIR = "prediction_uploads"  # under the cache root, one file per upload under a random name
MAX_UPLOAD_MB = 512  # a XAMI-size results file (20,000 masks as RLE) is tens of MB
UPLOADED = "uploaded: "  # the sets table's source of an uploaded set, before the file's own name
# The gallery's current selection, stored by the gallery page for the Predictions page's subsets:
# (description, image ids, the dataset's content_key), so a selection made on another dataset is not offered.
GALLERY_SELECTION_KEY = "_xami_gallery_selection"


@dataclass(frozen=True)
class Upload:
    """A results file uploaded in this session: the set's name, where this server keeps it, the file's own name."""

    name: str
    path: str
    file_name: str


@dataclass(frozen=True)
class Choice:
    """What the sidebar's choice holds: the synthetic set on or off, the paths box's text and the uploads."""

    synthetic: bool
    paths: str
    uploads: tuple[Upload, ...] = ()


def start_predictions() -> str:
    """Prediction paths given at start, one per line: `streamlit run app.py -- --predictions PATH` (repeatable),
    else `XAMI_PREDICTIONS` (several separated by the system's path separator, ':' or ';')."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--predictions", action="append")
    args, _ = parser.parse_known_args(sys.argv[1:])
    paths = args.predictions or os.environ.get(START_ENV, "").split(os.pathsep)
    return "\n".join(p.strip() for p in paths if p.strip())


def path_entries(text: str) -> list[tuple[str, str]]:
    """(name, path) per non-empty line of the paths box; the name is "" unless the line says `name = path`."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        name, sep, path = line.partition(NAME_SEP)
        out.append((name.strip(), path.strip()) if sep and path.strip() else ("", line))
    return out


def unique_labels(sets: list[Predictions]) -> dict[str, Predictions]:
    """Each set under a label of its own (the set's label, numbered when two sets share one)."""
    out: dict[str, Predictions] = {}
    for preds in sets:
        label, n = preds.label, 2
        while label in out:
            label, n = f"{preds.label} ({n})", n + 1
        out[label] = preds
    return out


def load_sets(ds: Dataset, choice: Choice) -> tuple[dict[str, Predictions], list[tuple[str, str]]]:
    """The sets a choice names, loaded through the caches, and (name, path or file name; message) per input that
    failed. Messages name each input as the user gave it: a path as typed, an upload by its own file name."""
    sets: list[Predictions] = []
    failed: list[tuple[str, str]] = []
    if choice.synthetic and ds.provenance.synthetic:
        sets.append(cached_synthetic_predictions(ds))
    for name, path in path_entries(choice.paths or ""):
        try:
            checked = check_local_path(path, what="predictions path", instead="upload the file")  # a deployment's allowed roots apply here too
            sets.append(cached_predictions(ds, str(checked), name, predictions_fingerprint(checked), shown_as=path))
        except XamiDataError as exc:
            failed.append((name or path, str(exc)))
    for upload in choice.uploads:  # stored by this app under the cache root, not a path the user typed
        if not Path(upload.path).is_file():  # removed once unused past the uploads' time to live
            failed.append((upload.file_name, f"{upload.file_name}: this server no longer holds the upload (uploads "
                                             f"are kept {upload_ttl_text()} after their last use); upload the file "
                                             "again to use it"))
            continue
        try:
            with contextlib.suppress(OSError):  # in use: not expired
                os.utime(upload.path)
            preds = cached_predictions(ds, upload.path, upload.name, predictions_fingerprint(upload.path),
                                       shown_as=upload.file_name)
            # The sets table says where a set came from; a new record, the cached one is shared.
            sets.append(replace(preds, source=UPLOADED + upload.file_name))
        except XamiDataError as exc:
            failed.append((upload.file_name, str(exc)))
    return unique_labels(sets), failed


def restore_across_pages(key: str, default: object) -> None:
    """Call before drawing a bound widget that more than one page draws: it starts at the value the session kept.

    A page switch takes a widget's parameter out of the link when the widget was drawn by the other
    page, and the same key on this page is a new widget, which would start at its default although the
    session kept the value (Streamlit 1.67). Set again before the widget is drawn, the kept value is
    the widget's, and Streamlit writes it back into the link. A link's value still wins on opening.
    """
    if key in st.session_state and key not in st.query_params:
        value = st.session_state[key]
        if value != default:
            st.session_state[key] = value


def _kept(key: str) -> str | None:
    """A bound widget's value while its page is not shown: kept in the session, else the link's, else None."""
    if key in st.session_state:
        return st.session_state[key]
    value = st.query_params.get(key)
    return value if value is not None else None


def current_choice() -> Choice:
    """The sidebar's prediction choice as it stands, on any page (defaults where it was never set)."""
    synthetic = _kept(Q_SYNTHETIC)
    if isinstance(synthetic, str):  # from the link
        synthetic = synthetic.lower() != "false"
    paths = _kept(Q_PATHS)
    return Choice(synthetic=not start_predictions() if synthetic is None else bool(synthetic),
                  paths=start_predictions() if paths is None else str(paths),
                  uploads=tuple(st.session_state.get(_UPLOADS, ())))


def has_choice(ds: Dataset, choice: Choice) -> bool:
    """Whether a choice names any set for `ds` (without loading one)."""
    return bool((choice.synthetic and ds.provenance.synthetic) or path_entries(choice.paths) or choice.uploads)


def chosen_sets(ds: Dataset) -> tuple[dict[str, Predictions], list[tuple[str, str]]]:
    """The prediction sets chosen in the sidebar, loaded for `ds`, and the paths that failed."""
    return load_sets(ds, current_choice())


def choice_ui(ds: Dataset) -> Choice:
    """The choice's widgets, one under the other: the synthetic toggle (on the sample) and the paths box, bound to
    the link, and the uploader."""
    synthetic = False
    if ds.provenance.synthetic:
        # On by default, unless predictions were given at start.
        restore_across_pages(Q_SYNTHETIC, not start_predictions())
        synthetic = st.toggle("Synthetic predictions", value=not start_predictions(), key=Q_SYNTHETIC, **BOUND,
                              help="A deterministic set made from the sample's ground truth (instances moved and "
                                   "reshaped a little, some classes confused, some missed, some spurious "
                                   "detections), so the pages work without a model. Not a model's output.")
    restore_across_pages(Q_PATHS, start_predictions())
    text = st.text_area("Prediction files or folders (one per line)", value=start_predictions(), key=Q_PATHS,
                        height=96, help=PATHS_HELP + " At start: `--predictions PATH` or XAMI_PREDICTIONS.",
                        placeholder="e.g. /runs/segment/val/predictions.json\nor, named: yolo = /runs/segment/predict/labels",
                        **BOUND)
    uploads = uploads_ui()
    return Choice(synthetic=bool(synthetic), paths=text or "", uploads=uploads)


def sidebar_ui(ds: Dataset, expanded: bool = True) -> Choice:
    """The sidebar's "Predictions" section, on the pages that use predictions: the sets' inputs in an expander
    (open unless `expanded` is False); returns the choice (nothing is loaded here)."""
    bar = st.sidebar
    bar.subheader("Predictions")
    with bar.expander("Prediction sets", expanded=expanded, icon=":material/model_training:"):
        return choice_ui(ds)


def remember_gallery_selection(ds: Dataset, description: str, image_ids: Iterable[int]) -> None:
    """Keep the gallery's current selection (what it shows, in words, and its image ids) for the Predictions
    page's subsets, under `GALLERY_SELECTION_KEY` with the dataset's content key."""
    ids = tuple(int(i) for i in image_ids)
    st.session_state[GALLERY_SELECTION_KEY] = (description, ids, ds.content_key)


def gallery_selection(ds: Dataset) -> tuple[str, tuple[int, ...]] | None:
    """The gallery selection kept for `ds` (description, image ids), or None: none kept, or kept for other data."""
    kept = st.session_state.get(GALLERY_SELECTION_KEY)
    if not kept or len(kept) != 3 or kept[2] != ds.content_key:
        return None
    return str(kept[0]), tuple(int(i) for i in kept[1])


def store_upload(data: bytes, file_name: str, suffix: str = ".json") -> Path:
    """Keep uploaded bytes under the cache root under a fresh random name (`archive.new_upload_key`), known
    only to the session that uploaded them: uploading the same file twice gives two private copies, and
    nobody can test whether a file was uploaded.

    Expired prediction uploads go first; the bytes must fit in the cache quota beside the uploads
    already held (`archive.room_for_upload`), and evictable entries are then evicted down to the quota.

    Raises:
        XamiDataError: the upload does not fit in the cache quota (naming `file_name`), or a setting is bad.
        OSError: the cache folder cannot be written.
    """
    folder = cache_dir() / UPLOAD_DIR
    folder.mkdir(parents=True, exist_ok=True)
    remove_expired_uploads(folder)
    target = folder / f"{archive.new_upload_key()}{suffix}"
    with archive.upload_lock:  # no other upload counts the same room until this one is written
        archive.room_for_upload(len(data), f"uploaded file '{shown(file_name)}'")
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=suffix)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)  # readers see the whole file or none
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    archive.evict_cache(keep=(target,))
    return target


def delete_stored(uploads: Iterable[Upload]) -> None:
    """Remove these uploads' files from the server (their user replaced or forgot them). Never raises."""
    folder = cache_dir() / UPLOAD_DIR
    for upload in uploads:
        path = Path(upload.path)
        if path.parent == folder and archive.is_upload_key(path.stem):  # only this app's own copies
            with contextlib.suppress(OSError):
                path.unlink()


def upload_ttl_text() -> str:
    """How long an unused upload is kept, as the sidebar's setting says (`XAMI_UPLOAD_TTL_HOURS`)."""
    try:
        return f"{archive.upload_ttl_hours():g} h"
    except XamiDataError:
        return f"{archive.DEFAULT_UPLOAD_TTL_HOURS:g} h"


def remove_expired_uploads(folder: Path, now: float | None = None) -> list[Path]:
    """Remove stored prediction uploads unused for longer than the uploads' time to live; returns those removed."""
    try:
        ttl_s = archive.upload_ttl_hours() * 3600
    except XamiDataError:
        ttl_s = archive.DEFAULT_UPLOAD_TTL_HOURS * 3600
    now = time.time() if now is None else now
    removed = []
    for file in folder.glob("*.json"):
        with contextlib.suppress(OSError):  # another session removed or is using it
            if now - file.stat().st_mtime > ttl_s:
                file.unlink()
                removed.append(file)
    return removed


def _uploads_changed() -> None:
    """The uploader's callback: the files it now holds replace the session's uploads; the copies of the files
    its user removed are deleted from the server."""
    held = {f.file_id for f in st.session_state.get(UPLOADER_KEY) or ()}
    stored: dict[str, Upload] = st.session_state.setdefault(_STORED, {})
    delete_stored(stored.pop(file_id) for file_id in [k for k in stored if k not in held])
    refused: dict[str, str] = st.session_state.setdefault(_REFUSED, {})
    for file_id in [k for k in refused if k not in held]:  # chosen again, a file is tried again
        del refused[file_id]
    st.session_state[_UPLOADS] = ()


def _forget_uploads() -> None:
    """The "Forget them" button: the session's uploads are deleted from the server and no longer used."""
    delete_stored(st.session_state.pop(_STORED, {}).values())
    st.session_state[_UPLOADS] = ()


def uploads_ui() -> tuple[Upload, ...]:
    """COCO results .json files sent through the browser, kept for the session (each stored once per session,
    under a random name; deleted when its user removes it from the uploader or forgets it)."""
    try:
        allowed = access.uploads_allowed()
    except XamiDataError:  # a bad setting: the sidebar says so; no uploads meanwhile
        allowed = False
    if not allowed:
        return ()
    limit = min(MAX_UPLOAD_MB, int(st.get_option("server.maxUploadSize")))  # never above the deployment's limit
    files = st.file_uploader("Or upload COCO results .json files", type=["json"], accept_multiple_files=True,
                             key=UPLOADER_KEY, on_change=_uploads_changed, max_upload_size=limit,
                             help=f"Up to {limit} MB each; kept on this server for this session only (on the "
                                  "gallery too), and deleted when you remove it here or forget it.")
    if files:
        stored: dict[str, Upload] = st.session_state.setdefault(_STORED, {})
        refused: dict[str, str] = st.session_state.setdefault(_REFUSED, {})
        for f in files:  # each on its own: one that cannot be kept leaves the others in use
            if f.file_id in stored and Path(stored[f.file_id].path).is_file():
                continue
            if f.file_id not in refused:
                try:
                    stored[f.file_id] = Upload(name=Path(f.name).stem, path=str(store_upload(f.getvalue(), f.name)),
                                               file_name=f.name)
                    continue
                except XamiDataError as exc:
                    refused[f.file_id] = f"{md_literal(f.name)} could not be kept: {md_literal(exc)}"
                except OSError as exc:
                    refused[f.file_id] = f"{md_literal(f.name)} could not be stored on this server: {md_literal(exc)}"
            st.error(refused[f.file_id] + " Remove it and choose it again to try once more.", icon=":material/error:")
        st.session_state[_UPLOADS] = tuple(stored[f.file_id] for f in files if f.file_id in stored)
    kept = tuple(st.session_state.get(_UPLOADS, ()))
    if kept and not files:
        row = st.container(horizontal=True, vertical_alignment="center")
        row.caption("Using the files uploaded earlier in this session: "
                    + ", ".join(md_literal(u.file_name) for u in kept) + ". Upload again to replace them.")
        row.button("Forget them", key="pred_upload_forget", on_click=_forget_uploads, icon=":material/delete:",
                   help="Delete them from this server.")
    return kept


def thresholds_ui(slot: DeltaGenerator) -> tuple[float, float]:
    """The score and IoU threshold sliders (shared by the Predictions page and the gallery); returns (score, iou)."""
    c1, c2 = slot.columns(2)
    restore_across_pages(Q_SCORE, DEFAULT_SCORE)
    restore_across_pages(Q_IOU, DEFAULT_IOU)
    score = c1.slider("Score threshold", 0.0, 1.0, DEFAULT_SCORE, 0.01, key=Q_SCORE, **BOUND,
                      help="Predictions scoring below it do not count. Moving it reuses the COCOeval run.")
    iou = c2.slider("IoU threshold", 0.05, 1.0, DEFAULT_IOU, 0.05, key=Q_IOU, **BOUND,
                    help="A prediction matches a ground-truth instance of its class when their IoU is at least this.")
    return float(score), float(iou)


PATHS_HELP = ("One prediction set per line: a COCO results .json file (a list of {image_id, category_id, score, "
              "segmentation, bbox} as detectron2, MMDetection or Ultralytics save_json=True write it) or a folder of "
              "YOLOv8-seg .txt files (save_txt=True, save_conf=True), one per image stem. Write `name = path` to name "
              "a set; several sets are compared side by side.")
