"""Counts the Overview shows: per split, per class, per filter, empty images."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from xami_core.model import Dataset, Problem, filter_keys, filter_name, filter_order, filter_wavelength, split_order

TOTAL = "total"


def split_summary(ds: Dataset) -> pd.DataFrame:
    """Images, annotations, images without artefacts and missing files per split, plus a total.

    Rows: the splits in display order, then "total"; int64 counts.
    """
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
    """Long table: split, class, annotations and their share, images with the class and their share.

    One row per (split, class), every class in every split (0 when absent). Shares are fractions
    (0..1): of the split's annotations, and of the split's images (an image counts once per class).
    """
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
    """Wide table for display: a row per class and a "total" row; (split, "annotations") int64 and
    (split, "share") columns (a fraction 0..1 of the split's annotations), per split and in total."""
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
    """Images, annotations and empty images per filter key, every image counted once.

    Rows in `model.filter_order`: known filters by wavelength (long to short, White last),
    then unknown letters, then images whose file name has no observation key (`NO_KEY`).
    Columns: filter (its name), wavelength (nm) (text: "543", "broad band" or "unknown"),
    images, annotations, empty images; the index is the letter.
    """
    img = ds.images
    key = filter_keys(img["filter_letter"])
    table = pd.DataFrame({
        "images": img.groupby(key).size(),
        "annotations": img.groupby(key)["n_annotations"].sum(),
        "empty images": (img["n_annotations"] == 0).groupby(key).sum(),
    }).reindex(filter_order(key)).fillna(0).astype("int64")
    table.insert(0, "filter", pd.Series([filter_name(f) for f in table.index], index=table.index, dtype="str"))
    table.insert(1, "wavelength (nm)", pd.Series([filter_wavelength(f) for f in table.index], index=table.index, dtype="str"))
    table.index.name = "letter"
    return table


def filter_split_counts(ds: Dataset) -> pd.DataFrame:
    """Long table: filter key (`NO_KEY` for a name without one), split, images and annotations (for charts).

    Rows in filter order (`model.filter_order`), then split order; every image is counted.
    """
    img = ds.images.assign(filter_letter=filter_keys(ds.images["filter_letter"]))
    out = img.groupby(["filter_letter", "split"]).agg(images=("image_id", "size"), annotations=("n_annotations", "sum")).reset_index()
    f_rank = {f: i for i, f in enumerate(filter_order(out["filter_letter"]))}
    s_rank = {s: i for i, s in enumerate(split_order(out["split"]))}
    out = out.iloc[np.lexsort((out["split"].map(s_rank).to_numpy(), out["filter_letter"].map(f_rank).to_numpy()))]
    return out.reset_index(drop=True).astype({"images": "int64", "annotations": "int64"})


def empty_images(ds: Dataset) -> pd.DataFrame:
    """Images without any annotation (the authors' hard negatives), named by their file's own ids.

    Columns: split, image id (the id in that split's annotation file; ids repeat across
    splits), file_name, obs_key, filter.
    """
    img = ds.images[ds.images["n_annotations"] == 0]
    return pd.DataFrame({
        "split": img["split"].astype("str"),
        "image id": img["coco_id"].astype(str) if img["coco_id"].dtype == object else img["coco_id"],
        "file_name": img["file_name"],
        "obs_key": img["obs_key"],
        "filter": pd.Series([filter_name(f) for f in img["filter_letter"]], index=img.index, dtype="str"),
    }).reset_index(drop=True)


def problem_counts(problems: Iterable[Problem]) -> dict[str, int]:
    """How many problems skipped their record ("skipped": severity "error") and how many kept it ("kept": "warning")."""
    problems = list(problems)
    skipped = sum(1 for p in problems if p.severity == "error")
    return {"skipped": skipped, "kept": len(problems) - skipped}


def problems_summary(problems: Iterable[Problem]) -> str:
    """One sentence saying what happened to the records named in the problems, per severity.

    E.g. "3 records or files were skipped (errors); 5 were kept with a warning."
    """
    counts = problem_counts(problems)
    parts = []
    if counts["skipped"]:
        parts.append(f"{counts['skipped']} {'record or file was' if counts['skipped'] == 1 else 'records or files were'} "
                     "skipped (error)")
    if counts["kept"]:
        parts.append(f"{counts['kept']} {'record was' if counts['kept'] == 1 else 'records were'} kept with a warning")
    if not parts:
        return "No problems in the input."
    return "; ".join(parts) + "."


def problems_table(problems: Iterable[Problem], root: str | None = None, root_name: str = "") -> pd.DataFrame:
    """The problems as a table: file, record (as the file names it), outcome ("skipped"/"kept"), message.

    With `root`, a file or message path under it is shown under `root_name` instead (an upload's
    folder in the cache holds its secret key, which the page does not show).
    """
    def shown(text: str) -> str:
        return text.replace(root, root_name) if root else text
    rows = [(shown(p.file), p.record, "skipped" if p.severity == "error" else "kept", shown(p.message))
            for p in problems]
    return pd.DataFrame(rows, columns=["file", "record", "outcome", "message"]).astype("str")


def example_images(ds: Dataset, n: int = 4) -> list[int]:
    """Image ids that together show the most classes: a greedy cover, then most annotations."""
    img = ds.images.sort_values(["n_annotations", "image_id"], ascending=[False, True])
    masks = img["class_bits"].to_numpy()
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
