"""How balanced a fold set is: per fold, part and class (or observation filter), counts and shares.

The authors' measure (XAMI-dataset `notebooks/stratified_kfold.ipynb`) is, per fold and
part, each class's share of the (image, class) pairs, and the mean absolute train-valid
difference of these shares; beside it: the largest difference, the Jensen-Shannon
divergence and a chi-square test of part against class. Fold sets come from
`analysis.folds`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency

from xami_core.analysis.folds import AUTHORS_K, AUTHORS_SEED, PARTS, FoldSet, make_folds
from xami_core.model import Dataset, filter_keys, filter_name, filter_order

MEASURES: tuple[str, ...] = ("images", "annotations")


def fold_class_counts(ds: Dataset, folds: FoldSet) -> pd.DataFrame:
    """Per fold, part and class: images with the class ((image, class) pairs), annotations, and shares.

    `image_share` is the class's share of the part's (image, class) pairs (the authors'
    measure); `annotation_share` its share of the part's annotations.
    """
    classes = ds.class_names
    a = folds.assignments
    grid = pd.MultiIndex.from_product([folds.folds, list(PARTS), classes], names=["fold", "part", "class_name"])
    ann = ds.annotations[["image_id", "class_name"]]
    pairs = ann.drop_duplicates().merge(a, on="image_id")
    anns = ann.merge(a, on="image_id")
    keys = ["fold", "part", "class_name"]
    out = pd.DataFrame({
        "images": pairs.groupby(keys).size().reindex(grid, fill_value=0),
        "annotations": anns.groupby(keys).size().reindex(grid, fill_value=0),
    }).astype("int64").reset_index()
    totals = out.groupby(["fold", "part"])[["images", "annotations"]].transform("sum")
    out["image_share"] = out["images"] / totals["images"].replace(0, np.nan)
    out["annotation_share"] = out["annotations"] / totals["annotations"].replace(0, np.nan)
    sizes = a.groupby(["fold", "part"]).size().rename("part_images").reset_index()
    out = out.merge(sizes, on=["fold", "part"], how="left").fillna({"part_images": 0})
    out["class_id"] = out["class_name"].map(dict(zip(ds.categories["name"], ds.categories["class_id"]))).astype("int64")
    return out[["fold", "part", "class_id", "class_name", "images", "annotations", "image_share", "annotation_share",
                "part_images"]].astype({"part_images": "int64"})


def _share_column(measure: str) -> tuple[str, str]:
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
    return measure, "image_share" if measure == "images" else "annotation_share"


def fold_deviation(counts: pd.DataFrame, measure: str = "images") -> pd.DataFrame:
    """Fold x class table of valid share minus train share (a fraction; + means more in valid).

    Raises:
        ValueError: `measure` is not one of `MEASURES`.
    """
    _, share = _share_column(measure)
    # dropna=False and the reindex keep a part whose shares are all NaN (a part without annotations).
    wide = counts.pivot_table(index=["fold", "class_name"], columns="part", values=share, sort=False,
                              dropna=False).reindex(columns=list(PARTS))
    dev = (wide["valid"] - wide["train"]).unstack("class_name")
    order = list(dict.fromkeys(counts["class_name"]))
    dev = dev.reindex(columns=order)
    dev.columns.name = "class"
    return dev


def _chi2(table: np.ndarray) -> tuple[float, float, int]:
    """Chi-square test of independence of part and class; NaN when the table is degenerate."""
    keep = table.sum(axis=0) > 0
    t = table[:, keep]
    if t.shape[1] < 2 or (t.sum(axis=1) == 0).any():
        return float("nan"), float("nan"), 0
    res = chi2_contingency(t)
    return float(res.statistic), float(res.pvalue), int(res.dof)


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits (0 = identical, 1 = disjoint) of two count or share vectors."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    if p.sum() <= 0 or q.sum() <= 0:
        return float("nan")
    # scipy returns the JS distance (the square root of the divergence); it normalises p and q.
    return float(jensenshannon(p, q, base=2) ** 2)


def fold_balance(ds: Dataset, folds: FoldSet, measure: str = "images", counts: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per fold: sizes, the authors' mean share difference, max difference, JS divergence, chi-square.

    Columns: train/valid images, train/valid empty images; `authors_mean_diff` is the
    authors' figure: the mean of |train share - valid share| over the keys '0'..'5' of
    their notebook, one of which never holds a class (always 0), i.e. the sum
    over the classes divided by (number of classes + 1); `mean_abs_diff` divides by the
    number of classes; `max_abs_diff` and `max_diff_class` name the worst class.

    Args:
        measure: "images" ((image, class) pairs, the authors' measure) or "annotations".
        counts: `fold_class_counts` output, if already computed.

    Returns:
        One row per fold; share differences are fractions (not percent), `js_divergence` in bits.

    Raises:
        ValueError: `measure` is not one of `MEASURES`.
    """
    count_col, share_col = _share_column(measure)
    counts = fold_class_counts(ds, folds) if counts is None else counts
    classes = list(dict.fromkeys(counts["class_name"]))
    n_cls = len(classes)
    fold_ids = folds.folds
    shape = (len(fold_ids), len(PARTS), n_cls)
    c = counts.set_index(["fold", "part", "class_name"]).reindex(
        pd.MultiIndex.from_product([fold_ids, list(PARTS), classes]))
    n = c[count_col].to_numpy(np.float64).reshape(shape)
    s = c[share_col].to_numpy(np.float64).reshape(shape)
    diff = np.abs(s[:, 0, :] - s[:, 1, :])
    worst = np.nanargmax(np.where(np.isnan(diff), -1.0, diff), axis=1)

    empty = ds.images.loc[ds.images["n_annotations"] == 0, "image_id"]
    a = folds.assignments
    a_empty = a[a["image_id"].isin(empty)].groupby(["fold", "part"]).size()
    sizes = a.groupby(["fold", "part"]).size()

    def per_part(series: pd.Series, part: str) -> np.ndarray:
        return np.array([int(series.get((f, part), 0)) for f in fold_ids], dtype=np.int64)

    chi = [_chi2(n[i]) for i in range(len(fold_ids))]
    return pd.DataFrame({
        "fold": np.asarray(fold_ids, dtype=np.int64),
        "train_images": per_part(sizes, "train"),
        "valid_images": per_part(sizes, "valid"),
        "train_empty": per_part(a_empty, "train"),
        "valid_empty": per_part(a_empty, "valid"),
        "authors_mean_diff": diff.sum(axis=1) / (n_cls + 1),
        "mean_abs_diff": diff.mean(axis=1),
        "max_abs_diff": diff[np.arange(len(fold_ids)), worst],
        "max_diff_class": pd.Series([classes[j] for j in worst], dtype="str"),
        "js_divergence": [js_divergence(n[i, 0], n[i, 1]) for i in range(len(fold_ids))],
        "chi2": [x[0] for x in chi],
        "p_value": [x[1] for x in chi],
        "dof": np.array([x[2] for x in chi], dtype=np.int64),
    })


