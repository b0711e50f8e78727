"""Data sources as users meet them: Hugging Face (stand-in Hub), uploads, local paths, observation metadata."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.apptest import page_test, table_with, texts
from tests.conftest import OBS_INFO_COPY
from tests.test_hub import StubHub, archives, closed_port_url, hub_env, no_internet, padded, point_hf_at, run_bounded  # noqa: F401 - fixtures
from xami_core import XamiDataError, load_dataset
from xami_core.io import archive as archive_mod
from xami_core.io import hub as hub_mod
from xami_core.io import metadata as meta_mod
from xami_core.model import XAMI_LICENCE
from xami_ui import sidebar

REFERENCE = OBS_INFO_COPY  # a cut-down real copy (tests/data/README.md)
RAW_PATH = "/ESA-Datalabs/XAMI-dataset/main/xami_dataset/obs_info_1024_all.json"
# Metadata for the stand-in data: its three train observations (S01000000{00,01,02}_L), not the valid one.
TINY_OBS_INFO = {f"S{100000000 + i:010d}_L.fits": {"EXPOSURE": 1000.0 * (i + 1), "RA": 10.0 + 100 * i, "DEC": -20.0 + 20 * i,
                                                    "PA": 90.0} for i in range(3)}
SAMPLE_IMAGES = "160"


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def buttons(at) -> set[str]:
    return {w.key for w in at.button}


def shown_text(at) -> str:
    """texts(at) as the reader sees it: markdown's backslash escapes and invisible word joiners removed."""
    return re.sub(r"\\(.)", r"\1", texts(at)).replace("\u2060", "")


@pytest.fixture()
def hub(archives, tmp_path, monkeypatch, no_internet):  # noqa: F811 - the fixtures imported above
    """The stand-in Hub (also serving obs_info at a GitHub-like path), huggingface_hub's cache in tmp."""
    server = StubHub({k: v for k, v in archives.items() if k != "evil.zip"},
                     raw={RAW_PATH: json.dumps(TINY_OBS_INFO).encode()})
    point_hf_at(server, tmp_path / "hf", monkeypatch)
    monkeypatch.setenv(meta_mod.OBS_INFO_URL_ENV, server.url + RAW_PATH)
    monkeypatch.delenv(meta_mod.OBS_INFO_PATH_ENV, raising=False)
    yield server
    server.close()


# ---------------------------------------------------------------- Hugging Face


@pytest.mark.parametrize(
    ("variant", "splits"),
    [
        ("xami_dataset", {"train": 3, "valid": 1}),  # the published split
        ("xami_dataset_no_splits", {"all": 4}),  # one set, the folds' input
        ("xami_dataset_yolov8", {"train": 3, "valid": 1}),  # YOLOv8-seg
    ],
)
def test_hub_download_on_request_then_overview_shows_that_data(hub, variant, splits):
    at = page_test(query={"data": "hf", "hf": variant})
    # Nothing is fetched until the user asks; the sample shows meanwhile.
    assert hub.requests == [] and metrics(at)["Images"] == SAMPLE_IMAGES
    assert any("Not downloaded yet" in i.value for i in at.sidebar.info)
    assert at.sidebar.selectbox(key=sidebar.VARIANT_KEY).value == variant
    at.button(key="hf_download").click().run()
    assert not at.exception and not at.error
    assert (hub.count("HEAD"), hub.count("GET")) == (1, 1)
    shown = metrics(at)
    assert (shown["Images"], shown["Annotations"], shown["Classes"]) == ("4", "4", "5")
    summary = table_with(at, "images", "annotations", "empty images")
    assert {s: summary.loc[s, "images"] for s in splits} == splits
    assert "Source:** Hugging Face" in texts(at) and XAMI_LICENCE in texts(at) and "arXiv:2406.17323" in texts(at)
    assert dict(at.query_params) | {"palette": None} == {"data": "hf", "hf": variant, "palette": None}
    assert "hf_download" not in buttons(at)
    # A later start: the cached archive and extracted folder, no network traffic.
    hub.requests.clear()
    again = page_test(query={"data": "hf", "hf": variant})
    assert metrics(again)["Images"] == "4" and hub.requests == [] and "hf_download" not in buttons(again)


def test_yolo_variant_shows_the_same_counts_as_coco(hub):
    hub_mod.hub_dataset_path("xami_dataset")
    hub_mod.hub_dataset_path("xami_dataset_yolov8")
    coco = page_test(query={"data": "hf", "hf": "xami_dataset"})
    yolo = page_test(query={"data": "hf", "hf": "xami_dataset_yolov8"})
    assert "coco-splits" in texts(coco) and "yolov8-seg" in texts(yolo)
    assert metrics(coco) == metrics(yolo)
    for i in range(3):  # the split summary, per-class and per-filter tables
        assert coco.dataframe[i].value.equals(yolo.dataframe[i].value), i


def test_choosing_the_hub_in_the_sidebar_round_trips_through_the_link(hub):
    at = page_test()
    assert at.query_params["data"] == "sample" and "hf" not in at.query_params
    at.sidebar.radio(key=sidebar.SOURCE_KEY).set_value(sidebar.HUB).run()
    # The radio and the variant box are bound to the link: the browser writes their values into it
    # (test_source_choice_in_the_link_in_chromium); the server names the variant the box starts at.
    assert at.query_params["hf"] == hub_mod.DEFAULT_VARIANT
    assert at.sidebar.selectbox(key=sidebar.VARIANT_KEY).value == hub_mod.DEFAULT_VARIANT
    at.sidebar.selectbox(key=sidebar.VARIANT_KEY).set_value("xami_dataset_yolov8").run()
    assert any("xami_dataset_yolov8.zip" in b.label for b in at.sidebar.button)
    at.sidebar.radio(key=sidebar.SOURCE_KEY).set_value(sidebar.SAMPLE).run()
    assert "hf" not in at.query_params  # the variant box is gone, and its parameter with it
    assert metrics(at)["Images"] == SAMPLE_IMAGES
    # The link the browser then holds opens the same choice in a new session.
    again = page_test(query={"data": "hf", "hf": "xami_dataset_yolov8"})
    assert again.sidebar.radio(key=sidebar.SOURCE_KEY).value == sidebar.HUB
    assert again.sidebar.selectbox(key=sidebar.VARIANT_KEY).value == "xami_dataset_yolov8"
    assert hub.requests == []


