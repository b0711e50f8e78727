"""A frame's pixels as the detail view shows them: colour maps, the pixel histogram and its figure."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from xami_core.render.figures import base_layout

# Colour maps for a stretched frame, as stops (position 0..1, RGB) interpolated over the 256 grey levels.
# Grey is the default; inverted grey is the printed-chart convention (dark sources on white sky); viridis
# is perceptually uniform; "hot" (black-red-yellow-white) is the DS9/afmhot look astronomers know.
COLOUR_MAPS: tuple[str, ...] = ("grey", "grey_inverted", "viridis", "hot")
COLOUR_MAP_LABELS: dict[str, str] = {"grey": "grey", "grey_inverted": "grey inverted", "viridis": "viridis",
                                     "hot": "hot"}
DEFAULT_COLOUR_MAP = "grey"
_STOPS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "grey": ((0, 0, 0), (255, 255, 255)),
    "grey_inverted": ((255, 255, 255), (0, 0, 0)),
    # matplotlib's viridis sampled at ten even positions
    "viridis": ((68, 1, 84), (72, 40, 120), (62, 73, 137), (49, 104, 142), (38, 130, 142), (31, 158, 137),
                (53, 183, 121), (110, 206, 88), (181, 222, 43), (253, 231, 37)),
    # afmhot's three linear ramps: red first, then green, then blue
    "hot": ((0, 0, 0), (128, 0, 0), (255, 128, 0), (255, 255, 128), (255, 255, 255)),
}
INTEGER_BINS_MAX = 4096  # integer frames with at most this many levels get one bin per level
HISTOGRAM_BINS = 256  # otherwise (floats, wide integer ranges) this many equal bins over the range
LIMIT_COLOUR = "#d62728"
INSIDE_COLOUR, CLIPPED_COLOUR = "#4c78a8", "#c6d3e3"  # bars between the limits, and clipped ones


def colour_lut(name: str = DEFAULT_COLOUR_MAP) -> np.ndarray:
    """The (256, 3) uint8 lookup table of a colour map: grey level -> RGB.

    Raises:
        ValueError: `name` is not one of COLOUR_MAPS.
    """
    if name not in _STOPS:
        raise ValueError(f"colour map must be one of {COLOUR_MAPS}, got {name!r}")
    stops = np.asarray(_STOPS[name], dtype=np.float64)
    at = np.linspace(0.0, 1.0, len(stops))
    levels = np.arange(256) / 255.0
    lut = np.stack([np.interp(levels, at, stops[:, c]) for c in range(3)], axis=1)
    return np.clip(np.rint(lut), 0, 255).astype(np.uint8)


def apply_colour_map(display: np.ndarray, name: str = DEFAULT_COLOUR_MAP) -> np.ndarray:
    """A stretched 2-D uint8 frame in a colour map: (H, W, 3) uint8 RGB (grey keeps three equal channels).

    Raises:
        ValueError: `display` is not 2-D uint8, or an unknown colour map.
    """
    data = np.asarray(display)
    if data.ndim != 2 or data.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 frame, got shape {data.shape} and dtype {data.dtype}")
    return colour_lut(name)[data]


@dataclass(frozen=True)
class PixelHistogram:
    """Counts of a frame's finite pixel values in bins, and the display limits in the same units."""

    edges: np.ndarray  # (n + 1,) float64 bin edges, in the file's pixel values
    counts: np.ndarray  # (n,) int64
    vmin: float  # the stretch's lower limit (`stretch.display_limits`)
    vmax: float  # and its upper limit

    @property
    def centres(self) -> np.ndarray:
        """(n,) bin centres."""
        return (self.edges[:-1] + self.edges[1:]) / 2


def histogram_edges(raw: np.ndarray, bins: int = HISTOGRAM_BINS) -> np.ndarray:
    """Bin edges for a frame's pixel values: one unit bin per level of an integer frame (up to
    INTEGER_BINS_MAX levels, centred on the integers), else `bins` equal bins over the finite range."""
    data = np.asarray(raw)
    values = data[np.isfinite(data)] if np.issubdtype(data.dtype, np.floating) else data.ravel()
    if values.size == 0:
        return np.array([-0.5, 0.5])
    lo, hi = float(values.min()), float(values.max())
    if np.issubdtype(data.dtype, np.integer) and hi - lo + 1 <= INTEGER_BINS_MAX:
        return np.arange(lo - 0.5, hi + 1.0, 1.0)
    if hi == lo:
        return np.array([lo - 0.5, hi + 0.5])
    return np.linspace(lo, hi, bins + 1)


def pixel_histogram(raw: np.ndarray, vmin: float, vmax: float, bins: int = HISTOGRAM_BINS) -> PixelHistogram:
    """The histogram of a frame's finite pixel values (the black border included) with the display limits.

    Args:
        raw: the 2-D frame as stored (any numeric dtype).
        vmin, vmax: the stretch's limits (`stretch.display_limits` of the same frame).
        bins: the number of equal bins when the frame is not integer with few levels (see `histogram_edges`).
    """
    data = np.asarray(raw)
    edges = histogram_edges(data, bins)
    if np.issubdtype(data.dtype, np.integer) and np.allclose(np.diff(edges), 1.0):
        # One bin per level: a bincount from the lowest level is exact and much faster than searching edges.
        counts = np.bincount((data.ravel().astype(np.int64) - int(edges[0] + 0.5)), minlength=len(edges) - 1)
    else:
        values = data[np.isfinite(data)] if np.issubdtype(data.dtype, np.floating) else data.ravel()
        counts, _ = np.histogram(values, bins=edges)
    return PixelHistogram(edges=edges.astype(np.float64), counts=counts.astype(np.int64), vmin=float(vmin),
                          vmax=float(vmax))


def histogram_figure(hist: PixelHistogram, height: int = 260, stretch_label: str = "") -> go.Figure:
    """Bars of pixel counts (log scale) over the pixel value, pale outside the display limits, which are two
    vertical lines."""
    # Bins outside the limits are clipped to the colour map's ends: drawn pale, so what the stretch spends
    # its grey levels on stands out.
    inside = (hist.edges[1:] > hist.vmin) & (hist.edges[:-1] < hist.vmax)
    fig = go.Figure(go.Bar(x=hist.centres, y=hist.counts, width=np.diff(hist.edges),
                           marker_color=np.where(inside, INSIDE_COLOUR, CLIPPED_COLOUR), marker_line_width=0,
                           name="pixels", hovertemplate="value %{x:.4g}: %{y:,} pixels<extra></extra>"))
    for value, side in ((hist.vmin, "lower"), (hist.vmax, "upper")):
        # each label on the inner side of its line, so it stays clear of the axes
        fig.add_vline(x=value, line=dict(color=LIMIT_COLOUR, width=2, dash="dash"),
                      annotation=dict(text=f"{side} {value:.4g}", font=dict(color=LIMIT_COLOUR, size=11)),
                      annotation_position="top right" if side == "lower" else "top left")
    base_layout(fig, height=height)
    fig.update_layout(bargap=0, showlegend=False, margin=dict(l=55, r=15, t=30, b=40, pad=0),
                      title=dict(text=stretch_label, x=0.01, font=dict(size=12)) if stretch_label else None)
    fig.update_xaxes(title_text="pixel value (as stored in the file)", range=[hist.edges[0], hist.edges[-1]])
    fig.update_yaxes(title_text="pixels", type="log")
    return fig
