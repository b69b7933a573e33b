"""Toe–heel alignment: angles, shapes, and simulated crops coming back level within 2°."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from shoekit.data.alignment import align, alignment_matrix, toe_heel_angle
from shoekit.data.cctv import CAMERAS, render_crop, sample_params, simulate_crop
from shoekit.data.cutout import Cutout
from shoekit.data.procedural import make_shoe_types, render_cutout

TOLERANCE_DEG = 2.0


def _angle_difference(a: float, b: float, period: float = 360.0) -> float:
    return abs((a - b + period / 2) % period - period / 2)


def _axis_angle(mask: np.ndarray) -> float:
    """Principal axis of a boolean mask, in degrees in [0, 180), image coordinates (y down)."""
    ys, xs = np.nonzero(mask)
    cov = np.cov(np.stack([xs, ys]).astype(np.float64))
    return math.degrees(0.5 * math.atan2(2 * cov[0, 1], cov[0, 0] - cov[1, 1])) % 180.0


def _apply(matrix: np.ndarray, point) -> np.ndarray:
    return matrix @ np.array([point[0], point[1], 1.0])


@pytest.mark.parametrize("toe, heel, expected", [
    ((10, 0), (0, 0), 0.0), ((0, 10), (0, 0), 90.0), ((-10, 0), (0, 0), 180.0),
    ((0, -10), (0, 0), -90.0), ((5, 5), (0, 0), 45.0),
])
def test_toe_heel_angle(toe, heel, expected):
    assert toe_heel_angle(toe, heel) == pytest.approx(expected)


@pytest.mark.parametrize("shape, dtype", [((40, 50), np.uint8), ((40, 50, 3), np.uint8),
                                          ((40, 50, 4), np.float32)])
def test_align_keeps_shape_and_dtype(shape, dtype):
    image = np.random.default_rng(0).integers(0, 255, shape).astype(dtype)
    aligned = align(image, toe=(10.0, 30.0), heel=(35.0, 12.0))
    assert aligned.shape == image.shape and aligned.dtype == image.dtype


def test_corners_are_filled_with_the_border_colour_not_black():
    floor = np.full((40, 40, 3), (90, 120, 60), np.uint8)
    aligned = align(floor, toe=(30.0, 30.0), heel=(10.0, 10.0))  # a 45° turn
    np.testing.assert_array_equal(aligned, floor)


def test_level_input_is_left_unchanged():
    image = np.random.default_rng(1).integers(0, 255, (30, 30, 3)).astype(np.uint8)
    np.testing.assert_array_equal(align(image, toe=(25.0, 14.5), heel=(4.0, 14.5)), image)


@pytest.mark.parametrize("angle", [0.0, 37.0, 90.0, 150.0, -120.0, 180.0])
def test_matrix_levels_the_line_with_the_toe_on_the_right(angle):
    heel = (50.0, 50.0)
    toe = (50.0 + 30 * math.cos(math.radians(angle)), 50.0 + 30 * math.sin(math.radians(angle)))
    matrix = alignment_matrix(toe, heel)
    new_toe, new_heel = _apply(matrix, toe), _apply(matrix, heel)
    assert new_toe[1] == pytest.approx(new_heel[1], abs=1e-9)
    assert new_toe[0] > new_heel[0]
    np.testing.assert_allclose((new_toe + new_heel) / 2, (np.add(toe, heel)) / 2, atol=1e-9)


def test_simulated_crops_come_back_level_on_their_keypoints():
    cutouts = [render_cutout(shoe, view, size=64)
               for shoe, view in zip(make_shoe_types(3, seed=2), ("left", "front", "three_quarter"))]
    for seed in range(24):
        crop = simulate_crop(cutouts[seed % 3], seed=seed, camera="cam3", size=96)
        matrix = alignment_matrix(crop.toe, crop.heel)
        toe, heel = _apply(matrix, crop.toe), _apply(matrix, crop.heel)
        assert toe_heel_angle(toe, heel) == pytest.approx(0.0, abs=TOLERANCE_DEG)


def _magenta(cutout: Cutout) -> Cutout:
    """The same silhouette painted flat magenta: easy to find again on any floor."""
    rgba = cutout.rgba.copy()
    rgba[..., :3] = (255, 0, 255)
    return Cutout(rgba=rgba, toe=cutout.toe, heel=cutout.heel)


@pytest.mark.parametrize("rotation", [-60.0, -25.0, 10.0, 45.0])
def test_aligned_image_content_is_level(rotation):
    """The shoe's principal axis in the aligned crop sits where it sat relative to the toe–heel
    line in the clean cut-out: the pixels were turned, not just the keypoints."""
    cutout = _magenta(render_cutout(make_shoe_types(1, seed=4)[0], "right", size=96))
    reference = _axis_angle(cutout.rgba[..., 3] >= 128) - toe_heel_angle(cutout.toe, cutout.heel)
    drawn = sample_params(np.random.default_rng(0), CAMERAS["cam1"], floor="asphalt")
    clean = dataclasses.replace(
        drawn, scale=0.5, shift_x=0.0, shift_y=0.0, rotation_deg=rotation, perspective_x=0.0,
        perspective_y=0.0, motion_blur_px=0.0, defocus_sigma=0.0, brightness=1.0, cast_red=0.0,
        cast_blue=0.0, gamma=1.0, sensor_px=120, noise_sigma=0.0, jpeg_quality=95, shadow=0.0)
    crop = render_crop(cutout, clean, seed=0, size=120)

    aligned = align(crop.image, crop.toe, crop.heel).astype(np.int32)
    shoe = (aligned[..., 0] > 150) & (aligned[..., 2] > 150) & (aligned[..., 1] < 110)

    assert shoe.sum() > 300
    assert _angle_difference(_axis_angle(shoe), reference, period=180.0) < TOLERANCE_DEG
