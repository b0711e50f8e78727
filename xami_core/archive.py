"""Safe extraction of dataset archives: validated members, size ceiling, atomic rename.

Extraction writes into a hidden temporary folder beside the target (`.<name>-<random>.xami-partial`)
holding an owner file (host name and process id) and renames it when complete. A process
killed midway (power cut, SIGKILL) cannot clean up, so every extraction, and the app on
a session's start, removes such folders first when they are stale: their owner process
on this host is gone, they have no owner file and are older than a short grace period,
or they are older than a day (an owner on another host sharing the cache, or a reused
process id). A folder whose owner still runs is never touched.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import stat
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from .model import XamiDataError
from .paths import cache_dir, file_fingerprint, name_max, shown

DEFAULT_MAX_BYTES = 4 * 1024**3  # the real archives unpack to well under 100 MB
DEFAULT_MAX_MEMBERS = 200_000
CHUNK = 1 << 20
COMPLETE_MARKER = ".xami-extracted"
PARTIAL_SUFFIX = ".xami-partial"  # temporary folders: only names ending so are ever removed outside the cache
OWNER_FILE = ".xami-owner"  # inside a temporary folder: "<host> <pid>" of the process writing it
STALE_TEMP_SECONDS = 24 * 3600  # older than this, a temporary folder is stale whoever made it
UNOWNED_GRACE_SECONDS = 120  # a temporary folder without an owner file (killed right after creating it)
STEM_BYTES = 80  # of a long name reused in a cache or temporary folder name, which must stay within NAME_MAX
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
        targets = [(info, rel) for info, rel in targets if rel.parts and rel.parts[0] != "__MACOSX"]
        _check_names(targets, archive, name_max(dest.parent))
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise XamiDataError(f"{archive}: cannot create the folder {shown(str(dest.parent))} to extract into ({exc})") from exc
        remove_stale_temps(dest.parent)
        tmp = _make_temp(dest)
        try:
            written = 0
            for info, rel in targets:
                out = tmp.joinpath(*rel.parts)
                try:
                    if info.is_dir():
                        out.mkdir(parents=True, exist_ok=True)
                        continue
                    out.parent.mkdir(parents=True, exist_ok=True)
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
                except OSError as exc:  # disk full, permissions, a path longer than the system allows
                    raise XamiDataError(f"{archive}: member '{shown(info.filename)}' cannot be written to {shown(str(out.parent))} ({exc.strerror or exc})") from exc
            (tmp / OWNER_FILE).unlink(missing_ok=True)
            (tmp / COMPLETE_MARKER).write_text(str(archive))
            try:
                os.replace(tmp, dest)
            except OSError as exc:
                if not (dest / COMPLETE_MARKER).exists():  # another process did not win the race
                    raise XamiDataError(f"{archive}: the extracted folder cannot be moved to {shown(str(dest))} "
                                        f"({exc.strerror or exc})") from exc
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return dest


def _check_names(targets: list[tuple[zipfile.ZipInfo, PurePosixPath]], archive: Path, limit: int) -> None:
    """Refuse, before writing, a member name too long for the file system or a path both a file and a folder."""
    files: dict[PurePosixPath, str] = {}
    folders: dict[PurePosixPath, str] = {}
    for info, rel in targets:
        for part in rel.parts:
            size = len(os.fsencode(part))
            if size > limit:
                raise XamiDataError(f"{archive}: member '{shown(info.filename)}' has a name of {size} bytes "
                                    f"('{shown(part, 60)}'); this file system allows at most {limit}; refusing to extract")
        (folders if info.is_dir() else files).setdefault(rel, info.filename)
        for parent in list(rel.parents)[:-1]:  # the last parent is '.'
            folders.setdefault(parent, info.filename)
    clashes = sorted(files.keys() & folders.keys())
    if clashes:
        first = clashes[0]
        raise XamiDataError(f"{archive}: member '{shown(files[first])}' is a file, but member '{shown(folders[first])}' "
                            f"needs a folder of the same name ({len(clashes)} such clash(es)); refusing to extract")


def _stem(name: str) -> str:
    """The start of `name`, at most STEM_BYTES bytes once encoded, cut between characters."""
    return os.fsencode(name)[:STEM_BYTES].decode("utf-8", "ignore")


def _make_temp(dest: Path) -> Path:
    """A new hidden temporary folder beside `dest`, marked with this process as its owner."""
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{_stem(dest.name)}-", suffix=PARTIAL_SUFFIX, dir=dest.parent))
    except OSError as exc:
        raise XamiDataError(f"cannot create a temporary folder in {shown(str(dest.parent))} ({exc})") from exc
    try:
        (tmp / OWNER_FILE).write_text(f"{socket.gethostname()} {os.getpid()}\n")
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise XamiDataError(f"cannot write in {shown(str(dest.parent))} ({exc})") from exc
    return tmp


def _owner(folder: Path) -> tuple[str, int] | None:
    """(host, pid) from a temporary folder's owner file; None when it is missing or unreadable."""
    try:
        host, pid = (folder / OWNER_FILE).read_text().split()[:2]
        return host, int(pid)
    except (OSError, ValueError):
        return None


