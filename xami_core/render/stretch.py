"""Display stretches astronomers use (astropy.visualization), returning 8-bit frames."""

from __future__ import annotations

import numpy as np
from astropy.visualization import (
    AsinhStretch,
    AsymmetricPercentileInterval,
    BaseInterval,
    BaseStretch,
    HistEqStretch,
    LinearStretch,
    LogStretch,
    MinMaxInterval,
    SqrtStretch,
    ZScaleInterval,
)

STRETCHES: tuple[str, ...] = ("linear", "sqrt", "log", "asinh", "histeq")
STRETCH_LABELS: dict[str, str] = {
    "linear": "linear",
    "sqrt": "square root",
    "log": "log",
    "asinh": "asinh",
    "histeq": "histogram equalisation",
}
LIMITS: tuple[str, ...] = ("percentile", "zscale", "minmax")
LIMIT_LABELS: dict[str, str] = {"percentile": "percentile", "zscale": "zscale", "minmax": "min / max"}
# The default display: XAMI frames are already 8-bit display images, so a linear stretch
# between robust percentiles only trims the few saturated stars and the darkest noise.
DEFAULT_STRETCH, DEFAULT_LIMITS = "linear", "percentile"
DEFAULT_LOWER, DEFAULT_UPPER = 0.5, 99.8


def make_interval(limits: str = DEFAULT_LIMITS, lower: float = DEFAULT_LOWER, upper: float = DEFAULT_UPPER) -> BaseInterval:
    """The astropy interval for a limits mode ("percentile", "zscale", "minmax").

    Raises:
        ValueError: an unknown mode, or percentiles outside 0 <= lower < upper <= 100.
    """
    if limits == "percentile":
        if not 0.0 <= lower < upper <= 100.0:
            raise ValueError(f"percentiles must satisfy 0 <= lower < upper <= 100, got {lower}, {upper}")
        return AsymmetricPercentileInterval(lower, upper)
    if limits == "zscale":
        return ZScaleInterval()
    if limits == "minmax":
        return MinMaxInterval()
    raise ValueError(f"limits must be one of {LIMITS}, got {limits!r}")


def make_stretch(stretch: str, normalised: np.ndarray | None = None, log_a: float = 1000.0,
                 asinh_a: float = 0.1) -> BaseStretch:
    """The astropy stretch for a name; histogram equalisation needs the normalised data.

    Raises:
        ValueError: an unknown name, or "histeq" without `normalised`.
    """
    if stretch == "linear":
        return LinearStretch()
    if stretch == "sqrt":
        return SqrtStretch()
    if stretch == "log":
        return LogStretch(a=log_a)
    if stretch == "asinh":
        return AsinhStretch(a=asinh_a)
    if stretch == "histeq":
        if normalised is None:
            raise ValueError("histogram equalisation needs the normalised data")
        return HistEqStretch(normalised)
    raise ValueError(f"stretch must be one of {STRETCHES}, got {stretch!r}")


def display_limits(image: np.ndarray, limits: str = DEFAULT_LIMITS, lower: float = DEFAULT_LOWER,
                   upper: float = DEFAULT_UPPER, ignore_border: bool = True) -> tuple[float, float]:
    """(vmin, vmax) of a frame for a limits mode.

    Args:
        image: 2-D frame, any numeric dtype.
        limits: "percentile" (lower/upper percentiles), "zscale" (IRAF zscale) or "minmax".
        lower, upper: percentiles for the "percentile" mode.
        ignore_border: compute limits on non-zero pixels only, so the black area outside
            the XMM-OM detector window does not drag the lower limit down.

    Returns:
        (vmin, vmax) in the frame's pixel values.

    Raises:
        ValueError: an unknown limits mode or bad percentiles (see `make_interval`).
    """
    values = _window_values(np.asarray(image), ignore_border)
    if values.size == 0:
        return 0.0, 1.0
    vmin, vmax = make_interval(limits, lower, upper).get_limits(values.astype(np.float64))
    return float(vmin), float(vmax)


def _window_values(data: np.ndarray, ignore_border: bool) -> np.ndarray:
    """The finite pixels, without the exact zeros of the border when `ignore_border` (and some remain)."""
    values = data.ravel() if np.issubdtype(data.dtype, np.integer) else data[np.isfinite(data)]
    if ignore_border:
        inside = values[values != 0]
        if inside.size:
            return inside
    return values


def stretch_image(image: np.ndarray, stretch: str = DEFAULT_STRETCH, limits: str = DEFAULT_LIMITS,
                  lower: float = DEFAULT_LOWER, upper: float = DEFAULT_UPPER, ignore_border: bool = True,
                  log_a: float = 1000.0, asinh_a: float = 0.1) -> np.ndarray:
    """A frame scaled to uint8 for display: limits, then a stretch (astropy.visualization).

    Args:
        image: 2-D frame (uint8 JPEG pixels, 16-bit PNG or float).
        stretch: one of STRETCHES.
        limits: one of LIMITS (see `display_limits`).
        lower, upper: percentiles for the "percentile" mode.
        ignore_border: limits (and the histogram of "histeq") from non-zero pixels only, and
            the black detector border stays black.
        log_a, asinh_a: the `a` parameter of astropy's LogStretch and AsinhStretch.

    Returns:
        uint8 array of the frame's shape (H, W).

    Raises:
        ValueError: a frame that is not 2-D, or an unknown stretch or limits mode (see `make_stretch`, `make_interval`).
    """
    data = np.asarray(image)
    if data.ndim != 2:
        raise ValueError(f"expected a 2-D frame, got shape {data.shape}")
    vmin, vmax = display_limits(data, limits, lower, upper, ignore_border)
    if not vmax > vmin:
        # A flat frame: nothing to stretch, show it mid-grey rather than dividing by zero.
        return np.where(np.isfinite(data), 128, 0).astype(np.uint8)
    # Histogram equalisation learns its histogram from the detector window only: counting
    # the border (often most of a UVM2/UVW2 frame) would spend half the grey levels on it.
    window = np.clip((_window_values(data, ignore_border).astype(np.float64) - vmin) / (vmax - vmin), 0.0, 1.0)
    transform = make_stretch(stretch, window, log_a, asinh_a)
    if data.dtype == np.uint8:
        # The display value depends on the pixel value only: stretch the 256 levels once, then look up.
        lut = to_uint8(transform(np.clip((np.arange(256.0) - vmin) / (vmax - vmin), 0.0, 1.0), clip=True))
        if ignore_border:
            lut[0] = 0
        return lut[data]
    values = np.asarray(data, dtype=np.float64)
    normalised = np.clip((np.nan_to_num(values, nan=vmin) - vmin) / (vmax - vmin), 0.0, 1.0)
    out = to_uint8(transform(normalised, clip=True))
    if ignore_border:
        out[values == 0] = 0
    return out


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] to uint8 (rounded, clipped)."""
    return np.clip(np.rint(np.asarray(values) * 255.0), 0, 255).astype(np.uint8)
