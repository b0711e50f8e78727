"""The gallery selection's export: the CSV file list, the COCO subset zip (loads back the same), and its popover."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from streamlit.testing.v1 import AppTest

from tests import builders as b
from xami_core import load_dataset
from xami_core.io import subset
from xami_core.io.loader import COCO_FILE
from xami_core.model import XamiDataError

SIDE = 64


def _compressed_rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _mixed_split() -> dict:
    """A train split with every kind of mask: two-part polygon, uncompressed and compressed RLE, box-only,
    and a hard negative; ids from 0 as Roboflow numbers them."""
    block = np.zeros((SIDE, SIDE), np.uint8)
    block[10:20, 30:44] = 1
    run_start = 5 * SIDE + 3  # column-major runs: 5 columns, then 3 pixels of the sixth
    uncompressed = {"size": [SIDE, SIDE], "counts": [run_start, 12, SIDE * SIDE - run_start - 12]}
    images = [b.image(0, width=SIDE, height=SIDE), b.image(1, width=SIDE, height=SIDE),
              b.image(2, width=SIDE, height=SIDE)]
    anns = [
        b.polygon_ann(0, 0, 1, b.square(2, 2, 8), b.square(40, 40, 6)),
        {"id": 1, "image_id": 0, "category_id": 3, "bbox": [5, 3, 1, 12], "area": 12, "segmentation": uncompressed,
         "iscrowd": 0},
        {"id": 2, "image_id": 0, "category_id": 4, "bbox": [30, 10, 14, 10], "area": 140,
         "segmentation": _compressed_rle(block), "iscrowd": 0},
        b.box_ann(3, 1, 5, [8, 8, 20, 10]),
    ]
    return b.coco(images, anns)


def _valid_split() -> dict:
    """A valid split whose ids repeat the train split's (each file numbers from 0)."""
    images = [b.image(0, name=b.file_name(200000000, "V"), width=SIDE, height=SIDE)]
    return b.coco(images, [b.polygon_ann(0, 0, 2, b.square(20, 20, 12))])


@pytest.fixture()
def mixed_root(tmp_path: Path) -> Path:
    """A two-split dataset folder with frames, written in code."""
    root = tmp_path / "mixed"
    b.write_split(root / "train", _mixed_split())
    b.write_split(root / "valid", _valid_split())
    return root


def _zip_of(ds, ids, tmp_path: Path, name: str = "selection") -> tuple[Path, subset.SubsetSummary]:
    buf = io.BytesIO()
    summary = subset.write_subset_zip(ds, ids, buf, name=name)
    path = tmp_path / f"{name}.zip"
    path.write_bytes(buf.getvalue())
    return path, summary


def _coco_of(data: dict) -> COCO:
    coco = COCO()
    coco.dataset = data
    coco.createIndex()
    return coco


def _chosen(sample_ds) -> list[int]:
    """A selection over both splits with hard negatives and the box-only annotation, in a shuffled order."""
    img = sample_ds.images
    box_only = sample_ds.annotations.loc[sample_ds.annotations["kind"] == "box", "image_id"]
    ids = set(img["image_id"][::4]) | set(img.loc[img["n_annotations"] == 0, "image_id"]) | set(box_only)
    return list(np.random.default_rng(3).permutation(sorted(ids)))


def test_selection_table_has_one_row_per_selected_image(sample_ds):
    ids = _chosen(sample_ds)
    table = subset.selection_table(sample_ds, ids + ids[:5])  # an id given twice is listed once
    img = sample_ds.images.set_index("image_id").loc[ids]
    assert len(table) == len(ids)
    assert table["file_name"].tolist() == img["file_name"].tolist()  # in the selection's order
    assert table["split"].tolist() == img["split"].tolist()
    assert table["n_annotations"].tolist() == img["n_annotations"].tolist()
    per_class = table[[f"n_{name}" for name in sample_ds.class_names]]
    assert (per_class.sum(axis=1) == table["n_annotations"]).all()
    # the classes present: those with a count, in category order
    expected = [";".join(n for n in sample_ds.class_names if row[f"n_{n}"] > 0) for _, row in table.iterrows()]
    assert table["classes"].tolist() == expected
    assert (table.loc[table["n_annotations"] == 0, "classes"] == "").all()
    csv = pd.read_csv(io.BytesIO(subset.selection_csv(sample_ds, ids)), dtype={"obsid": str})
    assert len(csv) == len(ids)
    assert csv["obsid"].tolist() == img["obsid"].tolist()  # leading zeros kept


