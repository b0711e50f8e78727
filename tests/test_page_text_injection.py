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
