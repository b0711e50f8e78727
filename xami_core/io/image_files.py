"""What the image files themselves say: where they are, whether they open, their real size.

COCO files declare each frame's width and height, but exports get them wrong (a 1024 px
file declared 512), name files with folder prefixes (`images/S0...jpg`, as CVAT writes),
or point outside the dataset. Each frame's header is read once at load (no pixel decoding,
about 0.1 ms a frame), so every number downstream uses the size of the pixels a user sees.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import pandas as pd
from PIL import Image

from xami_core.limits import MAX_IMAGE_PIXELS_ENV, MAX_IMAGE_SIDE, max_image_pixels

EXIF_ORIENTATION = 0x0112  # TIFF/EXIF tag 274; 1 means "as stored"

# `file_status` values, one per image row.
FILE_OK = "ok"
FILE_MISSING = "missing"
FILE_UNREADABLE = "unreadable"
FILE_TOO_LARGE = "too large"
FILE_OUTSIDE = "outside the dataset folder"
FILE_BAD_NAME = "invalid file name"

PROBE_COLUMNS = ("path", "file_status", "file_detail", "file_width", "file_height", "exif_orientation")


def file_name_problem(name: object) -> str | None:
    """Why `name` cannot be an image's `file_name` (relative, inside its folder), or None.

    Folder prefixes are fine (`images/x.jpg`); absolute names, drive letters, `..` parts,
    NUL bytes and empty names are not: they would point outside the dataset.
    """
    if not isinstance(name, str) or not name.strip():
        return f"expected a file name (a non-empty string), found {name!r}"
    if "\x00" in name:
        return "expected a file name, found one with a NUL byte"
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    if posix.is_absolute() or windows.is_absolute() or windows.drive:
        return f"expected a file name relative to the image folder, found the absolute path {name!r}"
    if ".." in posix.parts or ".." in windows.parts:
        return f"expected a file name inside the image folder, found {name!r} (it climbs out with '..')"
    return None


def base_name(file_name: str) -> str:
    """The file's own name without any folder prefix (either slash); plain string operations,
    as it runs over every image of a dataset."""
    return file_name.replace("\\", "/").rsplit("/", 1)[-1]


def _probe_one(path: Path, root: Path, max_pixels: int, resolved: Path | None = None,
               ) -> tuple[str, str, str, int, int, int]:
    """(path, status, detail, width, height, EXIF orientation) of one frame file, header only.

    The path is the resolved one (what is read; it tells two records apart) when it resolves
    inside `root`; "" when it resolves outside (never read, and nothing said about it); the
    name as given when it cannot be resolved. `resolved`, when given, is the path already
    resolved by the caller (its folder resolved, its last component not a link).
    """
    try:
        resolved = resolved or path.resolve()
    except RuntimeError:  # Python before 3.13 raises this on a symbolic-link loop
        return str(path), FILE_UNREADABLE, "symbolic-link loop", 0, 0, 0
    except OSError as exc:  # a link loop (3.13+), a name longer than the file system allows
        return str(path), FILE_UNREADABLE, exc.strerror or str(exc), 0, 0, 0
    # Confinement first, so the answer for a path outside says nothing about whether it exists.
    if not resolved.is_relative_to(root):
        return "", FILE_OUTSIDE, "resolves outside the dataset folder (a symbolic link?)", 0, 0, 0
    shown = str(resolved)
    try:
        if resolved.exists() and not resolved.is_file():  # a folder, a FIFO or a device would block or fail
            return shown, FILE_UNREADABLE, "not a regular file", 0, 0, 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(resolved) as im:
                width, height = im.size
                try:
                    orientation = int(im.getexif().get(EXIF_ORIENTATION, 1))
                except Exception:  # noqa: BLE001 - a damaged EXIF block only loses the tag
                    orientation = 1
    except FileNotFoundError:
        return shown, FILE_MISSING, "", 0, 0, 0
    except Image.DecompressionBombError as exc:
        return shown, FILE_TOO_LARGE, str(exc).split(",")[0], 0, 0, 0
    except Exception as exc:  # noqa: BLE001 - PIL raises many types on damaged headers; each is "unreadable"
        return shown, FILE_UNREADABLE, f"{type(exc).__name__}: {exc}"[:200], 0, 0, 0
    if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE or width * height > max_pixels:
        return (shown, FILE_TOO_LARGE, f"{width} x {height} px, more than {max_pixels:,} pixels ({MAX_IMAGE_PIXELS_ENV})",
                width, height, orientation)
    return shown, FILE_OK, "", width, height, orientation


def probe_images(image_dir: Path, file_names: Sequence[str]) -> pd.DataFrame:
    """Locate and measure each frame file named in `file_names`, relative to `image_dir`.

    Returns:
        One row per name, in order: `path` (str: resolved; "" for a name that is never opened), `file_status` (one of the FILE_* values),
        `file_detail` (str, why it is not "ok"), `file_width`, `file_height` (int64 px from
        the file's header; 0 when unknown) and `exif_orientation` (int64; 1 = as stored,
        0 = unknown). Names that fail `file_name_problem` get FILE_BAD_NAME and are not opened;
        frames over `limits.max_image_pixels()` get FILE_TOO_LARGE.

    Raises:
        XamiDataError: `XAMI_MAX_IMAGE_PIXELS` is not a positive number.
    """
    try:
        root = image_dir.resolve()
    except (OSError, RuntimeError):
        root = image_dir
    max_pixels = max_image_pixels()
    rows = []
    folders: dict[str, Path | None] = {}  # each distinct folder resolved once (most frames share one)
    for name in file_names:
        why = file_name_problem(name)
        if why is not None:
            rows.append(("", FILE_BAD_NAME, why, 0, 0, 0))
            continue
        path = image_dir / name
        parent = str(path.parent)
        if parent not in folders:
            try:
                folders[parent] = path.parent.resolve()
            except (OSError, RuntimeError):
                folders[parent] = None
        # Only the last component is left to resolve: a link there goes through the full check.
        folder = folders[parent]
        try:
            quick = folder / path.name if folder is not None and not path.is_symlink() else None
        except OSError:  # a name longer than the file system allows: the full check says so
            quick = None
        rows.append(_probe_one(path, root, max_pixels, resolved=quick))
    frame = pd.DataFrame.from_records(rows, columns=list(PROBE_COLUMNS))
    for column in ("file_width", "file_height", "exif_orientation"):
        frame[column] = frame[column].astype(np.int64)
    for column in ("path", "file_status", "file_detail"):
        frame[column] = frame[column].astype("str")
    return frame
