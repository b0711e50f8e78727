"""The benchmark runner behind `python -m xami_core.bench [--quick] [--only SECTION ...]`.

Each section times the core's way and, in the same run, what a user would write instead,
and prints both. Loading runs each way in a fresh process (process CPU time and peak resident
memory, three runs, min and median) against `pycocotools.COCO` + pandas; heatmaps, thumbnails
and figures time the core against a per-annotation or per-image loop. BENCHMARKS.md holds a run.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from xami_core.io.loader import COCO_FILE, load_dataset
from xami_core.io.sample import sample_root

# Other sections live beside the code they measure; each exposes `benchmark() -> DataFrame`.
SECTION_MODULES: dict[str, str] = {
    "heatmaps": "benchmarks.heatmaps",
    "thumbnails": "benchmarks.gallery",
    "figures": "benchmarks.figures",
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
    """The per-annotation way, kept as the reference the tests compare the loader with.

    Per annotation: pycocotools area and box of the merged parts, and the shoelace centroid
    with numpy on each part (columns: x, y, w, h, mask area, cx, cy).
    """
    out = np.zeros((len(parts_per_ann), 7))
    for i, parts in enumerate(parts_per_ann):
        rle = mask_utils.merge(mask_utils.frPyObjects(parts, height, width))
        x, y, w, h = mask_utils.toBbox(rle)
        area = cx = cy = 0.0
        for part in parts:
            xs, ys = np.asarray(part[0::2]), np.asarray(part[1::2])
            xn, yn = np.roll(xs, -1), np.roll(ys, -1)
            cross = xs * yn - xn * ys
            area += cross.sum() / 2
            cx += ((xs + xn) * cross).sum() / 6
            cy += ((ys + yn) * cross).sum() / 6
        out[i] = (x, y, w, h, float(mask_utils.area(rle)), cx / area if area else 0.0, cy / area if area else 0.0)
    return out


def pycocotools_tables(json_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What a competent user writes for the same tables: `pycocotools.COCO` (json.load and its
    index), then pandas, with mask areas and boxes from pycocotools per annotation."""
    with contextlib.redirect_stdout(io.StringIO()):  # COCO() prints its progress
        coco = COCO(str(json_path))
    anns = coco.dataset["annotations"]
    table = pd.DataFrame(anns).drop(columns="segmentation")
    # Roboflow writes box-only annotations as `segmentation: []`, which annToRLE cannot take: boxes stand in.
    has_mask = np.array([bool(a["segmentation"]) for a in anns])
    rles = [coco.annToRLE(a) for a, m in zip(anns, has_mask) if m]
    boxes = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
    boxes[has_mask] = np.array([mask_utils.toBbox(r) for r in rles]).reshape(-1, 4)
    areas = boxes[:, 2] * boxes[:, 3]
    areas[has_mask] = [float(mask_utils.area(r)) for r in rles]
    table["mask_area"] = areas
    table[["mask_box_x", "mask_box_y", "mask_box_w", "mask_box_h"]] = boxes
    images = pd.DataFrame(coco.dataset["images"])
    images["n_annotations"] = images["id"].map(table.groupby("image_id").size()).fillna(0).astype(np.int64)
    return images, table


# The loading steps measured, each in a fresh process (peak resident memory is a process's high-water mark).
LOAD_STEPS: dict[str, Callable[[Path], object]] = {
    "XAMI Explorer load_dataset": lambda folder: load_dataset(folder),
    "pycocotools.COCO + pandas": lambda folder: pycocotools_tables(folder / COCO_FILE),
}


def _measure_in_child(step: str, folder: Path) -> dict[str, float]:
    """Run one step in a fresh Python process: its CPU time and the process's peak resident memory."""
    code = ("import sys; from pathlib import Path; from benchmarks.run import _child; "
            "_child(sys.argv[1], Path(sys.argv[2]))")
    done = subprocess.run([sys.executable, "-c", code, step, str(folder)], capture_output=True, text=True,
                          check=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    return json.loads(done.stdout.strip().splitlines()[-1])


def _child(step: str, folder: Path) -> None:
    """The child's side of `_measure_in_child`: imports first, then the step alone is measured."""
    fn = LOAD_STEPS[step]
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux -> MiB
    start = time.process_time()
    fn(folder)
    cpu = time.process_time() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"cpu_s": cpu, "peak_rss_mib": peak, "rss_after_imports_mib": base}))  # noqa: T201


def with_frames(folder: Path) -> Path:
    """Give every image of a tiled COCO folder a real frame file (hard links to one sample frame)."""
    data = json.loads((folder / COCO_FILE).read_text())
    frame = next(sample_root().glob("train/*.jpg"))
    for im in data["images"]:
        target = folder / im["file_name"]
        if not target.exists():
            os.link(frame, target)
    return folder


def loading_benchmark(sizes: dict[str, int] | None = None, runs: int = 3) -> pd.DataFrame:
    """Cold loads, each in a fresh process: process CPU time and peak resident memory, ours
    against `pycocotools.COCO` + pandas, `runs` times each (min and median)."""
    train_json = sample_root() / "train" / COCO_FILE
    rows = []
    with tempfile.TemporaryDirectory(prefix="xami-bench-") as tmp:
        for label, times in (sizes or LOAD_SIZES).items():
            folder = with_frames(tiled_coco(train_json, Path(tmp) / f"x{times}" / "train", times))
            data = json.loads((folder / COCO_FILE).read_text())
            results = {step: [_measure_in_child(step, folder) for _ in range(runs)] for step in LOAD_STEPS}
            for step, runs_of_step in results.items():
                cpu = [r["cpu_s"] for r in runs_of_step]
                rss = [r["peak_rss_mib"] for r in runs_of_step]
                rows.append({"size": label, "images": len(data["images"]), "annotations": len(data["annotations"]),
                             "way": step, "CPU min (s)": min(cpu), "CPU median (s)": float(np.median(cpu)),
                             "peak RSS min (MiB)": min(rss), "peak RSS median (MiB)": float(np.median(rss)),
                             "RSS after imports (MiB)": runs_of_step[0]["rss_after_imports_mib"]})
            ours, theirs = (np.median([r["cpu_s"] for r in results[s]]) for s in LOAD_STEPS)
            rows[-1]["speed-up of ours (CPU median; below 1: slower)"] = float(theirs / ours)
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
