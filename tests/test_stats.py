"""Counts the Overview shows, and every table grouped by filter keeping every image."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from tests import builders as b
from xami_core import load_dataset
from xami_core.analysis import fold_balance, gallery, heatmaps, stats
from xami_core.analysis import folds as F
from xami_core.analysis.published import published_comparison
from xami_core.io import metadata
from xami_core.model import NO_KEY, Problem, filter_label, filter_name
from xami_core.render.figures import filter_figure
from xami_core.render.fold_figures import deviation_heatmap

# What the fixture holds, counted from its definition (not by the code under test).
ROWS = [(split, image_id, letter or NO_KEY, n) for split, rows in b.FILTER_MIX.items() for image_id, letter, n in rows]
IMAGES = Counter(key for _, _, key, _ in ROWS)  # V 2, W 1, X 2, L 1, no key 2
ANNOTATIONS = Counter()
for _, _, key, n in ROWS:
    ANNOTATIONS[key] += n
N_IMAGES = len(ROWS)
ORDER = ["V", "L", "W", "X", NO_KEY]  # known by wavelength, White last of them, then unknown, then no key


@pytest.fixture(scope="module")
def mix(tmp_path_factory):
    """Known letters V, W, L, an unknown X and names without an observation key, in two split files."""
    return load_dataset(b.write_filter_mix(tmp_path_factory.mktemp("filter_mix")))


def test_fixture_is_what_the_builder_says(mix):
    assert len(mix.images) == N_IMAGES == 8 and len(mix.annotations) == sum(ANNOTATIONS.values()) == 7
    assert mix.images["filter_letter"].isna().sum() == IMAGES[NO_KEY] == 2


def test_filter_counts_keeps_every_filter_in_one_order(mix):
    table = stats.filter_counts(mix)
    assert table.index.tolist() == ORDER
    assert table["images"].to_dict() == dict(IMAGES)
    assert table["annotations"].to_dict() == {k: ANNOTATIONS[k] for k in ORDER}
    assert table["images"].sum() == N_IMAGES  # 8 of 8, not 6
    assert table["filter"].tolist() == ["V", "UVW1", "White", "X (unknown filter)", "no observation key"]
    assert table["wavelength (nm)"].tolist() == ["543", "291", "broad band", "unknown", "unknown"]
    empty = Counter(key for _, _, key, n in ROWS if n == 0)
    assert table["empty images"].to_dict() == {k: empty[k] for k in ORDER}


def _fold_counts(ds):
    # Over one fold, train + valid hold every image once.
    counts = fold_balance.fold_filter_counts(ds, F.make_folds(ds, "kfold", k=2, seed=0))
    one = counts[counts["fold"] == 0]
    return one.groupby("filter_letter", sort=False)["images"].sum()


def _fold_table(ds):
    counts = fold_balance.fold_filter_counts(ds, F.make_folds(ds, "kfold", k=2, seed=0))
    table = fold_balance.fold_filter_table(counts)
    names = {filter_name(k): k for k in ORDER}
    return (table["fold 0 train"] + table["fold 0 valid"]).rename(index=names)


def _heatmap_groups(ds):
    hs = heatmaps.dataset_heatmaps(ds, method="box", grid=4, by="filter")
    labels = {filter_label(k): k for k in ORDER}
    return pd.Series(hs.n_images, index=[labels[g] for g in hs.groups])


def _published(ds):
    table = published_comparison(ds)
    names = {f"{filter_name(k)} images": k for k in ORDER}
    rows = table[table["quantity"].isin(names)]
    return pd.Series(rows["found"].to_numpy(), index=rows["quantity"].map(names)).loc[lambda s: s > 0]


def _filter_figure(ds):
    fig = filter_figure(stats.filter_split_counts(ds))
    labels = {filter_label(k, sep="<br>"): k for k in ORDER}
    totals = Counter()
    for trace in fig.data:
        for x, y in zip(trace.x, trace.y):
            totals[labels[x]] += y
    return pd.Series({labels[c]: totals[labels[c]] for c in fig.layout.xaxis.categoryarray})  # in the axis order


def _gallery(ds):
    choices = gallery.filter_choices(ds)
    return pd.Series({k: int(gallery.filter_mask(ds, gallery.GalleryFilter(filters=(k,))).sum()) for k in choices})


def _sky_map(ds):
    img = ds.images
    positions = pd.DataFrame({"obs_key": img["obs_key"].fillna(img["file_name"]), "split": img["split"],
                              "filter_letter": img["filter_letter"], "ra_deg": 10.0 * img["image_id"],
                              "dec_deg": 5.0, "exposure_s": 1000.0, "pa_deg": 0.0,
                              "lon_deg": 10.0 * img["image_id"], "lat_deg": 5.0})
    fig = metadata.sky_map_figure(positions)
    labels = {filter_label(k): k for k in ORDER}
    points = {labels[t.name]: len(t.x) for t in fig.data if t.name in labels}
    return pd.Series(points)


@pytest.mark.parametrize("count", [
    lambda ds: stats.filter_counts(ds)["images"],  # the Overview's filter table
    lambda ds: stats.filter_split_counts(ds).groupby("filter_letter", sort=False)["images"].sum(),  # its chart's data
    _filter_figure,  # the chart itself: one bar per filter, in order
    _fold_counts,  # the folds' filter counts
    _fold_table,  # the folds' filter table (pivoted on names: X and no key must not merge)
    _heatmap_groups,  # heatmaps grouped by filter
    _published,  # the published-numbers check: an unknown filter has a row of its own
    _gallery,  # the gallery's filter choices, each selecting its images
    _sky_map,  # the sky map: one trace per filter
], ids=["filter_counts", "filter_split_counts", "filter_figure", "fold_filter_counts", "fold_filter_table",
        "heatmap_groups", "published", "gallery", "sky_map"])
def test_every_table_grouped_by_filter_keeps_every_image(mix, count):
    got = count(mix)
    assert {k: int(v) for k, v in got.items()} == dict(IMAGES)
    assert int(got.sum()) == N_IMAGES
    assert list(got.index) == ORDER  # one agreed order everywhere


def test_fold_filter_deviation_labels_unknown_filters_as_unknown(mix):
    counts = fold_balance.fold_filter_counts(mix, F.make_folds(mix, "kfold", k=2, seed=0))
    fig = deviation_heatmap(fold_balance.fold_filter_deviation(counts), what="filter")
    assert list(fig.data[0].x) == ["V<br>543 nm", "UVW1<br>291 nm", "White<br>broad band", "X (unknown filter)",
                                   "no observation key"]


def test_split_summary_and_empty_images_use_the_files_ids(mix):
    summary = stats.split_summary(mix)
    assert summary.loc["total", "images"] == N_IMAGES
    empty = stats.empty_images(mix)
    expected = sorted((split, image_id) for split, image_id, _, n in ROWS if n == 0)
    assert sorted(zip(empty["split"], empty["image id"])) == expected  # the file's ids, not the loader's 0..7
    assert "image_id" not in empty.columns
    assert set(empty["filter"]) == {"X (unknown filter)", "V", "no observation key"}


PROBLEMS = [
    Problem("a.json", "annotation id 3", "duplicate annotation id; later record skipped", "error"),
    Problem("a.json", "annotation id 4", "polygon unusable; kept as box-only", "warning"),
    Problem("b.json", "file", "annotation file not found", "error"),
    Problem("a.json", "image id 9", "image file is missing; its annotations are kept", "warning"),
    Problem("a.json", "top level", "unknown key 'x'; ignored", "warning"),
]


@pytest.mark.parametrize("problems, text", [
    (PROBLEMS, "2 records or files were skipped (error); 3 records were kept with a warning."),  # both kinds
    (PROBLEMS[:1], "1 record or file was skipped (error)."),  # errors only: nothing said to be kept
    (PROBLEMS[3:4], "1 record was kept with a warning."),  # warnings only: nothing said to be skipped
    ([], "No problems in the input."),
])
def test_problems_summary_says_what_happened_per_severity(problems, text):
    assert stats.problems_summary(problems) == text


def test_problems_table_names_the_outcome_of_each_record():
    table = stats.problems_table(PROBLEMS)
    assert table.columns.tolist() == ["file", "record", "outcome", "message"]
    assert table["outcome"].tolist() == ["skipped" if p.severity == "error" else "kept" for p in PROBLEMS]
    assert table["record"].tolist() == [p.record for p in PROBLEMS]
    assert np.array_equal(table.index, np.arange(len(PROBLEMS)))
