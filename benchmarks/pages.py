"""The pages section: each page's script time through Streamlit's AppTest, first visit and warm rerun.

Each measurement runs in a fresh process: the app is opened from app.py on another page first
(which loads the dataset into the shared cache), then the measured page is opened (its first
visit: per-view results computed) or opened and rerun (warm: what a click costs once the page
has been shown). Pages are switched to the way tests/apptest.py does it. Sizes: the sample and
the sample's train split tiled to XAMI size (`XAMI_DATA` points the app at it).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from benchmarks.loading import tiled_coco, train_json, with_frames
from benchmarks.run import SIZES, measure_once, tiling
from xami_core.analysis.gallery import thumbs_dir

PAGES = ("pages/overview.py", "pages/folds.py", "pages/gallery.py", "pages/heatmaps.py")
TIMEOUT_S = 600


def _switch(at: AppTest, page: str) -> None:
    """Open `page` on the next run the way the page tests do (tests/apptest.py)."""
    from tests import apptest  # noqa: PLC0415 - the tests' helper follows the app's page frame

    switch = getattr(apptest, "switch_page", None)
    if switch is not None:
        switch(at, page)
    else:
        at.switch_page(page)


def prepare(arg: dict) -> tuple[AppTest, str]:
    """The app run once on another page (dataset loaded), no thumbnail cached, for `arg["page"]`."""
    from tests.apptest import APP  # noqa: PLC0415

    shutil.rmtree(thumbs_dir(), ignore_errors=True)  # the sample stays in the cache folder
    if arg.get("data"):
        os.environ["XAMI_DATA"] = arg["data"]
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    _switch(at, PAGES[1] if arg["page"] == PAGES[0] else PAGES[0])
    at.run()
    _check(at)
    if arg.get("warm"):
        _switch(at, arg["page"])
        at.run()
        _check(at)
    return at, arg["page"]


def _check(at: AppTest) -> None:
    """Refuse to time a page that failed."""
    if at.exception:
        raise RuntimeError(f"the app raised: {[e.value for e in at.exception]}")


def first_visit(prepared: tuple[AppTest, str]) -> None:
    """Open the page (the app already running on another page)."""
    at, page = prepared
    _switch(at, page)
    at.run()
    _check(at)


def warm_rerun(prepared: tuple[AppTest, str]) -> None:
    """Rerun the page already shown."""
    at = prepared[0]
    at.run()
    _check(at)


def benchmark(quick: bool = False, runs: int = 3) -> pd.DataFrame:
    """Per size and page: first visit and warm rerun, wall and CPU seconds (min and median of `runs`)."""
    runs = 1 if quick else runs
    rows = []
    with tempfile.TemporaryDirectory(prefix="xami-bench-pages-") as tmp:
        base = len(json.loads(train_json().read_text())["images"])
        times = tiling(SIZES["XAMI size"], base)
        xami = with_frames(tiled_coco(train_json(), Path(tmp) / "xami" / "train", times), train_json(), times)
        sizes = {"sample": ("", 160)} if quick else {"sample": ("", 160), "XAMI size": (str(xami.parent), times * base)}
        for label, (data, n_images) in sizes.items():
            for page in PAGES:
                row: dict[str, object] = {"size": label, "images": n_images, "page": page}
                for way, warm in (("first_visit", False), ("warm_rerun", True)):
                    arg = {"page": page, "data": data, "warm": warm}
                    res = [measure_once(__name__, way, arg) for _ in range(runs)]
                    name = "first visit" if not warm else "warm rerun"
                    row[f"{name} wall min (s)"] = min(r["wall_s"] for r in res)
                    row[f"{name} wall med (s)"] = float(np.median([r["wall_s"] for r in res]))
                    row[f"{name} CPU med (s)"] = float(np.median([r["cpu_s"] for r in res]))
                    row[f"{name} peak RSS (MiB)"] = float(np.median([r["peak_rss_mib"] for r in res]))
                rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    """Print the table."""
    start = time.perf_counter()
    print(benchmark().round(3).to_string(index=False))  # noqa: T201 - a command-line report
    print(f"({time.perf_counter() - start:.0f} s)")  # noqa: T201


if __name__ == "__main__":
    main()
