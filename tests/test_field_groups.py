"""Field groups: frames of one ObsID together, sky neighbours within a radius joined transitively
(across RA 0/360 and near a pole), frames without metadata on their ObsID, frames without an ObsID alone."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tests import builders as b
from xami_core import load_dataset
from xami_core.analysis import field_groups as FG
from xami_core.io.metadata import join_metadata

R = FG.OM_FOV_ARCMIN  # 17 arcmin
JUST_IN, JUST_OUT = (R - 0.1) / 60.0, (R + 0.1) / 60.0  # degrees, either side of the radius


def joined(rows: list[tuple[str | None, float, float]]) -> pd.DataFrame:
    """An images table as join_metadata leaves it: image_id, obsid, ra_deg, dec_deg (NaN: no metadata)."""
    return pd.DataFrame({
        "image_id": np.arange(len(rows), dtype=np.int64),
        "obsid": pd.Series([r[0] for r in rows], dtype=object),
        "ra_deg": np.array([r[1] for r in rows], dtype=np.float64),
        "dec_deg": np.array([r[2] for r in rows], dtype=np.float64),
    })


def same(groups: FG.FieldGroups, i: int, j: int) -> bool:
    return bool(groups.group[i] == groups.group[j])


def great_circle_arcmin(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Haversine separation, written here so the fixtures' separations do not rest on astropy."""
    p1, p2, dl = math.radians(dec1), math.radians(dec2), math.radians(ra2 - ra1)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return math.degrees(2 * math.asin(math.sqrt(h))) * 60.0


# --- by ObsID, through the real loader --------------------------------------------------------


def test_obsid_groups_from_file_names(tmp_path):
    # Two ObsIDs over several filters, one ObsID alone, and two frames whose names carry no ObsID.
    names = [b.file_name(743200101, "V", "a"), b.file_name(743200101, "U", "b"), b.file_name(555020101, "L", "c"),
             b.file_name(743200101, "M", "d"), "galaxy_png.rf.0.jpg", b.file_name(555020101, "B", "e"),
             b.file_name(893811101, "S", "f"), "cluster.jpg"]
    data = b.coco([b.image(i, name) for i, name in enumerate(names)], [])
    b.write_split(tmp_path / "data", data)
    ds = load_dataset(tmp_path)
    g = FG.field_groups(ds.images, by="obsid")
    by_name = dict(zip(ds.images["file_name"], g.group))
    assert len({by_name[n] for n in names[0:2] + names[3:4]}) == 1  # S0743200101: V, U, M
    assert by_name[names[2]] == by_name[names[5]]  # S0555020101: L, B
    assert len({by_name[names[0]], by_name[names[2]], by_name[names[6]]}) == 3
    assert by_name["galaxy_png.rf.0.jpg"] != by_name["cluster.jpg"]  # no ObsID: each alone
    assert g.n_groups == 5 and g.n_without_obsid == 2 and g.by == "obsid"
    assert g.group.dtype == np.int64 and g.group.shape == (len(ds.images),)
    np.testing.assert_array_equal(g.image_ids, ds.images["image_id"].to_numpy())
    assert sorted(g.sizes.tolist()) == [1, 1, 1, 2, 3]
    # Groups are numbered by first appearance.
    assert g.group[0] == 0 and g.group.max() == g.n_groups - 1


# --- on the sky ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b_", "joined_at_17"), [
    # along a meridian: the Dec difference is the separation
    ((10.0, 20.0), (10.0, 20.0 + JUST_IN), True),
    ((10.0, 20.0), (10.0, 20.0 + JUST_OUT), False),
    # across RA 0/360 on the equator: 359.9 and 0.1 are 12 arcmin apart, not 359.8 degrees
    ((359.9, 0.0), (0.1, 0.0), True),
    ((360.0 - JUST_OUT / 2, 0.0), (JUST_OUT / 2, 0.0), False),
    ((360.0 - JUST_IN / 2, 0.0), (JUST_IN / 2, 0.0), True),
    # near the north pole: opposite RAs at Dec 89.9 are 0.2 degrees (12 arcmin) apart through the pole
    ((0.0, 89.9), (180.0, 89.9), True),
    ((0.0, 90.0 - JUST_OUT / 2), (180.0, 90.0 - JUST_OUT / 2), False),
    # near the south pole: RA 90 degrees apart at Dec -89.9 is about 8.5 arcmin
    ((45.0, -89.9), (135.0, -89.9), True),
    # far apart in RA at the same Dec, well beyond the radius
    ((100.0, 45.0), (101.0, 45.0), False),
])
def test_sky_pairs_either_side_of_the_radius(a, b_, joined_at_17):
    sep = great_circle_arcmin(*a, *b_)
    assert (sep <= R) == joined_at_17  # the fixture is where it claims to be
    g = FG.sky_groups(joined([("0000000001", *a), ("0000000002", *b_)]))
    assert same(g, 0, 1) == joined_at_17
    assert g.n_groups == (1 if joined_at_17 else 2)


def test_neighbour_pairs_are_each_listed_once():
    ra = np.array([0.0, 0.1, 359.95, 180.0])
    dec = np.zeros(4)
    i, j = FG.neighbour_pairs(ra, dec, R)
    assert list(zip(i.tolist(), j.tolist())) == [(0, 1), (0, 2), (1, 2)]  # 0.1 to 359.95: 9 arcmin


