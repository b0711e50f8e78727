"""Observation metadata: reading obs_info, joining by observation key, coverage, exposures, sky positions."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from tests import builders as b
from tests.conftest import OBS_INFO_COPY, OBS_INFO_COPY_RECORDS
from tests.test_hub import StubHub
from xami_core import XamiDataError
from xami_core.io import metadata as m
from xami_core.io.tables import build_dataset

# A real copy, cut down (tests/data/README.md): the file format and values exactly as the authors publish them.
REFERENCE = OBS_INFO_COPY
RAW_PATH = "/ESA-Datalabs/XAMI-dataset/main/xami_dataset/obs_info_1024_all.json"


def _images(names_by_split: dict[str, list[str]]) -> pd.DataFrame:
    """An images table as the loader makes it, from file names per split."""
    rows = []
    for split, names in names_by_split.items():
        rows += [{"split": split, "file_name": n} for n in names]
    images = pd.DataFrame(rows)
    obs = images["file_name"].str.extract(r"^(S\d{10}_[A-Z])")
    images["obs_key"] = obs[0]
    images["filter_letter"] = images["obs_key"].str[-1]
    return images


# ---------------------------------------------------------------- reading


def test_reads_the_real_reference_copy():
    raw = json.loads(REFERENCE.read_text())
    meta = m.read_obs_info(REFERENCE)
    assert len(meta.table) == len(raw) == OBS_INFO_COPY_RECORDS and meta.problems == ()
    assert list(meta.table.columns) == ["obs_key", "ra_deg", "dec_deg", "exposure_s", "pa_deg"]
    assert meta.table["obs_key"].tolist() == [k.removesuffix(".fits") for k in raw]  # every record, in file order
    table = meta.table.set_index("obs_key")
    for key in raw:  # every entry, against the JSON read independently
        rec = raw[key]
        row = table.loc[key.removesuffix(".fits")]
        assert (row["ra_deg"], row["dec_deg"], row["exposure_s"], row["pa_deg"]) == (
            rec["RA"], rec["DEC"], rec["EXPOSURE"], rec["PA"])
    # Units as documented: degrees in range, exposures in seconds.
    assert table["ra_deg"].between(0, 360).all() and table["dec_deg"].between(-90, 90).all()
    assert table["exposure_s"].min() >= 100 and table["pa_deg"].between(0, 360).all()


@pytest.mark.parametrize(
    ("content", "expect_rows", "message"),
    [
        # a key that is not an observation key is ignored with a warning naming it
        ({"S0555020101_U.fits": {"RA": 1.0, "DEC": 2.0, "EXPOSURE": 3.0, "PA": 4.0}, "notes.fits": {"RA": 1.0}},
         1, "notes.fits"),
        # a record that is not an object is skipped
        ({"S0555020101_U.fits": [1, 2, 3]}, 0, "expected an object with RA, DEC, EXPOSURE, PA, found list"),
        # missing or non-numeric values stay empty, counted
        ({"S0555020101_U.fits": {"RA": "12h", "DEC": 2.0, "EXPOSURE": 3.0}}, 1, "1 record(s) lack a finite"),
        # a key without the .fits suffix
        ({"S0555020101_U": {"RA": 1.0, "DEC": 2.0, "EXPOSURE": 3.0, "PA": 4.0}}, 0, "S0555020101_U expected a key"),
    ],
)
def test_bad_records_are_problems_not_failures(tmp_path, content, expect_rows, message):
    path = tmp_path / "obs.json"
    path.write_text(json.dumps(content))
    meta = m.read_obs_info(path)
    assert len(meta.table) == expect_rows
    assert any(message in f"{p.record} {p.message}" for p in meta.problems), meta.problems
    assert all(p.file == str(path) for p in meta.problems)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "malformed JSON at line 1"),  # broken file
        ("[1, 2]", "expected an object keyed by '<obs key>.fits', found list"),  # wrong top level
    ],
)
def test_unreadable_files_are_clear_errors(tmp_path, text, message):
    path = tmp_path / "obs.json"
    path.write_text(text)
    with pytest.raises(XamiDataError, match=message):
        m.read_obs_info(path)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(XamiDataError, match=r"obs\.json: cannot be read"):
        m.read_obs_info(tmp_path / "obs.json")


# ---------------------------------------------------------------- joining


def test_join_by_observation_key_on_the_real_copy():
    raw = json.loads(REFERENCE.read_text())
    keys = [k.removesuffix(".fits") for k in list(raw)[:5]]
    names = [f"{k}_png.rf.{'a' * 32}.jpg" for k in keys]
    # two images of observations not in the file, one name without a key at all
    names += [b.file_name(9999999999, "V"), b.file_name(9999999998, "B"), "galaxy_cluster.jpg"]
    images = _images({"train": names[:4], "valid": names[4:]})
    joined = m.join_metadata(images, m.read_obs_info(REFERENCE))
    assert joined["has_metadata"].tolist() == [True] * 5 + [False] * 3
    for key, (_, row) in zip(keys, joined.head(5).iterrows()):
        assert (row["ra_deg"], row["dec_deg"], row["exposure_s"]) == (raw[f"{key}.fits"]["RA"], raw[f"{key}.fits"]["DEC"],
                                                                      raw[f"{key}.fits"]["EXPOSURE"])
    assert joined.loc[~joined["has_metadata"], ["ra_deg", "exposure_s"]].isna().all().all()
    missing = m.missing_metadata(joined)
    assert set(missing["obs_key"]) == {"S9999999999_V.fits", "S9999999998_B.fits", ""}
    assert missing["n_images"].sum() == 3


def test_missing_metadata_counts_images_per_observation():
    names = [b.file_name(1, "U", tag=t) for t in "abc"] + [b.file_name(2, "M")]  # 3 images of one observation
    images = _images({"train": names})
    meta = pd.DataFrame({"obs_key": ["S0000000009_U"], "ra_deg": [1.0], "dec_deg": [2.0], "exposure_s": [3.0], "pa_deg": [4.0]})
    missing = m.missing_metadata(m.join_metadata(images, meta))
    assert missing.to_dict("records") == [{"obs_key": "S0000000001_U.fits", "n_images": 3},
                                          {"obs_key": "S0000000002_M.fits", "n_images": 1}]


def test_coverage_per_split_by_brute_force():
    rng = np.random.default_rng(3)
    keys = [f"S{int(k):010d}_{f}" for k, f in zip(rng.integers(1, 40, 60), rng.choice(list("UVBLMSW"), 60))]
    splits = rng.choice(["train", "valid"], 60)
    images = pd.DataFrame({"split": splits, "obs_key": keys, "file_name": [f"{k}_x.jpg" for k in keys]})
    known = sorted(set(keys))[::2]
    meta = pd.DataFrame({"obs_key": known, "ra_deg": 1.0, "dec_deg": 1.0, "exposure_s": 1.0, "pa_deg": 1.0})
    table = m.metadata_coverage(m.join_metadata(images, meta))
    assert list(table.index) == ["train", "valid", "total"]
    for split in ("train", "valid", "total"):
        rows = [(k, s) for k, s in zip(keys, splits) if split == "total" or s == split]
        with_meta = [k for k, _ in rows if k in known]
        assert table.loc[split].tolist() == [len(rows), len(with_meta), len(rows) - len(with_meta), len(set(with_meta))]


def test_the_sample_carries_metadata_for_every_image(sample_ds):
    meta = m.load_obs_metadata(synthetic=True)
    assert meta.source == m.SYNTHETIC_LABEL
    joined = m.join_metadata(sample_ds.images, meta)
    assert joined["has_metadata"].all() and len(meta.table) == sample_ds.images["obs_key"].nunique()


# ---------------------------------------------------------------- exposure, sky positions, figures


@pytest.mark.parametrize("dex", [0.05, 0.1, 0.25])  # the default, coarser, much coarser
def test_exposure_histogram_matches_numpy(dex):
    meta = m.read_obs_info(REFERENCE).table
    images = meta.assign(obs_key=meta["obs_key"], split=np.where(np.arange(len(meta)) % 4 == 0, "valid", "train"))
    hist = m.exposure_histogram(images.assign(has_metadata=True), dex=dex)
    exposure = meta["exposure_s"].to_numpy()
    k0, k1 = math.floor(np.log10(exposure.min()) / dex + 1e-9), math.floor(np.log10(exposure.max()) / dex + 1e-9)
    edges = 10.0 ** (np.arange(k0, k1 + 2) * dex)
    for split in ("train", "valid"):
        part = hist[hist["split"] == split]
        expected, _ = np.histogram(exposure[images["split"] == split], bins=edges)
        assert part["images"].tolist() == expected.tolist()
        np.testing.assert_allclose(part["lo_s"], edges[:-1])
    assert hist["images"].sum() == len(meta)


def test_exposure_on_a_bin_edge_starts_that_bin():
    images = pd.DataFrame({"split": ["train"] * 3, "exposure_s": [1000.0, 1000.0, np.nan]})
    hist = m.exposure_histogram(images, dex=0.1)
    assert hist.to_dict("records") == [{"split": "train", "lo_s": 1000.0, "hi_s": pytest.approx(10 ** 3.1), "images": 2}]


@pytest.mark.parametrize(
    ("ra", "dec", "l", "b_"),
    [
        (266.40499, -28.93617, 0.0, 0.0),  # the Galactic centre (IAU definition, ICRS)
        (192.85948, 27.12825, None, 90.0),  # the north Galactic pole
        (83.63308, 22.01450, 184.5575, -5.7843),  # the Crab nebula
    ],
)
def test_galactic_coordinates_of_known_objects(ra, dec, l, b_):
    images = pd.DataFrame({"obs_key": ["S0000000001_V"], "split": ["train"], "filter_letter": ["V"], "ra_deg": [ra],
                           "dec_deg": [dec], "exposure_s": [1.0], "pa_deg": [0.0], "has_metadata": [True]})
    pos = m.sky_positions(images, "galactic")
    assert pos.loc[0, "lat_deg"] == pytest.approx(b_, abs=0.01)
    if l is not None:
        assert min(abs(pos.loc[0, "lon_deg"] - l), 360 - abs(pos.loc[0, "lon_deg"] - l)) < 0.01
    icrs = m.sky_positions(images, "icrs")
    assert (icrs.loc[0, "lon_deg"], icrs.loc[0, "lat_deg"]) == (ra, dec)


def test_sky_positions_leave_out_images_without_metadata():
    images = pd.DataFrame({"obs_key": ["a", "b"], "split": ["train"] * 2, "filter_letter": ["V"] * 2,
                           "ra_deg": [10.0, np.nan], "dec_deg": [5.0, np.nan], "exposure_s": [1.0, np.nan],
                           "pa_deg": [0.0, np.nan], "has_metadata": [True, False]})
    assert m.sky_positions(images)["obs_key"].tolist() == ["a"]
    with pytest.raises(ValueError, match="frame must be one of icrs, galactic"):
        m.sky_positions(images, "fk4")


@pytest.mark.parametrize(
    ("lon", "lat", "x", "y"),
    [
        (0.0, 0.0, 0.0, 0.0),  # the centre
        (0.0, 90.0, 0.0, math.sqrt(2)),  # the pole at the top
        (90.0, 0.0, -2 * math.sqrt(2) * math.sin(math.pi / 4) / math.sqrt(1 + math.cos(math.pi / 4)), 0.0),  # east: left
        (270.0, 0.0, 2 * math.sqrt(2) * math.sin(math.pi / 4) / math.sqrt(1 + math.cos(math.pi / 4)), 0.0),  # west: right
        (179.999, 0.0, -2 * math.sqrt(2), 0.0),  # just east of 180: the left rim
    ],
)
def test_hammer_aitoff(lon, lat, x, y):
    px, py = m.hammer_aitoff(np.array([lon]), np.array([lat]))
    assert px[0] == pytest.approx(x, abs=1e-4) and py[0] == pytest.approx(y, abs=1e-9)


def test_sky_map_figure_plots_every_pointing_by_filter():
    meta = m.read_obs_info(REFERENCE).table
    images = meta.assign(obs_key=meta["obs_key"], split="all", filter_letter=meta["obs_key"].str[-1], has_metadata=True)
    for frame in ("icrs", "galactic"):
        pos = m.sky_positions(images, frame)
        fig = m.sky_map_figure(pos, frame)
        points = [t for t in fig.data if t.mode == "markers"]
        assert sum(len(t.x) for t in points) == len(pos) == OBS_INFO_COPY_RECORDS
        # legend in wavelength order, named with the filter and its wavelength; every filter of the copy
        assert [t.name for t in points] == ["V (543 nm)", "B (450 nm)", "U (344 nm)", "UVW1 (291 nm)", "UVM2 (231 nm)",
                                            "UVW2 (212 nm)", "White (broad band)"]
        per_filter = Counter(key.removesuffix(".fits")[-1] for key in json.loads(REFERENCE.read_text()))
        assert [len(t.x) for t in points] == [per_filter[f] for f in "VBULMSW"]
        first = pos[pos["filter_letter"] == "V"]
        x, y = m.hammer_aitoff(first["lon_deg"].to_numpy(), first["lat_deg"].to_numpy())
        np.testing.assert_allclose(points[0].x, x)
        np.testing.assert_allclose(points[0].y, y)
        assert "increasing to the left" in fig.layout.xaxis.title.text and "degrees" in fig.layout.yaxis.title.text
    assert any(t.name == "Galactic plane (b = 0°)" for t in m.sky_map_figure(m.sky_positions(images), "icrs").data)


def test_exposure_figure_bars_sum_to_the_images():
    meta = m.read_obs_info(REFERENCE).table
    images = meta.assign(split="train", has_metadata=True)
    fig = m.exposure_figure(m.exposure_histogram(images))
    assert sum(sum(t.y) for t in fig.data) == OBS_INFO_COPY_RECORDS
    assert fig.layout.xaxis.title.text.startswith("exposure time (s")
    ticks = [t.replace("\u2009", " ") for t in fig.layout.xaxis.ticktext]
    assert "1 000" in ticks and "100 000" in ticks  # the copy spans 800 s to 123 200 s


# ---------------------------------------------------------------- where the file comes from


@pytest.fixture()
def github(tmp_path, monkeypatch):
    """A stand-in for the GitHub raw URL, serving the reference copy; the cache in tmp."""
    server = StubHub({}, raw={RAW_PATH: REFERENCE.read_bytes(), "/broken.json": b"<html>rate limited</html>"})
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(m.OBS_INFO_URL_ENV, server.url + RAW_PATH)
    monkeypatch.delenv(m.OBS_INFO_PATH_ENV, raising=False)
    yield server
    server.close()


def test_download_once_then_from_the_cache(github):
    assert m.obs_info_source().path is None  # not downloaded yet: the page offers a button
    with pytest.raises(XamiDataError, match="has not been downloaded yet"):
        m.load_obs_metadata(download=False)
    meta = m.load_obs_metadata()
    assert len(meta.table) == OBS_INFO_COPY_RECORDS and meta.source == github.url + RAW_PATH
    assert github.count("GET") == 1
    assert m.obs_info_source().path == m.cached_obs_info_path()
    assert len(m.load_obs_metadata(download=False).table) == OBS_INFO_COPY_RECORDS
    assert m.cached_obs_info_path().read_bytes() == REFERENCE.read_bytes()  # cached as served
    assert github.count("GET") == 1  # the second time: no request


def test_each_url_has_its_own_cached_copy(github, monkeypatch):
    m.fetch_obs_info()
    monkeypatch.setenv(m.OBS_INFO_URL_ENV, github.url + "/mirror/obs_info_1024_all.json")
    assert m.obs_info_source().path is None


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/missing.json", r"Could not download the observation metadata from http://127\.0\.0\.1:\d+/missing\.json \(Not Found\)"),
        ("/broken.json", "the download is not JSON"),  # an HTML error page instead of the file
    ],
)
def test_download_failures_are_clear_and_leave_nothing(github, monkeypatch, path, message):
    monkeypatch.setenv(m.OBS_INFO_URL_ENV, github.url + path)
    with pytest.raises(XamiDataError, match=message):
        m.load_obs_metadata()
    assert not m.cached_obs_info_path().parent.exists() or not any(m.cached_obs_info_path().parent.iterdir())


def test_unreachable_server_is_a_clear_error(github, monkeypatch):
    url = github.url + RAW_PATH
    github.close()
    with pytest.raises(XamiDataError, match=f"Could not download .* from {url}.*local copy"):
        m.fetch_obs_info(url, timeout=5)


def test_oversized_download_is_refused(github, monkeypatch):
    monkeypatch.setattr(m, "MAX_BYTES", 1000)
    with pytest.raises(XamiDataError, match="more than 1000 bytes"):
        m.fetch_obs_info()
    assert not m.cached_obs_info_path().exists()


@pytest.mark.parametrize(
    ("local", "synthetic", "env", "expect"),
    [
        ("mine.json", False, "deploy.json", "mine.json"),  # the user's file wins
        ("mine.json", True, None, "mine.json"),  # even for the sample, when asked
        (None, True, "deploy.json", m.SYNTHETIC_OBS_INFO_FILE),  # the sample's own metadata
        (None, False, "deploy.json", "deploy.json"),  # the deployment's copy
        (None, False, None, None),  # nothing yet: download
    ],
)
def test_which_file_is_used(github, monkeypatch, tmp_path, local, synthetic, env, expect):
    if env:
        monkeypatch.setenv(m.OBS_INFO_PATH_ENV, str(tmp_path / env))
    source = m.obs_info_source(str(tmp_path / local) if local else None, synthetic)
    assert (source.path.name if source.path else None) == expect
    assert source.synthetic == (expect == m.SYNTHETIC_OBS_INFO_FILE)


def test_the_loader_images_table_joins(tmp_path):
    """End to end: a dataset built by the loader joins on its obs_key column."""
    data = b.coco([b.image(0, name="S0555020101_U_png.rf." + "1" * 32 + ".jpg"), b.image(1)], [])
    b.write_split(tmp_path / "train", data)
    from xami_core.io.coco import read_coco

    ds = build_dataset([read_coco(tmp_path / "train" / "_annotations.coco.json", "train")],
                       provenance=_provenance(tmp_path))
    joined = m.join_metadata(ds.images, m.read_obs_info(REFERENCE))
    raw = json.loads(REFERENCE.read_text())["S0555020101_U.fits"]
    assert joined["has_metadata"].tolist() == [True, False]
    assert joined.loc[0, "exposure_s"] == raw["EXPOSURE"] and joined.loc[0, "ra_deg"] == raw["RA"]


def _provenance(path):
    from xami_core.model import Provenance

    return Provenance(source="local", path=str(path), layout="coco-single", synthetic=False, licence="", citation="")


@pytest.mark.parametrize(
    ("frame", "lon", "lat", "name"),
    [
        ("icrs", 266.40499, -28.93617, "Galactic plane (b = 0°)"),  # passes through the Galactic centre
        ("galactic", 96.33728, -60.18855, "Celestial equator (δ = 0°)"),  # through RA 0, Dec 0 (its l, b)
    ],
)
def test_reference_ring_passes_through_a_known_point(frame, lon, lat, name):
    images = pd.DataFrame({"obs_key": ["S0000000001_V"], "split": ["train"], "filter_letter": ["V"], "ra_deg": [0.0],
                           "dec_deg": [0.0], "exposure_s": [1.0], "pa_deg": [0.0], "has_metadata": [True]})
    (ring,) = [t for t in m.sky_map_figure(m.sky_positions(images, frame), frame).data if t.name == name]
    x, y = m.hammer_aitoff(np.array([lon]), np.array([lat]))
    xs, ys = np.asarray(ring.x, float), np.asarray(ring.y, float)
    assert np.nanmin(np.hypot(xs - x[0], ys - y[0])) < 0.01


# ---------------------------------------------------------------- what the Overview says and draws


def _joined(names_by_split: dict[str, list[str]], meta: m.ObsMetadata) -> pd.DataFrame:
    return m.join_metadata(_images(names_by_split), meta)


def _meta(keys: list[str]) -> m.ObsMetadata:
    table = pd.DataFrame({"obs_key": keys, "ra_deg": 10.0, "dec_deg": 20.0, "exposure_s": 1000.0, "pa_deg": 5.0})
    return m.ObsMetadata(table=table, source="test")


@pytest.mark.parametrize(
    ("names", "keys", "says"),
    [
        # one image matched: nothing to say, the charts are drawn
        (["S0000000001_V_png.rf.a.jpg", "S0000000002_V_png.rf.b.jpg"], ["S0000000001_V"], None),
        # observation keys, none in the file: say so, and that the file may be another data's
        (["S0000000001_V_png.rf.a.jpg"], ["S0999999999_U", "S0999999998_U"],
         "None of the 1 images' observations is in the metadata file (2 observations)"),
        # no observation key in any file name: say how images are matched
        (["IMG_0001.jpg", "IMG_0002.jpg"], ["S0999999999_U"], "No file name starts with an observation key"),
    ],
)
def test_no_match_is_said_in_words(names, keys, says):
    text = m.no_match_text(_joined({"train": names}, _meta(keys)), _meta(keys))
    if says is None:
        assert text is None
    else:
        assert says in text and "no exposure times or pointings to show" in text


def test_figures_without_data_say_so_without_axes():
    joined = _joined({"train": ["IMG_0001.jpg"]}, _meta(["S0999999999_U"]))
    for fig, message in ((m.exposure_figure(m.exposure_histogram(joined)), m.NO_EXPOSURES),
                         (m.sky_map_figure(m.sky_positions(joined)), m.NO_POINTINGS)):
        assert not fig.data  # no empty bars, no graticule with meaningless axes
        assert fig.layout.xaxis.visible is False and fig.layout.yaxis.visible is False
        assert [a.text for a in fig.layout.annotations] == [message]


def test_split_names_are_text_not_markup_in_the_metadata_figures():
    split = "<b>bold</b> 50%"
    names = ["S0000000001_V_png.rf.a.jpg"]
    joined = _joined({split: names}, _meta(["S0000000001_V"]))
    expo = m.exposure_figure(m.exposure_histogram(joined))
    assert [t.name for t in expo.data] == ["&lt;b&gt;bold&lt;/b&gt; 50&#37;"]
    assert "<b>" not in expo.data[0].hovertemplate and "50&#37;" in expo.data[0].hovertemplate
    sky = m.sky_map_figure(m.sky_positions(joined))
    points = [t for t in sky.data if t.mode == "markers"]
    assert points[0].customdata[0][1] == "&lt;b&gt;bold&lt;/b&gt; 50&#37;"


# Colour-vision deficiencies as linear-RGB matrices (Machado, Oliveira & Fernandes 2009, severity 1).
CVD = {
    "normal": np.eye(3),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}


def _lab(hex_colour: str, seen_as: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of an sRGB colour as a viewer with `seen_as` (a `CVD` matrix) sees it."""
    srgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255
    linear = np.clip(seen_as @ np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4), 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ linear
    f = (lambda t: np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29))(xyz / [0.95047, 1, 1.08883])
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


