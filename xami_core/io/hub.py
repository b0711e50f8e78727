"""The published XAMI variants on the Hugging Face Hub: download once, extract safely, reuse.

Downloads go through `huggingface_hub.hf_hub_download`, so `HF_ENDPOINT`, `HF_HOME`,
`HF_HUB_CACHE`, `HF_HUB_OFFLINE` and tokens work as in any Hugging Face tool. The
environment is read at call time (huggingface_hub reads it once at import), so a
setting changed while the app runs is honoured too.

Before a download, one HEAD request to the endpoint with a short timeout
(`XAMI_HUB_PROBE_TIMEOUT` seconds, default 4; 0 switches it off) tells whether the Hub
answers at all: huggingface_hub itself retries an unreachable Hub for about 25 s (and
much longer when a server accepts connections but never answers) before it gives up.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xami_core.io.archive import COMPLETE_MARKER, DamagedArchiveError, extract_zip_to, extracted_dir, extraction_target
from xami_core.model import XamiDataError
from xami_core.paths import checked_path

REPO_ID = "iulia-elisa/XAMI-dataset"
REPO_TYPE = "dataset"
REVISION = "main"
HUB_SOURCE = "Hugging Face"


@dataclass(frozen=True)
class Variant:
    """One published archive of the dataset."""

    name: str
    filename: str
    title: str
    layout: str
    approx_mb: float


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("xami_dataset", "xami_dataset.zip", "COCO, published train/valid split", "coco-splits", 50.5),
        Variant("xami_dataset_no_splits", "xami_dataset_no_splits.zip", "COCO, all images in one set (input of the folds)",
                "coco-single", 50.5),
        Variant("xami_dataset_yolov8", "xami_dataset_yolov8.zip", "YOLOv8-seg, train/valid split", "yolov8-seg", 51.0),
    )
}
DEFAULT_VARIANT = "xami_dataset"
PROBE_TIMEOUT_ENV = "XAMI_HUB_PROBE_TIMEOUT"
DEFAULT_PROBE_TIMEOUT = 4.0  # seconds: a Hub that answers at all answers a HEAD much faster
# huggingface_hub reads 10 MB per step: a 50 MB archive would move a progress bar five times only.
PROGRESS_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Progress:
    """Progress of one stage: bytes done of total (None when unknown) and the mean rate."""

    stage: str  # "download" or "extract"
    done: int
    total: int | None
    rate: float  # bytes per second since the stage started
    elapsed: float  # seconds

    @property
    def fraction(self) -> float | None:
        """Done / total in 0..1, or None when the total is unknown."""
        if not self.total:
            return None
        return min(max(self.done / self.total, 0.0), 1.0)


ProgressCallback = Callable[[Progress], None]


def _megabytes(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def format_progress(p: Progress) -> str:
    """A one-line human description: 'Downloading: 12.3 of 50.5 MB (24%), 4.1 MB/s'."""
    verb = "Downloading" if p.stage == "download" else "Extracting"
    amount = f"{p.done / 1e6:.1f} of {_megabytes(p.total)} ({p.fraction:.0%})" if p.total else _megabytes(p.done)
    return f"{verb}: {amount}, {_megabytes(p.rate)}/s"


@dataclass(frozen=True)
class HubSettings:
    """The Hub settings in force now, from the environment (else huggingface_hub's defaults)."""

    endpoint: str
    cache_dir: Path
    offline: bool


def _is_true(value: str | None) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_settings() -> HubSettings:
    """Endpoint, cache folder and offline flag, resolved the way huggingface_hub does."""
    from huggingface_hub import constants  # noqa: PLC0415 - keep the import cost off app start

    endpoint = (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
    if os.environ.get("HF_HUB_CACHE"):
        cache = Path(os.path.expandvars(os.environ["HF_HUB_CACHE"]))
    elif os.environ.get("HF_HOME"):
        cache = Path(os.path.expandvars(os.environ["HF_HOME"])) / "hub"
    else:
        cache = Path(constants.HF_HUB_CACHE)
    offline = constants.is_offline_mode() or _is_true(os.environ.get("HF_HUB_OFFLINE"))
    return HubSettings(endpoint=endpoint, cache_dir=cache.expanduser(), offline=offline)


def variant_label(name: str) -> str:
    """How a variant is offered to users: 'xami_dataset.zip: COCO, published train/valid split (about 50.5 MB)'.

    Raises:
        XamiDataError: `name` is not a published variant.
    """
    v = variant(name)
    return f"{v.filename}: {v.title} (about {v.approx_mb:g} MB)"


def variant(name: str) -> Variant:
    """A published variant by name.

    Raises:
        XamiDataError: `name` is not one of `VARIANTS` (the message lists them).
    """
    try:
        return VARIANTS[name]
    except KeyError:
        raise XamiDataError(f"unknown XAMI variant '{name}'; expected one of: {', '.join(VARIANTS)}") from None


class _Meter:
    """Turns byte counts into `Progress` reports with a rate."""

    def __init__(self, stage: str, callback: ProgressCallback | None):
        self.stage, self.callback = stage, callback
        self.start = time.monotonic()

    def report(self, done: int, total: int | None) -> None:
        if self.callback is None:
            return
        elapsed = max(time.monotonic() - self.start, 1e-6)
        self.callback(Progress(self.stage, int(done), total, done / elapsed, elapsed))


def byte_meter(stage: str, progress: ProgressCallback | None) -> Callable[[int, int | None], None]:
    """A `(done, total)` byte callback that reports `Progress` (with the rate) for `stage` to `progress`."""
    return _Meter(stage, progress).report


def _tqdm_adapter(meter: _Meter) -> type:
    """A tqdm stand-in class for `hf_hub_download(tqdm_class=...)` that feeds `meter`.

    huggingface_hub instantiates a non-tqdm class with (total, initial, desc, unit, ...),
    uses it as a context manager and calls `update(n)` per chunk (negative n when a
    resumed download restarts from zero).
    """

    class _ProgressBar:
        def __init__(self, *args: Any, total: float | None = None, initial: float = 0, **kwargs: Any):
            self.total = int(total) if total else None
            self.n = int(initial or 0)
            self.disable = False
            meter.report(self.n, self.total)

        def update(self, n: float = 1) -> None:
            self.n += int(n)
            meter.report(self.n, self.total)

        def refresh(self) -> None:  # tqdm API, nothing to redraw
            return None

        def set_description(self, *args: Any, **kwargs: Any) -> None:
            return None

        def close(self) -> None:
            return None

        def __enter__(self) -> _ProgressBar:
            return self

        def __exit__(self, *exc: object) -> None:
            self.close()

    return _ProgressBar


def cached_archive(name: str) -> Path | None:
    """The archive of a variant in the Hugging Face cache, without any network access; None when not cached.

    Raises:
        XamiDataError: `name` is not a published variant.
    """
    from huggingface_hub import try_to_load_from_cache  # noqa: PLC0415

    found = try_to_load_from_cache(REPO_ID, variant(name).filename, cache_dir=str(hub_settings().cache_dir),
                                   revision=REVISION, repo_type=REPO_TYPE)
    return Path(found) if isinstance(found, str) and os.path.isfile(found) else None


def probe_timeout() -> float:
    """Seconds the reachability probe waits (`XAMI_HUB_PROBE_TIMEOUT`, default 4); 0 means no probe."""
    raw = os.environ.get(PROBE_TIMEOUT_ENV, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_PROBE_TIMEOUT
    except ValueError:
        return DEFAULT_PROBE_TIMEOUT
    return max(value, 0.0) if value == value else DEFAULT_PROBE_TIMEOUT  # NaN: the default


def unreachable_reason(endpoint: str, timeout: float) -> str | None:
    """Why `endpoint` cannot be reached within `timeout` seconds, or None when it answers (any HTTP status).

    Uses huggingface_hub's HTTP client, so proxies and certificates apply as for the download.
    """
    import httpx2  # noqa: PLC0415 - huggingface_hub's HTTP client
    from huggingface_hub.utils import get_session  # noqa: PLC0415

    try:
        get_session().head(endpoint.rstrip("/") + "/", timeout=timeout, follow_redirects=False)
    except httpx2.TimeoutException:
        return f"no answer within {timeout:g} s"
    except (httpx2.HTTPError, OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _unreachable(v: Variant, settings: HubSettings, detail: str) -> str:
    where = f"'{v.filename}' of {REPO_ID} at {settings.endpoint}"
    return (f"Cannot reach {settings.endpoint} to download {where}, and no cached copy exists{detail}. "
            "Check the network connection, a proxy (HTTPS_PROXY) or HF_ENDPOINT; HF_HUB_OFFLINE=1 uses cached "
            "copies only. The synthetic sample stays available.")


def _explain(exc: BaseException, v: Variant, settings: HubSettings) -> str:
    """A message an astronomer can act on, for what hf_hub_download raised."""
    from huggingface_hub import errors  # noqa: PLC0415

    where = f"'{v.filename}' of {REPO_ID} at {settings.endpoint}"
    tail = " The synthetic sample stays available."
    if isinstance(exc, errors.RemoteEntryNotFoundError) or (
        isinstance(exc, errors.HfHubHTTPError) and getattr(exc.response, "status_code", None) == 404
        and not isinstance(exc, errors.RepositoryNotFoundError)
    ):
        return f"{where}: file not found (HTTP 404). Check the variant name, the revision and HF_ENDPOINT.{tail}"
    if isinstance(exc, errors.GatedRepoError):
        return f"{where}: the repository is gated; accept its terms on the Hub and set HF_TOKEN.{tail}"
    if isinstance(exc, errors.RepositoryNotFoundError):
        return f"{where}: repository not found or not accessible (private? wrong HF_ENDPOINT? token?).{tail}"
    if isinstance(exc, errors.RevisionNotFoundError):
        return f"{where}: revision '{REVISION}' not found.{tail}"
    if isinstance(exc, errors.LocalEntryNotFoundError):
        if settings.offline:
            return (f"Offline mode (HF_HUB_OFFLINE) is on and {where} is not in the Hugging Face cache "
                    f"({settings.cache_dir}). Connect once to download it, or unset HF_HUB_OFFLINE.{tail}")
        cause = exc.__cause__ or exc.__context__
        return _unreachable(v, settings, f" ({type(cause).__name__}: {cause})" if cause else "")
    if isinstance(exc, errors.HfHubHTTPError):
        status = getattr(exc.response, "status_code", "?")
        return f"{where}: the server answered HTTP {status}. Try again later.{tail}"
    return (f"Download of {where} failed and was discarded ({type(exc).__name__}: {exc}). "
            f"Nothing half-written is kept; try again.{tail}")


def download_variant(name: str, progress: ProgressCallback | None = None, refresh: bool = False,
                     force: bool = False) -> Path:
    """The variant's zip in the Hugging Face cache, downloaded on first use.

    Args:
        name: a key of `VARIANTS`.
        progress: called with `Progress` reports while bytes arrive.
        refresh: ask the Hub for a newer revision even when a cached copy exists.
        force: download the file again even when the cached copy is current (a damaged copy).

    Raises:
        XamiDataError: the Hub cannot be reached (said within `probe_timeout()` seconds) and
            nothing is cached, or the download failed; the message says why and what to do.
    """
    v = variant(name)
    cached = cached_archive(name)
    if cached is not None and not (refresh or force):  # later starts: no network traffic at all
        return cached
    settings = hub_settings()
    timeout = probe_timeout()
    if not settings.offline and timeout > 0 and (why := unreachable_reason(settings.endpoint, timeout)):
        if cached is not None:  # a refresh that cannot happen: the copy at hand serves
            return cached
        raise XamiDataError(_unreachable(v, settings, f" ({why})"))
    import httpx2  # noqa: PLC0415 - huggingface_hub's HTTP client
    from huggingface_hub import constants, hf_hub_download  # noqa: PLC0415

    if progress is not None:
        constants.DOWNLOAD_CHUNK_SIZE = min(constants.DOWNLOAD_CHUNK_SIZE, PROGRESS_CHUNK_BYTES)
    meter = _Meter("download", progress)
    try:
        path = hf_hub_download(
            repo_id=REPO_ID, filename=v.filename, repo_type=REPO_TYPE, revision=REVISION,
            cache_dir=str(settings.cache_dir), endpoint=settings.endpoint,
            local_files_only=settings.offline, tqdm_class=_tqdm_adapter(meter),
            force_download=force and not settings.offline,  # offline: the library refuses both at once
        )
    except (OSError, ValueError, httpx2.HTTPError) as exc:
        # huggingface_hub's errors are OSError/HTTPError subclasses; a cut transfer is httpx2's.
        raise XamiDataError(_explain(exc, v, settings)) from exc
    return Path(path)


def ready_dataset_path(name: str) -> Path | None:
    """The variant's extracted folder if it is already downloaded and extracted (no network, no work), else None.

    Raises:
        XamiDataError: `name` is not a published variant.
    """
    archive = cached_archive(name)
    if archive is None:
        return None
    folder = extraction_target(archive)
    return folder if (folder / COMPLETE_MARKER).exists() else None


def _cached_blob(archive: Path, settings: HubSettings) -> Path | None:
    """The file behind `archive` (a snapshot link to a blob) when both lie inside the Hugging Face cache, else None."""
    try:
        cache = settings.cache_dir.resolve()
        blob = archive.resolve()
        inside = blob.is_relative_to(cache) and archive.absolute().is_relative_to(cache)
    except (OSError, RuntimeError):
        return None
    return blob if inside else None


def _extract_or_download_again(name: str, archive: Path, extract: Callable[[Path], Path],
                               progress: ProgressCallback | None) -> Path:
    """`extract(archive)`; a damaged copy in the Hugging Face cache is deleted and downloaded again, once.

    Only a file inside the Hub cache folder this module uses is ever deleted (never a user's file).
    """
    try:
        return extract(archive)
    except DamagedArchiveError as exc:
        settings = hub_settings()
        blob = _cached_blob(archive, settings)
        if blob is None:
            raise
        v = variant(name)
        for path in (archive, blob):  # the snapshot's link, then the blob it points to
            try:
                path.unlink(missing_ok=True)
            except OSError as gone:
                raise XamiDataError(f"The cached copy of '{v.filename}' ({blob}) is damaged ({exc}) and cannot be "
                                    f"deleted ({gone}). Delete it by hand, then download again.") from gone
        damage = str(exc).replace(str(archive), f"'{v.filename}'")
        try:
            archive = download_variant(name, progress=progress, force=True)
        except XamiDataError as failed:
            raise XamiDataError(f"The cached copy of '{v.filename}' in the Hugging Face cache was damaged ({damage}) "
                                f"and has been deleted; downloading it again failed: {failed}") from failed
        try:
            return extract(archive)
        except DamagedArchiveError as again:
            raise XamiDataError(
                f"'{v.filename}' from {settings.endpoint} is still damaged after downloading it again ({again}). "
                f"Something between here and the Hub alters the file (a proxy?) or the Hub's copy is damaged: check "
                f"HF_ENDPOINT and HTTPS_PROXY, then delete {archive.parent} and try again. "
                "The synthetic sample stays available.") from again


def hub_dataset_path(name: str = DEFAULT_VARIANT, progress: ProgressCallback | None = None,
                     refresh: bool = False) -> Path:
    """The extracted folder of a variant (downloaded and extracted once), ready for `load_dataset`.

    A damaged copy in the Hugging Face cache (truncated, bad CRC) is deleted and downloaded again, once.

    Raises:
        XamiDataError: the download or the extraction failed; the message says why and what to do.
    """
    archive = download_variant(name, progress=progress, refresh=refresh)
    meter = _Meter("extract", progress)
    return _extract_or_download_again(name, archive, lambda a: extracted_dir(a, on_bytes=meter.report), progress)


def extract_variant_to(name: str, dest: Path, progress: ProgressCallback | None = None,
                       refresh: bool = False) -> Path:
    """Download a variant and extract it into `dest/<variant>` (for the command line); returns that folder.

    Raises:
        XamiDataError: `dest` cannot be used or `dest/<variant>` exists with something else in it, or the
            download or the extraction failed (the message says why and what to do).
    """
    target = checked_path(dest, what="destination folder") / name
    archive = download_variant(name, progress=progress, refresh=refresh)
    if (target / COMPLETE_MARKER).exists():  # done by an earlier run
        return target
    if target.exists():
        raise XamiDataError(f"{target} already exists; remove it or choose another --dest")
    meter = _Meter("extract", progress)
    return _extract_or_download_again(name, archive, lambda a: extract_zip_to(a, target, on_bytes=meter.report),
                                      progress)
