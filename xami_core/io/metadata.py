"""Observation metadata (RA, Dec, exposure, position angle) joined to images by observation key.

The authors publish `obs_info_1024_all.json` in their GitHub repository; the product
downloads it at run time, caches it, and accepts a local file instead. Missing metadata
is counted and listed, never fatal.
"""

from __future__ import annotations

import functools
import hashlib
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
import plotly.graph_objects as go

from xami_core.io.sample import sample_dir
from xami_core.model import (
    OBS_KEY_LENGTH,
    Problem,
    XamiDataError,
    filter_colour,
    filter_keys,
    filter_label,
    filter_order,
    split_colour,
    split_order,
)
from xami_core.paths import cache_dir
from xami_core.render.figures import base_layout, plot_text

OBS_INFO_URL = "https://raw.githubusercontent.com/ESA-Datalabs/XAMI-dataset/main/xami_dataset/obs_info_1024_all.json"
OBS_INFO_URL_ENV = "XAMI_OBS_INFO_URL"
OBS_INFO_PATH_ENV = "XAMI_OBS_INFO"  # a deployment's local copy, used instead of the download
OBS_INFO_FILE = "obs_info_1024_all.json"
SYNTHETIC_OBS_INFO_FILE = "obs_info_synthetic.json"
SYNTHETIC_LABEL = "synthetic metadata of the sample (not real observations)"
KEY_SUFFIX = ".fits"
KEY_PATTERN = r"^S\d{10}_[A-Z]$"
MAX_BYTES = 20 * 1024**2  # the real file is about 100 kB; refuse anything absurd
APPROX_KB = 100
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


@dataclass(frozen=True)
class ObsInfoSource:
    """Which metadata file a dataset uses: `path` to read (None: not downloaded yet), `label` to cite."""

    path: Path | None
    label: str
    url: str | None = None  # set when the file is (to be) downloaded
    synthetic: bool = False


def obs_info_url() -> str:
    """The download URL (`XAMI_OBS_INFO_URL` overrides the authors' GitHub raw URL)."""
    return os.environ.get(OBS_INFO_URL_ENV) or OBS_INFO_URL


def cached_obs_info_path(url: str | None = None) -> Path:
    """Where the file downloaded from `url` is kept (one folder per URL, so mirrors never mix)."""
    url = url or obs_info_url()
    return cache_dir() / "metadata" / hashlib.sha1(url.encode()).hexdigest()[:12] / OBS_INFO_FILE


def obs_info_source(local: str | Path | None = None, synthetic: bool = False) -> ObsInfoSource:
    """The metadata file for a dataset, without network access.

    In order: a local file the user chose; the sample's own synthetic file; the file in
    `XAMI_OBS_INFO`; else the authors' file, downloaded earlier (path set) or not yet (path None).
    """
    if local:
        path = Path(local).expanduser()
        return ObsInfoSource(path, str(path))
    if synthetic:
        return ObsInfoSource(sample_dir() / SYNTHETIC_OBS_INFO_FILE, SYNTHETIC_LABEL, synthetic=True)
    if os.environ.get(OBS_INFO_PATH_ENV):
        path = Path(os.environ[OBS_INFO_PATH_ENV]).expanduser()
        return ObsInfoSource(path, f"{path} ({OBS_INFO_PATH_ENV})")
    url = obs_info_url()
    cached = cached_obs_info_path(url)
    return ObsInfoSource(cached if cached.is_file() else None, url, url=url)


