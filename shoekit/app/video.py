"""CCTV video files read with OpenCV: probe, list every n-th frame, read one frame as RGB.

The paper cut a crop from every 2nd frame of 50 fps footage; `sampled_frames(count, step=2)`
lists those frame numbers. Frame numbers count from 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from shoekit.errors import ImageError

VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg")


@dataclass(frozen=True)
class VideoInfo:
    """What OpenCV reports about a video: frames, frames per second, frame size in pixels."""

    path: Path
    frame_count: int
    fps: float
    width: int
    height: int

    @property
    def seconds(self) -> float:
        return self.frame_count / self.fps if self.fps > 0 else 0.0


def open_capture(path: Path) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise ImageError(f"{path}: OpenCV cannot open this video; convert it to MP4 (H.264) or AVI "
                         "(MJPEG), e.g. with `ffmpeg -i input output.mp4`")
    return capture


def probe_video(path: str | Path) -> VideoInfo:
    """Frame count, fps and size of a video file; ImageError when it cannot be opened or is empty."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: video file not found; check the path")
    capture = open_capture(path)
    try:
        info = VideoInfo(path=path, frame_count=int(capture.get(cv2.CAP_PROP_FRAME_COUNT)),
                         fps=float(capture.get(cv2.CAP_PROP_FPS)),
                         width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                         height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    finally:
        capture.release()
    if info.frame_count <= 0 or info.width <= 0 or info.height <= 0:
        raise ImageError(f"{path}: the video has no readable frames; re-export it as MP4 or AVI")
    return info


def sampled_frames(frame_count: int, step: int = 2, start: int = 0) -> list[int]:
    """Frame numbers start, start + step, ... below `frame_count` (step >= 1)."""
    if step < 1:
        raise ValueError(f"step must be at least 1, not {step}")
    return list(range(max(start, 0), max(frame_count, 0), step))


def read_frame(path: str | Path, index: int) -> np.ndarray:
    """Frame `index` of the video as `(H, W, 3)` uint8 RGB; ImageError when it cannot be decoded."""
    path = Path(path)
    capture = open_capture(path)
    try:
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = capture.read()
    finally:
        capture.release()
    if not ok or frame is None:
        raise ImageError(f"{path}: frame {index} cannot be decoded (past the end, or a damaged "
                         "file); choose an earlier frame or re-export the video")
    return np.ascontiguousarray(frame[..., ::-1])
