"""How the annotations are shaped, per class and per part (split, or one fold's train/valid parts).

Everything here is a tidy table the Health page plots directly: one row per instance with its
measures (`instance_measures`), binned counts for histograms (`binned_counts`, log bins for
areas), order statistics (`measure_summary`), instances per image (`instances_per_image`)
and class co-occurrence in frames (`class_cooccurrence`). Computed with pandas/numpy group-bys
over the dataset's columns: no loop over annotations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xami_core.model import Dataset, split_order

ALL_CLASSES = "all classes"  # the class label of rows that count every class together
# The per-instance measures and their units, in the order the page shows them.
MEASURES: dict[str, str] = {
    "area": "px²",  # mask area as pycocotools rasterises it (pixel count)
    "aspect_ratio": "width / height",  # of the box recomputed from the mask
    "n_vertices": "vertices",  # polygon vertices over all parts (polygons only)
    "centre_distance": "px",  # from the instance centroid to the frame centre
}
LOG_MEASURES = frozenset({"area", "aspect_ratio"})  # spread over orders of magnitude: log-scale bins


def split_parts(ds: Dataset) -> pd.Series:
    """Each image's split: a str Series indexed by `image_id`, named "part"."""
    return pd.Series(ds.images["split"].to_numpy(), index=ds.images["image_id"].to_numpy(), name="part", dtype="str")


def fold_parts(assignments: pd.DataFrame, fold: int) -> pd.Series:
    """Each image's part ("train"/"valid") in one fold of a fold set.

    Args:
        assignments: a fold set's tidy table (`FoldSet.assignments`): columns fold, image_id, part.
        fold: the fold number.

    Returns:
        A str Series indexed by `image_id`, named "part"; images outside the fold are absent.

    Raises:
        ValueError: `assignments` lacks a column, the fold is not in it, or an image has two parts in it.
    """
    missing = {"fold", "image_id", "part"} - set(assignments.columns)
    if missing:
        raise ValueError(f"fold assignments need columns fold, image_id, part; missing {sorted(missing)}")
    rows = assignments[assignments["fold"] == fold]
    if rows.empty:
        raise ValueError(f"fold {fold} is not in the assignments (folds: {sorted(assignments['fold'].unique())})")
    if rows["image_id"].duplicated().any():
        raise ValueError(f"fold {fold} gives some image two parts; expected one part per image")
    return pd.Series(rows["part"].to_numpy(), index=rows["image_id"].to_numpy(), name="part", dtype="str")


def _parts_of(ds: Dataset, parts: pd.Series | None) -> pd.Series:
    """`parts`, or the split of every image when None."""
    return split_parts(ds) if parts is None else parts


def _part_order(parts: pd.Series) -> list[str]:
    return split_order(parts.unique())


