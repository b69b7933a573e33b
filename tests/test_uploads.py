"""Uploaded files stored for path-based readers: checked, named by content, reused."""

from __future__ import annotations

import pytest

from shoekit.errors import ImageError
from shoekit.app.uploads import store_upload

SUFFIXES = (".avi", ".mp4")


def test_store_upload_writes_once_per_content(tmp_path):
    first = store_upload(b"abc", "clip.MP4", SUFFIXES, 10, tmp_path)
    again = store_upload(b"abc", "other.mp4", SUFFIXES, 10, tmp_path)
    assert first == again and first.suffix == ".mp4" and first.read_bytes() == b"abc"
    assert store_upload(b"abd", "clip.mp4", SUFFIXES, 10, tmp_path) != first


@pytest.mark.parametrize("data, name, message", [
    (b"abc", "clip.txt", "clip.txt: .txt is not a file type"),
    (b"", "clip.avi", "clip.avi: the file is empty"),
    (b"x" * 11, "clip.avi", "clip.avi: 0.0 MB is too large .at most 0.0 MB"),
])
def test_store_upload_refuses_with_the_reason(tmp_path, data, name, message):
    with pytest.raises(ImageError, match=message):
        store_upload(data, name, SUFFIXES, 10, tmp_path)
    assert not list(tmp_path.iterdir())
