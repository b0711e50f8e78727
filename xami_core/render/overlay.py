"""Overlay rendering with OpenCV: masks, contours, boxes and labels on a frame.

Masks are rasterised with pycocotools (`frPyObjects` + `decode`), not `cv2.fillPoly`:
fillPoly also paints the pixels its edges touch, and fills several polygons of one call
with the even-odd rule (overlapping parts become holes), so its pixel counts would not
match the `mask_area` the tables and hover texts report. pycocotools gives exactly the
COCO pixels, all polygons of a frame in one C call. OpenCV draws the rest (contours,
boxes, labels) and does the compositing.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image
from pycocotools import mask as mask_utils

from xami_core.io.tables import RLE_BATCH, rle_to_compressed
from xami_core.limits import MAX_IMAGE_SIDE, max_image_pixels
from xami_core.model import CLASS_NAMES, FALLBACK_COLOUR, XamiDataError, class_colours
from xami_core.polygons import mask_cells
from xami_core.render.pixels import apply_colour_map
from xami_core.render.stretch import DEFAULT_LIMITS, DEFAULT_LOWER, DEFAULT_STRETCH, DEFAULT_UPPER, stretch_image

RGB = tuple[int, int, int]
Colours = Mapping[str, RGB] | str | None

SHIFT = 4  # OpenCV sub-pixel bits: polygon vertices are floats, keep 1/16 px precision
FONT = cv2.FONT_HERSHEY_SIMPLEX
PLACEHOLDER_GREY = 40
DASH = 6  # dash and gap length of box-only annotations, in output pixels


# ---------------------------------------------------------------------------------------
# Frames


def _to_gray_uint8(img: np.ndarray) -> np.ndarray:
    """Any decoded frame (8/16-bit, 1/3/4 channels) as 2-D uint8."""
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY if img.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    if img.dtype != np.uint8:
        # 16-bit or float frames: scale by their own range; the detail view stretches further.
        img = stretch_image(img, "linear", "minmax", ignore_border=False)
    return img


def load_frame(path: str | Path, reduce: int = 1) -> np.ndarray | None:
    """A frame as 2-D uint8 (pixels as stored, EXIF orientation ignored), or None.

    None when the file is missing, cannot be decoded, or its header declares more pixels
    than `limits.max_image_pixels()` (checked before anything is decoded; none is decoded while that
    setting is bad, the page saying why).

    JPEGs are read as grayscale (with `reduce` in 1, 2, 4, 8, decoded at 1/reduce size
    by the JPEG decoder itself, which is what makes thumbnails cheap); PNG/TIFF are read
    unchanged so 16-bit frames keep their depth until they are scaled.
    """
    path = str(path)
    if not _decodable(path):
        return None
    if path.lower().endswith((".png", ".tif", ".tiff")):
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if img is None:
            return None
        img = _to_gray_uint8(img)
        if reduce > 1:
            h, w = img.shape
            img = cv2.resize(img, (max(1, w // reduce), max(1, h // reduce)), interpolation=cv2.INTER_AREA)
        return img
    flag = {1: cv2.IMREAD_GRAYSCALE, 2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
            4: cv2.IMREAD_REDUCED_GRAYSCALE_4, 8: cv2.IMREAD_REDUCED_GRAYSCALE_8}[reduce]
    # Pixels as stored: annotations are in stored coordinates, so an EXIF rotation would move
    # the frame away from its masks (the loader reports such files).
    img = cv2.imread(path, flag | cv2.IMREAD_IGNORE_ORIENTATION)
    return None if img is None else _to_gray_uint8(img)


def load_raw_frame(path: str | Path) -> np.ndarray | None:
    """A frame's pixel values as stored in its file (2-D, the file's own depth: uint8, uint16 or float), or None.

    What the pixel readout, the histogram and the stretch limits of the detail view use: unlike
    `load_frame`, a 16-bit or float frame is not scaled to 8 bits. Colour files become one grey
    channel (OpenCV's luma weights, as `load_frame` does); JPEGs are decoded as grey. None as for `load_frame`.
    """
    path = str(path)
    if not _decodable(path):
        return None
    if path.lower().endswith((".png", ".tif", ".tiff")):
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if img is not None and img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY if img.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
        return img
    return cv2.imread(path, cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION)


def _decodable(path: str) -> bool:
    """Whether `path` is a regular file whose header promises a frame small enough to decode (see `limits`)."""
    if not os.path.isfile(path):  # a FIFO or device would block the decoder
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size
    except Exception:  # noqa: BLE001 - unreadable or missing: the caller shows its placeholder
        return False
    try:
        max_pixels = max_image_pixels()
    except XamiDataError:  # a bad deployment setting (shown on every page): decode nothing rather than guess
        return False
    return width <= MAX_IMAGE_SIDE and height <= MAX_IMAGE_SIDE and width * height <= max_pixels


def placeholder_frame(width: int, height: int, message: str = "image file missing") -> np.ndarray:
    """A dark grey uint8 frame (height, width) with a centred message, shown instead of a missing file."""
    img = np.full((max(1, height), max(1, width)), PLACEHOLDER_GREY, np.uint8)
    scale = max(0.3, min(width, height) / 512 * 0.9)
    thick = max(1, round(scale * 2))
    (tw, th), _ = cv2.getTextSize(message, FONT, scale, thick)
    if tw > width - 4:  # narrow thumbnails: shrink the text to fit
        scale *= (width - 4) / tw
        (tw, th), _ = cv2.getTextSize(message, FONT, scale, 1)
        thick = 1
    cv2.putText(img, message, ((width - tw) // 2, (height + th) // 2), FONT, scale, 200, thick, cv2.LINE_AA)
    cv2.line(img, (0, 0), (width - 1, height - 1), 70, 1)
    cv2.line(img, (0, height - 1), (width - 1, 0), 70, 1)
    return img


def read_frame(path: str | Path, width: int = 512, height: int = 512) -> np.ndarray:
    """A frame as a 2-D uint8 array (as stored); a grey (height, width) placeholder when the file is missing."""
    img = load_frame(path)
    return placeholder_frame(width, height) if img is None else img


# ---------------------------------------------------------------------------------------
# Masks


@dataclass(frozen=True)
class Shapes:
    """The drawable part of some annotations as plain arrays (no pandas on the drawing path)."""

    ann_id: np.ndarray  # int64
    class_name: np.ndarray  # object (str)
    kind: np.ndarray  # object: "polygon" | "rle" | "box"
    segmentation: np.ndarray  # object: polygon parts, RLE dict or None
    box: np.ndarray  # (n, 4) float64 x, y, w, h

    @classmethod
    def of(cls, annotations: pd.DataFrame | Shapes) -> Shapes:
        """Shapes from rows of `Dataset.annotations` (ann_id optional)."""
        if isinstance(annotations, Shapes):
            return annotations
        n = len(annotations)
        ids = annotations["ann_id"].to_numpy(np.int64) if "ann_id" in annotations else np.arange(n, dtype=np.int64)
        box_cols = ["mask_box_x", "mask_box_y", "mask_box_w", "mask_box_h"]
        box = annotations[box_cols].to_numpy(np.float64) if set(box_cols) <= set(annotations) else np.zeros((n, 4))
        return cls(ids, annotations["class_name"].to_numpy(object), annotations["kind"].to_numpy(object),
                   mask_cells(annotations), box)

    def __len__(self) -> int:
        return len(self.kind)

    def take(self, keep: np.ndarray | slice) -> Shapes:
        """A subset by boolean mask, index array or slice."""
        return Shapes(self.ann_id[keep], self.class_name[keep], self.kind[keep], self.segmentation[keep], self.box[keep])


def resolve_colours(colours: Colours, class_names: Iterable[str] = CLASS_NAMES) -> dict[str, RGB]:
    """Class colours from a mapping, or from a palette name (None: the authors') for `class_names`.

    A palette name gives every class of `class_names` its colour (`model.class_colours`):
    pass the dataset's class list, so a class outside XAMI's five has the same colour in
    every frame. Raises ValueError for an unknown palette name.
    """
    if colours is None or isinstance(colours, str):
        return class_colours(class_names, colours or "authors")
    return {k: tuple(int(c) for c in v) for k, v in colours.items()}


def _decode(rles: list) -> np.ndarray:
    """Decode RLEs to an (h, w, n) uint8 stack, in batches pycocotools accepts."""
    parts = [mask_utils.decode(rles[i:i + RLE_BATCH]) for i in range(0, len(rles), RLE_BATCH)]
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=2)


def annotation_masks(annotations: pd.DataFrame | Shapes, height: int, width: int, scale: float = 1.0) -> np.ndarray:
    """Boolean masks (n, height, width) of annotations, in the frame scaled by `scale`.

    Polygons (all parts of all annotations in one pycocotools call) and RLEs give their
    COCO pixels; box-only annotations give an empty mask (they have no outline to fill).
    """
    shapes = Shapes.of(annotations)
    n = len(shapes)
    out = np.zeros((n, height, width), dtype=bool)
    if n == 0:
        return out
    kinds, segs = shapes.kind, shapes.segmentation
    poly = np.flatnonzero(kinds == "polygon")
    if len(poly):
        parts = [np.asarray(p, dtype=np.float64) * scale for i in poly for p in segs[i]]
        owner = np.repeat(poly, [len(segs[i]) for i in poly])
        stack = _decode(mask_utils.frPyObjects([p.tolist() for p in parts], height, width))
        # Union of each annotation's parts: one OR-reduce over consecutive slices of the stack.
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        out[poly] = np.moveaxis(np.logical_or.reduceat(stack.astype(bool), starts, axis=2), -1, 0)
    for i in np.flatnonzero(kinds == "rle"):  # RLEs are rare in XAMI (Roboflow writes polygons)
        m = mask_utils.decode(rle_to_compressed(segs[i]))
        if m.shape != (height, width):
            m = cv2.resize(m, (width, height), interpolation=cv2.INTER_NEAREST)
        out[i] = m.astype(bool)
    return out


def _union(rles: list[dict]) -> dict:
    """The union of RLEs, merged in batches pycocotools accepts."""
    while len(rles) > 1:
        rles = [mask_utils.merge(rles[i:i + RLE_BATCH], intersect=False) for i in range(0, len(rles), RLE_BATCH)]
    return rles[0]


def class_union_masks(annotations: pd.DataFrame | Shapes, height: int, width: int,
                      scale: float = 1.0) -> dict[str, np.ndarray]:
    """Per class present, the boolean union (height, width) of its annotations' masks.

    What the filled overlay needs: the polygons of all classes go to pycocotools in one
    call, each class's RLEs are merged (in C) and decoded once, so the cost does not grow
    with a frame's number of annotations. Box-only annotations add nothing.
    """
    shapes = Shapes.of(annotations)
    kinds, segs, names = shapes.kind, shapes.segmentation, shapes.class_name
    rles: list[dict] = []
    owner: list[np.ndarray] = []
    poly = np.flatnonzero(kinds == "polygon")
    if len(poly):
        n_parts = np.fromiter((len(segs[i]) for i in poly), dtype=np.int64, count=len(poly))
        parts = [(np.asarray(p, dtype=np.float64) * scale).tolist() for i in poly for p in segs[i]]
        rles += mask_utils.frPyObjects(parts, height, width)
        owner.append(np.repeat(names[poly], n_parts))
    for i in np.flatnonzero(kinds == "rle"):  # RLEs are rare in XAMI (Roboflow writes polygons)
        rle = rle_to_compressed(segs[i])
        if tuple(rle["size"]) != (height, width):
            m = cv2.resize(mask_utils.decode(rle), (width, height), interpolation=cv2.INTER_NEAREST)
            rle = mask_utils.encode(np.asfortranarray(m))
        rles.append(rle)
        owner.append(names[i:i + 1])
    if not rles:
        return {}
    owners = np.concatenate(owner)
    return {str(cls): mask_utils.decode(_union([rles[j] for j in np.flatnonzero(owners == cls)])).astype(bool)
            for cls in dict.fromkeys(owners.tolist())}


def annotation_mask(segmentation: object, kind: str, bbox: tuple[float, float, float, float],
                    height: int, width: int) -> np.ndarray:
    """A boolean mask of one annotation: polygons and RLE as COCO pixels, a box filled."""
    if kind == "box":
        mask = np.zeros((height, width), bool)
        x, y, w, h = (int(round(v)) for v in bbox)
        mask[max(y, 0):max(y + h, 0), max(x, 0):max(x + w, 0)] = True
        return mask
    row = pd.DataFrame({"class_name": [""], "kind": [kind], "segmentation": pd.Series([segmentation], dtype=object)})
    return annotation_masks(row, height, width)[0]


# ---------------------------------------------------------------------------------------
# Drawing helpers


def _fixed(points: np.ndarray) -> np.ndarray:
    """Float pixel-edge coordinates to OpenCV fixed-point pixel-centre coordinates."""
    # COCO coordinates put pixel i on [i, i+1); OpenCV draws pixel i at its centre i.
    return np.round((points - 0.5) * (1 << SHIFT)).astype(np.int32)


def polygon_outlines(annotations: pd.DataFrame | Shapes, scale: float = 1.0) -> list[np.ndarray]:
    """All polygon parts of the annotations as (k, 2) float arrays, scaled."""
    shapes = Shapes.of(annotations)
    segs = shapes.segmentation[shapes.kind == "polygon"]
    return [np.reshape(np.asarray(p, dtype=np.float64), (-1, 2)) * scale for parts in segs for p in parts]


def rle_outlines(annotations: pd.DataFrame | Shapes, scale: float = 1.0) -> list[np.ndarray]:
    """Outer contours of RLE masks as float polygons in COCO pixel-edge coordinates."""
    shapes = Shapes.of(annotations)
    out = []
    for seg in shapes.segmentation[shapes.kind == "rle"]:
        m = mask_utils.decode(rle_to_compressed(seg))
        found, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        # Contour points are pixel centres; +0.5 turns them into the edge convention.
        out += [(c.reshape(-1, 2).astype(np.float64) + 0.5) * scale for c in found]
    return out


def _dashed_segments(x0: float, y0: float, x1: float, y1: float, dash: float = DASH) -> list[np.ndarray]:
    """Line segments of a dashed rectangle (dash = gap = `dash`), as 2-point arrays."""
    segs = []
    for (ax, ay), (bx, by) in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
        length = float(np.hypot(bx - ax, by - ay))
        starts = np.arange(0.0, length, 2 * dash)
        ends = np.minimum(starts + dash, length)
        t0, t1 = starts / max(length, 1e-9), ends / max(length, 1e-9)
        p0 = np.stack([ax + (bx - ax) * t0, ay + (by - ay) * t0], axis=1)
        p1 = np.stack([ax + (bx - ax) * t1, ay + (by - ay) * t1], axis=1)
        segs += list(np.stack([p0, p1], axis=1))
    return segs


def ink_colour(colour: RGB) -> RGB:
    """Black or white text, whichever reads better on `colour`."""
    luminance = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    return (0, 0, 0) if luminance > 110 else (255, 255, 255)


def outline_colour(colour: RGB) -> RGB:
    """The contour colour: the class colour, brightened when it is dark.

    Dark class colours (the authors' read-out-streak blue, smoke-ring magenta) vanish on a
    dark sky. Scaling the colour up to full brightness keeps its hue and saturation, so the
    smoke ring stays magenta and does not drift towards the pale star-loop pink, as mixing
    with white would; only a colour still dark after that gets a little white.
    """
    luminance = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    if luminance >= 110 or max(colour) == 0:
        return colour
    bright = np.asarray(colour, np.float64) * (255.0 / max(colour))
    lum = float(bright @ [0.299, 0.587, 0.114])
    if lum < 90:
        bright += (255.0 - bright) * (90 - lum) / (255 - lum)
    return tuple(int(round(c)) for c in bright)


def _overlaps(x: int, y: int, w: int, h: int, rects: list[tuple[int, int, int, int]]) -> int:
    """How many of `rects` (x, y, w, h) the rectangle intersects."""
    return sum(x < rx + rw and rx < x + w and y < ry + rh and ry < y + h for rx, ry, rw, rh in rects)


def place_labels(rects: list[tuple[int, int, int, int]], anchors: list[tuple[int, int, int, int]],
                  width: int, height: int) -> list[tuple[int, int]]:
    """Greedy label placement inside the frame: above, below or inside the box, avoiding earlier chips and small masks.

    Args:
        rects: per chip (width, height, ...) in frame pixels (further items ignored).
        anchors: per chip the (x, y, w, h) box of its annotation, in frame pixels.
        width, height: the frame's size; every chip lies within it (unless it is larger than the frame).

    Small objects (smoke rings) would disappear under a neighbour's chip, so the boxes of
    small annotations count as obstacles too. The first candidate with the fewest overlaps
    wins; when it still overlaps a chip placed before (labels of annotations at one spot, such
    as read-out streaks along the frame's top edge), the chip takes the first free slot one
    chip height (plus 1 px) further down, wrapping to the top of the frame; only when the
    whole column is full does it stay where it overlaps least. Returns each chip's top-left
    corner (x, y), in order.
    """
    small = [(bx, by, bw, bh) for bx, by, bw, bh in anchors if bw * bh < (width * height) / 40]
    placed: list[tuple[int, int, int, int]] = []
    out = []
    for (cw, ch, *_), anchor in zip(rects, anchors):
        bx, by, bw, bh = anchor
        lowest = max(height - ch, 0)  # the lowest top edge that keeps the chip inside the frame
        x_left = int(min(max(bx, 0), max(width - cw, 0)))
        x_right = int(min(max(bx + bw - cw, 0), max(width - cw, 0)))
        candidates = [(x_left, by - ch - 1), (x_left, by + bh + 1), (x_right, by - ch - 1), (x_left, by)]
        candidates = [(x, int(min(max(y, 0), lowest))) for x, y in candidates]
        others = [r for r in small if r != anchor]
        scored = [(2 * _overlaps(x, y, cw, ch, placed) + _overlaps(x, y, cw, ch, others), i, x, y)
                  for i, (x, y) in enumerate(candidates)]
        _, _, x, y = min(scored)
        if _overlaps(x, y, cw, ch, placed):
            step = ch + 1
            slots = [*range(y + step, lowest + 1, step), *range(0, y, step)]  # down, then from the top
            free = [s for s in slots if not _overlaps(x, s, cw, ch, placed)]
            if free:
                y = free[0]
        placed.append((x, y, cw, ch))
        out.append((x, y))
    return out


# ---------------------------------------------------------------------------------------
# The overlay


def _file_ids(annotations: pd.DataFrame | Shapes) -> dict:
    """Internal ann_id -> the annotation's id in its input file, when the table has both."""
    if isinstance(annotations, pd.DataFrame) and {"ann_id", "coco_id"} <= set(annotations.columns):
        return dict(zip(annotations["ann_id"].tolist(), annotations["coco_id"].tolist()))
    return {}


def visible_annotations(annotations: pd.DataFrame | Shapes, hidden_classes: Iterable[str] = (),
                        hidden_ann_ids: Iterable[int] = ()) -> Shapes:
    """The annotations left after per-class and per-annotation toggles."""
    shapes = Shapes.of(annotations)
    hidden_classes, hidden_ann_ids = list(hidden_classes), list(hidden_ann_ids)
    if not hidden_classes and not hidden_ann_ids:
        return shapes
    keep = ~np.isin(shapes.class_name, hidden_classes) & ~np.isin(shapes.ann_id, hidden_ann_ids)
    return shapes.take(keep)


def render_overlay(image: np.ndarray, annotations: pd.DataFrame | Shapes, colours: Colours = None, opacity: float = 0.45,
                   fill: bool = True, contour: bool = True, boxes: bool = False, labels: bool = False, *,
                   scale: float | None = None, hidden_classes: Iterable[str] = (),
                   hidden_ann_ids: Iterable[int] = (), label_ids: bool = False,
                   line_width: int | None = None, font_scale: float | None = None) -> np.ndarray:
    """An RGB uint8 overlay of `annotations` on a grayscale or RGB `image`, H x W x 3 (the image's size).

    Args:
        image: 2-D grayscale or H x W x 3 RGB array (already stretched for display).
        annotations: rows of `Dataset.annotations` for this image.
        colours: class name -> RGB (`Dataset.class_colours(palette)`, the same in every frame), or a
            palette name of `model.PALETTES` for the classes drawn here; authors' by default.
        opacity: alpha of the filled masks (0 to 1).
        fill, contour, boxes, labels: what to draw. Box-only annotations always get a
            dashed box (they have no mask).
        scale: output pixels per annotation pixel; by default image width / 512 (XAMI
            frames are 512 px wide), so pass it for other frame sizes.
        hidden_classes, hidden_ann_ids: toggled-off classes and annotations.
        label_ids: add the annotation id to each label ("smoke-ring 12"): the id in the
            input file (`coco_id`) when `annotations` is a table that has it.
        line_width, font_scale: override the sizes derived from the output size.
    """
    rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else np.ascontiguousarray(image[..., :3])
    h, w = rgb.shape[:2]
    if scale is None:
        scale = w / 512.0  # XAMI frames are 512 px; callers with other sizes pass `scale`
    anns = visible_annotations(annotations, hidden_classes, hidden_ann_ids)
    if len(anns) == 0:
        return rgb.copy()
    size = max(h, w)
    lw = line_width if line_width is not None else max(1, int(round(size / 512)))  # 1 px per 512 px: thin masks stay visible
    out = rgb.copy()
    names = anns.class_name
    order = [c for c in CLASS_NAMES if c in set(names)] + sorted(set(names) - set(CLASS_NAMES))
    pal = resolve_colours(colours, order)  # a palette name: colours for the classes drawn here
    if fill and opacity > 0:
        _fill_masks(out, anns, order, pal, opacity, scale)
    if contour:
        _draw_contours(out, anns, order, pal, scale, lw)
    _draw_boxes(out, anns, order, pal, scale, lw, solid=boxes)
    if labels:
        fs = font_scale if font_scale is not None else max(0.3, 0.36 * size / 512)
        file_id = _file_ids(annotations) if label_ids else {}
        texts = [f"{c} {file_id.get(i, i)}" if label_ids else str(c) for c, i in zip(names, anns.ann_id)]
        _draw_labels(out, anns, texts, pal, scale, fs)
    return out


def _fill_masks(out: np.ndarray, anns: Shapes, order: list[str], pal: Mapping[str, RGB], opacity: float,
                scale: float) -> None:
    """Blend each class's mask union into `out` (H x W x 3 uint8, in place)."""
    h, w = out.shape[:2]
    unions = class_union_masks(anns, h, w, scale)
    flat = out.reshape(-1, 3)
    for cls in order:  # one blend per class (at most five), not per annotation
        if cls not in unions:
            continue
        idx = np.flatnonzero(unions[cls].ravel())
        colour = np.asarray(pal.get(cls, FALLBACK_COLOUR), np.float64)
        # Blend only the masked pixels: most of a frame is sky and stays untouched.
        flat[idx] = np.clip(np.rint(flat[idx] * (1.0 - opacity) + colour * opacity), 0, 255).astype(np.uint8)


def _draw_contours(out: np.ndarray, anns: Shapes, order: list[str], pal: Mapping[str, RGB], scale: float,
                   lw: int) -> None:
    """Mask outlines (polygon and RLE) in each class's outline colour, `lw` px wide."""
    for cls in order:
        sub = anns.take(anns.class_name == cls)
        lines = polygon_outlines(sub, scale) + rle_outlines(sub, scale)
        if lines:
            cv2.polylines(out, [_fixed(p) for p in lines], True, outline_colour(pal.get(cls, FALLBACK_COLOUR)),
                          lw, cv2.LINE_AA, SHIFT)


def _draw_boxes(out: np.ndarray, anns: Shapes, order: list[str], pal: Mapping[str, RGB], scale: float, lw: int, *,
                solid: bool) -> None:
    """Solid boxes of masked annotations (when `solid`), and always a dashed box for box-only ones."""
    size = max(out.shape[:2])
    box_xywh = anns.box * scale
    is_box = anns.kind == "box"
    for cls in order:
        sel = anns.class_name == cls
        colour = outline_colour(pal.get(cls, FALLBACK_COLOUR))
        if solid:
            boxes = box_xywh[sel & ~is_box]
            if len(boxes):
                xy, wh = boxes[:, :2], boxes[:, 2:]
                corners = np.stack([xy, xy + wh * [1, 0], xy + wh, xy + wh * [0, 1]], axis=1)
                cv2.polylines(out, list(_fixed(corners)), True, colour, lw, cv2.LINE_AA, SHIFT)  # as wide as contours
        dashed = box_xywh[sel & is_box]
        segs = [s for x, y, bw, bh in dashed for s in _dashed_segments(x, y, x + bw, y + bh, DASH * max(1.0, size / 512))]
        if segs:
            cv2.polylines(out, [_fixed(s) for s in segs], False, colour, lw, cv2.LINE_AA, SHIFT)


def _draw_labels(out: np.ndarray, anns: Shapes, texts: list[str], pal: Mapping[str, RGB], scale: float,
                 fs: float) -> None:
    """A chip per annotation in its class colour with its text, placed by `place_labels`."""
    h, w = out.shape[:2]
    thick = 1 if fs < 0.8 else 2
    pad = max(1, int(round(fs * 4)))
    rects, anchors = [], []
    for text, (bx, by, bw, bh) in zip(texts, anns.box * scale):  # text drawing is per label by nature
        (tw, th), base = cv2.getTextSize(text, FONT, fs, thick)
        rects.append((tw + 2 * pad, th + base + 2 * pad, th, base))
        anchors.append((int(bx), int(by), int(bw), int(bh)))
    spots = place_labels(rects, anchors, w, h)
    for text, cls, (cw, ch, th, _base), (x, y) in zip(texts, anns.class_name, rects, spots):
        colour = pal.get(cls, FALLBACK_COLOUR)
        # A chip in the class colour with a thin dark rim reads on bright and dark sky alike.
        cv2.rectangle(out, (x, y), (x + cw - 1, y + ch - 1), colour, -1)
        cv2.rectangle(out, (x, y), (x + cw - 1, y + ch - 1), (0, 0, 0), 1)
        cv2.putText(out, text, (x + pad, y + pad + th), FONT, fs, ink_colour(colour), thick, cv2.LINE_AA)


def encode_png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an RGB (or grayscale) uint8 image.

    Raises:
        ValueError: OpenCV cannot encode the array.
    """
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def encode_jpeg(rgb: np.ndarray, quality: int = 88) -> bytes:
    """JPEG bytes of an RGB (or grayscale) uint8 image.

    Raises:
        ValueError: OpenCV cannot encode the array.
    """
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement to (H * factor, W * factor[, C]), so pixels stay square and labels can be drawn crisply."""
    if factor == 1:
        return image
    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)


def full_overlay(path: str | Path, annotations: pd.DataFrame, width: int, height: int, colours: Colours = None, *,
                 stretch: str = DEFAULT_STRETCH, limits: str = DEFAULT_LIMITS, lower: float = DEFAULT_LOWER,
                 upper: float = DEFAULT_UPPER, colour_map: str = "grey",
                 factor: int = 1, **options: object) -> np.ndarray:
    """The detail view's frame: stretched, in a colour map, enlarged `factor` times, with its overlay
    (RGB uint8, H x W x 3).

    The stretch works on the pixel values as stored (`load_raw_frame`), as the detail view does; `colour_map`
    is one of `pixels.COLOUR_MAPS`.

    Raises:
        ValueError: an unknown stretch, limits mode or colour map, or bad percentiles (see `stretch.stretch_image`).
    """
    frame = load_raw_frame(path)
    if frame is None:
        base = placeholder_frame(width * factor, height * factor)
    else:
        base = upscale(apply_colour_map(stretch_image(frame, stretch, limits, lower, upper), colour_map), factor)
    return render_overlay(base, annotations, colours, scale=base.shape[1] / width, **options)
