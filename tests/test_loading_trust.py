"""Loading you can trust: every kind of bad input becomes a named problem, the rest loads.

The folders under tests/data/cases are copies of small inputs modelled on public bug reports
against COCO tools; each test states the right answer from its note.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from tests.builders import coco, image, polygon_ann, square, write_split
from xami_core import XamiDataError
from xami_core.analysis.gallery import frame_size_text
from xami_core.io.coco import read_coco
from xami_core.io.fold_files import _names_in_folder
from xami_core.io.loader import load_dataset
from xami_core.io.metadata import read_obs_info
from xami_core.io.rle import decode_counts_string, rle_problem
from xami_core.render.overlay import load_frame

CASES = Path(__file__).parent / "data" / "cases"
ROOT = Path(__file__).resolve().parents[1]


def _problems(ds, severity=None):
    return [p for p in ds.problems if severity is None or p.severity == severity]


def _one(ds, *needles, severity=None):
    """The single problem whose text holds every needle."""
    hits = [p for p in _problems(ds, severity) if all(n in str(p) for n in needles)]
    assert len(hits) == 1, f"expected one problem with {needles}, found {[str(p) for p in ds.problems]}"
    return hits[0]


# ---------------------------------------------------------------------------------------
# The copies of the reported cases


def test_huge_coordinate_is_bounded_in_a_subprocess(tmp_path):
    # A vertex at about 2e8 px once sent pycocotools into a rasterisation of tens of GB; run
    # under a 3 GB address-space limit so a regression fails this test instead of the run.
    script = textwrap.dedent(f"""
        import resource, json
        resource.setrlimit(resource.RLIMIT_AS, (3 * 1024**3, 3 * 1024**3))
        from xami_core.io.loader import load_dataset
        ds = load_dataset({str(CASES / 'huge-coord')!r})
        ann = ds.annotations
        print(json.dumps({{"n": len(ann), "kind": ann["kind"].tolist(), "mask_box_h": ann["mask_box_h"].tolist(),
                          "problems": [[p.file, p.record, p.message, p.severity] for p in ds.problems]}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    # The record is kept as box-only (its stored bbox is sane), so the count stays 1.
    assert out["n"] == 1 and out["kind"] == ["box"] and out["mask_box_h"] == [pytest.approx(393.687)]
    (vertex,) = [p for p in out["problems"] if "far outside" in p[2]]
    assert vertex[0].endswith("_annotations.coco.json")
    assert vertex[1] == "annotation id 0, polygon 0"
    assert "vertex 1 at (2.08543e+08, 3.52187e+08) px" in vertex[2] and "512 x 512" in vertex[2]
    (kept,) = [p for p in out["problems"] if "kept as a box-only" in p[2]]
    assert kept[1] == "annotation id 0" and kept[3] == "warning"


def test_string_image_id_is_matched_and_said():
    ds = load_dataset(CASES / "string-ids")
    assert len(ds.annotations) == 1  # counted, matched to image 0
    p = _one(ds, "image_id as a str ('0')", "image ids are numbers", "matched by value and kept")
    assert p.record == "annotation id 0" and p.severity == "warning"
    assert not any("not an image of this file" in str(q) for q in ds.problems)


def test_file_name_with_a_folder_prefix():
    ds = load_dataset(CASES / "subfolder")
    assert ds.problems == ()
    (row,) = ds.images.to_dict("records")
    assert row["has_file"] and row["file_status"] == "ok"
    assert row["obs_key"] == "S0104177001_U" and row["obsid"] == "0104177001"
    assert row["filter_letter"] == "U" and row["wavelength_nm"] == 344.0


def test_declared_size_that_disagrees_with_the_file():
    ds = load_dataset(CASES / "wh-mismatch")
    img = ds.images.set_index("coco_id")
    # The numbers use the file's size; the declared one stays visible beside it.
    assert (img.loc[0, "width"], img.loc[0, "height"]) == (1024, 1024)
    assert (img.loc[0, "declared_width"], img.loc[0, "declared_height"]) == (512, 512)
    assert (img.loc[1, "width"], img.loc[1, "height"]) == (512, 512)
    assert (img.loc[1, "declared_width"], img.loc[1, "declared_height"]) == (512, 256)
    p0 = _one(ds, "image id 0", "declared 512 x 512 px", "is 1024 x 1024 px", "the file's size is used")
    p1 = _one(ds, "image id 1", "declared 512 x 256 px", "is 512 x 512 px", "the file's size is used")
    assert p0.file.endswith("_annotations.coco.json") and p1.severity == "warning"
    # Mask areas on the real 512 x 512 canvas, as pycocotools rasterises the polygon there.
    seg = json.loads((CASES / "wh-mismatch" / "_annotations.coco.json").read_text())["annotations"][1]["segmentation"]
    expected = float(mask_utils.area(mask_utils.merge(mask_utils.frPyObjects(seg, 512, 512))))
    ann = ds.annotations.set_index("coco_id")
    assert expected > 390 and ann.loc[1, "mask_area"] == expected


# ---------------------------------------------------------------------------------------
# Other members of each kind


def _write_frames(folder: Path, names: list[str], size: tuple[int, int] = (16, 16)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        cv2.imwrite(str(folder / name), np.full((size[1], size[0]), 40, np.uint8))


def _load_records(tmp_path: Path, images: list[dict], annotations: list[dict], frames: list[str] | None = None):
    folder = tmp_path / "d"
    write_split(folder, coco(images, annotations), with_images=False)
    _write_frames(folder, frames if frames is not None else [im["file_name"] for im in images
                                                             if isinstance(im.get("file_name"), str)])
    return load_dataset(folder)


GOOD = image(1, width=16, height=16)
GOOD_ANN = polygon_ann(1, 1, 3, square(2, 2, 4))


@pytest.mark.parametrize(
    "bad_image, needles, severity",
    [
        # an id that is a list: the record cannot be indexed
        ({"id": [7], "file_name": "S0000000007_U_a.jpg", "width": 16, "height": 16}, ("expected an integer or string id",), "error"),
        # an id that is an object
        ({"id": {"a": 1}, "file_name": "S0000000007_U_a.jpg", "width": 16, "height": 16}, ("found dict",), "error"),
        # an id that is a boolean
        ({"id": True, "file_name": "S0000000007_U_a.jpg", "width": 16, "height": 16}, ("found True",), "error"),
        # a width of 1e30 (a float) with a readable file: the file's size is used
        ({"id": 7, "file_name": "S0000000007_U_a.jpg", "width": 1e30, "height": 16}, ("expected an integer width", "the file's size 16 x 16 is used"), "warning"),
        # a width of 10**30 (an integer that fits no array)
        ({"id": 7, "file_name": "S0000000007_U_a.jpg", "width": 10**30, "height": 16}, ("expected a width from 1 to 32768 px",), "warning"),
        # `width: true` is not a width
        ({"id": 7, "file_name": "S0000000007_U_a.jpg", "width": True, "height": 16}, ("found True (bool)",), "warning"),
        # a file name that is not a string
        ({"id": 7, "file_name": ["x"], "width": 16, "height": 16}, ("expected a file_name string",), "error"),
        # an absolute file name: never opened
        ({"id": 7, "file_name": "/etc/hostname", "width": 16, "height": 16}, ("absolute path", "not shown"), "warning"),
        # a name that climbs out of the folder
        ({"id": 7, "file_name": "../S0000000007_U_a.jpg", "width": 16, "height": 16}, ("climbs out", "not shown"), "warning"),
        # a NUL byte in the file name
        ({"id": 7, "file_name": "S0000000007_U\x00a.jpg", "width": 16, "height": 16}, ("NUL byte",), "warning"),
        # a name longer than the file system allows
        ({"id": 7, "file_name": "S" + "x" * 400 + ".jpg", "width": 16, "height": 16}, ("unreadable",), "warning"),
    ],
)
def test_bad_image_records_are_named_and_the_rest_loads(tmp_path, bad_image, needles, severity):
    frames = [GOOD["file_name"], "S0000000007_U_a.jpg"]
    ds = _load_records(tmp_path, [GOOD, bad_image], [GOOD_ANN], frames=frames)
    assert 1 in set(ds.images["coco_id"]) and len(ds.annotations) == 1
    p = _one(ds, *needles)
    assert p.severity == severity and p.file.endswith("_annotations.coco.json")


def test_image_without_any_usable_size_is_skipped_and_its_annotations_say_why(tmp_path):
    # Declared width true and no file to read: nothing to place masks on.
    bad = {"id": 7, "file_name": "S0000000007_U_gone.jpg", "width": True, "height": 16}
    ds = _load_records(tmp_path, [GOOD, bad], [GOOD_ANN, polygon_ann(2, 7, 3, square(1, 1, 3))], frames=[GOOD["file_name"]])
    assert list(ds.images["coco_id"]) == [1]
    _one(ds, "image id 7", "and the file gives no size (missing); image skipped", severity="error")
    _one(ds, "annotation id 2", "its image (id 7) was skipped because it has no usable size", severity="error")


@pytest.mark.parametrize(
    "change, needles, severity, kept",
    [
        # an annotation id that is a list
        ({"id": [1, 2]}, ("annotation id [1, 2]", "expected an integer or string id"), "error", False),
        # an annotation id that is an object
        ({"id": {"x": 1}}, ("found dict",), "error", False),
        # category_id 3.0: read as 3, with a word
        ({"category_id": 3.0}, ("category_id 3.0 is a float; read as 3",), "warning", True),
        # category_id "3": matched by value, with a word
        ({"category_id": "3"}, ("category_id '3' is a str where the category ids are ints",), "warning", True),
        # category_id that is a list
        ({"category_id": [3]}, ("category_id: expected an integer or string id",), "error", False),
        # image_id that is an object
        ({"image_id": {"id": 1}}, ("image_id: expected an integer or string id",), "error", False),
        # a bbox with a huge corner: ignored, the polygon still gives the box
        ({"bbox": [0, 0, 1e12, 4]}, ("far outside); bbox ignored",), "warning", True),
        # a polygon with a vertex at 1e7 px (4 s and 0.8 GB before): the bbox stands in
        ({"segmentation": [[2, 2, 1e7, 2, 6, 6]]}, ("far outside the 16 x 16 frame", "polygon part ignored"), "error", True),
        # a polygon with an integer coordinate too large for a float
        ({"segmentation": [[2, 2, 10**400, 2, 6, 6]]}, ("expected a flat list of finite numbers",), "error", True),
    ],
)
def test_bad_annotation_fields(tmp_path, change, needles, severity, kept):
    ann = {**polygon_ann(5, 1, 3, square(2, 2, 4)), **change}
    ds = _load_records(tmp_path, [GOOD], [GOOD_ANN, ann])
    assert len(ds.annotations) == (2 if kept else 1)
    assert _one(ds, *needles).severity == severity


def _rle_ann(counts, size=(16, 16)) -> dict:
    return {"id": 9, "image_id": 1, "category_id": 4, "bbox": [0, 0, 4, 4], "area": 16, "iscrowd": 0,
            "segmentation": {"size": list(size), "counts": counts}}


def _valid_counts() -> list[int]:
    mask = np.zeros((16, 16), np.uint8, order="F")
    mask[2:6, 3:7] = 1
    return [3 * 16 + 2, 4, 12, 4, 12, 4, 12, 4, 16 * 16 - (3 * 16 + 2) - 16 - 36]


@pytest.mark.parametrize(
    "counts, needles, severity, kept",
    [
        # negative run lengths
        ([-5, 261], ("negative run length -5",), "error", False),
        # run lengths as strings
        (["50", "206"], ("expected integer run lengths, found str",), "error", False),
        # a run length that overflows 64 bits
        ([2**70, 1], ("does not fit in 64 bits",), "error", False),
        # a compressed string with characters outside the alphabet
        ("\x01\x02", ("counts string is not valid", "characters outside"), "error", False),
        # a compressed string whose last run is cut off ('P' says more characters follow)
        ("0P", ("the last run is cut off",), "error", False),
        # a compressed string that overflows
        ("oooooooooooo0", ("would overflow",), "error", False),
        # run lengths that do not cover the frame
        ([10, 20], ("add up to 30 pixels, expected 16 x 16 = 256",), "error", False),
        # run lengths written as floats: read as integers, with a word
        ([float(v) for v in _valid_counts()], ("RLE run lengths written as floats",), "warning", True),
    ],
)
def test_bad_rle(tmp_path, counts, needles, severity, kept):
    ds = _load_records(tmp_path, [GOOD], [GOOD_ANN, _rle_ann(counts)])
    assert len(ds.annotations) == (2 if kept else 1)
    p = _one(ds, *needles)
    assert p.severity == severity and p.record == "annotation id 9"


def test_valid_rle_lists_and_strings_pass_and_agree_with_pycocotools():
    rng = np.random.default_rng(3)
    for h, w in [(16, 16), (7, 13), (64, 40)]:
        mask = np.asfortranarray(rng.random((h, w)) > 0.6, dtype=np.uint8)
        compressed = mask_utils.encode(mask)
        runs = decode_counts_string(compressed["counts"])
        assert not isinstance(runs, str)
        # Rebuild the mask from our runs (column-major, starting with zeros) and compare.
        values = np.arange(len(runs)) % 2
        rebuilt = np.repeat(values, runs).reshape((w, h)).T
        assert np.array_equal(rebuilt, mask)
        assert rle_problem({"size": [h, w], "counts": compressed["counts"].decode()}, h, w) is None
        assert rle_problem({"size": [h, w], "counts": [int(v) for v in runs]}, h, w) is None


def test_json_nested_too_deep(tmp_path):
    folder = tmp_path / "deep"
    folder.mkdir()
    (folder / "_annotations.coco.json").write_text("[" * 100_000 + "]" * 100_000)
    recs = read_coco(folder / "_annotations.coco.json", "all")
    (p,) = recs.problems
    assert "nested deeper than can be read" in p.message and p.file.endswith("_annotations.coco.json")


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height (its pixel data is a stub: only the header is read)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "side, declared, severity",
    [
        # a 20000 x 20000 file declared 512 x 512 (PIL's own bomb error): kept at the declared size, not shown
        (20_000, 512, "warning"),
        # 10000 x 10000: under PIL's error, over this product's bound
        (10_000, 512, "warning"),
        # declared at its true, too large size too: no usable size at all, so skipped
        (20_000, 20_000, "error"),
    ],
)
def test_oversized_frames_are_refused_before_decoding(tmp_path, side, declared, severity):
    folder = tmp_path / "big"
    name = "S0000000001_U_big.png"
    write_split(folder, coco([GOOD, image(2, name=name, width=declared, height=declared)], [GOOD_ANN]),
                with_images=False)
    _write_frames(folder, [GOOD["file_name"]])
    (folder / name).write_bytes(_png_header(side, side))
    ds = load_dataset(folder)
    p = _one(ds, "image id 2", "too large")
    assert p.severity == severity
    assert (2 in set(ds.images["coco_id"])) == (severity == "warning")
    assert load_frame(folder / name) is None  # never handed to the decoder


def test_oversized_frame_in_the_yolo_layout(tmp_path):
    root = tmp_path / "y"
    (root / "train" / "images").mkdir(parents=True)
    (root / "train" / "labels").mkdir()
    (root / "data.yaml").write_text("names: [central-ring, other, read-out-streak, smoke-ring, star-loop]\nnc: 5\n")
    cv2.imwrite(str(root / "train" / "images" / "S0000000001_U_ok.png"), np.zeros((16, 16), np.uint8))
    (root / "train" / "images" / "S0000000002_U_big.png").write_bytes(_png_header(20_000, 20_000))
    (root / "train" / "labels" / "S0000000002_U_big.txt").write_text("0 0.1 0.1 0.5 0.1 0.5 0.5\n")
    ds = load_dataset(root)
    assert list(ds.images["file_name"]) == ["S0000000001_U_ok.png"]
    p = _one(ds, "S0000000002_U_big.png", "too large")
    assert p.severity == "error"


def test_exif_orientation_is_reported_and_pixels_shown_as_stored(tmp_path):
    folder = tmp_path / "exif"
    name = "S0000000003_U_rot.jpg"
    write_split(folder, coco([GOOD, image(3, name=name, width=32, height=16)], [GOOD_ANN]), with_images=False)
    _write_frames(folder, [GOOD["file_name"]])
    pixels = np.zeros((16, 32), np.uint8)
    pixels[:, :8] = 255  # a bright band on the left, as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(pixels).save(folder / name, exif=exif.tobytes())
    ds = load_dataset(folder)
    _one(ds, "image id 3", "EXIF orientation 6", "shown as stored", severity="warning")
    frame = load_frame(folder / name)
    assert frame.shape == (16, 32) and frame[:, :8].mean() > 200 and frame[:, 16:].mean() < 50
    row = ds.images.set_index("coco_id").loc[3]
    assert (row["width"], row["height"]) == (32, 16)


def test_two_records_pointing_at_one_file(tmp_path):
    twin = image(2, name=GOOD["file_name"], width=16, height=16)
    ds = _load_records(tmp_path, [GOOD, twin], [GOOD_ANN])
    assert len(ds.images) == 2
    _one(ds, "image id 2", "points at the same file as image id 1", severity="warning")


def test_symbolic_link_out_of_the_dataset_is_not_read(tmp_path):
    outside = tmp_path / "private"
    _write_frames(outside, ["secret.jpg"])
    folder = tmp_path / "d"
    name = "S0000000004_U_link.jpg"
    write_split(folder, coco([GOOD, image(4, name=name, width=16, height=16)], [GOOD_ANN]), with_images=False)
    _write_frames(folder, [GOOD["file_name"]])
    (folder / name).symlink_to(outside / "secret.jpg")
    ds = load_dataset(folder)
    row = ds.images.set_index("coco_id").loc[4]
    assert row["file_status"] == "outside the dataset folder" and row["path"] == "" and not row["has_file"]
    p = _one(ds, "image id 4", "outside the dataset folder")
    assert "secret" not in str(p)


def test_symbolic_link_loop_is_unreadable_not_a_crash(tmp_path):
    folder = tmp_path / "d"
    name = "S0000000005_U_loop.jpg"
    write_split(folder, coco([GOOD, image(5, name=name, width=16, height=16)], [GOOD_ANN]), with_images=False)
    _write_frames(folder, [GOOD["file_name"]])
    (folder / name).symlink_to(folder / name)
    ds = load_dataset(folder)
    assert ds.images.set_index("coco_id").loc[5, "file_status"] == "unreadable"
    _one(ds, "image id 5", "unreadable")


# ---------------------------------------------------------------------------------------
# The same kind of JSON at the other places it enters


DEEP = "[" * 100_000 + "]" * 100_000


def test_deep_json_as_observation_metadata(tmp_path):
    path = tmp_path / "obs_info_1024_all.json"
    path.write_text(DEEP)
    with pytest.raises(XamiDataError, match="nested deeper than can be read"):
        read_obs_info(path)


def test_deep_json_in_a_fold_folder_falls_back_to_its_image_files(tmp_path):
    part = tmp_path / "mskf_0" / "valid"
    _write_frames(part, ["S0000000001_U_a.jpg"])
    (part / "_annotations.coco.json").write_text(DEEP)
    assert _names_in_folder(part) == ["S0000000001_U_a.jpg"]


@pytest.mark.parametrize(
    "width, height, declared_width, declared_height, text",
    [
        # sizes agree
        (512, 512, 512, 512, "512×512 px"),
        # the file is larger than declared
        (1024, 1024, 512, 512, "1024×1024 px (the file's size; its annotation file declares 512×512)"),
        # the declared size was unusable (e.g. width true)
        (512, 512, 0, 0, "512×512 px (the file's size; its annotation file declares no usable size)"),
    ],
)
def test_frame_size_text(width, height, declared_width, declared_height, text):
    row = pd.Series({"width": width, "height": height, "declared_width": declared_width,
                     "declared_height": declared_height})
    assert frame_size_text(row) == text


def test_unknown_filter_letter_and_missing_key_are_said(tmp_path):
    names = ["S0000000001_X_a.jpg", "S0000000002_X_b.jpg", "frame.jpg", "S0000000003_U_c.jpg"]
    ds = _load_records(tmp_path, [image(i, name=n, width=16, height=16) for i, n in enumerate(names, 1)], [])
    p = _one(ds, "filter letter 'X' in 2 file name(s) is not one of the seven XMM-OM filters",
             "listed as 'X (unknown filter)'")
    assert p.severity == "warning"
    _one(ds, "1 file name(s) do not start with an observation key", "listed under 'no observation key'")
    assert list(ds.images["filter_name"]) == ["X (unknown filter)", "X (unknown filter)", "no observation key", "U"]


# ---------------------------------------------------------------------------------------
# Found by trying to break the loader


@pytest.mark.parametrize(
    "change, needles, kept",
    [
        # digits that str.isdigit accepts but int() does not
        ({"image_id": "²"}, ("image_id '²' is not an image of this file",), False),
        # a digit string longer than any id
        ({"image_id": "9" * 5000}, ("is not an image of this file",), False),
        # the same for a category id
        ({"category_id": "²"}, ("category_id '²' is not a known category",), False),
        # a stored area that is negative: the mask area is used, with a word
        ({"area": -100}, ("expected an area from 0 to 256 px, found -100",), True),
        # a stored area that is not a number
        ({"area": "12"}, ("found '12'; the mask area is used instead",), True),
        # an RLE string with a non-ASCII character
        ({"segmentation": {"size": [16, 16], "counts": "€T3]l3"}}, ("non-ASCII",), False),
    ],
)
def test_inputs_found_by_a_reviewer(tmp_path, change, needles, kept):
    ann = {**polygon_ann(5, 1, 3, square(2, 2, 4)), **change}
    ds = _load_records(tmp_path, [GOOD], [GOOD_ANN, ann])
    assert len(ds.annotations) == (2 if kept else 1)
    _one(ds, *needles)


def test_string_category_ids_are_refused_by_name(tmp_path):
    cats = [{"id": "a", "name": "foo", "supercategory": ""}, {"id": 1, "name": "bar", "supercategory": ""}]
    folder = tmp_path / "d"
    write_split(folder, coco([GOOD], [polygon_ann(1, 1, "a", square(2, 2, 4)), polygon_ann(2, 1, 1, square(2, 2, 4))],
                             categories=cats), with_images=False)
    _write_frames(folder, [GOOD["file_name"]])
    ds = load_dataset(folder)
    assert list(ds.annotations["class_name"]) == ["bar"]
    _one(ds, "category 'foo'", "expected an integer category id, found the string 'a'")


def test_too_many_polygon_parts_are_cut(tmp_path):
    tri = [1, 1, 3, 1, 2, 3]
    ann = polygon_ann(5, 1, 3, *([tri] * 1500))
    ds = _load_records(tmp_path, [GOOD], [ann])
    _one(ds, "1,500 polygon parts, more than 1,000")
    assert ds.annotations["n_parts"].tolist() == [1000]


def test_a_fifo_named_as_a_frame_does_not_block(tmp_path):
    folder = tmp_path / "d"
    name = "S0000000006_U_fifo.jpg"
    write_split(folder, coco([GOOD, image(6, name=name, width=16, height=16)], [GOOD_ANN]), with_images=False)
    _write_frames(folder, [GOOD["file_name"]])
    os.mkfifo(folder / name)
    ds = load_dataset(folder)
    _one(ds, "image id 6", "unreadable (not a regular file)")
    assert load_frame(folder / name) is None


def test_more_classes_than_class_bits_is_said(tmp_path):
    cats = [{"id": i, "name": f"c{i}", "supercategory": ""} for i in range(1, 71)]
    folder = tmp_path / "d"
    write_split(folder, coco([GOOD], [polygon_ann(1, 1, 65, square(2, 2, 4))], categories=cats), with_images=False)
    _write_frames(folder, [GOOD["file_name"]])
    ds = load_dataset(folder)
    _one(ds, "70 classes", "the first 63 only", severity="warning")
    assert ds.annotations["class_name"].tolist() == ["c65"]


@pytest.mark.parametrize(
    "yaml_text, needles",
    [
        # a key that int() accepts but that is not the plain id
        ("names: {'0 ': a, 1: b}\n", ("expected integer class ids as keys, found '0 '",)),
        # the same class twice
        ("names: [artefacts, artefacts, star-loop]\n", ("expected distinct class names, found ['artefacts']",)),
        # a YAML alias bomb in nc: refused at its first anchor, the message stays short (issue 16)
        ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
         "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
         "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
         "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
         "names: [a, b]\nnc: *h\n", ("data.yaml uses YAML aliases (&/*), which this reader refuses",)),
        # a split folder name longer than the file system allows
        ("names: [a]\ntrain: " + "x" * 400 + "\n", ("not found",)),
    ],
)
def test_yolo_data_yaml_members_of_each_kind(tmp_path, yaml_text, needles):
    from xami_core.io.yolo import read_yolo

    root = tmp_path / "y"
    (root / "train" / "images").mkdir(parents=True)
    (root / "train" / "labels").mkdir()
    (root / "data.yaml").write_text(yaml_text)
    cv2.imwrite(str(root / "train" / "images" / "S0000000001_U_a.png"), np.zeros((16, 16), np.uint8))
    parts, problems = read_yolo(root)
    found = problems + [p for r in parts for p in r.problems]
    hits = [p for p in found if all(n in p.message for n in needles)]
    assert len(hits) == 1, [str(p) for p in found]
    assert len(hits[0].message) < 400


def test_fingerprint_of_a_huge_tree_answers_at_once(tmp_path):
    # "/" used to be walked in full; now only the files the loader would read are looked at.
    from xami_core.io.loader import source_fingerprint

    assert source_fingerprint(Path("/")) == ("/", "no layout")


def _ring(n: int, cx: float, cy: float, r: float) -> list[float]:
    """A closed ring of `n` vertices as a flat x, y list (px)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.round(np.column_stack([cx + r * np.cos(t), cy + r * np.sin(t)]), 3).ravel().tolist()


@pytest.mark.parametrize("reader", ["coco", "yolo", "predictions"])
def test_more_vertices_than_the_limit_are_bounded_in_every_reader(tmp_path, reader):
    # limits.MAX_POLYGON_VERTICES (100,000) per annotation, in each reader a polygon enters by: COCO keeps the
    # parts within the limit, YOLO skips the line, the predictions reader leaves the record out; each says so.
    from xami_core.io import predictions as P
    from xami_core.limits import MAX_POLYGON_VERTICES

    half = MAX_POLYGON_VERTICES // 2 + 10  # two parts: the second goes past the limit
    if reader == "coco":
        ann = polygon_ann(5, 1, 3, _ring(half, 8, 8, 4), _ring(half, 8, 8, 3))
        ds = _load_records(tmp_path, [GOOD, image(2, width=16, height=16)], [ann, polygon_ann(6, 2, 3, square(2, 2, 4))])
        _one(ds, "annotation id 5", "more than 100,000 vertices in one annotation")
        assert ds.annotations["n_parts"].tolist() == [1, 1]  # the first part kept, the other annotation whole
    elif reader == "yolo":
        from tests.test_yolo import _tiny_yolo

        ring = np.array(_ring(2 * half, 20, 15, 10)) / np.tile([40, 30], 2 * half)
        line = "0 " + " ".join(f"{v:.5f}" for v in ring)
        folder = _tiny_yolo(tmp_path / "y", f"{line}\n1 0.1 0.1 0.3 0.1 0.3 0.3\n")
        ds = load_dataset(folder)
        _one(ds, "more than 100,000 vertices; line skipped")
        assert len(ds.annotations) == 1
    else:
        ds = _load_records(tmp_path, [GOOD], [GOOD_ANN])
        records = [{"image_id": 1, "category_id": 3, "score": 0.9, "segmentation": [_ring(2 * half, 8, 8, 4)]},
                   {"image_id": 1, "category_id": 3, "score": 0.8, "segmentation": [square(2, 2, 4)]}]
        path = tmp_path / "results.json"
        path.write_text(json.dumps(records))
        preds = P.read_coco_results(path, ds)
        assert len(preds.table) == 1 and preds.left_out == {P.BAD_GEOMETRY: 1}
        assert [p for p in preds.problems if "more than 100,000 vertices" in p.message]