@dataclass(frozen=True)
class BalanceSummary:
    """The headline of a `fold_balance` table: what a user reads first.

    valid_min, valid_max: the smallest and largest valid part (images).
    mean_authors_diff: the authors' mean |train - valid| share, averaged over folds (a fraction).
    worst_diff, worst_class, worst_fold: the largest |train - valid| share of any class, and where.
    min_p: the smallest chi-square p-value over folds (NaN when no fold has a usable table).
    """

    valid_min: int
    valid_max: int
    mean_authors_diff: float
    worst_diff: float
    worst_class: str
    worst_fold: int
    min_p: float


def balance_summary(balance: pd.DataFrame) -> BalanceSummary:
    """Headline figures of a `fold_balance` table (NaN-safe: folds without annotations are skipped)."""
    diffs = balance["max_abs_diff"].to_numpy(np.float64)
    has = ~np.isnan(diffs)
    row = balance.iloc[int(np.argmax(np.where(has, diffs, -1.0)))]
    p = balance["p_value"].to_numpy(np.float64)
    return BalanceSummary(
        valid_min=int(balance["valid_images"].min()), valid_max=int(balance["valid_images"].max()),
        mean_authors_diff=float(np.nanmean(balance["authors_mean_diff"])) if has.any() else float("nan"),
        worst_diff=float(row["max_abs_diff"]) if has.any() else float("nan"),
        worst_class=str(row["max_diff_class"]) if has.any() else "",
        worst_fold=int(row["fold"]),
        min_p=float(np.nanmin(p)) if np.isfinite(p).any() else float("nan"),
    )


