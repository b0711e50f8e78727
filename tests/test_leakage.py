"""Leakage of fold sets (a hand-made fold set counted by hand), grouped folds that never split a
field group and stay balanced on the sample, and the balance-against-leakage comparison checked
against a computation written here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from sklearn.model_selection import StratifiedGroupKFold

from xami_core.analysis import field_groups as FG
from xami_core.analysis import fold_balance as B
from xami_core.analysis import fold_tradeoff as T
from xami_core.analysis import folds as F
from xami_core.analysis import grouped_folds as GF
from xami_core.analysis import leakage as L
from xami_core.model import XamiDataError

# --- a hand-made fold set -------------------------------------------------------------------------
# Images 100..109 in six field groups; image 109 sits in fold 1 only (as a test image would sit in none).
GROUP_OF = {100: 0, 101: 0, 102: 1, 103: 1, 104: 1, 105: 2, 106: 3, 107: 3, 108: 4, 109: 5}
OBSID_OF = {100: "0000000001", 101: "0000000001", 102: "0000000002", 103: "0000000002", 104: "0000000003",
            105: "0000000004", 106: "0000000005", 107: "0000000005", 108: "0000000006", 109: "0000000007"}
VALID = {0: {100, 102, 105, 106, 107}, 1: {101, 103, 104, 108, 109}}
TRAIN = {0: {101, 103, 104, 108}, 1: {100, 102, 105, 106, 107}}


def hand_folds() -> F.FoldSet:
    rows = [(f, i, p) for f in VALID for p, ids in (("train", TRAIN[f]), ("valid", VALID[f])) for i in sorted(ids)]
    a = pd.DataFrame(rows, columns=["fold", "image_id", "part"]).astype({"fold": "int64", "image_id": "int64"})
    return F.FoldSet(a, "files", 2, None, source="hand-made")


def hand_groups() -> FG.FieldGroups:
    ids = np.array(sorted(GROUP_OF, reverse=True), dtype=np.int64)  # not in image order: joins go by id
    return FG.FieldGroups(group=np.array([GROUP_OF[i] for i in ids], dtype=np.int64), image_ids=ids, by="sky",
                          radius_arcmin=17.0)


def hand_images() -> pd.DataFrame:
    return pd.DataFrame({"image_id": np.array(list(OBSID_OF), dtype=np.int64), "obsid": list(OBSID_OF.values())})


def test_leakage_counts_of_a_hand_made_fold_set():
    table = L.fold_leakage(hand_folds(), hand_groups())
    assert list(table.columns) == list(L.LEAKAGE_COLUMNS)
    # fold 0: groups 0 (100 | 101) and 1 (102 | 103, 104) leak; group 3 is wholly valid, group 4 wholly train.
    # fold 1: groups 0 (101 | 100) and 1 (103, 104 | 102) leak; groups 4 and 5 are wholly valid.
    expected = pd.DataFrame({
        "fold": [0, 1], "train_images": [4, 5], "valid_images": [5, 5], "train_groups": [3, 4], "valid_groups": [4, 4],
        "leaking_groups": [2, 2], "train_images_leaking": [3, 2], "valid_images_leaking": [2, 3],
        "valid_share_leaking": [2 / 5, 3 / 5]}).astype({c: "int64" for c in L.LEAKAGE_COLUMNS[:-1]})
    pd.testing.assert_frame_equal(table, expected)
    summary = L.leakage_summary(table)
    assert summary == L.LeakageSummary(valid_share=0.5, worst_share=0.6, worst_fold=1, leaking_groups=4,
                                       folds_leaking=2, valid_images_leaking=5)


def test_leaking_groups_table_of_a_hand_made_fold_set():
    table = L.leaking_groups(hand_folds(), hand_groups(), hand_images())
    assert table[["fold", "group", "train_images", "valid_images"]].values.tolist() == [
        [0, 0, 1, 1], [0, 1, 2, 1], [1, 1, 1, 2], [1, 0, 1, 1]]  # per fold, most valid frames first
    assert table["train_image_ids"].tolist() == [(101,), (103, 104), (102,), (100,)]
    assert table["valid_image_ids"].tolist() == [(100,), (102,), (103, 104), (101,)]
    assert table["obsids"].tolist() == ["0000000001", "0000000002, 0000000003", "0000000002, 0000000003",
                                        "0000000001"]
    assert table["n_obsids"].tolist() == [1, 2, 2, 1]


def test_nothing_leaks_when_every_group_is_whole():
    # One group per image: no image shares a field with another.
    ids = np.array(sorted(GROUP_OF), dtype=np.int64)
    alone = FG.FieldGroups(group=np.arange(len(ids), dtype=np.int64), image_ids=ids, by="obsid")
    table = L.fold_leakage(hand_folds(), alone)
    assert table["leaking_groups"].sum() == 0 and (table["valid_share_leaking"] == 0).all()
    empty = L.leaking_groups(hand_folds(), alone, hand_images())
    assert empty.empty and list(empty.columns) == ["fold", "group", "obsids", "n_obsids", "train_images",
                                                   "valid_images", "train_image_ids", "valid_image_ids"]


def test_groups_of_another_dataset_are_refused():
    ids = np.array([100, 101], dtype=np.int64)
    partial = FG.FieldGroups(group=np.zeros(2, dtype=np.int64), image_ids=ids, by="obsid")
    with pytest.raises(ValueError, match="do not cover"):
        L.fold_leakage(hand_folds(), partial)


# --- grouped folds on the sample --------------------------------------------------------------------
TOLERANCE_MEAN_PP = 1.5  # authors' mean |train - valid| share, mean over folds (sample: KFold 1.25-2.24)
TOLERANCE_FOLD_PP = 1.6  # the same, worst fold (sample: KFold 1.67-3.37)


def sample_groups(ds, kind: str) -> FG.FieldGroups:
    from xami_core.io.metadata import load_obs_metadata

    if kind == "obsid":  # every filter of one observation
        return FG.field_groups(ds.images, by="obsid")
    if kind == "sky 600 arcmin":  # large groups of neighbouring pointings
        return FG.field_groups(ds.images, by="sky", radius_arcmin=600.0, metadata=load_obs_metadata(synthetic=True))
    ids = ds.images["image_id"].to_numpy(np.int64)  # runs of three consecutive frames
    return FG.FieldGroups(group=ids // 3, image_ids=ids, by="obsid")


@pytest.mark.parametrize("kind", ["obsid", "sky 600 arcmin", "threes"])
@pytest.mark.parametrize("method", F.GROUPED_METHODS)
@pytest.mark.parametrize(("k", "seed"), [(3, 0), (4, 42), (5, 7)])
def test_grouped_folds_never_split_a_group_and_stay_balanced(sample_ds, kind, method, k, seed):
    groups = sample_groups(sample_ds, kind)
    folds = GF.grouped_folds(sample_ds, groups, method, k, seed)
    a = folds.assignments
    assert folds.method == method and folds.k == k and folds.seed == seed and folds.folds == list(range(k))
    valid = a[a["part"] == "valid"]
    assert sorted(valid["image_id"]) == sorted(sample_ds.images["image_id"])  # each image valid exactly once
    assert (a.groupby("fold").size() == len(sample_ds.images)).all()  # and in train in every other fold
    group = groups.by_image_id()
    assert (valid.assign(group=group.reindex(valid["image_id"]).to_numpy()).groupby("group")["fold"].nunique() == 1).all()
    assert L.fold_leakage(folds, groups)["valid_images_leaking"].sum() == 0
    diff = B.fold_balance(sample_ds, folds)["authors_mean_diff"] * 100
    assert diff.mean() <= TOLERANCE_MEAN_PP and diff.max() <= TOLERANCE_FOLD_PP
    unstratified = B.fold_balance(sample_ds, F.make_folds(sample_ds, "kfold", k, seed))["authors_mean_diff"] * 100
    assert diff.mean() < unstratified.mean()  # better balanced than plain K-fold with the same k and seed


@pytest.mark.parametrize("method", F.GROUPED_METHODS)
def test_grouped_folds_are_reproducible(sample_ds, method):
    groups = sample_groups(sample_ds, "sky 600 arcmin")
    one = GF.grouped_folds(sample_ds, groups, method, 4, 1).assignments
    pd.testing.assert_frame_equal(one, GF.grouped_folds(sample_ds, groups, method, 4, 1).assignments)
    assert not one.equals(GF.grouped_folds(sample_ds, groups, method, 4, 2).assignments)


@pytest.mark.filterwarnings("ignore:The least populated class")  # two sample label strings have 2 images
def test_stratified_group_is_scikit_learns(sample_ds):
    groups = sample_groups(sample_ds, "sky 600 arcmin")
    img = sample_ds.images.sort_values("image_id")
    group = groups.by_image_id().reindex(img["image_id"]).to_numpy()
    splitter = StratifiedGroupKFold(n_splits=4, shuffle=True, random_state=42)
    expected = [set(img["image_id"].to_numpy()[v]) for _, v in splitter.split(img[["image_id"]], img["strat_label"], group)]
    folds = GF.grouped_folds(sample_ds, groups, "stratified-group", 4, 42)
    assert [set(folds.part_ids(f, "valid")) for f in folds.folds] == expected


def test_multilabel_group_stratify_on_a_small_case():
    # Six groups of one to three images; every fold gets whole groups and two of the four 'a' images.
    y = np.array([[1, 0], [1, 0], [0, 1], [1, 1], [0, 1], [1, 0], [0, 0], [0, 1]])
    group = np.array([5, 5, 1, 2, 3, 4, 0, 3])
    fold = GF.multilabel_group_stratify(y, group, k=2, seed=0)
    for g in np.unique(group):
        assert len(set(fold[group == g])) == 1
    assert sorted(np.bincount(fold, weights=y[:, 0]).tolist()) == [2.0, 2.0]
    with pytest.raises(ValueError, match="cannot make 7 folds"):
        GF.multilabel_group_stratify(y, group, k=7, seed=0)


def test_too_few_groups_and_bad_requests(sample_ds):
    ids = sample_ds.images["image_id"].to_numpy(np.int64)
    one = FG.FieldGroups(group=np.zeros(len(ids), dtype=np.int64), image_ids=ids, by="sky", radius_arcmin=10800.0)
    for method in F.GROUPED_METHODS:
        with pytest.raises(XamiDataError, match="1 field groups"):
            GF.grouped_folds(sample_ds, one, method, 2, 0)
    with pytest.raises(ValueError, match="unknown grouped fold method"):
        GF.grouped_folds(sample_ds, one, "kfold", 2, 0)
    with pytest.raises(ValueError, match="k must be between"):
        GF.grouped_folds(sample_ds, sample_groups(sample_ds, "obsid"), "multilabel-group", 11, 0)
    with pytest.raises(ValueError, match="field groups cover"):
        GF.grouped_folds(sample_ds, FG.FieldGroups(group=np.zeros(2, dtype=np.int64), image_ids=ids[:2], by="obsid"),
                         "multilabel-group", 2, 0)


# --- balance against leakage ------------------------------------------------------------------------


def independent_row(ds, folds: F.FoldSet, group: pd.Series) -> dict[str, float]:
    """The comparison's numbers for one fold set, computed here from the annotations and sets."""
    classes = list(ds.categories["name"])
    pairs = ds.annotations[["image_id", "class_name"]].drop_duplicates()
    diffs, js, leaking, valid_total = [], [], 0, 0
    for f in folds.folds:
        train, valid = set(folds.part_ids(f, "train")), set(folds.part_ids(f, "valid"))
        n_train = pairs[pairs["image_id"].isin(train)]["class_name"].value_counts().reindex(classes, fill_value=0)
        n_valid = pairs[pairs["image_id"].isin(valid)]["class_name"].value_counts().reindex(classes, fill_value=0)
        share_t, share_v = n_train / n_train.sum(), n_valid / n_valid.sum()
        diffs.append(float(np.abs(share_t - share_v).sum()) / (len(classes) + 1))  # the notebook's keys '0'..'5'
        js.append(float(jensenshannon(n_train.to_numpy(float), n_valid.to_numpy(float), base=2)) ** 2)
        train_groups = {group[i] for i in train}
        leaking += sum(group[i] in train_groups for i in valid)
        valid_total += len(valid)
    return {"authors_mean_diff": np.mean(diffs), "authors_max_diff": np.max(diffs), "js_divergence_bits": np.mean(js),
            "js_max_bits": np.max(js), "valid_share_leaking": leaking / valid_total, "valid_images_leaking": leaking}