@pytest.mark.parametrize(("vision", "min_delta_e"), [("normal", 25), ("deuteranopia", 15), ("protanopia", 15),
                                                      ("tritanopia", 15)])
def test_filter_colours_stay_apart_for_colour_blind_readers(vision, min_delta_e):
    from xami_core.model import FILTER_ORDER, filter_colour

    labs = [_lab(filter_colour(f), CVD[vision]) for f in FILTER_ORDER]
    closest = min(np.linalg.norm(a - b_) for i, a in enumerate(labs) for b_ in labs[i + 1:])
    assert closest >= min_delta_e  # CIE76 ΔE of the two closest filters as this reader sees them


def test_filter_colours_from_one_place_on_the_sky_map():
    from xami_core.model import FILTER_ORDER, UNKNOWN_FILTER_COLOUR, filter_colour

    assert len({filter_colour(f) for f in FILTER_ORDER}) == len(FILTER_ORDER)
    assert filter_colour("X") == filter_colour(None) == UNKNOWN_FILTER_COLOUR
    meta = m.read_obs_info(REFERENCE).table
    images = meta.assign(split="all", filter_letter=meta["obs_key"].str[-1], has_metadata=True)
    points = [t for t in m.sky_map_figure(m.sky_positions(images)).data if t.mode == "markers"]
    assert [t.marker.color for t in points] == [filter_colour(f) for f in "VBULMSW"]
