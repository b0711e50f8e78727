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
import secrets
import shutil
import socket
import stat
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from xami_core.model import XamiDataError
from xami_core.paths import (
    CACHE_MAX_GB_ENV,
    MAX_ZIP_MEMBERS_ENV,
    cache_dir,
    cache_quota_bytes,
    file_fingerprint,
    format_bytes,
    max_zip_members,
    name_max,
    setting_number,
    shown,
)

DEFAULT_MAX_BYTES = 4 * 1024**3  # the real archives unpack to well under 100 MB
EXTRACTED = "extracted"  # cache folder of extracted archives: evictable, one entry per archive version
THUMBS = "thumbs"  # cache folder of thumbnails (gallery.thumbs_dir): evictable, one entry per file
INDEX, INDEX_MARKER = "index", ".xami-index"  # loaded datasets (io.index_cache): evictable, complete with the marker
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


class DamagedArchiveError(XamiDataError):
    """An archive whose bytes are damaged (truncated, bad CRC): a fresh copy may cure it, unlike a refused one."""


class CacheFullError(XamiDataError):
    """Data the cache has no room for now: it may fit later (an upload deleted or expired, a larger quota),
    so the refusal is not remembered as a failed load is."""


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
                   max_members: int | None = None, on_bytes: BytesCallback | None = None) -> Path:
    """Extract `archive` into `dest` (which must not exist) safely and atomically.

    Members are checked before anything is written; bytes are counted while copying
    (headers can lie), and the folder appears under `dest` only when complete.
    `on_bytes(done, total)` reports progress in bytes (total: the declared unpacked size).
    `max_members` defaults to the `XAMI_MAX_ZIP_MEMBERS` setting.

    Raises:
        DamagedArchiveError: the archive or a member cannot be read (truncated, bad CRC).
        XamiDataError: a member is refused (escapes, links, too many, too large) or cannot be written.
    """
    limit = max_zip_members() if max_members is None else max_members
    with _open_zip(archive) as zf:
        targets, declared = _checked_members(zf, archive, dest, max_bytes, limit)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise XamiDataError(f"{archive}: cannot create the folder {shown(str(dest.parent))} to extract into ({exc})") from exc
        remove_stale_temps(dest.parent)
        tmp = _make_temp(dest)
        try:
            _write_members(zf, targets, tmp, archive, max_bytes, declared, on_bytes)
            _publish(tmp, dest, archive)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return dest


def _open_zip(archive: Path) -> zipfile.ZipFile:
    """The archive opened for reading, or the error that says it is not a readable zip."""
    try:
        return zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise DamagedArchiveError(f"{archive}: not a readable zip archive ({exc})") from exc
    except OSError as exc:
        raise XamiDataError(f"{archive}: not a readable zip archive ({exc})") from exc


def _checked_members(zf: zipfile.ZipFile, archive: Path, dest: Path, max_bytes: int,
                     limit: int) -> tuple[list[tuple[zipfile.ZipInfo, PurePosixPath]], int]:
    """The members to write with their relative paths (`__MACOSX` left out), and the declared unpacked size
    in bytes; refused as a whole, before anything is written, when one member or the total is not acceptable."""
    infos = zf.infolist()
    if len(infos) > limit:
        raise XamiDataError(f"{archive}: {len(infos)} members, more than the limit of {limit} this server "
                            f"extracts ({MAX_ZIP_MEMBERS_ENV}; a XAMI archive holds about 1,200); refusing to extract")
    declared = sum(i.file_size for i in infos)
    if declared > max_bytes:
        raise CacheFullError(f"{archive}: unpacks to {format_bytes(declared)}, more than the ceiling of "
                             f"{format_bytes(max_bytes)} (the room left in this server's cache quota, {CACHE_MAX_GB_ENV}, "
                             f"and {format_bytes(DEFAULT_MAX_BYTES)} at most); refusing to extract. An upload deleted "
                             "or expired makes room; whoever runs the server can raise the quota")
    targets = [(info, _member_target(info, archive)) for info in infos]
    targets = [(info, rel) for info, rel in targets if rel.parts and rel.parts[0] != "__MACOSX"]
    _check_names(targets, archive, name_max(dest.parent))
    return targets, declared


