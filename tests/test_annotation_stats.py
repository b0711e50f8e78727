"""Annotation statistics against values worked out by hand on a tiny dataset."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tests.builders import categories, coco, file_name, image, polygon_ann, square, write_split
from xami_core.analysis import annotation_stats as S
from xami_core.io.loader import load_dataset

CLASSES = ["central-ring", "other", "read-out-streak", "smoke-ring", "star-loop"]
ALL = S.ALL_CLASSES


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    """train: frame 1 (a central ring at the centre, a 4 x 200 streak), frame 2 (a 3 x 390 streak, two
    30 x 30 smoke rings), frame 3 (no annotation); valid: frame 1 (a star-loop triangle, a 50 x 50 other)."""
    root = tmp_path_factory.mktemp("stats")
    train = coco([image(1, file_name(1)), image(2, file_name(2)), image(3, file_name(3))], [
        polygon_ann(1, 1, 1, square(246, 246, 20)),
        polygon_ann(2, 1, 3, [100, 0, 104, 0, 104, 200, 100, 200]),
        polygon_ann(3, 2, 3, [300, 10, 303, 10, 303, 400, 300, 400]),
        polygon_ann(4, 2, 4, square(50, 50, 30)),
        polygon_ann(5, 2, 4, square(90, 50, 30)),
    ], categories(CLASSES, "artefacts"))
    valid = coco([image(1, file_name(4))], [polygon_ann(1, 1, 5, [200, 200, 260, 210, 240, 260]),
                                            polygon_ann(2, 1, 2, square(400, 400, 50))], categories(CLASSES, "artefacts"))
    write_split(root / "train", train)
    write_split(root / "valid", valid)
    return load_dataset(root)


def test_instance_measures(ds):
    m = S.instance_measures(ds).set_index("ann_id")
    assert list(m["part"]) == ["train"] * 5 + ["valid"] * 2
    # Areas: pixel counts of the masks (integer-aligned rectangles: width x height; the triangle's 1600).
    assert m["area"].tolist() == [400, 800, 1170, 900, 900, 1600, 2500]
    assert m["aspect_ratio"].tolist() == pytest.approx([1, 4 / 200, 3 / 390, 1, 1, 1, 1])
    assert m["n_vertices"].tolist() == [4, 4, 4, 4, 4, 3, 4]
    expected = [0.0, math.hypot(256 - 102, 256 - 100), math.hypot(256 - 301.5, 256 - 205),
                math.hypot(256 - 65, 256 - 65), math.hypot(256 - 105, 256 - 65),
                math.hypot(256 - 700 / 3, 256 - 670 / 3), math.hypot(256 - 425, 256 - 425)]
    assert m["centre_distance"].tolist() == pytest.approx(expected)


def test_measure_summary(ds):
    table = S.measure_summary(S.instance_measures(ds))
    row = table[(table["part"] == "train") & (table["class_name"] == "read-out-streak") & (table["measure"] == "area")]
    assert row[["n", "mean", "min", "median", "max"]].iloc[0].tolist() == [2, 985.0, 800.0, 985.0, 1170.0]
    assert row["q05"].iloc[0] == pytest.approx(800 + 0.05 * 370) and row["unit"].iloc[0] == "px²"
    every = table[(table["part"] == "train") & (table["class_name"] == ALL) & (table["measure"] == "area")]
    assert every[["n", "median"]].iloc[0].tolist() == [5, 900.0]
    # Parts in split order, classes by name with "all classes" last, measures in MEASURES order.
    assert list(dict.fromkeys(table["part"])) == ["train", "valid"]
    assert list(dict.fromkeys(table.loc[table["part"] == "train", "class_name"])) == [
        "central-ring", "read-out-streak", "smoke-ring", ALL]
    assert list(table["measure"][:4]) == list(S.MEASURES)


def test_binned_counts(ds):
    m = S.instance_measures(ds)
    lin = S.binned_counts(m, "n_vertices", bins=2)
    assert lin[["lo", "hi"]].drop_duplicates().to_numpy().tolist() == [[3.0, 3.5], [3.5, 4.0]]
    counts = lin.set_index(["part", "class_name", "bin"])["count"]
    assert counts["valid", "star-loop", 0] == 1 and counts["valid", "star-loop", 1] == 0
    assert counts["train", "smoke-ring", 1] == 2 and counts.sum() == 7
    log = S.binned_counts(m, "area", bins=4)  # log bins by default for areas
    edges = np.r_[log["lo"].unique(), log["hi"].max()]
    assert edges == pytest.approx(np.logspace(np.log10(400), np.log10(2500), 5))
    assert log["count"].sum() == 7
    with pytest.raises(ValueError, match="measure"):
        S.binned_counts(m, "perimeter")


def test_instances_per_image(ds):
    table = S.instances_per_image(ds).set_index(["part", "class_name", "instances"]).sort_index()
    # train: three frames; the empty one counts under k = 0.
    assert table.loc[("train", "central-ring"), "images"].to_dict() == {0: 2, 1: 1}
    assert table.loc[("train", "smoke-ring"), "images"].to_dict() == {0: 2, 2: 1}
    assert table.loc[("train", "read-out-streak"), "images"].to_dict() == {0: 1, 1: 2}
    assert table.loc[("train", ALL), "images"].to_dict() == {0: 1, 2: 1, 3: 1}
    assert table.loc[("train", "star-loop"), "images"].to_dict() == {0: 3}
    assert table.loc[("train", ALL, 3), "share"] == pytest.approx(1 / 3)
    assert table.loc[("valid", ALL), "images"].to_dict() == {2: 1}


def test_parts_that_leave_frames_out_or_name_unknown_ones(ds):
    # Part "a": train frames 1 and 2; part "b": an id the dataset does not hold (a frame without
    # annotations for the counts, nothing for the measures); train frame 3 and the valid frame: no part.
    ids = ds.images["image_id"].tolist()
    parts = pd.Series(["a", "a", "b"], index=[ids[0], ids[1], 999], name="part", dtype="str")
    per = S.instances_per_image(ds, parts).set_index(["part", "class_name", "instances"]).sort_index()
    assert per.loc[("a", ALL), "images"].to_dict() == {2: 1, 3: 1}
    assert per.loc[("a", "smoke-ring"), "images"].to_dict() == {0: 1, 2: 1}
    assert per.loc[("a", "smoke-ring", 2), "share"] == 0.5
    for name in [*CLASSES, ALL]:
        assert per.loc[("b", name), ["images", "share"]].to_dict("list") == {"images": [1], "share": [1.0]}
    summary = S.measure_summary(S.instance_measures(ds, parts))
    assert set(summary["part"]) == {"a"}
    area = summary[(summary["measure"] == "area")].set_index("class_name")
    assert area.loc[ALL, ["n", "mean", "min", "max"]].tolist() == [5, 834.0, 400.0, 1170.0]
    assert area.loc["smoke-ring", ["n", "mean", "median"]].tolist() == [2, 900.0, 900.0]
    assert list(area.index) == ["central-ring", "read-out-streak", "smoke-ring", ALL]


def test_class_cooccurrence(ds):
    table = S.class_cooccurrence(ds).set_index(["part", "class_a", "class_b"]).sort_index()
    assert len(table) == 2 * 25
    train = table.loc["train"]
    assert train.loc[("central-ring", "read-out-streak"), ["frames", "frames_a", "share"]].tolist() == [1, 1, 1.0]
    assert train.loc[("read-out-streak", "central-ring"), ["frames", "frames_a", "share"]].tolist() == [1, 2, 0.5]
    assert train.loc[("read-out-streak", "smoke-ring"), "share"] == 0.5
    assert train.loc[("smoke-ring", "read-out-streak"), "share"] == 1.0
    assert train.loc[("central-ring", "smoke-ring"), "frames"] == 0
    assert train.loc[("read-out-streak", "read-out-streak"), "frames"] == 2
    assert np.isnan(train.loc[("other", "central-ring"), "share"])  # "other" is in no train frame
    assert table.loc[("valid", "star-loop", "other"), "share"] == 1.0


def test_fold_parts(ds):
    ids = ds.images["image_id"].tolist()
    assignments = pd.DataFrame({"fold": [0] * 4 + [1] * 4, "image_id": ids * 2,
                                "part": ["valid", "train", "train", "train", "train", "valid", "valid", "valid"]})
    parts = S.fold_parts(assignments, 0)
    assert parts.to_dict() == dict(zip(ids, ["valid", "train", "train", "train"]))
    per = S.instances_per_image(ds, parts).set_index(["part", "class_name", "instances"]).sort_index()
    assert per.loc[("valid", ALL), "images"].to_dict() == {2: 1}  # train frame 1 alone in the valid part
    assert per.loc[("train", ALL), "images"].to_dict() == {0: 1, 2: 1, 3: 1}
    measures = S.instance_measures(ds, parts)
    assert measures.groupby("part").size().to_dict() == {"train": 5, "valid": 2}
    with pytest.raises(ValueError, match="fold 3"):
        S.fold_parts(assignments, 3)
    with pytest.raises(ValueError, match="missing"):
        S.fold_parts(assignments.drop(columns="part"), 0)
