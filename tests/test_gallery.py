"""Gallery core: filters, sorting, counts, paging, links and cached thumbnails."""

from __future__ import annotations

from collections import Counter

import cv2
import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold

from tests import builders as b
from xami_core import load_dataset
from xami_core.analysis import gallery
from xami_core.analysis.gallery import GalleryFilter, ThumbOptions

CR, OT, RS, SR, SL = "central-ring", "other", "read-out-streak", "smoke-ring", "star-loop"
CATEGORY = {CR: 1, OT: 2, RS: 3, SR: 4, SL: 5}
SIZE = 100
# The hand-made fixture: (split, observation number, filter letter, [(class, square side)]).
# A side of None is a box-only annotation (a 10 x 10 box). Square masks of side s cover
# s * s pixels, so the mask areas below are 100, 400, 25, 900, 16, 36, 49, 64, 81, 144, 100, 9, 121.
FRAMES = [
    ("train", 1, "L", [(SR, 10), (RS, 20)]),  # UVW1: smoke ring and read-out streak
    ("train", 2, "L", [(SR, 5)]),  # UVW1: a smoke ring only
    ("train", 3, "V", [(RS, 30), (SL, 4), (SL, 6)]),
    ("train", 4, "U", []),  # hard negative
    ("valid", 5, "L", [(SR, 7), (SL, 8), (RS, 9)]),
    ("valid", 6, "M", [(CR, 12)]),
    ("valid", 7, "L", []),  # hard negative
    ("valid", 8, "W", [(OT, None)]),  # box-only annotation
    ("valid", 9, "L", [(SR, 3), (SL, 11)]),  # UVW1: smoke ring and star loop, no streak
]
ALL = {n for _, n, _, _ in FRAMES}


def obs(n: int, letter: str) -> str:
    return f"S{100000000 + n:010d}_{letter}"


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    """The fixture dataset, loaded by the product's loader from COCO files written in code."""
    root = tmp_path_factory.mktemp("gallery_fixture")
    for split in ("train", "valid"):
        images, anns = [], []
        for local, (_, n, letter, shapes) in enumerate(f for f in FRAMES if f[0] == split):
            images.append(b.image(local, b.file_name(100000000 + n, letter, tag=str(n)), width=SIZE, height=SIZE))
            for cls, side in shapes:
                ann_id = len(anns)
                if side is None:
                    anns.append(b.polygon_ann(ann_id, local, CATEGORY[cls], bbox=[40.0, 40.0, 10.0, 10.0]))
                else:
                    anns.append(b.polygon_ann(ann_id, local, CATEGORY[cls], b.square(5 + 2 * ann_id, 5 + 3 * ann_id, side)))
        b.write_split(root / split, b.coco(images, anns))
    return load_dataset(root)


def numbers(ds, rows) -> set[int]:
    """Observation numbers of image rows (a boolean mask or a DataFrame)."""
    images = ds.images[rows] if isinstance(rows, np.ndarray) else rows
    return {int(o[1:11]) - 100000000 for o in images["obs_key"]}


def test_fixture_is_what_the_table_says(fx):
    assert len(fx.images) == 9 and len(fx.annotations) == 13
    assert sorted(fx.annotations["mask_area"]) == sorted([100, 400, 25, 900, 16, 36, 49, 64, 81, 144, 100, 9, 121])
    by_obs = fx.annotations.merge(fx.images[["image_id", "obs_key"]]).groupby("obs_key")["mask_area"].max()
    assert by_obs[obs(3, "V")] == 900 and by_obs[obs(8, "W")] == 100 and by_obs[obs(9, "L")] == 121


