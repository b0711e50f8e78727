"""Groups of frames that show the same sky field, so that folds can keep a field on one side.

A XAMI frame is one filter of one XMM-Newton observation: the filters of an observation (its
10-digit ObsID) show the same stars and largely the same artefacts, and a target observed
more than once shows them again. Two groupings:

- "obsid": the frames of one ObsID (every filter of one observation);
- "sky": observations whose pointings (RA, Dec of the observation metadata, ICRS degrees)
  lie within a radius of one another, joined transitively (friends of friends). The default
  radius is 17 arcmin, the Optical Monitor's field of view (Mason et al. 2001, A&A 365, L36:
  a 17 x 17 arcmin field). Pairs come from astropy's `search_around_sky` (a k-d tree on unit
  vectors, so RA 0/360 and the poles need no special case), components from
  `scipy.sparse.csgraph.connected_components`. Frames of one ObsID always share a group, so a
  frame without metadata falls back to its ObsID group (joined to the sky group of any of its
  filters that has a pointing).

A frame whose file name has no ObsID is a group of its own in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from xami_core.io.metadata import ObsMetadata

GROUPINGS: dict[str, str] = {
    "obsid": "same ObsID",
    "sky": "sky neighbours",
}
OM_FOV_ARCMIN = 17.0  # the Optical Monitor's field of view (17 x 17 arcmin)
MAX_RADIUS_ARCMIN = 180.0 * 60.0  # half the sphere: every pointing is a neighbour of every other


@dataclass(frozen=True, eq=False)  # arrays: compared by identity, not element-wise
class FieldGroups:
    """Field groups of the frames of one dataset.

    group: int64, shape (n_images,): the group of each row of the images table it was made
        from (same row order); groups are numbered 0..n_groups-1 in order of first appearance.
    image_ids: int64, shape (n_images,): the `image_id` of each row, for joins by id.
    by: "obsid" or "sky".
    radius_arcmin: the neighbour radius in arcmin ("sky" only, else None).
    n_without_obsid: frames without a parsable ObsID (each a group of its own).
    n_without_position: "sky" only: frames with an ObsID but no usable pointing (no metadata, or a
        record without finite RA/Dec), which fell back to their ObsID group.
    n_obsid_fallback_groups: "sky" only: ObsID groups none of whose frames has a pointing.
    """

    group: np.ndarray
    image_ids: np.ndarray
    by: str
    radius_arcmin: float | None = None
    n_without_obsid: int = 0
    n_without_position: int = 0
    n_obsid_fallback_groups: int = 0

    @property
    def n_images(self) -> int:
        """Number of frames grouped."""
        return int(len(self.group))

    @property
    def sizes(self) -> np.ndarray:
        """Frames per group, int64, shape (n_groups,), indexed by group id."""
        return np.bincount(self.group, minlength=self.n_groups).astype(np.int64)

    @property
    def n_groups(self) -> int:
        """Number of groups."""
        return int(self.group.max()) + 1 if len(self.group) else 0

    @property
    def label(self) -> str:
        """How the groups were made, for a page or a report ("sky neighbours within 17 arcmin")."""
        if self.by == "sky":
            return f"{GROUPINGS['sky']} within {self.radius_arcmin:g} arcmin"
        return GROUPINGS.get(self.by, self.by)

    def by_image_id(self) -> pd.Series:
        """The group of each frame as a Series indexed by `image_id` (int64 values)."""
        return pd.Series(self.group, index=pd.Index(self.image_ids, name="image_id"), name="group")


def _check_radius(radius_arcmin: float) -> float:
    r = float(radius_arcmin)
    if not (np.isfinite(r) and 0.0 < r <= MAX_RADIUS_ARCMIN):
        raise ValueError(f"radius_arcmin must be a number in (0, {MAX_RADIUS_ARCMIN:g}], got {radius_arcmin!r}")
    return r


def _obsid_keys(images: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per row: a key that is the ObsID when parsable, else unique to the row; and whether it was parsable."""
    if "obsid" not in images.columns or "image_id" not in images.columns:
        raise ValueError(f"the images table needs 'image_id' and 'obsid' columns, has {list(images.columns)}")
    obsid = images["obsid"].astype(object)
    has = (obsid.notna() & (obsid.astype(str).str.len() > 0)).to_numpy(bool)
    # "#<image_id>" cannot be an ObsID (ten digits), so a frame without one stays alone.
    own = "#" + images["image_id"].astype(np.int64).astype(str)
    keys = np.where(has, obsid.astype(str).to_numpy(), own.to_numpy())
    return keys, has


