"""Query images from users: conversions to RGB and clear rejections (shoekit.query_image)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from shoekit.errors import ImageError
from shoekit.query_image import load_query_image


def save(image: Image.Image, path, **options):
    image.save(path, **options)
    return path


def test_rgb_image_loads_unchanged(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    query = load_query_image(save(Image.fromarray(pixels), tmp_path / "crop.png"))
    np.testing.assert_array_equal(query.rgb, pixels)
    assert query.notes == [] and query.name.endswith("crop.png")


def test_grayscale_becomes_three_equal_channels(tmp_path):
    gray = np.arange(20 * 20, dtype=np.uint8).reshape(20, 20)
    query = load_query_image(save(Image.fromarray(gray), tmp_path / "gray.png"))
    assert query.rgb.shape == (20, 20, 3)
    np.testing.assert_array_equal(query.rgb[..., 1], gray)
    assert "grayscale" in query.notes[0]


def test_cmyk_jpeg_is_converted(tmp_path):
    query = load_query_image(save(Image.new("CMYK", (20, 20), (0, 255, 255, 0)), tmp_path / "cmyk.jpg"))
    red, green, blue = query.rgb[10, 10].astype(int)
    assert query.rgb.dtype == np.uint8 and red > 200 and green < 60 and blue < 60
    assert any("CMYK" in note for note in query.notes)


def test_sixteen_bit_grayscale_is_scaled_to_eight_bits(tmp_path):
    values = np.array([[0, 257 * 100, 65535]], dtype=np.uint16).repeat(20, axis=0).repeat(8, axis=1)
    query = load_query_image(save(Image.fromarray(values), tmp_path / "deep.png"))
    np.testing.assert_array_equal(query.rgb[0, [0, 8, 16], 0], [0, 100, 255])
    assert "16" in query.notes[0]


def test_alpha_is_composited_over_black(tmp_path):
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[:, :10, 3] = 255                      # left half opaque, right half transparent
    query = load_query_image(save(Image.fromarray(rgba, "RGBA"), tmp_path / "cutout.png"))
    assert query.rgb[5, 2].tolist() == [200, 200, 200] and query.rgb[5, 15].tolist() == [0, 0, 0]
    assert any("transparent" in note for note in query.notes)


def test_palette_with_transparency_is_converted(tmp_path):
    image = Image.new("P", (20, 20), 1)
    image.putpalette([0, 0, 0, 250, 10, 10] + [0] * 762)
    query = load_query_image(save(image, tmp_path / "palette.png", transparency=0))
    assert query.rgb[0, 0].tolist() == [250, 10, 10]
    assert any("palette" in note for note in query.notes)


def test_exif_orientation_turns_the_image_upright(tmp_path):
    image = Image.new("RGB", (40, 20), (10, 200, 10))
    exif = image.getexif()
    exif[0x0112] = 6                           # rotate 90° clockwise to display
    query = load_query_image(save(image, tmp_path / "phone.jpg", exif=exif))
    assert query.rgb.shape == (40, 20, 3)
    assert any("EXIF" in note for note in query.notes)


def test_long_thin_image_gets_a_note_about_the_square_resize(tmp_path):
    query = load_query_image(save(Image.new("RGB", (64, 20)), tmp_path / "wide.png"))
    assert any("aspect ratio 3.2" in note for note in query.notes)


@pytest.mark.parametrize("size, accepted", [((15, 40), False), ((16, 16), True)])
def test_minimum_side(tmp_path, size, accepted):
    path = save(Image.new("RGB", size), tmp_path / "small.png")
    if accepted:
        assert load_query_image(path).rgb.shape == (size[1], size[0], 3)
    else:
        with pytest.raises(ImageError, match=r"small.png: 15×40 px is too small \(at least 16 px"):
            load_query_image(path)


def test_huge_image_is_rejected_from_its_header(tmp_path):
    path = save(Image.new("1", (8000, 7000)), tmp_path / "frame.png")
    message = r"frame.png: 8000×7000 px \(56.0 megapixels\) is over the 50-megapixel limit"
    with pytest.raises(ImageError, match=message):
        load_query_image(path)


def test_max_pixels_is_a_parameter(tmp_path):
    path = save(Image.new("RGB", (100, 100)), tmp_path / "crop.png")
    with pytest.raises(ImageError, match="crop the shoe"):
        load_query_image(path, max_pixels=5000)


@pytest.mark.parametrize("content", [b"shoe,identity\n1,2\n", b""])
def test_a_file_that_is_not_an_image_is_rejected_by_name(tmp_path, content):
    path = tmp_path / "notes.png"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=r"notes.png: not an image file"):
        load_query_image(path)


def test_truncated_image_is_rejected(tmp_path):
    full = save(Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)),
                tmp_path / "full.png")
    cut = tmp_path / "cut.png"
    cut.write_bytes(full.read_bytes()[:400])
    with pytest.raises(ImageError, match=r"cut.png: cannot decode this image"):
        load_query_image(cut)


def test_missing_file_and_folder_are_rejected(tmp_path):
    with pytest.raises(ImageError, match=r"absent.png: no such file"):
        load_query_image(tmp_path / "absent.png")
    with pytest.raises(ImageError, match="is a folder"):
        load_query_image(tmp_path)


def test_upload_as_file_object_and_model_input(tmp_path):
    buffer = io.BytesIO()
    Image.new("L", (30, 40), 128).save(buffer, format="PNG")
    buffer.seek(0)
    query = load_query_image(buffer, name="upload.png")
    assert query.name == "upload.png" and query.rgb.shape == (40, 30, 3)
    tensor = query.model_input(24)
    assert tuple(tensor.shape) == (3, 24, 24) and str(tensor.dtype) == "torch.float32"
    assert abs(float(tensor.mean()) - 128 / 255) < 1e-3
