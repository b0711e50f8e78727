"""Recognising XAMI data, and the terms shown for data that is not XAMI (xami_core/provenance.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import builders as b
from xami_core import load_dataset
from xami_core.io.coco import SplitRecords
from xami_core.io.hub import HUB_SOURCE
from xami_core.io.provenance import (
    NOT_STATED,
    description_from_files,
    licence_from_files,
    make_provenance,
    recognise_xami,
)
from xami_core.model import XAMI_CITATION, XAMI_LICENCE, XAMI_URL

CC_BY = {"id": 1, "url": "https://creativecommons.org/licenses/by/4.0/", "name": "CC BY 4.0"}
CC_BY_TEXT = "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)"
ROBOFLOW_INFO = {"year": "2023", "version": "3", "description": "Exported from roboflow.com", "contributor": "Jane Doe",
                 "url": "https://universe.roboflow.com/some/plants", "date_created": "2023-05-01T10:00:00+00:00"}
TEN_CLASSES = [f"plant-{i}" for i in range(10)]


def split(images: list[dict], categories: list[dict] | None = None, info: dict | None = None,
          licenses: list[dict] | None = None, name: str = "train") -> SplitRecords:
    """The records a reader hands over, built directly (recognition only looks at names and blocks)."""
    return SplitRecords(split=name, source_file=f"{name}/_annotations.coco.json", image_dir=Path(name), images=images,
                        categories=categories if categories is not None else b.XAMI_CATEGORIES,
                        info=info or {}, licenses=licenses or [])


XAMI_IMAGES = [b.image(i) for i in range(3)]  # S01000000xx_L_png.rf....jpg
OTHER_IMAGES = [b.image(i, f"IMG_{i:04d}_jpg.rf.{'a' * 32}.jpg", 1024, 1024) for i in range(3)]


@pytest.mark.parametrize(
    ("parts", "source", "recognised", "why"),
    [
        # XAMI's five classes (and the parent) and XAMI observation file names
        ([split(XAMI_IMAGES)], "local", True, "XAMI's five classes, and all 3 file names in XAMI's observation naming"),
        # the same in two splits (a published layout) counts every file
        ([split(XAMI_IMAGES), split(XAMI_IMAGES[:1], name="valid")], "upload", True, "all 4 file names"),
        # a file path in front of the name (CVAT, Windows) does not matter: the base name is checked
        ([split([b.image(0, "images\\" + b.file_name(743200101, "V"))])], "local", True, "and 1 file name in"),
        # the app's own download of the published archives, whatever the files say
        ([split(OTHER_IMAGES, b.categories(TEN_CLASSES))], HUB_SOURCE, True, "Hugging Face Hub"),
        # another subject's export: ten classes of its own
        ([split(OTHER_IMAGES, b.categories(TEN_CLASSES))], "local", False,
         "its 10 classes (plant-0, plant-1, plant-2, plant-3, plant-4…) are not XAMI's"),
        # XAMI's class names but photos named otherwise: not recognised
        ([split(OTHER_IMAGES)], "local", False, "3 of 3 file names do not start with a XAMI observation key"),
        # one renamed frame among XAMI frames is enough to withhold XAMI's terms
        ([split([*XAMI_IMAGES, OTHER_IMAGES[0]])], "local", False, "1 of 4 file names"),
        # XAMI file names but only three of the five classes
        ([split(XAMI_IMAGES, b.XAMI_CATEGORIES[:4])], "local", False, "XAMI classes missing: smoke-ring, star-loop"),
        # XAMI's five plus one more
        ([split(XAMI_IMAGES, [*b.XAMI_CATEGORIES, {"id": 6, "name": "satellite", "supercategory": "artefacts"}])],
         "local", False, "classes not in XAMI: satellite"),
    ],
)
def test_recognition(parts, source, recognised, why):
    found, reason = recognise_xami(parts, source)
    assert found is recognised and why in reason


@pytest.mark.parametrize(
    ("licenses", "expected"),
    [
        ([CC_BY], CC_BY_TEXT),  # Roboflow's block: name and URL
        ([CC_BY, dict(CC_BY, id=2)], CC_BY_TEXT),  # the same licence twice (two ids, or two splits): once
        ([{"id": 1, "name": "CC0 1.0"}, CC_BY], f"CC0 1.0; {CC_BY_TEXT}"),  # two licences: both, in file order
        ([{"id": 1, "url": "https://example.org/terms"}], "https://example.org/terms"),  # a URL without a name
        ([{"id": 1, "name": "Public Domain", "url": "javascript:alert(1)"}], "Public Domain"),  # not a web URL: dropped
        ([{"id": 1, "name": ["CC BY"], "url": None}], NOT_STATED),  # names that are not text say nothing
        ([{"id": 1, "name": "   "}], NOT_STATED),  # blank
        ([], NOT_STATED),  # no block at all
    ],
)
def test_licence_from_files(licenses, expected):
    assert licence_from_files(licenses) == expected


@pytest.mark.parametrize(
    ("infos", "expected"),
    [
        # Roboflow's info block: description, contributor, year and URL, in that order
        ([ROBOFLOW_INFO], ("Exported from roboflow.com · contributor Jane Doe · 2023 · "
                           "https://universe.roboflow.com/some/plants", "https://universe.roboflow.com/some/plants")),
        # the same block in each split: said once
        ([ROBOFLOW_INFO, dict(ROBOFLOW_INFO)], ("Exported from roboflow.com · contributor Jane Doe · 2023 · "
                                                "https://universe.roboflow.com/some/plants",
                                                "https://universe.roboflow.com/some/plants")),
        # empty fields are left out; an integer year is text like any other
        ([{"description": "Rust on leaves", "contributor": "", "year": 2021}], ("Rust on leaves · 2021", "")),
        # new lines and runs of spaces become one line
        ([{"description": "two\n  lines"}], ("two lines", "")),
        # blocks that say nothing usable
        ([{}, {"version": "1"}], (NOT_STATED, "")),
        ([], (NOT_STATED, "")),
    ],
)
def test_description_from_files(infos, expected):
    assert description_from_files(infos) == expected


def test_a_very_long_description_is_cut():
    text, _ = description_from_files([{"description": "x" * 5000}])
    assert len(text) == 300 and text.endswith("…")


@pytest.mark.parametrize(
    ("coco", "licence", "citation", "url", "recognised"),
    [
        # a XAMI-like export: XAMI's terms, whatever its own placeholder blocks say
        (b.coco(XAMI_IMAGES, [], info={"description": "Exported from roboflow.com"}, licenses=[CC_BY]),
         XAMI_LICENCE, XAMI_CITATION, XAMI_URL, True),
        # another subject's export with its own blocks: those, never XAMI's
        (b.coco(OTHER_IMAGES, [], b.categories(TEN_CLASSES), info=ROBOFLOW_INFO, licenses=[CC_BY]),
         CC_BY_TEXT, "Exported from roboflow.com · contributor Jane Doe · 2023 · https://universe.roboflow.com/some/plants",
         "https://universe.roboflow.com/some/plants", False),
        # another export without any info or licenses block: "not stated"
        ({k: v for k, v in b.coco(OTHER_IMAGES, [], b.categories(TEN_CLASSES)).items() if k not in ("info", "licenses")},
         NOT_STATED, NOT_STATED, "", False),
    ],
)
def test_loaded_provenance(tmp_path, coco, licence, citation, url, recognised):
    b.write_split(tmp_path / "ds" / "train", coco)
    prov = load_dataset(tmp_path / "ds").provenance
    assert (prov.licence, prov.citation, prov.url, prov.recognised_xami) == (licence, citation, url, recognised)
    assert prov.recognition  # always says why


def test_the_licence_blocks_of_two_splits_are_merged(tmp_path):
    other = {"id": 1, "name": "ODbL", "url": "https://opendatacommons.org/licenses/odbl/"}
    b.write_split(tmp_path / "ds" / "train", b.coco(OTHER_IMAGES, [], b.categories(TEN_CLASSES), licenses=[CC_BY]))
    b.write_split(tmp_path / "ds" / "valid", b.coco(OTHER_IMAGES, [], b.categories(TEN_CLASSES), licenses=[CC_BY, other]))
    prov = load_dataset(tmp_path / "ds").provenance
    assert prov.licence == f"{CC_BY_TEXT}; ODbL (https://opendatacommons.org/licenses/odbl/)"


def test_synthetic_data_is_never_called_xami():
    prov = make_provenance([split(XAMI_IMAGES)], source="synthetic sample", path="x", layout="coco-single",
                           synthetic=True)
    assert not prov.recognised_xami and prov.licence == "synthetic, free to use" and prov.url == ""


def test_a_yolo_export_of_another_subject_states_nothing(tmp_path):
    # A YOLO export has no licence block: "not stated", and not XAMI.
    root = tmp_path / "yolo"
    (root / "train" / "images").mkdir(parents=True)
    (root / "train" / "labels").mkdir(parents=True)
    (root / "data.yaml").write_text("names: [cat, dog]\nnc: 2\ntrain: train/images\n")
    import cv2
    import numpy as np

    cv2.imwrite(str(root / "train" / "images" / "a.jpg"), np.zeros((32, 32), np.uint8))
    (root / "train" / "labels" / "a.txt").write_text("0 0.1 0.1 0.5 0.1 0.5 0.5\n")
    prov = load_dataset(root).provenance
    assert (prov.recognised_xami, prov.licence, prov.description) == (False, NOT_STATED, NOT_STATED)


@pytest.mark.parametrize(("info", "synthetic"), [
    ({"synthetic": True}, True),  # the mark the subset export writes
    ({"description": "Exported from roboflow.com", "synthetic": True}, True),  # beside other fields
    ({"synthetic": "true"}, False),  # text is not the mark: only the JSON boolean counts
    ({"synthetic": 1}, False),  # nor a number
    ({"synthetic": False}, False),  # marked real
    ({}, False),  # no mark
])
def test_a_hand_made_folder_marked_synthetic_loads_as_synthetic(tmp_path, info, synthetic):
    # XAMI's classes and file names: without the mark it would be recognised as XAMI.
    b.write_split(tmp_path / "ds" / "train", b.coco(XAMI_IMAGES, [], info=info, licenses=[CC_BY]))
    prov = load_dataset(tmp_path / "ds").provenance
    assert prov.synthetic is synthetic and prov.recognised_xami is not synthetic
    assert prov.label.startswith("Synthetic sample") is synthetic
    if synthetic:  # the files' own terms, never XAMI's
        assert (prov.licence, prov.url) == (CC_BY_TEXT, "") and "marks it generated" in prov.recognition
        assert prov.citation != XAMI_CITATION


def test_one_marked_split_marks_the_whole_dataset():
    parts = [split(XAMI_IMAGES), split(XAMI_IMAGES[:1], info={"synthetic": True}, name="valid")]
    prov = make_provenance(parts, source="local", path="x", layout="coco-splits")
    assert prov.synthetic and not prov.recognised_xami
