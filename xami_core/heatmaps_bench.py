"""Heatmap timings: vectorised paths vs a straightforward per-annotation loop, in one run.

`python -m xami_core.heatmaps_bench` prints a table. Sizes: the synthetic sample, an
XAMI-size table (the sample tiled to about 1000 images / 6000 annotations) and a large
table (>= 100k images) made by tiling the sample's tables (no image files needed).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from pycocotools import mask as mask_utils

from . import heatmaps as hm
from .loader import load_dataset
from .sample import sample_root

SIZES = {"sample": 1, "XAMI size": 7, "large (100k images)": 625}


def tile_tables(images: pd.DataFrame, annotations: pd.DataFrame, times: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Repeat the tables `times` over with fresh image ids (segmentations shared, not copied)."""
    n = len(images)
    img = pd.concat([images] * times, ignore_index=True)
    img["image_id"] = np.arange(len(img), dtype=np.int64)
    ann = pd.concat([annotations] * times, ignore_index=True)
    shift = np.repeat(np.arange(times, dtype=np.int64) * n, len(annotations))
    ann["image_id"] = ann["image_id"].to_numpy() + shift
    return img, ann


def _timed(fn: Callable[[], object], repeat: int = 1) -> float:
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def naive_heatmaps(images: pd.DataFrame, annotations: pd.DataFrame, method: str, grid: int,
                   classes: tuple[str, ...], limit: int | None = None) -> np.ndarray:
    """The straightforward version: one Python step per annotation (splits as groups, counts only)."""
    groups = [s for s in ("train", "valid", "test", "all") if s in set(images["split"])]
    out = np.zeros((len(groups), len(classes), grid, grid), dtype=np.int32)
    size = images.set_index("image_id")[["width", "height"]]
    ann = annotations if limit is None else annotations.iloc[:limit]
    for a in ann.itertuples(index=False):
        w, h = size.at[a.image_id, "width"], size.at[a.image_id, "height"]
        g, c = groups.index(a.split), classes.index(a.class_name)
        if method == "centroid":
            out[g, c, min(int(a.cy * grid / h), grid - 1), min(int(a.cx * grid / w), grid - 1)] += 1
        elif method == "box" or a.kind == "box":
            c0, c1, r0, r1 = (int(v[0]) for v in hm.box_cells(np.array([a.box_x]), np.array([a.box_y]), np.array([a.box_w]),
                                                              np.array([a.box_h]), np.array([w]), np.array([h]), grid))
            out[g, c, r0:r1, c0:c1] += 1
        else:
            rle = mask_utils.merge(mask_utils.frPyObjects(a.segmentation, h, w)) if a.kind == "polygon" else a.segmentation
            m = mask_utils.decode(rle).astype(bool)
            ys, xs = np.nonzero(m)
            cells = np.zeros((grid, grid), dtype=bool)
            cells[(ys * grid) // h, (xs * grid) // w] = True  # grid divides the frame in this benchmark
            out[g, c] += cells
    return out


def heatmap_benchmarks(grid: int = hm.DEFAULT_GRID, sizes: dict[str, int] | None = None,
                       naive_mask_limit: int = 2000, naive_limit: int = 20_000) -> pd.DataFrame:
    """Seconds per method and size: mask rasterisation (once), all classes x splits, regrouping, and the naive loop.

    The naive loops run on at most `naive_mask_limit` (masks) or `naive_limit` (boxes,
    centroids) annotations and are scaled up linearly beyond that (marked "estimated").
    """
    ds = load_dataset(sample_root(), source="synthetic sample", synthetic=True)
    classes = tuple(ds.class_names)
    rows = []
    for label, times in (sizes or SIZES).items():
        images, annotations = tile_tables(ds.images, ds.annotations, times)
        for method in hm.METHODS:
            raster = np.nan
            if method == "mask":
                raster = _timed(lambda: hm.mask_runs(images, annotations, grid))  # noqa: B023 - called at once
            t_split = _timed(lambda: hm.compute_heatmaps(images, annotations, method, grid, "split", classes), repeat=2)  # noqa: B023
            t_filter = _timed(lambda: hm.compute_heatmaps(images, annotations, method, grid, "filter", classes))  # noqa: B023
            cap = naive_mask_limit if method == "mask" else naive_limit
            limit = cap if len(annotations) > cap else None
            t_naive = _timed(lambda: naive_heatmaps(images, annotations, method, grid, classes, limit))  # noqa: B023
            estimated = limit is not None
            if estimated:
                t_naive *= len(annotations) / limit
            rows.append({"size": label, "images": len(images), "annotations": len(annotations), "method": method,
                         "grid": grid, "mask rasterisation once (s)": raster,
                         "all classes x splits (s)": t_split, "regroup by filter (s)": t_filter,
                         "naive loop (s)": t_naive, "naive estimated": estimated,
                         "speed-up": t_naive / (t_split + (0 if np.isnan(raster) else raster))})
    return pd.DataFrame(rows)


def main() -> None:
    """Print the benchmark table."""
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    print(heatmap_benchmarks().round(4).to_string(index=False))  # noqa: T201 - a command-line report


if __name__ == "__main__":
    main()