def test_method_tradeoff_against_an_independent_computation(sample_ds):
    groups = sample_groups(sample_ds, "sky 600 arcmin")
    methods = ("published", "kfold", "stratified", "stratified-group", "multilabel-group")
    table = T.method_tradeoff(sample_ds, groups, k=4, seed=42, methods=methods)
    assert table["method"].tolist() == list(methods) and list(table.columns) == list(T.TRADEOFF_COLUMNS)
    group = groups.by_image_id()
    for row in table.itertuples():
        folds = (GF.grouped_folds(sample_ds, groups, row.method, 4, 42) if row.method in F.GROUPED_METHODS
                 else F.make_folds(sample_ds, row.method, 4, 42))
        expected = independent_row(sample_ds, folds, group)
        for column, value in expected.items():
            assert getattr(row, column) == pytest.approx(value, abs=1e-12), (row.method, column)
    by_method = table.set_index("method")
    assert (by_method.loc[list(F.GROUPED_METHODS), "valid_share_leaking"] == 0).all()
    assert (by_method.loc[["published", "kfold", "stratified"], "valid_share_leaking"] > 0.5).all()  # 600' fields
    assert pd.isna(by_method.loc["published", "seed"]) and by_method.loc["stratified", "seed"] == 42


def test_make_folds_offers_the_grouped_methods(sample_ds):
    groups = sample_groups(sample_ds, "sky 600 arcmin")
    for method in F.GROUPED_METHODS:
        assert method in F.METHODS and method in F.METHOD_LABELS
        made = F.make_folds(sample_ds, method, 4, 42, groups=groups)
        pd.testing.assert_frame_equal(made.assignments, GF.grouped_folds(sample_ds, groups, method, 4, 42).assignments)
        assert made.label == f"{F.METHOD_LABELS[method]}, k = 4, seed = 42"
        # Without groups: by ObsID (one frame each in the sample).
        by_obsid = F.make_folds(sample_ds, method, 4, 42)
        expected = GF.grouped_folds(sample_ds, FG.field_groups(sample_ds.images), method, 4, 42)
        pd.testing.assert_frame_equal(by_obsid.assignments, expected.assignments)


