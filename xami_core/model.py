"""The XAMI data model: constants of the dataset and the immutable `Dataset`."""

from __future__ import annotations

import colorsys
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from xami_core.schema import TABLES, table_mismatch

# Categories as the Roboflow export numbers them. Id 0 is an unused parent.
PARENT_CATEGORY = "artefacts"
CLASS_NAMES: tuple[str, ...] = (
    "central-ring",
    "other",
    "read-out-streak",
    "smoke-ring",
    "star-loop",
)
CLASS_IDS: dict[str, int] = {name: i + 1 for i, name in enumerate(CLASS_NAMES)}

# The authors' class colours (RGB), the default everywhere.
AUTHOR_COLOURS: dict[str, tuple[int, int, int]] = {
    "central-ring": (1, 252, 214),
    "other": (255, 128, 1),
    "read-out-streak": (20, 77, 158),
    "smoke-ring": (159, 21, 100),
    "star-loop": (255, 188, 248),
}
# Okabe-Ito colours, safe for the common colour-vision deficiencies.
COLOURBLIND_COLOURS: dict[str, tuple[int, int, int]] = {
    "central-ring": (0, 158, 115),
    "other": (230, 159, 0),
    "read-out-streak": (0, 114, 178),
    "smoke-ring": (213, 94, 0),
    "star-loop": (204, 121, 167),
}
PALETTES: dict[str, dict[str, tuple[int, int, int]]] = {
    "authors": AUTHOR_COLOURS,
    "colour-blind safe": COLOURBLIND_COLOURS,
}
FALLBACK_COLOUR = (128, 128, 128)  # only for a class missing from the class list a colour is asked for
# Classes outside the five XAMI names, in order of first appearance: CARTO's "Safe" palette
# (Paul Tol's colour-blind-safe "muted" nine plus a dark red-brown; plotly ships it as
# `plotly.colors.qualitative.Safe`), without its grey, so no class reads as "unknown".
EXTRA_COLOURS: tuple[tuple[int, int, int], ...] = (
    (136, 204, 238), (204, 102, 119), (221, 204, 119), (17, 119, 51), (51, 34, 136),
    (170, 68, 153), (68, 170, 153), (153, 153, 51), (136, 34, 85), (102, 17, 0),
)
MIN_COLOUR_DISTANCE = 48.0  # RGB distance below which an extra colour is skipped as too close to one in use

# XMM-OM filters: letter in the file name -> (filter name, effective wavelength in nm).
# The white filter is unfiltered (broad band): it sorts last, with no wavelength.
FILTERS: dict[str, tuple[str, float | None]] = {
    "V": ("V", 543.0),
    "B": ("B", 450.0),
    "U": ("U", 344.0),
    "L": ("UVW1", 291.0),
    "M": ("UVM2", 231.0),
    "S": ("UVW2", 212.0),
    "W": ("White", None),
}
# Display order: by wavelength, long to short, the broad-band white filter last.
FILTER_ORDER: tuple[str, ...] = ("V", "B", "U", "L", "M", "S", "W")
# Marker colours per filter (CSS hex), Okabe-Ito's colour-blind-safe set: neighbours in wavelength get
# colours far apart (a ramp gave UVW1 and UVM2 two near-identical purples); the broad-band White filter black
# (a grey reads as the green of V to deuteranopes).
FILTER_COLOURS: dict[str, str] = {"V": "#009E73", "B": "#0072B2", "U": "#56B4E9", "L": "#CC79A7", "M": "#D55E00",
                                  "S": "#E69F00", "W": "#000000"}
UNKNOWN_FILTER_COLOUR = "#8C8C8C"  # any letter outside the seven, and names without an observation key (rare)
# The key that stands for "no filter letter" (a file name without an observation key)
# wherever a table needs a value: a file-name letter is always one of A-Z, never this.
NO_KEY = "?"
NO_KEY_LABEL = "no observation key"
UNKNOWN_FILTER = "unknown filter"
BROAD_BAND = "broad band"
UNKNOWN_WAVELENGTH = "unknown"

SPLIT_ORDER: tuple[str, ...] = ("train", "valid", "test", "all")
# Bar colours of splits in charts (CSS hex): the valid split paler, every other split the same blue.
SPLIT_COLOURS: dict[str, str] = {"valid": "#a8bbd6"}
SPLIT_COLOUR = "#4c6a92"


def filter_key(letter: object) -> str:
    """The filter letter as a table key: the letter, or `NO_KEY` for a missing one (None, NaN, "")."""
    if letter is None or letter != letter or letter == "":  # NaN != NaN
        return NO_KEY
    return str(letter)


def filter_keys(letters: pd.Series) -> pd.Series:
    """`filter_key` of a column: missing letters become `NO_KEY`, so a group-by keeps them."""
    return letters.astype(object).where(letters.notna() & (letters != ""), NO_KEY).astype(str)