@pytest.mark.parametrize("classes, mode, expected", [
    ((SR,), "any", {1, 2, 5, 9}),  # any: at least one smoke ring
    ((SR, CR), "any", {1, 2, 5, 6, 9}),  # any of two classes
    ((SR, RS), "all", {1, 5}),  # all: both present (others may be too)
    ((SR, SL), "all", {5, 9}),
    ((SR,), "none", {3, 4, 6, 7, 8}),  # none: hard negatives included
    ((SR, RS), "none", {4, 6, 7, 8}),
    ((SR,), "exactly", {2}),  # exactly: the class set equals the selection
    ((SR, RS), "exactly", {1}),
    ((SR, SL), "exactly", {9}),
    ((RS, SR, SL), "exactly", {5}),
    ((OT,), "exactly", {8}),  # a box-only annotation still gives its image the class
    ((), "exactly", ALL),  # no classes selected: no class constraint, whatever the mode
])
def test_class_modes(fx, classes, mode, expected):
    assert numbers(fx, gallery.filter_mask(fx, GalleryFilter(classes=classes, class_mode=mode))) == expected


@pytest.mark.parametrize("flt, expected", [
    (GalleryFilter(classes=(SR,), without=(RS,)), {2, 9}),  # a smoke ring but no read-out streak
    (GalleryFilter(classes=(SR,), without=(RS,), filters=("L",)), {2, 9}),  # ... on UVW1 frames (the example)
    (GalleryFilter(classes=(SR,), without=(RS, SL)), {2}),
    (GalleryFilter(without=(RS,)), {2, 4, 6, 7, 8, 9}),  # without alone keeps the hard negatives
    (GalleryFilter(empty="include"), ALL),  # hard negatives: shown
    (GalleryFilter(empty="exclude"), ALL - {4, 7}),  # hidden
    (GalleryFilter(empty="only"), {4, 7}),  # only them
    (GalleryFilter(classes=(SR,), class_mode="none", empty="exclude"), {3, 6, 8}),
    (GalleryFilter(classes=(SR,), empty="only"), set()),  # criteria are ANDed
    (GalleryFilter(filters=("L",)), {1, 2, 5, 7, 9}),  # observation filter UVW1
    (GalleryFilter(filters=("V", "W")), {3, 8}),
    (GalleryFilter(filters=("S",)), set()),  # a filter with no frame
    (GalleryFilter(splits=("train",)), {1, 2, 3, 4}),
    (GalleryFilter(splits=("valid",), filters=("L",)), {5, 7, 9}),
    (GalleryFilter(n_annotations=(0, 0)), {4, 7}),  # inclusive range
    (GalleryFilter(n_annotations=(2, 3)), {1, 3, 5, 9}),
    (GalleryFilter(n_annotations=(3, 3)), {3, 5}),
    (GalleryFilter(n_annotations=(1, 1)), {2, 6, 8}),
    (GalleryFilter(area=(100, 100)), {1, 8}),  # both bounds inclusive; a box-only annotation counts by its box
    (GalleryFilter(area=(101, 399)), {6, 9}),  # 144 and 121 only
    (GalleryFilter(area=(0, 20)), {3, 9}),  # 16 and 9
    (GalleryFilter(area=(20, 60)), {2, 3, 5}),  # 25, 36, 49: any class
    (GalleryFilter(classes=(SR,), area=(20, 60)), {2, 5}),  # the instance must be of a selected class
    (GalleryFilter(classes=(SR,), class_mode="none", area=(20, 60)), {3}),  # mode none: any class's instance
    (GalleryFilter(classes=(SR, SL), class_mode="exactly", area=(100, 200)), {9}),  # its star loop of 121
    (GalleryFilter(area=(901, 5000)), set()),
    (GalleryFilter(search="0100000005"), {5}),  # observation id
    (GalleryFilter(search="_l"), {1, 2, 5, 7, 9}),  # case-insensitive, filter part of the id
    (GalleryFilter(search="  0100000002 "), {2}),  # surrounding spaces ignored
    (GalleryFilter(search="rf.333"), {3}),  # file name (Roboflow hash)
    (GalleryFilter(search="nothing"), set()),
    (GalleryFilter(search="0100000005 0100000002"), {2, 5}),  # several terms: any of them
    (GalleryFilter(search="0100000005,rf.333, nothing"), {3, 5}),  # commas too
    (GalleryFilter(search="."), ALL),  # a literal dot, not a regular expression
    # Records as the input-problems table names them, by the ids of their file (each file numbers from 0).
    (GalleryFilter(search="image id 2"), {3, 7}),  # image 2 of the train file and of the valid file
    (GalleryFilter(search="Image 2"), {3, 7}),  # "id" optional, any case
    (GalleryFilter(search="image id 2", splits=("valid",)), {7}),  # the split tells the files apart
    (GalleryFilter(search="annotation id 4, polygon 0"), {3, 8}),  # the images holding annotation 4 of each file
    (GalleryFilter(search="image id 99"), set()),  # no such id
    (GalleryFilter(search="4"), {4, 9}),  # a bare number: image id 4 (valid obs 9) or in a name (obs 4)
])
def test_filters(fx, flt, expected):
    assert numbers(fx, gallery.filter_mask(fx, flt)) == expected