def fetch_obs_info(url: str | None = None, refresh: bool = False, timeout: float = TIMEOUT_S) -> Path:
    """The metadata file in the cache, downloaded on first use (atomically, at most `MAX_BYTES`).

    Raises:
        XamiDataError: the download failed, or what came is too large or not JSON.
        OSError: the cache folder cannot be written.
    """
    url = url or obs_info_url()
    target = cached_obs_info_path(url)
    if target.is_file() and not refresh:
        return target
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
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
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
    """Parse `{"S0555020101_U.fits": {"EXPOSURE": ..., "RA": ..., "DEC": ..., "PA": ...}, ...}`.

    The table has one row per observation: `obs_key` and `ra_deg`, `dec_deg` (ICRS, degrees),
    `exposure_s` (seconds), `pa_deg` (degrees); a missing or non-numeric value is NaN. Bad
    records are `problems`.

    Raises:
        XamiDataError: the file cannot be read, is not JSON, or is not a JSON object.
    """
    path = Path(path).expanduser()
    file = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise XamiDataError(f"{file}: cannot be read ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise XamiDataError(f"{file}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    except RecursionError as exc:
        raise XamiDataError(f"{file}: JSON nested deeper than can be read; expected an object of observation "
                            "records") from exc
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


def load_obs_metadata(local: str | Path | None = None, synthetic: bool = False, download: bool = True) -> ObsMetadata:
    """The metadata for a dataset (see `obs_info_source`), downloading the authors' file if allowed.

    Raises:
        XamiDataError: it cannot be had (not downloaded and `download` is off, the download failed,
            the file is unreadable); the message says why, and the app goes on without it.
    """
    source = obs_info_source(local, synthetic)
    path = source.path
    if path is None:
        if not download:
            raise XamiDataError(f"The observation metadata ({source.url}) has not been downloaded yet.")
        path = fetch_obs_info(source.url)
    meta = read_obs_info(path)
    return ObsMetadata(table=meta.table, source=source.label, problems=meta.problems)


def join_metadata(images: pd.DataFrame, meta: pd.DataFrame | ObsMetadata) -> pd.DataFrame:
    """Images with `ra_deg`, `dec_deg`, `exposure_s`, `pa_deg` and `has_metadata`, matched by observation key."""
    table = meta.table if isinstance(meta, ObsMetadata) else meta
    lookup = table.set_index("obs_key")[list(COLUMNS)]
    keys = images["obs_key"].astype("str").str[:OBS_KEY_LENGTH]  # missing keys stay missing
    matched = lookup.reindex(keys.to_numpy())
    out = images.drop(columns=[c for c in (*COLUMNS, "has_metadata") if c in images.columns])
    for col in COLUMNS:
        out[col] = matched[col].to_numpy(dtype=np.float64)
    out["has_metadata"] = keys.isin(lookup.index).fillna(False).astype(bool).to_numpy()
    return out


def missing_metadata(joined: pd.DataFrame) -> pd.DataFrame:
    """The observations without metadata: `obs_key` (file key, '' when the name has none) and image count."""
    missing = joined.loc[~joined["has_metadata"]]
    keys = missing["obs_key"].fillna("").astype(str)
    counts = keys.value_counts().rename_axis("obs_key").reset_index(name="n_images")
    counts["obs_key"] = np.where(counts["obs_key"] == "", "", counts["obs_key"] + KEY_SUFFIX)
    return counts.sort_values(["n_images", "obs_key"], ascending=[False, True], ignore_index=True)


# --- what the Overview shows: coverage, exposure times, pointings ---------------------------------
TOTAL = "total"
EXPOSURE_BIN_DEX = 0.05  # bin width in log10(seconds): exposures span 800 s to over 100 ks
FRAMES = {
    # frame -> (name, longitude axis, latitude axis)
    "icrs": ("equatorial (ICRS)", "right ascension α (degrees, ICRS)", "declination δ (degrees)"),
    "galactic": ("galactic", "galactic longitude l (degrees)", "galactic latitude b (degrees)"),
}


def metadata_coverage(joined: pd.DataFrame) -> pd.DataFrame:
    """Per split and in total: images, images with and without metadata, observations matched."""
    with_meta = joined["has_metadata"].to_numpy(bool)
    keys = joined["obs_key"].where(joined["has_metadata"])
    frame = pd.DataFrame({"split": joined["split"].to_numpy(), "with": with_meta, "key": keys.to_numpy()})
    per_split = frame.groupby("split", sort=False).agg(
        images=("with", "size"), with_metadata=("with", "sum"), observations=("key", "nunique"))
    per_split = per_split.reindex(split_order(per_split.index))
    total = pd.DataFrame({"images": [len(frame)], "with_metadata": [int(with_meta.sum())],
                          "observations": [frame["key"].nunique()]}, index=[TOTAL])
    table = pd.concat([per_split, total]).astype("int64")
    table.insert(2, "without_metadata", table["images"] - table["with_metadata"])
    table.index.name = "split"
    return table.rename(columns=lambda c: c.replace("_", " "))


def no_match_text(joined: pd.DataFrame, meta: ObsMetadata) -> str | None:
    """What to say instead of empty charts when no image's observation is in the metadata file; None when some is.

    Args:
        joined: `join_metadata` output.
        meta: the metadata it was joined with (its source and size are named).
    """
    if joined["has_metadata"].any():
        return None
    n_images, n_obs = len(joined), len(meta.table)
    keyed = int(joined["obs_key"].notna().sum()) if "obs_key" in joined.columns else 0
    head = (f"None of the {n_images:,} images' observations is in the metadata file ({n_obs:,} "
            f"observation{'' if n_obs == 1 else 's'}), "
            "so there are no exposure times or pointings to show.")
    if keyed == 0:
        return head + (" No file name starts with an observation key ('S' + 10-digit ObsID + '_' + filter letter, "
                       "e.g. S0743200101_V), which is how images are matched to the file.")
    return head + (" The file may describe other observations than this data's; the observations looked for are "
                   "listed below.")


def exposure_histogram(joined: pd.DataFrame, dex: float = EXPOSURE_BIN_DEX) -> pd.DataFrame:
    """Images per exposure-time bin and split: `split`, `lo_s`, `hi_s`, `images` (bins `dex` wide in log10 s).

    Every bin between the shortest and the longest exposure is listed for every split,
    empty ones with 0, so the table is regular. Images without a positive exposure are left out.
    """
    exposure = joined["exposure_s"].to_numpy(np.float64)
    usable = np.isfinite(exposure) & (exposure > 0)
    if not usable.any():
        return pd.DataFrame({"split": pd.Series(dtype=str), "lo_s": pd.Series(dtype=float),
                             "hi_s": pd.Series(dtype=float), "images": pd.Series(dtype="int64")})
    # A hair of tolerance so that exposures on a bin edge (1000 s) fall in the bin they start.
    index = np.floor(np.log10(exposure[usable]) / dex + 1e-9).astype(np.int64)
    splits = joined["split"].to_numpy()[usable]
    counts = pd.crosstab(splits, index)
    all_bins = np.arange(index.min(), index.max() + 1)
    counts = counts.reindex(index=split_order(counts.index), columns=all_bins, fill_value=0)
    long = counts.stack().rename("images").reset_index()
    long.columns = ["split", "bin", "images"]
    long["lo_s"] = 10.0 ** (long["bin"] * dex)
    long["hi_s"] = 10.0 ** ((long["bin"] + 1) * dex)
    return long[["split", "lo_s", "hi_s", "images"]].astype({"images": "int64"})


def sky_positions(joined: pd.DataFrame, frame: str = "icrs") -> pd.DataFrame:
    """Pointings of the images with metadata: `lon_deg`, `lat_deg` in `frame` ("icrs" or "galactic") and details.

    One row per image with metadata: `obs_key`, `split`, `filter_letter`, `ra_deg`, `dec_deg`,
    `exposure_s`, `pa_deg`, and `lon_deg` in 0..360, `lat_deg` in -90..90 (degrees).

    Raises:
        ValueError: `frame` is not one of `FRAMES`.
    """
    if frame not in FRAMES:
        raise ValueError(f"frame must be one of {', '.join(FRAMES)}, not {frame!r}")
    ok = joined["has_metadata"].to_numpy(bool) & joined["ra_deg"].notna().to_numpy() & joined["dec_deg"].notna().to_numpy()
    rows = joined.loc[ok, ["obs_key", "split", "filter_letter", "ra_deg", "dec_deg", "exposure_s", "pa_deg"]]
    out = rows.reset_index(drop=True)
    if frame == "icrs":
        out["lon_deg"], out["lat_deg"] = out["ra_deg"] % 360.0, out["dec_deg"]
    else:
        out["lon_deg"], out["lat_deg"] = _icrs_to_galactic(out["ra_deg"].to_numpy(), out["dec_deg"].to_numpy())
    return out


def _icrs_to_galactic(ra_deg: np.ndarray, dec_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from astropy import units as u  # noqa: PLC0415 - astropy is slow to import; only the sky map needs it
    from astropy.coordinates import SkyCoord  # noqa: PLC0415

    gal = SkyCoord(ra=np.asarray(ra_deg, float) * u.deg, dec=np.asarray(dec_deg, float) * u.deg, frame="icrs").galactic
    return gal.l.wrap_at(360 * u.deg).deg, gal.b.deg


def _galactic_to_icrs(l_deg: np.ndarray, b_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from astropy import units as u  # noqa: PLC0415
    from astropy.coordinates import SkyCoord  # noqa: PLC0415

    eq = SkyCoord(l=np.asarray(l_deg, float) * u.deg, b=np.asarray(b_deg, float) * u.deg, frame="galactic").icrs
    return eq.ra.wrap_at(360 * u.deg).deg, eq.dec.deg


def hammer_aitoff(lon_deg: np.ndarray, lat_deg: np.ndarray, centre_deg: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Hammer-Aitoff all-sky projection, longitude increasing to the left as on the sky; x in ±2√2, y in ±√2."""
    lon = np.radians((np.asarray(lon_deg, float) - centre_deg + 180.0) % 360.0 - 180.0)
    lat = np.radians(np.asarray(lat_deg, float))
    scale = np.sqrt(1.0 + np.cos(lat) * np.cos(lon / 2.0))
    x = 2.0 * np.sqrt(2.0) * np.cos(lat) * np.sin(lon / 2.0) / scale
    y = np.sqrt(2.0) * np.sin(lat) / scale
    return -x, y


def _projected_line(lon_deg: np.ndarray, lat_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A projected curve with gaps where it wraps round the map's edge (so no line crosses the map)."""
    x, y = hammer_aitoff(lon_deg, lat_deg)
    wrapped = (np.asarray(lon_deg, float) + 180.0) % 360.0 - 180.0
    jumps = np.flatnonzero(np.abs(np.diff(wrapped)) > 180.0) + 1
    return np.insert(x, jumps, np.nan), np.insert(y, jumps, np.nan)


@functools.lru_cache(maxsize=2)
def _reference_ring(frame: str) -> tuple[np.ndarray, np.ndarray, str]:
    """The other frame's equator, projected (the same for every dataset, so computed once)."""
    ring = np.linspace(0.0, 360.0, 721)
    if frame == "icrs":
        lon, lat = _galactic_to_icrs(ring, np.zeros_like(ring))
        name = "Galactic plane (b = 0°)"
    else:
        lon, lat = _icrs_to_galactic(ring, np.zeros_like(ring))
        name = "Celestial equator (δ = 0°)"
    order = np.argsort(lon)
    x, y = _projected_line(lon[order], lat[order])
    return x, y, name


NO_POINTINGS = "No image has a pointing (RA, Dec) in the observation metadata."
NO_EXPOSURES = "No image has an exposure time in the observation metadata."


def _message_figure(message: str, height: int) -> go.Figure:
    """A figure that says `message` in words, without axes (for a chart with nothing to draw)."""
    fig = go.Figure()
    base_layout(fig, height=height)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.add_annotation(text=plot_text(message), x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=14, color="#5a6b7d"))
    return fig


def sky_map_figure(positions: pd.DataFrame, frame: str = "icrs", height: int = 480) -> go.Figure:
    """All-sky Hammer-Aitoff map of pointings, coloured by filter, with a graticule and the other frame's equator.

    Without any pointing, a figure that says so (`NO_POINTINGS`) instead of an empty map.

    Args:
        positions: `sky_positions` output for the same `frame`.
        frame: "icrs" (RA/Dec) or "galactic" (l/b).
    """
    if positions.empty:
        return _message_figure(NO_POINTINGS, height)
    _, lon_name, lat_name = FRAMES[frame]
    fig = go.Figure()
    grid = dict(mode="lines", line=dict(color="#c8ced8", width=0.8), hoverinfo="skip", showlegend=False)
    lat_line = np.linspace(-90, 90, 91)
    for lon in (-180.0, -120.0, -60.0, 0.0, 60.0, 120.0, 179.999):
        x, y = hammer_aitoff(np.full_like(lat_line, lon), lat_line)
        fig.add_scatter(x=x, y=y, **grid)
    lon_line = np.linspace(-179.999, 179.999, 181)
    for lat in (-60.0, -30.0, 0.0, 30.0, 60.0):
        x, y = hammer_aitoff(lon_line, np.full_like(lon_line, lat))
        fig.add_scatter(x=x, y=y, **grid)
    # The other frame's equator, for orientation: the Milky Way on the equatorial map.
    x, y, ring_name = _reference_ring(frame)
    fig.add_scatter(x=x, y=y, mode="lines", name=ring_name, hoverinfo="skip",
                    line=dict(color="#5a6b7d", width=1.4, dash="dash"))
    # Graticule labels: longitudes along the equator, latitudes at the left rim.
    label_lons = np.array([0.0, 60.0, 120.0, 240.0, 300.0])
    x, y = hammer_aitoff(label_lons, np.zeros_like(label_lons))
    fig.add_scatter(x=x, y=y - 0.06, mode="text", text=[f"{v:.0f}°" for v in label_lons], textposition="bottom center",
                    textfont=dict(size=11, color="#5a6b7d"), hoverinfo="skip", showlegend=False)
    label_lats = np.array([-60.0, -30.0, 30.0, 60.0])
    x, y = hammer_aitoff(np.full_like(label_lats, 179.999), label_lats)
    fig.add_scatter(x=x - 0.04, y=y, mode="text", text=[f"{v:+.0f}°" for v in label_lats], textposition="middle left",
                    textfont=dict(size=11, color="#5a6b7d"), hoverinfo="skip", showlegend=False)
    x, y = hammer_aitoff(np.array([179.999]), np.array([0.0]))
    fig.add_scatter(x=x - 0.04, y=y, mode="text", text=["180°"], textposition="middle left",
                    textfont=dict(size=11, color="#5a6b7d"), hoverinfo="skip", showlegend=False)
    # The pointings, one trace per filter in wavelength order.
    keys = filter_keys(positions["filter_letter"])
    for letter in filter_order(keys):  # every filter, unknown letters after the known ones
        part = positions[(keys == letter).to_numpy()]
        x, y = hammer_aitoff(part["lon_deg"].to_numpy(), part["lat_deg"].to_numpy())
        # Observation keys and split names are data: made literal, as plotly draws hover text as markup.
        custom = np.stack([part["obs_key"].map(plot_text), part["split"].map(plot_text), part["ra_deg"], part["dec_deg"], part["lon_deg"],
                           part["lat_deg"], part["exposure_s"], part["pa_deg"]], axis=1)
        fig.add_scatter(
            x=x, y=y, mode="markers", name=plot_text(filter_label(letter)), customdata=custom,
            marker=dict(size=7, color=filter_colour(letter), opacity=0.85, line=dict(color="#ffffff", width=0.5)),
            hovertemplate=("%{customdata[0]} (%{customdata[1]})<br>RA %{customdata[2]:.3f}°, Dec %{customdata[3]:+.3f}° (ICRS)"
                           + ("<br>l %{customdata[4]:.3f}°, b %{customdata[5]:+.3f}°" if frame == "galactic" else "")
                           + "<br>exposure %{customdata[6]:,.0f} s, PA %{customdata[7]:.1f}°<extra></extra>"),
        )
    base_layout(fig, height=height)
    fig.update_layout(legend=dict(itemsizing="constant"), margin=dict(l=40, r=20, t=60, b=50))
    rim = 2.0 * np.sqrt(2.0)
    fig.update_xaxes(range=[-rim - 0.5, rim + 0.1], visible=True, showgrid=False, zeroline=False, showticklabels=False,
                     ticks="", title=f"{lon_name}, increasing to the left")
    fig.update_yaxes(range=[-np.sqrt(2.0) - 0.12, np.sqrt(2.0) + 0.12], scaleanchor="x", scaleratio=1, showgrid=False,
                     zeroline=False, showticklabels=False, ticks="", title=lat_name)
    return fig


def _seconds(value: float) -> str:
    return f"{value:,.0f}".replace(",", "\u2009")  # a thin space groups thousands without a comma


def exposure_figure(histogram: pd.DataFrame, height: int = 360) -> go.Figure:
    """Stacked bars of images per exposure-time bin (log-spaced), one colour per split; axis in seconds.

    Without any image in the histogram, a figure that says so (`NO_EXPOSURES`) instead of empty axes.
    """
    if not (histogram["images"] > 0).any():
        return _message_figure(NO_EXPOSURES, height)
    fig = go.Figure()
    for split, part in histogram[histogram["images"] > 0].groupby("split", sort=False):  # empty bins: no outline
        lo, hi = np.log10(part["lo_s"].to_numpy()), np.log10(part["hi_s"].to_numpy())
        ranges = [f"{_seconds(a)}–{_seconds(b)} s" for a, b in zip(part["lo_s"], part["hi_s"])]
        shown = plot_text(split)  # a split is a folder name: data, not markup
        fig.add_bar(x=(lo + hi) / 2, y=part["images"], width=(hi - lo) * 0.92, name=shown, customdata=ranges, showlegend=True,
                    marker=dict(color=split_colour(split), line=dict(color="#333333", width=0.5)),
                    hovertemplate=f"%{{customdata}}<br>{shown}: %{{y:,}} images<extra></extra>")
    base_layout(fig, height=height)
    fig.update_layout(barmode="stack", bargap=0, legend_traceorder="normal")
    if len(histogram):
        lo, hi = np.log10(histogram["lo_s"].min()), np.log10(histogram["hi_s"].max())
        ticks = [m * 10.0**k for k in range(int(np.floor(lo)), int(np.ceil(hi)) + 1) for m in (1, 2, 5)]
        ticks = [t for t in ticks if lo - 1e-9 <= np.log10(t) <= hi + 1e-9]
        fig.update_xaxes(tickvals=np.log10(ticks), ticktext=[_seconds(t) for t in ticks], range=[lo - 0.02, hi + 0.02])
    fig.update_xaxes(title="exposure time (s, logarithmic axis)")
    fig.update_yaxes(title="number of images", tickformat=",")
    if len(histogram) and histogram.groupby(["lo_s"])["images"].sum().max() <= 5:
        fig.update_yaxes(dtick=1)  # whole images: no 0.2 steps on a small count
    return fig
