"""Safe extraction of dataset archives: validated members, size ceiling, atomic rename."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from .model import XamiDataError
from .paths import cache_dir, file_fingerprint

DEFAULT_MAX_BYTES = 4 * 1024**3  # the real archives unpack to well under 100 MB
DEFAULT_MAX_MEMBERS = 200_000
CHUNK = 1 << 20
COMPLETE_MARKER = ".xami-extracted"
STALE_TEMP_SECONDS = 24 * 3600  # temp folders older than this were left by a killed process
# What a damaged or unsupported member raises while it is read (CRC, deflate, encryption, method).
READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError)
BytesCallback = Callable[[int, int], None]


def _member_target(info: zipfile.ZipInfo, archive: Path) -> PurePosixPath:
    """The member's relative path, or an error when it could escape or is not a plain file."""
    name = info.filename.replace("\\", "/")
    mode = info.external_attr >> 16
    where = f"{archive}: member '{info.filename}'"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise XamiDataError(f"{where} has an absolute path; refusing to extract")
    parts = PurePosixPath(name).parts
    if ".." in parts:
        raise XamiDataError(f"{where} contains '..'; refusing to extract")
    # Only the file-type bits count: some tools write bare permissions (0o644) with no type.
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        raise XamiDataError(f"{where} is a symbolic link; refusing to extract")
    if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
        raise XamiDataError(f"{where} is a device, FIFO or socket; refusing to extract")
    return PurePosixPath(*parts)


def extract_zip_to(archive: Path, dest: Path, max_bytes: int = DEFAULT_MAX_BYTES,
                   max_members: int = DEFAULT_MAX_MEMBERS, on_bytes: BytesCallback | None = None) -> Path:
    """Extract `archive` into `dest` (which must not exist) safely and atomically.

    Members are checked before anything is written; bytes are counted while copying
    (headers can lie), and the folder appears under `dest` only when complete.
    `on_bytes(done, total)` reports progress (total: the declared unpacked size).
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise XamiDataError(f"{archive}: not a readable zip archive ({exc})") from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > max_members:
            raise XamiDataError(f"{archive}: {len(infos)} members, more than the limit of {max_members}")
        declared = sum(i.file_size for i in infos)
        if declared > max_bytes:
            raise XamiDataError(f"{archive}: unpacks to {declared} bytes, more than the ceiling of {max_bytes}")
        targets = [(info, _member_target(info, archive)) for info in infos]
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
        try:
            written = 0
            for info, rel in targets:
                if not rel.parts or rel.parts[0] == "__MACOSX":
                    continue
                out = tmp.joinpath(*rel.parts)
                if info.is_dir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                try:
                    with zf.open(info) as src, out.open("wb") as dst:
                        while chunk := src.read(CHUNK):
                            written += len(chunk)
                            if written > max_bytes:
                                raise XamiDataError(f"{archive}: member '{info.filename}' pushes the unpacked size past the ceiling of {max_bytes} bytes")
                            dst.write(chunk)
                            if on_bytes is not None:
                                on_bytes(written, declared)
                except READ_ERRORS as exc:
                    raise XamiDataError(f"{archive}: member '{info.filename}' cannot be read ({exc}); the archive is damaged or uses an unsupported format") from exc
                except OSError as exc:  # disk full, a file/folder name clash, permissions
                    raise XamiDataError(f"{archive}: member '{info.filename}' cannot be written to {out.parent} ({exc})") from exc
            (tmp / COMPLETE_MARKER).write_text(str(archive))
            try:
                os.replace(tmp, dest)
            except OSError:
                if not (dest / COMPLETE_MARKER).exists():  # another process did not win the race
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return dest


def _remove_stale_temps(parent: Path) -> None:
    """Delete temp folders that a killed process left behind (old enough not to be in use)."""
    now = time.time()
    for tmp in parent.glob(".*-*"):
        try:
            if tmp.is_dir() and now - tmp.stat().st_mtime > STALE_TEMP_SECONDS:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            continue


def extraction_target(archive: Path) -> Path:
    """Where `extracted_dir` puts (or has put) this version of `archive`; complete when it holds the marker."""
    key = hashlib.sha1(repr(file_fingerprint(archive)).encode()).hexdigest()[:12]
    return cache_dir() / "extracted" / f"{archive.stem}-{key}"


def extracted_dir(archive: Path, max_bytes: int = DEFAULT_MAX_BYTES, on_bytes: BytesCallback | None = None) -> Path:
    """The cached extraction of `archive`, made once per archive content version."""
    dest = extraction_target(archive)
    if (dest / COMPLETE_MARKER).exists():
        return dest
    if dest.exists():  # a leftover without the marker: never use it
        shutil.rmtree(dest, ignore_errors=True)
    if dest.parent.is_dir():
        _remove_stale_temps(dest.parent)
    return extract_zip_to(archive, dest, max_bytes=max_bytes, on_bytes=on_bytes)


# --- uploads: the bytes a user sent, extracted into the cache under their content hash -------------
UPLOADS = "uploads"
UPLOAD_KEY_LENGTH = 16  # hex digits of SHA-256: enough to tell uploads apart, short enough for a link


def upload_key(data: bytes) -> str:
    """The content key of uploaded bytes (the first hex digits of their SHA-256)."""
    return hashlib.sha256(data).hexdigest()[:UPLOAD_KEY_LENGTH]


def is_upload_key(key: str) -> bool:
    """Whether `key` has the form `upload_key` returns (so it is safe inside a path)."""
    return len(key) == UPLOAD_KEY_LENGTH and all(c in "0123456789abcdef" for c in key)


def uploaded_dir(key: str) -> Path | None:
    """The extracted folder of an earlier upload with this key, or None if there is none."""
    if not is_upload_key(key):
        return None
    folder = cache_dir() / UPLOADS / key
    return folder if (folder / COMPLETE_MARKER).exists() else None


def extract_upload(data: bytes, filename: str, max_bytes: int = DEFAULT_MAX_BYTES,
                   on_bytes: BytesCallback | None = None) -> Path:
    """Extract uploaded zip bytes safely into the cache, once per content; returns the folder.

    The bytes pass through a temporary file named like the upload (so messages name it)
    and `extract_zip_to`, with all its checks; the temporary file is removed afterwards.
    """
    key = upload_key(data)
    done = uploaded_dir(key)
    if done is not None:
        return done
    parent = cache_dir() / UPLOADS
    parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(parent)
    name = PurePosixPath(filename.replace("\\", "/")).name or "upload.zip"
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-upload-", dir=parent))
    try:
        archive = staging / name
        archive.write_bytes(data)
        extract_zip_to(archive, parent / key, max_bytes=max_bytes, on_bytes=on_bytes)
    except XamiDataError as exc:  # name the upload, not the staging file the user never saw
        raise XamiDataError(str(exc).replace(str(staging / name), f"uploaded file '{name}'")) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return parent / key
