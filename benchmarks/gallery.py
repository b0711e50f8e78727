"""The thumbnails and filter sections: a gallery page and its query against what a user writes instead.

Thumbnails: a page of 48 with an empty thumbnail cache (`gallery.thumbnails`), against a plain
PIL loop (`Image.open`, `thumbnail`, the same percentile stretch with numpy, the masks drawn
with `ImageDraw` on a translucent layer, JPEG `save`). Filter: the issue's example query
("star loop, no smoke ring, UVW1", most annotations first) through `gallery.select_images`,
against a pandas `groupby` of classes per image and a boolean mask. Both on the sample's
dataset tiled with fresh ids to each size (the same frame files).
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from benchmarks.run import Case, tiling
from xami_core.analysis import gallery
from xami_core.io.loader import load_dataset
from xami_core.io.sample import sample_root
from xami_core.model import Dataset

PAGE = 48
QUERY = gallery.GalleryFilter(classes=("star-loop",), without=("smoke-ring",), filters=("L",))


def tiled(ds: Dataset, times: int) -> Dataset:
    """The dataset repeated `times` over with fresh image and annotation ids (same files)."""
    n = len(ds.images)
    images = pd.concat([ds.images] * times, ignore_index=True)
    images["image_id"] = np.arange(len(images), dtype=np.int64)
    ann = pd.concat([ds.annotations] * times, ignore_index=True)
    ann["image_id"] = ann["image_id"].to_numpy() + np.repeat(np.arange(times, dtype=np.int64) * n, len(ds.annotations))
    ann["ann_id"] = np.arange(len(ann), dtype=np.int64)
    return replace(ds, images=images, annotations=ann)


def pil_thumbnails(images: pd.DataFrame, annotations: pd.DataFrame, image_ids: list[int], colours: dict[str, str],
                   size: int = 192, opacity: float = 0.45, quality: int = 85) -> list[bytes]:
    """The baseline: JPEG thumbnails (longer side `size`) with translucent masks, one PIL pass per image.

    The display stretch is the gallery's default: linear between the 0.5 and 99.8 percentiles of
    the non-zero pixels, zero (the detector border) kept black. `colours`: class -> "#rrggbb".
    """
    info = images.set_index("image_id").loc[image_ids, ["path", "width"]]
    page = annotations[annotations["image_id"].isin(image_ids)]
    by_image = dict(tuple(page.groupby("image_id")))
    alpha = round(opacity * 255)
    out = []
    for image_id, (path, width) in zip(image_ids, info.itertuples(index=False)):
        with Image.open(path) as im:
            im.draft("L", (size, size))  # the JPEG decoder scales down (1/2, 1/4, 1/8), as the gallery's does
            im.thumbnail((size, size), Image.Resampling.BOX, reducing_gap=None)  # then area averaging
            grey = np.asarray(im.convert("L"))
        lo, hi = np.percentile(grey[grey > 0], [0.5, 99.8])
        lut = np.clip(np.rint((np.arange(256.0) - lo) / max(hi - lo, 1e-9) * 255), 0, 255).astype(np.uint8)
        lut[0] = 0
        frame = Image.fromarray(lut[grey]).convert("RGBA")
        layer = Image.new("RGBA", frame.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        scale = frame.width / width
        anns = by_image.get(image_id)
        for row in [] if anns is None else anns.itertuples(index=False):
            rgb = tuple(int(colours[row.class_name][k:k + 2], 16) for k in (1, 3, 5))
            if row.kind == "polygon":
                for part in row.segmentation:
                    draw.polygon([v * scale for v in part], fill=(*rgb, alpha), outline=(*rgb, 255))
            else:
                x, y, w, h = (v * scale for v in (row.mask_box_x, row.mask_box_y, row.mask_box_w, row.mask_box_h))
                draw.rectangle([x, y, x + w, y + h], outline=(*rgb, 255))
        buf = io.BytesIO()
        Image.alpha_composite(frame, layer).convert("RGB").save(buf, "JPEG", quality=quality)
        out.append(buf.getvalue())
    return out


def pandas_filter(images: pd.DataFrame, annotations: pd.DataFrame, has: str, without: str, letter: str) -> pd.DataFrame:
    """The baseline query: images with class `has`, without class `without`, of filter `letter`, most annotations first."""
    present = annotations.groupby(["image_id", "class_name"]).size().unstack(fill_value=0) > 0
    present = present.reindex(images["image_id"], fill_value=False)

    def column(name: str) -> np.ndarray:
        return present[name].to_numpy() if name in present else np.zeros(len(images), dtype=bool)

    keep = column(has) & ~column(without) & (images["filter_letter"] == letter).to_numpy()
    return images[keep].sort_values(["n_annotations", "image_id"], ascending=[False, True])


def prepare(arg: dict) -> tuple[Dataset, list[int]]:
    """The child's input: the tiled dataset and a gallery page's ids (48 distinct frames), no thumbnail cached."""
    shutil.rmtree(gallery.thumbs_dir(), ignore_errors=True)  # the sample stays in the cache folder
    gallery.clear_memory_cache()
    ds = tiled(load_dataset(sample_root(), source="synthetic sample", synthetic=True), arg["times"])
    # The first page of distinct frames: tiled copies of one frame would share one cached thumbnail.
    order = gallery.select_images(ds, gallery.GalleryFilter())
    ids = order.drop_duplicates("path")["image_id"].tolist()[:PAGE]
    return ds, ids


def thumbnails_ours(prepared: tuple[Dataset, list[int]]) -> object:
    """A page of thumbnails through the gallery, nothing cached."""
    ds, ids = prepared
    return gallery.thumbnails(ds, ids, gallery.ThumbOptions())


def thumbnails_baseline(prepared: tuple[Dataset, list[int]]) -> object:
    """The PIL loop."""
    ds, ids = prepared
    colours = dict(zip(ds.categories["name"], ds.categories["colour"]))
    return pil_thumbnails(ds.images, ds.annotations, ids, colours)


def filter_ours(prepared: tuple[Dataset, list[int]]) -> object:
    """The example query through `gallery.select_images`."""
    return gallery.select_images(prepared[0], QUERY, "annotations")


def filter_baseline(prepared: tuple[Dataset, list[int]]) -> object:
    """The example query in pandas."""
    ds = prepared[0]
    return pandas_filter(ds.images, ds.annotations, "star-loop", "smoke-ring", "L")


def cases(name: str, sizes: dict[str, int | None], tmp: Path) -> Iterator[Case]:
    """A page of thumbnails (section "thumbnails") or the query (section "filter") at each size."""
    ds = load_dataset(sample_root(), source="synthetic sample", synthetic=True)
    what = f"page of {PAGE} thumbnails, cold" if name == "thumbnails" else "filter + sort (example query)"
    prefix = "thumbnails" if name == "thumbnails" else "filter"
    for label, target in sizes.items():
        times = tiling(target, len(ds.images))
        yield Case(what, label, times * len(ds.images), times * len(ds.annotations), __name__,
                   f"{prefix}_ours", f"{prefix}_baseline", {"times": times})
