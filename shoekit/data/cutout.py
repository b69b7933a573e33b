"""Shoe cut-outs: an RGBA image of one shoe on a transparent background, with toe and heel.

`load_cutout` reads one from an image file. Files without transparency are masked against
their background when that background is plain (near-uniform along the border), as with a
product photo on white; anything else is rejected with an ImageError that names the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from shoekit.data.image_policy import MIN_SIDE
from shoekit.errors import ImageError

Point = tuple[float, float]

MIN_OPAQUE_PX = 32        # fewer opaque pixels than this counts as an empty mask
OPAQUE_LEVEL = 128        # alpha at or above this is "shoe" when measuring the mask
BACKGROUND_TOLERANCE = 30.0  # RGB distance from the border colour still counted as background
PLAIN_BORDER_SHARE = 0.9  # share of border pixels that must match for a "plain" background
END_SHARE = 0.25          # outer share of the shoe's length compared by the toe rule


@dataclass
class Cutout:
    """One shoe: `rgba` (H, W, 4) uint8 with straight (not premultiplied) alpha, and the toe
    and heel as (x, y) float pixel positions inside the shoe's mask."""

    rgba: np.ndarray
    toe: Point
    heel: Point


def load_cutout(path: str | Path) -> Cutout:
    """Read an image file as a Cutout; toe and heel come from `estimate_toe_heel`.

    Accepts anything Pillow reads. Without an alpha channel (or with an alpha channel that is
    opaque everywhere) the shoe is cut out from a plain background: the median border colour,
    if at least 90% of border pixels lie within RGB distance 30 of it. Raises ImageError naming
    the file when it is missing, unreadable, smaller than 16 px a side, has no plain background
    to cut against, or leaves fewer than 32 opaque pixels.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file; check the path (or the manifest row naming it)")
    try:
        with Image.open(path) as image:
            image.load()
            has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
                image.mode == "P" and "transparency" in image.info)
            rgba = np.array(image.convert("RGBA"))
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as error:
        raise ImageError(f"{path}: cannot read the image ({error}); re-export it as PNG") from None
    height, width = rgba.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise ImageError(f"{path}: image is {width}×{height} px; a cut-out needs at least "
                         f"{MIN_SIDE} px a side, use a larger image")
    if not has_alpha or rgba[..., 3].min() == 255:
        rgba[..., 3] = _mask_plain_background(rgba[..., :3], path)
    if int((rgba[..., 3] >= OPAQUE_LEVEL).sum()) < MIN_OPAQUE_PX:
        raise ImageError(f"{path}: the cut-out's mask is empty (fewer than {MIN_OPAQUE_PX} "
                         "opaque pixels); the shoe must be opaque on a transparent background")
    rgba[rgba[..., 3] == 0, :3] = 0
    toe, heel = estimate_toe_heel(rgba[..., 3])
    return Cutout(rgba=rgba, toe=toe, heel=heel)


def _mask_plain_background(rgb: np.ndarray, path: Path) -> np.ndarray:
    """(H, W) uint8 alpha separating the shoe from a near-uniform background; ImageError if
    the border is not plain enough to tell which colour is background."""
    border = np.concatenate([rgb[0], rgb[-1], rgb[1:-1, 0], rgb[1:-1, -1]]).astype(np.float32)
    background = np.median(border, axis=0)
    border_match = float((np.linalg.norm(border - background, axis=1) <= BACKGROUND_TOLERANCE).mean())
    if border_match < PLAIN_BORDER_SHARE:
        raise ImageError(
            f"{path}: no alpha channel and the background is not plain (only "
            f"{border_match:.0%} of border pixels share one colour); save the cut-out as a PNG "
            "with a transparent background")
    distance = np.linalg.norm(rgb.astype(np.float32) - background, axis=2)
    foreground = (distance > BACKGROUND_TOLERANCE).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    foreground = cv2.morphologyEx(foreground, cv2.MORPH_OPEN, kernel)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(foreground, connectivity=8)
    if count <= 1:
        return np.zeros(rgb.shape[:2], np.uint8)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    shoe = (labels == largest).astype(np.uint8)
    # fill holes: background is what a flood fill from outside the shoe reaches
    padded = np.pad(1 - shoe, 1, constant_values=1)
    cv2.floodFill(padded, None, (0, 0), 2)
    shoe = (padded[1:-1, 1:-1] != 2).astype(np.float32)
    return np.clip(cv2.GaussianBlur(shoe, (3, 3), 0.6) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def estimate_toe_heel(alpha: np.ndarray) -> tuple[Point, Point]:
    """Toe and heel (x, y) of a shoe mask: the two ends of the mask's principal axis.

    `alpha` is (H, W) uint8 (or any array where >= 128 means shoe). Each end point lies on the
    principal axis's line at the 1st / 99th percentile of the mask's extent along it, moved
    across the axis to the median of the mask's pixels in that end, and pulled towards the
    centre until it lies on the mask.

    Which end is the toe is a guess from shape alone: the end whose outer quarter of the mask
    is thinner across the axis is called the toe (a toe box tapers and sits low; the heel end
    carries the collar and heel counter, so it is taller). The guess is right for most side
    views and can be wrong for end-on views (front, back, top) and unusual shapes.
    Raises ImageError when fewer than 32 pixels are opaque.
    """
    ys, xs = np.nonzero(np.asarray(alpha) >= OPAQUE_LEVEL)
    if len(xs) < MIN_OPAQUE_PX:
        raise ImageError(f"the cut-out's mask has {len(xs)} opaque pixels; at least "
                         f"{MIN_OPAQUE_PX} are needed to find the toe and heel")
    points = np.stack([xs, ys], axis=1).astype(np.float64)
    centre = points.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov((points - centre).T))
    axis = vectors[:, 1]
    across = np.array([-axis[1], axis[0]])
    along_t = (points - centre) @ axis
    across_t = (points - centre) @ across
    low, high = np.percentile(along_t, [1.0, 99.0])
    end_length = END_SHARE * (high - low)
    ends = []
    for tip, in_end in ((low, along_t <= low + end_length), (high, along_t >= high - end_length)):
        slice_ = across_t[in_end]
        thickness = float(np.percentile(slice_, 95) - np.percentile(slice_, 5))
        outer = in_end & (np.abs(along_t - tip) <= 0.2 * end_length)
        point = centre + tip * axis + float(np.median(across_t[outer])) * across
        ends.append((thickness, _pull_onto_mask(point, centre, alpha)))
    (thickness_a, end_a), (thickness_b, end_b) = ends
    return (end_a, end_b) if thickness_a < thickness_b else (end_b, end_a)


def _pull_onto_mask(point: np.ndarray, centre: np.ndarray, alpha: np.ndarray) -> Point:
    """Move `point` towards `centre` in small steps until it lands on an opaque pixel."""
    height, width = alpha.shape
    for t in np.linspace(0.0, 1.0, 41):
        x, y = point + t * (centre - point)
        col, row = int(round(x)), int(round(y))
        if 0 <= row < height and 0 <= col < width and alpha[row, col] >= OPAQUE_LEVEL:
            return (float(x), float(y))
    return (float(centre[0]), float(centre[1]))
