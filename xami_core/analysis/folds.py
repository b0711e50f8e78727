"""Fold sets over a dataset: the published split, the authors' stratified K-fold, alternatives,
fold files the authors wrote (`mskf_k.csv`, `mskf_k/{train,valid}/`), and their balance.

A fold set is a tidy table (fold, image_id, part) over the images of a dataset; for a
layout with splits the folds are made over the union of the splits, in `image_id` order
(which is the JSON order within each split, splits in their conventional order).

The authors' recipe (XAMI-dataset `notebooks/stratified_kfold.ipynb`): per image, in
JSON order, the label string of its sorted category ids ("345"; "" without annotations),
then `StratifiedKFold(n_splits=4, shuffle=True, random_state=42).split(images, labels)`;
fold i's valid part is the i-th test index set. Their balance measure is, per fold and
part, each class's share of the (image, class) pairs, and the mean absolute train-valid
difference of these shares.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency

from xami_core.model import Dataset, Problem, XamiDataError, filter_keys, filter_name, filter_order
from xami_core.paths import checked_path, shown

METHODS: tuple[str, ...] = ("published", "stratified", "kfold", "multilabel")
METHOD_LABELS: dict[str, str] = {
    "published": "published split",
    "stratified": "stratified K-fold (authors)",
    "kfold": "K-fold",
    "multilabel": "multilabel stratified K-fold",
    "files": "fold files",
}
PARTS: tuple[str, ...] = ("train", "valid")
MEASURES: tuple[str, ...] = ("images", "annotations")
K_MIN, K_MAX = 2, 10
AUTHORS_K, AUTHORS_SEED = 4, 42
CSV_COLUMNS: tuple[str, ...] = ("IMADE_ID", "IMAGE_PATH", "SPLIT")  # sic: the authors' spelling
COCO_FILE = "_annotations.coco.json"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
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
    """Image x class 0/1 matrix (classes in category order), rows in fold order."""
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
    """The dataset's own train/valid split as a single fold (test images are left out)."""
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


def make_folds(ds: Dataset, method: str = "stratified", k: int = AUTHORS_K, seed: int = AUTHORS_SEED) -> FoldSet:
    """Folds over all images of `ds` by a named method.

    Args:
        ds: the dataset (its splits are pooled, in image_id order).
        method: "published", "stratified" (the authors' recipe), "kfold" or "multilabel".
        k: number of folds, 2..10 (ignored for "published").
        seed: `random_state` of the shuffling splitter (ignored for "published").
    """
    if method == "published":
        return published_folds(ds)
    if method not in METHODS:
        raise ValueError(f"unknown fold method {method!r}; expected one of {', '.join(METHODS)}")
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


# --- balance ------------------------------------------------------------------------------


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
    """Fold x class table of valid share minus train share (a fraction; + means more in valid)."""
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
    """The authors' K-fold vs stratified comparison: per method and fold, the mean share differences."""
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


# --- the authors' fold files ----------------------------------------------------------------


def export_image_ids(ds: Dataset) -> pd.Series:
    """Ids written to IMADE_ID and COCO exports, indexed by image_id.

    The COCO id from the image's annotation file when those are unique (a single file,
    e.g. the no_splits set, as the authors did); for a split layout, whose per-file ids
    repeat, the dataset's global `image_id` (the position in the union).
    """
    img = ds.images.sort_values("image_id")
    ids = img["coco_id"] if img["coco_id"].is_unique else img["image_id"]
    return pd.Series(ids.to_numpy(np.int64), index=img["image_id"].to_numpy(np.int64))


def fold_csv_frame(ds: Dataset, folds: FoldSet, fold: int, path_prefix: str | None = None) -> pd.DataFrame:
    """The rows of `mskf_{fold}.csv`: IMADE_ID, IMAGE_PATH, SPLIT; train rows, then valid, each ascending.

    IMADE_ID is the image's id in the COCO file (see `export_image_ids`); IMAGE_PATH is
    the absolute path of the image file as loaded (the authors' scripts copy images from
    it), or `path_prefix` + "/" + file name when a prefix is given (the authors wrote
    relative paths such as "../../xami_dataset_no_splits/train/<file>").
    """
    ids = export_image_ids(ds)
    img = ds.images.set_index("image_id")
    frames = []
    for part in PARTS:
        part_ids = folds.part_ids(fold, part)
        if path_prefix is None:
            paths = img.loc[part_ids, "path"].to_numpy()
        else:
            paths = [posixpath.join(path_prefix, name) for name in img.loc[part_ids, "file_name"]]
        frames.append(pd.DataFrame({"IMADE_ID": ids.loc[part_ids].to_numpy(np.int64),
                                    "IMAGE_PATH": pd.Series(paths, dtype="str"),
                                    "SPLIT": pd.Series([part] * len(part_ids), dtype="str")}))
    return pd.concat(frames, ignore_index=True)


