"""A user's query image: any common file converted to RGB, or rejected with a clear message.

Converts like the datasets do (`shoekit.data.load_image_rgb`: grayscale, palette, CMYK and
16-bit become 8-bit RGB; transparency is composited over black), and also applies the EXIF
orientation of phone photos. Rejects files that are not images, damaged files, and images
outside `shoekit.data.image_policy` (checked from the header, before decoding); a multi-frame
file (an animated GIF) gives its first frame, with a note saying so.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from shoekit.data.datasets import SIXTEEN_BIT_MODES, to_rgb
from shoekit.data.image_policy import MAX_PIXELS, MIN_SIDE, frame_note, size_problem
from shoekit.errors import ImageError

ELONGATED = 1.5                  # aspect ratio above which the square resize is worth a note
MODE_NOTES = {
    "1": "black-and-white image converted to RGB",
    "L": "grayscale image converted to RGB (three equal channels)",
    "P": "palette image converted to RGB",
    "CMYK": "CMYK image converted to RGB",
    "YCbCr": "YCbCr image converted to RGB",
    "F": "32-bit float grayscale image clipped to 0-255 and converted to RGB",
}


@dataclass
class QueryImage:
    """A decoded query image. `rgb`: `(H, W, 3)` uint8; `notes`: what was converted, for the user."""

    name: str
    rgb: np.ndarray
    notes: list[str] = field(default_factory=list)

    def model_input(self, size: int):
        """`(3, size, size)` float32 tensor in [0, 1], resized like the gallery (`eval_transform`)."""
        from shoekit.data import eval_transform

        return eval_transform(size)(self.rgb)


def describe_mode(image: Image.Image) -> list[str]:
    """Notes on the conversions `to_rgb` will make for `image`'s mode."""
    notes = []
    if image.mode in SIXTEEN_BIT_MODES:
        notes.append(f"{image.mode} (16/32-bit) grayscale image scaled to 8-bit RGB")
    elif image.mode in MODE_NOTES:
        notes.append(MODE_NOTES[image.mode])
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        notes.append("transparent pixels composited over black, as in the datasets")
    return notes


def check_size(name: str, width: int, height: int, min_side: int, max_pixels: int) -> list[str]:
    """ImageError for a crop too small or an image too large; notes for a long thin image."""
    if why := size_problem(width, height, min_side, max_pixels):
        raise ImageError(f"{name}: {why}")
    ratio = max(width, height) / min(width, height)
    if ratio > ELONGATED:
        return [f"aspect ratio {ratio:.1f}: it will be stretched to a square like the gallery crops; "
                "crop it to a square around the shoe for a fairer match"]
    return []


def source_name(source: str | Path | BinaryIO) -> str:
    """A path as given, else a file object's `name`, else "uploaded image"."""
    if isinstance(source, (str, Path)):
        return str(source)
    return str(getattr(source, "name", "uploaded image"))


def load_query_image(source: str | Path | BinaryIO, name: str | None = None, min_side: int = MIN_SIDE,
                     max_pixels: int = MAX_PIXELS) -> QueryImage:
    """Open a query image from a path or a binary file object (e.g. an upload) as RGB.

    `name` labels messages (default: the path, or the file object's `name`). Raises ImageError
    naming the image and the fix when it is missing, not an image, damaged, too small or too
    large; returns the RGB pixels with notes on every conversion made.
    """
    name = name or source_name(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                notes = check_size(name, *image.size, min_side, max_pixels)
                notes += [note] if (note := frame_note(image)) else []
                image.load()
                orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
                upright = ImageOps.exif_transpose(image)
                if orientation != 1:
                    notes.append(f"turned upright by its EXIF orientation ({orientation})")
                notes = describe_mode(upright) + notes
                return QueryImage(name=name, rgb=to_rgb(upright), notes=notes)
    except FileNotFoundError as error:
        raise ImageError(f"{name}: no such file; check the path") from error
    except PermissionError as error:
        raise ImageError(f"{name}: permission denied; make the file readable or copy it elsewhere") from error
    except IsADirectoryError as error:
        raise ImageError(f"{name}: is a folder, not an image file; give the path of one image") from error
    except UnidentifiedImageError as error:
        raise ImageError(f"{name}: not an image file (Pillow cannot identify it); give a PNG, JPEG, "
                         "TIFF or BMP image") from error
    except Image.DecompressionBombError as error:
        raise ImageError(f"{name}: far over the {max_pixels / 1e6:.0f}-megapixel limit ({error}); "
                         "crop the shoe out of the frame first") from error
    except (OSError, ValueError) as error:
        raise ImageError(f"{name}: cannot decode this image ({error}); re-save it as an 8-bit RGB "
                         "PNG or JPEG") from error