def test_offline_without_a_cached_copy_says_so_and_keeps_the_sample(hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    at = page_test(query={"data": "hf", "hf": "xami_dataset"})
    (error,) = [e.value for e in at.error]
    assert "Offline mode (HF_HUB_OFFLINE) is on and 'xami_dataset.zip'" in error and "sample stays available" in error
    assert "hf_download" not in buttons(at)  # no button that cannot work
    assert metrics(at)["Images"] == SAMPLE_IMAGES and "synthetic sample" in texts(at)
    assert hub.requests == []


def test_offline_with_a_cached_copy_loads(hub, monkeypatch):
    hub_mod.download_variant("xami_dataset")  # downloaded earlier, not yet extracted
    hub.requests.clear()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    at = page_test(query={"data": "hf", "hf": "xami_dataset"})
    assert metrics(at)["Images"] == "4" and not at.error and hub.requests == []


def test_a_failed_download_is_a_message_and_the_sample(hub, archives):  # noqa: F811
    del hub.files["xami_dataset_no_splits.zip"]
    at = page_test(query={"data": "hf", "hf": "xami_dataset_no_splits"})
    at.button(key="hf_download").click().run()
    assert any("file not found (HTTP 404)" in e.value for e in at.error)
    assert metrics(at)["Images"] == SAMPLE_IMAGES
    assert "hf_retry" in buttons(at)  # the user can try again
    hub.files["xami_dataset_no_splits.zip"] = archives["xami_dataset_no_splits.zip"]
    at.button(key="hf_retry").click().run()
    assert metrics(at)["Images"] == "4" and not at.error


# ---------------------------------------------------------------- observation metadata


def test_metadata_fetched_on_request_and_joined(hub):
    hub_mod.hub_dataset_path("xami_dataset")
    hub.requests.clear()
    at = page_test(query={"data": "hf", "hf": "xami_dataset"})
    assert "Images with metadata" not in metrics(at) and "overview_fetch_obs_info" in buttons(at)
    assert hub.count("GET") == 0
    at.button(key="overview_fetch_obs_info").click().run()
    assert "overview_fetch_obs_info" not in buttons(at)  # the offer goes once the file is here
    shown = metrics(at)
    assert (shown["Images with metadata"], shown["Images without metadata"], shown["Observations matched"]) == ("3", "1", "3")
    coverage = table_with(at, "with metadata", "without metadata")
    assert coverage.loc["train"].tolist() == [3, 3, 0, 3] and coverage.loc["valid"].tolist() == [1, 0, 1, 0]
    assert table_with(at, "obs_key", "n_images").to_dict("records") == [{"obs_key": "S0555020101_U.fits", "n_images": 1}]
    assert f"Source: {hub.url}{RAW_PATH}" in shown_text(at)
    # Cached: a later start needs no button and no request.
    hub.requests.clear()
    again = page_test(query={"data": "hf", "hf": "xami_dataset"})
    assert metrics(again)["Images with metadata"] == "3" and hub.requests == []


def test_metadata_download_failure_is_a_message_not_a_failure(hub):
    del hub.raw[RAW_PATH]
    hub_mod.hub_dataset_path("xami_dataset")
    at = page_test(query={"data": "hf", "hf": "xami_dataset"})
    at.button(key="overview_fetch_obs_info").click().run()
    assert not at.exception
    assert any("Could not download the observation metadata" in w.value and "Not Found" in w.value for w in at.warning)
    assert metrics(at)["Images"] == "4" and "Images with metadata" not in metrics(at)


def test_local_metadata_file_from_the_sidebar(hub):
    """The real reference copy holds the valid image's observation, S0555020101_U, and none of the train ones."""
    hub_mod.hub_dataset_path("xami_dataset")
    hub.requests.clear()
    at = page_test(query={"data": "hf", "hf": "xami_dataset"})
    at.sidebar.text_input(key=sidebar.OBS_INFO_KEY).input(str(REFERENCE)).run()
    shown = metrics(at)
    assert (shown["Images with metadata"], shown["Images without metadata"]) == ("1", "3")
    assert f"Source: {REFERENCE}" in shown_text(at) and hub.count("GET") == 0


def test_the_sample_shows_its_synthetic_metadata(sample_ds):
    at = page_test()
    shown = metrics(at)
    n = len(sample_ds.images)
    assert (shown["Images with metadata"], shown["Images without metadata"]) == (str(n), "0")
    assert f"Source: {meta_mod.SYNTHETIC_LABEL}. Random pointings" in texts(at)
    assert "Pointings on the sky" in texts(at)
    at.segmented_control(key="overview_sky_frame").set_value("galactic").run()
    assert not at.exception


# ---------------------------------------------------------------- uploads


def test_each_upload_gets_its_own_secret_key(archives):  # noqa: F811
    data = archives["xami_dataset_no_splits.zip"]
    reports: list[tuple[int, int]] = []
    key, folder = archive_mod.extract_upload(data, "C:\\Users\\me\\mine.zip", on_bytes=lambda d, t: reports.append((d, t)))
    assert folder.name == key and archive_mod.is_upload_key(key) and (folder / archive_mod.COMPLETE_MARKER).exists()
    assert reports and reports[-1][0] == reports[-1][1]
    ds = load_dataset(folder, source="upload")
    assert len(ds.images) == 4 and ds.images["split"].unique().tolist() == ["all"]
    # The same bytes again (another user with the same file): another key, nothing tells them it was uploaded.
    other_key, other = archive_mod.extract_upload(data, "again.zip")
    assert other_key != key and other != folder
    assert import_hashlib_sha256_prefix(data) not in {key, other_key}  # not derived from the content
    assert archive_mod.uploaded_dir(key) == folder and archive_mod.uploaded_dir(other_key) == other
    # Extracting under a key it already has does nothing.
    reports.clear()
    assert archive_mod.extract_upload(data, "x.zip", key=key, on_bytes=lambda d, t: reports.append((d, t))) == (key, folder)
    assert reports == []
    staging = [p.name for p in folder.parent.iterdir() if p.name.startswith(".")]
    assert staging == []  # the temporary copy of the bytes is gone


def import_hashlib_sha256_prefix(data: bytes) -> str:
    """The content key earlier versions used (first 16 hex digits of SHA-256)."""
    import hashlib

    return hashlib.sha256(data).hexdigest()[:16]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("evil.zip", "evil", r"uploaded file 'evil.zip': member '../../escaped.txt' contains '\.\.'"),  # path escape
        ("notes.zip", b"this is not a zip", r"uploaded file 'notes.zip': not a readable zip archive"),  # not a zip
    ],
)
def test_bad_uploads_are_refused_with_nothing_left(archives, tmp_path, name, content, message):  # noqa: F811
    data = archives["evil.zip"] if content == "evil" else content
    parent = archive_mod.cache_dir() / archive_mod.UPLOADS
    before = set(parent.iterdir()) if parent.exists() else set()
    with pytest.raises(XamiDataError, match=message):
        archive_mod.extract_upload(data, name)
    assert set(parent.iterdir()) == before


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("A" * 31 + "-", True),  # the form new_upload_key makes: 32 URL-safe characters
        ("0123456789abcdef", False),  # an old content-hash key
        ("../../etc/passwd" * 2, False),  # a path in the link, 32 characters long
        ("A" * 31 + ".", False),  # a character new_upload_key never makes
        ("", False),  # empty
    ],
)
def test_upload_keys_from_links_are_validated(key, ok):
    assert archive_mod.is_upload_key(key) is ok
    assert archive_mod.uploaded_dir(key) is None  # none of these was uploaded


