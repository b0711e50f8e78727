"""A frame's observation context: the XSA link, the record matched from metadata, the formatted values."""

from __future__ import annotations

import json
import math

import pytest

from xami_core.analysis import observation as OB
from xami_core.io import metadata


@pytest.mark.parametrize("obsid, url", [
    ("0743200101", "https://nxsa.esac.esa.int/nxsa-web/#obsid=0743200101"),
    ("0000000001", "https://nxsa.esac.esa.int/nxsa-web/#obsid=0000000001"),  # leading zeros kept
    (" 0101951579 ", "https://nxsa.esac.esa.int/nxsa-web/#obsid=0101951579"),  # surrounding space dropped
])
def test_xsa_url(obsid, url):
    assert OB.xsa_url(obsid) == url


@pytest.mark.parametrize("obsid", [
    "743200101",  # nine digits: a lost leading zero
    "07432001011",  # eleven
    "S0743200101",  # the observation key's prefix
    "0743200101_V",  # a whole key
    "",
])
def test_xsa_url_refuses_what_is_not_an_obsid(obsid):
    with pytest.raises(ValueError, match="ten digits"):
        OB.xsa_url(obsid)


@pytest.fixture()
def meta(tmp_path):
    """An obs_info file as the authors write it: one full record, one without a position angle."""
    path = tmp_path / "obs_info.json"
    path.write_text(json.dumps({
        "S0743200101_V.fits": {"EXPOSURE": 4400.0, "RA": 150.119167, "DEC": 2.205833, "PA": 71.25},
        "S0100000002_L.fits": {"EXPOSURE": 1000, "RA": 0.5, "DEC": -30.5},
    }))
    return metadata.read_obs_info(path).table


def image(obs_key, obsid, letter):
    return {"obs_key": obs_key, "obsid": obsid, "filter_letter": letter, "file_name": "x.jpg"}


@pytest.mark.parametrize("img, has, expected", [
    # a record in the metadata: everything, formatted
    (image("S0743200101_V", "0743200101", "V"), True,
     [("ObsID", "0743200101"), ("Filter", "V (543 nm)"), ("RA (ICRS)", "150.11917° (10h00m28.60s)"),
      ("Dec (ICRS)", "+2.20583° (+02°12′21.0″)"), ("Exposure", "4,400 s"), ("Position angle", "71.25°")]),
    # a record without a position angle: the rest is shown, the angle is unknown
    (image("S0100000002_L", "0100000002", "L"), True,
     [("ObsID", "0100000002"), ("Filter", "UVW1 (291 nm)"), ("RA (ICRS)", "0.50000° (00h02m00.00s)"),
      ("Dec (ICRS)", "-30.50000° (-30°30′00.0″)"), ("Exposure", "1,000 s"), ("Position angle", "unknown")]),
    # an observation the metadata does not have: ObsID and filter from the file name only
    (image("S0999999999_B", "0999999999", "B"), False, [("ObsID", "0999999999"), ("Filter", "B (450 nm)")]),
    # a file name without an observation key
    (image(None, None, "?"), False, [("ObsID", "none in the file name"), ("Filter", "no observation key")]),
])
def test_context_from_metadata(meta, img, has, expected):
    ctx = OB.observation_context(img, meta)
    assert ctx.has_metadata is has
    assert OB.context_rows(ctx) == expected


def test_context_without_metadata_and_its_archive_link():
    ctx = OB.observation_context(image("S0743200101_V", "0743200101", "V"), None)
    assert not ctx.has_metadata and math.isnan(ctx.ra_deg)
    assert ctx.archive_url == "https://nxsa.esac.esa.int/nxsa-web/#obsid=0743200101"
    assert OB.observation_context(image(None, None, "?")).archive_url is None


@pytest.mark.parametrize("ra, text", [
    (150.119167, "150.11917° (10h00m28.60s)"),
    (0.0, "0.00000° (00h00m00.00s)"),
    (359.99999, "359.99999° (00h00m00.00s)"),  # rounds up to a full circle: 0h, not 24h
    (14.9999, "14.99990° (00h59m59.98s)"),  # 0.024 s short of 1h
    (math.nan, "unknown"),
])
def test_ra_text(ra, text):
    assert OB.ra_text(ra) == text


@pytest.mark.parametrize("dec, text", [
    (2.205833, "+2.20583° (+02°12′21.0″)"),
    (-0.5, "-0.50000° (-00°30′00.0″)"),  # the sign of a declination above -1°
    (-89.99999, "-89.99999° (-90°00′00.0″)"),  # 0.036″ short of the pole: seconds carry into degrees
    (math.nan, "unknown"),
])
def test_dec_text(dec, text):
    assert OB.dec_text(dec) == text
