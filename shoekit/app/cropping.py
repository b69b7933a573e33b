"""Cut a shoe out of a CCTV frame: a pixel box, clipped to the frame, and points moved into it.

Coordinates are pixels, x to the right and y down, with (0, 0) the frame's top-left corner;
a box covers columns x .. x + width - 1 and rows y .. y + height - 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shoekit.data.alignment import alignment_matrix
from shoekit.errors import ImageError

MIN_CROP_SIDE = 8

Point = tuple[float, float]


@dataclass(frozen=True)
class Box:
    """A pixel box: top-left corner (x, y), width and height (ints)."""

    x: int
    y: int
    width: int
    height: int

    @classmethod
    def from_corners(cls, x0: float, y0: float, x1: float, y1: float) -> "Box":
        """The box spanning two opposite corners given in any order (rounded to pixels)."""
        left, right = sorted((round(x0), round(x1)))
        top, bottom = sorted((round(y0), round(y1)))
        return cls(left, top, right - left, bottom - top)

    @classmethod
    def centred_square(cls, frame_width: int, frame_height: int, share: float = 0.4) -> "Box":
        """A square `share` of the frame's shorter side, in the middle of the frame."""
        side = max(MIN_CROP_SIDE, round(min(frame_width, frame_height) * share))
        return cls((frame_width - side) // 2, (frame_height - side) // 2, side, side)

    def clipped(self, frame_width: int, frame_height: int) -> "Box":
        """The part of the box inside a frame of that size (width/height 0 when outside)."""
        left, top = max(self.x, 0), max(self.y, 0)
        right = min(self.x + self.width, frame_width)
        bottom = min(self.y + self.height, frame_height)
        return Box(left, top, max(right - left, 0), max(bottom - top, 0))


def crop(frame: np.ndarray, box: Box, source: str = "frame") -> np.ndarray:
    """The pixels of `frame` `(H, W, C)` inside `box` (clipped to the frame), as a copy.

    ImageError naming `source` when less than MIN_CROP_SIDE px of the box lies in the frame.
    """
    height, width = frame.shape[:2]
    inside = box.clipped(width, height)
    if min(inside.width, inside.height) < MIN_CROP_SIDE:
        raise ImageError(f"{source}: the box x={box.x}, y={box.y}, {box.width}×{box.height} px leaves "
                         f"{inside.width}×{inside.height} px inside the {width}×{height} frame; draw a box of "
                         f"at least {MIN_CROP_SIDE}×{MIN_CROP_SIDE} px around the shoe")
    return frame[inside.y:inside.y + inside.height, inside.x:inside.x + inside.width].copy()


def aligned_points(toe: Point, heel: Point, points: list[Point] | None = None) -> list[Point]:
    """Where `points` (default: toe and heel) land after `shoekit.data.align(image, toe, heel)`."""
    matrix = alignment_matrix(toe, heel)
    points = [toe, heel] if points is None else points
    moved = np.hstack([np.asarray(points, np.float64), np.ones((len(points), 1))]) @ matrix.T
    return [(float(x), float(y)) for x, y in moved]
