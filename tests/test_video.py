"""Reading CCTV videos with OpenCV: probe, every n-th frame, one frame as RGB, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from shoekit.errors import ImageError
from shoekit.app.video import probe_video, read_frame, sampled_frames
from tests.workbench_fixtures import video_avi


def test_probe_and_read_frames(tmp_path):
    path = video_avi(tmp_path / "walk.avi", frames=6, size=(96, 72))
    info = probe_video(path)
    assert (info.frame_count, info.width, info.height) == (6, 96, 72)
    assert info.fps == pytest.approx(25.0) and info.seconds == pytest.approx(0.24)
    first, last = read_frame(path, 0), read_frame(path, 5)
    assert first.shape == (72, 96, 3) and first.dtype == np.uint8
    bright_columns = lambda frame: np.flatnonzero(frame[35].mean(axis=1) > 180)  # noqa: E731
    assert bright_columns(last).min() > bright_columns(first).min() + 30  # the square moved right


def test_sampled_frames_every_second_frame():
    assert sampled_frames(7, step=2) == [0, 2, 4, 6]
    assert sampled_frames(7, step=3, start=1) == [1, 4]
    with pytest.raises(ValueError):
        sampled_frames(7, step=0)


def test_unreadable_videos_are_named(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        probe_video(tmp_path / "missing.mp4")
    (tmp_path / "text.mp4").write_text("not a video")
    with pytest.raises(ImageError, match="text.mp4: OpenCV cannot open"):
        probe_video(tmp_path / "text.mp4")
    path = video_avi(tmp_path / "short.avi", frames=3)
    with pytest.raises(ImageError, match="frame 50 cannot be decoded"):
        read_frame(path, 50)