def obsid_groups(images: pd.DataFrame) -> FieldGroups:
    """Frames grouped by ObsID (every filter of an observation together); frames without one alone.

    Args:
        images: an images table (`Dataset.images`) with `image_id` and `obsid` (10-digit string or missing).

    Raises:
        ValueError: when `image_id` or `obsid` is missing from the table.
    """
    keys, has = _obsid_keys(images)
    group = pd.factorize(keys, sort=False)[0].astype(np.int64)
    return FieldGroups(group=group, image_ids=images["image_id"].to_numpy(np.int64), by="obsid",
                       n_without_obsid=int((~has).sum()))


def neighbour_pairs(ra_deg: np.ndarray, dec_deg: np.ndarray, radius_arcmin: float = OM_FOV_ARCMIN
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j), i < j, of pointings at most `radius_arcmin` apart on the sky.

    Args:
        ra_deg, dec_deg: shape (n,), ICRS degrees, all finite.
        radius_arcmin: the separation limit in arcmin (inclusive up to floating-point rounding).

    Returns:
        Two int64 arrays of equal length (the pairs, each once, sorted).

    Raises:
        ValueError: for a radius outside (0, 10800] arcmin, coordinates of different lengths, or non-finite ones.
    """
    r = _check_radius(radius_arcmin)
    ra, dec = np.asarray(ra_deg, np.float64).ravel(), np.asarray(dec_deg, np.float64).ravel()
    if ra.shape != dec.shape:
        raise ValueError(f"ra_deg and dec_deg must have the same length, got {ra.shape[0]} and {dec.shape[0]}")
    if not (np.isfinite(ra).all() and np.isfinite(dec).all()):
        raise ValueError("ra_deg and dec_deg must be finite (leave out pointings without metadata)")
    if len(ra) < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    from astropy import units as u  # noqa: PLC0415 - astropy is slow to import; only sky groups need it
    from astropy.coordinates import SkyCoord, search_around_sky  # noqa: PLC0415

    coords = SkyCoord(ra=ra * u.deg, dec=dec * u.deg, frame="icrs")
    i, j, _, _ = search_around_sky(coords, coords, r * u.arcmin)
    keep = i < j  # drop self pairs and the mirrored copy of each pair
    pairs = np.unique(np.stack([i[keep], j[keep]], axis=1).astype(np.int64), axis=0).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


def sky_groups(images: pd.DataFrame, radius_arcmin: float = OM_FOV_ARCMIN) -> FieldGroups:
    """Frames grouped by sky field: ObsID groups joined when their pointings lie within `radius_arcmin`.

    Joining is transitive (connected components of the "same ObsID or within the radius"
    graph). A frame without a usable pointing keeps its ObsID's group; a frame without an
    ObsID is a group of its own (and is not placed on the sky even when it has a pointing,
    since its metadata could not have been matched by observation key).

    Args:
        images: an images table joined to the observation metadata (`metadata.join_metadata`):
            `image_id`, `obsid`, `ra_deg`, `dec_deg` (ICRS degrees; NaN when unknown).
        radius_arcmin: the neighbour radius in arcmin (default 17, the Optical Monitor's field of view).

    Raises:
        ValueError: for a radius outside (0, 10800] arcmin, or a table without the columns above.
    """
    from scipy.sparse import coo_matrix  # noqa: PLC0415 - only sky groups need scipy.sparse
    from scipy.sparse.csgraph import connected_components  # noqa: PLC0415

    r = _check_radius(radius_arcmin)
    missing = [c for c in ("ra_deg", "dec_deg") if c not in images.columns]
    if missing:
        raise ValueError(f"sky groups need pointings: the images table lacks {missing} "
                         "(join the observation metadata first, metadata.join_metadata)")
    keys, has_obsid = _obsid_keys(images)
    n = len(keys)
    obs_code = pd.factorize(keys, sort=False)[0]
    ra = images["ra_deg"].to_numpy(np.float64)
    dec = images["dec_deg"].to_numpy(np.float64)
    placed = has_obsid & np.isfinite(ra) & np.isfinite(dec)
    # Edges: each frame to the first frame of its ObsID, and each pair of placed frames within the radius.
    first_of_code = np.full(obs_code.max() + 1 if n else 0, -1, dtype=np.int64)
    first_of_code[obs_code[::-1]] = np.arange(n - 1, -1, -1)  # later writes win: the first row of each code
    on_sky = np.flatnonzero(placed)
    pi, pj = neighbour_pairs(ra[on_sky], dec[on_sky], r)
    rows = np.concatenate([np.arange(n), on_sky[pi]])
    cols = np.concatenate([first_of_code[obs_code], on_sky[pj]])
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    group = pd.factorize(component, sort=False)[0].astype(np.int64)
    # ObsID groups with no placed frame at all: their frames are grouped by ObsID alone.
    code_placed = np.bincount(obs_code, weights=placed, minlength=len(first_of_code)) > 0
    code_has_obsid = np.bincount(obs_code, weights=has_obsid, minlength=len(first_of_code)) > 0
    return FieldGroups(group=group, image_ids=images["image_id"].to_numpy(np.int64), by="sky", radius_arcmin=r,
                       n_without_obsid=int((~has_obsid).sum()),
                       n_without_position=int((has_obsid & ~placed).sum()),
                       n_obsid_fallback_groups=int((code_has_obsid & ~code_placed).sum()))


def field_groups(images: pd.DataFrame, by: str = "obsid", radius_arcmin: float = OM_FOV_ARCMIN,
                 metadata: ObsMetadata | pd.DataFrame | None = None) -> FieldGroups:
    """Field groups of a dataset's frames, by ObsID or by sky neighbourhood (see the module docstring).

    Args:
        images: `Dataset.images` (for "sky", already joined to metadata, or give `metadata`).
        by: "obsid" or "sky".
        radius_arcmin: neighbour radius in arcmin for "sky" (default 17, the OM field of view).
        metadata: an `ObsMetadata` or its table, joined to `images` by observation key when given ("sky").

    Raises:
        ValueError: for an unknown `by`, a bad radius, or "sky" without pointings (no metadata
            given and no `ra_deg`/`dec_deg` columns).
    """
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}, got {by!r}")
    if by == "obsid":
        return obsid_groups(images)
    if metadata is not None:
        from xami_core.io.metadata import join_metadata  # noqa: PLC0415 - keeps plotly out of the obsid path

        images = join_metadata(images, metadata)
    return sky_groups(images, radius_arcmin)


def group_table(images: pd.DataFrame, groups: FieldGroups) -> pd.DataFrame:
    """One row per group: `group`, `n_images`, `n_obsids`, `obsids` (sorted, comma-joined), `image_ids` (tuple).

    Largest groups first, then by group id.

    Raises:
        ValueError: when `groups` was made from another images table (ids differ).
    """
    frame = _framed(images, groups)
    out = frame.groupby("group", sort=True).agg(
        n_images=("image_id", "size"),
        n_obsids=("obsid", "nunique"),
        obsids=("obsid", _joined),
        image_ids=("image_id", lambda s: tuple(int(v) for v in np.sort(s.to_numpy()))),
    ).reset_index()
    out = out.astype({"group": "int64", "n_images": "int64", "n_obsids": "int64"})
    return out.sort_values(["n_images", "group"], ascending=[False, True], ignore_index=True)


def groups_summary(groups: FieldGroups) -> dict[str, float | int | str | None]:
    """Headline numbers: how the groups were made, frames, groups, shared groups, largest, fallbacks."""
    sizes = groups.sizes
    return {
        "grouping": groups.label,
        "radius_arcmin": groups.radius_arcmin,
        "images": groups.n_images,
        "groups": groups.n_groups,
        "groups_of_several": int((sizes > 1).sum()),
        "images_in_groups_of_several": int(sizes[sizes > 1].sum()),
        "largest_group": int(sizes.max()) if len(sizes) else 0,
        "images_without_obsid": groups.n_without_obsid,
        "images_without_position": groups.n_without_position,
        "obsid_fallback_groups": groups.n_obsid_fallback_groups,
    }


def _joined(values: pd.Series) -> str:
    return ", ".join(sorted(values.dropna().astype(str).unique()))


def _framed(images: pd.DataFrame, groups: FieldGroups) -> pd.DataFrame:
    """image_id, obsid and group of each frame, checked to be the frames the groups were made from."""
    ids = images["image_id"].to_numpy(np.int64)
    if len(ids) != groups.n_images or not np.array_equal(np.sort(ids), np.sort(groups.image_ids)):
        raise ValueError(f"these field groups were made for {groups.n_images} other frames, not this images table "
                         f"({len(ids)} frames)")
    group = groups.by_image_id().reindex(ids).to_numpy(np.int64)
    return pd.DataFrame({"image_id": ids, "obsid": images["obsid"].astype(object).to_numpy(), "group": group})
