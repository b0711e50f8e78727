"""Every frame the loader opens lies inside its dataset's folder: COCO and YOLO, local and uploaded.

A `file_name` that is absolute or climbs with `..`, or a symbolic link inside the dataset that
points elsewhere, must never be opened (nor shown, nor downloadable), and the problem it raises
must not say whether the outside path exists.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests import builders as b
from xami_core.io.archive import extract_upload
from xami_core.io.loader import load_dataset

SIZE = 16


def _frame(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((SIZE, SIZE), 50, np.uint8))


def _outside_file(tmp_path: Path) -> Path:
    secret = tmp_path / "elsewhere" / "secret_frame.jpg"
    _frame(secret)
    return secret


def _status(ds, coco_id) -> str:
    return str(ds.images.set_index("coco_id").loc[coco_id, "file_status"])


NAMES_OUT = [
    # an absolute file_name naming a file that exists
    lambda secret: str(secret),
    # a relative name climbing out to it
    lambda secret: "../elsewhere/" + secret.name,
    # a climbing name for a file that does not exist: the same answer as for one that does
    lambda secret: "../elsewhere/no_such_frame.jpg",
]


@pytest.mark.parametrize("name_of", NAMES_OUT)
def test_coco_file_names_outside_the_folder_are_never_opened(tmp_path, name_of):
    secret = _outside_file(tmp_path)
    folder = tmp_path / "ds"
    good = b.image(1, width=SIZE, height=SIZE)
    bad = b.image(2, name=name_of(secret), width=SIZE, height=SIZE)
    b.write_split(folder, b.coco([good, bad], [b.polygon_ann(1, 2, 3, b.square(2, 2, 4))]), with_images=False)
    _frame(folder / good["file_name"])
    ds = load_dataset(folder)
    row = ds.images.set_index("coco_id").loc[2]
    assert row["file_status"] == "invalid file name" and row["path"] == "" and not row["has_file"]
    assert len(ds.annotations) == 1  # the record still counts
    (problem,) = [p for p in ds.problems if p.record == "image id 2"]
    assert "not shown" in problem.message and "exist" not in problem.message


@pytest.mark.parametrize("name_of", [*NAMES_OUT, lambda secret: "../../" + secret.name])
def test_coco_file_names_out_of_an_uploaded_zip_are_refused(tmp_path, name_of):
    # A zip cannot carry a link (its extraction refuses link members); the names above are the
    # upload's only way out, and they get the same answer there.
    secret = _outside_file(tmp_path)
    good = b.image(1, width=SIZE, height=SIZE)
    bad = b.image(2, name=name_of(secret), width=SIZE, height=SIZE)
    buf = io.BytesIO()
    ok, frame = cv2.imencode(".jpg", np.full((SIZE, SIZE), 50, np.uint8))
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("_annotations.coco.json", json.dumps(b.coco([good, bad], [])))
        zf.writestr(good["file_name"], frame.tobytes())
    _, folder = extract_upload(buf.getvalue(), "upload.zip")
    ds = load_dataset(folder, source="upload")
    assert _status(ds, 1) == "ok" and _status(ds, 2) == "invalid file name"


def test_yolo_symlink_out_of_the_folder_is_not_read(tmp_path):
    secret = _outside_file(tmp_path)
    root = tmp_path / "y"
    (root / "train" / "labels").mkdir(parents=True)
    (root / "data.yaml").write_text("names: [central-ring, other, read-out-streak, smoke-ring, star-loop]\nnc: 5\n")
    _frame(root / "train" / "images" / "S0000000001_U_ok.jpg")
    link = root / "train" / "images" / "S0000000002_U_link.jpg"
    link.symlink_to(secret)
    (root / "train" / "labels" / "S0000000002_U_link.txt").write_text("0 0.1 0.1 0.5 0.1 0.5 0.5\n")
    ds = load_dataset(root)
    assert list(ds.images["file_name"]) == ["S0000000001_U_ok.jpg"]
    (problem,) = [p for p in ds.problems if "S0000000002_U_link" in p.file]
    assert "outside the dataset folder" in problem.message and secret.name not in str(problem)


OUTSIDE_TEXT = "root:x:0:0:SECRET_LINE"  # a line of a file outside the dataset


def _secret_text(tmp_path: Path, name: str) -> Path:
    secret = tmp_path / "elsewhere" / name
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text(f"{OUTSIDE_TEXT}\nSECRET_COL_A,SECRET_COL_B\n")
    return secret


def _yolo(root: Path) -> Path:
    (root / "train" / "labels").mkdir(parents=True)
    (root / "data.yaml").write_text("names: [central-ring, other, read-out-streak, smoke-ring, star-loop]\nnc: 5\n")
    _frame(root / "train" / "images" / "S0000000001_U_ok.jpg")
    (root / "train" / "labels" / "S0000000001_U_ok.txt").write_text("0 0.1 0.1 0.5 0.1 0.5 0.5\n")
    return root


def _said_nothing_of(ds_or_problems, *secrets: str) -> None:
    problems = getattr(ds_or_problems, "problems", ds_or_problems)
    text = " ".join(str(p) for p in problems)
    assert not [s for s in secrets if s in text], text


def test_a_yolo_label_file_linked_from_outside_is_not_read(tmp_path):
    root = _yolo(tmp_path / "y")
    _frame(root / "train" / "images" / "S0000000002_U_two.jpg")
    (root / "train" / "labels" / "S0000000002_U_two.txt").symlink_to(_secret_text(tmp_path, "passwd"))
    ds = load_dataset(root)
    assert len(ds.images) == 2 and len(ds.annotations) == 1  # the linked labels left out, the image kept
    (problem,) = [p for p in ds.problems if "S0000000002_U_two.txt" in p.file]
    assert "outside the dataset folder" in problem.message
    _said_nothing_of(ds, OUTSIDE_TEXT, "passwd", "elsewhere")


@pytest.mark.parametrize("layout", ["yolo split folder", "yolo images folder", "coco split folder", "coco file"])
def test_a_split_or_annotation_file_linked_from_outside_is_not_read(tmp_path, layout):
    # An outside dataset, complete and readable, linked in as a split: none of its frames or records load.
    outside = tmp_path / "elsewhere"
    if layout.startswith("yolo"):
        root = _yolo(tmp_path / "y")
        _yolo(outside)
        if layout == "yolo split folder":
            (root / "valid").symlink_to(outside / "train")
        else:
            (root / "valid").mkdir()
            (root / "valid" / "images").symlink_to(outside / "train" / "images")
    else:
        root = tmp_path / "c"
        b.write_split(root / "train", b.coco([b.image(0, width=SIZE, height=SIZE)], []))
        b.write_split(outside / "valid", b.coco([b.image(7, width=SIZE, height=SIZE)], []))
        if layout == "coco split folder":
            (root / "valid").symlink_to(outside / "valid")
        else:
            (root / "valid").mkdir()
            (root / "valid" / "_annotations.coco.json").symlink_to(outside / "valid" / "_annotations.coco.json")
    ds = load_dataset(root)
    assert list(ds.images["split"].unique()) == ["train"] and len(ds.images) == 1
    assert [p for p in ds.problems if "outside the dataset folder" in p.message]
    _said_nothing_of(ds, "elsewhere")


def test_fold_files_linked_from_outside_the_folder_are_not_read(tmp_path, sample_ds):
    from xami_core.analysis import folds as F
    from xami_core.io import fold_files
    from xami_core.model import XamiDataError

    folder = tmp_path / "folds"
    fold_files.write_fold_csvs(sample_ds, F.make_folds(sample_ds, "stratified", 2, 0), folder)
    (folder / "mskf_1.csv").unlink()
    (folder / "mskf_1.csv").symlink_to(_secret_text(tmp_path, "other.csv"))
    folds = fold_files.read_fold_files(folder, sample_ds)
    assert folds.folds == [0]  # the linked file is not a fold file here, and that is said
    (linked,) = [p for p in folds.problems if p.file == str(folder / "mskf_1.csv")]
    assert linked.message == "resolves outside the fold folder (a symbolic link?); not read; fold skipped"
    _said_nothing_of(folds.problems, OUTSIDE_TEXT, "SECRET_COL", "other.csv")
    (folder / "mskf_0.csv").unlink()
    (folder / "mskf_0.csv").symlink_to(_secret_text(tmp_path, "another.csv"))
    with pytest.raises(XamiDataError) as err:
        fold_files.read_fold_files(folder, sample_ds)
    assert str(err.value) == (f"{folder}: every fold file (mskf_0.csv, mskf_1.csv) resolves outside the fold "
                              "folder (a symbolic link?); not read")  # not "no fold files found"
    # Folders of fold parts: a train/ linked from outside lists nothing of the outside folder.
    parts = tmp_path / "part_folders" / "mskf_0"
    (parts / "valid").mkdir(parents=True)
    (parts / "train").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(XamiDataError) as err:
        fold_files.read_fold_files(parts.parent, sample_ds)
    assert "passwd" not in str(err.value) and "other.csv" not in str(err.value)
