"""Display stretches and limits against astropy.visualization's own functions."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.visualization import (
    AsinhStretch,
    HistEqStretch,
    LinearStretch,
    LogStretch,
    ManualInterval,
    SqrtStretch,
    ZScaleInterval,
)

from xami_core.render import stretch

ASTROPY = {"linear": LinearStretch(), "sqrt": SqrtStretch(), "log": LogStretch(a=1000.0), "asinh": AsinhStretch(a=0.1)}


def sky(seed: int = 0, border: bool = True, dtype: type = np.float64) -> np.ndarray:
    """A 96 x 96 frame: sky noise, a few stars, and a black border outside the 'detector window'."""
    rng = np.random.default_rng(seed)
    img = rng.normal(60, 8, (96, 96))
    yy, xx = np.mgrid[:96, :96]
    for x, y, peak in ((20, 30, 180), (70, 50, 120), (40, 80, 250)):
        img += peak * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 8.0)
    img = np.clip(img, 1, 255)
    if border:
        img[:12] = 0
        img[:, 84:] = 0
    return img.astype(dtype)


def window(img: np.ndarray) -> np.ndarray:
    """The non-zero pixels (the detector window)."""
    return img[img != 0].astype(np.float64)


def expected_limits(img: np.ndarray, limits: str, lower: float, upper: float) -> tuple[float, float]:
    """Limits computed independently: numpy percentiles, astropy's zscale, plain min/max, on the window."""
    values = window(img)
    if limits == "percentile":
        lo, hi = np.percentile(values, [lower, upper])
    elif limits == "zscale":
        lo, hi = ZScaleInterval().get_limits(values)
    else:
        lo, hi = values.min(), values.max()
    return float(lo), float(hi)


@pytest.mark.parametrize("limits, lower, upper", [
    ("percentile", 0.5, 99.8),  # the default
    ("percentile", 5.0, 95.0),
    ("percentile", 0.0, 100.0),  # the whole window range
    ("zscale", 0, 100),
    ("minmax", 0, 100),
])
def test_display_limits(limits, lower, upper):
    img = sky()
    got = stretch.display_limits(img, limits, lower, upper)
    np.testing.assert_allclose(got, expected_limits(img, limits, lower, upper), rtol=1e-9)
    assert got[0] > 0  # the border's zeros did not drag the lower limit down


def test_border_counts_when_asked():
    img = sky()
    assert stretch.display_limits(img, "minmax", ignore_border=False) == (0.0, float(img.max()))


@pytest.mark.parametrize("name", ["linear", "sqrt", "log", "asinh"])
@pytest.mark.parametrize("limits", ["percentile", "zscale", "minmax"])
@pytest.mark.parametrize("dtype", [np.float64, np.uint8])  # float frames, and JPEG pixels (a lookup table)
def test_stretches_match_astropy(name, limits, dtype):
    img = sky(seed=1, dtype=dtype)
    lo, hi = expected_limits(img, limits, stretch.DEFAULT_LOWER, stretch.DEFAULT_UPPER)
    # astropy's composite: the interval maps [lo, hi] to [0, 1] (clipped), then the stretch.
    expected = np.rint((ASTROPY[name] + ManualInterval(lo, hi))(img, clip=True) * 255).astype(int)
    expected[img == 0] = 0  # the border stays black
    got = stretch.stretch_image(img, name, limits)
    assert got.dtype == np.uint8 and got.shape == img.shape
    assert np.abs(got.astype(int) - expected).max() <= 1


@pytest.mark.parametrize("dtype", [np.float64, np.uint8])
def test_histogram_equalisation_matches_astropy_and_flattens_the_histogram(dtype):
    img = sky(seed=2, dtype=dtype)
    lo, hi = expected_limits(img, "percentile", 0.5, 99.8)
    inside = np.clip((window(img) - lo) / (hi - lo), 0, 1)
    expected = np.rint((HistEqStretch(inside) + ManualInterval(lo, hi))(img, clip=True) * 255).astype(int)
    expected[img == 0] = 0
    got = stretch.stretch_image(img, "histeq", "percentile")
    assert np.abs(got.astype(int) - expected).max() <= 1
    # Equalised: each quarter of the grey range holds about a quarter of the window's pixels.
    quarters = np.histogram(got[img != 0], bins=4, range=(0, 256))[0] / (img != 0).sum()
    np.testing.assert_allclose(quarters, 0.25, atol=0.04)


@pytest.mark.parametrize("name", stretch.STRETCHES)
def test_border_stays_black_and_order_is_kept(name):
    img = sky(seed=3)
    got = stretch.stretch_image(img, name, "percentile")
    assert (got[img == 0] == 0).all()
    # A display stretch is monotonic: brighter input never gets darker output.
    inside = img != 0
    order = np.argsort(img[inside], kind="stable")
    assert (np.diff(got[inside][order].astype(int)) >= 0).all()


def test_integer_frames_of_any_depth():
    eight = sky(seed=4, dtype=np.uint8)
    sixteen = (sky(seed=4) * 200).astype(np.uint16)
    for img in (eight, sixteen):
        got = stretch.stretch_image(img, "sqrt", "zscale")
        assert got.dtype == np.uint8 and got.max() == 255 and got[img != 0].min() <= 5


def test_flat_and_empty_frames_do_not_divide_by_zero():
    assert (stretch.stretch_image(np.full((8, 8), 7.0)) == 128).all()
    assert (stretch.stretch_image(np.zeros((8, 8))) == 128).all()  # all border: nothing to stretch, shown grey


@pytest.mark.parametrize("call, message", [
    (lambda: stretch.stretch_image(np.zeros((2, 2, 3))), "2-D"),
    (lambda: stretch.stretch_image(sky(), "cube"), "stretch must be one of"),
    (lambda: stretch.stretch_image(sky(), "linear", "auto"), "limits must be one of"),
    (lambda: stretch.stretch_image(sky(), "linear", "percentile", 90, 10), "percentiles"),
])
def test_bad_choices_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()
