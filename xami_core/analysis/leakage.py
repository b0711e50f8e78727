"""Leakage of a fold set: valid frames whose sky field (a `field_groups` group) is also in train.

When two frames of one field (two filters of one observation, or two observations of one
target) sit on both sides of a fold, the model is scored on stars and artefacts it has
been trained on. Per fold this module counts the groups in both parts, the frames of those
groups on each side, and the share of valid frames whose field is also in train; and lists
the leaking groups. Works for any `FoldSet`: the published split, computed methods, fold
files; images a fold leaves out (e.g. a test split) count on neither side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from xami_core.analysis.field_groups import FieldGroups
from xami_core.analysis.folds import PARTS, FoldSet

LEAKAGE_COLUMNS: tuple[str, ...] = (
    "fold", "train_images", "valid_images", "train_groups", "valid_groups", "leaking_groups",
    "train_images_leaking", "valid_images_leaking", "valid_share_leaking",
)


def _grouped_assignments(folds: FoldSet, groups: FieldGroups) -> pd.DataFrame:
    """Fold assignments (fold, image_id, part) with the `group` of each image.

    Raises:
        ValueError: when the fold set names images the groups do not cover (groups of another dataset).
    """
    a = folds.assignments[folds.assignments["part"].isin(PARTS)]
    lookup = groups.by_image_id()
    group = lookup.reindex(a["image_id"].to_numpy(np.int64))
    if group.isna().any():
        missing = a["image_id"].to_numpy()[group.isna().to_numpy()]
        raise ValueError(f"the fold set ({folds.label}) names {len(np.unique(missing))} image(s) the field groups do "
                         f"not cover (e.g. image_id {int(missing[0])}): groups and folds are of different datasets")
    return a.assign(group=group.to_numpy(np.int64))


def _group_part_counts(grouped: pd.DataFrame) -> pd.DataFrame:
    """Frames per (fold, group) in train and in valid (columns `train`, `valid`), and whether the group leaks."""
    counts = grouped.groupby(["fold", "group", "part"]).size().unstack("part", fill_value=0)
    counts = counts.reindex(columns=list(PARTS), fill_value=0).astype("int64")
    counts["leaks"] = (counts["train"] > 0) & (counts["valid"] > 0)
    return counts


def fold_leakage(folds: FoldSet, groups: FieldGroups) -> pd.DataFrame:
    """One row per fold: how much of valid shares a field with train.

    Columns: `fold`; `train_images`, `valid_images` (frames per part); `train_groups`,
    `valid_groups` (field groups with a frame in the part); `leaking_groups` (groups in
    both parts); `train_images_leaking`, `valid_images_leaking` (frames of leaking groups in
    each part); `valid_share_leaking` (valid_images_leaking / valid_images, a fraction in
    [0, 1]; NaN for an empty valid part).

    Raises:
        ValueError: when the fold set names images the groups do not cover.
    """
    counts = _group_part_counts(_grouped_assignments(folds, groups))
    leaks = counts["leaks"].astype("int64")
    per_fold = pd.DataFrame({
        "train_images": counts["train"], "valid_images": counts["valid"],
        "train_groups": (counts["train"] > 0).astype("int64"), "valid_groups": (counts["valid"] > 0).astype("int64"),
        "leaking_groups": leaks,
        "train_images_leaking": counts["train"] * leaks,
        "valid_images_leaking": counts["valid"] * leaks,
    }).groupby("fold").sum()
    out = per_fold.reindex(pd.Index(folds.folds, name="fold"), fill_value=0).astype("int64").reset_index()
    out["fold"] = out["fold"].astype("int64")
    out["valid_share_leaking"] = out["valid_images_leaking"] / out["valid_images"].replace(0, np.nan)
    return out[list(LEAKAGE_COLUMNS)]


def leaking_groups(folds: FoldSet, groups: FieldGroups, images: pd.DataFrame) -> pd.DataFrame:
    """One row per (fold, leaking group): the frames of a field that sit on both sides of a fold.

    Columns: `fold`, `group`, `obsids` (sorted, comma-joined), `n_obsids`, `train_images`,
    `valid_images` (frames of the group in each part), `train_image_ids`, `valid_image_ids`
    (ascending tuples of `image_id`, for a gallery of the group side by side). Sorted by fold,
    then most valid frames, then group id. Empty (same columns) when nothing leaks.

    Args:
        images: the images table the groups were made from (for `obsid`).

    Raises:
        ValueError: when the fold set names images the groups do not cover.
    """
    grouped = _grouped_assignments(folds, groups)
    counts = _group_part_counts(grouped)
    leaking = counts[counts["leaks"]]
    rows = grouped.merge(leaking.index.to_frame(index=False), on=["fold", "group"])
    obsid = images.set_index("image_id")["obsid"].astype(object)
    rows = rows.assign(obsid=obsid.reindex(rows["image_id"].to_numpy()).to_numpy()).sort_values("image_id")
    ids = rows.groupby(["fold", "group", "part"])["image_id"].agg(lambda s: tuple(int(v) for v in s))
    ids = ids.unstack("part").reindex(index=leaking.index, columns=list(PARTS))
    names = rows.groupby(["fold", "group"]).agg(
        obsids=("obsid", lambda s: ", ".join(sorted(s.dropna().astype(str).unique()))),
        n_obsids=("obsid", "nunique")).reindex(leaking.index)
    out = pd.DataFrame({
        "obsids": names["obsids"].astype("str"), "n_obsids": names["n_obsids"],
        "train_images": leaking["train"], "valid_images": leaking["valid"],
        "train_image_ids": ids["train"].astype(object), "valid_image_ids": ids["valid"].astype(object),
    }, index=leaking.index).reset_index()
    out = out.astype({"fold": "int64", "group": "int64", "n_obsids": "int64", "train_images": "int64",
                      "valid_images": "int64"})
    return out.sort_values(["fold", "valid_images", "group"], ascending=[True, False, True], ignore_index=True)


@dataclass(frozen=True)
class LeakageSummary:
    """The headline of a `fold_leakage` table.

    valid_share: valid frames with a field in train over all valid frames, pooled over folds (a fraction).
    worst_share, worst_fold: the largest per-fold share and its fold (NaN, -1 without valid frames).
    leaking_groups: leaking (fold, group) pairs over all folds; folds_leaking: folds with any.
    valid_images_leaking: valid frames with a field in train, summed over folds.
    """

    valid_share: float
    worst_share: float
    worst_fold: int
    leaking_groups: int
    folds_leaking: int
    valid_images_leaking: int


def leakage_summary(leakage: pd.DataFrame) -> LeakageSummary:
    """Headline figures of a `fold_leakage` table (NaN-safe: folds without valid frames are skipped)."""
    shares = leakage["valid_share_leaking"].to_numpy(np.float64)
    has = np.isfinite(shares)
    valid = int(leakage["valid_images"].sum())
    leaking = int(leakage["valid_images_leaking"].sum())
    worst = int(np.argmax(np.where(has, shares, -1.0))) if has.any() else -1
    return LeakageSummary(
        valid_share=leaking / valid if valid else float("nan"),
        worst_share=float(shares[worst]) if worst >= 0 else float("nan"),
        worst_fold=int(leakage["fold"].iloc[worst]) if worst >= 0 else -1,
        leaking_groups=int(leakage["leaking_groups"].sum()),
        folds_leaking=int((leakage["leaking_groups"] > 0).sum()),
        valid_images_leaking=leaking,
    )
