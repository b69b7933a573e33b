"""Cutting a shoe out of a frame: boxes, clipping, and where toe and heel land after alignment."""

from __future__ import annotations

import numpy as np
import pytest

from shoekit.app.cropping import MIN_CROP_SIDE, Box, aligned_points, crop
from shoekit.errors import ImageError


def test_box_from_corners_in_any_order():
    assert Box.from_corners(30.4, 40.6, 10, 20) == Box(10, 20, 20, 21)


def test_centred_square_sits_in_the_middle():
    box = Box.centred_square(200, 100, share=0.5)
    assert box == Box(75, 25, 50, 50)


def test_crop_copies_the_box_clipped_to_the_frame():
    frame = np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3)
    inside = crop(frame, Box(5, 2, 10, 8))
    np.testing.assert_array_equal(inside, frame[2:10, 5:15])
    inside[:] = 0
    assert frame[2, 5].any()  # a copy, not a view
    assert crop(frame, Box(20, 10, 50, 50)).shape == (10, 10, 3)


def test_a_box_mostly_outside_the_frame_is_refused():
    frame = np.zeros((20, 30, 3), np.uint8)
    with pytest.raises(ImageError, match=f"frame.png: .*at least {MIN_CROP_SIDE}"):
        crop(frame, Box(25, 0, 10, 10), "frame.png")


def test_aligned_points_are_level_with_the_toe_right():
    (toe_x, toe_y), (heel_x, heel_y) = aligned_points((10.0, 40.0), (30.0, 10.0))
    assert toe_y == pytest.approx(heel_y) and toe_x > heel_x
    assert toe_x - heel_x == pytest.approx(np.hypot(20, 30))
