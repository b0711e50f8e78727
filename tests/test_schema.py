"""The column schema (xami_core/schema.py): what the loader builds matches it, and a Dataset that does not is refused."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

from tests import builders as b
from xami_core import load_dataset, sample_root, schema
from xami_core.model import CLASS_NAMES, Dataset, SchemaError, XamiDataError
from xami_core.polygons import POLYGON_DTYPE
from xami_core.schema import (
    ANNOTATION_COLUMNS,
    CATEGORY_COLUMNS,
    IMAGE_COLUMNS,
    OBJECT,
    POLYGONS,
    RECORD_ID,
    TABLES,
    TEXT,
    table_mismatch,
)


def _yolo(root: Path) -> Path:
    """A two-image YOLOv8-seg dataset: a polygon, a box line, and an image without labels."""
    (root / "train" / "images").mkdir(parents=True)
    (root / "train" / "labels").mkdir()
    for name in ("S0100000001_L.jpg", "S0100000002_V.jpg"):
        cv2.imwrite(str(root / "train" / "images" / name), np.full((32, 32), 30, np.uint8))
    (root / "train" / "labels" / "S0100000001_L.txt").write_text("2 0.1 0.1 0.5 0.1 0.5 0.5\n0 0.5 0.5 0.2 0.2\n")
    (root / "data.yaml").write_text(yaml.safe_dump({"train": "train/images", "names": list(CLASS_NAMES)}))
    return root


def _coco(root: Path) -> Path:
    """Train and valid COCO files: polygons, a box-only annotation, an RLE, a hard negative."""
    rle = {"id": 3, "image_id": 2, "category_id": 5, "bbox": [0, 0, 2, 2], "area": 4, "iscrowd": 1,
           "segmentation": {"size": [64, 64], "counts": [0, 2, 62, 2, 64 * 64 - 66]}}
    b.write_split(root / "train", b.coco(
        [b.image(1, width=64, height=64), b.image(2, width=64, height=64), b.image(3, width=64, height=64)],
        [b.polygon_ann(1, 1, 3, b.square(1, 1, 5), b.square(20, 20, 4)), b.box_ann(2, 1, 4, [2, 2, 3, 3]), rle]))
    b.write_split(root / "valid", b.coco([b.image(1, width=64, height=64)], [b.polygon_ann(1, 1, 1, b.square(1, 1, 5))]))
    return root


def _string_ids(root: Path) -> Path:
    """Ids written as strings (COCO allows them), one image without an observation key."""
    b.write_split(root, b.coco([b.image("a", name=b.file_name(7)), b.image("b", name="frame.jpg")],
                               [b.polygon_ann("x", "a", 3, b.square(1, 1, 5))]))
    return root


def _no_annotations(root: Path) -> Path:
    """Only hard negatives: the annotations table has no rows but still every column and dtype."""
    b.write_split(root, b.coco([b.image(1)], []))
    return root


def _no_categories(root: Path) -> Path:
    """A file with no categories at all: the categories table has no rows but keeps its dtypes."""
    b.write_split(root, b.coco([b.image(1)], [], categories=[]))
    return root


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Dataset]:
    """The sample and each fixture layout, loaded."""
    tmp = tmp_path_factory.mktemp("schema")
    return {
        "sample": load_dataset(sample_root()),
        "coco": load_dataset(_coco(tmp / "coco")),
        "string ids": load_dataset(_string_ids(tmp / "ids")),
        "no annotations": load_dataset(_no_annotations(tmp / "empty")),
        "no categories": load_dataset(_no_categories(tmp / "no categories")),
        "yolo": load_dataset(_yolo(tmp / "yolo")),
        "filter mix": load_dataset(b.write_filter_mix(tmp / "mix")),
    }


@pytest.mark.parametrize("source", ["sample", "coco", "string ids", "no annotations", "no categories", "yolo",
                                    "filter mix"])
@pytest.mark.parametrize("table", list(TABLES))
def test_loader_builds_the_schema(loaded, source, table):
    frame = getattr(loaded[source], table)
    assert list(frame.columns) == [c.name for c in TABLES[table]]  # the schema's order, no column more or less
    assert table_mismatch(table, frame) is None


def test_fixtures_cover_every_kind(loaded):
    assert set(loaded["coco"].annotations["kind"]) == {"polygon", "box", "rle"}
    assert len(loaded["no annotations"].annotations) == 0
    assert len(loaded["no categories"].categories) == 0
    assert loaded["string ids"].images["coco_id"].tolist() == ["a", "b"]
    assert loaded["string ids"].images["obs_key"].isna().sum() == 1


def test_schema_is_well_formed():
    for columns in TABLES.values():
        names = [c.name for c in columns]
        assert len(names) == len(set(names))  # one description per column
        assert all(c.doc for c in columns)  # every column says what it holds
    assert {"bbox_x", "area", "mask_box_x", "mask_area", "polygon_area"} <= {c.name for c in ANNOTATION_COLUMNS}
    units = {c.name: c.unit for c in (*IMAGE_COLUMNS, *ANNOTATION_COLUMNS, *CATEGORY_COLUMNS)}
    assert units["width"] == "px" and units["mask_area"] == "px²" and units["wavelength_nm"] == "nm"


def _drop(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    return frame.drop(columns=column)


def _retype(frame: pd.DataFrame, column: str, dtype: object) -> pd.DataFrame:
    return frame.assign(**{column: frame[column].astype(dtype)})


@pytest.mark.parametrize(("table", "change", "message"), [
    # a column missing
    ("images", lambda f: _drop(f, "obs_key"), "the images table has no column 'obs_key'"),
    ("annotations", lambda f: _drop(f, "mask_area"), "the annotations table has no column 'mask_area'"),
    ("categories", lambda f: _drop(f, "colour"), "the categories table has no column 'colour'"),
    # a column of another dtype
    ("images", lambda f: _retype(f, "width", "float64"), "the images table's column 'width' has dtype float64, expected int64"),
    ("images", lambda f: _retype(f, "has_file", "int64"), "column 'has_file' has dtype int64, expected bool"),
    ("annotations", lambda f: _retype(f, "bbox_x", "float32"), "column 'bbox_x' has dtype float32, expected float64"),
    ("annotations", lambda f: _retype(f, "coco_id", "float64"), "column 'coco_id' has dtype float64, expected int64 or str"),
    ("categories", lambda f: _retype(f, "class_id", "int32"), "the categories table's column 'class_id' has dtype int32"),
    ("categories", lambda f: _retype(f, "name", "category"), "column 'name' has dtype category, expected str"),
    # a column the schema does not describe
    ("images", lambda f: f.assign(label=""), "the images table has column(s) 'label' that the schema does not describe"),
    # the same column twice
    ("categories", lambda f: pd.concat([f, f[["name"]]], axis=1), "the categories table has column(s) 'name' more than once"),
])
def test_a_dataset_that_breaks_the_schema_is_refused(loaded, table, change, message):
    ds = loaded["coco"]
    with pytest.raises(SchemaError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        replace(ds, **{table: change(getattr(ds, table))})
    assert str(caught.value).startswith(ds.provenance.path)  # names the source too
    assert isinstance(caught.value, XamiDataError)  # shown by the pages like any load error


@pytest.mark.parametrize(("kind", "dtype", "fits"), [
    (TEXT, "object", True),  # text held as Python objects (pandas 2)
    (TEXT, "str", True),  # pandas' string dtype
    (TEXT, "int64", False),
    (RECORD_ID, "int64", True),  # integer ids
    (RECORD_ID, "str", True),  # string ids
    (RECORD_ID, "object", True),  # a mix of integer and string ids
    (RECORD_ID, "float64", False),  # what pandas makes of an empty list
    (OBJECT, "object", True),  # lists, dicts, frozensets
    (OBJECT, "float64", False),
    (POLYGONS, POLYGON_DTYPE, True),  # flat coordinates with offsets (Arrow nested lists)
    (POLYGONS, "object", False),  # Python lists in cells: the layout the index no longer uses
])
def test_dtype_kinds(kind, dtype, fits):
    assert schema._dtype_fits(pd.Series([], dtype=dtype).dtype, kind) is fits
