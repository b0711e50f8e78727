"""Hugging Face download against a local stand-in Hub: progress, caching, offline, failures, CLI.

The stand-in answers what `hf_hub_download` asks for: HEAD and GET (with Range) on
`/datasets/<repo>/resolve/<revision>/<file>`, with ETag, X-Repo-Commit and
Content-Length, and the Hub's `X-Error-Code` on a 404. No test touches the internet:
a socket guard refuses every connection that is not to 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import socket
import subprocess
import sys
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from tests import builders as b
from tests.test_yolo import coco_to_yolo
from xami_core import XamiDataError, load_dataset
from xami_core.cli import main as cli_main
from xami_core.io import hub as hub_mod
from xami_core.io.archive import COMPLETE_MARKER

ROOT = Path(__file__).resolve().parents[1]
COMMIT = "0123456789abcdef0123456789abcdef01234567"
RESOLVE = re.compile(r"/datasets/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)")


class StubHub:
    """A minimal Hub on 127.0.0.1 serving files of one dataset repo, counting requests."""

    def __init__(self, files: dict[str, bytes], repo: str = hub_mod.REPO_ID, raw: dict[str, bytes] | None = None):
        self.files, self.repo = dict(files), repo
        self.raw = dict(raw or {})  # other paths served as plain files (a stand-in for GitHub raw URLs)
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.cut_gets = 0  # how many of the next GETs are cut mid-file
        self.cut_at = 1000
        self.bytes_per_second: float | None = None  # throttle bodies, so a progress bar can be seen
        self.probes = 0  # reachability probes (HEAD /) before downloads
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return None

            def do_HEAD(self) -> None:  # noqa: N802 - http.server API
                stub.answer(self, send_body=False)

            def do_GET(self) -> None:  # noqa: N802
                stub.answer(self, send_body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _empty(self, h: BaseHTTPRequestHandler, status: int, headers: dict[str, str]) -> None:
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", "0")
        h.end_headers()

    def answer(self, h: BaseHTTPRequestHandler, send_body: bool) -> None:
        if h.path == "/":  # hub.unreachable_reason's probe: counted apart, so request counts stay the library's
            self.probes += 1
            return self._empty(h, 200, {})
        self.requests.append((h.command, h.path, dict(h.headers)))
        if h.path in self.raw:
            body = self.raw[h.path]
            h.send_response(200)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            if send_body:
                h.wfile.write(body)
            return None
        m = RESOLVE.fullmatch(h.path)
        if not m or m["repo"] != self.repo:
            return self._empty(h, 404, {"X-Error-Code": "RepoNotFound"})
        if m["file"] not in self.files:
            return self._empty(h, 404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT})
        data = self.files[m["file"]]
        start = 0
        if send_body and (rng := h.headers.get("Range")):
            start = int(re.match(r"bytes=(\d+)-", rng)[1])
        body = data[start:]
        h.send_response(206 if start else 200)
        h.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        h.send_header("X-Repo-Commit", COMMIT)
        h.send_header("Content-Length", str(len(body)))
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        h.end_headers()
        if not send_body:
            return None
        if self.cut_gets > 0:  # a connection cut mid-file
            self.cut_gets -= 1
            h.wfile.write(body[: self.cut_at])
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return None
        if self.bytes_per_second:
            step = max(int(self.bytes_per_second / 20), 1)
            for i in range(0, len(body), step):
                h.wfile.write(body[i:i + step])
                h.wfile.flush()
                time.sleep(step / self.bytes_per_second)
            return None
        h.wfile.write(body)
        return None

    def count(self, method: str | None = None) -> int:
        return sum(1 for r in self.requests if method is None or r[0] == method)


# ---------------------------------------------------------------- fixtures


def _tiny_coco_tree(root: Path) -> Path:
    """A tiny dataset in the published layout: xami_dataset/{train,valid}/ with JSON and frames."""
    train = b.coco([b.image(0), b.image(1), b.image(2)],
                   [b.polygon_ann(0, 0, 3, b.square(10, 10, 20)), b.polygon_ann(1, 0, 4, b.square(100, 100, 8)),
                    b.polygon_ann(2, 1, 5, b.square(200, 200, 40))])
    valid = b.coco([b.image(0, name=b.file_name(555020101, "U"))], [b.polygon_ann(0, 0, 1, b.square(250, 270, 20))])
    b.write_split(root / "xami_dataset" / "train", train)
    b.write_split(root / "xami_dataset" / "valid", valid)
    return root


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[str, bytes]:
    """The three published variants of the same tiny data, plus a malicious archive."""
    base = tmp_path_factory.mktemp("hubdata")
    coco_tree = _tiny_coco_tree(base / "coco")
    single = base / "single" / "xami_dataset_no_splits" / "data"
    data = b.coco([b.image(0), b.image(1), b.image(2), b.image(3, name=b.file_name(555020101, "U"))],
                  [b.polygon_ann(0, 0, 3, b.square(10, 10, 20)), b.polygon_ann(1, 0, 4, b.square(100, 100, 8)),
                   b.polygon_ann(2, 1, 5, b.square(200, 200, 40)), b.polygon_ann(3, 3, 1, b.square(250, 270, 20))])
    b.write_split(single, data)
    coco_to_yolo(coco_tree / "xami_dataset", base / "yolo" / "xami_dataset_yolov8")
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("xami_dataset/train/_annotations.coco.json", "{}")
        zf.writestr("../../escaped.txt", "gotcha")
    return {
        "xami_dataset.zip": b.zip_bytes(coco_tree),
        "xami_dataset_no_splits.zip": b.zip_bytes(base / "single"),
        "xami_dataset_yolov8.zip": b.zip_bytes(base / "yolo"),
        "evil.zip": evil.getvalue(),
    }


@pytest.fixture()
def no_internet(monkeypatch):
    """Refuse any connection that is not to the loopback interface."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "::1", "localhost") and self.family != socket.AF_UNIX:
            raise OSError(f"test tried to reach {address}: no internet in tests")
        return real_connect(self, address)

    real_getaddrinfo = socket.getaddrinfo

    def guarded_lookup(host, *args, **kwargs):
        if host not in (None, "127.0.0.1", "::1", "localhost"):
            raise OSError(f"test tried to look up {host}: no internet in tests")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_lookup)


