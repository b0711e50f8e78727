"""Bounds on every size that input controls, checked before anything is allocated.

A COCO or YOLO file decides how large a canvas pycocotools rasterises, how many pixels a
decoder allocates and how long a polygon is. Unbounded, one record (a vertex at 2e8 px, a
declared width of 1e30, a 20000 x 20000 frame) can take tens of GB and stop the server for
every user. Each limit here is far above anything XAMI holds (512 x 512 frames; the Optical
Monitor's full detector is 2048 x 2048) and turns such a record into a reported problem.
"""

from __future__ import annotations

from xami_core.paths import setting_number

# A frame side, in pixels. Sixteen times the Optical Monitor's full-frame side.
MAX_IMAGE_SIDE = 32_768
# Pixels in one frame (width x height), by default 8192 x 8192: a decoded 8-bit frame of this
# size is 64 MiB; PIL's own decompression-bomb warning starts at about 89 million pixels.
MAX_IMAGE_PIXELS_ENV, DEFAULT_MAX_IMAGE_PIXELS = "XAMI_MAX_IMAGE_PIXELS", 8192 * 8192
# How far outside its frame a polygon vertex or box corner may lie, as a multiple of the
# frame's side: polygons often touch or cross the edge, never by a whole frame.
MAX_OUTSIDE_FRAMES = 1.0
# Vertices in one annotation (all its polygon parts). XAMI's longest has a few hundred.
MAX_POLYGON_VERTICES = 100_000
# Polygon parts in one annotation. pycocotools merges parts one by one; XAMI's have a few.
MAX_POLYGON_PARTS = 1_000
# A YOLO coordinate is normalised to 0..1; beyond this margin it cannot be a frame position.
YOLO_COORD_MIN, YOLO_COORD_MAX = -MAX_OUTSIDE_FRAMES, 1.0 + MAX_OUTSIDE_FRAMES


def coordinate_range(side: float) -> tuple[float, float]:
    """The (low, high) range, in pixels, that a coordinate along a frame side of `side` px may take."""
    margin = MAX_OUTSIDE_FRAMES * side
    return -margin, side + margin


def max_image_pixels() -> int:
    """The most pixels (width x height) a frame may have to be read or decoded (`XAMI_MAX_IMAGE_PIXELS`,
    default 8192 x 8192 = 67,108,864).

    Raises:
        XamiDataError: the setting is not a positive number.
    """
    return int(setting_number(MAX_IMAGE_PIXELS_ENV, DEFAULT_MAX_IMAGE_PIXELS))


def frame_size_problem(width: object, height: object, max_pixels: int | None = None) -> str | None:
    """Why a (width, height) pair cannot be a frame size, or None when it can.

    Both must be JSON integers (not booleans, not floats) from 1 to `MAX_IMAGE_SIDE` whose
    product is at most `max_pixels` (default `max_image_pixels()`; a caller checking many frames
    reads it once).

    Raises:
        XamiDataError: `max_pixels` is not given and `XAMI_MAX_IMAGE_PIXELS` is not a positive number.
    """
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int):
            return f"expected an integer {name}, found {value!r} ({type(value).__name__})"
        if not 1 <= value <= MAX_IMAGE_SIDE:
            return f"expected a {name} from 1 to {MAX_IMAGE_SIDE} px, found {value}"
    limit = max_image_pixels() if max_pixels is None else max_pixels
    if width * height > limit:  # type: ignore[operator]
        return (f"a {width} x {height} frame has {width * height:,} pixels, more than this "  # type: ignore[operator]
                f"product reads ({limit:,}, {MAX_IMAGE_PIXELS_ENV})")
    return None
