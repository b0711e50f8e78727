"""A deployment setting: restrict the local paths users may open to configured roots."""

from __future__ import annotations

import os
from pathlib import Path

from .model import XamiDataError
from .paths import checked_path, shown

ALLOWED_ROOTS_ENV = "XAMI_ALLOWED_ROOTS"


def allowed_roots() -> list[Path]:
    """The roots from `XAMI_ALLOWED_ROOTS` (os.pathsep-separated), resolved; empty means no restriction."""
    raw = os.environ.get(ALLOWED_ROOTS_ENV, "")
    return [Path(p).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip()]


def check_local_path(path: str | Path, what: str = "path") -> Path:
    """The resolved path if it may be opened, else XamiDataError (bad path, or outside the allowed roots).

    The path first passes `paths.checked_path` (NUL bytes, over-long names, link loops);
    symbolic links and '..' are then resolved, so neither can step out of a root.
    """
    checked = checked_path(path, what=what)
    try:
        resolved = checked.resolve()
    except (OSError, RuntimeError) as exc:  # a link loop that appeared since the check, a vanished folder
        raise XamiDataError(f"{what} '{shown(str(path))}': cannot be resolved ({exc})") from exc
    roots = allowed_roots()
    if roots and not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        raise XamiDataError(
            f"{shown(str(path))}: outside the folders this deployment allows ({ALLOWED_ROOTS_ENV}: "
            f"{', '.join(str(r) for r in roots)}). Choose a path under one of them."
        )
    return resolved