def pp_text(fraction: float, digits: int = 2) -> str:
    """A share difference as percentage points ("0.71 pp"), or "n/a" when undefined."""
    return "n/a" if not np.isfinite(fraction) else f"{fraction * 100:.{digits}f} pp"


def method_comparison(ds: Dataset, k: int = AUTHORS_K, seed: int = AUTHORS_SEED,
                      methods: tuple[str, ...] = ("kfold", "stratified"), measure: str = "images") -> pd.DataFrame:
    """The authors' K-fold vs stratified comparison: per method and fold, the mean share differences (fractions).

    Raises:
        ValueError: an unknown method or measure, or k out of range (see `folds.make_folds`).
        XamiDataError: a method cannot make k folds of this dataset.
    """
    rows = []
    for method in methods:
        bal = fold_balance(ds, make_folds(ds, method, k, seed), measure)
        rows.append(bal[["fold", "authors_mean_diff", "mean_abs_diff", "max_abs_diff", "js_divergence"]].assign(
            method=pd.Series([method] * len(bal), dtype="str")))
    out = pd.concat(rows, ignore_index=True)
    return out[["method", "fold", "authors_mean_diff", "mean_abs_diff", "max_abs_diff", "js_divergence"]]


def fold_filter_counts(ds: Dataset, folds: FoldSet) -> pd.DataFrame:
    """Per fold, part and observation filter (by wavelength): images and their share of the part."""
    img = ds.images[["image_id", "filter_letter"]].assign(filter_letter=filter_keys(ds.images["filter_letter"]))
    letters = filter_order(img["filter_letter"])
    grid = pd.MultiIndex.from_product([folds.folds, list(PARTS), letters], names=["fold", "part", "filter_letter"])
    joined = folds.assignments.merge(img, on="image_id")
    out = joined.groupby(["fold", "part", "filter_letter"]).size().reindex(grid, fill_value=0).rename("images").reset_index()
    out["images"] = out["images"].astype("int64")
    out["share"] = out["images"] / out.groupby(["fold", "part"])["images"].transform("sum").replace(0, np.nan)
    # One distinct name per key ("X (unknown filter)", "no observation key"), so pivots keep every filter apart.
    out.insert(3, "filter", out["filter_letter"].map(filter_name).astype("str"))
    return out


def fold_filter_deviation(filter_counts: pd.DataFrame) -> pd.DataFrame:
    """Fold x filter table of valid minus train share of images (filters by wavelength)."""
    wide = filter_counts.pivot_table(index=["fold", "filter"], columns="part", values="share", sort=False,
                                     dropna=False).reindex(columns=list(PARTS))
    dev = (wide["valid"] - wide["train"]).unstack("filter")
    dev = dev.reindex(columns=list(dict.fromkeys(filter_counts["filter"])))
    dev.columns.name = "filter"
    return dev


def fold_filter_table(filter_counts: pd.DataFrame) -> pd.DataFrame:
    """Wide table for display: a row per filter (by wavelength), image counts per fold and part."""
    n_folds = filter_counts["fold"].nunique()
    wide = filter_counts.pivot_table(index="filter", columns=["fold", "part"], values="images", sort=False)
    wide.columns = [f"{'published' if n_folds == 1 else f'fold {f}'} {p}" for f, p in wide.columns]
    return wide.fillna(0).astype("int64")


def comparison_means(comparison: pd.DataFrame, column: str = "authors_mean_diff") -> pd.Series:
    """Mean over folds of a `method_comparison` column, per method."""
    return comparison.groupby("method", sort=False)[column].mean()


def empty_per_fold(ds: Dataset, folds: FoldSet) -> pd.DataFrame:
    """Images without artefacts per fold and part, with their share of the part."""
    empty = set(ds.images.loc[ds.images["n_annotations"] == 0, "image_id"])
    a = folds.assignments.assign(empty=folds.assignments["image_id"].isin(empty))
    out = a.groupby(["fold", "part"]).agg(images=("image_id", "size"), empty_images=("empty", "sum")).reset_index()
    out["empty_share"] = out["empty_images"] / out["images"]
    return out.astype({"images": "int64", "empty_images": "int64"})

