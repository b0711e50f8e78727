"""The YOLOv8-seg reader: same counts as the COCO original, and clear problems for bad lines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

from tests import builders as b
from xami_core import load_dataset, sample_root
from xami_core.io.yolo import read_yolo
from xami_core.model import CLASS_NAMES


def coco_to_yolo(src: Path, dst: Path, names: list[str] | None = None, yaml_style: str = "roboflow") -> Path:
    """An independent COCO -> YOLOv8-seg converter (Roboflow's layout), for the tests.

    Polygons: one line per annotation, its first part, normalised to 0..1; box-only
    annotations: a `class cx cy w h` line. Images are copied; no label file for an
    image without annotations.
    """
    names = names or list(CLASS_NAMES)
    splits = sorted(p.parent.name for p in src.glob("*/_annotations.coco.json"))
    for split in splits:
        data = json.loads((src / split / "_annotations.coco.json").read_text())
        cat_name = {c["id"]: c["name"] for c in data["categories"]}
        (dst / split / "images").mkdir(parents=True)
        (dst / split / "labels").mkdir()
        lines: dict[int, list[str]] = {}
        sizes = {im["id"]: (im["width"], im["height"]) for im in data["images"]}
        for a in data["annotations"]:
            w, h = sizes[a["image_id"]]
            cls = names.index(cat_name[a["category_id"]])
            if a["segmentation"]:
                xy = np.asarray(a["segmentation"][0], float).reshape(-1, 2) / [w, h]
                text = " ".join(f"{v:.6f}" for v in xy.ravel())
            else:
                x, y, bw, bh = a["bbox"]
                text = f"{(x + bw / 2) / w:.6f} {(y + bh / 2) / h:.6f} {bw / w:.6f} {bh / h:.6f}"
            lines.setdefault(a["image_id"], []).append(f"{cls} {text}")
        for im in data["images"]:
            shutil.copy(src / split / im["file_name"], dst / split / "images" / im["file_name"])
            if im["id"] in lines:
                (dst / split / "labels" / f"{Path(im['file_name']).stem}.txt").write_text("\n".join(lines[im["id"]]) + "\n")
    if yaml_style == "roboflow":  # paths relative to a parent folder, as Roboflow writes them
        spec = {"train": "../train/images", "val": "../valid/images", "test": "../test/images", "nc": len(names), "names": names}
    else:  # the ultralytics mapping form, paths relative to the root
        spec = {"train": "train/images", "val": "valid/images", "names": dict(enumerate(names))}
    (dst / "data.yaml").write_text(yaml.safe_dump(spec))
    return dst


def _single_polygons(src: Path, dst: Path) -> Path:
    """A copy of the sample keeping only each annotation's first polygon (YOLO holds one per line)."""
    shutil.copytree(src, dst)
    for path in dst.glob("*/_annotations.coco.json"):
        data = json.loads(path.read_text())
        for a in data["annotations"]:
            a["segmentation"] = a["segmentation"][:1]
        path.write_text(json.dumps(data))
    return dst


@pytest.fixture(scope="module")
def sample_pair(tmp_path_factory):
    """(COCO dataset, YOLO dataset) of the same synthetic sample."""
    base = tmp_path_factory.mktemp("yolo")
    coco_root = _single_polygons(sample_root(), base / "coco" / "xami_dataset")
    yolo_root = coco_to_yolo(coco_root, base / "yolo" / "xami_dataset_yolov8")
    return load_dataset(coco_root), load_dataset(yolo_root)


def test_yolo_variant_gives_the_same_counts(sample_pair):
    coco, yolo = sample_pair
    assert yolo.provenance.layout == "yolov8-seg"
    assert [p for p in yolo.problems if p.severity == "error"] == []
    per_class = ["split", "class_name"]
    assert coco.annotations.groupby(per_class).size().to_dict() == yolo.annotations.groupby(per_class).size().to_dict()
    # the same images per split, with the same label strings and annotation counts
    cols = ["split", "file_name", "width", "height", "n_annotations", "strat_label", "filter_letter"]
    left = coco.images[cols].sort_values(["split", "file_name"], ignore_index=True)
    right = yolo.images[cols].sort_values(["split", "file_name"], ignore_index=True)
    assert left.equals(right)
    assert list(coco.categories["name"]) == list(yolo.categories["name"])
    assert list(coco.categories["class_id"]) == list(yolo.categories["class_id"])


def test_yolo_geometry_matches_coco(sample_pair):
    # Six-decimal normalised coordinates on 512 px: pixel positions agree within 512e-6 px.
    coco, yolo = sample_pair
    def ordered(ds):
        ann = ds.annotations.merge(ds.images[["image_id", "file_name"]], on="image_id")
        keys = ann[["mask_box_x", "mask_box_y", "cx", "cy"]].round(1).add_prefix("r_")
        return pd.concat([ann, keys], axis=1).sort_values(["split", "file_name", "class_name", *keys.columns])

    a, b_ = ordered(coco), ordered(yolo)
    for col in ("mask_box_x", "mask_box_y", "mask_box_w", "mask_box_h", "cx", "cy"):
        np.testing.assert_allclose(a[col].to_numpy(), b_[col].to_numpy(), atol=2e-3)
    assert (a["kind"].to_numpy() == b_["kind"].to_numpy()).all()  # the box-only annotation stays a box


def test_yolo_mapping_names_and_root_relative_paths(tmp_path):
    coco_root = _single_polygons(sample_root(), tmp_path / "coco")
    yolo_root = coco_to_yolo(coco_root, tmp_path / "yolo", yaml_style="ultralytics")
    ds = load_dataset(yolo_root)
    assert set(ds.splits) == {"train", "valid"} and len(ds.images) == 160
    assert [p for p in ds.problems if p.severity == "error"] == []


def test_reordered_names_keep_xami_ids(tmp_path):
    # A data.yaml listing the XAMI classes in another order still maps names to the COCO ids.
    coco_root = _single_polygons(sample_root(), tmp_path / "coco")
    names = list(reversed(CLASS_NAMES))
    yolo_root = coco_to_yolo(coco_root, tmp_path / "yolo", names=names)
    coco, yolo = load_dataset(coco_root), load_dataset(yolo_root)
    assert dict(zip(yolo.categories["name"], yolo.categories["class_id"])) == dict(zip(coco.categories["name"], coco.categories["class_id"]))
    assert sorted(yolo.images["strat_label"]) == sorted(coco.images["strat_label"])


def _tiny_yolo(root: Path, label_text: str, names: object = None, size: tuple[int, int] = (40, 30)) -> Path:
    (root / "train" / "images").mkdir(parents=True)
    (root / "train" / "labels").mkdir()
    w, h = size
    name = b.file_name(743200101, "V")
    cv2.imwrite(str(root / "train" / "images" / name), np.zeros((h, w), np.uint8))
    (root / "train" / "labels" / f"{Path(name).stem}.txt").write_text(label_text)
    spec = {"train": "train/images", "names": names if names is not None else list(CLASS_NAMES), "nc": 5}
    (root / "data.yaml").write_text(yaml.safe_dump(spec))
    return root


@pytest.mark.parametrize(
    ("line", "record", "message", "severity"),
    [
        # a class id beyond data.yaml's names
        ("7 0.1 0.1 0.5 0.1 0.5 0.5", "line 2", "expected a class id 0..4 from data.yaml, found 7", "error"),
        # a word where a number should be
        ("2 0.1 zero 0.5 0.1 0.5 0.5", "line 2", "expected 'class x1 y1 x2 y2 ...' of numbers", "error"),
        # an odd number of coordinates
        ("2 0.1 0.1 0.5 0.1 0.5", "line 2", "found 5", "error"),
        # only two points
        ("2 0.1 0.1 0.5 0.5", None, None, None),  # 4 numbers: a box, valid
        # a polygon of two points (plus a stray value pair missing): too few numbers
        ("2 0.1 0.1", "line 2", "found 2", "error"),
        # a non-finite value
        ("2 0.1 nan 0.5 0.1 0.5 0.5", "line 2", "expected finite coordinates", "error"),
        # slightly outside 0..1 (an exporter's rounding at the edge): kept, with a warning
        ("2 -0.05 0.1 0.5 0.1 0.5 0.5", "line 2", "expected coordinates normalised to 0..1, found -0.05..0.5; kept",
         "warning"),
        # pixel coordinates instead of normalised ones: far outside the frame, so skipped (a
        # vertex at 30 frame widths would send the rasteriser into a canvas 30 times the frame)
        ("2 10 10 30 10 30 20", "line 2", "found 10..30, far outside the frame (allowed -1..2); line skipped", "error"),
        # a value far above 1 (the huge-coordinate case in YOLO form): skipped before any rasterising
        ("2 0.1 0.1 4e5 6e5 0.5 0.5", "line 2", "far outside the frame", "error"),
        # a box whose size is negative
        ("2 0.5 0.5 -0.2 0.2", "line 2", "far outside the frame", "error"),
    ],
)
def test_bad_lines_become_problems(tmp_path, line, record, message, severity):
    good = "3 0.1 0.1 0.9 0.1 0.9 0.9 0.1 0.9"
    root = _tiny_yolo(tmp_path / "y", f"{good}\n{line}\n\n")
    parts, problems = read_yolo(root)
    found = [p for r in parts for p in r.problems] + problems
    n_kept = sum(len(r.annotations) for r in parts)
    if record is None:
        assert found == [] and n_kept == 2
        return
    assert len(found) == 1
    (p,) = found
    assert p.record == record and message in p.message and p.severity == severity
    assert p.file.endswith(".txt")
    assert n_kept == (2 if severity == "warning" else 1)


def test_pixels_from_image_size(tmp_path):
    # Normalised coordinates scale by each image's own width and height (read from the file).
    root = _tiny_yolo(tmp_path / "y", "0 0.25 0.5 0.75 0.5 0.75 1.0\n", size=(40, 30))
    parts, _ = read_yolo(root)
    (rec,) = parts
    assert rec.images[0]["width"] == 40 and rec.images[0]["height"] == 30
    assert rec.annotations[0]["parts"] == [[10.0, 15.0, 30.0, 15.0, 30.0, 30.0]]
    assert rec.annotations[0]["category_id"] == 1  # central-ring: YOLO 0 -> COCO 1


@pytest.mark.parametrize(
    ("data_yaml", "message"),
    [
        ("names: [a, b\n", "malformed YAML"),  # broken YAML
        ("- just\n- a list\n", "expected a mapping"),  # not a mapping
        ("nc: 2\n", "expected a list of class names"),  # no names
        ("names: {0: a, 2: b}\n", "expected class ids 0..1"),  # gaps in the ids
    ],
)
def test_bad_data_yaml(tmp_path, data_yaml, message):
    root = _tiny_yolo(tmp_path / "y", "")
    (root / "data.yaml").write_text(data_yaml)
    parts, problems = read_yolo(root)
    assert parts == [] and any(message in p.message for p in problems)
    assert problems[0].file.endswith("data.yaml")


def test_label_without_image_and_unreadable_image(tmp_path):
    root = _tiny_yolo(tmp_path / "y", "0 0.1 0.1 0.5 0.1 0.5 0.5\n")
    (root / "train" / "labels" / "orphan.txt").write_text("0 0.1 0.1 0.5 0.1 0.5 0.5\n")
    (root / "train" / "images" / "S0000000001_U_broken.jpg").write_bytes(b"not a jpeg")
    parts, _ = read_yolo(root)
    messages = {Path(p.file).name: p.message for p in parts[0].problems}
    assert "label file without a matching image" in messages["orphan.txt"]
    assert "cannot read the image size" in messages["S0000000001_U_broken.jpg"]
    assert len(parts[0].images) == 1