def test_new_upload_keys_are_random_and_well_formed():
    keys = {archive_mod.new_upload_key() for _ in range(50)}
    assert len(keys) == 50 and all(archive_mod.is_upload_key(k) for k in keys)


def _upload_in(at, name: str, data: bytes):
    at.sidebar.file_uploader(key=sidebar.UPLOADER_KEY).set_value((name, data, "application/zip")).run()
    return at


def test_an_upload_is_not_reachable_from_another_session(archives):  # noqa: F811
    data = archives["xami_dataset.zip"]
    mine = _upload_in(page_test(query={"data": "upload"}), "mine.zip", data)
    assert metrics(mine)["Images"] == "4" and not mine.error
    key = mine.session_state[sidebar._UPLOAD_KEY]
    assert "upload" not in mine.query_params  # not in the link unless shared
    # Another session: the same link as the uploader's page, or a guess at the old content key.
    for query in ({"data": "upload"}, {"data": "upload", "upload": import_hashlib_sha256_prefix(data)}):
        other = page_test(query=query)
        assert metrics(other)["Images"] == SAMPLE_IMAGES, query
    # With no roots set, the cache folder as a local path is refused too.
    for path in (archive_mod.cache_dir() / archive_mod.UPLOADS / key, archive_mod.cache_dir()):
        other = page_test(query={"data": str(path)})
        (error,) = [e.value for e in other.error]
        assert "inside this server's cache folder" in error and metrics(other)["Images"] == SAMPLE_IMAGES
    # Shared on purpose: the link carries the key, and a session opening it sees the upload.
    mine.sidebar.toggle(key=sidebar.SHARE_KEY).set_value(True).run()
    assert mine.query_params["upload"] == key
    shared = page_test(query={"data": "upload", "upload": key})
    assert metrics(shared)["Images"] == "4" and not shared.error


def test_deleting_an_upload(archives):  # noqa: F811
    data = archives["xami_dataset.zip"]
    at = _upload_in(page_test(query={"data": "upload"}), "mine.zip", data)
    key = at.session_state[sidebar._UPLOAD_KEY]
    folder = archive_mod.uploaded_dir(key)
    assert folder is not None
    at.button(key=sidebar.DELETE_KEY).click().run()
    assert not at.exception and not folder.exists() and archive_mod.uploaded_dir(key) is None
    assert metrics(at)["Images"] == SAMPLE_IMAGES and "upload" not in at.query_params
    assert any("Deleted `mine.zip` from this server" in i.value for i in at.sidebar.info)
    left = set(folder.parent.iterdir())
    at.run()  # the uploader still holds the file: it is not extracted again
    assert metrics(at)["Images"] == SAMPLE_IMAGES and set(folder.parent.iterdir()) == left


def test_a_shared_upload_can_be_opened_but_not_deleted_by_others(archives):  # noqa: F811
    mine = _upload_in(page_test(query={"data": "upload"}), "mine.zip", archives["xami_dataset.zip"])
    key = mine.session_state[sidebar._UPLOAD_KEY]
    mine.sidebar.toggle(key=sidebar.SHARE_KEY).set_value(True).run()
    shared = page_test(query={"data": "upload", "upload": key})
    assert metrics(shared)["Images"] == "4"
    (button,) = [b for b in shared.sidebar.button if b.key == sidebar.DELETE_KEY]
    assert button.label == "Stop using this shared upload"
    button.click().run()
    assert archive_mod.uploaded_dir(key) is not None  # still there for its owner
    assert metrics(shared)["Images"] == SAMPLE_IMAGES and "upload" not in shared.query_params
    mine.run()
    assert metrics(mine)["Images"] == "4"
    (button,) = [b for b in mine.sidebar.button if b.key == sidebar.DELETE_KEY]
    assert button.label == "Delete this upload from the server"
    archive_mod.delete_upload(key)