def point_hf_at(hub: StubHub, hf_home: Path, monkeypatch) -> None:
    """Point huggingface_hub, in this process, at the stand-in with its cache in `hf_home`."""
    from huggingface_hub import constants

    for name in ("HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_TOKEN", "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HOME", str(hf_home))
    # huggingface_hub reads its settings once, at import: align its module constants too,
    # and switch off the user-agent look-up it would otherwise send to the endpoint.
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hf_home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(hf_home / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(hf_home / "stored_tokens"))


def hub_env(hub: StubHub, hf_home: Path) -> dict[str, str]:
    """Environment variables pointing another process (a Streamlit server) at the stand-in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    return env | {"HF_ENDPOINT": hub.url, "HF_HOME": str(hf_home), "HF_HUB_DISABLE_TELEMETRY": "1"}


@pytest.fixture()
def stub(archives, tmp_path, monkeypatch, no_internet):
    """A running stand-in Hub; HF_ENDPOINT, HF_HOME and the XAMI cache point at it and tmp."""
    hub = StubHub({k: v for k, v in archives.items() if k != "evil.zip"})
    point_hf_at(hub, tmp_path / "hf", monkeypatch)
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path / "xami"))
    yield hub
    hub.close()


def _blobs(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "hf" / "hub").rglob("blobs/*"))


def _extracted(tmp_path: Path) -> list[str]:
    folder = tmp_path / "xami" / "extracted"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ---------------------------------------------------------------- downloads


@pytest.mark.parametrize(
    ("variant", "layout", "splits"),
    [
        ("xami_dataset", "coco-splits", {"train": 3, "valid": 1}),  # the published split
        ("xami_dataset_no_splits", "coco-single", {"all": 4}),  # all images, input of the folds
        ("xami_dataset_yolov8", "yolov8-seg", {"train": 3, "valid": 1}),  # YOLOv8-seg layout
    ],
)
def test_first_download_reports_progress_and_loads(stub, archives, tmp_path, variant, layout, splits):
    reports: list[hub_mod.Progress] = []
    folder = hub_mod.hub_dataset_path(variant, progress=reports.append)
    size = len(archives[f"{variant}.zip"])
    assert (stub.count("HEAD"), stub.count("GET")) == (1, 1)
    downloads = [r for r in reports if r.stage == "download"]
    extracts = [r for r in reports if r.stage == "extract"]
    assert downloads and extracts and reports.index(extracts[0]) > reports.index(downloads[-1])
    assert [r.done for r in downloads] == sorted(r.done for r in downloads)
    assert downloads[-1].done == downloads[-1].total == size and downloads[-1].fraction == 1.0
    assert downloads[-1].rate > 0 and "MB/s" in hub_mod.format_progress(downloads[-1])
    assert (folder / COMPLETE_MARKER).exists()
    ds = load_dataset(folder, source=hub_mod.HUB_SOURCE)
    assert ds.provenance.layout == layout
    assert ds.images.groupby("split").size().to_dict() == splits
    assert len(ds.annotations) == 4 and ds.provenance.licence == "CC BY-NC 3.0 IGO"


def padded(archive: bytes, megabytes: float) -> bytes:
    """The archive with an extra stored (incompressible) member, so a download takes a while."""
    buf = io.BytesIO(archive)
    with zipfile.ZipFile(buf, "a") as zf:
        rng = np.random.default_rng(0)
        zf.writestr(zipfile.ZipInfo("xami_dataset/padding.bin"), rng.bytes(int(megabytes * 1e6)))
    return buf.getvalue()


def test_progress_moves_in_steps_of_at_most_a_megabyte(stub, archives, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 10 * 1024 * 1024)  # the library's default
    stub.files["xami_dataset.zip"] = padded(archives["xami_dataset.zip"], 3.5)
    reports: list[hub_mod.Progress] = []
    hub_mod.download_variant("xami_dataset", progress=reports.append)
    steps = np.diff([0] + [r.done for r in reports if r.stage == "download"])
    assert steps.max() <= hub_mod.PROGRESS_CHUNK_BYTES and (steps > 0).sum() >= 4


def test_byte_meter_reports_rate_for_the_stage():
    reports: list[hub_mod.Progress] = []
    meter = hub_mod.byte_meter("extract", reports.append)
    meter(500_000, 2_000_000)
    (p,) = reports
    assert (p.stage, p.done, p.total, p.fraction) == ("extract", 500_000, 2_000_000, 0.25) and p.rate > 0
    assert hub_mod.format_progress(p).startswith("Extracting: 0.5 of 2.0 MB (25%), ")
    hub_mod.byte_meter("download", None)(1, 2)  # no callback: nothing to do, no error
    unknown = hub_mod.Progress("download", 3_000_000, None, 1e6, 3.0)
    assert hub_mod.format_progress(unknown) == "Downloading: 3.0 MB, 1.0 MB/s"  # total unknown


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("xami_dataset", "xami_dataset.zip: COCO, published train/valid split (about 50.5 MB)"),
        ("xami_dataset_yolov8", "xami_dataset_yolov8.zip: YOLOv8-seg, train/valid split (about 51 MB)"),
    ],
)
def test_variant_labels(name, label):
    assert hub_mod.variant_label(name) == label


def test_second_call_uses_the_cache_without_network(stub, tmp_path):
    assert hub_mod.ready_dataset_path("xami_dataset") is None  # nothing yet
    hub_mod.download_variant("xami_dataset")
    assert hub_mod.ready_dataset_path("xami_dataset") is None  # downloaded, not yet extracted
    first = hub_mod.hub_dataset_path("xami_dataset")
    assert hub_mod.ready_dataset_path("xami_dataset") == first
    n_before = len(stub.requests)
    reports: list[hub_mod.Progress] = []
    again = hub_mod.hub_dataset_path("xami_dataset", progress=reports.append)
    assert again == first
    assert len(stub.requests) == n_before  # no request at all
    assert reports == []  # nothing downloaded, nothing extracted again
    assert len(_extracted(tmp_path)) == 1


def test_refresh_asks_the_hub_but_does_not_download_again(stub):
    hub_mod.hub_dataset_path("xami_dataset")
    stub.requests.clear()
    hub_mod.hub_dataset_path("xami_dataset", refresh=True)
    assert (stub.count("HEAD"), stub.count("GET")) == (1, 0)


def test_token_is_sent_as_users_expect(stub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_test_token_123")
    hub_mod.download_variant("xami_dataset")
    auth = {r[2].get("authorization") or r[2].get("Authorization") for r in stub.requests}
    assert auth == {"Bearer hf_test_token_123"}


def test_hf_hub_cache_overrides_hf_home(stub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))
    path = hub_mod.download_variant("xami_dataset")
    assert path.is_relative_to(tmp_path / "elsewhere")


# ---------------------------------------------------------------- offline


@pytest.mark.parametrize("how", ["env", "constant"])  # HF_HUB_OFFLINE set now, or before import
def test_offline_with_a_cached_copy_loads(stub, monkeypatch, how):
    from huggingface_hub import constants

    folder = hub_mod.hub_dataset_path("xami_dataset")
    stub.requests.clear()
    stub.close()  # the Hub is gone
    if how == "env":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert hub_mod.hub_dataset_path("xami_dataset") == folder
    assert hub_mod.hub_settings().offline


@pytest.mark.parametrize("how", ["env", "constant"])
def test_offline_without_a_copy_is_a_clear_error(stub, tmp_path, monkeypatch, how):
    from huggingface_hub import constants

    if how == "env":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(XamiDataError, match=r"Offline mode \(HF_HUB_OFFLINE\) is on and 'xami_dataset.zip'") as err:
        hub_mod.hub_dataset_path("xami_dataset")
    assert "sample stays available" in str(err.value)
    assert stub.requests == [] and _blobs(tmp_path) == [] and _extracted(tmp_path) == []


def test_unreachable_hub_without_a_copy_is_a_clear_error(stub, tmp_path):
    stub.close()
    with pytest.raises(XamiDataError, match=r"Cannot reach http://127\.0\.0\.1:\d+ to download") as err:
        hub_mod.hub_dataset_path("xami_dataset")
    assert "no cached copy" in str(err.value)
    assert _blobs(tmp_path) == [] and _extracted(tmp_path) == []


# ---------------------------------------------------------------- failures


def test_missing_file_is_a_clear_404(stub, tmp_path):
    del stub.files["xami_dataset_yolov8.zip"]
    with pytest.raises(XamiDataError, match=r"'xami_dataset_yolov8.zip' of iulia-elisa/XAMI-dataset at .*file not found \(HTTP 404\)"):
        hub_mod.hub_dataset_path("xami_dataset_yolov8")
    assert _blobs(tmp_path) == [] and _extracted(tmp_path) == []


def test_missing_repository_is_a_clear_error(stub, monkeypatch):
    monkeypatch.setattr(stub, "repo", "someone/else")
    with pytest.raises(XamiDataError, match="repository not found or not accessible"):
        hub_mod.download_variant("xami_dataset")


def test_unknown_variant_lists_the_valid_ones():
    with pytest.raises(XamiDataError, match="expected one of: xami_dataset, xami_dataset_no_splits, xami_dataset_yolov8"):
        hub_mod.download_variant("xami")


def test_connection_cut_mid_file_leaves_nothing(stub, tmp_path, monkeypatch):
    import huggingface_hub.file_download as fd

    monkeypatch.setattr(fd.time, "sleep", lambda s: None)  # huggingface_hub waits 1 s between resumes
    stub.cut_gets = 100  # every attempt is cut
    with pytest.raises(XamiDataError, match="failed and was discarded .*peer closed connection") as err:
        hub_mod.hub_dataset_path("xami_dataset")
    assert "try again" in str(err.value)
    assert stub.count("GET") > 1  # huggingface_hub tried to resume
    hf_files = [p for p in (tmp_path / "hf" / "hub").rglob("*") if p.is_file() and ".locks" not in p.parts]
    assert [p.name for p in hf_files] == ["CACHEDIR.TAG", "main"]  # only the ref: no blob, no .incomplete
    assert _extracted(tmp_path) == []
    # The next attempt, with a healthy connection, succeeds.
    stub.cut_gets = 0
    assert (hub_mod.hub_dataset_path("xami_dataset") / COMPLETE_MARKER).exists()


def test_connection_cut_once_resumes(stub, archives, monkeypatch):
    import huggingface_hub.file_download as fd

    monkeypatch.setattr(fd.time, "sleep", lambda s: None)
    stub.cut_gets = 1
    path = hub_mod.download_variant("xami_dataset")
    assert path.read_bytes() == archives["xami_dataset.zip"]
    # huggingface_hub retries; whether it asks for a Range depends on how much of the cut
    # body reached its buffer, so only the retry itself and the intact file are checked.
    gets = [r[2] for r in stub.requests if r[0] == "GET"]
    assert len(gets) == 2
    assert gets[0].get("Range") is None


def test_malicious_archive_is_refused(stub, archives, tmp_path):
    stub.files["xami_dataset.zip"] = archives["evil.zip"]
    with pytest.raises(XamiDataError, match=r"contains '\.\.'; refusing to extract"):
        hub_mod.hub_dataset_path("xami_dataset")
    assert _extracted(tmp_path) == []
    assert not list(tmp_path.rglob("escaped.txt"))


# ---------------------------------------------------------------- command line


def test_cli_download_to_dest_with_progress_bar(stub, tmp_path, capsys):
    dest = tmp_path / "out"
    assert cli_main(["download", "--variant", "xami_dataset", "--dest", str(dest)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(dest / "xami_dataset")
    assert "Downloading" in err and "Extracting" in err and "100%" in err
    ds = load_dataset(dest / "xami_dataset")
    assert len(ds.images) == 4
    # A second run: nothing fetched, the folder reused.
    stub.requests.clear()
    assert cli_main(["download", "--variant", "xami_dataset", "--dest", str(dest), "--quiet"]) == 0
    assert stub.requests == []


def test_cli_failure_is_a_message_and_exit_code(stub, capsys):
    del stub.files["xami_dataset.zip"]
    assert cli_main(["download", "--quiet"]) == 2
    assert "error: 'xami_dataset.zip' of iulia-elisa/XAMI-dataset" in capsys.readouterr().err


def test_cli_refuses_a_half_made_dest(stub, tmp_path, capsys):
    (tmp_path / "out" / "xami_dataset").mkdir(parents=True)
    assert cli_main(["download", "--dest", str(tmp_path / "out"), "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_cli_module_entry_point_lists_download():
    result = subprocess.run([sys.executable, "-m", "xami_core", "--help"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0 and "download" in result.stdout


# ---------------------------------------------------------------- an unreachable Hub is said quickly (issue 17)


class SilentListener:
    """A socket on 127.0.0.1 that accepts connections (the kernel does) but never answers."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self) -> None:
        self.sock.close()


