"""What the network's stages compute for one crop: a few feature maps of the stem and of
layer1-layer4, for pictures that show the crop turning into ever smaller, ever more abstract maps.

    maps = stage_maps(model, image)           # image (3, S, S) raw RGB in [0, 1]
    maps[0].name, maps[0].maps.shape          # "stem", (8, S/4, S/4)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from shoekit.explain.layers import STAGES

STEM = "stem"
STEM_OUTPUT = "maxpool"  # the module whose output is the stem's (conv1, bn1, relu, maxpool)


@dataclass(frozen=True)
class StageMaps:
    """The most active feature maps of one stage for one crop.

    `name`: "stem" or "layer1".."layer4"; `maps` `(k, H, W)` float32, the stage's output
    channels `channels_shown` (the k with the highest mean activation, strongest first);
    `channels`: how many maps the stage outputs in all."""

    name: str
    maps: np.ndarray
    channels_shown: np.ndarray
    channels: int

    @property
    def size(self) -> tuple[int, int]:
        return int(self.maps.shape[1]), int(self.maps.shape[2])


def stage_maps(model: nn.Module, image: torch.Tensor, count: int = 8) -> list[StageMaps]:
    """The stem's and each stage's `count` most active maps for one model input `(3, S, S)`
    (fp32, no gradients): five `StageMaps`, shallow to deep."""
    names = (STEM_OUTPUT, *STAGES)
    outputs: dict[str, torch.Tensor] = {}
    handles = [model.get_submodule(name).register_forward_hook(
        lambda module, args, output, name=name: outputs.__setitem__(name, output.detach()))
        for name in names]
    try:
        with torch.no_grad():
            model.feature_map(image[None].float())
    finally:
        for handle in handles:
            handle.remove()
    result = []
    for name in names:
        maps = outputs[name][0].float().cpu().numpy()
        strongest = np.argsort(-maps.mean(axis=(1, 2)), kind="stable")[:count]
        result.append(StageMaps(STEM if name == STEM_OUTPUT else name, maps[strongest], strongest, maps.shape[0]))
    return result
