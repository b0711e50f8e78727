"""Bounded work per request (issue 16): YAML aliases refused, JSON and archive member counts capped by settings."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from tests import builders as b
from xami_core import XamiDataError, load_dataset
from xami_core.io.archive import extracted_dir
from xami_core.io.coco import read_json
from xami_core.paths import setting_number

ROOT = Path(__file__).resolve().parents[1]
MEMORY_LIMIT = 2560 * 1024**2  # address space of the child: far above a refusal's needs, far below the bomb's 2.4 GB+
CHILD_TIMEOUT_S = 300  # a safety net for a busy machine, not a measurement


def _laughs(levels: int, key: str = "names") -> str:
    """A 'billion laughs' data.yaml: each level lists the previous one nine times (9**levels leaves)."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    return "\n".join([*lines, f"{key}: *a{levels}", ""])


CHILD = """
import json, resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
sys.path.insert(0, {root!r})
from xami_core.io.yolo import read_yolo
parts, problems = read_yolo(Path(sys.argv[1]))
print(json.dumps({{"splits": [p.split for p in parts], "problems": [[p.record, p.message] for p in problems]}}))
"""


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        # the reported bomb: 500 bytes, nested aliases under names
        (_laughs(9), "data.yaml uses YAML aliases (&/*), which this reader refuses"),
        # deeper still, under another key
        (_laughs(12, key="nc"), "data.yaml uses YAML aliases (&/*), which this reader refuses"),
        # an anchor without any alias is refused too (the rule is simple to state)
        ("names: &n [artefact]\n", "data.yaml uses YAML aliases (&/*), which this reader refuses"),
        # a plain data.yaml still reads (no problem)
        ("names: [artefact]\ntrain: train/images\n", None),
    ],
)
def test_data_yaml_aliases_refused_within_memory_limit(tmp_path, text, needle):
    root = tmp_path / "y"
    (root / "train" / "images").mkdir(parents=True)
    (root / "train" / "labels").mkdir()
    (root / "data.yaml").write_text(text)
    script = CHILD.format(limit=MEMORY_LIMIT, root=str(ROOT))
    done = subprocess.run([sys.executable, "-c", script, str(root)], capture_output=True, text=True,
                          timeout=CHILD_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if needle is None:
        assert result == {"splits": ["train"], "problems": []}
        return
    assert result["splits"] == []
    (record, message), = result["problems"]
    assert needle in message and record.startswith("line ") and len(message) < 200


@pytest.mark.parametrize(
    ("setting", "size", "read"),
    [
        ("", 5_000, True),  # unset: the default (512 MB) reads it
        ("0.01", 5_000, True),  # 10,485 bytes allowed, 5,000 read
        ("0.004", 5_000, False),  # 4,194 bytes allowed, 5,000 refused before parsing
    ],
)
def test_json_larger_than_the_setting_is_not_parsed(tmp_path, monkeypatch, setting, size, read):
    monkeypatch.setenv("XAMI_MAX_JSON_MB", setting)
    path = tmp_path / "_annotations.coco.json"
    text = json.dumps({"images": [], "annotations": [], "categories": [], "pad": ""})
    path.write_text(text[:-2] + "x" * (size - len(text)) + '"}')
    assert path.stat().st_size == size
    data, problem = read_json(path)
    if read:
        assert problem is None and data["pad"] == "x" * (size - len(text))
        return
    assert data is None
    assert problem.file == str(path) and "5,000 bytes" in problem.message and "XAMI_MAX_JSON_MB" in problem.message


def test_json_cap_applies_to_a_whole_load(tmp_path, monkeypatch):
    monkeypatch.setenv("XAMI_MAX_JSON_MB", "0.0001")  # 104 bytes
    folder = tmp_path / "d"
    b.write_split(folder, b.coco([b.image(0)], [b.polygon_ann(0, 0, 1, b.square(10, 10, 20))]))
    with pytest.raises(XamiDataError, match="XAMI_MAX_JSON_MB"):
        load_dataset(folder)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, 7.0),  # unset: the default
        ("  ", 7.0),  # blank: the default
        ("2.5", 2.5),  # a fraction
        ("0", XamiDataError),  # zero would switch the bound off or refuse everything
        ("-1", XamiDataError),  # negative
        ("lots", XamiDataError),  # not a number
        ("nan", XamiDataError),  # not a number either
        ("inf", XamiDataError),  # no bound at all
    ],
)
def test_setting_number(monkeypatch, raw, expected):
    if raw is None:
        monkeypatch.delenv("XAMI_TEST_SETTING", raising=False)
    else:
        monkeypatch.setenv("XAMI_TEST_SETTING", raw)
    if expected is XamiDataError:
        with pytest.raises(XamiDataError, match="XAMI_TEST_SETTING.*expected a positive number"):
            setting_number("XAMI_TEST_SETTING", 7.0)
    else:
        assert setting_number("XAMI_TEST_SETTING", 7.0) == expected