def filter_order(present: Iterable[object]) -> list[str]:
    """Filter keys in display order: known letters by wavelength (long to short, White last),
    then unknown letters sorted, then `NO_KEY` when a letter is missing."""
    keys = {filter_key(f) for f in present}
    known = [f for f in FILTER_ORDER if f in keys]
    unknown = sorted(keys - set(FILTER_ORDER) - {NO_KEY})
    return known + unknown + ([NO_KEY] if NO_KEY in keys else [])


def filter_colour(letter: object) -> str:
    """A filter's marker colour in charts, CSS hex ("#rrggbb"); `UNKNOWN_FILTER_COLOUR` for any other letter."""
    return FILTER_COLOURS.get(filter_key(letter), UNKNOWN_FILTER_COLOUR)


def filter_name(letter: object) -> str:
    """A filter's short name: "UVW1", "White", "X (unknown filter)" or "no observation key"."""
    key = filter_key(letter)
    if key == NO_KEY:
        return NO_KEY_LABEL
    return FILTERS[key][0] if key in FILTERS else f"{key} ({UNKNOWN_FILTER})"


def filter_wavelength(letter: object) -> str:
    """A filter's effective wavelength as text: "291" (nm), "broad band" (White) or "unknown"."""
    key = filter_key(letter)
    if key not in FILTERS:
        return UNKNOWN_WAVELENGTH
    nm = FILTERS[key][1]
    return f"{nm:.0f}" if nm is not None else BROAD_BAND


def filter_detail(letter: object) -> str:
    """What a filter's label says after its name: "291 nm", "broad band" (White), "unknown filter", or ""
    for a missing letter."""
    key = filter_key(letter)
    if key == NO_KEY:
        return ""
    if key not in FILTERS:
        return UNKNOWN_FILTER
    nm = FILTERS[key][1]
    return f"{nm:.0f} nm" if nm is not None else BROAD_BAND


def filter_label(letter: object, sep: str = " ") -> str:
    """A filter's display label: "UVW1 (291 nm)", "White (broad band)", "X (unknown filter)",
    "no observation key"; `sep` goes between name and detail (e.g. "<br>" in charts)."""
    key = filter_key(letter)
    if key == NO_KEY:
        return NO_KEY_LABEL
    name = FILTERS[key][0] if key in FILTERS else key
    return f"{name}{sep}({filter_detail(key)})"


def split_key(name: object) -> tuple[int, str]:
    """The sort key of a split name: the conventional ones (train, valid, test, all) in that order, then others by name."""
    text = str(name)
    return (SPLIT_ORDER.index(text) if text in SPLIT_ORDER else len(SPLIT_ORDER), text)


def split_order(present: Iterable[object]) -> list[str]:
    """Split names in display order (`split_key`), each once."""
    return sorted({str(s) for s in present}, key=split_key)


def split_colour(split: object) -> str:
    """A split's bar colour in charts, CSS hex: the valid split paler, every other split the same blue."""
    return SPLIT_COLOURS.get(str(split), SPLIT_COLOUR)


XAMI_LICENCE = "CC BY-NC 3.0 IGO"
XAMI_CITATION = (
    "Dima, E.-I., Gómez, P., Kruk, S., Kretschmar, P., Rosen, S., Popa, C.-A. (2024). "
    "XAMI - A Benchmark Dataset for Artefact Detection in XMM-Newton Optical Images. "
    "arXiv:2406.17323."
)
XAMI_URL = "https://huggingface.co/datasets/iulia-elisa/XAMI-dataset"

OBS_KEY_LENGTH = 13  # "S" + 10-digit ObsID + "_" + filter letter


def rgb_to_hex(rgb: tuple[int, int, int]) -> str:
    """Convert an (r, g, b) triple to a CSS hex colour."""
    r, g, b = rgb
    return f"#{r:02x}{g:02x}{b:02x}"


def _generated_colour(i: int) -> tuple[int, int, int]:
    """The i-th colour past the extra palette: golden-angle hues at three lightnesses (distinct, not CVD-tuned)."""
    r, g, b = colorsys.hls_to_rgb((0.11 + i * 0.618033988749895) % 1.0, (0.5, 0.65, 0.38)[i % 3], 0.65)
    return (round(r * 255), round(g * 255), round(b * 255))


def class_colours(class_names: Iterable[str], palette: str = "authors") -> dict[str, tuple[int, int, int]]:
    """RGB colour of every class of a dataset's class list under a palette.

    The five XAMI classes keep the palette's colour. Every other class, in the order of
    `class_names` (a dataset's class-id order), takes the next colour of `EXTRA_COLOURS`
    that is not within `MIN_COLOUR_DISTANCE` of a colour already given; past that list,
    generated hues (distinct, but no longer chosen for colour-blind readers). No two
    classes share a colour. Colours are (r, g, b) integers 0..255.

    Raises:
        ValueError: `palette` is not a key of `PALETTES`.
    """
    if palette not in PALETTES:
        raise ValueError(f"palette must be one of {list(PALETTES)}, got {palette!r}")
    return dict(_class_colours(tuple(dict.fromkeys(class_names)), palette))