def closed_port_url() -> str:
    """A loopback URL where nothing listens: a port bound, then released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def run_bounded(fn, limit_s: float = 15.0):
    """fn() in a thread: its result or exception, or a failure if it has not returned within `limit_s`.

    A generous bound, not a timing: huggingface_hub alone takes about 25 s (closed port)
    to minutes (silent server) here.
    """
    box: dict[str, object] = {}

    def target():
        try:
            box["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(limit_s)
    assert not thread.is_alive(), f"still waiting after {limit_s} s"
    if "error" in box:
        raise box["error"]
    return box.get("result")


@pytest.mark.parametrize(
    ("where", "detail"),
    [
        ("closed port", r"\(ConnectError: .*\)"),  # nothing listens: refused at once
        ("silent server", r"\(no answer within 4 s\)"),  # accepts the connection, never answers
    ],
)
def test_unreachable_hub_is_said_within_seconds(tmp_path, monkeypatch, no_internet, where, detail):
    silent = SilentListener() if where == "silent server" else None
    url = silent.url if silent else closed_port_url()
    point_hf_at(type("Endpoint", (), {"url": url})(), tmp_path / "hf", monkeypatch)
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path / "xami"))
    monkeypatch.delenv(hub_mod.PROBE_TIMEOUT_ENV, raising=False)  # the default: 4 s
    try:
        with pytest.raises(XamiDataError) as err:
            run_bounded(lambda: hub_mod.hub_dataset_path("xami_dataset"))
    finally:
        if silent:
            silent.close()
    message = str(err.value)
    assert re.match(rf"Cannot reach {re.escape(url)} to download 'xami_dataset.zip' of {hub_mod.REPO_ID} at "
                    rf"{re.escape(url)}, and no cached copy exists {detail}\. ", message), message
    assert "HF_HUB_OFFLINE=1" in message and message.endswith("The synthetic sample stays available.")
    assert _blobs(tmp_path) == [] and _extracted(tmp_path) == []


def test_refresh_with_the_hub_unreachable_keeps_the_cached_copy(stub):
    path = hub_mod.download_variant("xami_dataset")
    stub.close()
    assert run_bounded(lambda: hub_mod.download_variant("xami_dataset", refresh=True)) == path


@pytest.mark.parametrize(
    ("setting", "probes"),
    [
        (None, 1),  # default: one probe before the download
        ("2.5", 1),  # another timeout
        ("0", 0),  # switched off: huggingface_hub alone
    ],
)
def test_one_probe_before_a_download_none_for_a_cached_copy(stub, monkeypatch, setting, probes):
    if setting is None:
        monkeypatch.delenv(hub_mod.PROBE_TIMEOUT_ENV, raising=False)
    else:
        monkeypatch.setenv(hub_mod.PROBE_TIMEOUT_ENV, setting)
    hub_mod.download_variant("xami_dataset")
    assert stub.probes == probes and (stub.count("HEAD"), stub.count("GET")) == (1, 1)
    hub_mod.download_variant("xami_dataset")  # cached: no network at all
    assert stub.probes == probes


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("", hub_mod.DEFAULT_PROBE_TIMEOUT),  # unset
        ("2.5", 2.5),  # a number of seconds
        ("0", 0.0),  # off
        ("-3", 0.0),  # negative: off
        ("soon", hub_mod.DEFAULT_PROBE_TIMEOUT),  # not a number: the default
        ("nan", hub_mod.DEFAULT_PROBE_TIMEOUT),  # NaN: the default
    ],
)
def test_probe_timeout_setting(monkeypatch, value, seconds):
    monkeypatch.setenv(hub_mod.PROBE_TIMEOUT_ENV, value)
    assert hub_mod.probe_timeout() == seconds


# ---------------------------------------------------------------- a damaged copy in the Hub cache (issue 16, item 7)


def _damage_blob(tmp_path: Path) -> Path:
    """Cut the one cached blob to half its length (a truncated download), returning it."""
    (blob,) = _blobs(tmp_path)
    data = blob.read_bytes()
    blob.write_bytes(data[: len(data) // 2])
    return blob


@pytest.mark.parametrize("refresh", [False, True])  # a plain load, and --refresh (which used to fail for good)
def test_a_truncated_cached_blob_is_downloaded_again(stub, archives, tmp_path, refresh):
    hub_mod.download_variant("xami_dataset")
    _damage_blob(tmp_path)
    stub.requests.clear()
    folder = hub_mod.hub_dataset_path("xami_dataset", refresh=refresh)
    assert (folder / COMPLETE_MARKER).exists()
    assert stub.count("GET") == 1  # downloaded again, once
    (blob,) = _blobs(tmp_path)
    assert blob.read_bytes() == archives["xami_dataset.zip"]


def test_a_blob_damaged_at_the_source_says_what_to_do(stub, archives, tmp_path):
    good = archives["xami_dataset.zip"]
    stub.files["xami_dataset.zip"] = good[: len(good) // 2]  # the Hub (or a proxy) serves a cut file
    with pytest.raises(XamiDataError, match="still damaged after downloading it again") as err:
        hub_mod.hub_dataset_path("xami_dataset")
    assert "HTTPS_PROXY" in str(err.value) and "delete" in str(err.value)
    assert stub.count("GET") == 2  # the first download and one more, no loop
    assert _extracted(tmp_path) == []


def test_a_damaged_copy_while_offline_is_removed_and_said(stub, tmp_path, monkeypatch):
    hub_mod.download_variant("xami_dataset")
    _damage_blob(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(XamiDataError, match="was damaged .* and has been deleted; downloading it again failed: Offline"):
        hub_mod.hub_dataset_path("xami_dataset")
    assert _blobs(tmp_path) == [] and hub_mod.cached_archive("xami_dataset") is None


def test_a_damaged_zip_outside_the_hub_cache_is_never_deleted(stub, archives, tmp_path):
    good = archives["xami_dataset.zip"]
    local = tmp_path / "mine.zip"
    local.write_bytes(good[: len(good) // 2])
    with pytest.raises(XamiDataError, match="not a readable zip archive"):
        load_dataset(local)
    assert local.read_bytes() == good[: len(good) // 2]


def test_cli_extract_to_dest_downloads_a_damaged_copy_again(stub, archives, tmp_path):
    hub_mod.download_variant("xami_dataset_yolov8")
    _damage_blob(tmp_path)
    folder = hub_mod.extract_variant_to("xami_dataset_yolov8", tmp_path / "out")
    assert (folder / COMPLETE_MARKER).exists() and load_dataset(folder).provenance.layout == "yolov8-seg"