def _many_members(path: Path, n: int) -> Path:
    """A zip of one COCO file and n - 1 empty files."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ds/_annotations.coco.json", json.dumps(b.coco([], [])))
        for i in range(n - 1):
            zf.writestr(f"ds/extra/{i}.txt", b"")
    return path


@pytest.mark.parametrize(
    ("members", "limit", "refused"),
    [
        (20, "20", False),  # exactly at the limit: extracted
        (21, "20", True),  # one over: refused before anything is written
        (21, "", False),  # the default (50,000)
    ],
)
def test_member_limit_setting(tmp_path, monkeypatch, members, limit, refused):
    monkeypatch.setenv("XAMI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("XAMI_MAX_ZIP_MEMBERS", limit)
    archive = _many_members(tmp_path / "many.zip", members)
    if not refused:
        folder = extracted_dir(archive)
        assert len(list((folder / "ds" / "extra").iterdir())) == members - 1
        return
    with pytest.raises(XamiDataError, match=rf"{members} members, more than the limit of {limit} .*XAMI_MAX_ZIP_MEMBERS"):
        extracted_dir(archive)
    extracted = tmp_path / "cache" / "extracted"
    assert not extracted.exists() or list(extracted.iterdir()) == []


def _png(path: Path, width: int, height: int) -> None:
    """A real (decodable) grey PNG of width x height."""
    import cv2  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    cv2.imwrite(str(path), np.full((height, width), 90, np.uint8))


@pytest.mark.parametrize(
    ("setting", "shown"),
    [
        ("", True),  # the default, 8192 x 8192: a 64 x 48 frame is read and decoded
        ("3072", True),  # exactly 64 x 48 pixels: still read
        ("3071", False),  # one pixel fewer: too large, never decoded
    ],
)
def test_pixel_cap_setting_applies_to_the_loader_and_the_decoder(tmp_path, monkeypatch, setting, shown):
    from xami_core.render.overlay import load_frame  # noqa: PLC0415

    monkeypatch.setenv("XAMI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("XAMI_MAX_IMAGE_PIXELS", setting)
    folder = tmp_path / "d"
    name, small = b.file_name(1), b.file_name(2)
    b.write_split(folder, b.coco([b.image(0, name=name, width=64, height=48), b.image(1, name=small, width=16, height=16)],
                                 [b.polygon_ann(0, 0, 1, b.square(10, 10, 20))]), with_images=False)
    _png(folder / name, 64, 48)
    _png(folder / small, 16, 16)
    ds = load_dataset(folder)  # the small frame always loads
    too_large = [p for p in ds.problems if "too large" in p.message]
    assert (load_frame(folder / name) is not None) == shown
    if shown:
        assert too_large == [] and ds.images["file_status"].tolist() == ["ok", "ok"]
        return
    (problem,) = too_large
    assert problem.record == "image id 0" and problem.severity == "error"
    assert "a 64 x 48 frame has 3,072 pixels, more than this product reads (3,071, XAMI_MAX_IMAGE_PIXELS)" in problem.message
    assert ds.images["file_name"].tolist() == [small]


def test_pixel_cap_setting_bounds_declared_sizes(monkeypatch):
    from xami_core.limits import frame_size_problem  # noqa: PLC0415

    monkeypatch.setenv("XAMI_MAX_IMAGE_PIXELS", "1000")
    assert frame_size_problem(40, 25) is None  # 1,000 pixels: at the cap
    assert "more than this product reads (1,000, XAMI_MAX_IMAGE_PIXELS)" in frame_size_problem(40, 26)
    monkeypatch.setenv("XAMI_MAX_IMAGE_PIXELS", "many")
    with pytest.raises(XamiDataError, match="XAMI_MAX_IMAGE_PIXELS=many: expected a positive number"):
        frame_size_problem(40, 25)


OVERSIZED_CHILD = """
import json, struct, sys, zlib
from pathlib import Path
sys.path.insert(0, {root!r})
from xami_core import load_dataset
from xami_core.analysis import gallery
from xami_core.render.overlay import load_frame


def peak_mib():
    status = open("/proc/self/status").read()
    return int(status.split("VmHWM:")[1].split()[0]) // 1024


folder = Path(sys.argv[1])
before = peak_mib()
ds = load_dataset(folder)
big = ds.images.set_index("file_name").loc[sys.argv[2]]
frame = load_frame(big["path"])  # the detail view's decode
pictures = gallery.thumbnails(ds, ds.images["image_id"].tolist(), gallery.ThumbOptions(size=96), disk_cache=False)
print(json.dumps({{"decoded": frame is not None, "thumbnails": len(pictures), "status": big["file_status"],
                   "problems": [p.message for p in ds.problems], "grew_mib": peak_mib() - before}}))
"""


def _write_rgba_png(path: Path, width: int, height: int) -> None:
    """A real, decodable PNG of width x height black RGBA pixels (4 bytes each decoded; compressed, a few
    hundred KB), written row by row so the test itself never holds the decoded size."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    packer, row = zlib.compressobj(9), b"\x00" * (1 + 4 * width)  # filter byte 0, then the pixels
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def test_an_oversized_frame_declared_small_costs_no_memory_to_load_show_or_thumbnail(tmp_path):
    # 10000 x 10000 RGBA: 400 MB decoded, under PIL's own bomb error (178M pixels), over this product's cap (67M).
    folder = tmp_path / "d"
    small, big = b.file_name(1), b.file_name(2)
    b.write_split(folder, b.coco([b.image(0, name=small, width=16, height=16), b.image(1, name=big)],
                                 [b.polygon_ann(0, 1, 1, b.square(10, 10, 20))]), with_images=False)
    _png(folder / small, 16, 16)
    _write_rgba_png(folder / big, 10_000, 10_000)
    script = OVERSIZED_CHILD.format(root=str(ROOT))
    env = {k: v for k, v in os.environ.items() if not k.startswith("XAMI_")} | {"XAMI_CACHE": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-c", script, str(folder), big], capture_output=True, text=True,
                         timeout=CHILD_TIMEOUT_S, env=env, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == "too large" and not result["decoded"] and result["thumbnails"] == 2
    assert any("10000 x 10000 px, more than 67,108,864 pixels (XAMI_MAX_IMAGE_PIXELS)" in m for m in result["problems"])
    assert result["grew_mib"] < 150, result  # the 400 MB decode never happened
