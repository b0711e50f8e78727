"""The authors' fold files: mskf_k.csv byte for byte as their writer, round trips, the COCO folder layout,
reading fold files back with their problems."""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from sklearn.model_selection import StratifiedKFold

from tests.fold_builders import authors_input, no_splits_fixture
from xami_core import load_dataset
from xami_core.analysis import folds as F
from xami_core.io import fold_files
from xami_core.io.coco import read_coco
from xami_core.model import XamiDataError


@pytest.fixture(scope="module")
def no_splits(tmp_path_factory):
    root = no_splits_fixture(tmp_path_factory.mktemp("no_splits"))
    return root, load_dataset(root)


def authors_write_csv(skf_image_ids: dict, names: list[str], prefix: str, ids: list[int]) -> dict[int, bytes]:
    """Their `write_csv`, with csv.DictWriter into memory."""
    out = {}
    for mskf in skf_image_ids:
        buf = io.StringIO(newline="")
        writer = csv.DictWriter(buf, fieldnames=["IMADE_ID", "IMAGE_PATH", "SPLIT"])
        writer.writeheader()
        for split in skf_image_ids[mskf]:
            for image in skf_image_ids[mskf][split]:
                writer.writerow({"IMADE_ID": ids[image[0]], "IMAGE_PATH": os.path.join(prefix, names[image[0]]),
                                 "SPLIT": split})
        out[mskf] = buf.getvalue().encode()
    return out


def test_csv_bytes_match_the_authors_writer(no_splits):
    # Byte for byte what their notebook writes (IMADE_ID = the JSON id; CRLF; train rows then valid).
    root, ds = no_splits
    json_file = root / "data" / "_annotations.coco.json"
    names, images, labels = authors_input([json_file])
    ids = [im["id"] for im in json.loads(json_file.read_text())["images"]]
    skf = StratifiedKFold(n_splits=4, shuffle=True, random_state=42)
    skf_image_ids = {i: {"train": images[tr], "valid": images[va]} for i, (tr, va) in enumerate(skf.split(images, labels))}
    prefix = "../../xami_dataset_no_splits/train"
    expected = authors_write_csv(skf_image_ids, names, prefix, ids)
    fs = F.make_folds(ds, "stratified", 4, 42)
    for fold in fs.folds:
        assert fold_files.fold_csv_text(ds, fs, fold, prefix).encode() == expected[fold]


def test_csv_default_paths_are_the_loaded_files(sample_ds):
    fs = F.make_folds(sample_ds, "kfold", 3, 5)
    frame = fold_files.fold_csv_frame(sample_ds, fs, 1)
    assert list(frame.columns) == ["IMADE_ID", "IMAGE_PATH", "SPLIT"]
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in frame["IMAGE_PATH"])
    # A split layout reuses COCO ids per file: the global image_id is written instead.
    assert frame["IMADE_ID"].is_unique and set(frame["IMADE_ID"]) == set(sample_ds.images["image_id"])


@pytest.mark.parametrize(("method", "k", "seed"), [("stratified", 4, 42), ("multilabel", 3, 9), ("published", 1, 0)])
def test_csv_round_trip(sample_ds, tmp_path, method, k, seed):
    # Write mskf_i.csv, read the folder back: the same folds.
    fs = F.make_folds(sample_ds, method, k, seed)
    written = fold_files.write_fold_csvs(sample_ds, fs, tmp_path)
    assert [p.name for p in written] == [f"mskf_{i}.csv" for i in fs.folds]
    back = fold_files.read_fold_files(tmp_path, sample_ds)
    assert back.method == "files" and not back.problems
    pd.testing.assert_frame_equal(back.assignments, fs.assignments.sort_values(["fold", "image_id"], ignore_index=True))


def test_csv_zip_holds_every_fold(sample_ds):
    fs = F.make_folds(sample_ds, "stratified", 4, 42)
    with zipfile.ZipFile(io.BytesIO(fold_files.fold_csvs_zip(sample_ds, fs, "imgs"))) as zf:
        assert zf.namelist() == [f"mskf_{i}.csv" for i in range(4)]
        assert zf.read("mskf_2.csv").decode() == fold_files.fold_csv_text(sample_ds, fs, 2, "imgs")


def test_coco_zip_reads_back(no_splits, tmp_path):
    # mskf_i/{train,valid}/_annotations.coco.json: valid COCO, categories as the input, folders read back as folds.
    root, ds = no_splits
    fs = F.make_folds(ds, "stratified", 3, 42)
    with zipfile.ZipFile(io.BytesIO(fold_files.fold_coco_zip(ds, fs))) as zf:
        zf.extractall(tmp_path)
    original = json.loads((root / "data" / "_annotations.coco.json").read_text())
    for fold in fs.folds:
        for part in F.PARTS:
            path = tmp_path / f"mskf_{fold}" / part / "_annotations.coco.json"
            data = json.loads(path.read_text())
            assert data["categories"] == original["categories"]  # parent id 0 included
            recs = read_coco(path, part)
            assert not [p for p in recs.problems if p.severity == "error"]
            ids = {im["id"] for im in data["images"]}
            want = [a for a in original["annotations"] if a["image_id"] in ids]
            assert len(data["annotations"]) == len(want)
            # Values compare as numbers: the reader keeps coordinates as floats (14 == 14.0).
            got = sorted((a["id"], a["image_id"], a["category_id"], a["segmentation"]) for a in data["annotations"])
            assert got == sorted((a["id"], a["image_id"], a["category_id"], a["segmentation"]) for a in want)
    back = fold_files.read_fold_files(tmp_path, ds)
    pd.testing.assert_frame_equal(back.assignments, fs.assignments.sort_values(["fold", "image_id"], ignore_index=True))


