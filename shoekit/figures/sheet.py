"""Numpy image sheets: tiles with borders and captions, stacked into one uint8 RGB image.

All images are `(H, W, 3)` uint8 RGB; colours are RGB triples.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from shoekit.errors import ImageError

CORRECT = (40, 170, 60)        # green
WRONG = (215, 40, 40)          # red
NEUTRAL = (160, 160, 160)      # grey: correctness unknown
BACKGROUND = 255
TEXT = (20, 20, 20)
FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.4
LINE_HEIGHT = 14               # px per caption line


def border_colour(correct: bool | None) -> tuple[int, int, int]:
    """Green for a correct match, red for a wrong one, grey when unknown."""
    return NEUTRAL if correct is None else CORRECT if correct else WRONG


def fit_tile(image: np.ndarray, size: int) -> np.ndarray:
    """`image` `(H, W, 3)` or `(H, W)` uint8 resized to `(size, size, 3)` (nearest when enlarging)."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    enlarging = size >= max(image.shape[:2])
    interpolation = cv2.INTER_NEAREST if enlarging else cv2.INTER_AREA
    return cv2.resize(np.ascontiguousarray(image, dtype=np.uint8), (size, size), interpolation=interpolation)


def add_border(image: np.ndarray, colour: tuple[int, int, int], width: int = 4) -> np.ndarray:
    """`image` framed by `width` px of `colour`: `(H + 2w, W + 2w, 3)`."""
    return cv2.copyMakeBorder(image, width, width, width, width, cv2.BORDER_CONSTANT, value=colour)


def fit_text(text: str, width: int) -> str:
    """`text` cut (ending in "..") so it fits `width` px in the caption font."""
    while text and cv2.getTextSize(text, FONT, FONT_SCALE, 1)[0][0] > width:
        text = text[:-3] + ".." if len(text) > 3 else ""
    return text


def add_caption(image: np.ndarray, lines: Sequence[str], pad: int = 4) -> np.ndarray:
    """`image` with a white strip below holding one line of text per entry (cut to fit)."""
    height, width = image.shape[:2]
    strip = np.full((LINE_HEIGHT * len(lines) + pad, width, 3), BACKGROUND, np.uint8)
    for index, line in enumerate(lines):
        cv2.putText(strip, fit_text(line, width - 2), (1, LINE_HEIGHT * (index + 1) - 3), FONT,
                    FONT_SCALE, TEXT, 1, cv2.LINE_AA)
    return np.vstack([image, strip])


def pad_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """`image` padded with background at the bottom/right to `(height, width, 3)`."""
    return cv2.copyMakeBorder(image, 0, height - image.shape[0], 0, width - image.shape[1],
                              cv2.BORDER_CONSTANT, value=(BACKGROUND,) * 3)


def hstack(images: Sequence[np.ndarray], gap: int = 6) -> np.ndarray:
    """Images side by side, top-aligned, `gap` px of background between them."""
    height = max(image.shape[0] for image in images)
    spacer = np.full((height, gap, 3), BACKGROUND, np.uint8)
    parts = []
    for index, image in enumerate(images):
        parts += ([spacer] if index else []) + [pad_to(image, height, image.shape[1])]
    return np.hstack(parts)


def vstack(images: Sequence[np.ndarray], gap: int = 6) -> np.ndarray:
    """Images one above another, left-aligned, `gap` px of background between them."""
    width = max(image.shape[1] for image in images)
    spacer = np.full((gap, width, 3), BACKGROUND, np.uint8)
    parts = []
    for index, image in enumerate(images):
        parts += ([spacer] if index else []) + [pad_to(image, image.shape[0], width)]
    return np.vstack(parts)


def labelled_tile(image: np.ndarray, lines: Sequence[str], size: int,
                  colour: tuple[int, int, int] | None = None, border: int = 4) -> np.ndarray:
    """A tile of `size` px, framed in `colour` (or white space of the same width), captioned."""
    tile = add_border(fit_tile(image, size), colour or (BACKGROUND,) * 3, border)
    return add_caption(tile, lines)


def save_png(path: str | Path, image: np.ndarray) -> Path:
    """Write an `(H, W, 3)` uint8 RGB sheet as PNG (parent folders made); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)):
        raise ImageError(f"{path}: could not write the PNG; check the folder is writable and the "
                         "name ends in .png")
    return path