def _write_members(zf: zipfile.ZipFile, targets: list[tuple[zipfile.ZipInfo, PurePosixPath]], tmp: Path,
                   archive: Path, max_bytes: int, declared: int, on_bytes: BytesCallback | None) -> None:
    """Copy the members into `tmp`, counting the bytes actually written against `max_bytes`."""
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
            raise DamagedArchiveError(f"{archive}: member '{info.filename}' cannot be read ({exc}); the archive is damaged or uses an unsupported format") from exc
        except OSError as exc:  # disk full, permissions, a path longer than the system allows
            raise XamiDataError(f"{archive}: member '{shown(info.filename)}' cannot be written to {shown(str(out.parent))} ({exc.strerror or exc})") from exc


def _publish(tmp: Path, dest: Path, archive: Path) -> None:
    """Mark the extraction complete and move it to `dest` in one step (another process may have won the race)."""
    (tmp / OWNER_FILE).unlink(missing_ok=True)
    # A new token per extraction: a folder deleted and extracted again is told apart (`extraction_id`).
    (tmp / COMPLETE_MARKER).write_text(f"{archive}\n{secrets.token_hex(8)}\n")
    try:
        os.replace(tmp, dest)
    except OSError as exc:
        if not (dest / COMPLETE_MARKER).exists():  # another process did not win the race
            raise XamiDataError(f"{archive}: the extracted folder cannot be moved to {shown(str(dest))} "
                                f"({exc.strerror or exc})") from exc
        shutil.rmtree(tmp, ignore_errors=True)


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
        return [*remove_stale_temps(root / EXTRACTED), *remove_stale_temps(root / UPLOADS),
                *_remove_old_unmarked(root / EXTRACTED), *_remove_old_unmarked(root / UPLOADS)]
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
    return cache_dir() / EXTRACTED / f"{_stem(archive.stem)}-{key}"


def extraction_id(folder: Path) -> str | None:
    """The token of a complete extraction in `folder` (new each time it is made), or None when there is none."""
    try:
        return (folder / COMPLETE_MARKER).read_text(errors="replace")
    except OSError:
        return None


def extracted_dir(archive: Path, max_bytes: int | None = None, on_bytes: BytesCallback | None = None) -> Path:
    """The cached extraction of `archive`, made once per archive content version (again if it was deleted).

    `max_bytes` defaults to the smaller of `DEFAULT_MAX_BYTES` and the cache quota less what eviction
    cannot free (`upload_room`). After a new extraction, the least recently used cache entries are
    evicted down to the quota (`evict_cache`).

    Raises:
        DamagedArchiveError: the archive cannot be read; XamiDataError: it is refused or cannot be written.
    """
    dest = extraction_target(archive)
    marker = dest / COMPLETE_MARKER
    if marker.exists():
        try:
            os.utime(dest)  # "last used", for eviction (a complete extraction's folder is never written again)
        except OSError:
            pass
        return dest
    if dest.exists():  # a leftover without the marker: never use it
        shutil.rmtree(dest, ignore_errors=True)
    _remove_old_unmarked(dest.parent)
    quota = cache_quota_bytes()
    limit = min(DEFAULT_MAX_BYTES, room_for_upload(0, str(archive))) if max_bytes is None else max_bytes
    extract_zip_to(archive, dest, max_bytes=limit, on_bytes=on_bytes)
    evict_cache(quota, keep=(dest,))
    return dest


_EVICTION_LOCK = threading.Lock()


def _tree_size(path: Path) -> int:
    """Bytes of the files under `path` (or of the file itself); entries that vanish meanwhile count 0."""
    try:
        if not path.is_dir() or path.is_symlink():
            return path.lstat().st_size
    except OSError:
        return 0
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