def test_unknown_image_id_is_refused(sample_ds):
    with pytest.raises(ValueError, match="not in the dataset"):
        subset.selection_table(sample_ds, [0, 10**9])


def test_sample_subset_loads_back_with_identical_counts(sample_ds, tmp_path):
    ids = _chosen(sample_ds)
    path, summary = _zip_of(sample_ds, ids, tmp_path)
    back = load_dataset(path)
    img = sample_ds.images[sample_ds.images["image_id"].isin(ids)]
    ann = sample_ds.annotations[sample_ds.annotations["image_id"].isin(ids)]
    assert (summary.n_images, summary.n_annotations, summary.missing) == (len(img), len(ann), ())
    assert not back.problems
    assert back.images.groupby("split").size().to_dict() == img.groupby("split").size().to_dict()
    assert (back.annotations.groupby(["split", "class_name"]).size().to_dict()
            == ann.groupby(["split", "class_name"]).size().to_dict())

    def per_image(table):
        return table.set_index(["split", "file_name"]).sort_index()[["coco_id", "n_annotations", "classes"]]

    pd.testing.assert_frame_equal(per_image(back.images), per_image(img))

    def per_annotation(table):
        return table.set_index(["split", "coco_id"]).sort_index()[
            ["class_name", "kind", "segmentation", "bbox_x", "bbox_y", "bbox_w", "bbox_h", "area"]]

    pd.testing.assert_frame_equal(per_annotation(back.annotations), per_annotation(ann))


def test_sample_subset_masks_match_the_source_files(sample_ds, tmp_path):
    ids = _chosen(sample_ds)
    path, _ = _zip_of(sample_ds, ids, tmp_path)
    with zipfile.ZipFile(path) as zf:
        written = json.loads(zf.read(f"selection/train/{COCO_FILE}"))
    source = COCO(str(Path(sample_ds.provenance.path) / "train" / COCO_FILE))
    out = _coco_of(written)
    polygon_ids = [a["id"] for a in written["annotations"] if a["segmentation"]]
    assert len(polygon_ids) >= 5
    for ann_id in polygon_ids[:8]:
        assert out.anns[ann_id]["image_id"] == source.anns[ann_id]["image_id"]
        assert np.array_equal(out.annToMask(out.anns[ann_id]), source.annToMask(source.anns[ann_id]))


def test_every_mask_kind_round_trips(mixed_root, tmp_path):
    ds = load_dataset(mixed_root)
    path, summary = _zip_of(ds, ds.images["image_id"].tolist(), tmp_path)
    assert summary.splits == ("train", "valid") and summary.n_annotations == 5
    with zipfile.ZipFile(path) as zf:
        written = {split: json.loads(zf.read(f"selection/{split}/{COCO_FILE}")) for split in ("train", "valid")}
        names = set(zf.namelist())
    # the ids of each split's file, repeating across splits, and the categories with the unused parent
    assert [im["id"] for im in written["train"]["images"]] == [0, 1, 2]
    assert [im["id"] for im in written["valid"]["images"]] == [0]
    assert written["train"]["categories"] == b.XAMI_CATEGORIES
    assert {f"selection/train/{im['file_name']}" for im in written["train"]["images"]} <= names
    for split, source_data in (("train", _mixed_split()), ("valid", _valid_split())):
        source, out = _coco_of(source_data), _coco_of(written[split])
        assert sorted(out.anns) == sorted(source.anns)
        for ann_id, ann in source.anns.items():
            mine = out.anns[ann_id]
            assert (mine["image_id"], mine["category_id"]) == (ann["image_id"], ann["category_id"])
            if ann["segmentation"]:
                assert np.array_equal(out.annToMask(mine), source.annToMask(ann)), (split, ann_id)
            else:  # box-only: no mask, the stored box
                assert mine["segmentation"] == [] and mine["bbox"] == ann["bbox"]
    back = load_dataset(path)
    assert back.annotations["kind"].value_counts().to_dict() == ds.annotations["kind"].value_counts().to_dict()
    assert back.images["n_annotations"].tolist() == ds.images["n_annotations"].tolist()


