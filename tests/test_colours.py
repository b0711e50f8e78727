"""Class colours for any dataset's class list (xami_core/model.py `class_colours`), and where they are used."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests import builders as b
from xami_core import load_dataset
from xami_core.analysis import stats
from xami_core.model import (
    AUTHOR_COLOURS,
    CLASS_NAMES,
    COLOURBLIND_COLOURS,
    EXTRA_COLOURS,
    FALLBACK_COLOUR,
    MIN_COLOUR_DISTANCE,
    PALETTES,
    class_colour,
    class_colour_hex,
    class_colours,
    rgb_to_hex,
)
from xami_core.render.figures import class_distribution_figure
from xami_core.render.overlay import render_overlay

TEN = [f"class-{i}" for i in range(10)]


def distance(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    return float(np.linalg.norm(np.subtract(a, b)))


@pytest.mark.parametrize("palette", list(PALETTES))
@pytest.mark.parametrize(
    ("names", "n_extra"),
    [
        (TEN, 10),  # another subject's ten classes: ten colours of the extra palette
        (list(CLASS_NAMES), 0),  # XAMI's five: the palette's own colours
        ([*CLASS_NAMES, "satellite", "cosmic-ray"], 2),  # XAMI plus two
        ([f"c{i}" for i in range(40)], 40),  # far more classes than any safe palette holds: still distinct
        (["b", "a", "b"], 2),  # a repeated name is one class
    ],
)
def test_every_class_gets_its_own_colour(palette, names, n_extra):
    colours = class_colours(names, palette)
    assert list(colours) == list(dict.fromkeys(names))  # every class, in the given order
    assert len(set(colours.values())) == len(colours)  # no two alike
    assert FALLBACK_COLOUR not in colours.values()  # no class left grey
    for name in CLASS_NAMES:
        if name in colours:
            assert colours[name] == PALETTES[palette][name]  # XAMI's classes keep the palette's colour
    assert sum(n not in CLASS_NAMES for n in colours) == n_extra


@pytest.mark.parametrize("palette", list(PALETTES))
def test_ten_other_classes_take_the_safe_colours_in_order(palette):
    # No XAMI class in use, so nothing is skipped: the extra palette in order of first appearance.
    assert list(class_colours(TEN, palette).values()) == list(EXTRA_COLOURS)


@pytest.mark.parametrize(
    ("palette", "taken"),
    [
        ("authors", AUTHOR_COLOURS),  # the authors' smoke-ring wine is near the palette's wine
        ("colour-blind safe", COLOURBLIND_COLOURS),  # Okabe-Ito's five
    ],
)
def test_extra_colours_keep_clear_of_xami_colours_in_use(palette, taken):
    names = [*CLASS_NAMES, *TEN[:6]]
    colours = class_colours(names, palette)
    for name in TEN[:6]:
        assert min(distance(colours[name], c) for c in taken.values()) >= MIN_COLOUR_DISTANCE
    # Independent check of the rule: the extra colours a mixed set skips are exactly those too near a XAMI colour.
    skipped = [c for c in EXTRA_COLOURS if min(distance(c, t) for t in taken.values()) < MIN_COLOUR_DISTANCE]
    expected = [c for c in EXTRA_COLOURS if c not in skipped][:6]
    assert [colours[n] for n in TEN[:6]] == expected


@pytest.mark.parametrize(
    ("name", "names", "expected"),
    [
        ("star-loop", TEN, AUTHOR_COLOURS["star-loop"]),  # a XAMI class: its colour whatever else is there
        ("class-3", TEN, EXTRA_COLOURS[3]),  # the fourth other class
        ("new", TEN, None),  # not in the list: placed after it (a colour none of the ten has)
    ],
)
def test_one_class_colour(name, names, expected):
    colour = class_colour(name, "authors", names)
    if expected is None:
        assert colour not in class_colours(names, "authors").values()
    else:
        assert colour == expected


def test_unknown_palette_is_refused():
    with pytest.raises(ValueError, match="palette must be one of"):
        class_colours(TEN, "rainbow")


def test_hex_colours_default_to_xami_classes():
    assert class_colour_hex() == {n: rgb_to_hex(AUTHOR_COLOURS[n]) for n in CLASS_NAMES}
    assert class_colour_hex("authors", TEN) == {n: rgb_to_hex(c) for n, c in zip(TEN, EXTRA_COLOURS)}


@pytest.fixture
def ten_class_ds(tmp_path):
    """Another subject's export: ten classes (ids 1-10), one square of each class on one frame."""
    images = [b.image(0, "photo_jpg.rf.x.jpg", 128, 128)]
    anns = [b.polygon_ann(i, 0, i + 1, b.square(10 * i + 2, 10 * i + 2, 6)) for i in range(10)]
    b.write_split(tmp_path / "ds" / "train", b.coco(images, anns, b.categories(TEN)))
    return load_dataset(tmp_path / "ds")


def test_a_loaded_dataset_colours_its_classes_distinctly(ten_class_ds):
    ds = ten_class_ds
    assert ds.class_names == TEN
    assert list(ds.categories["colour"]) == [rgb_to_hex(c) for c in EXTRA_COLOURS]  # the table the pages read
    assert ds.class_colours("colour-blind safe") == dict(zip(TEN, EXTRA_COLOURS))


def test_bars_and_overlays_use_the_dataset_colours(ten_class_ds):
    ds = ten_class_ds
    fig = class_distribution_figure(stats.class_counts(ds), palette="authors")
    assert list(fig.data[0].marker.color) == [rgb_to_hex(c) for c in EXTRA_COLOURS]
    frame = np.zeros((128, 128), np.uint8)
    out = render_overlay(frame, ds.annotations, ds.class_colours("authors"), opacity=1.0, contour=False, scale=1.0)
    # The middle pixel of each square holds its class colour: ten different colours.
    middles = [tuple(int(v) for v in out[10 * i + 5, 10 * i + 5]) for i in range(10)]
    assert middles == list(EXTRA_COLOURS)
    # Given only the palette name, the overlay still colours every class (none grey), each differently.
    by_name = render_overlay(frame, ds.annotations, "authors", opacity=1.0, contour=False, scale=1.0)
    seen = {tuple(int(v) for v in by_name[10 * i + 5, 10 * i + 5]) for i in range(10)}
    assert len(seen) == 10 and FALLBACK_COLOUR not in seen
    assert not any(a == b for a, b in itertools.combinations(middles, 2))
