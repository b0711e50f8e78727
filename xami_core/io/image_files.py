"""What the image files themselves say: where they are, whether they open, their real size.

COCO files declare each frame's width and height, but exports get them wrong (a 1024 px
file declared 512), name files with folder prefixes (`images/S0...jpg`, as CVAT writes),
or point outside the dataset. Each frame's header is read once at load (a JPEG's pixels are
not decoded: about 0.04 ms a frame), so every number downstream uses the size of the pixels a
user sees. A PNG's pixels are decoded only when its bytes hold an EXIF or XMP block after them
(`_orientation`); a frame over the pixel cap is never decoded, its EXIF left unread.

Nearly every name is plain (`_plain_name`) and names a regular file in an already resolved
folder: one `os.lstat` and string operations locate and confine it. Anything else (a link, a
"." part, an error) goes through `pathlib` as before; tests/test_image_files.py checks both
against a straightforward computation.
"""

from __future__ import annotations

import os
import stat
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
    if _plain_name(name):  # nearly every name: no need to build two path objects
        return None
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


def _plain_name(name: object) -> bool:
    """Whether `name` passes `file_name_problem` by plain string tests alone.

    A str that starts with neither whitespace nor a slash and holds no NUL, backslash, colon
    or `..` has no root or drive in either flavour (both need a leading separator or a colon)
    and no `..` part; anything else takes the full check.
    """
    return (type(name) is str and name[:1].strip() not in ("", "/") and "\x00" not in name
            and "\\" not in name and ":" not in name and ".." not in name)


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
        return _OUTSIDE_ROW
    shown = str(resolved)
    try:
        if resolved.exists() and not resolved.is_file():  # a folder, a FIFO or a device would block or fail
            return shown, FILE_UNREADABLE, "not a regular file", 0, 0, 0
    except Exception as exc:  # noqa: BLE001 - a stat the file system refuses (a name too long): "unreadable"
        return _failure_row(shown, exc)
    return _read_header(shown, max_pixels)


_OUTSIDE_ROW = ("", FILE_OUTSIDE, "resolves outside the dataset folder (a symbolic link?)", 0, 0, 0)


def _read_header(shown: str, max_pixels: int) -> tuple[str, str, str, int, int, int]:
    """The `_probe_one` row of the file at `shown`, known to be inside the dataset folder and not a
    FIFO, device or folder: PIL reads its header; a frame over the pixel cap has its size said and
    its EXIF left unread (orientation 0), as PIL decodes a whole PNG to look for EXIF after its pixels."""
    try:
        with Image.open(shown) as im:
            width, height = im.size
            if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE or width * height > max_pixels:
                return (shown, FILE_TOO_LARGE,
                        f"{width} x {height} px, more than {max_pixels:,} pixels ({MAX_IMAGE_PIXELS_ENV})",
                        width, height, 0)
            orientation = _orientation(im, shown)
    except Exception as exc:  # noqa: BLE001 - PIL raises many types on damaged headers; each is "unreadable"
        return _failure_row(shown, exc)
    return shown, FILE_OK, "", width, height, orientation


# What a PNG may hold after its pixels that PIL reads an orientation from: an eXIf chunk, EXIF in a
# text chunk, XMP in an iTXt chunk (their chunk type or keyword is stored as plain bytes).
_PNG_ORIENTATION_MARKERS = (b"eXIf", b"Raw profile type exif", b"XML:com.adobe.xmp")


def _orientation(im: Image.Image, path: str) -> int:
    """The EXIF orientation PIL reports for an opened frame (1 when it has none or it is damaged).

    PIL's PNG `getexif` decodes the whole image when no EXIF came before the pixels, to find one
    after them (about 2 ms for 512 x 512 px). The file's bytes are searched for what could hold one
    instead: when nothing is there, the EXIF and XMP read with the header give the same answer.
    """
    try:
        if im.format == "PNG" and "exif" not in im.info:
            with open(path, "rb") as fh:
                data = fh.read()
            if not any(marker in data for marker in _PNG_ORIENTATION_MARKERS):
                return int(Image.Image.getexif(im).get(EXIF_ORIENTATION, 1))
        return int(im.getexif().get(EXIF_ORIENTATION, 1))
    except Exception:  # noqa: BLE001 - a damaged EXIF block only loses the tag
        return 1


def _failure_row(shown: str, exc: Exception) -> tuple[str, str, str, int, int, int]:
    """The row of a file at `shown` whose check or header read raised `exc`."""
    if isinstance(exc, FileNotFoundError):  # gone since it was listed
        return shown, FILE_MISSING, "", 0, 0, 0
    if isinstance(exc, Image.DecompressionBombError):
        return shown, FILE_TOO_LARGE, str(exc).split(",")[0], 0, 0, 0
    return shown, FILE_UNREADABLE, f"{type(exc).__name__}: {exc}"[:200], 0, 0, 0


