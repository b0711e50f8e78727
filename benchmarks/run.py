"""The benchmark runner behind `python -m xami_core.bench [--quick] [--only SECTION ...] [--max-images N]`.

Every measured section compares the core with what a competent user writes instead, in the
same run, on the same input, computing the same result (tests/test_bench.py checks that):
`json.load` + `pycocotools.COCO` + pandas for loading, a numpy slicing loop over annotations
for heatmaps, a plain PIL thumbnail loop for a gallery page, a pandas mask for the filter, shapely,
pycocotools and imagehash loops and pandas for the Health page's checks, frame hashes and statistics.
Each way runs in a fresh Python process, several times: the process CPU time of the step alone
and the process's peak resident memory while it runs (VmHWM, reset once the input is ready),
min and median, with the ratio ours / baseline. Sizes are the sample tiled on the fly with
fresh ids: the sample, XAMI size (~1k images), 20k and 150k images. BENCHMARKS.md holds a run.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

# Sizes as numbers of images (None: the sample as it is); each section tiles its input to them.
SIZES: dict[str, int | None] = {"sample": None, "XAMI size": 1_055, "20k": 20_000, "150k": 150_000}
QUICK_SIZES = ("sample", "XAMI size")
LARGE = 50_000  # sizes above this many images run `--large-runs` times (a 150k load takes minutes)
# Measured sections (each module has `cases(sizes, tmp)`), then sections with tables of their own.
MEASURED = {"loading": "benchmarks.loading", "heatmaps": "benchmarks.heatmaps",
            "thumbnails": "benchmarks.gallery", "filter": "benchmarks.gallery", "evaluation": "benchmarks.evaluation",
            "health": "benchmarks.health"}
# A section's table comes from the module's `benchmark`, or from the function after a colon.
OTHER = {"figures": "benchmarks.figures", "pages": "benchmarks.pages", "memory": "benchmarks.pages:memory"}


@dataclass(frozen=True)
class Case:
    """One row of a section's table: two ways of computing one result on one input.

    `module` holds `prepare(arg) -> input` (not measured) and the two ways, each a function
    of that input named by `ours` and `baseline`.
    """

    what: str
    size: str
    images: int
    annotations: int
    module: str
    ours: str
    baseline: str
    arg: dict = field(default_factory=dict)


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    """Best wall time of `repeat` calls, in seconds."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return float(best)


def tiling(target: int | None, base: int) -> int:
    """How many copies of `base` images make about `target` images (1 for the sample itself)."""
    return 1 if target is None else max(1, round(target / base))


