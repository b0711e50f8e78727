"""Segmentations on a grid: RLE decoding, interval unions and chunked mask rasterising."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from tests.heatmap_builders import band_mask
from xami_core.analysis import rasterise


@pytest.mark.parametrize("mask", [
    np.zeros((7, 5), bool),                               # all background: a single count
    np.ones((7, 5), bool),                                # all foreground: counts 0, 35
    np.eye(40, 30, dtype=bool),                           # many short runs
    np.random.default_rng(1).random((64, 80)) < 0.5,      # dense noise: small deltas of both signs
    band_mask(512, 512),                                  # long runs: multi-character numbers
    np.pad(np.ones((3, 3), bool), ((200, 300), (1, 1))),  # long leading/trailing zeros, negative deltas
], ids=["zeros", "ones", "diagonal", "noise", "band", "pad"])
def test_rle_decoding_matches_the_mask(mask):
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    counts, owner = rasterise.decode_rle_counts([rle["counts"]])
    # Brute force: alternating run lengths of the column-major pixels, zeros first (possibly an empty run).
    expected, value, run = [], False, 0
    for pixel in mask.ravel(order="F"):
        if pixel == value:
            run += 1
        else:
            expected.append(run)
            value, run = pixel, 1
    expected.append(run)
    assert counts.tolist() == expected and (owner == 0).all()


def test_rle_decoding_of_several_strings_keeps_them_apart():
    masks = [band_mask(512, 512), np.eye(9, dtype=bool), np.zeros((4, 4), bool)]
    strings = [mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))["counts"] for m in masks]
    counts, owner = rasterise.decode_rle_counts(strings)
    assert [int(counts[owner == i].sum()) for i in range(3)] == [m.size for m in masks]


@pytest.mark.parametrize("intervals", [
    [(0, 1, 3), (0, 2, 5), (0, 7, 8)],            # overlap, then a gap
    [(1, 0, 2), (1, 2, 4), (0, 0, 9)],            # touching intervals merge; keys stay apart
    [(3, 5, 6), (3, 0, 10), (3, 2, 3)],           # one interval swallows the others
    [(2, 4, 5)],                                  # a single interval
])
@pytest.mark.parametrize("key_offset", [
    0,                   # small keys: packed into one integer and sorted by value
    2**62,               # keys too large to pack: the two-key sort
])
def test_merge_intervals_is_the_union(intervals, key_offset):
    key, lo, hi = (np.array(v, dtype=np.int64) for v in zip(*intervals, strict=True))
    mk, ml, mh = rasterise.merge_intervals(key + key_offset, lo, hi)
    covered = {(k + key_offset, i) for k, a, z in intervals for i in range(a, z)}
    assert {(k, i) for k, a, z in zip(mk, ml, mh, strict=True) for i in range(a, z)} == covered
    assert sum(mh - ml) == len(covered)  # disjoint
    assert list(zip(mk, ml)) == sorted(zip(mk, ml))  # in (key, lo) order


def test_rasterising_in_chunks_changes_nothing(sample_ds, monkeypatch):
    # Large sets are rasterised in chunks to bound memory: 7 chunks give the same runs as one.
    whole = rasterise.compute_mask_runs(sample_ds.images, sample_ds.annotations, 64)
    monkeypatch.setattr(rasterise, "MASK_CHUNK", 100)
    chunked = rasterise.compute_mask_runs(sample_ds.images, sample_ds.annotations, 64)
    order_a = np.lexsort((whole.lo, whole.col, whole.ann))
    order_b = np.lexsort((chunked.lo, chunked.col, chunked.ann))
    for field in ("ann", "col", "lo", "hi"):
        np.testing.assert_array_equal(getattr(whole, field)[order_a], getattr(chunked, field)[order_b])

