"""Prediction uploads (xami_ui.predictions): one stored file per content, removed once unused past the uploads' TTL;
a bad upload said by the name it was uploaded under, with what was expected."""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.apptest import page_test, switch_page, texts
from xami_core.io.sample_predictions import synthetic_prediction_records
from xami_ui.predictions import UPLOAD_DIR, remove_expired_uploads, store_upload

PAGE = "pages/predictions.py"
RESULTS_FORM = "expected a JSON list of result records ({image_id, category_id, score, segmentation, bbox})"


def test_uploads_are_stored_once_per_content(tmp_path, monkeypatch):
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path))
    first = store_upload(b"[1]")
    assert first.parent == tmp_path / UPLOAD_DIR and first.read_bytes() == b"[1]"
    assert store_upload(b"[1]") == first  # the same bytes again: the same file
    assert store_upload(b"[2]") != first
    assert sorted(p.name for p in first.parent.iterdir()) == sorted([first.name, store_upload(b"[2]").name])


def test_unused_uploads_expire_after_the_ttl(tmp_path, monkeypatch):
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path))
    monkeypatch.setenv("XAMI_UPLOAD_TTL_HOURS", "2")
    old, recent = store_upload(b"[1]"), store_upload(b"[2]")
    now = time.time()
    os.utime(old, (now - 3 * 3600, now - 3 * 3600))  # unused for 3 h
    os.utime(recent, (now - 3600, now - 3600))  # 1 h
    assert remove_expired_uploads(old.parent, now=now) == [old]
    assert not old.exists() and recent.exists()


def upload(at, *files: tuple[str, bytes]):
    at.file_uploader(key="pred_upload").set_value([(name, data, "application/json") for name, data in files])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown_text(at) -> str:
    """Every text of the page as read (markdown escapes dropped), tables' cells included."""
    cells = [str(v) for frame in at.dataframe for v in frame.value.astype(str).to_numpy().ravel()]
    return "\n".join([texts(at), *(e.label for e in at.expander), *cells]).replace("\\", "")


@pytest.mark.parametrize("name, data, message", [
    # 0 bytes: said to be empty, not malformed JSON
    ("run-empty.json", b"", "run-empty.json: the file is empty (0 bytes); " + RESULTS_FORM),
    ("run-blank.json", b"  \n", "run-blank.json: the file holds only white space (3 bytes); " + RESULTS_FORM),
    ("run-cut.json", b'[{"image_id": 1, "score"', "run-cut.json [line 1, column 25]: malformed JSON: Expecting ':' "
                                                  "delimiter; " + RESULTS_FORM),
    ("run-dict.json", b'{"image_id": 1}', "run-dict.json [top level]: " + RESULTS_FORM + ", found an object"),
    ("run-str.json", b'"predictions"', "run-str.json [top level]: " + RESULTS_FORM + ", found a string"),
])
def test_a_bad_upload_is_named_by_its_own_name_with_what_was_expected(tmp_path, monkeypatch, name, data, message):
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path))
    at = upload(page_test(PAGE, query={"pred_synthetic": "false"}), (name, data))
    errors = [str(e.value).replace("\\", "") for e in at.error]
    assert errors == [f"**Predictions not loaded**: {message}"]  # one message, one statement of what was expected
    stored = next((tmp_path / UPLOAD_DIR).glob("*.json"))  # this server's copy: never named to the user
    assert str(tmp_path) not in shown_text(at) and stored.stem not in shown_text(at)
    assert "upload" not in errors[0].lower()  # a format error: uploading the same file again would not help


def test_an_uploads_bad_records_are_named_by_the_uploaded_file(sample_ds, tmp_path, monkeypatch):
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path))
    records = synthetic_prediction_records(sample_ds)
    bad = [*records, {"image_id": records[0]["image_id"], "category_id": 1, "score": "high", "bbox": [1, 1, 2, 2]},
           {"image_id": "elsewhere", "category_id": 1, "score": 0.5, "bbox": [1, 1, 2, 2]}]
    at = upload(page_test(PAGE, query={"pred_synthetic": "false"}), ("model-x.json", json.dumps(bad).encode()))
    assert not at.error
    sets = at.dataframe[0].value.set_index("set")
    assert list(sets.index) == ["model-x"] and sets.loc["model-x", "source"] == "uploaded: model-x.json"
    assert (int(sets.loc["model-x", "records read"]), int(sets.loc["model-x", "unusable"])) == (len(records) + 2, 2)
    n = len(records)
    text = shown_text(at)
    assert (f"- model-x.json [record {n} (image_id '{records[0]['image_id']}', category_id 1)]: expected a finite "
            "number 'score', found score 'high'; left out") in text
    assert (f"- model-x.json [record {n + 1} (image_id 'elsewhere', category_id 1)]: image_id 'elsewhere' is neither "
            "an image id nor an image file stem of the dataset; left out") in text
    assert str(tmp_path) not in text and UPLOAD_DIR not in text


def test_an_upload_no_longer_kept_asks_for_the_file_again(sample_ds, tmp_path, monkeypatch):
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path))
    records = synthetic_prediction_records(sample_ds)
    at = upload(page_test(PAGE, query={"pred_synthetic": "false"}), ("kept.json", json.dumps(records).encode()))
    assert not at.error
    monkeypatch.delenv("XAMI_UPLOAD_TTL_HOURS", raising=False)
    switch_page(at, "pages/overview.py")  # the session keeps the upload across pages
    at.run()
    for stored in (tmp_path / UPLOAD_DIR).glob("*.json"):
        stored.unlink()  # expired and removed meanwhile
    switch_page(at, PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [str(e.value).replace("\\", "") for e in at.error]
    assert errors == ["**Predictions not loaded**: kept.json: this server no longer holds the upload (uploads are "
                      "kept 24 h after their last use); upload the file again to use it"]
