"""Toe–heel alignment, the paper's preprocessing: rotate a crop so the toe–heel line is level.

Points are (x, y) floats in pixel coordinates (x right, y down). After `align` the heel→toe
vector points along +x: the toe is always on the right of the heel.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

Point = tuple[float, float]


def toe_heel_angle(toe: Point, heel: Point) -> float:
    """Angle in degrees, in (-180, 180], of the heel→toe vector against the +x axis.

    Measured in image coordinates (y down), so a positive angle turns clockwise on screen:
    90 means the toe is straight below the heel. 0 when toe and heel coincide.
    """
    return math.degrees(math.atan2(toe[1] - heel[1], toe[0] - heel[0]))


def alignment_matrix(toe: Point, heel: Point) -> np.ndarray:
    """(2, 3) float64 affine matrix that `align` applies: a rotation about the toe–heel midpoint.

    Apply it to points as `matrix @ (x, y, 1)`; the aligned toe and heel have equal y and
    toe x >= heel x.
    """
    centre = ((toe[0] + heel[0]) / 2.0, (toe[1] + heel[1]) / 2.0)
    return cv2.getRotationMatrix2D(centre, toe_heel_angle(toe, heel), 1.0)


def align(image: np.ndarray, toe: Point, heel: Point, fill: float | None = None) -> np.ndarray:
    """Rotate `image` (H, W) or (H, W, C) with C <= 4, any dtype cv2 warps (uint8, float32),
    about the toe–heel midpoint so the toe–heel line is level with the toe on the right.

    Returns an array of the same shape and dtype. Corners rotated in from outside the image
    are filled with the mean colour of the image's border (for a crop: about the floor's
    colour), not black and not a mirror image that could copy part of the shoe; `fill` gives
    another value for every channel (0 for a shoe mask: nothing rotated in is shoe).
    """
    height, width = image.shape[:2]
    if fill is None:
        border = np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])
        fill = np.atleast_1d(border.reshape(len(border), -1).mean(axis=0)).tolist()
    else:
        fill = [float(fill)] * (image.shape[2] if image.ndim == 3 else 1)
    aligned = cv2.warpAffine(
        image,
        alignment_matrix(toe, heel),
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=fill,
    )
    return aligned.reshape(image.shape)