@pytest.mark.parametrize("when", [
    "before loading",  # the loader already found it missing
    "after loading",  # gone between loading and exporting
])
def test_missing_frame_is_left_out_and_reported(mixed_root, tmp_path, when):
    frame = mixed_root / "train" / b.file_name(100000001)
    if when == "before loading":
        frame.unlink()
    ds = load_dataset(mixed_root)
    if when == "after loading":
        frame.unlink()
    path, summary = _zip_of(ds, ds.images["image_id"].tolist(), tmp_path)
    assert [(s, f) for s, f, _ in summary.missing] == [("train", frame.name)]
    assert "1 frame(s) left out" in summary.message and frame.name in summary.message
    with zipfile.ZipFile(path) as zf:
        missing = pd.read_csv(io.BytesIO(zf.read("selection/missing.csv")))
        readme = zf.read("selection/README.txt").decode()
        assert f"selection/train/{frame.name}" not in zf.namelist()
    assert missing[["split", "file_name"]].values.tolist() == [["train", frame.name]]
    assert f"train/{frame.name}" in readme
    back = load_dataset(path)  # the record stays: the counts load back unchanged
    assert len(back.images) == len(ds.images) and len(back.annotations) == len(ds.annotations)
    assert back.images.loc[~back.images["has_file"], "file_name"].tolist() == [frame.name]


def test_without_missing_frames_there_is_no_missing_list(mixed_root, tmp_path):
    ds = load_dataset(mixed_root)
    path, summary = _zip_of(ds, [0], tmp_path)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == sorted([f"selection/train/{COCO_FILE}", f"selection/train/{b.file_name(100000000)}",
                                                "selection/selection.csv", "selection/README.txt"])
    assert summary.missing == () and "left out" not in summary.message


@pytest.mark.parametrize("limits, says", [
    ({"max_frames": 3}, "at most 3 frames"),  # four images selected
    ({"max_bytes": 100}, "at most 100 B of frames"),  # four small frames, each more than 25 bytes
])
def test_a_selection_beyond_the_limits_is_refused(mixed_root, limits, says):
    ds = load_dataset(mixed_root)
    buf = io.BytesIO()
    with pytest.raises(subset.SubsetTooLargeError, match=says):
        subset.write_subset_zip(ds, ds.images["image_id"].tolist(), buf, **limits)
    assert buf.getvalue() == b""  # nothing written


def test_limits_come_from_the_settings(mixed_root, monkeypatch):
    ds = load_dataset(mixed_root)
    summary = subset.subset_summary(ds, ds.images["image_id"].tolist())
    assert subset.limit_problem(summary) is None
    monkeypatch.setenv(subset.MAX_FRAMES_ENV, "2")
    assert "at most 2 frames" in subset.limit_problem(summary)
    monkeypatch.setenv(subset.MAX_FRAMES_ENV, "lots")
    with pytest.raises(XamiDataError, match=subset.MAX_FRAMES_ENV):
        subset.limit_problem(summary)


@pytest.mark.parametrize("name, root", [
    ("gallery selection", "gallery_selection"),
    ("train", subset.DEFAULT_ROOT),  # a split's name would read as a split folder
    ("../..", subset.DEFAULT_ROOT),
])
def test_root_folder_is_a_safe_name(name, root):
    assert subset.root_folder(name) == root


def _export_app(count: int) -> None:
    """The widget alone, on the sample's first `count` images."""
    from xami_core import load_dataset, sample_root
    from xami_ui.gallery_export import export_ui

    ds = load_dataset(sample_root(), source="synthetic sample", synthetic=True)
    export_ui(ds, ds.images["image_id"][:count].tolist(), "gallery selection")


def _buttons(at: AppTest) -> dict[str, object]:
    return {el.proto.label: el.proto for el in at.get("download_button")}


