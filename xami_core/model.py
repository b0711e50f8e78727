"""The XAMI data model: constants of the dataset and the immutable `Dataset`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

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
FALLBACK_COLOUR = (128, 128, 128)

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
# The key that stands for "no filter letter" (a file name without an observation key)
# wherever a table needs a value: a file-name letter is always one of A-Z, never this.
NO_KEY = "?"
NO_KEY_LABEL = "no observation key"
UNKNOWN_FILTER = "unknown filter"
BROAD_BAND = "broad band"
UNKNOWN_WAVELENGTH = "unknown"

SPLIT_ORDER: tuple[str, ...] = ("train", "valid", "test", "all")


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


def filter_label(letter: object, sep: str = " ") -> str:
    """A filter's display label: "UVW1 (291 nm)", "White (broad band)", "X (unknown filter)",
    "no observation key"; `sep` goes between name and detail (e.g. "<br>" in charts)."""
    key = filter_key(letter)
    if key == NO_KEY:
        return NO_KEY_LABEL
    if key not in FILTERS:
        return f"{key}{sep}({UNKNOWN_FILTER})"
    name, nm = FILTERS[key]
    return f"{name}{sep}({nm:.0f} nm)" if nm is not None else f"{name}{sep}({BROAD_BAND})"


def split_order(present: Iterable[object]) -> list[str]:
    """Split names in display order: the conventional ones (train, valid, test, all), then others sorted."""
    names = {str(s) for s in present}
    return [s for s in SPLIT_ORDER if s in names] + sorted(names - set(SPLIT_ORDER))


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


def class_colour_hex(palette: str = "authors") -> dict[str, str]:
    """Hex colours per class for a named palette."""
    return {name: rgb_to_hex(rgb) for name, rgb in PALETTES[palette].items()}


class XamiDataError(Exception):
    """Input that cannot be loaded; the message names the file, record and problem."""


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

    @property
    def label(self) -> str:
        """A short human label, which always says when data is synthetic."""
        if self.synthetic:
            return "Synthetic sample (not real XAMI data)"
        return f"{self.source}: {self.path}"


@dataclass(frozen=True)
class Dataset:
    """Tidy, typed tables of one loaded dataset.

    images: one row per image (`image_id` is unique across splits).
    annotations: one row per annotation (`ann_id` unique across splits).
    categories: the visible classes with their colours.
    """

    images: pd.DataFrame
    annotations: pd.DataFrame
    categories: pd.DataFrame
    provenance: Provenance
    problems: tuple[Problem, ...] = field(default_factory=tuple)

    @property
    def splits(self) -> list[str]:
        """Splits present, in the conventional order."""
        return split_order(self.images["split"].unique())

    @property
    def class_names(self) -> list[str]:
        """Visible class names in category-id order."""
        return list(self.categories["name"])

    def annotations_of(self, image_id: int) -> pd.DataFrame:
        """The annotations of one image."""
        ann = self.annotations
        return ann[ann["image_id"] == image_id]

    def image(self, image_id: int) -> pd.Series:
        """One image row by its id."""
        return self.images.loc[self.images["image_id"] == image_id].iloc[0]
