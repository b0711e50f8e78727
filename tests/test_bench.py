"""The benchmark command: its baselines compute the same results as the core (correctness only, no timings)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks import evaluation as bench_evaluation
from benchmarks import gallery as bench_gallery
from benchmarks import heatmaps as bench_heatmaps
from benchmarks import loading as bench_loading
from benchmarks import run as bench


def test_coco_tables_agree_with_the_loader(sample_ds):
    # The pycocotools + pandas baseline builds the geometry and counts the loader stores.
    images, table, per_class = bench_loading.coco_tables(bench_loading.train_json())
    ann = sample_ds.annotations[sample_ds.annotations["split"] == "train"].set_index("coco_id")
    table = table.set_index("id").loc[ann.index]
    for col in bench_loading.GEOMETRY:
        np.testing.assert_allclose(table[col].to_numpy(), ann[col].to_numpy(), atol=1e-6, equal_nan=True, err_msg=col)
    ours = sample_ds.images[sample_ds.images["split"] == "train"].set_index("coco_id")["n_annotations"]
    theirs = images.set_index("id")["n_annotations"].loc[ours.index]
    np.testing.assert_array_equal(theirs.to_numpy(), ours.to_numpy())
    assert int(per_class.to_numpy().sum()) == len(ann)


@pytest.mark.parametrize("method", bench_heatmaps.METHODS)
def test_loop_heatmaps_agree_with_the_core(sample_ds, method):
    # Counts and images covering each cell, per split and class, equal to the last cell.
    from xami_core.analysis.heatmaps import compute_heatmaps

    classes = tuple(sample_ds.class_names)
    # Tiled twice (fresh image ids); masks once, their loop decodes every mask.
    times = 1 if method == "mask" else 2
    images, annotations = bench_heatmaps.tile_tables(sample_ds.images, sample_ds.annotations, times)
    hs = compute_heatmaps(images, annotations, method, bench_heatmaps.GRID, "split", classes)
    counts, covering = bench_heatmaps.loop_heatmaps(images, annotations, method, classes)
    np.testing.assert_array_equal(counts, hs.counts)
    np.testing.assert_array_equal(covering, hs.images)


def test_pandas_filter_agrees_with_the_gallery(sample_ds):
    # The example query gives the same images in the same order, on the sample and tiled.
    from xami_core.analysis import gallery

    for ds in (sample_ds, bench_gallery.tiled(sample_ds, 3)):
        ours = gallery.select_images(ds, bench_gallery.QUERY, "annotations")["image_id"].tolist()
        theirs = bench_gallery.pandas_filter(ds.images, ds.annotations, "star-loop", "smoke-ring", "L")
        assert ours and theirs["image_id"].tolist() == ours


def test_pil_thumbnails_draw_the_same_page(sample_ds):
    # A different library draws the page: same thumbnails and sizes, pixels alike, masks in the same places.
    from xami_core.analysis import gallery

    ids = gallery.select_images(sample_ds, gallery.GalleryFilter())["image_id"].tolist()[:12]
    colours = dict(zip(sample_ds.categories["name"], sample_ds.categories["colour"]))
    ours = gallery.thumbnails(sample_ds, ids, gallery.ThumbOptions(), disk_cache=False)
    theirs = bench_gallery.pil_thumbnails(sample_ds.images, sample_ds.annotations, ids, colours)
    assert len(theirs) == len(ours) == len(ids)
    for a, b in zip(ours, theirs):
        x = np.asarray(Image.open(io.BytesIO(a)).convert("RGB"), dtype=float)
        y = np.asarray(Image.open(io.BytesIO(b)).convert("RGB"), dtype=float)
        assert x.shape == y.shape
        assert np.corrcoef(x.ravel(), y.ravel())[0, 1] > 0.9
        coloured_x, coloured_y = np.ptp(x, axis=2) > 40, np.ptp(y, axis=2) > 40  # overlay pixels
        assert (coloured_x == coloured_y).mean() > 0.9


@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
def test_plain_cocoeval_agrees_with_evaluate(tmp_path, iou_type):
    # The section's input on the sample: the user's files through plain pycocotools give our stats and curves;
    # the threshold row's reruns give our recall per class, and ours runs with COCOeval.evaluate() refused.
    from xami_core.analysis import evaluation as EV

    gt, results = bench_evaluation.write_files(1, tmp_path)
    prepared = bench_evaluation.prepare({"times": 1, "iou_type": iou_type, "gt": str(gt), "results": str(results),
                                         "thresholds": True})
    ds, preds, ev = prepared["ds"], prepared["preds"], prepared["ev"]
    assert len(preds.table) > len(ds.annotations) and preds.n_left_out == 0
    theirs = bench_evaluation.baseline(prepared)
    np.testing.assert_array_equal(ev.stats, theirs.stats)
    assert list(ev.class_ids) == list(theirs.params.catIds)
    np.testing.assert_array_equal(ev.precision, theirs.eval["precision"])
    reports = bench_evaluation.thresholds_ours(prepared)
    reruns = bench_evaluation.thresholds_baseline(prepared)
    assert [r.score_threshold for r in reports] == list(bench_evaluation.SCORES)
    for report, rerun in zip(reports, reruns):
        # IoU 0.5, area "all", 100 detections; -1 (COCOeval) where a class has no ground truth.
        recall = rerun.eval["recall"][0, :, 0, -1]
        np.testing.assert_allclose(report.per_class.loc[list(ev.class_names), "recall"].fillna(-1).to_numpy(), recall)
    with bench_evaluation.cocoeval_forbidden(), pytest.raises(AssertionError, match="threshold change"):
        bench_evaluation.plain_cocoeval(prepared["gt_coco"], prepared["records"], iou_type)
    assert EV.COCOeval.evaluate.__name__ == "evaluate"  # restored


def test_evaluation_inputs_reach_xami_size(sample_ds):
    # About 7,000 ground-truth instances and 20,000 predictions at XAMI size (counted, not built).
    times = bench_evaluation.copies_for("XAMI size", sample_ds)
    assert 6_000 <= times * len(sample_ds.annotations) <= 8_000
    assert bench_evaluation.copies_for("sample", sample_ds) == 1


def test_tiled_coco_keeps_counts(tmp_path, sample_ds):
    # Tiling three times gives three times the records, with unique ids.
    from xami_core import load_dataset

    folder = bench_loading.tiled_coco(bench_loading.train_json(), tmp_path / "train", 3)
    ds = load_dataset(folder)
    train = sample_ds.annotations["split"] == "train"
    assert len(ds.images) == 3 * int((sample_ds.images["split"] == "train").sum())
    assert len(ds.annotations) == 3 * int(train.sum())
    assert not [p for p in ds.problems if p.severity == "error"]


@pytest.mark.parametrize(("target", "base", "times"), [
    (None, 120, 1),  # the sample as it is
    (1_055, 120, 9),  # XAMI size
    (150_000, 160, 938),
    (10, 120, 1),  # never less than one copy
])
def test_tiling(target, base, times):
    assert bench.tiling(target, base) == times


def test_quick_sizes_stop_at_xami_size():
    assert list(bench.chosen_sizes(quick=True, max_images=150_000)) == ["sample", "XAMI size"]
    assert list(bench.chosen_sizes(quick=False, max_images=20_000)) == ["sample", "XAMI size", "20k"]


def test_quick_loading_section_prints_a_table(capsys):
    assert bench.main(["--quick", "--only", "loading"]) == 0
    out = capsys.readouterr().out
    assert "== loading ==" in out and "CPU ours/base" in out and "XAMI size" in out


def test_every_page_is_visited_in_rounds(tmp_path):
    # The memory section's step on the sample: every page of app.py opens without an exception, twice, and each
    # round's resident size is recorded (here and in the file the measuring parent reads).
    from benchmarks import pages

    assert len(pages.PAGES) == 6 and all((Path(bench.__file__).parents[1] / p).is_file() for p in pages.PAGES)
    out = tmp_path / "rounds.json"
    prepared = pages.prepare({"page": pages.PAGES[1]})
    rounds = pages.visit_every_page((prepared[0], {"rounds": 2, "out": str(out)}))
    assert [r["round"] for r in rounds] == [1, 2]
    assert all(r["rss_mib"] > 0 and r["hwm_mib"] >= r["rss_mib"] and r["cpu_s"] > 0 for r in rounds)
    assert json.loads(out.read_text()) == rounds


@pytest.mark.parametrize("name", ["figures", "pages", "memory"])
def test_other_sections_name_a_function(name):
    # Each section with a table of its own names a function of its module ("module" or "module:function").
    import importlib

    module, _, function = bench.OTHER[name].partition(":")
    assert callable(getattr(importlib.import_module(module), function or "benchmark"))


def test_seeded_frame_hashes_are_read_from_the_cache(tmp_path, monkeypatch):
    # Every tiled frame gets its own random hash in the frame-hash cache, keyed as the Health page reads it:
    # no frame is hashed again and no two copies of one frame are duplicates.
    from benchmarks import pages
    from xami_core import load_dataset
    from xami_core.analysis import health

    src = bench_loading.train_json()
    folder = bench_loading.with_frames(bench_loading.tiled_coco(src, tmp_path / "x" / "train", 2), src, 2)
    assert pages.seed_frame_hashes(folder, tmp_path / "cache") == 2 * len(json.loads(src.read_text())["images"])

    def no_hashing(path):
        raise AssertionError(f"{path} was hashed again")

    monkeypatch.setattr(health, "perceptual_hash", no_hashing)
    hashes = health.frame_hashes(load_dataset(folder), cache_file=tmp_path / "cache" / health.PHASH_DB)
    assert len(hashes) == len(set(hashes["hash"])) == 2 * len(json.loads(src.read_text())["images"])