def test_image_ids_restrict(fx):
    ids = fx.images.loc[fx.images["obs_key"].isin([obs(1, "L"), obs(6, "M")]), "image_id"]
    assert numbers(fx, gallery.filter_mask(fx, GalleryFilter(image_ids=frozenset(ids)))) == {1, 6}


def test_unknown_class_and_bad_modes_are_refused(fx):
    with pytest.raises(ValueError, match="unknown class"):
        gallery.filter_mask(fx, GalleryFilter(classes=("comet",)))
    with pytest.raises(ValueError, match="class_mode"):
        GalleryFilter(class_mode="some")
    with pytest.raises(ValueError, match="empty"):
        GalleryFilter(empty="maybe")
    with pytest.raises(ValueError, match="fold part"):
        GalleryFilter(fold=(0, "test"))


def test_class_bits_follow_class_names_not_file_ids(tmp_path):
    # A file numbering its categories differently from XAMI still filters by name.
    cats = [{"id": 7, "name": SR, "supercategory": "artefacts"}, {"id": 3, "name": RS, "supercategory": "artefacts"}]
    data = b.coco([b.image(0, width=SIZE, height=SIZE), b.image(1, width=SIZE, height=SIZE)],
                  [b.polygon_ann(0, 0, 7, b.square(5, 5, 10)), b.polygon_ann(1, 1, 3, b.square(5, 5, 10)),
                   b.polygon_ann(2, 1, 7, b.square(30, 30, 10))], categories=cats)
    b.write_split(tmp_path / "train", data)
    ds = load_dataset(tmp_path)
    got = ds.images[gallery.filter_mask(ds, GalleryFilter(classes=(SR,), class_mode="exactly"))]
    assert got["file_name"].tolist() == [ds.images["file_name"][0]]


def brute_force(ds, flt: GalleryFilter) -> set[int]:
    """The filter, one image at a time with Python sets (independent of the vectorised code)."""
    anns = {i: [] for i in ds.images["image_id"]}
    for a in ds.annotations.itertuples():
        anns[a.image_id].append(a)
    out = set()
    for img in ds.images.itertuples():
        present = {a.class_name for a in anns[img.image_id]}
        want = set(flt.classes)
        ok = True
        if want:
            ok &= {"any": bool(present & want), "all": want <= present, "none": not (present & want),
                   "exactly": present == want}[flt.class_mode]
        ok &= not (present & set(flt.without))
        ok &= {"include": True, "exclude": bool(anns[img.image_id]), "only": not anns[img.image_id]}[flt.empty]
        ok &= not flt.filters or img.filter_letter in flt.filters
        ok &= not flt.splits or img.split in flt.splits
        if flt.n_annotations:
            ok &= flt.n_annotations[0] <= len(anns[img.image_id]) <= flt.n_annotations[1]
        if flt.area:
            classes_ok = want if (want and flt.class_mode != "none") else present
            ok &= any(flt.area[0] <= a.mask_area <= flt.area[1] and a.class_name in classes_ok for a in anns[img.image_id])
        terms = flt.search.replace(",", " ").lower().split()
        ok &= not terms or any(t in img.obs_key.lower() or t in img.file_name.lower() for t in terms)
        if ok:
            out.add(int(img.image_id))
    return out


