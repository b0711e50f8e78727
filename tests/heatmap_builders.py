"""Small datasets and maps shared by the heatmap, rasterising and heatmap figure tests."""

from __future__ import annotations

import numpy as np

from tests import builders as b
from xami_core import load_dataset


def band_mask(h: int, w: int) -> np.ndarray:
    """A diagonal band: runs that wrap from one column into the next in column-major order."""
    yy, xx = np.mgrid[0:h, 0:w]
    return (np.abs(yy - 0.8 * xx - 40) < 6) & (xx > 100) & (xx < 260)


def tiny_ds(tmp_path):
    """Four images on a 4 x 4 grid (128 px cells); star-loops only.

    A (train, V): two squares in cell (0, 0).  B (train, V): cell (0, 0) and cell (1, 1).
    C (train, U): no annotation.               D (valid, L): cell (1, 1).
    """
    train = b.coco([b.image(0, b.file_name(1, "V")), b.image(1, b.file_name(2, "V")), b.image(2, b.file_name(3, "U"))],
                   [b.polygon_ann(1, 0, 5, b.square(10, 10, 20)), b.polygon_ann(2, 0, 5, b.square(20, 20, 20)),
                    b.polygon_ann(3, 1, 5, b.square(30, 30, 10)), b.polygon_ann(4, 1, 5, b.square(140, 140, 10))])
    valid = b.coco([b.image(0, b.file_name(4, "L"))], [b.polygon_ann(1, 0, 5, b.square(150, 150, 10))])
    b.write_split(tmp_path / "ds" / "train", train)
    b.write_split(tmp_path / "ds" / "valid", valid)
    return load_dataset(tmp_path / "ds")


def cells(**values: float) -> np.ndarray:
    """A 4 x 4 map with values at cells named like c01 (row 0, column 1)."""
    out = np.zeros((4, 4))
    for name, v in values.items():
        out[int(name[1]), int(name[2])] = v
    return out

