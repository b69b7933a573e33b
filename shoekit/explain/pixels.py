"""Model inputs back to pixels."""

from __future__ import annotations

import numpy as np
import torch


def to_uint8_image(image: torch.Tensor) -> np.ndarray:
    """A model input `(3, H, W)` float in [0, 1] as `(H, W, 3)` uint8 RGB."""
    array = image.detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy()
    return np.rint(array * 255).astype(np.uint8)