def _last_used(path: Path) -> float:
    """When an entry was last used: an extraction's folder is touched on each use; a file's latest access or write."""
    try:
        st = path.stat()
    except OSError:
        return 0.0
    return st.st_mtime if path.is_dir() else max(st.st_mtime, st.st_atime)


def evictable_entries(root: Path | None = None) -> list[Path]:
    """The cache entries eviction may remove: complete extracted archives, index entries and thumbnail files.

    Never: the sample, uploads (their own expiry), downloaded metadata, or a folder still being
    written (temporary folders are hidden and have no marker).
    """
    root = cache_dir() if root is None else root
    entries: list[Path] = []
    for folder, marker in ((EXTRACTED, COMPLETE_MARKER), (INDEX, INDEX_MARKER)):
        try:
            entries += [p for p in (root / folder).iterdir()
                        if not p.name.startswith(".") and not p.is_symlink() and (p / marker).is_file()]
        except OSError:
            pass
    try:
        entries += [p for p in (root / THUMBS).glob("*/*.jpg") if p.is_file() and not p.is_symlink()]
    except OSError:
        pass
    return entries


def _remove_entry(path: Path) -> None:
    """Remove a file, or a folder by first renaming it to a hidden name (readers see it whole or gone)."""
    if not path.is_dir():
        path.unlink(missing_ok=True)
        return
    doomed = path.with_name(f".{_stem(path.name)}-{secrets.token_hex(4)}.xami-evicted")
    os.replace(path, doomed)  # a leftover (a crash midway) is removed a day later by `_remove_old_unmarked`
    shutil.rmtree(doomed, ignore_errors=True)


def evict_cache(quota: int | None = None, keep: tuple[Path, ...] = (), root: Path | None = None) -> list[Path]:
    """Remove least recently used evictable entries until the whole cache is within `quota` bytes; returns them.

    `quota` defaults to `XAMI_CACHE_MAX_GB`; `keep` (the entry just written, the one being loaded)
    is never removed. When only unevictable data is left over the quota, eviction stops there.
    A file that cannot be examined or removed is skipped.

    Raises:
        XamiDataError: `quota` is not given and `XAMI_CACHE_MAX_GB` is not a positive number.
    """
    root = cache_dir() if root is None else root
    quota = cache_quota_bytes() if quota is None else quota
    kept = {os.path.abspath(p) for p in keep}
    removed: list[Path] = []
    with _EVICTION_LOCK:  # two sessions finishing extractions at once must not count each other's removals twice
        total = _tree_size(root)
        if total <= quota:
            return removed
        candidates = sorted((p for p in evictable_entries(root) if os.path.abspath(p) not in kept), key=_last_used)
        for entry in candidates:
            if total <= quota:
                break
            size = _tree_size(entry)
            try:
                _remove_entry(entry)
            except OSError:
                continue
            total -= size
            removed.append(entry)
    return removed


def upload_room(root: Path | None = None) -> int:
    """Bytes a new upload may still take in the cache: its quota (`XAMI_CACHE_MAX_GB`) less what eviction
    cannot free (uploads, prediction uploads, the sample, downloads, metadata); may be 0 or negative.

    Raises:
        XamiDataError: `XAMI_CACHE_MAX_GB` is not a positive number.
    """
    root = cache_dir() if root is None else root
    quota = cache_quota_bytes()
    with _EVICTION_LOCK:
        kept = _tree_size(root) - sum(_tree_size(p) for p in evictable_entries(root))
    return quota - kept


# Held from an upload's room check until it is written, so uploads arriving together cannot all
# count the same free room (one server process; sessions are its threads).
upload_lock = threading.Lock()


