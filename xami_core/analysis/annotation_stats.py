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
        "part": pd.Series(part.to_numpy(), dtype="str"),
        "class_name": pd.Series(ann["class_name"].to_numpy(), dtype="str"),
        "kind": pd.Series(ann["kind"].to_numpy(), dtype="str"),
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
    long = instances.melt(id_vars=["part", "class_name"], value_vars=list(MEASURES), var_name="measure")
    long["value"] = pd.to_numeric(long["value"], errors="coerce").astype(np.float64)
    long = long.dropna(subset=["value"])
    both = pd.concat([long, long.assign(class_name=ALL_CLASSES)], ignore_index=True)
    grouped = both.groupby(["part", "class_name", "measure"], sort=False)["value"]
    out = grouped.agg(n="size", mean="mean", min="min", max="max")
    quantiles = grouped.quantile([0.05, 0.5, 0.95]).unstack()
    out["q05"], out["median"], out["q95"] = quantiles[0.05], quantiles[0.5], quantiles[0.95]
    out = out.reset_index()
    out.insert(3, "unit", out["measure"].map(MEASURES))
    out["measure"] = pd.Categorical(out["measure"], categories=list(MEASURES))
    out = _ordered(out, ["measure"]).astype({"measure": "str"})
    return out[
        ["part", "class_name", "measure", "unit", "n", "mean", "min", "q05", "median", "q95", "max"]]


def _class_order(names: pd.Series) -> list[str]:
    """Class names by name (XAMI's five sort as their category ids do), without `ALL_CLASSES`."""
    return sorted(set(names) - {ALL_CLASSES})


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
    full = pd.MultiIndex.from_product([parts, classes, range(bins)], names=["part", "class_name", "bin"])
    counts = pd.Series(1, index=pd.MultiIndex.from_arrays(
        [kept["part"].to_numpy(), kept["class_name"].to_numpy(), which], names=["part", "class_name", "bin"]))
    counts = counts.groupby(level=[0, 1, 2]).sum().reindex(full, fill_value=0).astype(np.int64)
    out = counts.rename("count").reset_index()
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
    image_ids = parts.index.to_numpy()
    ann = ds.annotations[ds.annotations["image_id"].isin(image_ids)]
    per = pd.crosstab(ann["image_id"], ann["class_name"]).reindex(index=image_ids, columns=classes, fill_value=0)
    per[ALL_CLASSES] = per.sum(axis=1)
    long = per.melt(ignore_index=False, var_name="class_name", value_name="instances")
    long["part"] = parts.reindex(long.index).to_numpy()
    out = long.groupby(["part", "class_name", "instances"]).size().rename("images").reset_index()
    out["share"] = out["images"] / out["part"].map(parts.value_counts())
    out = out.astype({"instances": np.int64, "images": np.int64})
    return _ordered(out[["part", "class_name", "instances", "images", "share"]], ["instances"])


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
