"""Prediction uploads (xami_ui.predictions): a private copy per upload under a random name, within the cache quota,
deleted by its user or once unused past the uploads' TTL;
a bad upload said by the name it was uploaded under, with what was expected."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

import pytest

from tests.apptest import page_test, switch_page, texts
from xami_core import XamiDataError
from xami_core.io import archive
from xami_core.io.sample_predictions import synthetic_prediction_records
from xami_ui.predictions import UPLOAD_DIR, Upload, delete_stored, remove_expired_uploads, store_upload

PAGE = "pages/predictions.py"
RESULTS_FORM = "expected a JSON list of result records ({image_id, category_id, score, segmentation, bbox})"


def test_each_upload_is_a_private_copy_under_a_random_name(tmp_path, monkeypatch):
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path))
    first = store_upload(b"[1]", "a.json")
    assert first.parent == tmp_path / UPLOAD_DIR and first.read_bytes() == b"[1]"
    again = store_upload(b"[1]", "a.json")  # the same bytes again (another session): another copy
    assert again != first and again.read_bytes() == b"[1]"
    for path in (first, again):  # named by a random secret, nothing derived from the content
        assert archive.is_upload_key(path.stem) and path.suffix == ".json"
        assert hashlib.sha256(b"[1]").hexdigest()[:16] not in path.name
    assert sorted(p.name for p in first.parent.iterdir()) == sorted([first.name, again.name])  # no temporary left


def test_deleting_removes_only_this_apps_own_copies(tmp_path, monkeypatch):
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path))
    mine = store_upload(b"[1]", "a.json")
    elsewhere = tmp_path / "other.json"
    elsewhere.write_text("[]")
    delete_stored([Upload("a", str(mine), "a.json"), Upload("b", str(elsewhere), "b.json")])
    assert not mine.exists() and elsewhere.exists()


def test_an_upload_beyond_the_cache_quota_is_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path))
    monkeypatch.setenv("XAMI_CACHE_MAX_GB", str(3000 / 1024**3))  # 3,000 bytes
    kept = store_upload(b"x" * 1000, "first.json")  # fits
    (tmp_path / "extracted" / "old").mkdir(parents=True)  # an evictable extraction takes the rest ...
    (tmp_path / "extracted" / "old" / archive.COMPLETE_MARKER).write_text("t")
    (tmp_path / "extracted" / "old" / "f.bin").write_bytes(b"\0" * 1500)
    second = store_upload(b"y" * 1000, "second.json")  # ... and is evicted to make way
    assert second.is_file() and not (tmp_path / "extracted" / "old").exists()
    with pytest.raises(archive.CacheFullError,
                       match=r"uploaded file 'third.json': this server's cache has no room for it \(1001 B; the "
                             r"cache quota, XAMI_CACHE_MAX_GB, is 2\.9 KB, and what it must keep \(uploads, the "
                             r"bundled sample, downloads\) leaves 1000 B free\)\. An upload deleted or expired"):
        store_upload(b"z" * 1001, "third.json")  # uploads are never evicted: refused
    third = store_upload(b"z" * 1000, "third.json")  # exactly the room left: kept
    assert sorted(p.name for p in (tmp_path / UPLOAD_DIR).iterdir()) == sorted([kept.name, second.name, third.name])


def test_uploads_arriving_together_never_pass_the_quota(tmp_path, monkeypatch):
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path))
    monkeypatch.setenv("XAMI_CACHE_MAX_GB", str(3000 / 1024**3))  # room for three of the eight
    results: list[object] = []
    start = threading.Barrier(8)

    def send(i: int) -> None:
        start.wait()
        try:
            results.append(store_upload(bytes([65 + i]) * 1000, f"{i}.json"))
        except XamiDataError as exc:
            results.append(exc)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    kept = [r for r in results if isinstance(r, Path)]
    assert len(kept) == 3 and all(isinstance(r, archive.CacheFullError) for r in results if r not in kept)
    assert sum(p.stat().st_size for p in (tmp_path / UPLOAD_DIR).iterdir()) == 3000


def test_unused_uploads_expire_after_the_ttl(tmp_path, monkeypatch):
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path))
    monkeypatch.setenv("XAMI_UPLOAD_TTL_HOURS", "2")
    old, recent = store_upload(b"[1]", "old.json"), store_upload(b"[2]", "recent.json")
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


def test_removing_or_forgetting_uploads_deletes_them_from_the_server(sample_ds, tmp_path, monkeypatch):
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path))
    data = json.dumps(synthetic_prediction_records(sample_ds)).encode()
    at = upload(page_test(PAGE, query={"pred_synthetic": "false"}), ("a.json", data), ("b.json", data))
    stored = sorted((tmp_path / UPLOAD_DIR).glob("*.json"))
    assert len(stored) == 2  # the same bytes twice: two private copies
    at.run()  # a rerun keeps them, stores nothing again
    assert sorted((tmp_path / UPLOAD_DIR).glob("*.json")) == stored
    assert sorted(at.dataframe[0].value["source"]) == ["uploaded: a.json", "uploaded: b.json"]
    upload(at, ("a.json", data))  # b.json removed from the uploader: its copy is deleted (AppTest gives a.json a
    left = sorted((tmp_path / UPLOAD_DIR).glob("*.json"))  # new file id, so it is stored anew and its old copy goes)
    assert len(left) == 1 and left[0].read_bytes() == data
    assert list(at.dataframe[0].value["source"]) == ["uploaded: a.json"]
    switch_page(at, "pages/overview.py")  # elsewhere the uploader is not drawn; back here it starts empty
    at.run()
    switch_page(at, PAGE)
    at.run()
    assert any("Using the files uploaded earlier in this session: a.json" in c.value for c in at.caption)
    assert sorted((tmp_path / UPLOAD_DIR).glob("*.json")) == left  # kept while the session uses it
    at.button(key="pred_upload_forget").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert list((tmp_path / UPLOAD_DIR).glob("*.json")) == []  # forgotten: deleted from the server
    assert not any("uploaded earlier" in c.value for c in at.caption)


def test_another_session_never_sees_an_upload(sample_ds, tmp_path, monkeypatch):
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path))
    data = json.dumps(synthetic_prediction_records(sample_ds)).encode()
    mine = upload(page_test(PAGE, query={"pred_synthetic": "false"}), ("mine.json", data))
    assert list(mine.dataframe[0].value["source"]) == ["uploaded: mine.json"]
    (stored,) = (tmp_path / UPLOAD_DIR).glob("*.json")
    other = page_test(PAGE, query={"pred_synthetic": "false"})  # a second session: nothing of the first's
    assert "mine.json" not in shown_text(other) and not other.dataframe
    refused = page_test(PAGE, query={"pred_synthetic": "false", "pred_paths": str(stored)})  # the copy's path, guessed
    (error,) = [str(e.value).replace("\\", "") for e in refused.error]
    assert "inside this server's cache folder" in error and "upload the file" in error


def test_a_file_that_cannot_be_kept_is_not_stored_again_on_a_rerun(sample_ds, tmp_path, monkeypatch):
    from xami_ui import predictions  # noqa: PLC0415

    monkeypatch.setenv("XAMI_CACHE", str(tmp_path))
    monkeypatch.setenv("XAMI_CACHE_MAX_GB", str(1000 / 1024**3))  # smaller than the sample: no room at all
    calls = []
    real = predictions.store_upload
    monkeypatch.setattr(predictions, "store_upload", lambda *a, **k: calls.append(1) or real(*a, **k))
    at = upload(page_test(PAGE, query={"pred_synthetic": "false"}), ("big.json", b"[]"))
    at.run()  # any click reruns the page
    (error,) = [str(e.value).replace("\\", "") for e in at.error if "could not be kept" in str(e.value)]
    assert error.startswith("big.json could not be kept: uploaded file 'big.json': this server's cache has no room")
    assert error.endswith("Remove it and choose it again to try once more.") and calls == [1]
