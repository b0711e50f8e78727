"""Folds that keep every field group (see `field_groups`) on one side of every fold.

Two methods, each returning the same `FoldSet` as the other fold methods:

- "stratified-group": scikit-learn's `StratifiedGroupKFold(n_splits=k, shuffle=True,
  random_state=seed)` on the authors' label strings (`strat_label`, the sorted category ids of
  an image: "345"), with the field groups as `groups`. It balances the label strings, which a
  group holding several strings makes approximate.
- "multilabel-group": grouped iterative stratification, written here. It follows the greedy
  iterative stratification of Sechidis, Tsoumakas & Vlahavas (2011), "On the Stratification
  of Multi-label Data", ECML PKDD, LNCS 6913, pp. 145-158 (Algorithm 1), with a group in the
  place of an example: a group carries the class counts of its images (images with the class)
  and its size. Each round takes the class with the fewest images left among the groups not
  yet placed, and places those groups of it, largest first (ties in an order drawn from
  `seed`). Sechidis et al. put an example into the fold that still wants the most examples of
  that class; a group carries several classes at once, so here a fold's score is the share of
  that class it still wants plus the share it still wants of the group's classes (the mean of
  the per-class shares, weighted by the group's counts), which on the sample lowers the
  authors' mean train-valid difference by about a third against the single-class rule. Ties
  go to the fold that wants the most images overall, then to a fold drawn from `seed`.
  Groups without any class (hard negatives) go last, largest first, to the fold that wants
  the most images. Each fold wants 1/k of every class and of all images.

Both never split a group: every image of a group is in the valid part of the same fold.
`folds.make_folds(ds, method, k, seed, groups)` makes them beside the other methods.
"""

from __future__ import annotations

import warnings

import numpy as np

from xami_core.analysis.field_groups import FieldGroups
from xami_core.analysis.folds import (
    AUTHORS_K,
    AUTHORS_SEED,
    GROUPED_METHODS,
    METHOD_LABELS,
    FoldSet,
    _assignments,
    _check_k,
    class_indicator,
    fold_input,
)
from xami_core.model import Dataset, XamiDataError


def groups_in_fold_order(ds: Dataset, groups: FieldGroups) -> np.ndarray:
    """The group of each image in fold order (ascending `image_id`), int64, shape (n_images,).

    Raises:
        ValueError: when `groups` was not made for the images of `ds`.
    """
    image_ids, _ = fold_input(ds)
    lookup = groups.by_image_id()
    if len(lookup) != len(image_ids) or not lookup.index.isin(image_ids).all():
        raise ValueError(f"the field groups cover {groups.n_images} frames, not the {len(image_ids)} images of "
                         f"{ds.provenance.path}; make them from this dataset's images table")
    return lookup.reindex(image_ids).to_numpy(np.int64)


