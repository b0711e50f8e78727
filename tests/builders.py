"""Small builders that make COCO records and dataset folders in code."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

XAMI_CATEGORIES = [
    {"id": 0, "name": "artefacts", "supercategory": "none"},
    {"id": 1, "name": "central-ring", "supercategory": "artefacts"},
    {"id": 2, "name": "other", "supercategory": "artefacts"},
    {"id": 3, "name": "read-out-streak", "supercategory": "artefacts"},
    {"id": 4, "name": "smoke-ring", "supercategory": "artefacts"},
    {"id": 5, "name": "star-loop", "supercategory": "artefacts"},
]


def file_name(obsid: int, letter: str = "L", tag: str = "0") -> str:
    """A Roboflow-style name: S + 10-digit ObsID + _ + filter + _png.rf.<32 hex>.jpg."""
    return f"S{obsid:010d}_{letter}_png.rf.{(tag * 32)[:32]}.jpg"


def image(id: int, name: str | None = None, width: int = 512, height: int = 512, **extra: Any) -> dict:
    """One COCO image record."""
    return {"id": id, "license": 1, "file_name": name or file_name(100000000 + id), "height": height,
            "width": width, "date_captured": "2024-01-01T00:00:00+00:00", **extra}


def polygon_ann(id: int, image_id: int, category_id: int, *polygons: list[float],
                bbox: list[float] | None = None, **extra: Any) -> dict:
    """One annotation from polygon parts; the stored bbox defaults to the polygon extent."""
    pts = np.concatenate([np.reshape(p, (-1, 2)) for p in polygons]) if polygons and all(len(p) % 2 == 0 for p in polygons) else np.zeros((1, 2))
    lo, hi = pts.min(0), pts.max(0)
    box = bbox or [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]
    return {"id": id, "image_id": image_id, "category_id": category_id, "bbox": box,
            "area": box[2] * box[3], "segmentation": list(polygons), "iscrowd": 0, **extra}


def square(x: float, y: float, size: float) -> list[float]:
    """A square polygon with its top-left corner at (x, y)."""
    return [x, y, x + size, y, x + size, y + size, x, y + size]


def coco(images: list[dict], annotations: list[dict], categories: list[dict] | None = None) -> dict:
    """A whole COCO file as Roboflow writes it."""
    return {"info": {"description": "test"}, "licenses": [{"id": 1, "name": "test"}],
            "categories": categories if categories is not None else XAMI_CATEGORIES,
            "images": images, "annotations": annotations}


def write_split(folder: Path, data: dict | str, with_images: bool = True) -> Path:
    """Write `_annotations.coco.json` (a dict, or raw text) and small blank frames beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "_annotations.coco.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    if with_images and isinstance(data, dict):
        for im in data.get("images", []):
            if isinstance(im, dict) and "file_name" in im:
                cv2.imwrite(str(folder / im["file_name"]), np.full((im.get("height", 8), im.get("width", 8)), 30, np.uint8))
    return path


def zip_folder(folder: Path, archive: Path, prefix: str = "") -> Path:
    """Zip every file below `folder`, names relative to it (under `prefix`)."""
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                zf.write(f, prefix + f.relative_to(folder).as_posix())
    return archive


def zip_bytes(folder: Path) -> bytes:
    """A zip of every file below `folder`, names relative to it, as bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(folder).as_posix())
    return buf.getvalue()
