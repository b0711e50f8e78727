"""A deterministic synthetic XAMI-like sample, so every page works without a download.

The frames imitate XMM-OM images: sky noise, point sources with halos, black borders
outside the detector window, and artefacts where they sit on the real detector
(read-out streaks in columns through bright stars, smoke rings offset from bright
stars, star loops towards the centre, the central ring near (262, 283), rare large
diffuse patches). Like XAMI, some observations appear in several filters (one ObsID, one
pointing) and some targets were observed twice (two ObsIDs a few arcmin apart), so the
fold-leakage views have something to find. It is not real data and is labelled "synthetic
sample" everywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

from xami_core.io.provenance import SYNTHETIC_KEY
from xami_core.model import CLASS_IDS, FILTER_ORDER, PARENT_CATEGORY
from xami_core.paths import cache_dir

SAMPLE_VERSION = 3  # 3: the COCO info carries the synthetic mark
SAMPLE_SEED = 20240625
SIZE = 512
SPLIT_SIZES = {"train": 120, "valid": 40}
CENTRAL_RING_XY = (262.0, 283.0)
# Real XAMI image counts per filter, used as sampling weights.
FILTER_WEIGHTS = {"V": 102, "B": 116, "U": 193, "L": 403, "M": 175, "S": 63, "W": 3}
EMPTY_EVERY = 19  # every 19th frame is a hard negative without artefacts
BOX_ONLY_IMAGE = ("train", 5)  # one box-only annotation, as Roboflow writes it
# Real XAMI: 1000 observation keys over 827 ObsIDs (about 17 % of frames share their observation
# with another filter's frame); some targets were also observed again.
SAME_OBSERVATION_SHARE = 0.2
REVISIT_SHARE = 0.1
REVISIT_OFFSET_ARCMIN = 6.0


def sample_dir() -> Path:
    """Where the bundled sample lives (made on first use).

    Raises:
        OSError: the cache folder cannot be made.
    """
    return cache_dir() / f"sample-v{SAMPLE_VERSION}"


def sample_root() -> Path:
    """The sample's dataset folder, generated once and reused.

    Raises:
        OSError: the cache folder cannot be written (the sample is generated there).
    """
    root = sample_dir()
    if not (root / ".complete").exists():
        write_sample(root)
    return root / "xami_dataset"


def _ellipse_polygon(cx: float, cy: float, a: float, b: float, angle: float, n: int = 24) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ca, sa = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    x = cx + a * np.cos(t) * ca - b * np.sin(t) * sa
    y = cy + a * np.cos(t) * sa + b * np.sin(t) * ca
    return np.round(np.stack([x, y], axis=1), 2)


def _flat(points: np.ndarray) -> list[float]:
    return [float(v) for v in np.round(points, 2).ravel()]


class _Frame:
    """One synthetic frame: its pixels and the annotations drawn into it."""

    def __init__(self, rng: np.random.Generator, empty: bool, box_only: bool):
        self.rng = rng
        self.anns: list[tuple[str, list[list[float]]]] = []
        self.box_only: list[tuple[str, list[float]]] = []
        self.art = np.zeros((SIZE, SIZE), np.float32)
        self._window()
        self._stars()
        if not empty:
            self._artefacts(box_only)

    def _window(self) -> None:
        rng = self.rng
        if rng.random() < 0.65:  # nearly full frame, ragged edges
            x0, y0 = rng.integers(6, 40, 2)
            x1, y1 = SIZE - rng.integers(6, 40, 2)
        else:  # a smaller central science window
            half = rng.integers(110, 190)
            cx, cy = 256 + rng.integers(-20, 21, 2)
            x0, y0, x1, y1 = cx - half, cy - half, cx + half, cy + half
        self.win = (int(x0), int(y0), int(x1), int(y1))

    def _stars(self) -> None:
        rng = self.rng
        x0, y0, x1, y1 = self.win
        n = int(rng.integers(60, 220))
        xs = rng.uniform(x0, x1, n)
        ys = rng.uniform(y0, y1, n)
        flux = 40.0 * (rng.pareto(1.3, n) + 1.0)
        order = np.argsort(flux)[::-1]
        flux[order[:4]] *= rng.uniform(8, 30, 4)  # a few bright stars that cause artefacts
        point = np.zeros((SIZE, SIZE), np.float32)
        np.add.at(point, (ys.astype(int), xs.astype(int)), flux.astype(np.float32))
        self.stars = cv2.GaussianBlur(point, (0, 0), 1.3) + 0.03 * cv2.GaussianBlur(point, (0, 0), 7.0)
        self.bright = [(float(xs[i]), float(ys[i]), float(flux[i])) for i in order[:8]]

    def _add(self, cls: str, polygons: list[np.ndarray]) -> None:
        self.anns.append((cls, [_flat(p) for p in polygons]))

    def _artefacts(self, box_only: bool) -> None:
        rng = self.rng
        x0, y0, x1, y1 = self.win
        for sx, sy, _ in self.bright[: int(rng.poisson(1.8)) + 1]:
            # Read-out streak: a column through the star, split around its core.
            hw = float(rng.uniform(1.0, 2.0))
            cv2.line(self.art, (int(sx), y0), (int(sx), y1), 6.0 * float(rng.uniform(0.6, 1.4)), 2)
            gap = float(rng.uniform(6, 12))
            top = np.array([[sx - hw, y0], [sx + hw, y0], [sx + hw, sy - gap], [sx - hw, sy - gap]])
            bottom = np.array([[sx - hw, sy + gap], [sx + hw, sy + gap], [sx + hw, y1], [sx - hw, y1]])
            parts = [p for p in (top, bottom) if p[2, 1] - p[1, 1] > 4 or p[2, 1] - p[0, 1] > 4]
            if rng.random() < 0.5 or len(parts) < 2:  # a continuous streak, single polygon
                parts = [np.array([[sx - hw, y0], [sx + hw, y0], [sx + hw, y1], [sx - hw, y1]])]
            self._add("read-out-streak", parts)
        centre = np.array([256.0, 256.0])
        for sx, sy, _ in self.bright[: int(rng.poisson(1.2))]:
            # Smoke ring: a small faint ring offset from the star, away from the centre.
            d = np.array([sx, sy]) - centre
            d = d / (np.linalg.norm(d) + 1e-6)
            rx, ry = np.array([sx, sy]) + d * rng.uniform(14, 28)
            r = float(rng.uniform(4, 9))
            if not (x0 + r < rx < x1 - r and y0 + r < ry < y1 - r):
                continue
            cv2.circle(self.art, (int(rx), int(ry)), int(r), 8.0, 2)
            self._add("smoke-ring", [_ellipse_polygon(rx, ry, r + 2, r + 2, 0, 16)])
        for _ in range(int(rng.poisson(1.4))):
            # Star loop: an elongated faint loop concentrated towards the centre.
            cx, cy = centre + rng.normal(0, 55, 2)
            a, b = float(rng.uniform(18, 55)), float(rng.uniform(7, 20))
            ang = float(rng.uniform(0, 180))
            cv2.ellipse(self.art, (int(cx), int(cy)), (int(a), int(b)), ang, 0, 360, 5.0, 3)
            self._add("star-loop", [_ellipse_polygon(cx, cy, a + 3, b + 3, ang, 28)])
        if rng.random() < 0.6:
            # Central ring: a fixed place near the centre of the detector.
            cx, cy = np.array(CENTRAL_RING_XY) + rng.normal(0, 1.5, 2)
            r = float(rng.uniform(14, 18))
            cv2.circle(self.art, (int(cx), int(cy)), int(r), -2.5, -1)
            cv2.circle(self.art, (int(cx), int(cy)), int(r), 6.0, 2)
            self._add("central-ring", [_ellipse_polygon(cx, cy, r + 2, r + 2, 0, 20)])
        if rng.random() < 0.05 or box_only:
            # Other: a rare large diffuse patch.
            cx, cy = rng.uniform(x0 + 80, x1 - 80), rng.uniform(y0 + 80, y1 - 80)
            a, b = float(rng.uniform(40, 80)), float(rng.uniform(30, 60))
            cv2.ellipse(self.art, (int(cx), int(cy)), (int(a), int(b)), 0, 0, 360, 3.0, -1)
            if box_only:
                self.box_only.append(("other", [round(cx - a, 1), round(cy - b, 1), round(2 * a, 1), round(2 * b, 1)]))
            else:
                self._add("other", [_ellipse_polygon(cx, cy, a, b, float(rng.uniform(0, 180)), 12)])

    def pixels(self) -> np.ndarray:
        rng = self.rng
        sky = float(rng.uniform(4, 25))
        sigma = np.float32(np.sqrt(sky))
        img = self.stars + cv2.GaussianBlur(self.art, (0, 0), 2.0) * sigma * np.float32(0.45)
        img = img + rng.normal(0, sigma, img.shape).astype(np.float32)
        # An asinh stretch, as OM quick-look images use: faint structure and bright cores.
        soft = 2.0 * sigma
        lo, hi = -2.5 * sigma, float(np.percentile(img, 99.95))
        scaled = np.arcsinh(np.clip(img - lo, 0, None) / soft) / np.arcsinh((hi - lo) / soft)
        scaled = np.clip(scaled, 0, 1) * 255
        x0, y0, x1, y1 = self.win
        out = np.zeros((SIZE, SIZE), np.uint8)
        out[y0:y1, x0:x1] = scaled[y0:y1, x0:x1].astype(np.uint8)
        return out


def _coco_header() -> dict:
    cats = [{"id": 0, "name": PARENT_CATEGORY, "supercategory": "none"}]
    cats += [{"id": i, "name": n, "supercategory": PARENT_CATEGORY} for n, i in CLASS_IDS.items()]
    return {
        # SYNTHETIC_KEY: the folder stays labelled synthetic when opened by path, copied or handed on
        "info": {"description": "Synthetic XAMI-like sample (not real data)", "version": str(SAMPLE_VERSION),
                 SYNTHETIC_KEY: True},
        "licenses": [{"id": 1, "name": "synthetic, free to use", "url": ""}],
        "categories": cats,
    }


def _filters(rng: np.random.Generator, n: int) -> list[str]:
    """Filter letters: every filter at least once, the rest by real-XAMI weights."""
    letters = list(FILTER_ORDER)
    weights = np.array([FILTER_WEIGHTS[f] for f in letters], float)
    drawn = list(rng.choice(letters, size=n - len(letters), p=weights / weights.sum()))
    out = letters + drawn
    rng.shuffle(out)
    return out


def _observations(rng: np.random.Generator, letters: list[str]) -> list[tuple[int, tuple[float, float]]]:
    """An (ObsID, (RA, Dec) in degrees) per frame of the given filter letters, in order.

    A frame joins an earlier observation that lacks its filter with probability
    `SAME_OBSERVATION_SHARE`; a new observation points within `REVISIT_OFFSET_ARCMIN` of an earlier
    one with probability `REVISIT_SHARE`, else anywhere on the sky (uniform on the sphere).
    """
    observations: list[tuple[int, tuple[float, float], set[str]]] = []
    out = []
    for letter in letters:
        open_obs = [o for o in observations if letter not in o[2]]
        if open_obs and rng.random() < SAME_OBSERVATION_SHARE:
            obsid, pointing, filters = open_obs[int(rng.integers(len(open_obs)))]
            filters.add(letter)
        else:
            obsid = int(rng.integers(100_000_000, 999_999_999))
            if observations and rng.random() < REVISIT_SHARE:
                ra0, dec0 = observations[int(rng.integers(len(observations)))][1]
                offset = rng.uniform(-1, 1, size=2) * REVISIT_OFFSET_ARCMIN / 60 / np.sqrt(2)
                dec = float(np.clip(dec0 + offset[1], -89.9, 89.9))
                ra = float((ra0 + offset[0] / max(np.cos(np.radians(dec)), 0.01)) % 360)
            else:
                ra, dec = float(rng.uniform(0, 360)), float(np.degrees(np.arcsin(rng.uniform(-1, 1))))
            pointing = (round(ra, 5), round(dec, 5))
            observations.append((obsid, pointing, {letter}))
        out.append((obsid, pointing))
    return out


def write_sample(root: Path) -> Path:
    """Generate the sample into `root` atomically (temp folder, then rename); returns `root`.

    Raises:
        OSError: `root`'s parent cannot be written.
    """
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        rng = np.random.default_rng(SAMPLE_SEED)
        obs_info: dict[str, dict[str, float]] = {}
        ann_id = 0
        letters = {split: _filters(rng, n) for split, n in SPLIT_SIZES.items()}
        pointings = iter(_observations(rng, [f for split in SPLIT_SIZES for f in letters[split]]))
        for split_index, split in enumerate(SPLIT_SIZES):
            folder = tmp / "xami_dataset" / split
            folder.mkdir(parents=True)
            coco = _coco_header() | {"images": [], "annotations": []}
            for i, letter in enumerate(letters[split]):
                obsid, (ra, dec) = next(pointings)
                key = f"S{obsid:010d}_{letter}"
                digest = hashlib.md5(f"{split}{i}{key}".encode()).hexdigest()
                name = f"{key}_png.rf.{digest}.jpg"
                frame = _Frame(np.random.default_rng([SAMPLE_SEED, split_index, i]),
                               empty=(i % EMPTY_EVERY == EMPTY_EVERY - 1), box_only=(split, i) == BOX_ONLY_IMAGE)
                cv2.imwrite(str(folder / name), frame.pixels(), [cv2.IMWRITE_JPEG_QUALITY, 90])
                coco["images"].append({"id": i, "license": 1, "file_name": name, "height": SIZE,
                                       "width": SIZE, "date_captured": "2024-06-25T00:00:00+00:00"})
                for cls, parts in frame.anns:
                    pts = np.concatenate([np.reshape(p, (-1, 2)) for p in parts])
                    lo, hi = pts.min(0), pts.max(0)
                    # Roboflow writes integer x, y and float w, h; they drift from polygons.
                    bbox = [int(lo[0]), int(lo[1]), round(float(hi[0] - int(lo[0])), 1), round(float(hi[1] - int(lo[1])), 1)]
                    coco["annotations"].append({"id": ann_id, "image_id": i, "category_id": CLASS_IDS[cls], "bbox": bbox,
                                                "area": round(float(bbox[2] * bbox[3]), 2), "segmentation": parts, "iscrowd": 0})
                    ann_id += 1
                for cls, bbox in frame.box_only:
                    coco["annotations"].append({"id": ann_id, "image_id": i, "category_id": CLASS_IDS[cls], "bbox": bbox,
                                                "area": round(bbox[2] * bbox[3], 2), "segmentation": [], "iscrowd": 0})
                    ann_id += 1
                obs_info[f"{key}.fits"] = {"EXPOSURE": float(rng.choice([1000.0, 2000.0, 4000.0, 5000.0])),
                                           "RA": ra, "DEC": dec, "PA": round(float(rng.uniform(0, 360)), 5)}
            (folder / "_annotations.coco.json").write_text(json.dumps(coco))
        (tmp / "obs_info_synthetic.json").write_text(json.dumps(obs_info, indent=1))
        (tmp / "README.txt").write_text("Synthetic XAMI-like sample made by XAMI Explorer. Not real data.\n")
        (tmp / ".complete").write_text(str(SAMPLE_VERSION))
        if root.exists():
            shutil.rmtree(root)
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root
