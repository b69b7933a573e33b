"""Loading cut-outs from files, masking plain backgrounds, bad input, toe/heel estimation."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from shoekit.data.cutout import Cutout, estimate_toe_heel, load_cutout
from shoekit.data.procedural import make_shoe_types, render_cutout
from shoekit.errors import ImageError


def _wedge_mask(height: int = 60, width: int = 120) -> np.ndarray:
    """A side-view-like mask: tall at the left (heel) end, tapering to the right (toe)."""
    alpha = np.zeros((height, width), np.uint8)
    for x in range(10, 110):
        top = int(10 + 30 * (x - 10) / 100)  # the top edge falls towards the toe
        alpha[top:50, x] = 255
    return alpha


def _on_mask(alpha: np.ndarray, point) -> bool:
    x, y = (int(round(c)) for c in point)
    return bool(alpha[y, x] >= 128)


def test_rgba_png_loads_with_toe_and_heel_on_the_mask(tmp_path):
    shoe = render_cutout(make_shoe_types(1)[0], "right", size=64)
    path = tmp_path / "shoe.png"
    Image.fromarray(shoe.rgba).save(path)

    cutout = load_cutout(path)

    assert isinstance(cutout, Cutout)
    assert cutout.rgba.shape == (64, 64, 4) and cutout.rgba.dtype == np.uint8
    np.testing.assert_array_equal(cutout.rgba[..., 3], shoe.rgba[..., 3])
    assert _on_mask(cutout.rgba[..., 3], cutout.toe)
    assert _on_mask(cutout.rgba[..., 3], cutout.heel)


def test_rgb_on_plain_background_is_masked(tmp_path):
    rgb = np.full((60, 120, 3), 250, np.uint8)
    rgb[_wedge_mask() > 0] = (40, 60, 160)
    path = tmp_path / "photo.jpg"
    Image.fromarray(rgb).save(path, quality=95)

    cutout = load_cutout(path)

    alpha = cutout.rgba[..., 3]
    assert alpha[0].max() == 0 and alpha[:, 0].max() == 0  # the border is background
    overlap = ((alpha >= 128) == (_wedge_mask() > 0)).mean()
    assert overlap > 0.97
    assert cutout.toe[0] > cutout.heel[0]  # the thin end of the wedge is the toe


def test_rgb_on_busy_background_is_rejected_naming_the_file(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (60, 120, 3), dtype=np.uint8)
    path = tmp_path / "busy.png"
    Image.fromarray(rgb).save(path)
    with pytest.raises(ImageError, match="busy.png.*transparent background"):
        load_cutout(path)


@pytest.mark.parametrize(
    "name, write, message",
    [
        ("tiny.png", lambda p: Image.new("RGBA", (8, 30), (200, 0, 0, 255)).save(p), "at least 16 px"),
        ("empty.png", lambda p: Image.new("RGBA", (64, 64), (0, 0, 0, 0)).save(p), "mask is empty"),
        ("corrupt.png", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\nnot really a png"), "cannot read"),
    ],
)
def test_bad_images_raise_image_error_naming_the_file(tmp_path, name, write, message):
    path = tmp_path / name
    write(path)
    with pytest.raises(ImageError, match=f"{name}.*{message}"):
        load_cutout(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ImageError, match="nowhere.png: no such file"):
        load_cutout(tmp_path / "nowhere.png")


def test_toe_is_the_thinner_end_and_follows_the_axis():
    alpha = _wedge_mask()
    toe, heel = estimate_toe_heel(alpha)
    assert toe[0] > 95 and heel[0] < 25  # the ends of the long (horizontal) axis
    assert _on_mask(alpha, toe) and _on_mask(alpha, heel)

    flipped_toe, flipped_heel = estimate_toe_heel(alpha[:, ::-1])
    assert flipped_toe[0] < 25 and flipped_heel[0] > 95

    upright_toe, upright_heel = estimate_toe_heel(np.ascontiguousarray(alpha.T))
    assert upright_toe[1] > 95 and upright_heel[1] < 25  # the axis turns with the mask


def test_estimate_on_an_empty_mask_raises():
    with pytest.raises(ImageError, match="opaque pixels"):
        estimate_toe_heel(np.zeros((32, 32), np.uint8))
