"""Gallery timings: a page of 48 thumbnails cold and cached, the PNG download and the filter,
each against the straightforward way (decode full size, draw each annotation in a Python loop).

`python -m xami_core.gallery_bench` prints the table; `benchmark()` returns it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import cv2
import numpy as np
import pandas as pd

from benchmarks.run import timed
from xami_core.analysis import gallery
from xami_core.io.loader import load_dataset
from xami_core.io.sample import sample_root
from xami_core.model import AUTHOR_COLOURS, FALLBACK_COLOUR, Dataset
from xami_core.render import overlay
from xami_core.render.stretch import stretch_image

PAGE = 48
XAMI_TIMES = 7  # the sample (160 images) tiled 7 times is about XAMI's 1055 images


@contextmanager
def _empty_cache() -> Iterator[None]:
    """A fresh, empty XAMI_CACHE (and no thumbnails in memory) for the duration."""
    before = os.environ.get("XAMI_CACHE")
    folder = tempfile.mkdtemp(prefix="xami-bench-")
    os.environ["XAMI_CACHE"] = folder
    gallery.clear_memory_cache()
    try:
        yield
    finally:
        gallery.clear_memory_cache()
        if before is None:
            os.environ.pop("XAMI_CACHE", None)
        else:
            os.environ["XAMI_CACHE"] = before
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# The straightforward way


def naive_overlay(frame: np.ndarray, annotations: pd.DataFrame, opacity: float = 0.45) -> np.ndarray:
    """Per annotation: fillPoly a full-size mask, blend it, draw the outline (an RGB frame in, RGB out)."""
    img = frame.astype(np.float32)
    for row in annotations.itertuples():
        colour = np.array(AUTHOR_COLOURS.get(row.class_name, FALLBACK_COLOUR), np.float32)
        if row.kind != "polygon":
            continue
        mask = np.zeros(img.shape[:2], np.uint8)
        for part in row.segmentation:
            pts = np.round(np.reshape(part, (-1, 2))).astype(np.int32)
            cv2.fillPoly(mask, [pts], 1)
            cv2.polylines(img, [pts], True, colour.tolist(), 1)
        sel = mask.astype(bool)
        img[sel] = img[sel] * (1 - opacity) + colour * opacity
    return np.clip(img, 0, 255).astype(np.uint8)


def naive_thumbnails(ds: Dataset, image_ids: list[int], size: int = 192) -> list[bytes]:
    """Thumbnails the straightforward way: full-size overlay per image, shrunk, encoded; no cache."""
    out = []
    for image_id in image_ids:
        img = ds.image(image_id)
        frame = cv2.imread(img["path"], cv2.IMREAD_COLOR)
        frame = np.zeros((512, 512, 3), np.uint8) if frame is None else cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        full = naive_overlay(frame, ds.annotations_of(image_id))
        small = cv2.resize(full, (size, size), interpolation=cv2.INTER_AREA)
        out.append(overlay.encode_jpeg(small, 85))
    return out


def naive_filter(ds: Dataset, has: set[str], without: set[str], letters: set[str]) -> list[int]:
    """The filter and sort one image at a time in Python (the issue's example query)."""
    rows = []
    for img in ds.images.itertuples():
        present = set(ds.annotations_of(img.image_id)["class_name"])
        if has <= present and not (present & without) and img.filter_letter in letters:
            rows.append((-img.n_annotations, img.image_id))
    return [image_id for _, image_id in sorted(rows)]


def tiled(ds: Dataset, times: int) -> Dataset:
    """The dataset repeated `times` over with fresh image and annotation ids (same files)."""
    n = len(ds.images)
    images = pd.concat([ds.images] * times, ignore_index=True)
    images["image_id"] = np.arange(len(images), dtype=np.int64)
    ann = pd.concat([ds.annotations] * times, ignore_index=True)
    ann["image_id"] = ann["image_id"].to_numpy() + np.repeat(np.arange(times, dtype=np.int64) * n, len(ds.annotations))
    ann["ann_id"] = np.arange(len(ann), dtype=np.int64)
    return replace(ds, images=images, annotations=ann)


# ---------------------------------------------------------------------------------------
# The benchmark


def benchmark(repeat: int = 3, quick: bool = False) -> pd.DataFrame:
    """Seconds for the gallery's hot paths: ours vs the straightforward way, with the speed-up.

    `quick` times each path once (a smoke run); otherwise the best of `repeat` runs (cold:
    the median of `repeat` runs, each with its own empty cache).

    Rows: a page of 48 thumbnails with an empty disk cache (the issue's goal: under 1 s),
    from the disk cache (a new server process), from memory (the same session; goal: near
    instant), the full-resolution PNG download of the busiest frame, and the issue's example
    filter ("UVW1, star loop, no smoke ring", sorted) on the sample and at XAMI size.
    """
    repeat = 1 if quick else repeat
    ds = load_dataset(sample_root(), source="synthetic sample", synthetic=True)
    ids = gallery.select_images(ds, gallery.GalleryFilter())["image_id"].tolist()[:PAGE]
    options = gallery.ThumbOptions()
    t_naive = timed(lambda: naive_thumbnails(ds, ids), repeat)

    cold = []
    for _ in range(repeat):  # each cold run gets its own empty cache
        with _empty_cache():
            t = time.perf_counter()
            gallery.thumbnails(ds, ids, options)
            cold.append(time.perf_counter() - t)
    with _empty_cache():
        gallery.thumbnails(ds, ids, options)  # fills the disk cache
        t_disk = timed(lambda: (gallery.clear_memory_cache(), gallery.thumbnails(ds, ids, options)), repeat)
        t_memory = timed(lambda: gallery.thumbnails(ds, ids, options), repeat)

    busiest = int(ds.images.sort_values("n_annotations").iloc[-1]["image_id"])
    img = ds.image(busiest)
    anns = ds.annotations_of(busiest)

    def ours_png() -> bytes:
        rgb = overlay.full_overlay(img["path"], anns, int(img["width"]), int(img["height"]), "authors",
                                   fill=True, contour=True, labels=True, label_ids=True)
        return overlay.encode_png(rgb)

    def naive_png() -> bytes:
        frame = stretch_image(cv2.imread(img["path"], cv2.IMREAD_GRAYSCALE))  # the same stretch as ours
        return overlay.encode_png(naive_overlay(cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB), anns))

    query = gallery.GalleryFilter(classes=("star-loop",), without=("smoke-ring",), filters=("L",))
    big = tiled(ds, XAMI_TIMES)
    rows = [
        ("48 thumbnails, cold (empty disk cache)", float(np.median(cold)), t_naive, "< 1 s"),
        ("48 thumbnails, from the disk cache", t_disk, t_naive, "near instant"),
        ("48 thumbnails, from memory (same session)", t_memory, t_naive, "near instant"),
        (f"full-resolution PNG download ({len(anns)} annotations; ours also labels them)", timed(ours_png, repeat), timed(naive_png, repeat), ""),
        (f"filter + sort, sample ({len(ds.images)} images)",
         timed(lambda: gallery.select_images(ds, query, "annotations"), repeat),
         timed(lambda: naive_filter(ds, {"star-loop"}, {"smoke-ring"}, {"L"}), repeat), ""),
        (f"filter + sort, XAMI size ({len(big.images)} images)",
         timed(lambda: gallery.select_images(big, query, "annotations"), repeat),
         timed(lambda: naive_filter(big, {"star-loop"}, {"smoke-ring"}, {"L"}), 1), ""),
    ]
    table = pd.DataFrame(rows, columns=["what", "ours (s)", "straightforward (s)", "goal"])
    table["speed-up"] = table["straightforward (s)"] / table["ours (s)"]
    return table[["what", "ours (s)", "straightforward (s)", "speed-up", "goal"]]


def main() -> None:
    """Print the benchmark table."""
    pd.set_option("display.width", 200)
    pd.set_option("display.max_colwidth", 60)
    print(benchmark().round(4).to_string(index=False))  # noqa: T201 - a command-line report


if __name__ == "__main__":
    main()
