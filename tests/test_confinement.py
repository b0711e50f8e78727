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


@pytest.mark.parametrize(
    "name_of",
    [
        # an absolute file_name naming a file that exists
        lambda secret: str(secret),
        # a relative name climbing out to it
        lambda secret: "../elsewhere/" + secret.name,
        # a climbing name for a file that does not exist: the same answer as for one that does
        lambda secret: "../elsewhere/no_such_frame.jpg",
    ],
)
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


def test_coco_symlink_out_of_an_uploaded_zip_is_refused(tmp_path):
    # A zip cannot carry a link (its extraction refuses link members); the names above are the
    # upload's only way out, and they get the same answer there.
    secret = _outside_file(tmp_path)
    good = b.image(1, width=SIZE, height=SIZE)
    bad = b.image(2, name="../../" + secret.name, width=SIZE, height=SIZE)
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