def test_replacing_or_removing_the_zip_deletes_the_earlier_upload(archives):  # noqa: F811
    data = archives["xami_dataset.zip"]
    at = _upload_in(page_test(query={"data": "upload"}), "first.zip", data)
    first = archive_mod.uploaded_dir(at.session_state[sidebar._UPLOAD_KEY])
    _upload_in(at, "second.zip", data)  # replaced in the uploader
    second_key = at.session_state[sidebar._UPLOAD_KEY]
    assert metrics(at)["Images"] == "4" and not first.exists()
    second = archive_mod.uploaded_dir(second_key)
    at.sidebar.file_uploader(key=sidebar.UPLOADER_KEY).set_value(None).run()  # removed from the uploader
    assert not at.exception and not second.exists() and metrics(at)["Images"] == SAMPLE_IMAGES


@pytest.mark.parametrize(
    ("ttl", "age_h", "kept"),
    [
        (None, 23.5, True),  # default 24 h: younger
        (None, 24.5, False),  # default 24 h: older
        ("1", 0.5, True),  # 1 h setting
        ("1", 2, False),
        ("0.01", 1, False),  # fractions of an hour
    ],
)
def test_uploads_expire(archives, monkeypatch, ttl, age_h, kept):  # noqa: F811
    if ttl is None:
        monkeypatch.delenv(archive_mod.UPLOAD_TTL_ENV, raising=False)
    else:
        monkeypatch.setenv(archive_mod.UPLOAD_TTL_ENV, ttl)
    key, folder = archive_mod.extract_upload(archives["xami_dataset.zip"], "x.zip")
    then = (folder / archive_mod.COMPLETE_MARKER).stat().st_mtime
    now = then + age_h * 3600
    assert (archive_mod.uploaded_dir(key, now=now) is not None) is kept
    assert (folder in archive_mod.remove_expired_uploads(now=now)) is (not kept)
    assert folder.exists() is kept
    archive_mod.delete_upload(key)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("XAMI_UPLOAD_TTL_HOURS", "soon", "XAMI_UPLOAD_TTL_HOURS='soon': expected a number of hours above 0"),  # not a number
        ("XAMI_UPLOAD_TTL_HOURS", "-1", "XAMI_UPLOAD_TTL_HOURS='-1': expected a number of hours above 0"),  # negative
        ("XAMI_ALLOW_UPLOADS", "maybe", "XAMI_ALLOW_UPLOADS='maybe': expected 1 or 0"),  # not a yes/no
    ],
)
def test_bad_upload_settings_turn_uploads_off_with_a_message(monkeypatch, archives, name, value, message):  # noqa: F811
    monkeypatch.setenv(name, value)
    at = page_test(query={"data": "upload"})
    (error,) = [e.value for e in at.sidebar.error]  # said once, as a deployment setting
    assert error.startswith("Deployment setting:") and message in error and "uploads are off" in error
    assert any(i.value.startswith("Uploads are off until the deployment setting above is fixed") for i in at.sidebar.info)
    assert not at.sidebar.get("file_uploader") and metrics(at)["Images"] == SAMPLE_IMAGES


def test_uploads_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("XAMI_ALLOW_UPLOADS", "0")
    at = page_test(query={"data": "upload"})
    assert any("Uploads are turned off on this deployment (XAMI_ALLOW_UPLOADS=0)" in i.value for i in at.sidebar.info)
    assert not at.sidebar.get("file_uploader") and metrics(at)["Images"] == SAMPLE_IMAGES


def test_overview_of_an_upload_shared_in_the_link(archives):  # noqa: F811
    key, folder = archive_mod.extract_upload(archives["xami_dataset.zip"], "xami_dataset.zip")  # what the uploader calls
    at = page_test(query={"data": "upload", "upload": key})
    assert at.sidebar.radio(key=sidebar.SOURCE_KEY).value == sidebar.UPLOAD
    assert (metrics(at)["Images"], metrics(at)["Annotations"]) == ("4", "4")
    assert "Source:** upload" in texts(at) and XAMI_LICENCE in texts(at)
    assert (at.query_params["data"], at.query_params["upload"]) == ("upload", key)  # it stays shared
    assert at.sidebar.toggle(key=sidebar.SHARE_KEY).value is True


