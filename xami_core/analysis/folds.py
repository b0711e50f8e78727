"""Making fold sets over a dataset: the published split, the authors' stratified K-fold, alternatives.

A fold set is a tidy table (fold, image_id, part) over the images of a dataset; for a
layout with splits the folds are made over the union of the splits, in `image_id` order
(which is the JSON order within each split, splits in their conventional order).

The authors' recipe (XAMI-dataset `notebooks/stratified_kfold.ipynb`): per image, in
JSON order, the label string of its sorted category ids ("345"; "" without annotations),
then `StratifiedKFold(n_splits=4, shuffle=True, random_state=42).split(images, labels)`;
fold i's valid part is the i-th test index set.

How balanced the folds are: `analysis.fold_balance`. The authors' fold files
(`mskf_k.csv`, `mskf_k/{train,valid}/`), written and read: `io.fold_files`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from xami_core.model import Dataset, Problem, XamiDataError

if TYPE_CHECKING:
    from xami_core.analysis.field_groups import FieldGroups

# Grouped methods keep every field group (same ObsID, or sky neighbours) whole: analysis.grouped_folds.
GROUPED_METHODS: tuple[str, ...] = ("stratified-group", "multilabel-group")
METHODS: tuple[str, ...] = ("published", "stratified", "kfold", "multilabel", *GROUPED_METHODS)
METHOD_LABELS: dict[str, str] = {
    "published": "published split",
    "stratified": "stratified K-fold (authors)",
    "kfold": "K-fold",
    "multilabel": "multilabel stratified K-fold",
    "stratified-group": "stratified group K-fold (fields kept whole)",
    "multilabel-group": "multilabel stratified group K-fold (fields kept whole)",
    "files": "fold files",
}
PARTS: tuple[str, ...] = ("train", "valid")
K_MIN, K_MAX = 2, 10
AUTHORS_K, AUTHORS_SEED = 4, 42
NO_ARTEFACT = "(no artefact)"


@dataclass(frozen=True)
class FoldSet:
    """Folds over the images of one dataset.

    assignments: one row per (fold, image) with columns fold, image_id, part ("train"/"valid").
    method: one of `METHODS`, or "files" for folds read from the authors' files.
    k: number of folds (1 for the published split).
    seed: the shuffling seed (None when not applicable).
    warnings: messages the splitter raised (sklearn's rare-class warning).
    problems: problems met while reading fold files.
    source: "computed" or the folder the fold files came from.
    """

    assignments: pd.DataFrame
    method: str
    k: int
    seed: int | None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    problems: tuple[Problem, ...] = field(default_factory=tuple)
    source: str = "computed"

    @property
    def folds(self) -> list[int]:
        """Fold numbers in order."""
        return sorted(int(f) for f in self.assignments["fold"].unique())

    @property
    def label(self) -> str:
        """A short human description of how the folds were made."""
        name = METHOD_LABELS.get(self.method, self.method)
        if self.method == "published":
            return name
        if self.method == "files":
            return f"{name}: {self.k} folds from {self.source}"
        return f"{name}, k = {self.k}, seed = {self.seed}"

    def part_ids(self, fold: int, part: str) -> np.ndarray:
        """Image ids of one part of one fold, ascending."""
        a = self.assignments
        return np.sort(a.loc[(a["fold"] == fold) & (a["part"] == part), "image_id"].to_numpy())


def fold_input(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Image ids in fold order and the authors' label strings (numpy str array, as they built it)."""
    img = ds.images.sort_values("image_id")
    return img["image_id"].to_numpy(np.int64), img["strat_label"].to_numpy(dtype=str)


def class_indicator(ds: Dataset) -> np.ndarray:
    """Image x class 0/1 matrix (classes in category order), rows in fold order: int64, shape (n_images, n_classes)."""
    img = ds.images.sort_values("image_id")
    bits = np.arange(len(ds.categories), dtype=np.int64)  # bit i: the i-th class (see tables.build_dataset)
    masks = img["class_bits"].to_numpy(np.int64)
    return ((masks[:, None] >> bits[None, :]) & 1).astype(np.int64)


def _check_k(k: int) -> None:
    if not (K_MIN <= int(k) <= K_MAX):
        raise ValueError(f"k must be between {K_MIN} and {K_MAX}, got {k}")


def _assignments(image_ids: np.ndarray, valid_sets: list[np.ndarray]) -> pd.DataFrame:
    """Tidy rows from per-fold valid index sets (positions into `image_ids`)."""
    n, k = len(image_ids), len(valid_sets)
    is_valid = np.zeros((k, n), dtype=bool)
    for i, idx in enumerate(valid_sets):
        is_valid[i, idx] = True
    return pd.DataFrame({
        "fold": np.repeat(np.arange(k, dtype=np.int64), n),
        "image_id": np.tile(image_ids, k),
        "part": pd.Series(np.where(is_valid.ravel(), "valid", "train"), dtype="str"),
    })


def published_folds(ds: Dataset) -> FoldSet:
    """The dataset's own train/valid split as a single fold (test images are left out).

    Raises:
        XamiDataError: the dataset has no train and valid splits (a single-set layout).
    """
    present = set(ds.images["split"])
    if not {"train", "valid"} <= present:
        raise XamiDataError(
            f"{ds.provenance.path}: the published split needs 'train' and 'valid' splits, found "
            f"{sorted(present)}; a single-set (no_splits) dataset has no published folds")
    img = ds.images.sort_values("image_id")
    img = img[img["split"].isin(PARTS)]
    out = pd.DataFrame({"fold": np.zeros(len(img), dtype=np.int64), "image_id": img["image_id"].to_numpy(np.int64),
                        "part": pd.Series(img["split"].to_numpy(), dtype="str")})
    notes = ()
    n_other = int((~ds.images["split"].isin(PARTS)).sum())
    if n_other:
        notes = (f"{n_other} images of other splits (e.g. test) are not in the published train/valid fold",)
    return FoldSet(out, "published", 1, None, warnings=notes)


def make_folds(ds: Dataset, method: str = "stratified", k: int = AUTHORS_K, seed: int = AUTHORS_SEED,
               groups: FieldGroups | None = None) -> FoldSet:
    """Folds over all images of `ds` by a named method.

    Args:
        ds: the dataset (its splits are pooled, in image_id order).
        method: "published", "stratified" (the authors' recipe), "kfold", "multilabel", or a grouped
            method that never splits a field group, "stratified-group" or "multilabel-group".
        k: number of folds, 2..10 (ignored for "published").
        seed: `random_state` of the shuffling splitter (ignored for "published").
        groups: field groups the grouped methods keep whole (`field_groups.field_groups`; default: by ObsID).

    Raises:
        ValueError: an unknown method, or k outside `K_MIN`..`K_MAX`.
        XamiDataError: the folds cannot be made (fewer images than folds, every label string rarer than k,
            no published train/valid split, fewer field groups than folds for a grouped method).
    """
    if method == "published":
        return published_folds(ds)
    if method not in METHODS:
        raise ValueError(f"unknown fold method {method!r}; expected one of {', '.join(METHODS)}")
    if method in GROUPED_METHODS:
        from xami_core.analysis import field_groups, grouped_folds  # noqa: PLC0415 - grouped_folds imports this module

        chosen = groups if groups is not None else field_groups.obsid_groups(ds.images)
        return grouped_folds.grouped_folds(ds, chosen, method, k, seed)
    _check_k(k)
    k, seed = int(k), int(seed)
    image_ids, labels = fold_input(ds)
    if len(image_ids) < k:
        raise XamiDataError(f"{ds.provenance.path}: {len(image_ids)} images cannot make {k} folds")
    # The authors pass a (n, 1) array of image ids as X; splitters ignore X's values.
    x = image_ids.reshape(-1, 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if method == "stratified":
            from sklearn.model_selection import StratifiedKFold  # noqa: PLC0415 - heavy import on demand

            splits = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(x, labels)
        elif method == "kfold":
            from sklearn.model_selection import KFold  # noqa: PLC0415

            splits = KFold(n_splits=k, shuffle=True, random_state=seed).split(x, labels)
        else:
            from iterstrat.ml_stratifiers import MultilabelStratifiedKFold  # noqa: PLC0415

            splits = MultilabelStratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(x, class_indicator(ds))
        try:
            valid_sets = [np.asarray(valid) for _, valid in splits]
        except ValueError as exc:  # e.g. every label string has fewer images than k
            raise XamiDataError(f"{ds.provenance.path}: {METHOD_LABELS[method]} with k = {k} is impossible: {exc} "
                                "Choose a smaller k, or another method.") from exc
    notes = tuple(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, UserWarning)))
    return FoldSet(_assignments(image_ids, valid_sets), method, k, seed, warnings=notes)


def rare_labels(ds: Dataset, k: int) -> pd.DataFrame:
    """Label strings with fewer images than folds (what sklearn warns about), rarest first."""
    img = ds.images
    counts = img.groupby("strat_label").agg(images=("image_id", "size"), classes=("classes", "first")).reset_index()
    counts["classes"] = [" + ".join(sorted(c)) if c else NO_ARTEFACT for c in counts["classes"]]
    out = counts[counts["images"] < k].sort_values(["images", "strat_label"]).reset_index(drop=True)
    return out[["strat_label", "classes", "images"]].astype({"images": "int64"})