@pytest.mark.parametrize("flt", [
    # The sample has no smoke ring without a streak (rings sit by bright stars): the same shape of query.
    GalleryFilter(classes=(SL,), without=(SR,), filters=("L",)),
    GalleryFilter(classes=(SR, SL), class_mode="all", empty="exclude"),
    GalleryFilter(classes=(RS, CR), class_mode="exactly"),
    GalleryFilter(classes=(OT,), class_mode="none", n_annotations=(3, 6)),
    GalleryFilter(area=(200, 800), classes=(SL, SR), class_mode="any", splits=("valid",)),
    GalleryFilter(area=(1000, 1e9)),
    GalleryFilter(empty="only", filters=("U", "M")),
    GalleryFilter(search="_u"),
    GalleryFilter(search="_u, _w"),
])
def test_filters_match_brute_force_on_the_sample(sample_ds, flt):
    got = set(sample_ds.images.loc[gallery.filter_mask(sample_ds, flt), "image_id"].astype(int))
    assert got == brute_force(sample_ds, flt)
    assert got  # every case selects something, so the comparison is not vacuous


@pytest.mark.filterwarnings("ignore:The least populated class:UserWarning")  # rare label strings, as in XAMI
@pytest.mark.parametrize("fold, part", [(0, "valid"), (3, "train"), (2, "valid")])
def test_fold_part_is_the_authors_stratified_fold(sample_ds, fold, part):
    # Independently: sklearn's StratifiedKFold(4, shuffle, 42) on the label strings, images in id order.
    img = sample_ds.images.sort_values("image_id")
    labels = np.asarray(img["strat_label"].to_numpy(), dtype=str)
    splits = list(StratifiedKFold(n_splits=4, shuffle=True, random_state=42).split(np.zeros((len(img), 1)), labels))
    train, valid = splits[fold]
    expected = set(img["image_id"].to_numpy()[valid if part == "valid" else train].tolist())
    got = sample_ds.images.loc[gallery.filter_mask(sample_ds, GalleryFilter(fold=(fold, part))), "image_id"]
    assert set(got.astype(int)) == expected


@pytest.mark.parametrize("sort, expected", [
    ("observation", [1, 2, 3, 4, 5, 6, 7, 8, 9]),  # by observation id
    ("annotations", [3, 5, 1, 9, 2, 6, 8, 4, 7]),  # most annotations first, ties by image id
    ("largest", [3, 1, 6, 9, 8, 5, 2, 4, 7]),  # largest instance: 900, 400, 144, 121, 100, 81, 25, 0, 0
])
def test_sorting(fx, sort, expected):
    order = gallery.sort_images(fx, fx.images, sort)
    assert [int(o[1:11]) - 100000000 for o in order["obs_key"]] == expected


def test_sorting_matches_python_sorted_on_the_sample(sample_ds):
    images = sample_ds.images
    largest = sample_ds.annotations.groupby("image_id")["mask_area"].max()
    rank = {"train": 0, "valid": 1}
    cases = {
        "observation": sorted(images.itertuples(), key=lambda r: (r.obs_key, rank[r.split], r.image_id)),
        "annotations": sorted(images.itertuples(), key=lambda r: (-r.n_annotations, r.image_id)),
        "largest": sorted(images.itertuples(), key=lambda r: (-largest.get(r.image_id, 0.0), r.image_id)),
    }
    for sort, rows in cases.items():
        assert gallery.sort_images(sample_ds, images, sort)["image_id"].tolist() == [r.image_id for r in rows], sort


def test_shuffle_is_a_reproducible_permutation(sample_ds):
    subset = sample_ds.images.iloc[::2]
    a = gallery.sort_images(sample_ds, subset, "shuffle", seed=7)["image_id"].tolist()
    again = gallery.sort_images(sample_ds, subset, "shuffle", seed=7)["image_id"].tolist()
    other = gallery.sort_images(sample_ds, subset, "shuffle", seed=8)["image_id"].tolist()
    assert a == again  # same seed, same order
    assert sorted(a) == sorted(subset["image_id"].tolist())  # a permutation of the input
    assert a != other and a != sorted(a)  # another seed, another order; not the input order
    with pytest.raises(ValueError, match="sort"):
        gallery.sort_images(sample_ds, subset, "random")


