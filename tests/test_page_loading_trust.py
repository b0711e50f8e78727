"""A dataset with every kind of bad input, as users see it: on every page, no traceback."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tests import builders as b
from tests.apptest import page_test, texts
from xami_core.io.loader import load_dataset

PAGES = ("pages/overview.py", "pages/gallery.py", "pages/folds.py", "pages/heatmaps.py")
SIZE = 64


def every_kind_of_problem(folder: Path) -> Path:
    """A single-JSON dataset in which each kind of input from the loading-trust issue appears once."""
    names = {i: b.file_name(100 + i, letter) for i, letter in enumerate("VBULMSWV", start=1)}
    names[9] = "images/" + b.file_name(109, "U")  # a folder prefix, as CVAT writes it
    names[10] = b.file_name(110, "X")  # a filter letter outside the seven
    names[11] = "frame_without_key.jpg"
    names[12] = b.file_name(112, "B")  # listed, not on disk
    images = [b.image(i, name=n, width=SIZE, height=SIZE) for i, n in names.items()]
    images[3]["height"] = SIZE // 2  # declared 64 x 32, the file is 64 x 64
    images.append({"id": {"nested": 1}, "file_name": "x.jpg", "width": SIZE, "height": SIZE})  # an id that is an object
    sq = b.square(10, 10, 12)
    anns = [b.polygon_ann(i, i, 1 + i % 5, sq) for i in names]
    anns += [
        b.polygon_ann(20, 1, 3, [10, 10, 2.1e8, 3.5e8, 20, 30], bbox=[10, 10, 4, 20]),  # a vertex at 2e8 px
        b.polygon_ann(21, "2", 4, sq),  # image_id as a string
        b.polygon_ann(22, 3, 3.0, sq),  # category_id as a float
        {**b.polygon_ann(23, 5, 4, sq), "segmentation": {"size": [SIZE, SIZE], "counts": [-5, SIZE * SIZE + 5]}},
        {**b.polygon_ann(24, 6, 4, sq), "id": [24]},  # an annotation id that is a list
    ]
    b.write_split(folder, b.coco(images, anns), with_images=False)
    for i, name in names.items():
        if i == 12:
            continue
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.full((SIZE, SIZE), 20 + 10 * i, np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.fromarray(np.full((SIZE, SIZE), 90, np.uint8)).save(folder / names[7], exif=exif.tobytes())
    return folder


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory):
    return every_kind_of_problem(tmp_path_factory.mktemp("bad") / "every_kind")


def test_overview_lists_every_problem_and_counts_every_kept_record(bad_folder):
    at = page_test(query={"data": str(bad_folder)})
    shown = texts(at)
    assert "Traceback" not in shown
    metrics = {m.label: m.value for m in at.metric}
    # 12 image records load (the one whose id is an object does not); 12 + 3 annotations are
    # kept (the huge one as box-only, the string image_id matched, the float category read as 3).
    assert metrics["Images"] == "12" and metrics["Annotations"] == "15"
    problems = next(f.value for f in at.dataframe if "record" in getattr(f.value, "columns", ()))
    text = "\n".join(problems["message"])
    for needle in ("far outside the 64 x 64 frame", "image_id as a str ('2')", "category_id 3.0 is a float",
                   "negative run length -5", "expected an integer or string id", "declared 64 x 32 px",
                   "EXIF orientation 8", "image file is missing"):
        assert needle in text, needle
    assert "annotation id 20, polygon 0" in set(problems["record"])


@pytest.mark.parametrize("page", PAGES[1:])
def test_every_page_runs_on_it(bad_folder, page):
    at = page_test(page, query={"data": str(bad_folder)})
    assert not at.exception
    assert "Traceback" not in texts(at)


@pytest.mark.browser
def test_every_page_in_chromium_shows_no_traceback(bad_folder):
    from tests.browser import Browser, Server

    server = Server(env=dict(os.environ), args=["--data", str(bad_folder)])
    browser = Browser(server)
    try:
        page = browser.open("", wait_for="Input problems")
        page.get_by_text("Input problems").first.click()
        browser.settle()
        # The problems table is a canvas grid: its cells exist for screen readers, drawn on the canvas.
        page.get_by_text("far outside the 64 x 64 frame").first.wait_for(state="attached")
        browser.screenshot("loading_trust_overview", full_height=2600)
        for path, marker in (("gallery", "images match"), ("folds", "Fold balance"), ("heatmaps", "heatmap")):
            page = browser.open(path, wait_for=marker)
            assert page.locator("[data-testid='stException']").count() == 0, path
            assert "Traceback" not in page.inner_text("body"), path
            browser.screenshot(f"loading_trust_{path}", full_height=1600)
    finally:
        browser.close()
        server.close()


def test_gallery_detail_says_which_frame_size_its_numbers_use(bad_folder):
    # Image 4 is declared 64 x 32; its file is 64 x 64: masks, areas and display use the file.
    ds = load_dataset(bad_folder)
    image_id = int(ds.images.loc[ds.images["coco_id"] == 4, "image_id"].iloc[0])
    at = page_test("pages/gallery.py", query={"data": str(bad_folder), "image": str(image_id)})
    assert "64×64 px (the file's size; its annotation file declares 64×32)" in texts(at)
