"""The health section: the Health page's checks, frame hashes and statistics against what a competent user writes.

- Checks: `health.prepare_checks` + `run_checks` at the page's default thresholds, against a script
  that loops: shapely `Polygon.is_valid` / `explain_validity` per polygon part, numpy per polygon
  for vertices outside the frame, one pycocotools `iou` matrix per (frame, class) with two or more
  annotations, every frame's hash against every later one in numpy blocks (XOR and popcount), and
  pandas for boxes, file names, sizes and classes. Both are given the same frame hashes.
- Frame hashes: `health.frame_hashes` with its disk cache empty, and filled (a later visit),
  against an `imagehash.phash` per frame in a PIL loop (full decode, no cache).
- Near-duplicate frames: `health.hash_pairs` on random 256-bit hashes with planted near copies, at
  the default distance and wider ones up to the page's maximum, against every hash compared with
  every later one in numpy blocks (XOR and popcount; its cost does not depend on the distance).
  Above 50,000 images only the widest distance is measured (the baseline takes minutes there).
- Statistics: what the page computes per split (`annotation_stats.instance_measures`,
  `measure_summary`, `instances_per_image`, `class_cooccurrence`), against pandas: the measures as
  columns, `groupby(...).describe()`, `crosstab`, and a matrix product of class presence.

Input: the sample's dataset tiled with fresh ids (`benchmarks.gallery.tiled`). For the checks each
copy's frames get their own file name and path (copies sharing names would all be duplicate file
names) and a distinct random 256-bit hash (copies of one frame would all be near-duplicates); the
file-system checks then find no folder to scan. The hash rows read real files: links to the
sample's 160 frames, one per image (hashing costs the same per frame at any size).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import imagehash
import numpy as np
import pandas as pd
from PIL import Image
from pycocotools import mask as mask_utils
from shapely.geometry import Polygon
from shapely.validation import explain_validity

from benchmarks.gallery import tiled
from benchmarks.run import LARGE, Case, tiling
from xami_core.analysis import annotation_stats as S
from xami_core.analysis import health as H
from xami_core.io.image_files import FILE_OK, base_name
from xami_core.io.loader import load_dataset
from xami_core.io.sample import sample_root
from xami_core.model import Dataset

HASH_ROWS_MAX = 2_000  # images: the hash rows read every frame (linear), measured up to XAMI size
HASH_BLOCK = 256  # hashes compared with all later ones at a time in the baseline
# Near-duplicate frame rows: bits, at every size and above `benchmarks.run.LARGE` images.
FRAME_DISTANCES = (H.DEFAULT_HASH_DISTANCE, 16, 20, H.MAX_HASH_DISTANCE)
FRAME_DISTANCES_LARGE = (H.MAX_HASH_DISTANCE,)
PLANTED = 30  # near copies in the frame rows' hashes: copy k differs from its row in k bits


# --- input ---------------------------------------------------------------------------------------


def checks_input(times: int) -> tuple[Dataset, pd.DataFrame]:
    """The sample tiled `times` over, each copy's frames with their own name and path, and a distinct hash per frame."""
    ds = tiled(load_dataset(sample_root(), source="synthetic sample", synthetic=True), times)
    img = ds.images.copy()
    copy = np.repeat(np.arange(times), len(img) // times).astype(str)
    img["file_name"] = pd.Series(copy, dtype="str") + "_" + img["file_name"]
    img["path"] = "/nonexistent/copy" + pd.Series(copy, dtype="str") + "/" + img["file_name"]
    ds = replace(ds, images=img)
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, (len(img), H.HASH_BITS // 8), dtype=np.uint8)
    hashes = pd.DataFrame({"image_id": img["image_id"].to_numpy(), "hash": [r.tobytes().hex() for r in raw]})
    return ds, hashes


def frames_input(n: int, seed: int = 0) -> list[str]:
    """n random 256-bit hashes (hex), the last `PLANTED` of them copies of the first ones with k bits flipped."""
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, (n, H.HASH_BITS // 8), dtype=np.uint8)
    for k in range(min(PLANTED, n // 2)):
        raw[n - 1 - k] = raw[k]
        for bit in rng.choice(H.HASH_BITS, k, replace=False):
            raw[n - 1 - k, bit // 8] ^= np.uint8(1 << (bit % 8))
    return [r.tobytes().hex() for r in raw]


def linked_frames(times: int, folder: Path) -> Dataset:
    """The sample tiled `times` over, each image's path a link of its own (in `folder`) to the sample's frame."""
    ds = tiled(load_dataset(sample_root(), source="synthetic sample", synthetic=True), times)
    folder.mkdir(parents=True, exist_ok=True)
    links = []
    for image_id, path in zip(ds.images["image_id"], ds.images["path"], strict=True):
        link = folder / f"{image_id}_{Path(path).name}"
        if not link.exists():
            link.symlink_to(path)
        links.append(str(link))
    return replace(ds, images=ds.images.assign(path=links))


# --- baselines -----------------------------------------------------------------------------------


def _masks(group: pd.DataFrame, height: int, width: int) -> list:
    """pycocotools RLEs of a group's annotations (polygons merged, boxes as rectangles)."""
    out = []
    for row in group.itertuples(index=False):
        if row.kind == "polygon":
            out.append(mask_utils.merge(mask_utils.frPyObjects(row.segmentation, height, width)))
        elif row.kind == "rle":
            seg = row.rle
            out.append(mask_utils.frPyObjects(seg, *seg["size"]) if isinstance(seg["counts"], list)
                       else {"size": seg["size"], "counts": seg["counts"].encode()})
        else:
            out.append(mask_utils.frPyObjects(np.array([[row.bbox_x, row.bbox_y, row.bbox_w, row.bbox_h]]), height, width)[0])
    return out


def loop_checks(ds: Dataset, hashes: pd.DataFrame, box_iou_min: float = H.DEFAULT_BOX_IOU,
                mask_iou_min: float = H.DEFAULT_MASK_IOU, max_distance: int = H.DEFAULT_HASH_DISTANCE) -> dict[str, int]:
    """The baseline: records each computed check finds, by check name (degenerate polygons: those in the tables)."""
    img, ann, out = ds.images, ds.annotations, {}
    size = img.set_index("image_id")[["width", "height"]]
    # Stored box against the mask's box: numpy on the columns.
    boxed = ann[(ann["kind"] != "box") & ann["bbox_w"].notna()]
    a = boxed[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy(float)
    b = boxed[["mask_box_x", "mask_box_y", "mask_box_w", "mask_box_h"]].to_numpy(float)
    iw = np.clip(np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - iw * ih
    iou = np.where(union > 0, iw * ih / np.where(union > 0, union, 1), np.all(a == b, axis=1).astype(float))
    out[H.BOX_VS_POLYGON] = int((iou < box_iou_min).sum())
    # Polygon parts: shapely per part; vertices outside: numpy per polygon.
    poly = ann[ann["kind"] == "polygon"]
    bad_parts = outside = 0
    widths, heights = poly["image_id"].map(size["width"]).to_numpy(), poly["image_id"].map(size["height"]).to_numpy()
    for seg, w, h in zip(poly["segmentation"], widths, heights, strict=True):
        xy_all = []
        for part in seg:
            xy = np.asarray(part, dtype=float).reshape(-1, 2)
            xy_all.append(xy)
            if len({(x, y) for x, y in xy}) < 3:
                bad_parts += 1
                continue
            shape = Polygon(xy)
            if shape.area < H.ZERO_AREA and shape.convex_hull.area < H.ZERO_AREA:
                bad_parts += 1
            elif not shape.is_valid:
                explain_validity(shape)
                bad_parts += 1
        xy = np.concatenate(xy_all)
        outside += bool(((xy[:, 0] < 0) | (xy[:, 0] > w) | (xy[:, 1] < 0) | (xy[:, 1] > h)).any())
    out[H.DEGENERATE_POLYGONS] = bad_parts
    out[H.VERTICES_OUTSIDE] = outside
    # Near-duplicate annotations: one IoU matrix per (frame, class) with two or more annotations.
    pairs = 0
    for (image_id, _), group in ann.groupby(["image_id", "class_name"], sort=False):
        if len(group) < 2:
            continue
        rles = _masks(group, int(size.at[image_id, "height"]), int(size.at[image_id, "width"]))
        matrix = np.asarray(mask_utils.iou(rles, rles, [0] * len(rles)))
        pairs += int((np.triu(matrix, 1) > mask_iou_min).sum())
    out[H.DUPLICATE_ANNOTATIONS] = pairs
    # Near-duplicate frames: every hash against every later one, in blocks.
    words = np.frombuffer(b"".join(bytes.fromhex(h) for h in hashes["hash"]), dtype=">u8").astype(np.uint64)
    words = words.reshape(len(hashes), -1)
    close = 0
    for start in range(0, len(words), HASH_BLOCK):
        block = words[start:start + HASH_BLOCK]
        distance = np.bitwise_count(block[:, None, :] ^ words[None, start:, :]).sum(axis=2)
        close += int(np.triu(distance <= max_distance, 1).sum())
    out[H.DUPLICATE_FRAMES] = close
    # Files, sizes and classes: pandas.
    out[H.FRAME_FILES] = int((img["file_status"] != FILE_OK).sum())
    names = img["file_name"].map(base_name)
    out[H.DUPLICATE_FILE_NAMES] = int((names.duplicated(keep=False) | ((img["path"] != "") & img["path"].duplicated(keep=False))).sum())
    ok = img[img["file_status"] == FILE_OK]
    out[H.DECLARED_SIZE] = int(((ok["declared_width"] == 0) | (ok["declared_width"] != ok["width"])
                                | (ok["declared_height"] != ok["height"])).sum())
    out[H.UNUSED_CLASSES] = int((~ds.categories["name"].isin(set(ann["class_name"]))).sum())
    out[H.HARD_NEGATIVES] = int((img["n_annotations"] == 0).sum())
    return out


def counted(report: H.HealthReport) -> dict[str, int]:
    """A report's counts for the checks `loop_checks` computes (degenerate polygons: those in the tables)."""
    counts = dict(zip(report.summary["name"], report.summary["count"], strict=True))
    degenerate = report[H.DEGENERATE_POLYGONS].table
    counts[H.DEGENERATE_POLYGONS] = int(degenerate["ann_id"].notna().sum())
    keys = (H.BOX_VS_POLYGON, H.DEGENERATE_POLYGONS, H.VERTICES_OUTSIDE, H.DUPLICATE_ANNOTATIONS, H.DUPLICATE_FRAMES,
            H.FRAME_FILES, H.DUPLICATE_FILE_NAMES, H.DECLARED_SIZE, H.UNUSED_CLASSES, H.HARD_NEGATIVES)
    return {k: int(counts[k]) for k in keys}


def pil_hashes(paths: list[str]) -> list[str]:
    """The baseline: `imagehash.phash` (16 x 16) of each frame, decoded in full, as hex."""
    out = []
    for path in paths:
        with Image.open(path) as im:
            out.append(str(imagehash.phash(im.convert("L"), hash_size=H.HASH_SIDE)))
    return out


def block_pairs(hashes: list[str], max_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The baseline: (i, j, distance) of every pair within `max_distance` bits, each hash against all later ones."""
    words = np.frombuffer(b"".join(bytes.fromhex(h) for h in hashes), dtype=">u8").astype(np.uint64)
    words = words.reshape(len(hashes), -1)
    found = [(np.zeros(0, dtype=np.int64),) * 3]
    for start in range(0, len(words), HASH_BLOCK):
        distance = np.bitwise_count(words[start:start + HASH_BLOCK, None, :] ^ words[None, start:, :]).sum(axis=2)
        a, b = np.nonzero(np.triu(distance <= max_distance, 1))
        found.append((a + start, b + start, distance[a, b]))
    i, j, d = (np.concatenate(column).astype(np.int64) for column in zip(*found))
    return i, j, d


def pandas_statistics(ds: Dataset) -> dict[str, pd.DataFrame]:
    """The baseline: the page's statistics per split with pandas (measures, their order statistics, counts per image,
    co-occurrence)."""
    ann = ds.annotations.merge(ds.images[["image_id", "width", "height"]], on="image_id")
    w, h = ann["mask_box_w"], ann["mask_box_h"]
    measures = pd.DataFrame({
        "split": ann["split"], "class_name": ann["class_name"], "area": ann["mask_area"],
        "aspect_ratio": (w / h).where((w > 0) & (h > 0)),
        "n_vertices": ann["n_vertices"].where(ann["kind"] == "polygon"),
        "centre_distance": np.hypot(ann["cx"] - ann["width"] / 2, ann["cy"] - ann["height"] / 2)})
    cols = ["area", "aspect_ratio", "n_vertices", "centre_distance"]
    per_class = measures.groupby(["split", "class_name"])[cols].describe(percentiles=[0.05, 0.5, 0.95])
    per_split = measures.groupby("split")[cols].describe(percentiles=[0.05, 0.5, 0.95])
    counts = pd.crosstab(ds.annotations["image_id"], ds.annotations["class_name"]).reindex(
        ds.images["image_id"], fill_value=0)
    counts["all"] = counts.sum(axis=1)
    split_of = ds.images.set_index("image_id")["split"]
    per_image = counts.groupby(split_of.reindex(counts.index).to_numpy()).apply(
        lambda part: part.apply(lambda col: col.value_counts()).fillna(0))
    present = (counts.drop(columns="all") > 0).astype(np.int64)
    cooccurrence = {split: part.T @ part for split, part in present.groupby(split_of.reindex(present.index).to_numpy())}
    return {"per_class": per_class, "per_split": per_split, "per_image": per_image,
            "cooccurrence": pd.concat(cooccurrence)}


# --- the measured ways ---------------------------------------------------------------------------


def prepare(arg: dict) -> object:
    """The child's input for one row (see `cases`)."""
    kind, times = arg["kind"], arg["times"]
    if kind == "checks":
        return checks_input(times)
    if kind == "statistics":
        return tiled(load_dataset(sample_root(), source="synthetic sample", synthetic=True), times)
    if kind == "frames":
        return frames_input(arg["images"]), arg["distance"]
    folder = Path(arg["tmp"])
    ds = linked_frames(times, folder / f"links-{times}")
    cache = folder / f"phash-{kind}-{times}-{os.getpid()}.sqlite"
    cache.unlink(missing_ok=True)
    if kind == "hashes warm":
        H.frame_hashes(ds, cache_file=cache)  # the earlier visit
    return ds, cache


def checks_ours(prepared: tuple[Dataset, pd.DataFrame]) -> object:
    """Every check at the page's default thresholds: the threshold-free work, then the comparisons."""
    ds, hashes = prepared
    return H.run_checks(ds, inputs=H.prepare_checks(ds, hashes=hashes))


def checks_baseline(prepared: tuple[Dataset, pd.DataFrame]) -> object:
    """The loops."""
    return loop_checks(*prepared)


def hashes_ours(prepared: tuple[Dataset, Path]) -> object:
    """`frame_hashes` with its disk cache (empty or filled, as prepared)."""
    ds, cache = prepared
    return H.frame_hashes(ds, cache_file=cache)


def hashes_baseline(prepared: tuple[Dataset, Path]) -> object:
    """The PIL loop."""
    return pil_hashes(prepared[0].images["path"].tolist())


def frames_ours(prepared: tuple[list[str], int]) -> object:
    """`hash_pairs` (the band search) on the hashes, from hex."""
    hashes, distance = prepared
    return H.hash_pairs(H.hash_words(hashes), distance)


def frames_baseline(prepared: tuple[list[str], int]) -> object:
    """Every pair, in numpy blocks."""
    return block_pairs(*prepared)


def statistics_ours(prepared: Dataset) -> object:
    """The page's statistics per split (what `xami_ui.cache.cached_annotation_stats` computes)."""
    instances = S.instance_measures(prepared)
    return (S.measure_summary(instances), S.instances_per_image(prepared), S.class_cooccurrence(prepared))


def statistics_baseline(prepared: Dataset) -> object:
    """pandas."""
    return pandas_statistics(prepared)


def cases(name: str, sizes: dict[str, int | None], tmp: Path) -> Iterator[Case]:
    """Checks, near-duplicate frames and statistics at each size; frame hashes (cache empty, then filled) up to XAMI size."""
    ds = load_dataset(sample_root(), source="synthetic sample", synthetic=True)
    for label, target in sizes.items():
        times = tiling(target, len(ds.images))
        n_img, n_ann = times * len(ds.images), times * len(ds.annotations)
        yield Case("checks, default thresholds (hashes given)", label, n_img, n_ann, __name__,
                   "checks_ours", "checks_baseline", {"kind": "checks", "times": times})
        if n_img <= HASH_ROWS_MAX:
            for kind, what in (("hashes cold", "frame hashes, disk cache empty"),
                               ("hashes warm", "frame hashes, from the disk cache")):
                yield Case(what, label, n_img, n_ann, __name__, "hashes_ours", "hashes_baseline",
                           {"kind": kind, "times": times, "tmp": str(tmp)})
        for distance in FRAME_DISTANCES_LARGE if n_img > LARGE else FRAME_DISTANCES:
            yield Case(f"near-duplicate frames within {distance} bits (hashes given)", label, n_img, n_ann, __name__,
                       "frames_ours", "frames_baseline",
                       {"kind": "frames", "times": times, "images": n_img, "distance": distance})
        yield Case("statistics per split and class", label, n_img, n_ann, __name__,
                   "statistics_ours", "statistics_baseline", {"kind": "statistics", "times": times})