def test_select_images_filters_then_sorts(fx):
    got = gallery.select_images(fx, GalleryFilter(filters=("L",)), "annotations")
    assert [int(o[1:11]) - 100000000 for o in got["obs_key"]] == [5, 1, 9, 2, 7]


def test_class_counts_and_captions(sample_ds, fx):
    counts = gallery.class_counts(sample_ds)
    brute = Counter(zip(sample_ds.annotations["image_id"], sample_ds.annotations["class_name"]))
    for (image_id, cls), n in brute.items():
        assert counts.loc[image_id, cls] == n
    assert counts.to_numpy().sum() == len(sample_ds.annotations)
    captions = gallery.thumbnail_captions(fx, fx.images)
    # The id after the split is the image's id in its split's file (the fixture numbers each file from 0).
    assert captions[0] == f"**{obs(1, 'L')}** · UVW1 · train · id 0  \nRS 1 · SR 1"
    assert captions[2].endswith("RS 1 · SL 2") and captions[3].endswith("no artefact")
    assert captions[7].startswith(f"**{obs(8, 'W')}** · White · valid · id 3") and captions[7].endswith("OT 1")


@pytest.mark.parametrize("n, page, size, expected", [
    (100, 1, 48, (0, 48, 3)),  # first page
    (100, 3, 48, (96, 100, 3)),  # last page is partial
    (100, 9, 48, (96, 100, 3)),  # beyond the end: clamped to the last page
    (100, 0, 48, (0, 48, 3)),  # below 1: the first page
    (0, 1, 24, (0, 0, 1)),  # nothing matches: one empty page
    (96, 2, 48, (48, 96, 2)),  # exact multiple
])
def test_page_slice(n, page, size, expected):
    assert gallery.page_slice(n, page, size) == expected


@pytest.mark.parametrize("n, total, page, size, expected", [
    (100, 160, 1, 48, "**100** of 160 images match · showing 1–48 · page 1 of 3"),
    (100, 160, 3, 48, "**100** of 160 images match · showing 97–100 · page 3 of 3"),  # the partial last page
    (100, 160, 9, 48, "**100** of 160 images match · showing 97–100 · page 3 of 3"),  # beyond the end: the last
    (1, 1055, 1, 24, "**1** of 1,055 images match · showing 1–1 · page 1 of 1"),  # one frame
    (0, 160, 1, 48, "**0** of 160 images match"),  # none: no range, no page
])
def test_match_status(n, total, page, size, expected):
    assert gallery.match_status(n, total, page, size) == expected


def test_no_match_text_names_the_filters():
    text = gallery.no_match_text("split valid; search “xyz”")
    assert text.startswith("No image matches all of the current filters: split valid; search “xyz”.")
    assert "class mode" not in text and "0–0" not in text


@pytest.mark.parametrize("image_id, expected", [
    (10, (None, 20)),  # first: no previous
    (20, (10, 30)),
    (40, (30, None)),  # last: no next
    (99, (None, None)),  # not in the filtered order
])
def test_neighbours_within_the_filter(image_id, expected):
    assert gallery.neighbours([10, 20, 30, 40], image_id) == expected


@pytest.mark.parametrize("image_id, size, expected", [(5, 2, 1), (6, 2, 2), (9, 2, 3), (9, 48, 1), (42, 2, None)])
def test_page_of(image_id, size, expected):
    assert gallery.page_of([4, 5, 6, 7, 8, 9], image_id, size) == expected


# ---------------------------------------------------------------------------------------
# Detail helpers