def fold_csv_text(ds: Dataset, folds: FoldSet, fold: int, path_prefix: str | None = None) -> str:
    """`mskf_{fold}.csv` as the authors' `csv.DictWriter` writes it (excel dialect, CRLF line ends)."""
    frame = fold_csv_frame(ds, folds, fold, path_prefix)
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS))
    writer.writeheader()
    writer.writerows({"IMADE_ID": int(i), "IMAGE_PATH": p, "SPLIT": s}
                     for i, p, s in zip(frame["IMADE_ID"], frame["IMAGE_PATH"], frame["SPLIT"]))
    return buf.getvalue()


def write_fold_csvs(ds: Dataset, folds: FoldSet, out_dir: Path, path_prefix: str | None = None) -> list[Path]:
    """Write `mskf_{i}.csv` for every fold into a user-chosen folder; returns the paths.

    Raises:
        XamiDataError: the folder cannot be used (see `paths.checked_path`) or written.
    """
    out_dir = checked_path(out_dir, what="fold files folder")
    written = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for fold in folds.folds:
            path = out_dir / f"mskf_{fold}.csv"
            path.write_bytes(fold_csv_text(ds, folds, fold, path_prefix).encode("utf-8"))
            written.append(path)
    except OSError as exc:  # a file where the folder should be, permissions, a full disk
        raise XamiDataError(f"fold files folder '{shown(str(out_dir))}': cannot be written ({exc})") from exc
    return written


def fold_csvs_zip(ds: Dataset, folds: FoldSet, path_prefix: str | None = None) -> bytes:
    """All `mskf_{i}.csv` files in one zip (for a download button)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for fold in folds.folds:
            zf.writestr(f"mskf_{fold}.csv", fold_csv_text(ds, folds, fold, path_prefix).encode("utf-8"))
    return buf.getvalue()


def _number(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


def coco_categories(ds: Dataset) -> list[dict]:
    """Categories as the input had them: the hidden Roboflow parent (id 0) first, then the classes."""
    cats = ds.categories
    parents = [s for s in dict.fromkeys(cats["supercategory"]) if s and s != "none" and s not in set(cats["name"])]
    out = [{"id": 0, "name": p, "supercategory": "none"} for p in parents[:1]]
    out += [{"id": int(i), "name": n, "supercategory": s} for i, n, s in zip(cats["class_id"], cats["name"], cats["supercategory"])]
    return out


def _coco_records(ds: Dataset) -> tuple[dict[int, dict], pd.DataFrame]:
    """COCO image records by image_id and annotation records (column `record`) with their image_id."""
    ids = export_image_ids(ds)
    img = ds.images.sort_values("image_id")
    images = {int(i): {"id": int(ids[i]), "license": 1, "file_name": f, "height": int(h), "width": int(w)}
              for i, f, h, w in zip(img["image_id"], img["file_name"], img["height"], img["width"])}
    ann = ds.annotations
    ann_ids = ann["coco_id"] if ann["coco_id"].is_unique else ann["ann_id"]
    # A missing stored box is replaced by the one recomputed from the mask.
    box = ann[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy(np.float64)
    recomputed = ann[["mask_box_x", "mask_box_y", "mask_box_w", "mask_box_h"]].to_numpy(np.float64)
    box = np.where(np.isnan(box), recomputed, box)
    out_image_ids = ids.loc[ann["image_id"].to_numpy()].to_numpy()
    records = [
        {"id": int(a), "image_id": int(i), "category_id": int(c), "bbox": [_number(v) for v in b],
         "area": _number(area), "segmentation": seg if seg is not None else [], "iscrowd": 0}
        for a, i, c, b, area, seg in zip(ann_ids, out_image_ids, ann["class_id"], box.tolist(), ann["area"],
                                         ann["segmentation"])
    ]
    return images, pd.DataFrame({"image_id": ann["image_id"].to_numpy(np.int64), "record": pd.Series(records, dtype=object)})


def fold_coco(ds: Dataset, folds: FoldSet) -> dict[tuple[int, str], dict]:
    """Per (fold, part), a COCO dict filtered from the dataset's records (categories as in the input)."""
    images, anns = _coco_records(ds)
    cats = coco_categories(ds)
    prov = ds.provenance
    info = {"description": f"XAMI fold export ({prov.label}); {folds.label}", "licence": prov.licence,
            "citation": prov.citation}
    licenses = [{"id": 1, "name": prov.licence, "url": prov.url}]
    out = {}
    for fold in folds.folds:
        for part in PARTS:
            ids = folds.part_ids(fold, part)
            chosen = anns.loc[anns["image_id"].isin(ids), "record"]
            out[(fold, part)] = {"info": info | {"fold": fold, "part": part}, "licenses": licenses,
                                 "images": [images[int(i)] for i in ids], "annotations": list(chosen),
                                 "categories": cats}
    return out


