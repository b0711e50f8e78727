"""Deployment settings: the local paths users may open (allowed roots), and whether they may upload."""

from __future__ import annotations

import os
from pathlib import Path

from xami_core.model import XamiDataError
from xami_core.paths import cache_dir, checked_path, shown

ALLOWED_ROOTS_ENV = "XAMI_ALLOWED_ROOTS"
ALLOW_UPLOADS_ENV = "XAMI_ALLOW_UPLOADS"
_YES = {"1", "true", "yes", "on"}
_NO = {"0", "false", "no", "off"}


def allowed_roots() -> list[Path]:
    """The roots from `XAMI_ALLOWED_ROOTS` (os.pathsep-separated), resolved; empty means no restriction.

    Raises:
        XamiDataError: the setting is present but does not name only existing folders by absolute
            paths (blank, only separators, a relative entry, or one that is missing, not a folder or
            cannot be resolved, as a typo would leave it): local paths are then all refused, never
            opened with a restriction other than the one meant.
    """
    raw = os.environ.get(ALLOWED_ROOTS_ENV)
    if raw is None:
        return []
    entries = [p.strip() for p in raw.split(os.pathsep) if p.strip()]
    if not entries:
        raise XamiDataError(f"{ALLOWED_ROOTS_ENV}='{shown(raw, 40)}' names no folder, so no local path is opened; "
                            f"the deployment should list folders separated by '{os.pathsep}', or unset it")
    relative = [entry for entry in entries if not Path(entry).expanduser().is_absolute()]
    if relative:  # it would depend on the folder the server was started from
        raise XamiDataError(f"{ALLOWED_ROOTS_ENV} names {', '.join(_quoted(e) for e in relative)}, not an absolute "
                            "path, so no local path is opened; the deployment should name folders from '/'")
    roots, missing = [], []
    for entry in entries:
        try:
            root = Path(entry).expanduser().resolve()
            folder = root.is_dir()
        except (OSError, RuntimeError):  # a link loop, a name longer than the file system allows
            root, folder = Path(entry), False
        roots.append(root)
        if not folder:
            missing.append(entry)
    if missing:
        raise XamiDataError(f"{ALLOWED_ROOTS_ENV} names {', '.join(_quoted(m) for m in missing)}, which "
                            f"{'is not a folder' if len(missing) == 1 else 'are not folders'} on this server, so no "
                            "local path is opened; the deployment should name existing folders, or unset it")
    return roots


def _quoted(text: str) -> str:
    """A setting's entry in a message: quoted, control characters escaped once, a long one shortened."""
    return f"'{shown(text)}'"


def uploads_allowed() -> bool:
    """Whether users may upload zips (`XAMI_ALLOW_UPLOADS`, default yes).

    Raises:
        XamiDataError: the setting is neither a yes (1, true, yes, on) nor a no (0, false, no, off).
    """
    raw = os.environ.get(ALLOW_UPLOADS_ENV, "").strip().lower()
    if not raw or raw in _YES:
        return True
    if raw in _NO:
        return False
    raise XamiDataError(f"{ALLOW_UPLOADS_ENV}='{shown(raw, 40)}': expected 1 or 0 (yes/no, true/false, on/off); "
                        "uploads are off until it is fixed")


def settings_problems() -> list[str]:
    """What is wrong with the deployment's settings (environment variables), one message each; empty when
    every setting is usable. Each message names the setting, its value and what it expects."""
    from xami_core.io import archive, subset, worker  # noqa: PLC0415 - settings of the modules they bound
    from xami_core.limits import max_image_pixels  # noqa: PLC0415
    from xami_core.paths import cache_quota_bytes, max_json_bytes, max_zip_members  # noqa: PLC0415

    problems = []
    for read in (allowed_roots, uploads_allowed, archive.upload_ttl_hours, max_json_bytes, max_image_pixels,
                 max_zip_members, cache_quota_bytes, worker.load_max_bytes, worker.load_timeout_s,
                 subset.max_subset_frames, subset.max_subset_bytes):
        try:
            read()
        except XamiDataError as exc:
            problems.append(str(exc))
    return problems


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def check_local_path(path: str | Path, what: str = "path", instead: str = "upload the zip") -> Path:
    """The resolved path if it may be opened as a data source.

    `what` names the path in messages ("data path"); `instead` is what the user can do in place of
    a path inside the cache folder ("upload the file"; "" when nothing can be uploaded there).

    The path first passes `paths.checked_path` (NUL bytes, over-long names, link loops);
    symbolic links and '..' are then resolved, so neither can step out of a root. The cache
    folder (users' uploads, extractions) is never a local data source, roots or not.

    Raises:
        XamiDataError: the path cannot be looked up or resolved, lies inside the cache folder or
            outside the allowed roots, or `XAMI_ALLOWED_ROOTS` is set but names no folder.
    """
    checked = checked_path(path, what=what)
    try:
        resolved = checked.resolve()
    except (OSError, RuntimeError) as exc:  # a link loop that appeared since the check, a vanished folder
        raise XamiDataError(f"{what} '{shown(str(path))}': cannot be resolved ({exc})") from exc
    try:
        cache = cache_dir().resolve()
    except (OSError, RuntimeError):
        cache = None
    if cache is not None and _inside(resolved, cache):
        raise XamiDataError(f"{what} '{shown(str(path))}': inside this server's cache folder, which holds other "
                            "users' uploads and is never opened as a path; "
                            f"{instead + ' or ' if instead else ''}choose another path")
    roots = allowed_roots()
    if roots and not any(_inside(resolved, root) for root in roots):
        raise XamiDataError(
            f"{shown(str(path))}: outside the folders this deployment allows ({ALLOWED_ROOTS_ENV}: "
            f"{', '.join(str(r) for r in roots)}). Choose a path under one of them."
        )
    return resolved