def test_sky_neighbours_join_transitively_and_the_radius_is_settable():
    # A - B 10 arcmin, B - C 10 arcmin, A - C 20 arcmin; D 60 arcmin from C.
    step = 10.0 / 60.0
    rows = [("0000000001", 50.0, 10.0), ("0000000002", 50.0, 10.0 + step), ("0000000003", 50.0, 10.0 + 2 * step),
            ("0000000004", 50.0, 11.0 + 2 * step)]
    g = FG.sky_groups(joined(rows))
    assert same(g, 0, 2) and not same(g, 2, 3)  # A and C through B, though 20 arcmin apart
    assert g.n_groups == 2 and g.radius_arcmin == R
    tight = FG.sky_groups(joined(rows), radius_arcmin=9.0)
    assert tight.n_groups == 4
    wide = FG.sky_groups(joined(rows), radius_arcmin=61.0)
    assert wide.n_groups == 1
    assert wide.label == "sky neighbours within 61 arcmin"


def test_frames_without_metadata_fall_back_to_their_obsid_group():
    nan = float("nan")
    rows = [
        ("0000000001", 200.0, -30.0),   # 0: X, filter with a pointing
        ("0000000001", nan, nan),       # 1: X, another filter without metadata
        ("0000000002", 200.0, -29.9),   # 2: Y, 6 arcmin from X
        ("0000000003", nan, nan),       # 3: Z, no metadata for any filter
        ("0000000003", nan, nan),       # 4: Z again
        (None, 200.0, -30.0),           # 5: no ObsID: alone, even with a pointing beside X
        (None, nan, nan),               # 6: no ObsID
    ]
    g = FG.sky_groups(joined(rows))
    assert same(g, 0, 1) and same(g, 0, 2)  # X's filter without metadata follows X onto the sky
    assert same(g, 3, 4) and not same(g, 3, 0)  # Z: its ObsID group
    assert not same(g, 5, 0) and not same(g, 5, 6)
    assert g.n_groups == 4
    assert (g.n_without_position, g.n_obsid_fallback_groups, g.n_without_obsid) == (3, 1, 2)
    summary = FG.groups_summary(g)
    assert summary["images_without_position"] == 3 and summary["obsid_fallback_groups"] == 1
    assert summary["groups"] == 4 and summary["largest_group"] == 3 and summary["groups_of_several"] == 2


def test_field_groups_joins_metadata_by_observation_key():
    images = pd.DataFrame({"image_id": np.arange(4, dtype=np.int64),
                           "obs_key": ["S0000000001_V", "S0000000002_U", "S0000000003_L", "S0000000003_M"],
                           "obsid": ["0000000001", "0000000002", "0000000003", "0000000003"]})
    meta = pd.DataFrame({"obs_key": ["S0000000001_V", "S0000000002_U", "S0000000003_L"],
                         "ra_deg": [10.0, 10.0, 10.0], "dec_deg": [0.0, 0.1, 5.0],
                         "exposure_s": [1000.0] * 3, "pa_deg": [0.0] * 3})
    g = FG.field_groups(images, by="sky", metadata=meta)
    assert g.group.tolist() == [0, 0, 1, 1]
    assert g.n_without_position == 1 and g.n_obsid_fallback_groups == 0
    # The same from a table joined beforehand.
    np.testing.assert_array_equal(FG.field_groups(join_metadata(images, meta), by="sky").group, g.group)


def test_group_table_lists_obsids_and_images():
    rows = [("0000000002", 10.0, 0.0), ("0000000001", 10.0, 0.1), ("0000000002", 10.0, 0.0), ("0000000009", 90.0, 0.0)]
    images = joined(rows)
    table = FG.group_table(images, FG.sky_groups(images))
    first = table.iloc[0]
    assert first["n_images"] == 3 and first["n_obsids"] == 2
    assert first["obsids"] == "0000000001, 0000000002" and first["image_ids"] == (0, 1, 2)
    assert table["n_images"].tolist() == [3, 1]
    with pytest.raises(ValueError, match="other frames"):
        FG.group_table(images.iloc[:2], FG.sky_groups(images))


@pytest.mark.parametrize("radius", [0.0, -1.0, float("nan"), float("inf"), 10800.5])
def test_bad_radius_is_refused(radius):
    with pytest.raises(ValueError, match="radius_arcmin"):
        FG.sky_groups(joined([("0000000001", 0.0, 0.0)]), radius_arcmin=radius)


def test_bad_requests_are_refused():
    images = joined([("0000000001", 0.0, 0.0)])
    with pytest.raises(ValueError, match="by must be one of"):
        FG.field_groups(images, by="target")
    with pytest.raises(ValueError, match="join the observation metadata"):
        FG.field_groups(images.drop(columns=["ra_deg", "dec_deg"]), by="sky")
    with pytest.raises(ValueError, match="'obsid'"):
        FG.obsid_groups(images.drop(columns=["obsid"]))
    with pytest.raises(ValueError, match="same length"):
        FG.neighbour_pairs(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        FG.neighbour_pairs(np.array([0.0, np.nan]), np.zeros(2))


def test_sample_groups(sample_ds):
    # Like XAMI, the synthetic sample has observations in several filters: fewer ObsID groups than frames.
    from xami_core.io.metadata import load_obs_metadata

    g = FG.field_groups(sample_ds.images, by="obsid")
    assert g.n_groups == sample_ds.images["obsid"].nunique() < len(sample_ds.images)
    same = pd.Series(g.group).groupby(sample_ds.images["obsid"].to_numpy()).nunique()
    assert (same == 1).all()  # one group per ObsID
    sky = FG.field_groups(sample_ds.images, by="sky", radius_arcmin=600.0, metadata=load_obs_metadata(synthetic=True))
    assert 1 < sky.n_groups < len(sample_ds.images) and sky.n_without_position == 0