@functools.lru_cache(maxsize=64)
def _class_colours(names: tuple[str, ...], palette: str) -> tuple[tuple[str, tuple[int, int, int]], ...]:
    """`class_colours`, cached: every thumbnail and overlay asks again for the same class list."""
    base = PALETTES[palette]
    out = {name: base[name] for name in names if name in base}
    candidates = iter(EXTRA_COLOURS)
    generated = 0
    for name in names:
        if name in out:
            continue
        used = list(out.values())
        for rgb in candidates:
            if all(sum((a - b) ** 2 for a, b in zip(rgb, u)) >= MIN_COLOUR_DISTANCE ** 2 for u in used):
                break
        else:
            rgb = _generated_colour(generated)
            generated += 1
            while rgb in used:  # a guard: the golden-angle hues do not repeat in practice
                rgb, generated = _generated_colour(generated), generated + 1
        out[name] = rgb
    return tuple((name, out[name]) for name in names)


def class_colour(name: str, palette: str, class_names: Iterable[str]) -> tuple[int, int, int]:
    """The colour of class `name` under `palette`, given the dataset's class list (see `class_colours`).

    A name missing from the list is placed after it. The colour is (r, g, b), integers 0..255.

    Raises:
        ValueError: `palette` is not a key of `PALETTES`.
    """
    names = list(class_names)
    return class_colours(names if name in names else [*names, name], palette)[name]


def class_colour_hex(palette: str = "authors", class_names: Iterable[str] | None = None) -> dict[str, str]:
    """CSS hex colours ("#rrggbb") per class for a named palette and a dataset's class list (default: the five
    XAMI classes).

    Raises:
        ValueError: `palette` is not a key of `PALETTES`.
    """
    names = CLASS_NAMES if class_names is None else class_names
    return {name: rgb_to_hex(rgb) for name, rgb in class_colours(names, palette).items()}


class XamiDataError(Exception):
    """Input that cannot be loaded; the message names the file, record and problem."""


class SchemaError(XamiDataError):
    """A `Dataset` table that does not match `schema.TABLES`: a column missing, extra or of another dtype."""


@dataclass(frozen=True)
class Problem:
    """One problem found in the input; the rest of the dataset still loads."""

    file: str
    record: str
    message: str
    severity: str = "error"  # "error": record or file skipped; "warning": kept

    def __str__(self) -> str:
        return f"{self.file} [{self.record}]: {self.message}"


@dataclass(frozen=True)
class Provenance:
    """Where a dataset came from and under which terms it may be used."""

    source: str  # "synthetic sample", "local", "Hugging Face", "upload"
    path: str
    layout: str  # "coco-splits", "coco-single", "yolov8-seg"
    synthetic: bool
    licence: str
    citation: str
    url: str = ""
    # True only for data recognised as XAMI (see `provenance.recognise_xami`): only then do
    # `licence`, `citation` and `url` name XAMI's; otherwise they are what the files state.
    recognised_xami: bool = False
    recognition: str = ""  # why the data was (or was not) recognised as XAMI, for the pages to say
    description: str = ""  # the files' own description (info block), or "not stated"

    @property
    def label(self) -> str:
        """A short human label, which always says when data is synthetic."""
        if self.synthetic:
            return "Synthetic sample (not real XAMI data)"
        return f"{self.source}: {self.path}"


@dataclass(frozen=True)
class Dataset:
    """Tidy, typed tables of one loaded dataset, checked against the schema when made.

    images: one row per image; annotations: one row per annotation; categories: the visible
    classes with their colours. `xami_core/schema.py` describes every column (dtype, unit,
    meaning); it is the one place they are described. content_key: identifies the loaded
    content (set by the app's dataset cache; the per-view caches hash a Dataset by it).

    Raises:
        SchemaError: a table lacks a column of the schema, has one it does not describe, or
            one of another dtype (the message names the table and the column).
    """

    images: pd.DataFrame
    annotations: pd.DataFrame
    categories: pd.DataFrame
    provenance: Provenance
    problems: tuple[Problem, ...] = field(default_factory=tuple)
    content_key: str = ""

    def __post_init__(self) -> None:
        for table in TABLES:  # dtypes only: as cheap for a million rows as for ten
            mismatch = table_mismatch(table, getattr(self, table))
            if mismatch is not None:
                raise SchemaError(f"{self.provenance.path}: {mismatch}")

    @property
    def splits(self) -> list[str]:
        """Splits present, in the conventional order."""
        return split_order(self.images["split"].unique())

    @property
    def class_names(self) -> list[str]:
        """Visible class names in category-id order."""
        return list(self.categories["name"])

    def class_colours(self, palette: str = "authors") -> dict[str, tuple[int, int, int]]:
        """RGB per visible class under a palette (`model.class_colours` of this class list).

        Raises:
            ValueError: `palette` is not a key of `PALETTES`.
        """
        return class_colours(self.class_names, palette)

    def annotations_of(self, image_id: int) -> pd.DataFrame:
        """The annotations of one image."""
        ann = self.annotations
        return ann[ann["image_id"] == image_id]

    def image(self, image_id: int) -> pd.Series:
        """One image row by its id.

        Raises:
            IndexError: no image has this id.
        """
        return self.images.loc[self.images["image_id"] == image_id].iloc[0]
