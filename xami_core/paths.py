"""Where the product writes: one user cache folder, overridable by `XAMI_CACHE`."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "xami-explorer"


def cache_dir() -> Path:
    """The cache root (`XAMI_CACHE`, else the platform's user cache folder)."""
    override = os.environ.get("XAMI_CACHE")
    root = Path(override) if override else Path(platformdirs.user_cache_dir(APP_NAME))
    root.mkdir(parents=True, exist_ok=True)
    return root


def file_fingerprint(path: Path) -> tuple[str, int, int]:
    """(resolved path, size, mtime in ns): changes when the file is edited."""
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)
