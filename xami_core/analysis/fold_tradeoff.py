"""Fold methods compared on both axes at once: class balance against sky-field leakage.

Class balance is the authors' measure (per fold, the mean over their keys '0'..'5' of
|train share - valid share| of the (image, class) pairs, `fold_balance.fold_balance`'s
`authors_mean_diff`) and the Jensen-Shannon divergence between the train and valid class
distributions (scipy.spatial.distance.jensenshannon with base 2, squared: a divergence in
bits, 0 for identical distributions, 1 for disjoint ones). Leakage is the share of valid
frames whose field group also has a frame in train (`leakage.fold_leakage`). A user picks
the split that leaks nothing at the smallest cost in balance, and cites these numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from xami_core.analysis.field_groups import FieldGroups
from xami_core.analysis.fold_balance import fold_balance
from xami_core.analysis.folds import AUTHORS_K, AUTHORS_SEED, GROUPED_METHODS, FoldSet, make_folds
from xami_core.analysis.leakage import fold_leakage, leakage_summary
from xami_core.model import Dataset

COMPARED_METHODS: tuple[str, ...] = ("kfold", "stratified", "multilabel", *GROUPED_METHODS)
TRADEOFF_COLUMNS: tuple[str, ...] = (
    "method", "label", "k", "seed", "authors_mean_diff", "authors_max_diff", "js_divergence_bits",
    "js_max_bits", "valid_share_leaking", "worst_fold_share_leaking", "valid_images_leaking", "leaking_groups",
)


def fold_set_tradeoff(ds: Dataset, fold_sets: Sequence[FoldSet], groups: FieldGroups,
                      measure: str = "images") -> pd.DataFrame:
    """One row per fold set: class balance (means and maxima over folds) and leakage (pooled over folds).

    Columns: `method`, `label` (how it was made), `k`, `seed`; `authors_mean_diff` and
    `authors_max_diff` (the authors' mean |train - valid| share, a fraction: mean and maximum
    over folds); `js_divergence_bits` and `js_max_bits` (train vs valid class distributions,
    bits: mean and maximum over folds); `valid_share_leaking` (valid frames with a field in
    train over all valid frames, summed over folds, a fraction), `worst_fold_share_leaking`,
    `valid_images_leaking`, `leaking_groups` (summed over folds).

    Args:
        fold_sets: any fold sets of `ds` (computed, published, read from files).
        groups: field groups of `ds.images`.
        measure: "images" ((image, class) pairs, the authors' measure) or "annotations".

    Raises:
        ValueError: an unknown measure, or groups that do not cover a fold set's images.
    """
    rows = []
    for folds in fold_sets:
        balance = fold_balance(ds, folds, measure)
        summary = leakage_summary(fold_leakage(folds, groups))
        diff = balance["authors_mean_diff"].to_numpy(np.float64)
        js = balance["js_divergence"].to_numpy(np.float64)
        rows.append({
            "method": folds.method, "label": folds.label, "k": int(folds.k), "seed": folds.seed,
            "authors_mean_diff": _nan_stat(np.nanmean, diff), "authors_max_diff": _nan_stat(np.nanmax, diff),
            "js_divergence_bits": _nan_stat(np.nanmean, js), "js_max_bits": _nan_stat(np.nanmax, js),
            "valid_share_leaking": summary.valid_share, "worst_fold_share_leaking": summary.worst_share,
            "valid_images_leaking": summary.valid_images_leaking, "leaking_groups": summary.leaking_groups,
        })
    out = pd.DataFrame(rows, columns=list(TRADEOFF_COLUMNS))
    out["seed"] = out["seed"].astype("Int64")  # None for the published split and fold files
    return out.astype({"method": "str", "label": "str", "k": "int64", "valid_images_leaking": "int64",
                       "leaking_groups": "int64"})


def method_tradeoff(ds: Dataset, groups: FieldGroups, k: int = AUTHORS_K, seed: int = AUTHORS_SEED,
                    methods: Sequence[str] = COMPARED_METHODS, measure: str = "images") -> pd.DataFrame:
    """`fold_set_tradeoff` of named methods made with one k and seed (grouped methods with `groups`).

    Args:
        groups: field groups of `ds.images`; the grouped methods keep them whole, and every
            method's leakage is measured against them.
        k: number of folds, 2..10; seed: the splitters' `random_state`.
        methods: names from `folds.METHODS` ("published" ignores k and seed).

    Raises:
        ValueError: an unknown method or measure, k out of range, or groups of another dataset.
        XamiDataError: a method cannot make k folds of this dataset.
    """
    fold_sets = [make_folds(ds, m, k, seed, groups=groups) for m in methods]
    return fold_set_tradeoff(ds, fold_sets, groups, measure)


def _nan_stat(stat: Callable[[np.ndarray], float], values: np.ndarray) -> float:
    return float(stat(values)) if np.isfinite(values).any() else float("nan")
