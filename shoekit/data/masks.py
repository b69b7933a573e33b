"""Shoe masks of a dataset's crops: which pixels are shoe (the ground truth explanations are
measured against).

A crop's mask is an 8-bit grayscale PNG of the crop's own size: 255 where the pixel is all shoe,
0 where it is none, values between for partial cover (edges, motion blur). A row's mask file is
the manifest's optional `mask` column (a path relative to the dataset folder, like `path`), else
`masks/<path>` (where `make-dataset` writes them, so the manifest, and the benchmark's hash, stay
as they were); a row with neither has no mask.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from shoekit.errors import ImageError

MASK_COLUMN = "mask"
MASK_DIR = "masks"
SHOE_LEVEL = 0.5  # a pixel whose mask value (0-1) is at least this counts as shoe


def mask_location(path: str) -> str:
    """Where `make-dataset` writes the mask of the crop at manifest `path` (relative to the folder)."""
    return f"{MASK_DIR}/{path}"


def mask_file(root: Path, path: str, column_value: str | None) -> Path | None:
    """The mask file of one row (crop `path`, its `mask` cell or None), or None when it has none."""
    if column_value:
        return root / column_value
    default = root / mask_location(path)
    return default if default.is_file() else None


def write_mask(path: Path, mask: np.ndarray) -> None:
    """Save a (H, W) uint8 mask as an 8-bit grayscale PNG (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(mask, np.uint8), mode="L").save(path, format="PNG", compress_level=6)


def read_mask(path: Path, size: tuple[int, int], where: str) -> np.ndarray:
    """The mask at `path` as (H, W) float32 in [0, 1], checked to be `size` (width, height) px, the
    crop's size. ImageError naming `where` (the manifest row) when it is missing, unreadable, or of
    another size."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.size != tuple(size):
                    raise ImageError(f"{where}: mask {path} is {image.size[0]}×{image.size[1]} px but its crop "
                                     f"is {size[0]}×{size[1]} px; a mask must cover its crop pixel for pixel")
                image.load()
                gray = image.convert("L")
    except FileNotFoundError as error:
        raise ImageError(f"{where}: mask {path} does not exist; restore it, fix the `mask` column or "
                         "rebuild the dataset with shoekit make-dataset") from error
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise ImageError(f"{where}: mask {path} cannot be read ({error}); replace it with an 8-bit "
                         "grayscale PNG or rebuild the dataset") from error
    return np.asarray(gray, dtype=np.float32) / 255.0
