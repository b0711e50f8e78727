"""The pages and memory sections: every page's script time through Streamlit's AppTest, and the
process's resident memory while one session visits every page again and again.

Each measurement runs in a fresh process: the app is opened from app.py on another page first
(which loads the dataset into the shared cache), then the measured page is opened (its first
visit: per-view results computed) or opened and rerun (warm: what a click costs once the page
has been shown). Pages are switched to the way tests/apptest.py does it. Sizes: the sample, and
the sample's train split tiled to each larger size (`XAMI_DATA` points the app at it). A tiled
set is loaded once beforehand, in a process that visits every page (not measured), so the disk
caches a first load writes (the index in Parquet, the frames' hashes) are there and every
measured process opens the set from them, as a server does after its first load.

Tiled sets keep the sample's `"synthetic": true`, so the Predictions page evaluates the sample's
synthetic predictions tiled with them. Above `benchmarks.run.LARGE` images the benchmark turns
them off through the link (`pred_synthetic=false`): a first COCOeval of 150,000 images ran for
over 8 minutes of CPU and 7.7 GB without finishing, so the page is measured without a set there.

Every tiled frame is a hard link to one of the sample's 160 frames, so on the Health page each
would be a near-duplicate of every other copy of its original (at 150k some 94 million pairs, a
table no real set has). As the health section gives each copy a random hash, `seed_frame_hashes`
writes a random hash for every tiled frame into the frame-hash disk cache before the first load:
the page then reads distinct hashes from its cache, as it does for a set hashed before.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from benchmarks.loading import tiled_coco, train_json, with_frames
from benchmarks.run import LARGE, QUICK_SIZES, SIZES, _status_mib, measure_once, tiling
from xami_core.analysis import health
from xami_core.analysis.gallery import thumbs_dir
from xami_core.io.loader import COCO_FILE
from xami_core.io.sample import sample_root

PAGES = ("pages/overview.py", "pages/folds.py", "pages/gallery.py", "pages/heatmaps.py", "pages/predictions.py",
         "pages/health.py")
NO_PREDICTIONS = {"pred_synthetic": "false"}  # the link that turns the synthetic predictions off
ROUNDS = 4  # visits of every page, one after the other, in the memory section
TIMEOUT_S = 1800  # a page run; first visits at 150k take over a minute under load (mask heatmaps, the fold methods)


@dataclass(frozen=True)
class AppInput:
    """What the app is pointed at for one size: `data` for `XAMI_DATA` ("" for the sample) and its counts."""

    data: str
    images: int
    annotations: int
    cache: str  # `XAMI_CACHE` of every process measuring this size: the disk caches the first load wrote
    query: tuple[tuple[str, str], ...] = ()  # link parameters the app is opened with


_work: list[tempfile.TemporaryDirectory] = []  # one folder per benchmark process, removed when it exits


def _work_dir() -> Path:
    """The folder the tiled sets and their cache live in (made on first use, removed at exit)."""
    if not _work:
        _work.append(tempfile.TemporaryDirectory(prefix="xami-bench-pages-"))
    return Path(_work[0].name)


def _counts(folders: list[Path]) -> tuple[int, int]:
    """Images and annotations of the COCO files in `folders`."""
    data = [json.loads((f / COCO_FILE).read_text()) for f in folders]
    return sum(len(d["images"]) for d in data), sum(len(d["annotations"]) for d in data)


@functools.cache
def app_input(label: str) -> AppInput:
    """The app's input at size `label` (a key of `SIZES`), its disk caches filled by a first visit of every page.

    Raises:
        RuntimeError: the app raised on a page while the caches were filled.
    """
    work = _work_dir()
    cache = work / "cache"
    target = SIZES[label]
    if target is None:
        root = sample_root()
        images, annotations = _counts([d for d in root.iterdir() if (d / COCO_FILE).is_file()])
        made = AppInput("", images, annotations, str(cache))
    else:
        src = train_json()
        base_images, base_annotations = _counts([src.parent])
        times = tiling(target, base_images)
        folder = with_frames(tiled_coco(src, work / label.replace(" ", "-") / "train", times), src, times)
        query = tuple(NO_PREDICTIONS.items()) if times * base_images > LARGE else ()
        made = AppInput(str(folder.parent), times * base_images, times * base_annotations, str(cache), query)
        seed_frame_hashes(folder, cache)
    measure_once(__name__, "visit_every_page", _arg(made, PAGES[0]))
    return made


def _arg(made: AppInput, page: str, **more: object) -> dict:
    """The child's argument for measuring `page` on `made` (JSON: what `prepare` reads)."""
    return {"page": page, "data": made.data, "cache": made.cache, "query": dict(made.query)} | more