def multilabel_group_stratify(y: np.ndarray, group: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Grouped iterative stratification (see the module docstring): the fold of each image.

    Args:
        y: image x class 0/1 matrix, shape (n_images, n_classes).
        group: group id per image, int, shape (n_images,), values 0..n_groups-1 (any order).
        k: number of folds (at most the number of groups).
        seed: seed of the tie-breaking orders.

    Returns:
        int64 array, shape (n_images,): the valid fold of each image, 0..k-1; images of one group share it.

    Raises:
        ValueError: when y and group disagree in length, or there are fewer groups than folds.
    """
    y = np.asarray(y, dtype=np.int64)
    group = np.asarray(group, dtype=np.int64)
    if y.ndim != 2 or len(y) != len(group):
        raise ValueError(f"y must be (n_images, n_classes) with one row per group entry; got {y.shape} and "
                         f"{group.shape}")
    codes, group = np.unique(group, return_inverse=True)
    n_groups = len(codes)
    if n_groups < k:
        raise ValueError(f"{n_groups} field groups cannot make {k} folds without splitting a group")
    rng = np.random.default_rng(seed)
    # Per group: images with each class (n_groups, n_classes), and images.
    counts = np.zeros((n_groups, y.shape[1]), dtype=np.int64)
    np.add.at(counts, group, y)
    sizes = np.bincount(group, minlength=n_groups).astype(np.int64)
    total = counts.sum(axis=0)
    wanted = np.tile(total / k, (k, 1))  # (k, n_classes): class images each fold still wants
    wanted_all = np.full(k, sizes.sum() / k)  # images each fold still wants
    per_class = 1.0 / np.maximum(total, 1)  # turns wanted counts into shares of each class
    fold_of_group = np.full(n_groups, -1, dtype=np.int64)
    tie_order = rng.permutation(n_groups)  # a random rank per group, the last sort key within a class

    def place(g: int, score: np.ndarray) -> None:
        # Highest score, then most images wanted, then a fold drawn at random (isclose: sums of shares).
        best = np.flatnonzero(np.isclose(score, score.max(), rtol=0.0, atol=1e-12))
        best = best[wanted_all[best] == wanted_all[best].max()]
        fold = int(best[rng.integers(len(best))])
        fold_of_group[g] = fold
        wanted[fold] -= counts[g]
        wanted_all[fold] -= sizes[g]

    left = counts.sum(axis=1) > 0
    while left.any():
        remaining = counts[left].sum(axis=0)
        label = int(np.argmin(np.where(remaining > 0, remaining, np.iinfo(np.int64).max)))
        with_label = np.flatnonzero(left & (counts[:, label] > 0))
        for g in with_label[np.lexsort((tie_order[with_label], -sizes[with_label]))]:
            shares = wanted * per_class  # (k, n_classes)
            place(int(g), shares[:, label] + shares @ counts[g] / counts[g].sum())
        left[with_label] = False
    empty = np.flatnonzero(fold_of_group < 0)
    for g in empty[np.lexsort((tie_order[empty], -sizes[empty]))]:
        place(int(g), wanted_all)
    return fold_of_group[group]


def grouped_folds(ds: Dataset, groups: FieldGroups, method: str = "multilabel-group", k: int = AUTHORS_K,
                  seed: int = AUTHORS_SEED) -> FoldSet:
    """k folds over all images of `ds` that never split a field group.

    Args:
        ds: the dataset (splits pooled, in image_id order, as for the other methods).
        groups: field groups of `ds.images` (`field_groups.field_groups`).
        method: "stratified-group" (scikit-learn's StratifiedGroupKFold on the label strings) or
            "multilabel-group" (grouped iterative stratification of the class indicators).
        k: number of folds, 2..10.
        seed: `random_state` / seed of the shuffling.

    Returns:
        A `FoldSet` with `method` set to the method name (the grouping is the caller's `groups.label`).

    Raises:
        ValueError: for an unknown method, k outside 2..10, or groups made for other images.
        XamiDataError: when the dataset has fewer field groups than folds.
    """
    if method not in GROUPED_METHODS:
        raise ValueError(f"unknown grouped fold method {method!r}; expected one of {', '.join(GROUPED_METHODS)}")
    _check_k(k)
    k, seed = int(k), int(seed)
    image_ids, labels = fold_input(ds)
    group = groups_in_fold_order(ds, groups)
    n_groups = len(np.unique(group))
    if n_groups < k:
        raise XamiDataError(f"{ds.provenance.path}: {n_groups} field groups ({groups.label}) cannot make {k} folds "
                            "without splitting a group. Choose a smaller k, or a smaller radius.")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if method == "stratified-group":
            from sklearn.model_selection import StratifiedGroupKFold  # noqa: PLC0415 - heavy import on demand

            splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
            valid_sets = [np.asarray(valid) for _, valid in splitter.split(image_ids.reshape(-1, 1), labels, group)]
        else:
            fold = multilabel_group_stratify(class_indicator(ds), group, k, seed)
            valid_sets = [np.flatnonzero(fold == i) for i in range(k)]
    empty = [i for i, v in enumerate(valid_sets) if len(v) == 0]
    if empty:  # StratifiedGroupKFold can leave a fold empty when a few groups hold most images
        raise XamiDataError(f"{ds.provenance.path}: {METHOD_LABELS[method]} with k = {k} left fold(s) "
                            f"{', '.join(map(str, empty))} empty ({n_groups} field groups). Choose a smaller k.")
    notes = tuple(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, UserWarning)))
    return FoldSet(_assignments(image_ids, valid_sets), method, k, seed, warnings=notes)
