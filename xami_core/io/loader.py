"""Detect a dataset's layout from a path and load it into a `Dataset`."""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path

from xami_core.io.archive import COMPLETE_MARKER, extracted_dir, extraction_id, extraction_target
from xami_core.io.coco import read_coco
from xami_core.io.index_cache import index_key, read_index, write_index
from xami_core.io.provenance import make_provenance
from xami_core.io.tables import build_dataset
from xami_core.model import SPLIT_ORDER, Dataset, Problem, XamiDataError, split_key
from xami_core.paths import OUTSIDE_ROOT, checked_path, resolves_inside

COCO_FILE = "_annotations.coco.json"
YOLO_FILE = "data.yaml"
SKIP_DIRS = {"__MACOSX"}
MAX_DESCENT = 3


@dataclass(frozen=True)
class Layout:
    """A detected layout: its kind, root folder and (split, folder) pairs."""

    kind: str  # "coco-splits", "coco-single", "yolov8-seg"
    root: Path
    splits: tuple[tuple[str, Path], ...]


def split_name(folder: Path) -> str:
    """A split's name from its folder: the no_splits `data` folder holds all images."""
    return "all" if folder.name == "data" else folder.name


def detect_layout(path: Path) -> Layout:
    """Find the dataset layout at `path`, descending through single wrapper folders.

    Raises:
        XamiDataError: no COCO file or data.yaml where a layout puts them (the message lists the layouts).
        OSError: a folder cannot be listed.
    """
    root = path
    for _ in range(MAX_DESCENT + 1):
        if (root / YOLO_FILE).is_file():
            return Layout("yolov8-seg", root, ())
        if (root / COCO_FILE).is_file():
            # A lone split folder keeps its name; any other folder holds "all" images.
            single = split_name(root) if root.name in SPLIT_ORDER else "all"
            return Layout("coco-single", root, ((single, root),))
        subdirs = sorted(d for d in root.iterdir() if d.is_dir() and d.name not in SKIP_DIRS and not d.name.startswith("."))
        if len(subdirs) == 1 and subdirs[0].name not in SPLIT_ORDER:
            root = subdirs[0]  # a wrapper folder (zip root, xami_dataset_no_splits/data)
            continue
        with_json = [d for d in subdirs if (d / COCO_FILE).is_file()]
        known = [d for d in subdirs if d.name in SPLIT_ORDER]  # a split folder whose JSON is missing still counts
        split_dirs = sorted({*with_json, *known}, key=lambda d: split_key(split_name(d)))
        if with_json:
            return Layout("coco-splits", root, tuple((split_name(d), d) for d in split_dirs))
        break
    raise XamiDataError(
        f"{path}: no XAMI layout found. Expected '{COCO_FILE}' in this folder, in split folders "
        f"(train/, valid/, test/), in 'data/' (no_splits), or a YOLOv8 '{YOLO_FILE}'."
    )


def load_dataset(path: str | Path, source: str = "local", synthetic: bool = False) -> Dataset:
    """Load a dataset from a folder or `.zip` in any supported layout.

    Args:
        path: folder or zip archive.
        source: a provenance label ("local", "synthetic sample", "Hugging Face", "upload").
        synthetic: whether this is generated data (it is then labelled so everywhere).

    Raises:
        XamiDataError: the path cannot be used or does not exist, is neither a folder nor a zip, the
            zip cannot be extracted, no layout is found, or no image could be loaded. Problems with
            single records are not raised: they are the dataset's `problems`.
    """
    # The load makes millions of objects that all live on (the parsed JSON, the records, the
    # polygon lists): the collector's full passes over them found nothing to free and cost a
    # quarter of the load's CPU. Paused for the load, as it was before afterwards.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _load(path, source, synthetic)
    finally:
        if was_enabled:
            gc.enable()


