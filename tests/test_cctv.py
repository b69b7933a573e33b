"""CCTV simulation: determinism, shapes, keypoints that follow the shoe, floors, ranges."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from shoekit.data.cctv import (
    CAMERAS, FACTORS, INTEGER_FACTORS, CCTVParams, Crop, render_crop, sample_params, simulate_crop,
)
from shoekit.data.cutout import Cutout
from shoekit.data.floors import FLOORS, render_floor
from shoekit.data.procedural import make_shoe_types, render_cutout
from shoekit.errors import ImageError

SHOES = make_shoe_types(2, seed=5)


@pytest.fixture(scope="module")
def cutouts() -> list[Cutout]:
    return [render_cutout(SHOES[0], "left", size=64), render_cutout(SHOES[1], "front", size=64),
            render_cutout(SHOES[0], "three_quarter", size=64)]


def _clean(params: CCTVParams) -> CCTVParams:
    """`params` with its geometry kept and every image degradation switched off."""
    return dataclasses.replace(
        params, motion_blur_px=0.0, defocus_sigma=0.0, brightness=1.0, cast_red=0.0, cast_blue=0.0,
        gamma=1.0, sensor_px=120, noise_sigma=0.0, jpeg_quality=95, shadow=0.0)


def test_same_seed_same_bytes_different_seed_different_image(cutouts):
    first = simulate_crop(cutouts[0], seed=11)
    again = simulate_crop(cutouts[0], seed=11)
    other = simulate_crop(cutouts[0], seed=12)
    assert first.image.tobytes() == again.image.tobytes()
    assert (first.toe, first.heel, first.params) == (again.toe, again.heel, again.params)
    assert first.image.tobytes() != other.image.tobytes()


@pytest.mark.parametrize("size", [120, 48])
def test_crop_shape_and_dtype(cutouts, size):
    crop = simulate_crop(cutouts[1], seed=3, size=size)
    assert isinstance(crop, Crop)
    assert crop.image.shape == (size, size, 3) and crop.image.dtype == np.uint8
    assert crop.image.flags.c_contiguous


def test_keypoints_stay_inside_the_crop(cutouts):
    for seed in range(60):
        crop = simulate_crop(cutouts[seed % 3], seed=seed, size=64)
        for x, y in (crop.toe, crop.heel):
            assert 0.0 <= x <= 63.0 and 0.0 <= y <= 63.0, (seed, crop.toe, crop.heel)


def _marked(cutout: Cutout) -> Cutout:
    """The cut-out painted green, with a red disc at the toe and a blue disc at the heel."""
    rgba = cutout.rgba.copy()
    rgba[..., :3] = (0, 160, 0)
    ys, xs = np.mgrid[:rgba.shape[0], :rgba.shape[1]]
    for (x, y), colour in ((cutout.toe, (255, 0, 0)), (cutout.heel, (0, 0, 255))):
        rgba[(xs - x) ** 2 + (ys - y) ** 2 <= 16] = (*colour, 255)
    return Cutout(rgba=rgba, toe=cutout.toe, heel=cutout.heel)


def test_keypoints_follow_the_shoe(cutouts):
    """Rotation, scale, shift and keystone move the toe's pixels to the reported toe."""
    for seed in range(12):
        cutout = _marked(cutouts[seed % 3])
        params = _clean(sample_params(np.random.default_rng(seed), CAMERAS["cam3"]))
        crop = render_crop(cutout, params, seed=seed, size=120)
        toe = crop.image[int(round(crop.toe[1])), int(round(crop.toe[0]))].astype(int)
        heel = crop.image[int(round(crop.heel[1])), int(round(crop.heel[0]))].astype(int)
        assert toe[0] > 150 and toe[1] < 100 and toe[2] < 100, (seed, toe)
        assert heel[2] > 150 and heel[0] < 100 and heel[1] < 100, (seed, heel)


def test_every_floor_renders_deterministically_and_they_differ():
    floors = {}
    for name in FLOORS:
        image = render_floor(name, 48, np.random.default_rng(0))
        assert image.shape == (48, 48, 3) and image.dtype == np.uint8
        assert image.tobytes() == render_floor(name, 48, np.random.default_rng(0)).tobytes()
        assert image.std() > 1.0  # a texture, not a flat colour
        floors[name] = image.astype(np.float32)
    names = list(floors)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert np.abs(floors[a] - floors[b]).mean() > 5.0, (a, b)


def test_unknown_floor_and_camera_are_rejected(cutouts):
    with pytest.raises(ValueError, match="unknown floor 'lava'"):
        render_floor("lava", 16, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown floor"):
        simulate_crop(cutouts[0], seed=0, floor="lava")
    with pytest.raises(ValueError, match="unknown camera 'cam9'"):
        simulate_crop(cutouts[0], seed=0, camera="cam9")


def _assert_in_ranges(params: CCTVParams) -> None:
    ranges = CAMERAS[params.camera]
    assert params.floor in FLOORS
    for factor in FACTORS:
        low, high = getattr(ranges, factor)
        value = getattr(params, factor)
        assert low <= value <= high, (params.camera, factor, value)
        if factor in INTEGER_FACTORS:
            assert isinstance(value, int)


def test_sampled_parameters_stay_inside_their_ranges():
    assert len(CAMERAS) >= 3
    rng = np.random.default_rng(0)
    for ranges in CAMERAS.values():
        drawn = [sample_params(rng, ranges) for _ in range(200)]
        for params in drawn:
            assert params.camera == ranges.name
            _assert_in_ranges(params)
        assert {p.floor for p in drawn} == set(FLOORS)


def test_crop_params_stay_inside_their_ranges_and_honour_choices(cutouts):
    for seed in range(30):
        crop = simulate_crop(cutouts[seed % 3], seed=seed, size=48)
        _assert_in_ranges(crop.params)
    fixed = simulate_crop(cutouts[0], seed=5, floor="wood", camera="cam2", size=48)
    assert (fixed.params.floor, fixed.params.camera) == ("wood", "cam2")


def test_fixing_the_floor_keeps_the_other_factors():
    free = sample_params(np.random.default_rng(9), CAMERAS["cam1"])
    fixed = sample_params(np.random.default_rng(9), CAMERAS["cam1"], floor="carpet")
    assert dataclasses.replace(free, floor="carpet") == fixed


@pytest.mark.parametrize("factor", FACTORS)
def test_every_factor_changes_the_image(cutouts, factor):
    ranges = CAMERAS["cam2"]
    base = sample_params(np.random.default_rng(1), ranges, floor="ceramic_tiles")
    images = []
    for value in getattr(ranges, factor):
        params = dataclasses.replace(base, **{factor: type(getattr(base, factor))(value)})
        images.append(render_crop(cutouts[0], params, seed=4, size=64).image)
    assert np.abs(images[0].astype(int) - images[1].astype(int)).mean() > 0.1


def test_a_cutout_without_opaque_pixels_is_rejected():
    empty = Cutout(rgba=np.zeros((32, 32, 4), np.uint8), toe=(20.0, 16.0), heel=(10.0, 16.0))
    with pytest.raises(ImageError, match="no opaque pixels"):
        simulate_crop(empty, seed=0)
