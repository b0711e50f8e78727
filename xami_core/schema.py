"""The columns of a `Dataset`'s three tables, written down once: name, dtype, unit and meaning.

This is the one place the columns are described; `io.tables.build_dataset` makes them and
`Dataset` checks them when it is made (`table_mismatch`: names and dtypes, never the rows).

Coordinates are pixels of the image's canvas (`images.width` x `images.height`), origin at the
top-left corner of the frame, x to the right and y down, as COCO writes them. Two families of
geometry sit side by side in `annotations`: what the file stores (`bbox_*`, `area`) and what is
recomputed from the mask (`mask_box_*`, `mask_area`, `polygon_area`, `cx`, `cy`); Roboflow's
stored boxes do not always match their polygons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.types import is_object_dtype, is_string_dtype

from xami_core.polygons import POLYGON_TYPE

# Column dtypes, by what the check accepts.
INT = "int64"
FLOAT = "float64"
BOOL = "bool"
TEXT = "str"  # pandas' string dtype (pandas 3) or object holding text (pandas 2); missing is NaN
RECORD_ID = "int64 or str"  # a record's id in its file: integers, strings, or a mix (object)
OBJECT = "object"  # Python objects: lists, dicts, frozensets
POLYGONS = "list<list<float64>>"  # Arrow nested lists: flat coordinates with offsets (`xami_core.polygons`)


@dataclass(frozen=True)
class Column:
    """One column of a `Dataset` table: its name, dtype (one of the kinds above), unit and meaning."""

    name: str
    dtype: str
    unit: str
    doc: str


PX = "px"
PX2 = "px²"

IMAGE_COLUMNS: tuple[Column, ...] = (
    Column("image_id", INT, "", "row id, 0..n-1 in load order (splits in their conventional order, then file "
                                "order); unique across splits, and the row's position in the table"),
    Column("split", TEXT, "", "the split the image belongs to: train, valid, test, all (no_splits) or the "
                              "folder's own name"),
    Column("coco_id", RECORD_ID, "", "the image's id in its annotation file (YOLO: its index among the split's "
                                     "image files, sorted by name); unique within a split only"),
    Column("file_name", TEXT, "", "the image's file name as the annotation file writes it (may carry a folder)"),
    Column("width", INT, PX, "width of the canvas the numbers use: the file's own width when it opens, else "
                             "the declared one"),
    Column("height", INT, PX, "height of the canvas the numbers use (see width)"),
    Column("declared_width", INT, PX, "width the annotation file declares; 0 when it declares nothing usable"),
    Column("declared_height", INT, PX, "height the annotation file declares; 0 when it declares nothing usable"),
    Column("path", TEXT, "", "where the image file is (absolute path), whether or not it exists"),
    Column("file_status", TEXT, "", "what reading the file's header found: ok, missing, unreadable, ... "
                                    "(`io.image_files.FILE_*`)"),
    Column("exif_orientation", INT, "", "the file's EXIF orientation tag (0: none, 1: upright); frames are "
                                        "shown as stored"),
    Column("has_file", BOOL, "", "whether the file opens (file_status is ok)"),
    Column("obs_key", TEXT, "", "the 13-character observation key of the file name, S + 10-digit ObsID + _ + "
                                "filter letter (S0123456789_M); NaN when the name has none. The metadata key is "
                                "obs_key + '.fits'"),
    Column("obsid", TEXT, "", "the 10-digit XMM-Newton ObsID of obs_key, as text (leading zeros kept); NaN "
                              "without an observation key"),
    Column("filter_letter", TEXT, "", "the XMM-OM filter letter of obs_key (V B U L M S W, see "
                                      "`model.FILTERS`); NaN without an observation key"),
    Column("filter_name", TEXT, "", "the filter's name (`model.filter_name`): UVW1, White, 'X (unknown "
                                    "filter)' or 'no observation key'; never missing"),
    Column("wavelength_nm", FLOAT, "nm", "the filter's effective wavelength; NaN for White (broad band) and "
                                         "unknown filters"),
    Column("n_annotations", INT, "", "how many annotations the image has (0: a hard negative)"),
    Column("class_bits", INT, "", "the image's classes as a bitset: bit i set when it has an annotation of "
                                  "categories.name[i] (the first 63 classes only)"),
    Column("strat_label", TEXT, "", "the authors' stratification string: the image's distinct category ids "
                                    "(the file's own) as text, sorted as text and joined ('345'; '' without "
                                    "annotations)"),
    Column("classes", OBJECT, "", "frozenset of the image's class names (every class, however many)"),
)

ANNOTATION_COLUMNS: tuple[Column, ...] = (
    Column("ann_id", INT, "", "row id, 0..n-1 in load order; unique across splits"),
    Column("image_id", INT, "", "the annotation's image (images.image_id)"),
    Column("split", TEXT, "", "the split of its image"),
    Column("coco_id", RECORD_ID, "", "the annotation's id in its file (YOLO: its running number in the split)"),
    Column("category_id", INT, "", "the category id as the file writes it (YOLO: XAMI's id for XAMI's names, else class id + 1)"),
    Column("class_name", TEXT, "", "the class name (categories.name)"),
    Column("class_id", INT, "", "the class's id in the categories table (XAMI's ids for XAMI's five names)"),
    Column("kind", TEXT, "", "what the mask is: polygon, rle, or box (a box-only annotation: its stored bbox)"),
    Column("segmentation", POLYGONS, PX, "polygon: its parts, each the flat x1, y1, x2, y2, ... coordinates; "
                                         "null for rle and box. Stored column-wise (one coordinate buffer with "
                                         "offsets); read rows with `polygons.polygon_parts` / `mask_cells`"),
    Column("rle", OBJECT, "", "rle: the COCO RLE dict as written ({'size': [h, w], 'counts': ...}); None for "
                              "polygon and box"),
    Column("bbox_x", FLOAT, PX, "left edge of the box the file stores (COCO bbox x); NaN when none is usable"),
    Column("bbox_y", FLOAT, PX, "top edge of the stored box (COCO bbox y); NaN when none is usable"),
    Column("bbox_w", FLOAT, PX, "width of the stored box (COCO bbox w); NaN when none is usable"),
    Column("bbox_h", FLOAT, PX, "height of the stored box (COCO bbox h); NaN when none is usable"),
    Column("area", FLOAT, PX2, "the area the file stores (COCO area); mask_area when it stores none usable"),
    Column("mask_box_x", FLOAT, PX, "left edge of the box recomputed from the mask (polygon vertices, RLE "
                                    "pixels; box-only: the stored box)"),
    Column("mask_box_y", FLOAT, PX, "top edge of the box recomputed from the mask"),
    Column("mask_box_w", FLOAT, PX, "width of the box recomputed from the mask"),
    Column("mask_box_h", FLOAT, PX, "height of the box recomputed from the mask"),
    Column("mask_area", FLOAT, PX2, "pixels of the mask as pycocotools rasterises it (parts merged); "
                                    "box-only: bbox_w * bbox_h"),
    Column("polygon_area", FLOAT, PX2, "exact area of the polygon parts (shoelace, summed); NaN for RLE and "
                                       "box-only annotations"),
    Column("cx", FLOAT, PX, "x of the mask's centroid (area-weighted over polygon parts, pixel centres for "
                            "RLE, the box centre for box-only)"),
    Column("cy", FLOAT, PX, "y of the mask's centroid (see cx)"),
    Column("n_vertices", INT, "", "polygon vertices over all parts (0 for RLE and box-only)"),
    Column("n_parts", INT, "", "polygon parts (0 for RLE and box-only)"),
)

CATEGORY_COLUMNS: tuple[Column, ...] = (
    Column("class_id", INT, "", "the class's id: XAMI's id for its five names (1 central-ring ... 5 "
                                "star-loop), else the file's own; rows in this order"),
    Column("name", TEXT, "", "the class name; unique"),
    Column("supercategory", TEXT, "", "the file's supercategory ('' when none)"),
    Column("colour", TEXT, "", "the class's default colour as CSS hex '#rrggbb' (`model.class_colours`, the "
                               "authors' palette)"),
)

# Table name (the `Dataset` attribute) -> its columns, in table order.
TABLES: dict[str, tuple[Column, ...]] = {
    "images": IMAGE_COLUMNS,
    "annotations": ANNOTATION_COLUMNS,
    "categories": CATEGORY_COLUMNS,
}


def _dtype_fits(dtype: object, kind: str) -> bool:
    """Whether a column's dtype is of a schema kind (a dtype comparison, no look at the values)."""
    if kind == INT:
        return dtype == np.dtype(np.int64)
    if kind == FLOAT:
        return dtype == np.dtype(np.float64)
    if kind == BOOL:
        return dtype == np.dtype(np.bool_)
    if kind == TEXT:
        return is_string_dtype(dtype)
    if kind == POLYGONS:
        return isinstance(dtype, pd.ArrowDtype) and dtype.pyarrow_dtype == POLYGON_TYPE
    if kind == RECORD_ID:
        return dtype == np.dtype(np.int64) or is_string_dtype(dtype) or is_object_dtype(dtype)
    return is_object_dtype(dtype)


def table_mismatch(table: str, frame: pd.DataFrame) -> str | None:
    """What is wrong with one table against the schema, or None when its columns match.

    Checks that every column of `TABLES[table]` is present with its dtype and that there is no
    other column; it compares dtypes only, so it costs the same for ten rows or ten million.

    Raises:
        KeyError: `table` is not one of `TABLES`.
    """
    columns = TABLES[table]
    expected = [c.name for c in columns]
    if frame.columns.has_duplicates:
        repeated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        return f"the {table} table has column(s) {', '.join(repr(r) for r in repeated)} more than once"
    missing = [name for name in expected if name not in frame.columns]
    if missing:
        return f"the {table} table has no column {', '.join(repr(m) for m in missing)} (expected: {', '.join(expected)})"
    extra = [str(name) for name in frame.columns if name not in expected]
    if extra:
        return (f"the {table} table has column(s) {', '.join(repr(e) for e in extra)} that the schema does not "
                "describe (xami_core/schema.py)")
    for column in columns:
        dtype = frame[column.name].dtype
        if not _dtype_fits(dtype, column.dtype):
            return f"the {table} table's column {column.name!r} has dtype {dtype}, expected {column.dtype}"
    return None
