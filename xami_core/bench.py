"""The one benchmark command: `python -m xami_core.bench [--quick] [--only SECTION ...]`.

Each section times the core's way and, in the same run, the straightforward way
(one Python step per annotation or per image), and prints both with the speed-up.
Sections: loading (COCO parsing and mask geometry), heatmaps, thumbnails, figures.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from pycocotools import mask as mask_utils

from .loader import COCO_FILE, load_dataset
from .sample import sample_root
from .tables import _mask_areas, _polygon_geometry

# Other sections live beside the code they measure; each exposes `benchmark() -> DataFrame`.
SECTION_MODULES: dict[str, str] = {
    "heatmaps": "xami_core.heatmaps_bench",
    "thumbnails": "xami_core.gallery_bench",
    "figures": "xami_core.figures_bench",
}
LOAD_SIZES = {"sample": 1, "XAMI size (~1k images)": 7, "large (~20k images)": 125}
QUICK_LOAD_SIZES = {"sample": 1, "XAMI size (~1k images)": 7}


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    """Best wall time of `repeat` calls, in seconds."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return float(best)


def tiled_coco(src: Path, dst: Path, times: int) -> Path:
    """Write a COCO file repeating the records of `src` `times` over, with fresh ids (no image files)."""
    data = json.loads(src.read_text())
    n_img = max(im["id"] for im in data["images"]) + 1
    n_ann = max(a["id"] for a in data["annotations"]) + 1
    images, anns = [], []
    for t in range(times):
        images += [im | {"id": im["id"] + t * n_img} for im in data["images"]]
        anns += [a | {"id": a["id"] + t * n_ann, "image_id": a["image_id"] + t * n_img} for a in data["annotations"]]
    dst.mkdir(parents=True, exist_ok=True)
    (dst / COCO_FILE).write_text(json.dumps(data | {"images": images, "annotations": anns}))
    return dst


def naive_geometry(parts_per_ann: list[list[list[float]]], height: int, width: int) -> np.ndarray:
    """The straightforward way: per annotation, pycocotools area and box, a Python shoelace centroid."""
    out = np.zeros((len(parts_per_ann), 7))
    for i, parts in enumerate(parts_per_ann):
        rle = mask_utils.merge(mask_utils.frPyObjects(parts, height, width))
        x, y, w, h = mask_utils.toBbox(rle)
        area = cx = cy = 0.0
        for part in parts:
            pts = np.reshape(part, (-1, 2))
            for (x0, y0), (x1, y1) in zip(pts, np.roll(pts, -1, axis=0)):
                cross = x0 * y1 - x1 * y0
                area += cross / 2
                cx += (x0 + x1) * cross / 6
                cy += (y0 + y1) * cross / 6
        out[i] = (x, y, w, h, float(mask_utils.area(rle)), cx / area if area else 0.0, cy / area if area else 0.0)
    return out


def loading_benchmark(sizes: dict[str, int] | None = None) -> pd.DataFrame:
    """Loading a COCO file end to end, and its mask geometry vectorised vs per annotation."""
    train_json = sample_root() / "train" / COCO_FILE
    rows = []
    with tempfile.TemporaryDirectory(prefix="xami-bench-") as tmp:
        for label, times in (sizes or LOAD_SIZES).items():
            folder = tiled_coco(train_json, Path(tmp) / f"x{times}" / "train", times)
            start = time.perf_counter()
            ds = load_dataset(folder)
            t_load = time.perf_counter() - start
            tracemalloc.start()  # a second, traced load: tracing slows Python down, so it is not timed
            load_dataset(folder)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            polygons = ds.annotations[ds.annotations["kind"] == "polygon"]
            parts = list(polygons["segmentation"])
            h = w = 512
            t_ours = timed(lambda: (_polygon_geometry(parts), _mask_areas(parts, np.full(len(parts), h), np.full(len(parts), w))), 3)  # noqa: B023
            t_naive = timed(lambda: naive_geometry(parts, h, w))  # noqa: B023
            rows.append({"size": label, "images": len(ds.images), "annotations": len(ds.annotations),
                         "load end to end (s)": t_load, "peak memory while loading (MB)": peak / 1e6,
                         "geometry, vectorised (s)": t_ours, "geometry, per annotation (s)": t_naive,
                         "speed-up": t_naive / t_ours})
    return pd.DataFrame(rows)


def run_sections(names: Sequence[str], quick: bool) -> dict[str, pd.DataFrame]:
    """Run the named sections; a section whose module is absent is reported, not fatal."""
    out: dict[str, pd.DataFrame] = {}
    for name in names:
        if name == "loading":
            out[name] = loading_benchmark(QUICK_LOAD_SIZES if quick else None)
            continue
        module = importlib.import_module(SECTION_MODULES[name])
        kwargs = {"quick": True} if quick and "quick" in inspect.signature(module.benchmark).parameters else {}
        out[name] = module.benchmark(**kwargs)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Print every section's table."""
    parser = argparse.ArgumentParser(prog="python -m xami_core.bench", description=__doc__.splitlines()[0])
    choices = ["loading", *SECTION_MODULES]
    parser.add_argument("--only", nargs="+", choices=choices, default=choices, help="sections to run")
    parser.add_argument("--quick", action="store_true", help="small sizes only (a smoke run)")
    args = parser.parse_args(argv)
    # Thumbnails and other cache writers go to a throwaway cache unless the user set one.
    os.environ.setdefault("XAMI_CACHE", tempfile.mkdtemp(prefix="xami-bench-cache-"))
    pd.set_option("display.width", 220)
    pd.set_option("display.max_columns", 30)
    print(f"XAMI Explorer benchmark · {os.cpu_count()} CPU(s) · numpy {np.__version__} · pandas {pd.__version__}")  # noqa: T201
    for name, table in run_sections(args.only, args.quick).items():
        print(f"\n== {name} ==")  # noqa: T201
        print(table.round(4).to_string(index=False))  # noqa: T201
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