def _load(path: str | Path, source: str, synthetic: bool) -> Dataset:
    """`load_dataset` with the collector as the caller left it."""
    path = checked_path(path, what="data path")  # NUL byte, over-long name, link loop: XamiDataError
    if not path.exists():
        raise XamiDataError(f"{path}: no such file or folder")
    folder = extracted_dir(path) if is_zip(path) else path
    if not folder.is_dir():
        raise XamiDataError(f"{path}: expected a folder or a .zip archive")
    layout = detect_layout(folder)
    # A large set loaded before with the same files, code and flags opens from the disk cache.
    key = index_key(str(path), source, synthetic, source_fingerprint(path),
                    [layout.root] if layout.kind == "yolov8-seg" else [d for _, d in layout.splits])
    cached = read_index(key)
    if cached is not None:
        return cached
    problems: list[Problem] = []
    if layout.kind == "yolov8-seg":
        from xami_core.io.yolo import read_yolo  # noqa: PLC0415 - optional reader, loaded on demand

        parts, problems = read_yolo(layout.root, confine=folder)
    else:
        # Only annotation files inside the dataset folder are read, links followed (a split folder or a
        # JSON linked from elsewhere is left out and said, without a word about what it points to).
        inside = [(split, d) for split, d in layout.splits if resolves_inside(d / COCO_FILE, folder)]
        problems = [Problem(str(d / COCO_FILE), "file", f"{OUTSIDE_ROOT}; split {split} skipped")
                    for split, d in layout.splits if (split, d) not in inside]
        if not inside:
            raise XamiDataError(f"{path}: every annotation file {OUTSIDE_ROOT}")
        parts = [read_coco(d / COCO_FILE, split) for split, d in inside]
    # XAMI's licence and citation only for data recognised as XAMI (see `provenance`).
    provenance = make_provenance(parts, source=source, path=str(path), layout=layout.kind, synthetic=synthetic)
    ds = build_dataset(parts, provenance, problems)
    write_index(ds, key)  # above a size only; a failed write leaves the load uncached, never fails it
    return ds


def source_fingerprint(path: str | Path) -> tuple:
    """What identifies a source's content: path, size and mtime of its defining files."""
    path = Path(path).expanduser()
    if not path.exists():
        return (str(path), "missing")
    if path.is_file():
        st = path.stat()
        return (str(path.resolve()), st.st_size, st.st_mtime_ns)
    # The files the loader reads, found the way it finds them (never a walk of the whole tree:
    # a path like "/" or "~" must answer at once).
    try:
        layout = detect_layout(path)
    except (XamiDataError, OSError):
        return (str(path), "no layout")
    files = [layout.root / YOLO_FILE] if layout.kind == "yolov8-seg" else [d / COCO_FILE for _, d in layout.splits]
    return tuple((str(f), st.st_size, st.st_mtime_ns) for f in files if f.is_file() for st in [f.stat()])


def is_zip(path: Path) -> bool:
    """Whether `load_dataset` treats `path` as an archive to extract (an existing `.zip` file)."""
    return path.suffix.lower() == ".zip" and path.is_file()


def needs_extraction(path: str | Path) -> bool:
    """Whether loading `path` first extracts an archive (a zip without a complete cached extraction)."""
    try:
        path = Path(path).expanduser()
        return is_zip(path) and not (extraction_target(path) / COMPLETE_MARKER).exists()
    except (OSError, ValueError, RuntimeError):  # unusable paths: `load_dataset` says why
        return False


def extraction_key(path: str | Path) -> str:
    """For a zip, its cached extraction's token, extracted now when missing (deleted, evicted); '' for anything else.

    Part of a loaded dataset's cache key: the archive's fingerprint does not change when its
    extracted copy is deleted, but this token does, so the dataset is loaded (and extracted) again.

    Raises:
        XamiDataError: the archive cannot be extracted (damaged, refused, cache not writable).
    """
    try:
        path = Path(path).expanduser()
        if not is_zip(path):
            return ""
    except (OSError, ValueError, RuntimeError):
        return ""
    return extraction_id(extracted_dir(path)) or ""
