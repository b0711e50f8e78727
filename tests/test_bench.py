"""The benchmark command: its straightforward baselines compute the same thing as the core."""

from __future__ import annotations

import numpy as np

from benchmarks import run as bench


def test_naive_geometry_agrees_with_the_loader(sample_ds):
    # The per-annotation baseline must measure the same quantities the vectorised loader stores.
    ann = sample_ds.annotations[sample_ds.annotations["kind"] == "polygon"]
    naive = bench.naive_geometry(list(ann["segmentation"]), 512, 512)
    np.testing.assert_allclose(naive[:, 4], ann["mask_area"].to_numpy())
    np.testing.assert_allclose(naive[:, 5], ann["cx"].to_numpy(), atol=1e-6)
    np.testing.assert_allclose(naive[:, 6], ann["cy"].to_numpy(), atol=1e-6)


def test_tiled_coco_keeps_counts(tmp_path, sample_ds):
    # Tiling three times gives three times the records, with unique ids.
    from xami_core import load_dataset, sample_root

    folder = bench.tiled_coco(sample_root() / "train" / "_annotations.coco.json", tmp_path / "train", 3)
    ds = load_dataset(folder)
    train = sample_ds.annotations["split"] == "train"
    assert len(ds.images) == 3 * int((sample_ds.images["split"] == "train").sum())
    assert len(ds.annotations) == 3 * int(train.sum())
    assert not [p for p in ds.problems if p.severity == "error"]


def test_quick_loading_section_prints_a_table(capsys):
    assert bench.main(["--quick", "--only", "loading"]) == 0
    out = capsys.readouterr().out
    assert "== loading ==" in out and "speed-up" in out and "XAMI size" in out