def test_uploading_in_the_sidebar(archives):  # noqa: F811
    data = archives["xami_dataset_yolov8.zip"]
    at = page_test(query={"data": "upload"})
    assert any("Choose a .zip" in i.value for i in at.sidebar.info) and metrics(at)["Images"] == SAMPLE_IMAGES
    _upload_in(at, "my copy.zip", data)
    assert not at.exception and not at.error
    assert (metrics(at)["Images"], metrics(at)["Annotations"]) == ("4", "4") and "yolov8-seg" in texts(at)
    assert "upload" not in at.query_params and at.sidebar.toggle(key=sidebar.SHARE_KEY).value is False
    assert "`my copy.zip` · kept for 24 h" in "\n".join(c.value for c in at.sidebar.caption)
    # A damaged upload: a clear message, the sample, nothing kept.
    at.sidebar.file_uploader(key=sidebar.UPLOADER_KEY).set_value(("broken.zip", data[: len(data) // 2], "application/zip")).run()
    (error,) = [e.value for e in at.error]
    assert error.startswith("Could not use the upload.") and "uploaded file 'broken.zip'" in error
    assert metrics(at)["Images"] == SAMPLE_IMAGES and "upload" not in at.query_params


def test_an_upload_no_longer_on_the_server_is_a_message():
    at = page_test(query={"data": "upload", "upload": "B" * 32})
    assert any("not on this server" in e.value for e in at.error)
    assert metrics(at)["Images"] == SAMPLE_IMAGES


# ---------------------------------------------------------------- local paths


@pytest.fixture()
def roots(tmp_path, monkeypatch, archives):  # noqa: F811
    """XAMI_ALLOWED_ROOTS = tmp/allowed; the same small dataset inside and outside it."""
    for where in ("allowed", "outside"):
        with zipfile.ZipFile(io.BytesIO(archives["xami_dataset.zip"])) as zf:
            zf.extractall(tmp_path / where)
    (tmp_path / "allowed" / "link").symlink_to(tmp_path / "outside" / "xami_dataset")
    monkeypatch.setenv("XAMI_ALLOWED_ROOTS", str(tmp_path / "allowed"))
    return tmp_path


@pytest.mark.parametrize(
    ("relative", "allowed"),
    [
        ("allowed/xami_dataset", True),  # under the root
        ("outside/xami_dataset", False),  # elsewhere
        ("allowed/../outside/xami_dataset", False),  # '..' out of the root
        ("allowed/link", False),  # a symbolic link inside the root pointing out of it
    ],
)
def test_local_paths_obey_the_allowed_roots(roots, relative, allowed):
    at = page_test(query={"data": str(roots / relative)})
    if allowed:
        assert metrics(at)["Images"] == "4" and not at.error
        assert f"`{roots / 'allowed'}`" in "\n".join(c.value for c in at.sidebar.caption)
    else:
        (error,) = [e.value for e in at.error]
        assert error.startswith("Path refused.") and "outside the folders this deployment allows" in error
        assert str(roots / "allowed") in error and "synthetic sample" in error
        assert metrics(at)["Images"] == SAMPLE_IMAGES


def test_an_old_path_link_opens_its_data_and_the_link_takes_the_new_form(roots):
    path = str(roots / "allowed" / "xami_dataset")
    at = page_test(query={"data": path})  # a link made before the source widgets were bound to it
    assert at.sidebar.radio(key=sidebar.SOURCE_KEY).value == sidebar.LOCAL
    assert at.sidebar.text_input(key=sidebar.PATH_KEY).value == path
    assert metrics(at)["Images"] == "4" and not at.error
    assert dict(at.query_params) == {"data": "path", "path": path}  # rewritten in the same run
    at.run()  # the next run (the radio now bound to the link) keeps it
    assert dict(at.query_params) == {"data": "path", "path": path} and metrics(at)["Images"] == "4"
    new = page_test(query={"data": "path", "path": path})  # the new form opens the same view
    assert metrics(new)["Images"] == "4" and dict(new.query_params) == {"data": "path", "path": path}


@pytest.mark.parametrize(
    ("query", "source"),
    [
        ({"data": "path"}, sidebar.LOCAL),  # the path choice with an empty box: the sample meanwhile
        ({"data": "upload", "path": "/elsewhere"}, sidebar.UPLOAD),  # a path another source does not use
        ({"data": "nonsense-word"}, sidebar.LOCAL),  # not a choice: read as an old link's path
    ],
)
def test_source_links_without_a_usable_dataset_show_the_sample(query, source):
    at = page_test(query=query)
    assert at.sidebar.radio(key=sidebar.SOURCE_KEY).value == source
    assert metrics(at)["Images"] == SAMPLE_IMAGES
    assert at.query_params["data"] == sidebar.LINK_WORDS[source]


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (":", "names no folder"),  # only a separator
        ("", "names no folder"),  # set but empty
        ("  :  ", "names no folder"),  # blanks and a separator
        ("{tmp}/allowed/typo", "/allowed/typo', which is not a folder on this server"),  # a typo
        ("{tmp}/allowed:{tmp}/gone", "/gone', which is not a folder"),  # one good root, one missing: all refused
        ("{tmp}/allowed/xami_dataset/train/_annotations.coco.json", "which is not a folder"),  # a file
        ("{tmp}/loop", "/loop', which is not a folder"),  # a link to itself (resolving it raised)
        ("/" + "x" * 300, "(301 characters)', which is not a folder"),  # a name too long (resolving it raised)
        ("{tmp}/allowed\n/tmp", "/allowed\\n/tmp', which is not a folder"),  # a newline, escaped once
        ("tests", "'tests', not an absolute path"),  # relative (a folder here): it would depend on where the server started
    ],
)
def test_allowed_roots_naming_no_folder_refuse_every_path(roots, monkeypatch, caplog, value, said):
    (roots / "loop").symlink_to(roots / "loop")
    monkeypatch.setenv("XAMI_ALLOWED_ROOTS", value.format(tmp=roots))
    monkeypatch.setattr(sidebar, "_LOGGED_SETTINGS", set())  # as in a freshly started server
    at = page_test(query={"data": str(roots / "allowed" / "xami_dataset")})
    setting = [e.value for e in at.sidebar.error]
    assert len(setting) == 1 and setting[0].startswith("Deployment setting:") and "XAMI_ALLOWED_ROOTS" in setting[0]
    assert said in setting[0] and "no local path is opened" in setting[0]
    refused = [e.value for e in at.main.error]
    assert len(refused) == 1 and refused[0].startswith("Path refused.") and said in refused[0]
    assert metrics(at)["Images"] == SAMPLE_IMAGES
    at.run()  # the server's log has it once, not once per run
    logged = [r for r in caplog.records if r.name == "xami_explorer" and "XAMI_ALLOWED_ROOTS" in r.getMessage()]
    assert len(logged) == 1 and logged[0].levelname == "ERROR" and said in logged[0].getMessage()


def test_every_bad_setting_is_said_on_every_page(roots, monkeypatch):
    monkeypatch.setenv("XAMI_MAX_IMAGE_PIXELS", "lots")
    monkeypatch.setenv("XAMI_LOAD_TIMEOUT_S", "-5")
    monkeypatch.setenv("XAMI_ALLOW_UPLOADS", "maybe")
    for page in ("pages/gallery.py", "pages/health.py"):
        at = page_test(page=page)
        setting = [e.value for e in at.sidebar.error]
        assert len(setting) == 3 and all(m.startswith("Deployment setting:") for m in setting)
        assert "XAMI_ALLOW_UPLOADS='maybe'" in setting[0]
        assert "XAMI_MAX_IMAGE_PIXELS=lots: expected a positive number" in setting[1]
        assert "XAMI_LOAD_TIMEOUT_S=-5: expected a positive number" in setting[2]


@pytest.mark.parametrize(
    "text",
    [
        "[text](javascript:alert(1))",  # a markdown link
        "![x](https:example.invalid/x.png)",  # an external image
        "<img src=https:example.invalid/y.png> **bold** :red[red] `tick`",  # HTML, emphasis, a directive, a backtick
    ],
)
def test_a_path_from_the_link_is_shown_as_text(tmp_path, text):
    path = f"/nonexistent/{text}"  # the loader normalises the path: no '//' in the cases
    at = page_test(query={"data": path})
    (error,) = [e.value for e in at.error]
    # CommonMark code spans: a run of N backticks up to the next run of exactly N; inside, nothing is markup.
    spans = [(m.start(2), m.end(2)) for m in re.finditer(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", error)]
    start = error.index(text)
    assert any(lo <= start and start + len(text) <= hi for lo, hi in spans), error
    outside = "".join(ch for i, ch in enumerate(error) if not any(lo <= i < hi for lo, hi in spans))
    assert not set("[]<>!*:") & set(outside), outside  # no markup outside the spans either
    assert metrics(at)["Images"] == SAMPLE_IMAGES


def test_metadata_file_outside_the_roots_is_refused(roots, hub):
    at = page_test(query={"data": str(roots / "allowed" / "xami_dataset")})
    at.sidebar.text_input(key=sidebar.OBS_INFO_KEY).input(str(REFERENCE)).run()
    assert any("Path refused" in e.value for e in at.sidebar.error)
    assert "overview_fetch_obs_info" in buttons(at)  # the download is still offered


def test_start_path_from_the_environment(monkeypatch, archives, tmp_path):  # noqa: F811
    with zipfile.ZipFile(io.BytesIO(archives["xami_dataset_no_splits.zip"])) as zf:
        zf.extractall(tmp_path)
    monkeypatch.setenv("XAMI_DATA", str(tmp_path))
    at = page_test()
    assert at.sidebar.radio(key=sidebar.SOURCE_KEY).value == sidebar.LOCAL
    assert metrics(at)["Images"] == "4" and (at.query_params["data"], at.query_params["path"]) == ("path", str(tmp_path))


# ---------------------------------------------------------------- in a real browser


@pytest.fixture()
def slow_hub(archives, tmp_path):  # noqa: F811
    """The stand-in Hub serving a padded archive slowly, and a Streamlit server pointed at it."""
    from tests.browser import Server

    server = StubHub({"xami_dataset.zip": padded(archives["xami_dataset.zip"], 6.0)},
                     raw={RAW_PATH: json.dumps(TINY_OBS_INFO).encode()})
    server.bytes_per_second = 0.4e6  # 15 s for 6 MB: the 1-5.9 MB progress text shows for about 12 s
    env = hub_env(server, tmp_path / "hf") | {meta_mod.OBS_INFO_URL_ENV: server.url + RAW_PATH}
    env.pop(meta_mod.OBS_INFO_PATH_ENV, None)
    app = Server(env=env)
    yield server, app
    app.close()
    server.close()


@pytest.mark.browser
def test_hub_download_with_progress_in_chromium(slow_hub):
    from tests.browser import Browser

    hub, app = slow_hub
    browser = Browser(app)
    try:
        page = browser.open("?data=hf&hf=xami_dataset", wait_for="Download xami_dataset.zip")
        assert page.get_by_text("Not downloaded yet").is_visible()
        page.get_by_role("button", name="Download xami_dataset.zip").click()
        bar = page.locator("[data-testid='stMain'] [data-testid='stProgress']")
        bar.wait_for(timeout=60_000)
        # Wait for real progress: some megabytes done, not yet all, with a rate.
        page.get_by_text(re.compile(r"Downloading: [1-5]\.\d of 6\.\d MB \(\d+%\), \d+\.\d MB/s")).wait_for(timeout=60_000)
        browser.screenshot("hub_download_progress")
        assert page.get_by_text("Downloading xami_dataset.zip from iulia-elisa/XAMI-dataset").is_visible()
        assert page.get_by_role("button", name="Download xami_dataset.zip").is_disabled()  # a click would interrupt it
        page.get_by_text("Source: Hugging Face").wait_for(timeout=60_000)
        metrics = page.locator("[data-testid='stMetricValue']")
        metrics.first.wait_for(timeout=60_000)  # the load runs in a worker after the download
        browser.settle()
        assert bar.count() == 0  # the bar goes when done
        values = metrics.all_inner_texts()
        assert values[:2] == ["4", "4"]
        assert page.get_by_text(XAMI_LICENCE).first.is_visible()
        page.get_by_role("button", name="Fetch observation metadata from GitHub").click()
        page.get_by_text("Images with metadata").wait_for()
        browser.settle()
        assert (hub.count("HEAD"), hub.count("GET")) >= (1, 2)  # the archive and the metadata
        browser.scroll_to(page.get_by_text("XAMI dataset overview"))
        browser.screenshot("hub_overview", full_height=4000)
    finally:
        browser.close()


@pytest.mark.browser
def test_upload_a_zip_in_chromium(browser, archives, tmp_path):  # noqa: F811
    path = tmp_path / "my_xami_copy.zip"
    path.write_bytes(archives["xami_dataset_yolov8.zip"])
    page = browser.open("?data=upload", wait_for="XAMI archive (.zip)")
    page.locator("[data-testid='stSidebar'] input[type='file']").set_input_files(str(path))
    page.get_by_text("kept for 24 h").first.wait_for(timeout=60_000)
    browser.settle()
    page.locator("[data-testid='stMetricValue']").first.wait_for()
    assert page.locator("[data-testid='stMetricValue']").all_inner_texts()[:2] == ["4", "4"]
    assert "upload=" not in page.url  # private unless shared
    page.get_by_text("Share this upload in the link").click()
    browser.settle()
    assert re.search(r"upload=[A-Za-z0-9_-]{32}(&|$)", page.url), page.url
    assert page.get_by_text("yolov8-seg").first.is_visible()
    browser.screenshot("upload_overview")


@pytest.mark.browser
def test_source_choice_in_the_link_in_chromium(browser, tmp_path, archives):  # noqa: F811
    """The bound source widgets write the link; an old `?data=/path` link opens and takes the new form."""
    with zipfile.ZipFile(io.BytesIO(archives["xami_dataset.zip"])) as zf:
        zf.extractall(tmp_path)
    path = str(tmp_path / "xami_dataset")
    params = "() => Object.fromEntries(new URLSearchParams(location.search))"
    page = browser.open(f"?data={path}", wait_for="4 images")
    page.wait_for_function(f"() => {{ const p = ({params})(); return p.data === 'path' && p.path === {json.dumps(path)}; }}")
    sidebar = page.locator("[data-testid='stSidebar']")
    expect(sidebar.get_by_role("textbox", name="Folder or .zip path")).to_have_value(path)
    browser.screenshot("source_old_link")
    # The radio writes each choice into the link (the first one too, after an old link's rewrite).
    sidebar.get_by_text("hf", exact=True).click()
    page.wait_for_function(f"() => ({params})().data === 'hf'")
    page.get_by_text("Not downloaded yet").wait_for()
    sidebar.get_by_text("sample", exact=True).click()
    page.wait_for_function(f"() => ({params})().data === 'sample'")
    browser.settle()  # the sample's run ends before the next choice, as a user sees the page change first
    sidebar.get_by_text("path", exact=True).click()  # the session kept the path
    page.wait_for_function(f"() => ({params})().data === 'path'")
    expect(sidebar.get_by_role("textbox", name="Folder or .zip path")).to_have_value(path)
    page.get_by_text("4 images").first.wait_for()


@pytest.mark.browser
def test_observations_of_the_sample_in_chromium(browser):
    page = browser.open("", wait_for="Pointings on the sky")
    titles = page.locator(".js-plotly-plot .xtitle")
    titles.filter(has_text="right ascension α (degrees, ICRS)").first.wait_for()
    page.locator("[data-testid='stButtonGroup'] button", has_text="galactic").click()
    titles.filter(has_text="galactic longitude l (degrees), increasing to the left").first.wait_for()
    browser.settle()
    assert titles.filter(has_text="right ascension").count() == 0
    assert titles.filter(has_text="exposure time (s, logarithmic axis)").count() == 1
    browser.scroll_to(page.get_by_text("Observations", exact=True))
    browser.screenshot("observations_sample", full_height=3800)


# ---------------------------------------------------------------- loading you can trust (issue 17)

NAME_MAX = os.pathconf(Path(__file__).parent, "PC_NAME_MAX")


def _zip_of(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def _looping(tmp_path: Path) -> str:
    (tmp_path / "loop_a").symlink_to(tmp_path / "loop_b")
    (tmp_path / "loop_b").symlink_to(tmp_path / "loop_a")
    return str(tmp_path / "loop_a" / "xami_dataset")


@pytest.mark.parametrize(
    ("how", "make", "message"),
    [
        # a NUL byte in the link's ?data=
        ("link", lambda t: "/data/xami\x00dataset", r"data path '/data/xami\\x00dataset': contains a NUL byte"),
        # a name longer than the file system allows, in the link
        ("link", lambda t: str(t / ("x" * (NAME_MAX + 1))), rf"is {NAME_MAX + 1} bytes long; this file system allows at most {NAME_MAX}"),
        # a symbolic link loop typed into the path box
        ("path box", _looping, r"symbolic links loop at '.*/loop_a'"),
        # a NUL byte typed (pasted) into the path box
        ("path box", lambda t: "/data/a\x00b", r"data path '/data/a\\x00b': contains a NUL byte"),
    ],
)
def test_unusable_paths_are_a_message_and_the_sample(tmp_path, how, make, message):
    path = make(tmp_path)
    if how == "link":
        at = page_test(query={"data": path})
    else:
        at = page_test(query={"data": "sample"})
        at.sidebar.radio(key=sidebar.SOURCE_KEY).set_value(sidebar.LOCAL).run()
        at.sidebar.text_input(key=sidebar.PATH_KEY).input(path).run()
    assert not at.exception
    (error,) = [e.value for e in at.error]
    assert error.startswith("Path refused.") and re.search(message, error), error
    assert "Traceback" not in error and "synthetic sample" in error
    assert metrics(at)["Images"] == SAMPLE_IMAGES  # the sample stays usable


@pytest.mark.parametrize(
    ("members", "message"),
    [
        # a member name longer than the file system allows
        ([("xami_dataset/train/" + "x" * (NAME_MAX + 1) + ".jpg", b"j")],
         rf"uploaded file 'clash.zip': member 'xami_dataset/train/x+…x+\.jpg \(\d+ characters\)' has a name of {NAME_MAX + 5} bytes"),
        # a file and a folder of the same name
        ([("xami_dataset/a", b"1"), ("xami_dataset/a/b.jpg", b"2")],
         r"uploaded file 'clash.zip': member 'xami_dataset/a' is a file, but member 'xami_dataset/a/b.jpg' needs a folder"),
    ],
)
def test_uploads_the_file_system_cannot_hold_are_refused(members, message):
    data = _zip_of(members)
    parent = archive_mod.cache_dir() / archive_mod.UPLOADS
    parent.mkdir(parents=True, exist_ok=True)
    before = set(parent.iterdir())
    with pytest.raises(XamiDataError, match=message):
        archive_mod.extract_upload(data, "clash.zip")
    assert set(parent.iterdir()) == before  # nothing kept
    at = page_test(query={"data": "upload"})
    at.sidebar.file_uploader(key=sidebar.UPLOADER_KEY).set_value(("clash.zip", data, "application/zip")).run()
    assert not at.exception
    (error,) = [e.value for e in at.error]
    assert error.startswith("Could not use the upload.") and re.search(message, error), error
    assert metrics(at)["Images"] == SAMPLE_IMAGES


def test_an_upload_with_a_very_long_file_name_loads(archives):  # noqa: F811
    name = "my copy of " + "x" * (NAME_MAX + 20) + ".zip"  # longer than any file name on disk may be
    data = archives["xami_dataset_no_splits.zip"]
    _, folder = archive_mod.extract_upload(data, name)  # the name only appears in messages
    assert len(load_dataset(folder, source="upload").images) == 4
    at = page_test(query={"data": "upload"})
    at.sidebar.file_uploader(key=sidebar.UPLOADER_KEY).set_value((name, data, "application/zip")).run()
    assert not at.exception and not at.error and metrics(at)["Images"] == "4"


def test_an_unreachable_hub_is_a_message_and_a_retry(tmp_path, monkeypatch, no_internet):  # noqa: F811
    url = closed_port_url()
    point_hf_at(type("Endpoint", (), {"url": url})(), tmp_path / "hf", monkeypatch)
    at = page_test(query={"data": "hf", "hf": "xami_dataset"})
    run_bounded(lambda: at.button(key="hf_download").click().run(), limit_s=30)  # AppTest's own run adds a little
    assert not at.exception
    (error,) = [e.value for e in at.error]
    assert f"Cannot reach {url} to download 'xami_dataset.zip'" in error and "no cached copy" in error
    assert "hf_retry" in buttons(at) and metrics(at)["Images"] == SAMPLE_IMAGES


def test_a_new_session_removes_what_a_killed_extraction_left():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # its process id is now free: the owner is gone
    left = archive_mod.cache_dir() / "extracted" / ".xami_dataset-abcd1234.xami-partial"
    (left / "xami_dataset").mkdir(parents=True)
    (left / archive_mod.OWNER_FILE).write_text(f"{socket.gethostname()} {proc.pid}")
    busy = archive_mod.cache_dir() / "extracted" / ".xami_dataset-efgh5678.xami-partial"
    busy.mkdir()
    (busy / archive_mod.OWNER_FILE).write_text(f"{socket.gethostname()} {os.getpid()}")  # still running
    try:
        page_test()
        assert not left.exists() and busy.exists()
    finally:
        shutil.rmtree(busy, ignore_errors=True)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("XAMI_MAX_JSON_MB", "lots"),  # read by the COCO reader
        ("XAMI_MAX_IMAGE_PIXELS", "0"),  # read by the COCO reader and the frame headers
        ("XAMI_LOAD_TIMEOUT_S", "-1"),  # read by the load worker
    ],
)
def test_a_setting_that_stops_every_load_is_said_without_a_traceback(monkeypatch, name, value):
    from xami_ui import cache as st_cache  # noqa: PLC0415

    monkeypatch.setenv(name, value)
    st_cache._loaded_dataset.clear()  # as on a server started with the setting: nothing loaded yet
    st_cache.forget_failed_loads()
    try:
        for page in ("pages/overview.py", "pages/gallery.py"):
            at = page_test(page=page)  # no exception (page_test asserts it)
            (setting,) = [e.value for e in at.sidebar.error]
            assert setting.startswith("Deployment setting:") and f"{name}={value}: expected a positive number" in setting
            (error,) = [e.value for e in at.main.error]
            assert error.startswith("No data can be shown: even the bundled synthetic sample cannot be loaded.")
            assert f"{name}={value}" in error and not at.main.metric
    finally:
        monkeypatch.delenv(name)
        st_cache._loaded_dataset.clear()
        st_cache.forget_failed_loads()


def test_an_uploads_secret_key_is_not_shown_in_its_problems_or_errors(tmp_path):
    from tests import builders as b  # noqa: PLC0415

    good = b.image(0, width=64, height=64)
    anns = [b.polygon_ann(0, 0, 1, b.square(4, 4, 8)), b.polygon_ann(1, 0, 99, b.square(4, 4, 8))]  # class 99: a problem
    b.write_split(tmp_path / "tree" / "ds" / "train", b.coco([good], anns))
    at = _upload_in(page_test(query={"data": "upload"}), "mine.zip", b.zip_bytes(tmp_path / "tree"))
    key = at.session_state[sidebar._UPLOAD_KEY]
    (table,) = [d.value for d in at.dataframe if "outcome" in d.value.columns]
    assert list(table["file"]) == ["upload:/ds/train/_annotations.coco.json"]
    assert key not in " ".join(table.astype(str).to_numpy().ravel()) and key not in texts(at)
    archive_mod.delete_upload(key)
    # Nothing loadable: the error names the upload, not the cache folder.
    b.write_split(tmp_path / "none" / "ds" / "train", b.coco([{"id": 1, "file_name": "x.jpg"}], []), with_images=False)
    failed = _upload_in(page_test(query={"data": "upload"}), "none.zip", b.zip_bytes(tmp_path / "none"))
    (error,) = [e.value for e in failed.main.error]
    assert error.startswith("Could not load this data source.") and "No images could be loaded from upload:" in error
    assert failed.session_state[sidebar._UPLOAD_KEY] not in error and str(archive_mod.cache_dir()) not in error
    archive_mod.delete_upload(failed.session_state[sidebar._UPLOAD_KEY])


def test_a_refused_zip_is_said_again_on_a_rerun_not_stored_again(monkeypatch):
    calls = []
    real = archive_mod.extract_upload
    monkeypatch.setattr(archive_mod, "extract_upload", lambda *a, **k: calls.append(1) or real(*a, **k))
    at = _upload_in(page_test(query={"data": "upload"}), "broken.zip", b"not a zip at all")
    at.run()  # any click reruns the page
    (error,) = [e.value for e in at.main.error]
    assert error.startswith("Could not use the upload.") and "uploaded file 'broken.zip'" in error
    assert error.endswith("choose the file again to try once more.") and calls == [1]
    assert metrics(at)["Images"] == SAMPLE_IMAGES