def _probe_named(name: str, image_dir: Path, root: Path, folders: dict[str, Path | None], max_pixels: int,
                 ) -> tuple[str, str, str, int, int, int]:
    """The `_probe_one` row of any valid `name`, through path objects; `folders` holds each folder resolved."""
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
    return _probe_one(path, root, max_pixels, resolved=quick)


def _probe_plain(name: str, image_dir: Path, root_prefix: str, folders: dict[str, tuple[str, str] | None],
                 max_pixels: int) -> tuple[str, str, str, int, int, int] | None:
    """`_probe_named`'s row for a `_plain_name` from one `os.lstat` and string operations, or None
    when that path must answer (a link, an empty or "." part, a folder that does not resolve, an
    lstat error other than "no such file").

    `root_prefix` is the resolved dataset folder with a trailing slash; `folders` maps each folder
    part of a name to (that folder as named, resolved), both with a trailing slash.
    """
    if "/" in name:
        if "" in (parts := name.split("/")) or "." in parts:  # pathlib would drop these parts
            return None
    elif name == ".":
        return None
    sub, _, last = name.rpartition("/")
    if sub not in folders:
        try:
            resolved = str((image_dir / name).parent.resolve())
        except (OSError, RuntimeError):
            folders[sub] = None
        else:
            folders[sub] = (os.path.join(str(image_dir), sub, ""), os.path.join(resolved, ""))
    if (folder := folders[sub]) is None:
        return None
    try:
        mode = os.lstat(folder[0] + last).st_mode
    except FileNotFoundError:
        mode = None
    except OSError:
        return None
    if mode is not None and stat.S_ISLNK(mode):
        return None
    shown = folder[1] + last
    # Confinement first, as in `_probe_one`; the folder is resolved and `last` not a link.
    if not (shown.startswith(root_prefix) or shown == root_prefix[:-1]):
        return _OUTSIDE_ROW
    if mode is None:
        return shown, FILE_MISSING, "", 0, 0, 0
    if not stat.S_ISREG(mode):  # a folder, a FIFO or a device would block or fail
        return shown, FILE_UNREADABLE, "not a regular file", 0, 0, 0
    return _read_header(shown, max_pixels)


def probe_images(image_dir: Path, file_names: Sequence[str]) -> pd.DataFrame:
    """Locate and measure each frame file named in `file_names`, relative to `image_dir`.

    Returns:
        One row per name, in order: `path` (str: resolved; "" for a name that is never opened), `file_status` (one of the FILE_* values),
        `file_detail` (str, why it is not "ok"), `file_width`, `file_height` (int64 px from
        the file's header; 0 when unknown) and `exif_orientation` (int64; 1 = as stored,
        0 = unknown). Names that fail `file_name_problem` get FILE_BAD_NAME and are not opened;
        frames over `limits.max_image_pixels()` get FILE_TOO_LARGE, their size and orientation 0
        (their EXIF is not read: PIL would decode a whole PNG to find it).

    Raises:
        XamiDataError: `XAMI_MAX_IMAGE_PIXELS` is not a positive number.
    """
    try:
        root = image_dir.resolve()
        # Plain names compare strings of resolved paths: pathlib's part-wise test, on POSIX.
        root_prefix = os.path.join(str(root), "") if os.sep == "/" else None
    except (OSError, RuntimeError):
        root, root_prefix = image_dir, None
    max_pixels = max_image_pixels()
    rows = []
    folders: dict[str, Path | None] = {}  # each distinct folder resolved once (most frames share one)
    plain_folders: dict[str, tuple[str, str] | None] = {}  # the same for plain names, as strings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        for name in file_names:
            row = None
            if root_prefix is not None and _plain_name(name):
                row = _probe_plain(name, image_dir, root_prefix, plain_folders, max_pixels)
            elif (why := file_name_problem(name)) is not None:
                row = ("", FILE_BAD_NAME, why, 0, 0, 0)
            if row is None:
                row = _probe_named(name, image_dir, root, folders, max_pixels)
            rows.append(row)
    frame = pd.DataFrame.from_records(rows, columns=list(PROBE_COLUMNS))
    for column in ("file_width", "file_height", "exif_orientation"):
        frame[column] = frame[column].astype(np.int64)
    for column in ("path", "file_status", "file_detail"):
        frame[column] = frame[column].astype("str")
    return frame