def fold_coco_zip(ds: Dataset, folds: FoldSet) -> bytes:
    """A zip of `mskf_{i}/{train,valid}/_annotations.coco.json`, the authors' folder layout (no images)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for (fold, part), coco in fold_coco(ds, folds).items():
            zf.writestr(f"mskf_{fold}/{part}/{COCO_FILE}", json.dumps(coco))
    return buf.getvalue()


FOLD_CSV = re.compile(r"^mskf_(\d+)\.csv$")
FOLD_DIR = re.compile(r"^mskf_(\d+)$")


def _basename(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def _names_in_folder(folder: Path) -> list[str]:
    """File names of a fold part folder: from its COCO file if any, else its image files."""
    coco = folder / COCO_FILE
    if coco.is_file():
        try:
            data = json.loads(coco.read_text(encoding="utf-8"))
            return [str(im["file_name"]) for im in data.get("images", []) if isinstance(im, dict) and "file_name" in im]
        except (json.JSONDecodeError, OSError, UnicodeDecodeError, AttributeError, TypeError, RecursionError):
            pass  # fall back to the image files beside it
    return sorted(p.name for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def find_fold_files(folder: Path) -> tuple[str, list[tuple[int, Path]]]:
    """The authors' fold files in `folder`: ("csv", [(fold, csv path)]) or ("dirs", [(fold, mskf_i dir)]).

    Raises:
        XamiDataError: the folder cannot be used (see `paths.checked_path`), read, or holds no fold files.
    """
    folder = checked_path(folder, what="fold folder")
    if not folder.is_dir():
        raise XamiDataError(f"{shown(str(folder))}: not a folder")
    try:
        entries = list(folder.iterdir())
    except OSError as exc:
        raise XamiDataError(f"fold folder '{shown(str(folder))}': cannot be read ({exc.strerror or exc})") from exc
    csvs = sorted((int(m.group(1)), p) for p in entries if (m := FOLD_CSV.match(p.name)) and p.is_file())
    if csvs:
        return "csv", csvs
    dirs = [(int(m.group(1)), p) for p in entries if (m := FOLD_DIR.match(p.name)) and p.is_dir()]
    if (m := FOLD_DIR.match(folder.name)) and any((folder / part).is_dir() for part in PARTS):
        dirs = [(int(m.group(1)), folder)]
    dirs = sorted(d for d in dirs if any((d[1] / part).is_dir() for part in PARTS))
    if dirs:
        return "dirs", dirs
    raise XamiDataError(f"{folder}: no fold files found. Expected mskf_0.csv, mskf_1.csv, ... (columns "
                        f"{', '.join(CSV_COLUMNS)}) or folders mskf_0/, mskf_1/, ... with train/ and valid/ inside")


def _read_fold_csv(path: Path, problems: list[Problem]) -> pd.DataFrame:
    """(name, part, record) rows of one mskf csv; bad rows become problems."""
    file = str(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        problems.append(Problem(file, "file", f"cannot be read as CSV: {exc}"))
        return pd.DataFrame(columns=["name", "part", "record"])
    missing = [c for c in ("IMAGE_PATH", "SPLIT") if c not in raw.columns]
    if missing:
        problems.append(Problem(file, "header", f"expected columns {', '.join(CSV_COLUMNS)}, found "
                                f"{', '.join(raw.columns) or 'none'}"))
        return pd.DataFrame(columns=["name", "part", "record"])
    split = raw["SPLIT"].str.strip().str.lower()
    bad = ~split.isin(PARTS)
    for row in np.flatnonzero(bad.to_numpy())[:10]:
        problems.append(Problem(file, f"row {row + 2}", f"expected SPLIT train or valid, found {raw['SPLIT'].iloc[row]!r}"))
    if bad.sum() > 10:
        problems.append(Problem(file, "rows", f"{int(bad.sum()) - 10} more rows with an unknown SPLIT"))
    names = raw["IMAGE_PATH"].map(_basename)
    return pd.DataFrame({"name": names[~bad], "part": split[~bad],
                         "record": [f"row {r + 2}" for r in np.flatnonzero(~bad.to_numpy())]})


def read_fold_files(folder: str | Path, ds: Dataset) -> FoldSet:
    """Folds from the authors' files in a folder, matched to the dataset's images by file name.

    Rows that match no image, names in both parts of a fold and dataset images missing
    from a fold are reported as problems; the matched rows make the fold set.
    """
    kind, found = find_fold_files(Path(folder))
    problems: list[Problem] = []
    img = ds.images
    dup = img["file_name"].duplicated(keep=False)
    by_name = pd.Series(img.loc[~dup, "image_id"].to_numpy(np.int64), index=img.loc[~dup, "file_name"].to_numpy())
    ambiguous = set(img.loc[dup, "file_name"])
    frames = []
    for fold, path in found:
        if kind == "csv":
            rows = _read_fold_csv(path, problems)
        else:
            parts = [pd.DataFrame({"name": names, "part": part, "record": [f"{part}/{n}" for n in names]})
                     for part in PARTS if (path / part).is_dir() for names in [_names_in_folder(path / part)]]
            rows = pd.concat(parts, ignore_index=True)
        file = str(path)
        unknown = ~rows["name"].isin(by_name.index)
        for rec, name in zip(rows.loc[unknown, "record"].head(10), rows.loc[unknown, "name"].head(10)):
            why = "matches several images of the dataset" if name in ambiguous else "matches no image of the loaded dataset"
            problems.append(Problem(file, rec, f"file name {name!r} {why}; skipped"))
        if unknown.sum() > 10:
            problems.append(Problem(file, "rows", f"{int(unknown.sum()) - 10} more unmatched file names skipped"))
        rows = rows[~unknown]
        twice = rows["name"].duplicated(keep=False)
        if twice.any():
            problems.append(Problem(file, rows.loc[twice, "record"].iloc[0],
                                    f"{int(rows.loc[twice, 'name'].nunique())} file name(s) listed more than once "
                                    "(in both parts or repeated); first listing kept", "warning"))
            rows = rows[~rows["name"].duplicated(keep="first")]
        n_absent = len(img) - len(rows)
        if n_absent:
            problems.append(Problem(file, f"fold {fold}", f"{n_absent} of {len(img)} dataset images are not in this "
                                    "fold; they are left out of its balance", "warning"))
        frames.append(pd.DataFrame({"fold": np.full(len(rows), fold, dtype=np.int64),
                                    "image_id": by_name.loc[rows["name"]].to_numpy(np.int64),
                                    "part": pd.Series(rows["part"].to_numpy(), dtype="str")}))
    assignments = pd.concat(frames, ignore_index=True).sort_values(["fold", "image_id"], ignore_index=True)
    if assignments.empty:
        detail = "; ".join(str(p) for p in problems[:5])
        raise XamiDataError(f"{folder}: no fold file entry matches an image of the loaded dataset. {detail}".strip())
    return FoldSet(assignments, "files", len(found), None, problems=tuple(problems), source=str(folder))


def fold_files_fingerprint(folder: str | Path) -> tuple:
    """What identifies the fold files in a folder: names, sizes and mtimes (for caches).

    Raises:
        XamiDataError: the folder path cannot be used (see `paths.checked_path`).
    """
    folder = checked_path(folder, what="fold folder")
    try:
        if not folder.is_dir():
            return (str(folder), "missing")
        entries = sorted(p for p in folder.iterdir() if FOLD_CSV.match(p.name) or FOLD_DIR.match(p.name))
        resolved = str(folder.resolve())
    except (OSError, RuntimeError):  # unreadable: `find_fold_files` says so with the reason
        return (str(folder), "unreadable")
    out = []
    for p in entries[:64]:
        try:
            st = p.stat()
            out.append((p.name, st.st_size, st.st_mtime_ns))
            if p.is_dir():
                out += [(str(f.relative_to(folder)), f.stat().st_mtime_ns) for f in sorted(p.glob(f"*/{COCO_FILE}"))]
        except OSError:  # a dangling or looping link named like a fold file: skipped by the reader too
            out.append((p.name, "unreadable"))
    return (resolved, *out)


def tables_csv_zip(tables: dict[str, pd.DataFrame]) -> bytes:
    """Several tables as CSV files in one zip (name -> table; wide tables keep their index)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, table in tables.items():
            keep_index = not isinstance(table.index, pd.RangeIndex)
            zf.writestr(f"{name}.csv", table.to_csv(index=keep_index))
    return buf.getvalue()
