"""Counts the Overview shows: per split, per class, per filter, empty images."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .model import FILTER_ORDER, FILTERS, Dataset

TOTAL = "total"


def split_summary(ds: Dataset) -> pd.DataFrame:
    """Images, annotations, images without artefacts and missing files per split, plus a total."""
    img = ds.images
    table = pd.DataFrame({
        "images": img.groupby("split", sort=False).size(),
        "annotations": img.groupby("split", sort=False)["n_annotations"].sum(),
        "empty images": (img["n_annotations"] == 0).groupby(img["split"], sort=False).sum(),
        "missing files": (~img["has_file"]).groupby(img["split"], sort=False).sum(),
    }).reindex(ds.splits).astype("int64")
    table.loc[TOTAL] = table.sum()
    table.index.name = "split"
    return table


def class_counts(ds: Dataset) -> pd.DataFrame:
    """Long table: split, class, annotations and their share, images with the class and their share."""
    ann = ds.annotations
    splits, classes = ds.splits, ds.class_names
    full = pd.MultiIndex.from_product([splits, classes], names=["split", "class_name"])
    n_ann = ann.groupby(["split", "class_name"]).size().reindex(full, fill_value=0)
    n_img = ann.drop_duplicates(["image_id", "class_name"]).groupby(["split", "class_name"]).size().reindex(full, fill_value=0)
    images_per_split = ds.images.groupby("split").size()
    out = pd.DataFrame({"annotations": n_ann, "images": n_img}).reset_index()
    out["annotation share"] = out["annotations"] / out.groupby("split")["annotations"].transform("sum").replace(0, np.nan)
    out["image share"] = out["images"] / out["split"].map(images_per_split)
    return out.astype({"annotations": "int64", "images": "int64"})


def class_count_table(ds: Dataset) -> pd.DataFrame:
    """Wide table for display: a row per class, count and share columns per split and in total."""
    long = class_counts(ds)
    wide = long.pivot(index="class_name", columns="split", values="annotations").reindex(index=ds.class_names, columns=ds.splits)
    if len(ds.splits) > 1:
        wide[TOTAL] = wide.sum(axis=1)
    shares = wide / wide.sum(axis=0)
    out = pd.concat({"annotations": wide, "share": shares}, axis=1).swaplevel(axis=1)
    out = out.reindex(columns=pd.MultiIndex.from_product([list(wide.columns), ["annotations", "share"]]))
    totals = out.xs("annotations", axis=1, level=1).sum()
    for col in totals.index:
        out.loc[TOTAL, (col, "annotations")] = totals[col]
        out.loc[TOTAL, (col, "share")] = 1.0
    out.index.name = "class"
    count_cols = [c for c in out.columns if c[1] == "annotations"]
    return out.astype({c: "int64" for c in count_cols})


def filter_counts(ds: Dataset) -> pd.DataFrame:
    """Images and annotations per observation filter, ordered by wavelength (long to short)."""
    img = ds.images
    letters = [f for f in FILTER_ORDER if f in set(img["filter_letter"].dropna())]
    unknown = img["filter_letter"].isna().any()
    key = img["filter_letter"].fillna("?")
    table = pd.DataFrame({
        "images": img.groupby(key).size(),
        "annotations": img.groupby(key)["n_annotations"].sum(),
        "empty images": (img["n_annotations"] == 0).groupby(key).sum(),
    }).reindex(letters + (["?"] if unknown else [])).fillna(0).astype("int64")
    table.insert(0, "filter", [FILTERS[f][0] if f in FILTERS else "unknown" for f in table.index])
    table.insert(1, "wavelength (nm)", [FILTERS[f][1] if f in FILTERS else None for f in table.index])
    table.index.name = "letter"
    return table


def filter_split_counts(ds: Dataset) -> pd.DataFrame:
    """Long table: filter letter, split, images and annotations (for charts)."""
    img = ds.images.assign(filter_letter=ds.images["filter_letter"].fillna("?"))
    out = img.groupby(["filter_letter", "split"]).agg(images=("image_id", "size"), annotations=("n_annotations", "sum")).reset_index()
    order = {f: i for i, f in enumerate([*FILTER_ORDER, "?"])}
    return out.sort_values(["filter_letter", "split"], key=lambda s: s.map(order) if s.name == "filter_letter" else s).reset_index(drop=True)


def empty_images(ds: Dataset) -> pd.DataFrame:
    """Images without any annotation (the authors' hard negatives)."""
    img = ds.images
    return img.loc[img["n_annotations"] == 0, ["image_id", "split", "file_name", "obs_id", "filter_name"]].reset_index(drop=True)


def example_images(ds: Dataset, n: int = 4) -> list[int]:
    """Image ids that together show the most classes: a greedy cover, then most annotations."""
    img = ds.images.sort_values(["n_annotations", "image_id"], ascending=[False, True])
    masks = img["class_mask"].to_numpy()
    ids = img["image_id"].to_numpy()
    chosen: list[int] = []
    covered = 0
    for _ in range(min(n, len(img))):
        gain = np.bitwise_count(masks & ~covered).astype(np.int64)
        gain[np.isin(ids, chosen)] = -1
        pick = int(np.argmax(gain))
        chosen.append(int(ids[pick]))
        covered |= int(masks[pick])
    return chosen
