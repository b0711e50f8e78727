"""Where the product writes (one user cache folder, overridable by `XAMI_CACHE`), and the one check of user paths."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import platformdirs

from xami_core.model import XamiDataError

APP_NAME = "xami-explorer"
DEFAULT_NAME_MAX = 255  # bytes per file name on every common file system
SHOWN_CHARS = 120  # longer paths are shortened in messages
# Settings that bound the work one request may cause (read at call time, so a test or a
# deployment may change them while the process runs).
MAX_JSON_MB_ENV, DEFAULT_MAX_JSON_MB = "XAMI_MAX_JSON_MB", 512.0  # XAMI's largest JSON is about 3 MB
CACHE_MAX_GB_ENV, DEFAULT_CACHE_MAX_GB = "XAMI_CACHE_MAX_GB", 5.0  # XAMI extracted is about 0.1 GB
MAX_ZIP_MEMBERS_ENV, DEFAULT_MAX_ZIP_MEMBERS = "XAMI_MAX_ZIP_MEMBERS", 50_000  # XAMI's archives hold about 1,200


def cache_dir() -> Path:
    """The cache root (`XAMI_CACHE`, else the platform's user cache folder), made when missing.

    Raises:
        OSError: the folder cannot be made (permissions, a file in its place).
    """
    override = os.environ.get("XAMI_CACHE")
    root = Path(override) if override else Path(platformdirs.user_cache_dir(APP_NAME))
    root.mkdir(parents=True, exist_ok=True)
    return root


def positive_number(raw: str) -> float | None:
    """`raw` read as a positive finite number, or None when it is not one (text, 0, negative, inf, NaN)."""
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if 0 < value < float("inf") else None  # NaN fails both comparisons


def setting_number(name: str, default: float, refused: Callable[[str], str] | None = None) -> float:
    """The positive number in environment variable `name`, else `default` when it is unset or blank.

    `refused(value)` words the error for a bad value (the value already shortened for display);
    by default it names the setting and says to fix it and restart.

    Raises:
        XamiDataError: the variable holds anything but a positive finite number (naming it and its value).
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    value = positive_number(raw)
    if value is None:
        raise XamiDataError(refused(shown(raw, 40)) if refused is not None else
                            f"setting {name}={shown(raw, 40)}: expected a positive number (default "
                            f"{f'{default:.0f}' if float(default).is_integer() else f'{default:g}'}); "
                            "fix or unset it and restart the server")
    return value


def max_json_bytes() -> int:
    """The largest JSON file a reader parses, in bytes (`XAMI_MAX_JSON_MB`, default 512 MB).

    Raises:
        XamiDataError: the setting is not a positive number.
    """
    return int(setting_number(MAX_JSON_MB_ENV, DEFAULT_MAX_JSON_MB) * 1024**2)


def cache_quota_bytes() -> int:
    """The cache's total size in bytes after which extractions and thumbnails are evicted (`XAMI_CACHE_MAX_GB`, default 5 GB).

    Raises:
        XamiDataError: the setting is not a positive number.
    """
    return int(setting_number(CACHE_MAX_GB_ENV, DEFAULT_CACHE_MAX_GB) * 1024**3)


def max_zip_members() -> int:
    """The most members an archive may hold to be extracted (`XAMI_MAX_ZIP_MEMBERS`, default 50,000).

    Raises:
        XamiDataError: the setting is not a positive number.
    """
    return int(setting_number(MAX_ZIP_MEMBERS_ENV, DEFAULT_MAX_ZIP_MEMBERS))


def file_fingerprint(path: Path) -> tuple[str, int, int]:
    """(resolved path, size in bytes, mtime in ns): changes when the file is edited.

    Raises:
        OSError: the file cannot be looked up (missing, no permission).
    """
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def resolves_inside(path: Path, root: Path) -> bool:
    """Whether `path`, symbolic links followed, lies inside `root` (itself resolved); False when either
    cannot be resolved (a link loop, a name the file system refuses)."""
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, ValueError, RuntimeError):
        return False


OUTSIDE_ROOT = "resolves outside the dataset folder (a symbolic link?); not read"  # says nothing of the target


def format_bytes(n: int) -> str:
    """A byte count for people: "812 B", "3.4 MB" (powers of 1024)."""
    size = float(n)
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.2f} GB"


def shown(text: str, limit: int = SHOWN_CHARS) -> str:
    """A path or name as a message shows it: control characters (NUL) escaped, a long one shortened."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    if len(text) <= limit:
        return text
    return f"{text[: limit * 2 // 3]}…{text[-(limit // 4):]} ({len(text)} characters)"


def name_max(path: Path) -> int:
    """The longest file name, in bytes, that the file system holding `path` (or its nearest existing parent) allows."""
    for folder in (path, *path.parents):
        try:
            return int(os.pathconf(folder, "PC_NAME_MAX"))
        except (OSError, ValueError, AttributeError):  # missing folder, no pathconf (Windows)
            continue
    return DEFAULT_NAME_MAX


def _loop_start(path: Path) -> Path:
    """The first prefix of `path` whose look-up loops (the symbolic link to name in a message)."""
    for i in range(1, len(path.parts) + 1):
        prefix = Path(*path.parts[:i])
        try:
            os.stat(prefix)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return prefix
            break
    return path


def checked_path(path: str | os.PathLike[str], what: str = "path") -> Path:
    """`path` with `~` expanded, if the system can look it up; else XamiDataError saying why.

    Refused: a NUL byte, a name or path longer than the file system allows
    (ENAMETOOLONG), a symbolic link loop (ELOOP), an unknown `~user` and any other
    look-up failure except "does not exist" (callers say that in their own words, and
    output folders may not exist yet). `what` names the path in the message ("data path").

    Raises:
        XamiDataError: the path cannot be used, with the reason and what to do.
    """
    text = os.fsdecode(os.fspath(path))
    where = f"{what} '{shown(text)}'"
    if "\x00" in text:
        raise XamiDataError(f"{where}: contains a NUL byte (\\x00), which no file or folder name can hold. "
                            "Type or paste the path again.")
    try:
        expanded = Path(text).expanduser()
    except RuntimeError as exc:  # '~someone' for a user this system does not know
        raise XamiDataError(f"{where}: '~' cannot be expanded here ({str(exc).rstrip('.')}). Give the full path.") from exc
    try:
        os.stat(expanded)
    except (FileNotFoundError, NotADirectoryError):
        pass
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            limit = name_max(expanded)
            longest = max(expanded.parts, key=lambda part: len(os.fsencode(part)), default="")
            size = len(os.fsencode(longest))
            if size > limit:
                why = f"the name '{shown(longest, 60)}' is {size} bytes long; this file system allows at most {limit}"
            else:
                why = f"the path is {len(os.fsencode(str(expanded)))} bytes long, more than this system allows"
            raise XamiDataError(f"{where}: {why} (ENAMETOOLONG). Choose a shorter name or path.") from exc
        if exc.errno == errno.ELOOP:
            raise XamiDataError(f"{where}: symbolic links loop at '{shown(str(_loop_start(expanded)))}' "
                                "(each points, directly or not, at itself: ELOOP). Fix or remove the link.") from exc
        raise XamiDataError(f"{where}: cannot be looked up ({exc.strerror or exc}).") from exc
    except ValueError as exc:  # anything else the OS refuses in a name
        raise XamiDataError(f"{where}: not a valid path ({exc}).") from exc
    return expanded