# --- the folds command ------------------------------------------------------------------------------


def test_cli_grouped_folds_with_sky_groups(tmp_path, capsys, sample_ds):
    import csv

    from xami_core import sample_root
    from xami_core.cli import main as cli_main
    from xami_core.io.sample import sample_dir

    obs_info = sample_dir() / "obs_info_synthetic.json"
    out = tmp_path / "out"
    code = cli_main(["folds", "--data", str(sample_root()), "--method", "multilabel-group", "--group", "sky",
                     "--radius-arcmin", "600", "--obs-info", str(obs_info), "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "multilabel stratified group K-fold (fields kept whole), k = 4, seed = 42" in printed
    n_groups = sample_groups(sample_ds, "sky 600 arcmin").n_groups
    assert 1 < n_groups < len(sample_ds.images)
    assert f"field groups: sky neighbours within 600 arcmin: {n_groups} groups" in printed
    assert "overall: 0 of 160 valid frames (0.00 %) share a field with train" in printed
    # The files are the grouped folds: each field group's frames in one fold's valid part.
    ds = sample_ds
    groups = sample_groups(ds, "sky 600 arcmin").by_image_id()
    name_to_id = dict(zip(ds.images["path"].map(str), ds.images["image_id"]))
    fold_of: dict[int, int] = {}
    for fold in range(4):
        with (out / f"mskf_{fold}.csv").open() as f:
            for row in csv.DictReader(f):
                if row["SPLIT"] == "valid":
                    fold_of[name_to_id[row["IMAGE_PATH"]]] = fold
    assert len(fold_of) == len(ds.images)
    by_group = pd.DataFrame({"group": groups.reindex(list(fold_of)).to_numpy(), "fold": list(fold_of.values())})
    assert (by_group.groupby("group")["fold"].nunique() == 1).all()


def test_cli_reports_the_leakage_of_the_authors_folds(tmp_path, capsys, sample_ds):
    from xami_core import sample_root
    from xami_core.cli import main as cli_main
    from xami_core.io.sample import sample_dir

    obs_info = sample_dir() / "obs_info_synthetic.json"
    code = cli_main(["folds", "--data", str(sample_root()), "--group", "sky", "--radius-arcmin", "600",
                     "--obs-info", str(obs_info), "--out", str(tmp_path)])
    assert code == 0
    ds = sample_ds
    table = L.fold_leakage(F.make_folds(ds, "stratified", 4, 42), sample_groups(ds, "sky 600 arcmin"))
    leaking, valid = int(table["valid_images_leaking"].sum()), int(table["valid_images"].sum())
    assert leaking > 0
    assert f"overall: {leaking} of {valid} valid frames ({leaking / valid * 100:.2f} %)" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["--radius-arcmin", "5"], "--radius-arcmin needs --group sky"),  # a radius without sky groups
    (["--group", "sky", "--radius-arcmin", "0"], "must be in (0, 10800]"),
    (["--group", "sky", "--obs-info", "/nonexistent/obs_info.json"], "cannot be read"),
])
def test_cli_group_errors(tmp_path, capsys, args, message):
    from xami_core import sample_root
    from xami_core.cli import main as cli_main

    assert cli_main(["folds", "--data", str(sample_root()), "--out", str(tmp_path)] + args) == 2
    assert message in capsys.readouterr().err