def room_for_upload(size: int, label: str, root: Path | None = None) -> int:
    """The bytes an upload of `size` bytes (0 for an archive already on disk) leaves for what it unpacks
    to; refused when even `size` does not fit. Callers writing an upload hold `upload_lock` from
    this check until the upload is written.

    Uploads count towards the cache quota but are never evicted (they expire, or their user deletes
    them), so a new one is refused, not made room for, when the others fill the quota. An extraction
    may take what eviction can free, no more.

    Raises:
        CacheFullError: the upload does not fit (naming it, the quota and what to do).
        XamiDataError: the quota setting is bad.
    """
    room = upload_room(root)
    if size > room or (size == 0 and room <= 0):
        quota = cache_quota_bytes()
        raise CacheFullError(
            f"{label}: this server's cache has no room for it ({f'{format_bytes(size)}; ' if size else ''}the cache "
            f"quota, {CACHE_MAX_GB_ENV}, is {format_bytes(quota)}, and what it must keep (uploads, the bundled "
            f"sample, downloads) leaves {format_bytes(max(room, 0))} free). An upload deleted or expired makes room "
            f"(uploads are kept {_hours_text()}); whoever runs the server can raise {CACHE_MAX_GB_ENV}")
    return room - size


def _hours_text() -> str:
    """The uploads' time to live for a message (`XAMI_UPLOAD_TTL_HOURS`), the default when it is bad."""
    try:
        return f"{upload_ttl_hours():g} h"
    except XamiDataError:
        return f"{DEFAULT_UPLOAD_TTL_HOURS:g} h"


# --- uploads: the bytes a user sent, extracted into the cache under a random secret key ------------
# The key is the upload's only name: a random secret (not derived from the content, so nobody can
# test whether a file was uploaded), kept in the uploading session and put in a link only when its
# user shares it. Uploads expire after XAMI_UPLOAD_TTL_HOURS and can be deleted by their user.
UPLOADS = "uploads"
UPLOAD_KEY_BYTES = 24  # secrets.token_urlsafe: 32 characters of A-Z a-z 0-9 - _
UPLOAD_KEY_LENGTH = 32
_KEY_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
UPLOAD_TTL_ENV = "XAMI_UPLOAD_TTL_HOURS"
DEFAULT_UPLOAD_TTL_HOURS = 24.0


def new_upload_key() -> str:
    """A fresh random secret naming one upload (192 bits, URL-safe)."""
    return secrets.token_urlsafe(UPLOAD_KEY_BYTES)


def is_upload_key(key: str) -> bool:
    """Whether `key` has the form `new_upload_key` returns (so it is safe inside a path)."""
    return isinstance(key, str) and len(key) == UPLOAD_KEY_LENGTH and set(key) <= _KEY_CHARACTERS


def upload_ttl_hours() -> float:
    """Hours an upload is kept, from XAMI_UPLOAD_TTL_HOURS (default 24).

    Raises:
        XamiDataError: the setting is not a positive number (uploads are then off).
    """
    return setting_number(UPLOAD_TTL_ENV, DEFAULT_UPLOAD_TTL_HOURS, refused=lambda raw: (
        f"{UPLOAD_TTL_ENV}='{raw}': expected a number of hours above 0 (default {DEFAULT_UPLOAD_TTL_HOURS:g}); "
        "uploads are off until it is fixed"))


def _upload_age_s(folder: Path, now: float) -> float | None:
    """Seconds since the upload was extracted (its marker's time); None when it is not a complete upload."""
    try:
        return now - (folder / COMPLETE_MARKER).stat().st_mtime
    except OSError:
        return None


def uploaded_dir(key: str, now: float | None = None) -> Path | None:
    """The extracted folder of the upload with this secret key, or None if there is none (or it expired)."""
    if not is_upload_key(key):
        return None
    folder = cache_dir() / UPLOADS / key
    age = _upload_age_s(folder, time.time() if now is None else now)
    try:
        ttl_s = upload_ttl_hours() * 3600
    except XamiDataError:
        return None
    return folder if age is not None and age <= ttl_s and not folder.is_symlink() else None