def test_export_popover_shows_counts_and_two_downloads(sample_ds):
    at = AppTest.from_function(_export_app, args=(10,), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    summary = subset.subset_summary(sample_ds, sample_ds.images["image_id"][:10].tolist())
    text = " ".join(m.value for m in at.markdown)
    assert (f"**10** images · **{summary.n_annotations:,}** annotations · frames "
            f"{subset.format_bytes(summary.frame_bytes)}") in text
    buttons = _buttons(at)
    assert set(buttons) == {"File list (CSV)", "COCO subset with frames (zip)"}
    assert not buttons["COCO subset with frames (zip)"].disabled
    assert not at.warning


def test_export_popover_refuses_the_zip_above_the_limit(monkeypatch):
    monkeypatch.setenv(subset.MAX_FRAMES_ENV, "5")
    at = AppTest.from_function(_export_app, args=(10,), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "at most 5 frames" in at.warning[0].value
    buttons = _buttons(at)
    assert buttons["COCO subset with frames (zip)"].disabled
    assert not buttons["File list (CSV)"].disabled


def _folder_app(root: str, count: int) -> None:
    """The widget alone, on the first `count` images of the dataset folder `root`."""
    from xami_core import load_dataset
    from xami_ui.gallery_export import export_ui

    ds = load_dataset(root)
    export_ui(ds, ds.images["image_id"][:count].tolist(), "selection")


def _popover(at: AppTest):
    return next(block for block in at.main.children.values() if block.type == "popover")


def test_export_popover_says_which_frames_are_left_out(mixed_root):
    (mixed_root / "train" / b.file_name(100000001)).unlink()
    at = AppTest.from_function(_folder_app, args=(str(mixed_root), 4), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "**4** images · **5** annotations · frames" in at.markdown[0].value
    assert "1 frame(s) cannot be copied and will be left out, listed in missing.csv" in at.caption[0].value
    assert not _buttons(at)["COCO subset with frames (zip)"].disabled
    assert not _popover(at).proto.popover.disabled


def test_export_popover_is_disabled_without_a_selection(mixed_root):
    at = AppTest.from_function(_folder_app, args=(str(mixed_root), 0), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    popover = _popover(at).proto.popover
    assert popover.disabled and popover.help == "No image is selected."
    assert "**0** images · **0** annotations" in at.markdown[0].value


def _other_subject_root(tmp_path: Path) -> Path:
    """A dataset of another subject (its own classes, file names and info block), written in code."""
    root = tmp_path / "plants"
    images = [b.image(i, f"IMG_{i:04d}.jpg", SIDE, SIDE) for i in range(2)]
    info = {"description": "Rust on leaves", "url": "https://example.org/plants"}
    b.write_split(root / "train", b.coco(images, [b.polygon_ann(0, 0, 1, b.square(4, 4, 10))],
                                         b.categories(["rust", "spot"]), info=info))
    return root


@pytest.mark.parametrize("source, synthetic, recognised, cited", [
    ("sample", True, False, False),  # the bundled sample: marked, loads back synthetic, XAMI's citation not written
    ("xami-like", False, True, True),  # XAMI classes and file names: not synthetic, XAMI's terms and citation
    ("other", False, False, False),  # another subject: not synthetic, its own description carried on
])
def test_the_subset_says_where_it_came_from_and_keeps_the_synthetic_label(sample_ds, mixed_root, tmp_path, source,
                                                                          synthetic, recognised, cited):
    ds = {"sample": lambda: sample_ds, "xami-like": lambda: load_dataset(mixed_root),
          "other": lambda: load_dataset(_other_subject_root(tmp_path))}[source]()
    assert ds.provenance.synthetic is synthetic
    path, _ = _zip_of(ds, _chosen(ds) if synthetic else ds.images["image_id"].tolist(), tmp_path)
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(path) as zf:
        zf.extractall(folder)
        readme = zf.read("selection/README.txt").decode()
    infos = [json.loads(f.read_text())["info"] for f in sorted(folder.glob(f"selection/*/{COCO_FILE}"))]
    assert infos and all(("synthetic" in info) is synthetic for info in infos)
    assert all(info.get("synthetic", False) is synthetic for info in infos)  # the JSON boolean, when there
    assert all(("citation" in info) is cited for info in infos)
    assert all(info["source"] == ds.provenance.source and "XAMI Explorer's gallery" in info["description"]
               for info in infos)
    assert ("Generated data, not real XAMI data" in readme) is synthetic and ("Cite:" in readme) is not synthetic
    back = load_dataset(folder)  # the unzipped folder, as a user points the app at it
    prov = back.provenance
    assert (prov.synthetic, prov.recognised_xami) == (synthetic, recognised)
    assert prov.label.startswith("Synthetic sample") is synthetic
    if source == "other":  # its own description and URL travel with it
        assert "Rust on leaves" in prov.description and prov.url == "https://example.org/plants"