def test_annotation_table_and_hidden_ids(fx):
    image_id = int(fx.images.loc[fx.images["obs_key"] == obs(5, "L"), "image_id"].iloc[0])
    table = gallery.annotation_table(fx, image_id)
    assert table["class"].tolist() == [RS, SR, SL]  # class order, then id
    assert table["mask area (px²)"].tolist() == [81.0, 49.0, 64.0]
    # "id" is the annotation's id in the valid file (numbered from 0 there), not the loader's ann_id.
    anns = fx.annotations_of(image_id)
    assert table["id"].tolist() == [2, 0, 1] and sorted(table["id"]) == sorted(anns["coco_id"])
    edits = {"0": {"show": False}, 2: {"show": False}, 1: {"show": True}}
    # Toggles give the internal ids the overlay hides by, the table's index.
    internal = dict(zip(anns["coco_id"], anns["ann_id"]))
    assert gallery.hidden_annotation_ids(table, edits) == [internal[2], internal[1]]
    assert gallery.hidden_annotation_ids(table, {}) == []


def test_detail_title(fx):
    assert gallery.detail_title(fx.images.iloc[0]) == f"{obs(1, 'L')} · UVW1 (291 nm) · train"
    assert gallery.detail_title(fx.images.iloc[7]) == f"{obs(8, 'W')} · White (broad band) · valid"


# ---------------------------------------------------------------------------------------
# Thumbnails