def _status_mib(key: str) -> float:
    """A `/proc/self/status` figure (VmRSS, VmHWM) in MiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} in /proc/self/status")


def _child(module: str, way: str, arg: str) -> None:
    """The child's side of `measure_once`: prepare the input, then measure one way alone.

    Peak memory is the process's VmHWM after resetting it once the input is ready (so it is the
    high-water mark while the step runs, input included). `ru_maxrss` would not do: after
    exec it keeps the parent's high-water mark, and the parent holds the tiled input.
    """
    mod = importlib.import_module(module)
    prepared = mod.prepare(json.loads(arg))
    fn = getattr(mod, way)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset VmHWM to the current resident size
    before = _status_mib("VmRSS")
    cpu, wall = time.process_time(), time.perf_counter()
    fn(prepared)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(json.dumps({"cpu_s": cpu, "wall_s": wall, "rss_before_mib": before,  # noqa: T201 - read by the parent
                      "peak_rss_mib": _status_mib("VmHWM")}))


def measure_once(module: str, way: str, arg: dict) -> dict[str, float]:
    """Run one way in a fresh Python process: its CPU and wall time, resident memory before and at peak."""
    code = "import sys; from benchmarks.run import _child; _child(*sys.argv[1:])"
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    done = subprocess.run([sys.executable, "-c", code, module, way, json.dumps(arg)], capture_output=True,
                          text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{module}.{way} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(case: Case, runs: int) -> dict[str, object]:
    """One table row: both ways `runs` times (interleaved), min and median, ratios ours / baseline."""
    results: dict[str, list[dict[str, float]]] = {case.ours: [], case.baseline: []}
    for _ in range(runs):
        for way in results:
            results[way].append(measure_once(case.module, way, case.arg))
    ours, base = results[case.ours], results[case.baseline]

    def med(rs: list[dict[str, float]], key: str) -> float:
        return float(np.median([r[key] for r in rs]))

    return {"size": case.size, "images": case.images, "annotations": case.annotations, "what": case.what,
            "runs": runs,
            "ours CPU min (s)": min(r["cpu_s"] for r in ours), "ours CPU med (s)": med(ours, "cpu_s"),
            "base CPU min (s)": min(r["cpu_s"] for r in base), "base CPU med (s)": med(base, "cpu_s"),
            "CPU ours/base": med(ours, "cpu_s") / max(med(base, "cpu_s"), 1e-9),
            "ours wall med (s)": med(ours, "wall_s"), "base wall med (s)": med(base, "wall_s"),
            "RSS before (MiB)": med(ours, "rss_before_mib"),
            "ours peak RSS (MiB)": med(ours, "peak_rss_mib"), "base peak RSS (MiB)": med(base, "peak_rss_mib"),
            "peak ours/base": med(ours, "peak_rss_mib") / med(base, "peak_rss_mib")}


def measured_section(name: str, sizes: dict[str, int | None], runs: int, large_runs: int,
                     on_row: Callable[[dict], None] | None = None) -> pd.DataFrame:
    """All rows of one measured section; `on_row` sees each row as soon as it is measured."""
    module = importlib.import_module(MEASURED[name])
    rows = []
    with tempfile.TemporaryDirectory(prefix="xami-bench-") as tmp:
        for case in module.cases(name, sizes, Path(tmp)):
            row = measure(case, large_runs if case.images > LARGE else runs)
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return pd.DataFrame(rows)


def chosen_sizes(quick: bool, max_images: int, only: Sequence[str] = ()) -> dict[str, int | None]:
    """The sizes a run measures: the quick ones, or all up to `max_images` images (of those in `only`, if given)."""
    return {label: n for label, n in SIZES.items()
            if (label in QUICK_SIZES if quick else (n is None or n <= max_images)) and (not only or label in only)}


def run_sections(names: Sequence[str], quick: bool, max_images: int = 150_000, runs: int = 3,
                 large_runs: int = 1, on_row: Callable[[dict], None] | None = None,
                 only_sizes: Sequence[str] = ()) -> Iterator[tuple[str, pd.DataFrame]]:
    """Each named section's table, in order."""
    sizes = chosen_sizes(quick, max_images, only_sizes)
    for name in names:
        if name in MEASURED:
            yield name, measured_section(name, sizes, runs, large_runs, on_row)
            continue
        module_name, _, function = OTHER[name].partition(":")
        section = getattr(importlib.import_module(module_name), function or "benchmark")
        given = {"quick": quick, "sizes": sizes, "runs": runs, "large_runs": large_runs}
        # Only the options a section takes: figures has none but quick (and only when set).
        kwargs = {k: v for k, v in given.items() if k in inspect.signature(section).parameters and (k != "quick" or v)}
        yield name, section(**kwargs)


def main(argv: Sequence[str] | None = None) -> int:
    """Print every section's table (and each measured row as it comes, to stderr)."""
    parser = argparse.ArgumentParser(prog="python -m xami_core.bench", description=__doc__.splitlines()[0])
    choices = [*MEASURED, *OTHER]
    parser.add_argument("--only", nargs="+", choices=choices, default=choices, help="sections to run")
    parser.add_argument("--quick", action="store_true", help="the sample and XAMI size, one run each (a smoke run)")
    parser.add_argument("--max-images", type=int, default=150_000, help="skip sizes above this many images")
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=(), help="only these sizes")
    parser.add_argument("--runs", type=int, default=3, help="runs of each way up to 50,000 images")
    parser.add_argument("--large-runs", type=int, default=1, help="runs of each way above 50,000 images")
    parser.add_argument("--json", type=Path, help="also write every table to this JSON file")
    args = parser.parse_args(argv)
    runs = 1 if args.quick else args.runs
    # Thumbnails and other cache writers go to a throwaway cache unless the user set one.
    os.environ.setdefault("XAMI_CACHE", tempfile.mkdtemp(prefix="xami-bench-cache-"))
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 30)
    print(f"XAMI Explorer benchmark · {os.cpu_count()} CPU(s) · Python {sys.version.split()[0]} · "  # noqa: T201
          f"numpy {np.__version__} · pandas {pd.__version__} · CPU and peak RSS per way in a fresh process")
    saved = {}

    def progress(row: dict) -> None:
        print(f"  measured {row['what']} at {row['size']}: CPU ours/base {row['CPU ours/base']:.2f}",  # noqa: T201
              file=sys.stderr, flush=True)

    for name, table in run_sections(args.only, args.quick, args.max_images, runs, args.large_runs, progress,
                                    args.sizes):
        print(f"\n== {name} ==")  # noqa: T201
        print(table.round(4).to_string(index=False))  # noqa: T201
        sys.stdout.flush()
        saved[name] = table.to_dict(orient="records")
        if args.json:
            args.json.write_text(json.dumps(saved, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