def _running(pid: int) -> bool | None:
    """Whether a process of this host runs; None when that cannot be told."""
    if os.name != "posix":  # os.kill(pid, 0) only asks on POSIX
        return None
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:
        return None
    return True


def is_stale_temp(folder: Path, now: float | None = None) -> bool:
    """Whether a temporary extraction folder was left by a process that can no longer finish it (see the module doc)."""
    try:
        age = (time.time() if now is None else now) - folder.stat().st_mtime
    except OSError:
        return False
    owner = _owner(folder)
    if owner is None:  # killed between creating the folder and writing its owner, or a damaged file
        return age > UNOWNED_GRACE_SECONDS
    host, pid = owner
    if host == socket.gethostname() and _running(pid) is False:
        return True
    return age > STALE_TEMP_SECONDS  # another host, or a process id since reused


def remove_stale_temps(parent: Path | None = None) -> list[Path]:
    """Delete stale temporary folders (`*.xami-partial`) in `parent`, else in the cache's extraction folders; returns them.

    Never raises: a folder that cannot be examined or removed is left alone.
    """
    if parent is None:
        try:
            root = cache_dir()
        except OSError:
            return []
        return [*remove_stale_temps(root / "extracted"), *remove_stale_temps(root / UPLOADS),
                *_remove_old_unmarked(root / "extracted"), *_remove_old_unmarked(root / UPLOADS)]
    removed = []
    try:
        entries = [p for p in parent.iterdir() if p.name.startswith(".") and p.name.endswith(PARTIAL_SUFFIX)]
    except OSError:
        return []
    for tmp in entries:
        try:
            if tmp.is_dir() and not tmp.is_symlink() and is_stale_temp(tmp):
                shutil.rmtree(tmp)
                removed.append(tmp)
        except OSError:
            continue
    return removed


def _remove_old_unmarked(parent: Path) -> list[Path]:
    """In the cache's own folders: temporary folders of older versions (no suffix, no owner), after a day."""
    removed = []
    now = time.time()
    try:
        entries = [p for p in parent.glob(".*-*") if not p.name.endswith(PARTIAL_SUFFIX)]
    except OSError:
        return []
    for tmp in entries:
        try:
            if tmp.is_dir() and not tmp.is_symlink() and now - tmp.stat().st_mtime > STALE_TEMP_SECONDS:
                shutil.rmtree(tmp)
                removed.append(tmp)
        except OSError:
            continue
    return removed


def extraction_target(archive: Path) -> Path:
    """Where `extracted_dir` puts (or has put) this version of `archive`; complete when it holds the marker."""
    key = hashlib.sha1(repr(file_fingerprint(archive)).encode()).hexdigest()[:12]
    # A long archive name is cut: the folder's name must stay within the file system's limit.
    return cache_dir() / "extracted" / f"{_stem(archive.stem)}-{key}"


def extracted_dir(archive: Path, max_bytes: int = DEFAULT_MAX_BYTES, on_bytes: BytesCallback | None = None) -> Path:
    """The cached extraction of `archive`, made once per archive content version."""
    dest = extraction_target(archive)
    if (dest / COMPLETE_MARKER).exists():
        return dest
    if dest.exists():  # a leftover without the marker: never use it
        shutil.rmtree(dest, ignore_errors=True)
    _remove_old_unmarked(dest.parent)
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

    The bytes pass through a temporary file with a fixed short name (the user's file name
    may be longer than the file system allows; it only appears in messages) and
    `extract_zip_to`, with all its checks; the temporary file is removed afterwards.

    Raises:
        XamiDataError: the upload is not a usable zip; the message names it as 'uploaded file <name>'.
    """
    key = upload_key(data)
    done = uploaded_dir(key)
    if done is not None:
        return done
    name = PurePosixPath(filename.replace("\\", "/")).name or "upload.zip"
    label = f"uploaded file '{shown(name)}'"
    parent = cache_dir() / UPLOADS
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise XamiDataError(f"{label}: the cache folder {parent} cannot be created ({exc})") from exc
    _remove_old_unmarked(parent)  # and `extract_zip_to` removes stale `*.xami-partial` folders
    staging = _make_temp(parent / f"{key}-upload")
    archive = staging / "upload.zip"
    try:
        try:
            archive.write_bytes(data)
        except OSError as exc:
            raise XamiDataError(f"{archive}: cannot be stored in the cache ({exc.strerror or exc})") from exc
        extract_zip_to(archive, parent / key, max_bytes=max_bytes, on_bytes=on_bytes)
    except XamiDataError as exc:  # name the upload, not the staging file the user never saw
        raise XamiDataError(str(exc).replace(str(archive), label)) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return parent / key