def delete_upload(key: str) -> bool:
    """Remove the upload with this secret key from the cache; whether there was one. Never raises."""
    if not is_upload_key(key):
        return False
    folder = cache_dir() / UPLOADS / key
    if not folder.is_dir() or folder.is_symlink():
        return False
    # Renamed first, so a session still reading it sees it gone rather than half deleted.
    trash = folder.with_name(f".{key}-deleted{PARTIAL_SUFFIX}")
    try:
        os.replace(folder, trash)
    except OSError:
        trash = folder
    shutil.rmtree(trash, ignore_errors=True)
    return not folder.exists()


def remove_expired_uploads(now: float | None = None) -> list[Path]:
    """Delete uploads older than XAMI_UPLOAD_TTL_HOURS (and leftovers of the old content-hash keys); returns them.

    Never raises: with a bad setting nothing is removed (the sidebar says what is wrong).
    """
    try:
        ttl_s = upload_ttl_hours() * 3600
        parent = cache_dir() / UPLOADS
        entries = [p for p in parent.iterdir() if not p.name.startswith(".")]
    except (XamiDataError, OSError):
        return []
    now = time.time() if now is None else now
    removed = []
    for folder in entries:
        age = _upload_age_s(folder, now)
        expired = age is not None and age > ttl_s
        legacy = not is_upload_key(folder.name)  # e.g. the content-hash keys of earlier versions
        if (expired or legacy) and folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                removed.append(folder)
    return removed


def extract_upload(data: bytes, filename: str, key: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
                   on_bytes: BytesCallback | None = None) -> tuple[str, Path]:
    """Extract uploaded zip bytes safely into the cache under a secret key; returns (key, folder).

    `key` (from `new_upload_key`) names the upload; a new one is made when it is None. The
    bytes pass through a temporary file with a fixed short name (the user's file name may be
    longer than the file system allows; it only appears in messages) and `extract_zip_to`,
    with all its checks; the temporary file is removed afterwards. Expired uploads go first. The
    zip and what it unpacks to must fit in the cache quota beside the uploads already held
    (`room_for_upload`); evictable entries are then evicted down to the quota.

    Raises:
        XamiDataError: uploads are off (a bad XAMI_UPLOAD_TTL_HOURS), the upload is not a usable zip,
            or it does not fit in the cache quota; the message names it as 'uploaded file <name>'.
    """
    upload_ttl_hours()  # a bad setting refuses the upload, with the message
    key = new_upload_key() if key is None else key
    if not is_upload_key(key):
        raise XamiDataError("an upload key must come from new_upload_key()")
    done = uploaded_dir(key)
    if done is not None:
        return key, done
    remove_expired_uploads()
    name = PurePosixPath(filename.replace("\\", "/")).name or "upload.zip"
    label = f"uploaded file '{shown(name)}'"
    parent = cache_dir() / UPLOADS
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise XamiDataError(f"{label}: the cache folder {parent} cannot be created ({exc})") from exc
    _remove_old_unmarked(parent)  # and `extract_zip_to` removes stale `*.xami-partial` folders
    with upload_lock:  # no other upload counts the same room until this one is written
        room = room_for_upload(len(data), label)  # checked before anything is written; the staged zip counts too
        staging = _make_temp(parent / "upload")  # not named after the key: the key is a secret
        archive = staging / "upload.zip"
        try:
            try:
                archive.write_bytes(data)
            except OSError as exc:
                raise XamiDataError(f"{archive}: cannot be stored in the cache ({exc.strerror or exc})") from exc
            extract_zip_to(archive, parent / key, max_bytes=min(max_bytes, room), on_bytes=on_bytes)
        except XamiDataError as exc:  # name the upload, not the staging file the user never saw
            raise type(exc)(str(exc).replace(str(archive), label)) from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    evict_cache(keep=(parent / key,))  # extractions and thumbnails make way for it
    return key, parent / key
