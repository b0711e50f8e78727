"""Frame headers: `probe_images` gives, for every kind of name and file, what a straightforward
computation gives (os.path to resolve and check, PIL per file, the file-name rules through pathlib),
in one call over a folder holding every kind at once."""

from __future__ import annotations

import errno
import os
import struct
import sys
import warnings
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import pytest
from PIL import Image, ImageFile

from xami_core.io import image_files
from xami_core.io.image_files import (
    FILE_BAD_NAME,
    FILE_MISSING,
    FILE_OK,
    FILE_OUTSIDE,
    FILE_TOO_LARGE,
    FILE_UNREADABLE,
    PROBE_COLUMNS,
    file_name_problem,
    probe_images,
)
from xami_core.limits import MAX_IMAGE_PIXELS_ENV, MAX_IMAGE_SIDE

ORIENTATION = 0x0112
LONG = "x" * 300 + ".jpg"  # longer than a file name may be (255 bytes)

pytestmark = pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # PIL's word on bad_exif.jpg


def _frame(path: Path, size: tuple[int, int] = (32, 16), fmt: str = "JPEG", **save) -> None:
    """A small grey frame with a gradient (so JPEG has something to code)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.tile(np.linspace(0, 255, size[0], dtype=np.uint8), (size[1], 1))
    Image.fromarray(pixels).save(path, format=fmt, **save)


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return exif.tobytes()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _build(tmp: Path) -> Path:
    """The dataset folder `tmp/d` holding one of each kind (see NAMES), and `tmp/outside` beside it."""
    d, outside = tmp / "d", tmp / "outside"
    _frame(d / "ok.jpg")
    _frame(d / "ok.png", size=(24, 40), fmt="PNG")
    _frame(d / "rot6.jpg", exif=_exif(6))
    _frame(d / "rot3.png", fmt="PNG", exif=_exif(3))
    _frame(d / "xmp.jpg", xmp=b'<x:xmpmeta><rdf:Description tiff:Orientation="8"/></x:xmpmeta>')
    _frame(d / "bad_exif.jpg", exif=b"Exif\x00\x00II*\x00\xff\xff\xff\x7f")
    _frame(d / "sub" / "deep.jpg", size=(8, 8))
    _frame(d / " lead.jpg")
    _frame(d / "x..y.jpg")
    _frame(d / "back\\slash.jpg")
    _frame(outside / "secret.jpg")
    _frame(outside / "back.jpg")  # replaced by a link into the dataset below
    (outside / "back.jpg").unlink()
    (outside / "back.jpg").symlink_to(d / "ok.jpg")
    (d / "folder.jpg").mkdir()
    os.mkfifo(d / "fifo.jpg")
    (d / "link_in.jpg").symlink_to(d / "sub" / "deep.jpg")
    (d / "link_out.jpg").symlink_to(outside / "secret.jpg")
    (d / "link_out_missing.jpg").symlink_to(outside / "nothing.jpg")
    (d / "loop.jpg").symlink_to(d / "loop.jpg")
    (d / "out").symlink_to(outside)
    (d / "up").symlink_to(tmp)
    (d / "text.jpg").write_text("not an image")
    (d / "empty.png").write_bytes(b"")
    (d / "jpeg_garbage.jpg").write_bytes(b"\xff\xd8\xff" + os.urandom(64))
    png = (d / "ok.png").read_bytes()
    (d / "png_cut.png").write_bytes(png[:png.index(b"IDAT") + 8])  # the header whole, the pixels cut
    _frame(d / "large.png", size=(64, 64), fmt="PNG")  # no EXIF ahead of the pixels: PIL would decode it
    end = png.rindex(b"IEND") - 4  # where the IEND chunk (its length field first) starts
    (d / "exif_after.png").write_bytes(png[:end] + _png_chunk(b"eXIf", _exif(6)[6:]) + png[end:])  # "Exif\0\0" dropped
    xmp = b'XML:com.adobe.xmp\x00\x00\x00\x00\x00<x:xmpmeta><rdf:Description tiff:Orientation="5"/></x:xmpmeta>'
    (d / "xmp_after.png").write_bytes(png[:end] + _png_chunk(b"iTXt", xmp) + png[end:])
    _frame(d / "large_rot6.jpg", size=(64, 64), exif=_exif(6))
    return d


NAMES = [
    "ok.jpg",  # a plain JPEG, no EXIF
    "ok.png",  # a plain PNG
    "rot6.jpg",  # EXIF orientation 6
    "rot3.png",  # a PNG's eXIf chunk, orientation 3
    "exif_after.png",  # a PNG's eXIf chunk after its pixels, orientation 6
    "xmp_after.png",  # a PNG's XMP after its pixels, orientation 5
    "xmp.jpg",  # orientation from XMP, no EXIF block
    "bad_exif.jpg",  # a damaged EXIF block: orientation 1
    "sub/deep.jpg",  # a folder prefix
    "./ok.jpg",  # a "." part
    "sub//deep.jpg",  # an empty part
    "ok.jpg/",  # a trailing slash
    ".",  # the dataset folder itself
    "sub/.",  # a sub folder, named with a "." part
    "up/d",  # the dataset folder again, through a link to its parent
    " lead.jpg",  # a name starting with a space
    "x..y.jpg",  # ".." inside a part
    "back\\slash.jpg",  # a backslash: a folder on Windows, part of the name here
    "nothing.jpg",  # missing
    "sub/nothing.jpg",  # missing in a sub folder
    "nowhere/nothing.jpg",  # missing folder
    "folder.jpg",  # a folder named like a frame
    "fifo.jpg",  # a FIFO: never opened
    "link_in.jpg",  # a link to a frame inside
    "link_out.jpg",  # a link to a frame outside
    "link_out_missing.jpg",  # a link to a missing file outside: the same answer
    "out/secret.jpg",  # through a folder link to outside
    "out/nothing.jpg",  # the same, missing
    "out/back.jpg",  # through a folder outside, then a link back inside
    "loop.jpg",  # a link to itself
    "ok.jpg/x.jpg",  # a file used as a folder
    LONG,  # a name too long for the file system
    "text.jpg",  # not an image
    "empty.png",  # an empty file
    "jpeg_garbage.jpg",  # JPEG magic, then garbage
    "png_cut.png",  # a PNG cut after its header: size known, pixels missing
    "large.png",  # 64 x 64 px, above the pixel cap the test sets
    "large_rot6.jpg",  # the same, a JPEG with EXIF orientation 6
    "",  # empty name
    "   ",  # blank
    None,  # not a string
    5,  # not a string
    "/etc/passwd",  # absolute
    "C:x.jpg",  # a drive letter
    "c:\\x.jpg",  # a Windows absolute path
    "\\\\server\\share\\x.jpg",  # a UNC path
    "//server/x.jpg",  # two slashes
    "a/../ok.jpg",  # climbs out and back
    "..\\ok.jpg",  # climbs out with a backslash
    "x\x00.jpg",  # a NUL byte
]


def _name_problem(name: object) -> str | None:
    """The file-name rules, written out with pathlib alone."""
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


def _expected(image_dir: Path, name: object, max_pixels: int) -> tuple:
    """One probe row, computed the straightforward way: resolve, confine, stat, open with PIL."""
    why = _name_problem(name)
    if why is not None:
        return "", FILE_BAD_NAME, why, 0, 0, 0
    joined = str(image_dir / name)
    try:
        os.path.realpath(joined, strict=True)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return joined, FILE_UNREADABLE, "symbolic-link loop" if sys.version_info < (3, 13) else exc.strerror, 0, 0, 0
    root, target = os.path.realpath(image_dir), os.path.realpath(joined)
    if target != root and not target.startswith(root + os.sep):
        return "", FILE_OUTSIDE, "resolves outside the dataset folder (a symbolic link?)", 0, 0, 0
    try:
        if not os.path.isfile(target) and os.path.exists(target):
            return target, FILE_UNREADABLE, "not a regular file", 0, 0, 0
        os.stat(target)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(target) as im:
                width, height = im.size
                if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE or width * height > max_pixels:
                    return (target, FILE_TOO_LARGE, f"{width} x {height} px, more than {max_pixels:,} pixels "
                            f"({MAX_IMAGE_PIXELS_ENV})", width, height, 0)  # EXIF not read: no PNG decoded
                try:
                    orientation = int(im.getexif().get(ORIENTATION, 1))
                except Exception:  # noqa: BLE001 - a damaged EXIF block only loses the tag
                    orientation = 1
    except FileNotFoundError:
        return target, FILE_MISSING, "", 0, 0, 0
    except Image.DecompressionBombError as exc:
        return target, FILE_TOO_LARGE, str(exc).split(",")[0], 0, 0, 0
    except Exception as exc:  # noqa: BLE001 - every other failure is "unreadable", with PIL's or the OS's words
        return target, FILE_UNREADABLE, f"{type(exc).__name__}: {exc}"[:200], 0, 0, 0
    return target, FILE_OK, "", width, height, orientation


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """Every kind of frame file in one folder; frames above 60 x 60 px are over the cap."""
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, str(60 * 60))
    return _build(tmp_path)


def _rows(frame) -> list[tuple]:
    return [tuple(r) for r in frame[list(PROBE_COLUMNS)].itertuples(index=False)]


def test_every_kind_matches_the_straightforward_computation(folder):
    got = _rows(probe_images(folder, NAMES))
    want = [_expected(folder, name, 60 * 60) for name in NAMES]
    assert [(n, g) for n, g, w in zip(NAMES, got, want) if g != w] == []


@pytest.mark.parametrize(
    "name, status, width, height, orientation",
    [
        ("ok.jpg", FILE_OK, 32, 16, 1),  # a plain JPEG
        ("ok.png", FILE_OK, 24, 40, 1),  # a plain PNG
        ("rot6.jpg", FILE_OK, 32, 16, 6),  # EXIF orientation
        ("rot3.png", FILE_OK, 32, 16, 3),  # a PNG's eXIf chunk
        ("exif_after.png", FILE_OK, 24, 40, 6),  # a PNG's eXIf chunk after its pixels
        ("xmp_after.png", FILE_OK, 24, 40, 5),  # a PNG's XMP after its pixels
        ("xmp.jpg", FILE_OK, 32, 16, 8),  # XMP orientation
        ("bad_exif.jpg", FILE_OK, 32, 16, 1),  # damaged EXIF block
        ("sub//deep.jpg", FILE_OK, 8, 8, 1),  # an empty part, as pathlib reads it
        ("back\\slash.jpg", FILE_OK, 32, 16, 1),  # a backslash in a POSIX name
        ("link_in.jpg", FILE_OK, 8, 8, 1),  # a link inside: the target's size
        ("out/back.jpg", FILE_OK, 32, 16, 1),  # out and back in
        ("png_cut.png", FILE_OK, 24, 40, 1),  # the header suffices
        ("nowhere/nothing.jpg", FILE_MISSING, 0, 0, 0),  # missing
        ("fifo.jpg", FILE_UNREADABLE, 0, 0, 0),  # not a regular file
        (".", FILE_UNREADABLE, 0, 0, 0),  # the folder itself
        ("loop.jpg", FILE_UNREADABLE, 0, 0, 0),  # a link loop
        (LONG, FILE_UNREADABLE, 0, 0, 0),  # a name too long
        ("jpeg_garbage.jpg", FILE_UNREADABLE, 0, 0, 0),  # a damaged header
        ("large.png", FILE_TOO_LARGE, 64, 64, 0),  # over the cap: size said, EXIF not read
        ("large_rot6.jpg", FILE_TOO_LARGE, 64, 64, 0),  # the same for a JPEG with EXIF
        ("link_out_missing.jpg", FILE_OUTSIDE, 0, 0, 0),  # outside
        ("a/../ok.jpg", FILE_BAD_NAME, 0, 0, 0),  # a bad name
    ],
)
def test_each_kind_gets_its_status(folder, name, status, width, height, orientation):
    row = probe_images(folder, [name]).iloc[0]
    assert (row["file_status"], row["file_width"], row["file_height"], row["exif_orientation"]) == (
        status, width, height, orientation)
    assert _rows(probe_images(folder, [name])) == [_expected(folder, name, 60 * 60)]


def test_outside_answers_say_nothing_of_the_target(folder):
    rows = _rows(probe_images(folder, ["link_out.jpg", "link_out_missing.jpg", "out/secret.jpg", "out/nothing.jpg"]))
    assert len(set(rows)) == 1 and rows[0][:2] == ("", FILE_OUTSIDE)


def test_pil_decompression_bomb_is_too_large(folder, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # PIL refuses more than twice this
    got = _rows(probe_images(folder, ["ok.jpg", "sub/deep.jpg"]))
    assert got == [_expected(folder, "ok.jpg", 60 * 60), _expected(folder, "sub/deep.jpg", 60 * 60)]
    assert got[0][1] == FILE_TOO_LARGE and "exceeds limit" in got[0][2] and got[1][1] == FILE_OK


def test_a_frame_over_the_cap_is_not_decoded(folder, monkeypatch):
    # PIL decodes a PNG to look for EXIF after its pixels; over the cap that must not happen
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail(f"{self.filename} decoded"))
    assert probe_images(folder, ["large.png"]).iloc[0]["file_status"] == FILE_TOO_LARGE


def test_a_png_is_decoded_only_when_an_orientation_may_follow_its_pixels(folder, monkeypatch):
    decoded = []
    real = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(Path(self.filename).name) or real(self))
    names = ["ok.png", "rot3.png", "png_cut.png", "exif_after.png", "xmp_after.png"]
    assert list(probe_images(folder, names)["exif_orientation"]) == [1, 3, 1, 6, 5]
    assert decoded == ["exif_after.png", "xmp_after.png"]  # the others give their answer from the header


def test_the_pixel_cap_is_read_once_per_call(folder, monkeypatch):
    calls = []
    real = image_files.max_image_pixels
    monkeypatch.setattr(image_files, "max_image_pixels", lambda: calls.append(1) or real())
    probe_images(folder, NAMES)
    assert calls == [1]


def test_a_relative_dataset_folder_gives_the_same_rows(folder, monkeypatch):
    monkeypatch.chdir(folder.parent)
    assert _rows(probe_images(Path("d"), NAMES)) == [_expected(Path("d"), name, 60 * 60) for name in NAMES]


def test_column_types(folder):
    frame = probe_images(folder, NAMES)
    assert list(frame.columns) == list(PROBE_COLUMNS)
    assert [str(t) for t in frame.dtypes[3:]] == ["int64"] * 3


@pytest.mark.parametrize("name", [n for n in NAMES if n != LONG] + ["a:b.jpg", "a/./b.jpg", "\tx.jpg", "/", "..",
                                                                     "x/..", "images/S0101_U.jpg", "x.jpg\n"])
def test_file_name_rules_match_pathlib(name):
    assert file_name_problem(name) == _name_problem(name)
