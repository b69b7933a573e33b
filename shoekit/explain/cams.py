"""Class activation maps with pytorch-grad-cam: method by name, hooks released on exit."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pytorch_grad_cam
import torch
from pytorch_grad_cam.base_cam import BaseCAM
from torch import nn

from shoekit.explain.layers import target_layer
from shoekit.explain.options import CAM_METHOD_CLASSES, DEFAULT_LAYER, DEFAULT_METHOD

CAM_METHODS: dict[str, type[BaseCAM]] = {
    name: getattr(pytorch_grad_cam, class_name) for name, class_name in CAM_METHOD_CLASSES.items()
}


def check_method(method: str) -> str:
    if method not in CAM_METHODS:
        raise ValueError(f"unknown CAM method {method!r}; choose one of {', '.join(CAM_METHODS)}")
    return method


@contextmanager
def cam_session(method: str, output_model: nn.Module, layer: nn.Module) -> Iterator[BaseCAM]:
    """A pytorch-grad-cam object hooked on `layer`; its hooks are removed on exit.

    (The package's own `with` form swallows IndexError, so release them here instead.)
    """
    cam = CAM_METHODS[check_method(method)](output_model, [layer])
    try:
        yield cam
    finally:
        cam.activations_and_grads.release()


def compute_cams(model: nn.Module, images: torch.Tensor, targets: Sequence, method: str = DEFAULT_METHOD,
                 layer: str = DEFAULT_LAYER) -> np.ndarray:
    """Heatmaps `(B, H, W)` float32 in [0, 1] of `images` `(B, 3, H, W)` (raw RGB in [0, 1]).

    `targets`: one `SimilarityTarget` or `ClassTarget` per image, all reading the same model
    output. The backward pass fills `.grad` of the parameters that require grad; `Explainer`
    calls this on a frozen copy, so only the target layer's parameters do and the pass stops
    there. Each map is scaled to [0, 1] by the package (all zeros when nothing is positive).
    """
    if len(targets) != len(images):
        raise ValueError(f"got {len(images)} images but {len(targets)} targets; give one target per image")
    outputs = {target.output for target in targets}
    if len(outputs) != 1:
        raise ValueError(f"targets read different model outputs ({', '.join(sorted(outputs))}); "
                         "compute them in separate calls")
    layer_module = target_layer(model, layer)
    layer_tracks_grad = any(parameter.requires_grad for parameter in layer_module.parameters())
    images = images.detach().requires_grad_(not layer_tracks_grad)
    with cam_session(method, targets[0].output_model(model), layer_module) as cam:
        return cam(input_tensor=images, targets=list(targets)).astype(np.float32)
