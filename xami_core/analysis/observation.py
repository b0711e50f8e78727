"""A frame's observation: ObsID and filter from its file name, pointing and exposure from the metadata,
and its page in the XMM-Newton Science Archive."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from xami_core.model import OBS_KEY_LENGTH, filter_label

XSA_URL = "https://nxsa.esac.esa.int/nxsa-web/#obsid={obsid}"
OBSID_PATTERN = re.compile(r"\d{10}")


def xsa_url(obsid: str) -> str:
    """The observation's page in the XMM-Newton Science Archive (XSA).

    Raises:
        ValueError: `obsid` is not ten digits (XMM-Newton ObsIDs are, leading zeros included).
    """
    text = str(obsid).strip()
    if not OBSID_PATTERN.fullmatch(text):
        raise ValueError(f"an XMM-Newton ObsID is ten digits, got {obsid!r}")
    return XSA_URL.format(obsid=text)


@dataclass(frozen=True)
class ObservationContext:
    """What is known of a frame's observation; numbers are NaN when the metadata does not give them."""

    obs_key: str | None  # "S0743200101_V"; None when the file name has none
    obsid: str | None  # "0743200101"
    filter_letter: str  # the key's last letter ("?" without a key)
    ra_deg: float = math.nan  # ICRS right ascension, degrees
    dec_deg: float = math.nan  # ICRS declination, degrees
    exposure_s: float = math.nan  # seconds
    pa_deg: float = math.nan  # position angle, degrees
    has_metadata: bool = False  # the metadata has a record for `obs_key`

    @property
    def filter(self) -> str:
        """The filter as the tables name it, with its wavelength (`model.filter_label`)."""
        return filter_label(self.filter_letter)

    @property
    def archive_url(self) -> str | None:
        """The XSA page of the ObsID; None without a valid ObsID."""
        return xsa_url(self.obsid) if self.obsid and OBSID_PATTERN.fullmatch(self.obsid) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def observation_context(image: Mapping[str, object] | pd.Series, metadata: pd.DataFrame | None = None
                        ) -> ObservationContext:
    """The context of one image (a row of `Dataset.images`), matched to a metadata table by observation key.

    Args:
        image: needs `obs_key`, `obsid` and `filter_letter`.
        metadata: `ObsMetadata.table` (`obs_key`, `ra_deg`, `dec_deg`, `exposure_s`, `pa_deg`), or None when no
            metadata is loaded.
    """
    obs_key = _text(image.get("obs_key"))
    ctx = ObservationContext(obs_key=obs_key, obsid=_text(image.get("obsid")),
                             filter_letter=str(image.get("filter_letter") or "?"))
    if metadata is None or obs_key is None:
        return ctx
    match = metadata[metadata["obs_key"] == obs_key[:OBS_KEY_LENGTH]]
    if match.empty:
        return ctx
    row = match.iloc[0]
    return ObservationContext(obs_key=ctx.obs_key, obsid=ctx.obsid, filter_letter=ctx.filter_letter,
                              ra_deg=float(row["ra_deg"]), dec_deg=float(row["dec_deg"]),
                              exposure_s=float(row["exposure_s"]), pa_deg=float(row["pa_deg"]), has_metadata=True)


def ra_text(ra_deg: float) -> str:
    """Right ascension in degrees and hours: "150.11917° (10h00m28.60s)"; "unknown" for NaN."""
    if not math.isfinite(ra_deg):
        return "unknown"
    # Whole hundredths of a second of time, so rounding carries into minutes and hours (never "60.00s").
    centi = round((ra_deg % 360.0) / 15.0 * 360_000) % 8_640_000
    hours, rest = divmod(centi, 360_000)
    minutes, rest = divmod(rest, 6_000)
    return f"{ra_deg:.5f}° ({hours:02d}h{minutes:02d}m{rest / 100:05.2f}s)"


def dec_text(dec_deg: float) -> str:
    """Declination in degrees and sexagesimal: "+2.20583° (+02°12′21.0″)"; "unknown" for NaN."""
    if not math.isfinite(dec_deg):
        return "unknown"
    tenths = round(abs(dec_deg) * 36_000)  # whole tenths of an arcsecond, as for `ra_text`
    degrees, rest = divmod(tenths, 36_000)
    minutes, rest = divmod(rest, 600)
    sign = "-" if dec_deg < 0 else "+"
    return f"{dec_deg:+.5f}° ({sign}{degrees:02d}°{minutes:02d}′{rest / 10:04.1f}″)"


def context_rows(ctx: ObservationContext) -> list[tuple[str, str]]:
    """(label, value) pairs the detail view lists: ObsID, filter, and with metadata RA, Dec, exposure, PA."""
    rows = [("ObsID", ctx.obsid or "none in the file name"), ("Filter", ctx.filter)]
    if ctx.has_metadata:
        exposure = f"{ctx.exposure_s:,.0f} s" if math.isfinite(ctx.exposure_s) else "unknown"
        pa = f"{ctx.pa_deg:.2f}°" if math.isfinite(ctx.pa_deg) else "unknown"
        rows += [("RA (ICRS)", ra_text(ctx.ra_deg)), ("Dec (ICRS)", dec_text(ctx.dec_deg)),
                 ("Exposure", exposure), ("Position angle", pa)]
    return rows
