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


def coco(images: list[dict], annotations: list[dict], categories: list[dict] | None = None, *,
         info: dict | None = None, licenses: list[dict] | None = None) -> dict:
    """A whole COCO file as Roboflow writes it (`info` and `licenses` blocks as given, else placeholders)."""
    return {"info": info if info is not None else {"description": "test"},
            "licenses": licenses if licenses is not None else [{"id": 1, "name": "test"}],
            "categories": categories if categories is not None else XAMI_CATEGORIES,
            "images": images, "annotations": annotations}


def categories(names: list[str], parent: str = "objects") -> list[dict]:
    """Roboflow-style categories: an unused parent (id 0), then `names` with ids 1, 2, ..."""
    return [{"id": 0, "name": parent, "supercategory": "none"}] + [
        {"id": i + 1, "name": name, "supercategory": parent} for i, name in enumerate(names)]


def box_ann(id: int, image_id: int, category_id: int, bbox: list[float], **extra: Any) -> dict:
    """One box-only annotation, as Roboflow writes it for a detection export (`segmentation: []`)."""
    return {"id": id, "image_id": image_id, "category_id": category_id, "bbox": list(bbox),
            "area": bbox[2] * bbox[3], "segmentation": [], "iscrowd": 0, **extra}


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


# Filters a file name may carry, for tests of tables that must keep every value: per split,
# (file's image id, filter letter or None for a name without an observation key, number of
# annotations). Image ids 5..8 repeat in both split files; the loader's ids are 0..7.
FILTER_MIX: dict[str, list[tuple[int, str | None, int]]] = {
    "train": [(5, "V", 2), (6, "W", 1), (7, "X", 0), (8, None, 1)],
    "valid": [(5, "V", 0), (6, "X", 2), (7, "L", 1), (8, None, 0)],
}
FILTER_MIX_ANN_BASE = 10  # the file's annotation ids start here in each split (so they repeat too)


def filter_mix_coco() -> dict[str, dict]:
    """COCO files per split for `FILTER_MIX`: known letters V, W, L, an unknown X, names without a key."""
    out = {}
    for split, rows in FILTER_MIX.items():
        images, anns = [], []
        for image_id, letter, n_ann in rows:
            obsid = 200000000 + 100 * list(FILTER_MIX).index(split) + image_id
            name = file_name(obsid, letter, tag=str(image_id)) if letter else f"frame_{split}_{image_id}.jpg"
            images.append(image(image_id, name, width=64, height=64))
            for _ in range(n_ann):
                k = len(anns)
                anns.append(polygon_ann(FILTER_MIX_ANN_BASE + k, image_id, 3 + k % 2, square(4 + 6 * k, 4, 5)))
        out[split] = coco(images, anns)
    return out


def write_filter_mix(root: Path) -> Path:
    """Write `filter_mix_coco` as train/ and valid/ folders under `root` (with blank frames); returns `root`."""
    for split, data in filter_mix_coco().items():
        write_split(root / split, data)
    return root
