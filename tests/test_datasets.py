"""Image loading, transforms and the ShoeCrops dataset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from shoekit.data.datasets import ShoeCrops, eval_transform, load_image_rgb, train_transform
from shoekit.errors import ImageError, ManifestError
from tests.conftest import png_header_only


def halves(size: int = 16) -> np.ndarray:
    """(size, size, 3) uint8: red left half, blue right half."""
    image = np.zeros((size, size, 3), np.uint8)
    image[:, : size // 2, 0] = 255
    image[:, size // 2:, 2] = 255
    return image


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "LA", "RGBA", "RGB"])
def test_load_image_rgb_converts_modes(tmp_path, mode):
    path = tmp_path / ("image.tif" if mode == "CMYK" else "image.png")
    Image.fromarray(halves()).convert(mode).save(path)
    image = load_image_rgb(path)
    assert image.shape == (16, 16, 3) and image.dtype == np.uint8


BLOCK = 8  # px: a 2×2 test pattern drawn as 16×16, the image policy's smallest image


def blocks(pixels: np.ndarray) -> np.ndarray:
    """`pixels` (H, W[, C]) with every pixel repeated as a BLOCK × BLOCK square."""
    return pixels.repeat(BLOCK, axis=0).repeat(BLOCK, axis=1)


def test_images_outside_the_size_policy_are_refused_before_decoding(tmp_path):
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tmp_path / "dot.png")
    with pytest.raises(ImageError, match=r"dot\.png: 1×1 px is too small \(at least 16 px a side\)"):
        load_image_rgb(tmp_path / "dot.png")
    huge = png_header_only(tmp_path / "huge.png", 12_000, 12_000)
    with pytest.raises(ImageError, match=r"huge\.png: 12000×12000 px \(144\.0 megapixels\) is over the "
                       r"50-megapixel limit"):
        load_image_rgb(huge)


def test_sixteen_bit_grayscale_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257 * 100], [65535, 257 * 255]], np.uint16)
    Image.fromarray(blocks(values)).save(tmp_path / "deep.png")
    image = load_image_rgb(tmp_path / "deep.png")[::BLOCK, ::BLOCK]
    assert image[..., 0].tolist() == [[0, 100], [255, 255]]
    assert (image[..., 0] == image[..., 2]).all()


def test_alpha_is_composited_over_black(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[0, 0, 3], rgba[0, 1, 3], rgba[1, :, 3] = 0, 255, 128
    Image.fromarray(blocks(rgba)).save(tmp_path / "cut.png")
    image = load_image_rgb(tmp_path / "cut.png")[::BLOCK, ::BLOCK]
    assert image[0, 0].tolist() == [0, 0, 0] and image[0, 1].tolist() == [200, 200, 200]
    assert image[1, 0].tolist() == [100, 100, 100]


def test_missing_and_corrupt_images_name_the_file(tmp_path):
    with pytest.raises(ImageError, match=r"gone\.png: image file not found"):
        load_image_rgb(tmp_path / "gone.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ImageError, match=r"bad\.png: cannot read this image"):
        load_image_rgb(tmp_path / "bad.png")


def test_eval_transform_resizes_without_normalising():
    tensor = eval_transform(8)(np.full((20, 30, 3), 255, np.uint8))
    assert tensor.shape == (3, 8, 8) and tensor.dtype == torch.float32
    assert type(tensor) is torch.Tensor and torch.allclose(tensor, torch.ones_like(tensor))


def test_train_transform_flips_sometimes_and_erases():
    torch.manual_seed(0)
    flip = train_transform(16)
    left_reds = {round(flip(halves())[0, :, 0].mean().item()) for _ in range(20)}
    assert left_reds == {0, 1}
    erased = train_transform(16, random_erasing=1.0)(np.full((16, 16, 3), 255, np.uint8))
    assert erased.min() == 0 and erased.max() == 1


def test_shoe_crops_rows_labels_and_items(tiny_dataset):
    crops = ShoeCrops(tiny_dataset, ["query", "gallery"])
    manifest = pd.read_csv(tiny_dataset / "manifest.csv")
    expected_rows = manifest.index[manifest["split"].isin(["query", "gallery"])].tolist()
    assert crops.rows["row"].tolist() == expected_rows
    assert crops.identities == manifest.loc[expected_rows, "identity"].tolist()
    assert crops.label_map == {"id4": 0, "id5": 1, "id6": 2}
    image, label, index = crops[7]
    assert image.shape == (3, 32, 32) and 0.0 <= image.min() and image.max() <= 1.0
    assert (label, index) == (crops.label_map[crops.identities[7]], 7)
    batch = next(iter(torch.utils.data.DataLoader(crops, batch_size=4)))
    assert batch[0].shape == (4, 3, 32, 32) and batch[1].tolist() == [0, 0, 0, 0]


def test_shoe_crops_with_given_label_map_and_transform(tiny_dataset):
    crops = ShoeCrops(tiny_dataset, ["train"], transform=eval_transform(8),
                      label_map={f"id{i}": 10 + i for i in range(4)})
    assert len(crops) == 32 and crops[31][0].shape == (3, 8, 8) and crops[31][1] == 13
    with pytest.raises(ManifestError, match=r"row 8 \(line 10\): identity 'id1' is not in"):
        ShoeCrops(tiny_dataset, ["train"], label_map={"id0": 0})


def test_cached_crops_equal_decoded_ones_and_survive_the_files(tiny_dataset):
    plain = ShoeCrops(tiny_dataset, ["train"], transform=eval_transform(16))
    cached = ShoeCrops(tiny_dataset, ["train"], transform=eval_transform(16), cache=True)
    assert plain.cached is None and len(cached.cached) == len(plain) == 32
    assert cached.cached[5].dtype == np.uint8 and cached.cached[5].shape[2] == 3
    for index in (0, 13, 31):
        torch.testing.assert_close(cached[index][0], plain[index][0], rtol=0, atol=0)
        assert cached[index][1:] == plain[index][1:]
    (tiny_dataset / "images/id0/0.png").unlink()  # decoded once: the epochs read no file
    assert cached[0][0].shape == (3, 16, 16)


def test_shoe_crops_rejects_unknown_split(tiny_dataset):
    with pytest.raises(ManifestError, match="unknown split"):
        ShoeCrops(tiny_dataset, ["test"])


def test_shoe_crops_missing_file_raises_image_error(tiny_dataset):
    (tiny_dataset / "images/id0/0.png").unlink()
    crops = ShoeCrops(tiny_dataset, ["train"])
    with pytest.raises(ImageError, match=r"id0/0\.png"):
        crops[0]


def test_align_uses_keypoints_toe_goes_right(tmp_path):
    Image.fromarray(halves()).save(tmp_path / "a.png")
    Image.fromarray(halves()).save(tmp_path / "b.png")
    (tmp_path / "manifest.csv").write_text(
        "path,identity,split,toe_x,toe_y,heel_x,heel_y\n"
        "a.png,x,train,2,7.5,13,7.5\n"       # toe on the left: aligning turns the crop 180 degrees
        "b.png,x,train,,,,\n")               # no keypoints: left as it is
    aligned, plain = ShoeCrops(tmp_path, ["train"]), ShoeCrops(tmp_path, ["train"], align=False)
    red_left = lambda image: image[0, :, :6].mean().item()  # noqa: E731
    assert red_left(plain[0][0]) == 1.0
    assert red_left(aligned[0][0]) == 0.0
    assert torch.equal(aligned[1][0], plain[1][0])
    cached = ShoeCrops(tmp_path, ["train"], cache=True)  # the cache holds the aligned image
    assert torch.equal(cached[0][0], aligned[0][0]) and torch.equal(cached[1][0], plain[1][0])


def test_data_package_exports_every_public_name():
    import importlib

    import shoekit.data as data

    alignment = importlib.import_module("shoekit.data.alignment")
    assert data.align is alignment.align
    for name in data.__all__:
        assert getattr(data, name) is not None, name
    assert data.ShoeCrops is ShoeCrops
    with pytest.raises(AttributeError):
        data.no_such_name
