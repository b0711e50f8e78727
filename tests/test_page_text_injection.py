"""Text from the files is shown as text (issue 16, item 4): no HTML tag or markdown link from a class or file name."""

from __future__ import annotations

import re

from tests import builders as b
from tests.apptest import page_test
from xami_ui.text import html_literal, md_literal

HOSTILE = ["<img src=x onerror=alert(1)>", "[click](http://example.invalid)"]


def test_gallery_shows_hostile_class_and_file_names_literally(tmp_path):
    names = [*HOSTILE, "plain"]
    images = [b.image(i, f"S0{i}_*bold*_L.jpg", 64, 64) for i in range(3)]
    anns = [b.polygon_ann(i, i % 3, i % 3 + 1, b.square(4 + i, 4 + i, 8)) for i in range(6)]
    b.write_split(tmp_path / "ds" / "train", b.coco(images, anns, b.categories(names)))
    at = page_test("pages/gallery.py", query={"data": str(tmp_path / "ds")})
    legend = next(m.value for m in at.markdown if "⬤" in m.value)  # the one unsafe_allow_html block
    for name in HOSTILE:
        assert html_literal(name) in legend  # escaped: the browser shows the characters
    assert "<img" not in legend and "<a " not in legend
    bodies = [c.value for c in at.caption] + [m.value for m in at.markdown if "⬤" not in m.value]
    joined = "\n".join(bodies)
    assert f"**{md_literal('S01_*bold*_L.jpg')}**" in joined  # a thumbnail caption: the name, not emphasis
    assert md_literal(HOSTILE[0]) in joined and md_literal(HOSTILE[1]) in joined  # class names under thumbnails
    assert not re.search(r"(?<!\\)<img", joined)  # no unescaped tag
    assert not re.search(r"(?<!\\)\[[^\]]*(?<!\\)\]\(", joined)  # no unescaped [text](url)


# --- Plotly text (issue 16, item 4): plotly draws <a href>, <b>, <br> in names, ticks, titles, hover and annotations.

import json  # noqa: E402 - the figure tests' own imports, kept with them

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from xami_core.analysis import fold_balance, folds, heatmaps, stats  # noqa: E402
from xami_core.io.loader import load_dataset  # noqa: E402
from xami_core.render import fold_figures, heatmap_figures  # noqa: E402
from xami_core.render.figures import class_distribution_figure, plot_text  # noqa: E402
from xami_core.render.figures_overlay import overlay_figure  # noqa: E402

LINK_CLASS = '[x](http://example.invalid)<a href="http://example.invalid">y</a>'
# What plotly must receive: < > & as entities (plotly turns them back into characters when it draws).
LINK_CLASS_IN_PLOTLY = '[x](http://example.invalid)&lt;a href="http://example.invalid"&gt;y&lt;/a&gt;'


def _strings(node: object) -> list[str]:
    """Every string in a parsed figure JSON (the raw JSON escapes "<" as \\u003c, so it cannot be searched as text)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


@pytest.fixture(scope="module")
def link_dataset(tmp_path_factory):
    """Two splits, classes LINK_CLASS and "plain", every image with one annotation of each."""
    root = tmp_path_factory.mktemp("plotly_text") / "ds"
    for s, split in enumerate(["train", "valid"]):
        images = [b.image(10 * s + i, b.file_name(100000000 + 10 * s + i), 64, 64) for i in range(4)]
        anns = [b.polygon_ann(100 * s + 2 * i + k, 10 * s + i, k + 1, b.square(4 + 20 * k, 8, 12))
                for i in range(4) for k in range(2)]
        b.write_split(root / split, b.coco(images, anns, b.categories([LINK_CLASS, "plain"])))
    return load_dataset(root)


def _split_maps(ds):
    return heatmaps.dataset_heatmaps(ds, method="mask", grid=16, by="split")


FIGURES = {
    # the overview's class bars: categorical ticks and hover
    "class bars": lambda ds: class_distribution_figure(stats.class_counts(ds)),
    # the folds page's panels: class ticks, hover
    "fold classes": lambda ds: fold_figures.fold_class_figure(fold_balance.fold_class_counts(ds, folds.published_folds(ds))),
    # the fold deviation heatmap: class columns
    "fold deviation": lambda ds: fold_figures.deviation_heatmap(
        fold_balance.fold_deviation(fold_balance.fold_class_counts(ds, folds.published_folds(ds)))),
    # the gallery's detail view: legend, hover, label chips
    "overlay": lambda ds: overlay_figure(np.zeros((64, 64), np.uint8), ds.annotations_of(int(ds.images["image_id"][0]))),
    # the heatmaps page's large map: title
    "heatmap": lambda ds: heatmap_figures.heatmap_figure(_split_maps(ds), "train", LINK_CLASS),
    # the difference map: title, colour bar, hover
    "difference": lambda ds: heatmap_figures.difference_figure(_split_maps(ds), LINK_CLASS, "train"),
    # the small multiples: panel titles, hover
    "small multiples": lambda ds: heatmap_figures.small_multiples_figure(_split_maps(ds)),
}


@pytest.mark.parametrize("name", list(FIGURES))
def test_figures_show_class_names_as_text(link_dataset, name):
    texts = _strings(json.loads(FIGURES[name](link_dataset).to_json()))
    assert not [t for t in texts if "<a " in t.lower()]  # no live link in any plotly text
    assert any(LINK_CLASS_IN_PLOTLY in t for t in texts)  # the name is there, escaped
    assert any("<br>" in t for t in texts)  # the product's own markup is kept


@pytest.mark.parametrize("text, expected", [
    ("<b>x</b>", "&lt;b&gt;x&lt;/b&gt;"),  # a tag plotly would draw
    ("a & b", "a &amp; b"),  # an ampersand could start an entity
    ("&lt;", "&amp;lt;"),  # an entity typed in the data shows as typed
    ("%{x}", "&#37;{x}"),  # a template placeholder, inert in hover templates
    ('say "hi"', 'say "hi"'),  # quotes stay: plotly has no &quot;, and no tag can open
    ("plain-name_1", "plain-name_1"),  # ordinary names unchanged
])
def test_plot_text(text, expected):
    assert plot_text(text) == expected


# GFM links bare URLs, www. names and e-mail addresses in the text after escapes and character references
# are resolved (seen in Chromium: "http\://x" was still a link), so a word joiner must split them.
@pytest.mark.parametrize("convert", [md_literal, html_literal])
@pytest.mark.parametrize("text, broken", [
    ("[click](http://example.invalid)", "http://"),  # a scheme's "://"
    ("see www.example.invalid", "www."),  # a bare www. name
    ("mail a@example.invalid", "@example"),  # an e-mail address
])
def test_text_breaks_autolinks(convert, text, broken):
    out = convert(text)
    assert broken not in out.replace("\\", "").replace("&#58;", ":").replace("&#64;", "@")  # not even after unescaping
    assert broken[:-1] in out.replace("\u2060", "").replace("\\", "").replace("&#58;", ":").replace("&#64;", "@")


@pytest.mark.parametrize("text", [
    "[click](http://example.invalid)",  # a markdown link inside the HTML legend
    "*bold* _it_ `code` ~s~ $x$ :red[r]",  # emphasis, code, strike, maths, a directive
])
def test_html_literal_has_no_markdown_characters(text):
    # Markdown with unsafe_allow_html still parses markdown in HTML-escaped text: none of its characters may stay.
    assert not set(html_literal(text)) & set("[]()*_`~$:\\")