def instance_measures(ds: Dataset, parts: pd.Series | None = None) -> pd.DataFrame:
    """One row per annotation with the measures the page plots.

    Args:
        ds: the dataset.
        parts: each image's part, indexed by `image_id` (`split_parts`, `fold_parts`); default the split.
            Annotations of images without a part are left out.

    Returns:
        Columns ann_id, image_id, part, class_name, kind, `area` (float64, px²: the mask's pixel
        count), `aspect_ratio` (float64, mask-box width / height; NaN when either is 0),
        `n_vertices` (Int64, all polygon parts; NA for RLE and box-only annotations) and
        `centre_distance` (float64, px from the instance centroid to the frame centre
        (width / 2, height / 2)).
    """
    parts = _parts_of(ds, parts)
    ann = ds.annotations
    part = ann["image_id"].map(parts)
    keep = part.notna().to_numpy()
    ann, part = ann[keep], part[keep]
    img = ds.images.set_index("image_id")
    half_w = ann["image_id"].map(img["width"]).to_numpy(np.float64) / 2
    half_h = ann["image_id"].map(img["height"]).to_numpy(np.float64) / 2
    w, h = ann["mask_box_w"].to_numpy(np.float64), ann["mask_box_h"].to_numpy(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        aspect = np.where((w > 0) & (h > 0), w / h, np.nan)
    vertices = pd.array(ann["n_vertices"].to_numpy(), dtype="Int64")
    vertices[(ann["kind"] != "polygon").to_numpy()] = pd.NA
    return pd.DataFrame({
        "ann_id": ann["ann_id"].to_numpy(),
        "image_id": ann["image_id"].to_numpy(),
        # The text columns as str without a round trip through Python objects.
        "part": part.astype("str").reset_index(drop=True),
        "class_name": ann["class_name"].astype("str").reset_index(drop=True),
        "kind": ann["kind"].astype("str").reset_index(drop=True),
        "area": ann["mask_area"].to_numpy(np.float64),
        "aspect_ratio": aspect,
        "n_vertices": vertices,
        "centre_distance": np.hypot(ann["cx"].to_numpy(np.float64) - half_w, ann["cy"].to_numpy(np.float64) - half_h),
    })


def measure_summary(instances: pd.DataFrame) -> pd.DataFrame:
    """Order statistics of every measure per part and class, and per part over all classes.

    Args:
        instances: `instance_measures` output.

    Returns:
        Long table: part, class_name (`ALL_CLASSES` for all together), measure, unit, n (values
        present), mean, min, q05, median, q95, max, in the measures' units (`MEASURES`).
    """
    # Integer group keys per part and class, and per part over all classes (the last class code):
    # grouping on the strings themselves cost more than the statistics.
    part_names, part_code = _codes(instances["part"])
    class_names, class_code = _codes(instances["class_name"])
    n_classes = len(class_names) + 1
    columns: dict[str, list[np.ndarray]] = {k: [] for k in ("measure", "key", *_ORDER_STATISTICS)}
    for m, measure in enumerate(MEASURES):
        value = pd.to_numeric(instances[measure], errors="coerce").to_numpy(np.float64, na_value=np.nan)
        ok = ~np.isnan(value) & (part_code >= 0) & (class_code >= 0)
        value, part = value[ok], part_code[ok] * n_classes
        by_value = np.argsort(value, kind="stable")  # sorted once, shared by both groupings
        own, everyone = part + class_code[ok], part + (n_classes - 1)
        # Means by pandas (a compensated sum in row order), both groupings in one call as before (a
        # call with a single group averages another way, differing in the last bit).
        means = pd.Series(np.r_[value, value]).groupby(np.r_[own, everyone], sort=True).mean()
        for key in (own, everyone):
            key_at, stats = _order_statistics(value, key, by_value)
            stats["mean"] = means.loc[key_at].to_numpy(np.float64)
            columns["measure"].append(np.full(len(key_at), m))
            columns["key"].append(key_at)
            for name in _ORDER_STATISTICS:
                columns[name].append(stats[name])
    flat = {name: np.concatenate(arrays) for name, arrays in columns.items()}
    part_at, class_at = np.divmod(flat["key"], n_classes)
    out = pd.DataFrame({
        "part": pd.Series(np.array(part_names, dtype=object)[part_at], dtype="str"),
        "class_name": pd.Series(np.array([*class_names, ALL_CLASSES], dtype=object)[class_at], dtype="str"),
        "measure": pd.Categorical.from_codes(flat["measure"], categories=list(MEASURES)),
        "unit": pd.Series(np.array(list(MEASURES.values()), dtype=object)[flat["measure"]], dtype="str"),
        **{name: flat[name] for name in _ORDER_STATISTICS}})
    return _ordered(out, ["measure"]).astype({"measure": "str"})


_ORDER_STATISTICS = ("n", "mean", "min", "q05", "median", "q95", "max")
_QUANTILES = {"q05": 0.05, "median": 0.5, "q95": 0.95}


def _order_statistics(values: np.ndarray, key: np.ndarray, by_value: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The distinct keys (ascending) and each one's n (int64), min, quantiles and max (float64) of `values`.

    `by_value` sorts `values` (stable). Quantiles interpolate linearly between order statistics
    as pandas does (position q * (n - 1)), so every figure equals pandas' groupby `min`, `max`
    and `quantile` exactly. No mean: pandas' (a compensated sum) is the caller's.
    """
    small = key.astype(np.int16) if len(key) and key.max() < np.iinfo(np.int16).max else key  # radix sort
    order = by_value[np.argsort(small[by_value], kind="stable")]  # by key, then value
    ordered, keys = values[order], key[order]
    first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, dtype=np.int64)
    n = np.diff(np.r_[first, len(keys)]).astype(np.int64)
    out = {"n": n, "min": ordered[first], "max": ordered[first + n - 1]}
    for name, q in _QUANTILES.items():
        at = q * (n - 1).astype(np.float64)
        low = at.astype(np.int64)
        frac = at % 1
        lo, hi = ordered[first + low], ordered[first + np.minimum(low + 1, n - 1)]
        out[name] = np.where(frac == 0, lo, lo + (hi - lo) * frac)
    return keys[first].astype(np.int64), out


def _codes(values: pd.Series) -> tuple[list[str], np.ndarray]:
    """A column's distinct values (first seen first) and each row's position among them (int64; -1: missing)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return [str(u) for u in uniques], np.asarray(codes, dtype=np.int64)


def _class_order(names: pd.Series) -> list[str]:
    """Class names by name (XAMI's five sort as their category ids do), without `ALL_CLASSES`."""
    return sorted(set(pd.unique(names)) - {ALL_CLASSES})  # distinct first: a set of every row is slow


def _ordered(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Rows sorted by part (conventional split order), class (by name, `ALL_CLASSES` last), then `keys`."""
    rank = {p: i for i, p in enumerate(split_order(table["part"].unique()))}
    classes = _class_order(table["class_name"]) + [ALL_CLASSES]
    crank = {c: i for i, c in enumerate(classes)}
    order = table.assign(_p=table["part"].map(rank), _c=table["class_name"].map(crank))
    return order.sort_values(["_p", "_c", *keys], kind="stable").drop(columns=["_p", "_c"]).reset_index(drop=True)


def binned_counts(instances: pd.DataFrame, measure: str, bins: int = 30, log: bool | None = None) -> pd.DataFrame:
    """Histogram counts of one measure per part and class, on bins shared by all of them.

    Args:
        instances: `instance_measures` output.
        measure: one of `MEASURES`.
        bins: number of bins.
        log: logarithmic bins (default: for the measures in `LOG_MEASURES`); values <= 0 are
            then left out (a zero-area mask has no place on a log axis).

    Returns:
        Long table: part, class_name, bin (0-based), lo, hi (bin edges in the measure's unit),
        count (int64); every (part, class, bin) present, zeros included.

    Raises:
        ValueError: unknown measure or fewer than one bin.
    """
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {list(MEASURES)}, got {measure!r}")
    if bins < 1:
        raise ValueError(f"expected at least one bin, got {bins}")
    log = measure in LOG_MEASURES if log is None else log
    values = pd.to_numeric(instances[measure], errors="coerce").to_numpy(np.float64)
    ok = np.isfinite(values) & ((values > 0) if log else True)
    values = values[ok]
    kept = instances.loc[ok, ["part", "class_name"]]
    if len(values):
        lo, hi = values.min(), values.max()
        if log:
            edges = np.logspace(np.log10(lo), np.log10(hi) if hi > lo else np.log10(lo) + 1, bins + 1)
        else:
            edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
    else:
        edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1)
    parts = _part_order(instances["part"])
    classes = _class_order(instances["class_name"])
    # Counts on the full (part, class, bin) grid, in that order, by one bincount of integer positions.
    part_at = pd.Categorical(kept["part"], categories=parts).codes.astype(np.int64)
    class_at = pd.Categorical(kept["class_name"], categories=classes).codes.astype(np.int64)
    on_grid = (part_at >= 0) & (class_at >= 0)
    cell = (part_at[on_grid] * len(classes) + class_at[on_grid]) * bins + which[on_grid]
    counts = np.bincount(cell, minlength=len(parts) * len(classes) * bins).astype(np.int64)
    out = pd.DataFrame({
        "part": pd.Series(np.repeat(np.array(parts, dtype=object), len(classes) * bins), dtype="str"),
        "class_name": pd.Series(np.tile(np.repeat(np.array(classes, dtype=object), bins), len(parts)), dtype="str"),
        "bin": np.tile(np.arange(bins, dtype=np.int64), len(parts) * len(classes)),
        "count": counts,
    })
    out.insert(3, "lo", edges[out["bin"].to_numpy()])
    out.insert(4, "hi", edges[out["bin"].to_numpy() + 1])
    return out


def instances_per_image(ds: Dataset, parts: pd.Series | None = None) -> pd.DataFrame:
    """How many images hold k instances of each class, and of all classes together.

    Images without any annotation (XAMI's hard negatives) count under k = 0.

    Args:
        ds: the dataset.
        parts: each image's part, indexed by `image_id`; default the split.

    Returns:
        Long table: part, class_name (`ALL_CLASSES` for all together), instances (k, int64),
        images (int64: images of the part with exactly k), share (images / images in the part).
    """
    parts = _parts_of(ds, parts)
    classes = list(ds.class_names)
    part_names, part_code = _codes(parts)
    # Instances of each class per image of `parts` (a column per class, then all classes): counted
    # with bincount over (image, class) positions.
    ids, image_at = np.unique(parts.index.to_numpy(np.int64), return_inverse=True)
    ann_ids = ds.annotations["image_id"].to_numpy(np.int64)
    pos = np.minimum(np.searchsorted(ids, ann_ids), max(len(ids) - 1, 0))
    cls = pd.Categorical(ds.annotations["class_name"], categories=classes).codes.astype(np.int64)
    keep = (ids[pos] == ann_ids if len(ids) else np.zeros(len(ann_ids), dtype=bool)) & (cls >= 0)
    n_cols = len(classes) + 1
    per = np.zeros((len(ids), n_cols), dtype=np.int64)
    per[:, :-1] = np.bincount(pos[keep] * len(classes) + cls[keep], minlength=len(ids) * len(classes)).reshape(
        len(ids), len(classes))
    per[:, -1] = per[:, :-1].sum(axis=1)
    per = per[image_at][part_code >= 0]
    image_part = part_code[part_code >= 0]
    # Images per (part, column, k): one more bincount.
    span = int(per.max()) + 1 if per.size else 1
    key = (image_part[:, None] * n_cols + np.arange(n_cols)) * span + per
    images = np.bincount(key.ravel(), minlength=len(part_names) * n_cols * span)
    found = np.flatnonzero(images)
    group, instances = np.divmod(found, span)
    part_at, class_at = np.divmod(group, n_cols)
    out = pd.DataFrame({
        "part": pd.Series(np.array(part_names, dtype=object)[part_at], dtype="str"),
        "class_name": pd.Series(np.array([*classes, ALL_CLASSES], dtype=object)[class_at], dtype="str"),
        "instances": instances.astype(np.int64),
        "images": images[found].astype(np.int64),
        "share": images[found] / np.bincount(image_part, minlength=len(part_names))[part_at],
    })
    return _ordered(out, ["instances"])


def class_cooccurrence(ds: Dataset, parts: pd.Series | None = None) -> pd.DataFrame:
    """How often two classes appear in the same frame, per part.

    Args:
        ds: the dataset.
        parts: each image's part, indexed by `image_id`; default the split.

    Returns:
        Long table, one row per part and ordered class pair (class_a, class_b): `frames` (int64,
        frames holding both; on the diagonal, frames holding class_a), `frames_a` (frames
        holding class_a) and `share` = frames / frames_a, i.e. P(class_b in frame | class_a in
        frame) (NaN when class_a is in no frame of the part).
    """
    parts = _parts_of(ds, parts)
    classes = list(ds.class_names)
    ann = ds.annotations[ds.annotations["image_id"].isin(parts.index)]
    pairs = ann[["image_id", "class_name"]].drop_duplicates()
    code = pd.Categorical(pairs["class_name"], categories=classes).codes
    rows = []
    for part in _part_order(parts):
        ids = parts.index[parts.to_numpy() == part]
        pos = pd.Index(ids).get_indexer(pairs["image_id"])
        inside = pos >= 0
        present = np.zeros((len(ids), len(classes)), dtype=np.int64)
        present[pos[inside], code[inside]] = 1
        both = present.T @ present  # (classes, classes): frames holding both classes
        frames_a = np.diag(both)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(frames_a[:, None] > 0, both / frames_a[:, None], np.nan)
        rows.append(pd.DataFrame({
            "part": part,
            "class_a": np.repeat(classes, len(classes)),
            "class_b": np.tile(classes, len(classes)),
            "frames": both.ravel(),
            "frames_a": np.repeat(frames_a, len(classes)),
            "share": share.ravel(),
        }))
    if not rows:
        return pd.DataFrame({"part": pd.Series(dtype="str"), "class_a": pd.Series(dtype="str"),
                             "class_b": pd.Series(dtype="str"), "frames": pd.Series(dtype=np.int64),
                             "frames_a": pd.Series(dtype=np.int64), "share": pd.Series(dtype=np.float64)})
    out = pd.concat(rows, ignore_index=True)
    return out.astype({"part": "str", "class_a": "str", "class_b": "str", "frames": np.int64, "frames_a": np.int64})