def seed_frame_hashes(folder: Path, cache: Path, seed: int = 11) -> int:
    """Write a random perceptual hash for every frame file in `folder` into the frame-hash cache under `cache`,
    keyed by path, size and modification time as `health.frame_hashes` keys them; returns how many.

    Raises:
        sqlite3.Error: the cache file cannot be written.
    """
    rng = np.random.default_rng(seed)
    frames = sorted((e for e in os.scandir(folder) if e.is_file() and e.name != COCO_FILE), key=lambda e: e.name)
    cache.mkdir(parents=True, exist_ok=True)
    db = health._open_hash_db(cache / health.PHASH_DB)  # noqa: SLF001 - the cache's own schema
    try:
        with db:
            rows = []
            for entry in frames:
                st = entry.stat()
                value = rng.bytes(health.HASH_BITS // 8).hex()
                rows.append((str(Path(entry.path).resolve()), st.st_size, st.st_mtime_ns, value, time.time()))
            db.executemany(f"INSERT OR REPLACE INTO {health.PHASH_TABLE} VALUES (?, ?, ?, ?, ?)", rows)  # noqa: S608
    finally:
        db.close()
    return len(frames)


def _switch(at: AppTest, page: str) -> None:
    """Open `page` on the next run the way the page tests do (tests/apptest.py)."""
    from tests import apptest  # noqa: PLC0415 - the tests' helper follows the app's page frame

    switch = getattr(apptest, "switch_page", None)
    if switch is not None:
        switch(at, page)
    else:
        at.switch_page(page)


def prepare(arg: dict) -> tuple[AppTest, dict]:
    """The app run once on another page (dataset loaded), no thumbnail cached, for `arg["page"]`."""
    from tests.apptest import APP  # noqa: PLC0415

    if arg.get("cache"):
        os.environ["XAMI_CACHE"] = arg["cache"]
    shutil.rmtree(thumbs_dir(), ignore_errors=True)  # the sample stays in the cache folder
    if arg.get("data"):
        os.environ["XAMI_DATA"] = arg["data"]
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    for key, value in arg.get("query", {}).items():
        at.query_params[key] = value
    _switch(at, PAGES[1] if arg["page"] == PAGES[0] else PAGES[0])
    at.run()
    _check(at)
    if arg.get("warm"):
        _switch(at, arg["page"])
        at.run()
        _check(at)
    return at, arg


def _check(at: AppTest) -> None:
    """Refuse to time a page that failed."""
    if at.exception:
        raise RuntimeError(f"the app raised: {[e.value for e in at.exception]}")


def first_visit(prepared: tuple[AppTest, dict]) -> None:
    """Open the page (the app already running on another page)."""
    at, arg = prepared
    _switch(at, arg["page"])
    at.run()
    _check(at)


def warm_rerun(prepared: tuple[AppTest, dict]) -> None:
    """Rerun the page already shown."""
    at = prepared[0]
    at.run()
    _check(at)


def visit_every_page(prepared: tuple[AppTest, dict]) -> list[dict[str, float]]:
    """Open every page in turn, `arg["rounds"]` times (default 1); after each round the process's resident size.

    Returns:
        One record per round: "round" (from 1), "cpu_s" and "wall_s" of the round, "rss_mib" (VmRSS after it)
        and "hwm_mib" (VmHWM, the high-water mark since the measured step began). With `arg["out"]` the records are
        also written there as JSON (the measuring parent reads them).
    """
    at, arg = prepared
    rounds = []
    for n in range(1, int(arg.get("rounds", 1)) + 1):
        cpu, wall = time.process_time(), time.perf_counter()
        for page in PAGES:
            _switch(at, page)
            at.run()
            _check(at)
        rounds.append({"round": n, "cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall,
                       "rss_mib": _status_mib("VmRSS"), "hwm_mib": _status_mib("VmHWM")})
    if arg.get("out"):
        Path(arg["out"]).write_text(json.dumps(rounds))
    return rounds


def _sizes(sizes: dict[str, int | None] | None, quick: bool) -> list[str]:
    """The size labels to measure: those given, else the quick ones or all."""
    if sizes is not None:
        return list(sizes)
    return list(QUICK_SIZES) if quick else list(SIZES)


def benchmark(quick: bool = False, runs: int = 3, sizes: dict[str, int | None] | None = None,
              large_runs: int = 1) -> pd.DataFrame:
    """Per size and page: first visit and warm rerun, wall and CPU seconds (min and median of the runs).

    `runs` runs per way up to `benchmarks.run.LARGE` images, `large_runs` above; `quick`: one run each
    at the quick sizes (unless `sizes` names them).
    """
    rows = []
    for label in _sizes(sizes, quick):
        made = app_input(label)
        n_runs = 1 if quick else large_runs if made.images > LARGE else runs
        for page in PAGES:
            shown = Path(page).stem + (" (no set)" if page == "pages/predictions.py" and made.query else "")
            row: dict[str, object] = {"size": label, "images": made.images, "annotations": made.annotations,
                                      "page": shown, "runs": n_runs}
            for way, name in (("first_visit", "first visit"), ("warm_rerun", "warm rerun")):
                arg = _arg(made, page, warm=way == "warm_rerun")
                res = [measure_once(__name__, way, arg) for _ in range(n_runs)]
                row[f"{name} wall min (s)"] = min(r["wall_s"] for r in res)
                row[f"{name} wall med (s)"] = float(np.median([r["wall_s"] for r in res]))
                row[f"{name} CPU min (s)"] = min(r["cpu_s"] for r in res)
                row[f"{name} CPU med (s)"] = float(np.median([r["cpu_s"] for r in res]))
                row[f"{name} peak RSS (MiB)"] = float(np.median([r["peak_rss_mib"] for r in res]))
            rows.append(row)
    return pd.DataFrame(rows)


def memory(quick: bool = False, sizes: dict[str, int | None] | None = None, rounds: int = ROUNDS) -> pd.DataFrame:
    """Per size: one process (the app opened on Overview, dataset loaded) visits every page `rounds` times;
    per round its CPU and wall seconds and resident size after it (MiB), with the size before the first."""
    rows = []
    for label in _sizes(sizes, quick):
        made = app_input(label)
        out = _work_dir() / f"rounds-{label.replace(' ', '-')}.json"
        arg = _arg(made, PAGES[1], rounds=rounds, out=str(out))
        whole = measure_once(__name__, "visit_every_page", arg)
        base = {"size": label, "images": made.images, "annotations": made.annotations}
        rows.append(base | {"round": 0, "RSS after (MiB)": whole["rss_before_mib"]})
        for r in json.loads(out.read_text()):
            rows.append(base | {"round": r["round"], "CPU (s)": r["cpu_s"], "wall (s)": r["wall_s"],
                                "RSS after (MiB)": r["rss_mib"], "peak RSS so far (MiB)": r["hwm_mib"]})
    return pd.DataFrame(rows)


def main() -> None:
    """Print both tables."""
    os.environ.setdefault("XAMI_CACHE", tempfile.mkdtemp(prefix="xami-bench-cache-"))
    start = time.perf_counter()
    print(benchmark().round(3).to_string(index=False))  # noqa: T201 - a command-line report
    print(memory().round(1).to_string(index=False))  # noqa: T201
    print(f"({time.perf_counter() - start:.0f} s)")  # noqa: T201


if __name__ == "__main__":
    main()
