"""What an explanation returns: numpy arrays ready to draw, per image, pair and query."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from pytorch_grad_cam.utils.image import deprocess_image, show_cam_on_image

from shoekit.explain.guided import guided_gradcam
from shoekit.explain.pixels import to_uint8_image


def cam_overlay(image: np.ndarray, cam: np.ndarray, image_weight: float = 0.5) -> np.ndarray:
    """`cam` `(H, W)` in [0, 1] as a jet heatmap blended over `image` `(H, W, 3)` uint8 -> uint8."""
    return show_cam_on_image(image.astype(np.float32) / 255.0, cam, use_rgb=True, image_weight=image_weight)


def gradient_image(gradients: np.ndarray) -> np.ndarray:
    """Signed gradients `(H, W, 3)` as a viewable uint8 image (mean grey, ±10 std; the package's)."""
    return deprocess_image(np.asarray(gradients, dtype=np.float32))


@dataclass
class ImageExplanation:
    """One explained image; every array has the model input's size H×W.

    image: `(H, W, 3)` uint8, the model input; cam: `(H, W)` float32 in [0, 1];
    overlay: `(H, W, 3)` uint8; guided_backprop and guided_gradcam: `(H, W, 3)` float32 signed
    gradients (draw them with `gradient_image`, or use the `*_image` properties).
    """

    image: np.ndarray
    cam: np.ndarray
    overlay: np.ndarray
    guided_backprop: np.ndarray
    guided_gradcam: np.ndarray

    @classmethod
    def build(cls, image: torch.Tensor, cam: np.ndarray, gradients: np.ndarray) -> "ImageExplanation":
        """From the model input `(3, H, W)`, its CAM `(H, W)` and guided backprop `(H, W, 3)`."""
        pixels = to_uint8_image(image)
        return cls(image=pixels, cam=cam, overlay=cam_overlay(pixels, cam), guided_backprop=gradients,
                   guided_gradcam=guided_gradcam(cam, gradients))

    @property
    def guided_backprop_image(self) -> np.ndarray:
        return gradient_image(self.guided_backprop)

    @property
    def guided_gradcam_image(self) -> np.ndarray:
        return gradient_image(self.guided_gradcam)


@dataclass
class PairExplanation:
    """A query and one gallery match, each explained by its similarity to the other.

    `similarity`: cosine similarity of the two fp32 features of the explainer's head;
    `distance`: the ranking's distance when given (else 1 − similarity); `rank` from 1;
    `identity` the match's shoe type and `correct` whether it is the query's (None: unknown).
    """

    query: ImageExplanation
    match: ImageExplanation
    similarity: float
    distance: float
    rank: int = 1
    identity: str | None = None
    correct: bool | None = None


@dataclass
class QueryExplanation:
    """A query explained against its top matches (pairs in rank order)."""

    head: str
    method: str
    layer: str
    pairs: list[PairExplanation] = field(default_factory=list)
    query_identity: str | None = None
