"""Guided backpropagation (pytorch-grad-cam's GuidedBackpropReLUModel) and Guided Grad-CAM."""

from __future__ import annotations

import numpy as np
import torch
from pytorch_grad_cam.guided_backprop import GuidedBackpropReLUasModule, GuidedBackpropReLUModel
from pytorch_grad_cam.utils.find_layers import replace_all_layer_type_recursive
from torch import nn


def guided_backprop(model: nn.Module, image: torch.Tensor, target) -> np.ndarray:
    """Guided backprop of `target` w.r.t. `image` `(3, H, W)`: gradients `(H, W, 3)` float32.

    The package swaps every `nn.ReLU` of `model` in place (and back, as new `nn.ReLU()`
    modules), so pass a copy you own: `Explainer` does. The ReLUs are restored even when the
    pass fails.
    """
    guided_model, category = target.guided_model(model)
    try:
        gradients = GuidedBackpropReLUModel(guided_model)(image[None].detach().clone(), target_category=category)
    finally:
        replace_all_layer_type_recursive(guided_model, GuidedBackpropReLUasModule, nn.ReLU())
    return np.asarray(gradients, dtype=np.float32)


def guided_gradcam(cam: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """Guided Grad-CAM (Selvaraju et al.): `cam` `(H, W)` times guided backprop `(H, W, 3)`."""
    return (gradients * cam[..., None]).astype(np.float32)
