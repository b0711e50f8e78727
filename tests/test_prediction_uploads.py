"""Stored prediction uploads (xami_ui.predictions): one file per content, removed once unused past the uploads' TTL."""

from __future__ import annotations

import os
import time

from xami_ui.predictions import UPLOAD_DIR, remove_expired_uploads, store_upload


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
