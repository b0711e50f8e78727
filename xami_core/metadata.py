"""Observation metadata (RA, Dec, exposure, position angle) joined to images by observation key.

The authors publish `obs_info_1024_all.json` in their GitHub repository; the product
downloads it at run time, caches it, and accepts a local file instead. Missing metadata
is counted and listed, never fatal.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .model import OBS_KEY_LENGTH, Problem, XamiDataError
from .paths import cache_dir
from .sample import sample_dir

OBS_INFO_URL = "https://raw.githubusercontent.com/ESA-Datalabs/XAMI-dataset/main/xami_dataset/obs_info_1024_all.json"
OBS_INFO_URL_ENV = "XAMI_OBS_INFO_URL"
OBS_INFO_FILE = "obs_info_1024_all.json"
SYNTHETIC_OBS_INFO_FILE = "obs_info_synthetic.json"
KEY_SUFFIX = ".fits"
KEY_PATTERN = r"^S\d{10}_[A-Z]$"
MAX_BYTES = 20 * 1024**2  # the real file is about 100 kB; refuse anything absurd
TIMEOUT_S = 20.0
# JSON field -> column (unit in the name).
FIELDS = {"RA": "ra_deg", "DEC": "dec_deg", "EXPOSURE": "exposure_s", "PA": "pa_deg"}
COLUMNS = tuple(FIELDS.values())


@dataclass(frozen=True)
class ObsMetadata:
    """A metadata table (`obs_key`, `ra_deg`, `dec_deg`, `exposure_s`, `pa_deg`) and where it came from."""

    table: pd.DataFrame
    source: str  # a path or URL, for the page to cite
    problems: tuple[Problem, ...] = ()


def obs_info_url() -> str:
    """The download URL (`XAMI_OBS_INFO_URL` overrides the authors' GitHub raw URL)."""
    return os.environ.get(OBS_INFO_URL_ENV) or OBS_INFO_URL


def cached_obs_info_path() -> Path:
    """Where the downloaded file is kept."""
    return cache_dir() / "metadata" / OBS_INFO_FILE


def fetch_obs_info(url: str | None = None, refresh: bool = False, timeout: float = TIMEOUT_S) -> Path:
    """The metadata file in the cache, downloaded on first use (atomically, size-capped)."""
    target = cached_obs_info_path()
    if target.is_file() and not refresh:
        return target
    url = url or obs_info_url()
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http(s) URL from config
            data = response.read(MAX_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise XamiDataError(
            f"Could not download the observation metadata from {url} ({reason}). Everything else works without it; "
            f"give a local copy of {OBS_INFO_FILE}, or set {OBS_INFO_URL_ENV} to a reachable URL."
        ) from exc
    if len(data) > MAX_BYTES:
        raise XamiDataError(f"{url}: more than {MAX_BYTES} bytes; not an observation metadata file")
    try:
        json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise XamiDataError(f"{url}: the download is not JSON ({exc}); expected {OBS_INFO_FILE}") from exc
    fd, tmp = tempfile.mkstemp(prefix=".obs_info-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _number(value: object) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else math.nan


def read_obs_info(path: str | Path) -> ObsMetadata:
    """Parse `{"S0555020101_U.fits": {"EXPOSURE": ..., "RA": ..., "DEC": ..., "PA": ...}, ...}`."""
    path = Path(path).expanduser()
    file = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise XamiDataError(f"{file}: cannot be read ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise XamiDataError(f"{file}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise XamiDataError(f"{file}: expected an object keyed by '<obs key>.fits', found {type(data).__name__}")
    problems: list[Problem] = []
    rows = []
    for key, rec in data.items():
        if not isinstance(rec, dict):
            problems.append(Problem(file, key, f"expected an object with {', '.join(FIELDS)}, found {type(rec).__name__}"))
            continue
        rows.append((str(key), *(_number(rec.get(f)) for f in FIELDS)))
    table = pd.DataFrame(rows, columns=["key", *COLUMNS])
    stem = table["key"].str.removesuffix(KEY_SUFFIX)
    valid = stem.str.fullmatch(KEY_PATTERN) & table["key"].str.endswith(KEY_SUFFIX)
    for key in table.loc[~valid, "key"].head(20):
        problems.append(Problem(file, key, f"expected a key 'S' + 10-digit ObsID + '_' + filter letter + '{KEY_SUFFIX}'; ignored", "warning"))
    table = table[valid].assign(obs_key=stem[valid]).drop(columns="key")
    incomplete = table[list(COLUMNS)].isna().any(axis=1)
    if incomplete.any():
        problems.append(Problem(file, str(table.loc[incomplete, "obs_key"].iloc[0]) + KEY_SUFFIX,
                                f"{int(incomplete.sum())} record(s) lack a finite {'/'.join(FIELDS)} value; those values are empty", "warning"))
    table = table.drop_duplicates("obs_key")[["obs_key", *COLUMNS]].reset_index(drop=True)
    return ObsMetadata(table=table, source=file, problems=tuple(problems))


def load_obs_metadata(local: str | Path | None = None, synthetic: bool = False) -> ObsMetadata:
    """The metadata for a dataset: a local file if given, the sample's own, else the authors' (downloaded).

    Raises XamiDataError with a clear message when it cannot be had (the app goes on without it).
    """
    if local:
        return read_obs_info(local)
    if synthetic:
        return read_obs_info(sample_dir() / SYNTHETIC_OBS_INFO_FILE)
    meta = read_obs_info(fetch_obs_info())
    return ObsMetadata(table=meta.table, source=obs_info_url(), problems=meta.problems)


def join_metadata(images: pd.DataFrame, meta: pd.DataFrame | ObsMetadata) -> pd.DataFrame:
    """Images with `ra_deg`, `dec_deg`, `exposure_s`, `pa_deg` and `has_metadata`, matched by observation key."""
    table = meta.table if isinstance(meta, ObsMetadata) else meta
    lookup = table.set_index("obs_key")[list(COLUMNS)]
    keys = images["obs_id"].astype("str").str[:OBS_KEY_LENGTH]  # missing keys stay missing
    matched = lookup.reindex(keys.to_numpy())
    out = images.drop(columns=[c for c in (*COLUMNS, "has_metadata") if c in images.columns])
    for col in COLUMNS:
        out[col] = matched[col].to_numpy(dtype=np.float64)
    out["has_metadata"] = keys.isin(lookup.index).fillna(False).astype(bool).to_numpy()
    return out


def missing_metadata(joined: pd.DataFrame) -> pd.DataFrame:
    """The observations without metadata: `obs_key` (file key, '' when the name has none) and image count."""
    missing = joined.loc[~joined["has_metadata"]]
    keys = missing["obs_id"].fillna("").astype(str)
    counts = keys.value_counts().rename_axis("obs_key").reset_index(name="n_images")
    counts["obs_key"] = np.where(counts["obs_key"] == "", "", counts["obs_key"] + KEY_SUFFIX)
    return counts.sort_values(["n_images", "obs_key"], ascending=[False, True], ignore_index=True)
