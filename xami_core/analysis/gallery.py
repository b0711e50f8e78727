"""Gallery logic: image filters, sorting, per-class counts and cached thumbnails.

Filters are pure functions over `Dataset.images` / `Dataset.annotations`; class tests use
per-image class bits (bit i set when the image has an annotation of `ds.class_names[i]`),
made from the annotations' class names so they do not depend on a file's category ids.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from xami_core.analysis.folds import AUTHORS_K, AUTHORS_SEED, PARTS, FoldSet, make_folds
from xami_core.model import Dataset, class_colours, filter_keys, filter_label, filter_name, filter_order, split_order
from xami_core.paths import cache_dir, file_fingerprint
from xami_core.render.overlay import Shapes, encode_jpeg, load_frame, placeholder_frame, render_overlay
from xami_core.render.stretch import (
    DEFAULT_LIMITS,
    DEFAULT_LOWER,
    DEFAULT_STRETCH,
    DEFAULT_UPPER,
    stretch_image,
)

CLASS_MODES: tuple[str, ...] = ("any", "all", "none", "exactly")
CLASS_MODE_LABELS: dict[str, str] = {
    "any": "any of these",
    "all": "all of these",
    "none": "none of these",
    "exactly": "exactly these",
}
EMPTY_MODES: tuple[str, ...] = ("include", "exclude", "only")
EMPTY_MODE_LABELS: dict[str, str] = {
    "include": "include",
    "exclude": "hide",
    "only": "only these",
}
SORTS: tuple[str, ...] = ("observation", "annotations", "largest", "shuffle")
SORT_LABELS: dict[str, str] = {
    "observation": "observation id",
    "annotations": "number of annotations (most first)",
    "largest": "largest instance (biggest first)",
    "shuffle": "shuffled (seeded)",
}
CLASS_ABBREV: dict[str, str] = {
    "central-ring": "CR",
    "other": "OT",
    "read-out-streak": "RS",
    "smoke-ring": "SR",
    "star-loop": "SL",
}


@dataclass(frozen=True)
class GalleryFilter:
    """Which images the gallery shows; every criterion is ANDed.

    classes / class_mode: "any" (at least one of the classes), "all" (every one of them),
        "none" (none of them), "exactly" (the image's class set equals them). An empty
        `classes` puts no class constraint.
    without: classes the image must not have, on top of `classes` ("a smoke ring but no
        read-out streak": classes=("smoke-ring",), without=("read-out-streak",)).
    empty: images without annotation (hard negatives): "include", "exclude" or "only".
    filters: XMM-OM filter keys (letters, or `model.NO_KEY` for names without an
        observation key; empty: all). splits: split names (empty: all).
    fold: (fold number, "train" or "valid") of the authors' stratified K-fold (k = 4,
        seed 42), or None.
    n_annotations: inclusive (min, max) number of annotations, or None.
    area: inclusive (min, max) mask area in pixels, or None. An image matches when it has
        an instance with `mask_area` in range, of a selected class if classes are selected
        in mode any/all/exactly, else of any class.
    search: what `search_mask` finds: a substring of the observation id or file name, an
        image id of the file ("12", "image id 12") or an annotation id ("annotation id 7").
    image_ids: restrict to these images (a fold part, say), or None.
    """

    classes: tuple[str, ...] = ()
    class_mode: str = "any"
    without: tuple[str, ...] = ()
    empty: str = "include"
    filters: tuple[str, ...] = ()
    splits: tuple[str, ...] = ()
    n_annotations: tuple[int, int] | None = None
    area: tuple[float, float] | None = None
    search: str = ""
    fold: tuple[int, str] | None = None
    image_ids: frozenset[int] | None = field(default=None)

    def __post_init__(self) -> None:
        if self.class_mode not in CLASS_MODES:
            raise ValueError(f"class_mode must be one of {CLASS_MODES}, got {self.class_mode!r}")
        if self.empty not in EMPTY_MODES:
            raise ValueError(f"empty must be one of {EMPTY_MODES}, got {self.empty!r}")
        if self.fold is not None and self.fold[1] not in PARTS:
            raise ValueError(f"fold part must be one of {PARTS}, got {self.fold[1]!r}")


def class_bits(ds: Dataset, classes: Sequence[str]) -> int:
    """The bits of class names: bit i for `ds.class_names[i]`, as one int64 mask.

    Raises:
        ValueError: a name is not one of `ds.class_names`.
    """
    names = ds.class_names
    unknown = [c for c in classes if c not in names]
    if unknown:
        raise ValueError(f"unknown class(es) {unknown}; expected some of {names}")
    bits = 0
    for c in classes:
        bits |= 1 << names.index(c)
    return bits


def authors_folds(ds: Dataset) -> FoldSet:
    """The authors' folds: stratified K-fold on label strings, k = 4, seed 42."""
    return make_folds(ds, "stratified", AUTHORS_K, AUTHORS_SEED)


def filter_mask(ds: Dataset, flt: GalleryFilter, folds: FoldSet | None = None) -> np.ndarray:
    """Boolean array over `ds.images` rows: which images pass the filter.

    Args:
        ds: the dataset.
        flt: the filter.
        folds: the folds `flt.fold` refers to; the authors' folds are made when None
            (pass a cached FoldSet to avoid recomputing them).
    """
    images = ds.images
    n_ann = images["n_annotations"].to_numpy()
    keep = np.ones(len(images), dtype=bool)
    cm = images["class_bits"].to_numpy(np.int64)  # bit i: ds.class_names[i]
    if flt.classes:
        bits = np.int64(class_bits(ds, flt.classes))
        hit = cm & bits
        keep &= {"any": hit != 0, "all": hit == bits, "none": hit == 0, "exactly": cm == bits}[flt.class_mode]
    if flt.without:
        keep &= (cm & np.int64(class_bits(ds, flt.without))) == 0
    if flt.empty == "exclude":
        keep &= n_ann > 0
    elif flt.empty == "only":
        keep &= n_ann == 0
    if flt.filters:
        keep &= filter_keys(images["filter_letter"]).isin(list(flt.filters)).to_numpy()
    if flt.splits:
        keep &= images["split"].isin(list(flt.splits)).to_numpy()
    if flt.n_annotations is not None:
        lo, hi = flt.n_annotations
        keep &= (n_ann >= lo) & (n_ann <= hi)
    if flt.area is not None:
        ann = ds.annotations
        lo, hi = flt.area
        sel = (ann["mask_area"] >= lo) & (ann["mask_area"] <= hi)
        if flt.classes and flt.class_mode != "none":
            sel &= ann["class_name"].isin(list(flt.classes))
        keep &= images["image_id"].isin(ann.loc[sel, "image_id"].unique()).to_numpy()
    if flt.search.strip():
        keep &= search_mask(ds, flt.search)
    if flt.fold is not None:
        folds = folds if folds is not None else authors_folds(ds)
        fold, part = flt.fold
        keep &= images["image_id"].isin(folds.part_ids(int(fold), part)).to_numpy()
    if flt.image_ids is not None:
        keep &= images["image_id"].isin(list(flt.image_ids)).to_numpy()
    return keep


# A record as the input-problems table names it: "image id 12", "annotation id 7, polygon 0".
_RECORD = re.compile(r"^(image|annotation)\s*(?:id)?\s*[:#]?\s*([^\s,]+)", re.IGNORECASE)


_TERM_SEPARATORS = re.compile(r"[\s,]+")  # search terms: any of them


def search_mask(ds: Dataset, text: str) -> np.ndarray:
    """Boolean array over `ds.images` rows: the images a search text finds.

    "image id 12" (or "image 12"): the images whose id in their annotation file is 12 (one per
    split file at most); "annotation id 7, ...": the images holding an annotation with file
    id 7; anything else: a case-insensitive substring of the observation key or file name, or
    an image id of the file written alone ("12"). Several terms separated by spaces or commas
    find the images any of them finds ("0123456789, 0987654321": every frame of two ObsIDs).
    Empty text finds every image.
    """
    images = ds.images
    text = text.strip()
    if not text:
        return np.ones(len(images), dtype=bool)
    record = _RECORD.match(text)
    if record:
        kind, wanted = record.group(1).lower(), record.group(2)
        if kind == "image":
            return (images["coco_id"].astype(str) == wanted).to_numpy()
        ann = ds.annotations
        holders = ann.loc[ann["coco_id"].astype(str) == wanted, "image_id"].unique()
        return images["image_id"].isin(holders).to_numpy()
    keys, names = images["obs_key"].fillna(""), images["file_name"]
    coco_ids = images["coco_id"].astype(str)
    hit = np.zeros(len(images), dtype=bool)
    for term in dict.fromkeys(_TERM_SEPARATORS.split(text)):  # a few terms typed or linked, not a loop over data
        hit |= (keys.str.contains(term, case=False, regex=False) | names.str.contains(term, case=False, regex=False)
                | (coco_ids == term)).to_numpy()
    return hit


def largest_instance(ds: Dataset) -> pd.Series:
    """Per image_id, the largest instance's mask area (0 for images without one)."""
    ann = ds.annotations
    out = np.zeros(len(ds.images))
    row = pd.Index(ds.images["image_id"]).get_indexer(ann["image_id"])
    ok = row >= 0
    np.maximum.at(out, row[ok], np.nan_to_num(ann["mask_area"].to_numpy()[ok]))
    return pd.Series(out, index=ds.images["image_id"].to_numpy(), name="largest_area")


def sort_images(ds: Dataset, images: pd.DataFrame, sort: str = "observation", seed: int = 0) -> pd.DataFrame:
    """The rows of `images` (a subset of ds.images) in gallery order.

    Args:
        sort: "observation" (obs id, split, image id), "annotations" (most first),
            "largest" (largest instance first) or "shuffle" (a permutation seeded by `seed`).
        seed: the shuffle's seed; the same seed gives the same order.

    Raises:
        ValueError: `sort` is not one of `SORTS`.
    """
    if sort == "observation":
        split_rank = images["split"].map({s: i for i, s in enumerate(split_order(images["split"].unique()))})
        key = pd.DataFrame({"obs": images["obs_key"].fillna(images["file_name"]), "split": split_rank,
                            "id": images["image_id"]})
        return images.iloc[np.lexsort((key["id"].to_numpy(), key["split"].to_numpy(), key["obs"].to_numpy()))]
    if sort == "annotations":
        return images.iloc[np.lexsort((images["image_id"].to_numpy(), -images["n_annotations"].to_numpy()))]
    if sort == "largest":
        largest = largest_instance(ds).reindex(images["image_id"]).to_numpy()
        return images.iloc[np.lexsort((images["image_id"].to_numpy(), -largest))]
    if sort == "shuffle":
        return images.iloc[np.random.default_rng(seed).permutation(len(images))]
    raise ValueError(f"sort must be one of {SORTS}, got {sort!r}")


def select_images(ds: Dataset, flt: GalleryFilter, sort: str = "observation", seed: int = 0,
                  folds: FoldSet | None = None) -> pd.DataFrame:
    """Filtered and sorted rows of ds.images (`folds`: see `filter_mask`)."""
    return sort_images(ds, ds.images[filter_mask(ds, flt, folds)], sort, seed)


def class_counts(ds: Dataset) -> pd.DataFrame:
    """Annotations per image and class: index image_id, one int column per class."""
    names = ds.class_names
    ann = ds.annotations
    col = pd.Categorical(ann["class_name"], categories=names).codes.astype(np.int64)
    row = pd.Index(ds.images["image_id"]).get_indexer(ann["image_id"])
    n_img = len(ds.images)
    ok = (col >= 0) & (row >= 0)
    flat = row[ok] * len(names) + col[ok]
    counts = np.bincount(flat, minlength=n_img * len(names)).reshape(n_img, len(names))
    return pd.DataFrame(counts, index=pd.Index(ds.images["image_id"].to_numpy(), name="image_id"), columns=names)


def counts_caption(counts: pd.Series, escape: Callable[[str], str] = str) -> str:
    """A short per-class count line for a thumbnail ("RS 2 · SR 1"; "no artefact"); `escape` is applied to class names."""
    parts = [f"{escape(CLASS_ABBREV.get(name, name))} {int(n)}" for name, n in counts.items() if n > 0]
    return " · ".join(parts) if parts else "no artefact"


def thumbnail_captions(ds: Dataset, images: pd.DataFrame, escape: Callable[[str], str] = str) -> list[str]:
    """Under each thumbnail (markdown): observation, filter, split and the image's id in its file, then per-class counts.

    `escape` is applied to every text taken from the files (file, split and class names), so a
    page can show them literally (e.g. `xami_ui.text.md_literal`).
    """
    counts = class_counts(ds).reindex(images["image_id"]).fillna(0)
    heads = [f"**{escape(obs if isinstance(obs, str) else name)}** · {escape(filter_name(letter))} · {escape(split)} · "
             f"id {escape(str(coco_id))}"
             for obs, name, letter, split, coco_id in zip(images["obs_key"], images["file_name"], images["filter_letter"],
                                                          images["split"], images["coco_id"])]
    return [f"{head}  \n{counts_caption(row, escape)}" for head, (_, row) in zip(heads, counts.iterrows())]


def detail_title(image: pd.Series) -> str:
    """The detail view's heading: observation, filter with wavelength (`model.filter_label`), split."""
    obs = image["obs_key"] if isinstance(image["obs_key"], str) else image["file_name"]
    return f"{obs} · {filter_label(image['filter_letter'])} · {image['split']}"


def file_id_text(image: pd.Series) -> str:
    """How a user finds an image in its input: "image id 12 in the train split's annotation file".

    The id is the file's own (ids repeat across split files, so the split is named); it is
    the id the input-problems table and the gallery search use.
    """
    return f"image id {image['coco_id']} in the {image['split']} split's annotation file"


def frame_size_text(image: pd.Series) -> str:
    """The frame's size as the numbers use it, and the declared one when the annotation file differs.

    e.g. "512×512 px", or "1024×1024 px (the file's size; its annotation file declares 512×512)".
    """
    width, height = int(image["width"]), int(image["height"])
    text = f"{width}×{height} px"
    declared = (int(image.get("declared_width", width)), int(image.get("declared_height", height)))
    if declared != (width, height):
        said = f"{declared[0]}×{declared[1]}" if all(declared) else "no usable size"
        text += f" (the file's size; its annotation file declares {said})"
    return text


def hidden_annotation_ids(table: pd.DataFrame, edited_rows: dict) -> list[int]:
    """Internal annotation ids (`ann_id`, the table's index) whose "show" box was unticked in
    the detail table (`st.data_editor` edits, keyed by row position)."""
    rows = [int(r) for r, change in edited_rows.items() if change.get("show") is False and int(r) < len(table)]
    return table.index[rows].astype(int).tolist()


def page_slice(n_items: int, page: int, page_size: int) -> tuple[int, int, int]:
    """(start, stop, n_pages) of a 1-based page, clamped to the valid pages."""
    n_pages = max(1, -(-n_items // max(1, page_size)))
    page = min(max(1, page), n_pages)
    start = (page - 1) * page_size
    return start, min(start + page_size, n_items), n_pages


def match_status(n_matching: int, n_images: int, page: int, page_size: int) -> str:
    """The grid's status line (markdown): "**12** of 160 images match · showing 1–12 · page 1 of 1".

    The range and the page are left out when nothing matches: there is nothing to show.
    """
    head = f"**{n_matching:,}** of {n_images:,} images match"
    if n_matching == 0:
        return head
    start, stop, n_pages = page_slice(n_matching, page, page_size)
    return f"{head} · showing {start + 1}–{stop} · page {min(max(1, page), n_pages)} of {n_pages}"


def no_match_text(description: str) -> str:
    """What the grid says when no image matches: the filters set (`description`, a few words) and what to do."""
    return (f"No image matches all of the current filters: {description}. Each is set in the sidebar; change or "
            "clear one of them to see images again.")


def page_of(order: Sequence[int], image_id: int, page_size: int) -> int | None:
    """The 1-based page that shows `image_id` in `order` (None if it is not there)."""
    ids = list(order)
    return ids.index(image_id) // max(1, page_size) + 1 if image_id in ids else None


def neighbours(order: Sequence[int], image_id: int) -> tuple[int | None, int | None]:
    """(previous, next) image ids around `image_id` in `order` (None at the ends or if absent)."""
    ids = list(order)
    if image_id not in ids:
        return None, None
    i = ids.index(image_id)
    return (ids[i - 1] if i > 0 else None), (ids[i + 1] if i + 1 < len(ids) else None)


def filter_choices(ds: Dataset) -> list[str]:
    """Filter keys present in `model.filter_order` (by wavelength, White, unknown letters, no key)."""
    return filter_order(filter_keys(ds.images["filter_letter"]))


def max_annotations(ds: Dataset) -> int:
    """The largest number of annotations on one image (at least 1, for the slider)."""
    return max(1, int(ds.images["n_annotations"].max())) if len(ds.images) else 1


def area_range(ds: Dataset) -> tuple[float, float]:
    """(min, max) instance mask area in the dataset, for the area slider."""
    area = ds.annotations["mask_area"].dropna()
    if area.empty:
        return 0.0, 1.0
    return float(np.floor(area.min())), float(np.ceil(area.max()))


# ---------------------------------------------------------------------------------------
# Thumbnails


@dataclass(frozen=True)
class ThumbOptions:
    """How a thumbnail is drawn (part of its cache key)."""

    size: int = 192
    overlay: bool = True
    fill: bool = True
    contour: bool = True
    palette: str = "authors"
    class_names: tuple[str, ...] = ()  # the dataset's classes, so a class has one colour on every thumbnail
    opacity: float = 0.45
    quality: int = 85
    stretch: str = DEFAULT_STRETCH
    limits: str = DEFAULT_LIMITS
    lower: float = DEFAULT_LOWER
    upper: float = DEFAULT_UPPER


THUMB_VERSION = 2  # bump when the drawing changes, so old cached files are not reused
_MEMORY: OrderedDict[str, bytes] = OrderedDict()
MEMORY_ITEMS = 4096  # ~10-20 kB each: tens of MB at most


def thumbs_dir() -> Path:
    """Where thumbnails are cached on disk."""
    return cache_dir() / "thumbs"


def _reduce_for(size: int, width: int) -> int:
    """The largest JPEG decode reduction that still leaves at least `size` pixels."""
    for r in (8, 4, 2):
        if width // r >= size:
            return r
    return 1


def annotations_digest(annotations: pd.DataFrame | Shapes) -> str:
    """A digest of what a thumbnail draws from an image's annotations."""
    shapes = Shapes.of(annotations)
    raw = repr((shapes.class_name.tolist(), shapes.kind.tolist(), shapes.segmentation.tolist(), shapes.box.tolist()))
    return hashlib.sha1(raw.encode()).hexdigest()


def render_thumbnail(path: str, width: int, height: int, annotations: pd.DataFrame | Shapes, options: ThumbOptions) -> np.ndarray:
    """A thumbnail (RGB) whose longer side is `options.size`, overlays drawn at that size."""
    scale = options.size / max(width, height)
    tw, th = max(1, round(width * scale)), max(1, round(height * scale))
    frame = load_frame(path, _reduce_for(options.size, max(width, height)))
    if frame is None:
        frame = placeholder_frame(tw, th, "cannot read file" if Path(path).is_file() else "file missing")
    else:
        if frame.shape != (th, tw):
            frame = cv2.resize(frame, (tw, th), interpolation=cv2.INTER_AREA)
        # The detail view's display stretch, so a thumbnail looks like the frame it opens.
        frame = stretch_image(frame, options.stretch, options.limits, options.lower, options.upper)
    if not options.overlay:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    # Drawn at thumbnail size (masks rasterised small), never full size then shrunk.
    colours = class_colours(options.class_names, options.palette) if options.class_names else options.palette
    return render_overlay(frame, annotations, colours, options.opacity, options.fill, options.contour,
                          boxes=False, labels=False, scale=tw / width, line_width=1)


def _thumb_key(path: str, width: int, height: int, digest: str, options: ThumbOptions) -> str | None:
    try:
        fp = file_fingerprint(Path(path))
    except OSError:
        return None  # missing file: not cached, so it shows up once the file appears
    raw = repr((THUMB_VERSION, fp, width, height, digest if options.overlay else "", sorted(asdict(options).items())))
    return hashlib.sha1(raw.encode()).hexdigest()


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".jpg")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, target)


def thumbnail_bytes(path: str, width: int, height: int, annotations: pd.DataFrame | Shapes, options: ThumbOptions,
                    disk_cache: bool = True) -> bytes:
    """JPEG bytes of one thumbnail, from memory, then disk cache, else rendered and stored."""
    key = _thumb_key(path, width, height, annotations_digest(annotations) if options.overlay else "", options)
    if key is not None and key in _MEMORY:
        _MEMORY.move_to_end(key)
        return _MEMORY[key]
    target = thumbs_dir() / key[:2] / f"{key}.jpg" if (key and disk_cache) else None
    if target is not None and target.is_file():
        data = target.read_bytes()
    else:
        data = encode_jpeg(render_thumbnail(path, width, height, annotations, options), options.quality)
        if target is not None:
            _write_atomic(target, data)
    if key is not None:
        _MEMORY[key] = data
        while len(_MEMORY) > MEMORY_ITEMS:
            _MEMORY.popitem(last=False)
    return data


def thumbnails(ds: Dataset, image_ids: Sequence[int], options: ThumbOptions, disk_cache: bool = True) -> list[bytes]:
    """JPEG thumbnails of images, in the order of `image_ids`."""
    image_ids = [int(i) for i in image_ids]
    options = options if options.class_names else replace(options, class_names=tuple(ds.class_names))
    images = ds.images.set_index("image_id").loc[image_ids, ["path", "width", "height"]]
    ann = ds.annotations
    # Gather the page's annotations once, sorted by image, then slice plain arrays per image.
    sub = ann[ann["image_id"].isin(image_ids)].sort_values(["image_id", "ann_id"], kind="stable")
    ids = sub["image_id"].to_numpy()
    shapes = Shapes.of(sub)
    lo = np.searchsorted(ids, image_ids, "left")
    hi = np.searchsorted(ids, image_ids, "right")
    paths, widths, heights = images["path"].tolist(), images["width"].tolist(), images["height"].tolist()
    return [thumbnail_bytes(paths[k], int(widths[k]), int(heights[k]), shapes.take(slice(lo[k], hi[k])), options, disk_cache)
            for k in range(len(image_ids))]


def clear_memory_cache() -> None:
    """Forget in-memory thumbnails (the disk cache stays)."""
    _MEMORY.clear()


# ---------------------------------------------------------------------------------------
# The detail view and the grid's layout choices


def annotation_table(ds: Dataset, image_id: int) -> pd.DataFrame:
    """The detail view's table of one image's annotations (pixel units).

    "id" is the annotation's id in its file (what the input-problems table names); the
    internal `ann_id` is the index, for the overlay toggles.
    """
    cols = {"coco_id": "id", "class_name": "class", "kind": "kind", "mask_area": "mask area (px²)",
            "area": "stored area (px²)", "mask_box_x": "box x", "mask_box_y": "box y", "mask_box_w": "box w", "mask_box_h": "box h",
            "cx": "centroid x", "cy": "centroid y", "n_parts": "parts", "n_vertices": "vertices"}
    anns = ds.annotations_of(image_id)
    table = anns[list(cols)].rename(columns=cols).set_index(pd.Index(anns["ann_id"].to_numpy(np.int64), name="ann_id"))
    order = {c: i for i, c in enumerate(ds.class_names)}
    rank = table["class"].map(order).fillna(len(order)).to_numpy()
    if table["id"].dtype == object:  # ids of mixed types in one file: shown as text
        table["id"] = table["id"].astype(str)
    return table.iloc[np.lexsort((table.index.to_numpy(), rank))]


PAGE_SIZES: tuple[int, ...] = (24, 48, 96)
THUMB_SIZES: dict[str, int] = {"small": 128, "medium": 192, "large": 256}


@dataclass(frozen=True)
class DetailView:
    """The detail view's display choices: stretch, limits and percentiles, classes hidden."""

    stretch: str = DEFAULT_STRETCH
    limits: str = DEFAULT_LIMITS
    lower: float = DEFAULT_LOWER
    upper: float = DEFAULT_UPPER
    hidden_classes: tuple[str, ...] = ()