def test_authors_reader_selects_the_right_images(no_splits, tmp_path):
    # Their create_directories_and_copy_files keeps images whose JSON id is in IMADE_ID of the part.
    root, ds = no_splits
    fs = F.make_folds(ds, "stratified", 4, 42)
    fold_files.write_fold_csvs(ds, fs, tmp_path)
    coco_data = json.loads((root / "data" / "_annotations.coco.json").read_text())
    image_data = pd.read_csv(tmp_path / "mskf_1.csv")
    split_ids = image_data[image_data["SPLIT"] == "valid"]["IMADE_ID"].tolist()
    chosen = {img["file_name"] for img in coco_data["images"] if img["id"] in split_ids}
    names = ds.images.set_index("image_id")["file_name"]
    assert chosen == set(names.loc[fs.part_ids(1, "valid")])
    for source in image_data["IMAGE_PATH"]:
        assert Path(source).is_file()  # their copy step reads from here


def test_read_fold_files_reports_problems(sample_ds, tmp_path):
    fs = F.make_folds(sample_ds, "kfold", 2, 0)
    fold_files.write_fold_csvs(sample_ds, fs, tmp_path)
    path = tmp_path / "mskf_0.csv"
    lines = path.read_text().splitlines()
    lines[1] = "999,somewhere/S0000000000_V_png.rf.unknown.jpg,train"  # no such image
    lines[2] = lines[2].rsplit(",", 1)[0] + ",test"  # an unknown part
    path.write_text("\n".join(lines) + "\n")
    back = fold_files.read_fold_files(tmp_path, sample_ds)
    messages = " | ".join(str(p) for p in back.problems)
    assert "matches no image" in messages and "expected SPLIT train or valid" in messages
    assert "2 of 160 dataset images are not in this fold" in messages
    assert len(back.assignments[back.assignments["fold"] == 0]) == 158


@pytest.mark.parametrize(("content", "match"), [
    (None, "no fold files found"),  # an empty folder
    ("a,b\n1,2\n", "no fold file entry matches"),  # a csv without the authors' columns
])
def test_read_fold_files_errors(sample_ds, tmp_path, content, match):
    if content is not None:
        (tmp_path / "mskf_0.csv").write_text(content)
    with pytest.raises(XamiDataError, match=match):
        fold_files.read_fold_files(tmp_path, sample_ds)


def test_fold_folders_from_image_files(sample_ds, tmp_path):
    # mskf_0/{train,valid}/ with only images (no JSON): matched by file name.
    fs = F.make_folds(sample_ds, "stratified", 2, 42)
    names = sample_ds.images.set_index("image_id")["file_name"]
    for part in F.PARTS:
        folder = tmp_path / "mskf_0" / part
        folder.mkdir(parents=True)
        for name in names.loc[fs.part_ids(0, part)]:
            (folder / name).write_bytes(b"")
    back = fold_files.read_fold_files(tmp_path, sample_ds)
    expected = fs.assignments[fs.assignments["fold"] == 0].sort_values("image_id", ignore_index=True)
    pd.testing.assert_frame_equal(back.assignments, expected)



def test_coco_folds_of_the_sample_stay_synthetic_and_real_xami_keeps_its_citation(sample_ds, no_splits, tmp_path):
    # A fold folder of the bundled sample, opened again by path, is still generated data (no XAMI citation);
    # a fold of XAMI's own files carries XAMI's citation. The sample's folder itself, opened by path, too.
    from xami_core.io.provenance import XAMI_CITATION
    from xami_core.io.sample import sample_root

    assert load_dataset(sample_root()).provenance.synthetic  # by path, without the app's synthetic flag
    for ds, synthetic in ((sample_ds, True), (no_splits[1], False)):
        out = tmp_path / ("sample" if synthetic else "xami")
        with zipfile.ZipFile(io.BytesIO(fold_files.fold_coco_zip(ds, F.make_folds(ds, "stratified", 2, 0)))) as zf:
            zf.extractall(out)
        info = json.loads((out / "mskf_0" / "train" / "_annotations.coco.json").read_text())["info"]
        assert info.get("synthetic") is (True if synthetic else None)
        assert ("citation" in info) is (not synthetic and ds.provenance.recognised_xami)
        back = load_dataset(out / "mskf_0")
        assert back.provenance.synthetic is synthetic
        if not synthetic and ds.provenance.recognised_xami:
            assert info["citation"] == XAMI_CITATION