def decode(jpeg: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


@pytest.mark.parametrize("size", [128, 192, 256])
def test_thumbnails_have_the_requested_size_and_order(sample_ds, size):
    ids = sample_ds.images["image_id"].iloc[[5, 0, 3]].tolist()
    pics = gallery.thumbnails(sample_ds, ids, ThumbOptions(size=size), disk_cache=False)
    assert [decode(p).shape for p in pics] == [(size, size, 3)] * 3
    # The order follows the ids: each equals the thumbnail made on its own.
    alone = gallery.thumbnails(sample_ds, [ids[1]], ThumbOptions(size=size), disk_cache=False)
    assert pics[1] == alone[0]


def test_thumbnail_overlay_shows_class_colour(sample_ds):
    # A frame with a central ring (cyan): its own mask pixels (where no other annotation overlaps) turn cyan
    # with the overlay, not without.
    def pixels(segmentations) -> np.ndarray:  # drawn independently at 512 -> 256
        out = np.zeros((256, 256), np.uint8)
        for seg in segmentations:
            cv2.fillPoly(out, [np.round(np.reshape(p, (-1, 2)) / 2).astype(np.int32) for p in seg], 1)
        return out

    def own_pixels(row) -> np.ndarray:
        others = sample_ds.annotations_of(row["image_id"]).query("ann_id != @row.ann_id and kind == 'polygon'")
        alone = pixels([row["segmentation"]]) & ~cv2.dilate(pixels(others["segmentation"]), np.ones((5, 5), np.uint8))
        return cv2.erode(alone, np.ones((3, 3), np.uint8)).astype(bool)  # off every contour line

    rings = sample_ds.annotations[sample_ds.annotations["class_name"] == CR]
    row, inside = next((r, m) for _, r in rings.iterrows() if (m := own_pixels(r)).sum() > 20)
    on = decode(gallery.thumbnails(sample_ds, [row["image_id"]], ThumbOptions(size=256), disk_cache=False)[0])
    off = decode(gallery.thumbnails(sample_ds, [row["image_id"]], ThumbOptions(size=256, overlay=False), disk_cache=False)[0])
    b_on, g_on, r_on = on[inside].astype(float).mean(axis=0)
    b_off, g_off, r_off = off[inside].astype(float).mean(axis=0)
    assert g_on - r_on > 60 and b_on - r_on > 60  # cyan (1, 252, 214) blended in
    assert abs(g_off - r_off) < 12  # grey without the overlay


def test_thumbnails_are_cached_on_disk_and_follow_options(sample_ds):
    image_id = int(sample_ds.images["image_id"].iloc[11])
    gallery.clear_memory_cache()
    before = set(gallery.thumbs_dir().rglob("*.jpg")) if gallery.thumbs_dir().exists() else set()
    first = gallery.thumbnails(sample_ds, [image_id], ThumbOptions(opacity=0.3))[0]
    written = set(gallery.thumbs_dir().rglob("*.jpg")) - before
    assert len(written) == 1 and written.pop().read_bytes() == first
    gallery.clear_memory_cache()
    assert gallery.thumbnails(sample_ds, [image_id], ThumbOptions(opacity=0.3))[0] == first  # from disk
    other = gallery.thumbnails(sample_ds, [image_id], ThumbOptions(opacity=0.3, palette="colour-blind safe"))[0]
    assert other != first  # another palette is another thumbnail
    assert len(set(gallery.thumbs_dir().rglob("*.jpg")) - before) == 2


def test_missing_image_file_gives_a_placeholder_not_cached(tmp_path):
    data = b.coco([b.image(0, width=SIZE, height=SIZE), b.image(1, width=SIZE, height=SIZE)],
                  [b.polygon_ann(0, 0, 4, b.square(10, 10, 20))])
    b.write_split(tmp_path / "train", data)
    ds = load_dataset(tmp_path)
    (tmp_path / "train" / ds.images["file_name"][0]).unlink()
    ds = load_dataset(tmp_path)  # reloaded: the loader reports the missing file, the image stays
    assert any("missing" in p.message for p in ds.problems)
    gallery.clear_memory_cache()
    pics = gallery.thumbnails(ds, [0, 1], ThumbOptions(size=128))
    missing = decode(pics[0])
    assert missing.shape == (128, 128, 3)
    assert gallery._thumb_key(ds.images["path"][0], SIZE, SIZE, "", ThumbOptions()) is None  # never cached
    # The placeholder is dark grey with light text, and the annotation is still drawn on it.
    assert np.median(missing) < 80 and missing.max() > 150
    assert decode(pics[1]).shape == (128, 128, 3)


# ---------------------------------------------------------------------------------------
# Every filter a file name may carry, and the file's own ids


@pytest.fixture(scope="module")
def mix(tmp_path_factory):
    """Letters V, W, L, an unknown X and names without an observation key (tests.builders.FILTER_MIX)."""
    return load_dataset(b.write_filter_mix(tmp_path_factory.mktemp("gallery_mix")))


def test_filter_choices_offer_every_filter_in_order(mix):
    assert gallery.filter_choices(mix) == ["V", "L", "W", "X", "?"]


@pytest.mark.parametrize("key, files", [
    ("X", {"S0200000007_X", "S0200000106_X"}),  # the unknown letter, in both splits
    ("?", {"frame_train_8.jpg", "frame_valid_8.jpg"}),  # names without a key
])
def test_filter_by_unknown_and_missing_keys(mix, key, files):
    rows = mix.images[gallery.filter_mask(mix, GalleryFilter(filters=(key,)))]
    assert set(rows["obs_key"].fillna(rows["file_name"])) == files


@pytest.mark.parametrize("split, coco_id, title, caption_head", [
    ("train", 7, "S0200000007_X · X (unknown filter) · train", "**S0200000007_X** · X (unknown filter) · train · id 7"),
    ("train", 8, "frame_train_8.jpg · no observation key · train", "**frame_train_8.jpg** · no observation key · train · id 8"),
    ("valid", 6, "S0200000106_X · X (unknown filter) · valid", "**S0200000106_X** · X (unknown filter) · valid · id 6"),
])
def test_titles_and_captions_name_filters_and_file_ids(mix, split, coco_id, title, caption_head):
    row = mix.images[(mix.images["split"] == split) & (mix.images["coco_id"] == coco_id)]
    assert gallery.detail_title(row.iloc[0]) == title
    assert gallery.thumbnail_captions(mix, row)[0].startswith(caption_head)
    assert gallery.file_id_text(row.iloc[0]) == f"image id {coco_id} in the {split} split's annotation file"


def test_annotation_table_shows_the_files_annotation_ids(mix):
    # Valid image 6 holds the valid file's annotations 10 and 11; the loader numbers them 4 and 5.
    image_id = int(mix.images.loc[(mix.images["split"] == "valid") & (mix.images["coco_id"] == 6), "image_id"].iloc[0])
    table = gallery.annotation_table(mix, image_id)
    assert sorted(table["id"]) == [10, 11]
    assert sorted(table.index) == sorted(mix.annotations_of(image_id)["ann_id"]) != [10, 11]
