"""Heatmap timings: vectorised paths vs a straightforward per-annotation loop, in one run.

`benchmark()` is the "heatmaps" section of `python -m xami_core.bench`;
`python -m xami_core.heatmaps_bench` prints it alone. Sizes: the synthetic sample, an
XAMI-size table (the sample tiled to 1120 images / 6349 annotations, about XAMI's 1055 /
7021) and a large table (100,000 images) made by tiling the sample's tables (no image
files needed). Per size and method: the first computation of every class x split map
(for masks, rasterisation included), a repeat of it (masks cached per table and grid),
a cache hit as the app sees it (unpickling the result, what `st.cache_data` does), a
regrouping by filter, and the naive loop (timed on a slice and scaled up when large).
"""

from __future__ import annotations

import pickle
import time

import numpy as np
import pandas as pd
from pycocotools import mask as mask_utils

from benchmarks.run import timed
from xami_core.analysis import heatmaps as hm
from xami_core.analysis import rasterise
from xami_core.io.loader import load_dataset
from xami_core.io.sample import sample_root

SIZES = {"sample": 1, "XAMI size": 7, "large (100k images)": 625}
QUICK_SIZES = {"sample": 1, "XAMI size": 7}
TARGET_XAMI_S = 0.5  # the goal for all classes x splits at XAMI size


def tile_tables(images: pd.DataFrame, annotations: pd.DataFrame, times: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Repeat the tables `times` over with fresh image ids (segmentations shared, not copied)."""
    n = len(images)
    img = pd.concat([images] * times, ignore_index=True)
    img["image_id"] = np.arange(len(img), dtype=np.int64)
    ann = pd.concat([annotations] * times, ignore_index=True)
    shift = np.repeat(np.arange(times, dtype=np.int64) * n, len(annotations))
    ann["image_id"] = ann["image_id"].to_numpy() + shift
    return img, ann


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
            c0, c1, r0, r1 = (int(v[0]) for v in rasterise.box_cells(np.array([a.mask_box_x]), np.array([a.mask_box_y]), np.array([a.mask_box_w]),
                                                              np.array([a.mask_box_h]), np.array([w]), np.array([h]), grid))
            out[g, c, r0:r1, c0:c1] += 1
        else:
            rle = mask_utils.merge(mask_utils.frPyObjects(a.segmentation, h, w)) if a.kind == "polygon" else a.segmentation
            m = mask_utils.decode(rle).astype(bool)
            ys, xs = np.nonzero(m)
            cells = np.zeros((grid, grid), dtype=bool)
            cells[(ys * grid) // h, (xs * grid) // w] = True  # grid divides the frame in this benchmark
            out[g, c] += cells
    return out


def benchmark(grid: int = hm.DEFAULT_GRID, sizes: dict[str, int] | None = None, quick: bool = False,
              naive_mask_limit: int = 1000, naive_limit: int = 20_000) -> pd.DataFrame:
    """Seconds per size and method: first and repeated all classes x splits, cache hit, regrouping, naive loop.

    The naive loops run on at most `naive_mask_limit` (masks) or `naive_limit` (boxes,
    centroids) annotations and are scaled up linearly beyond that ("naive estimated").
    `quick` skips the large size.
    """
    ds = load_dataset(sample_root(), source="synthetic sample", synthetic=True)
    classes = tuple(ds.class_names)
    rows = []
    for label, times in (sizes or (QUICK_SIZES if quick else SIZES)).items():
        images, annotations = tile_tables(ds.images, ds.annotations, times)
        for method in hm.METHODS:
            # A fresh copy of the table per method: the mask cache is keyed by the table, so the first call is cold.
            table = annotations.copy()
            start = time.perf_counter()
            hs = hm.compute_heatmaps(images, table, method, grid, "split", classes)
            t_first = time.perf_counter() - start
            t_again = timed(lambda: hm.compute_heatmaps(images, table, method, grid, "split", classes), repeat=2)  # noqa: B023
            stored = pickle.dumps(hs, protocol=pickle.HIGHEST_PROTOCOL)
            t_hit = timed(lambda: pickle.loads(stored), repeat=3)  # noqa: B023
            t_filter = timed(lambda: hm.compute_heatmaps(images, table, method, grid, "filter", classes))  # noqa: B023
            cap = naive_mask_limit if method == "mask" else naive_limit
            limit = cap if len(table) > cap else None
            t_naive = timed(lambda: naive_heatmaps(images, table, method, grid, classes, limit))  # noqa: B023
            if limit is not None:
                t_naive *= len(table) / limit
            rows.append({"size": label, "images": len(images), "annotations": len(table), "method": method,
                         "grid": grid, "all classes x splits, first (s)": t_first,
                         "again, masks cached (s)": t_again, "cache hit, unpickle (s)": t_hit,
                         "result (MB)": len(stored) / 1e6, "regroup by filter (s)": t_filter,
                         "naive loop (s)": t_naive, "naive estimated": limit is not None,
                         "speed-up (first)": t_naive / t_first})
    return pd.DataFrame(rows)


heatmap_benchmarks = benchmark  # the earlier name


def main() -> None:
    """Print the benchmark table."""
    pd.set_option("display.width", 220)
    pd.set_option("display.max_columns", 20)
    table = benchmark()
    print(table.round(4).to_string(index=False))  # noqa: T201 - a command-line report
    xami = table[table["size"] == "XAMI size"]
    worst = float(xami["all classes x splits, first (s)"].max())
    print(f"\nXAMI size, slowest method from scratch: {worst:.3f} s (target {TARGET_XAMI_S} s)")  # noqa: T201


if __name__ == "__main__":
    main()
