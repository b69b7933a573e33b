"""Target layers by name: a stage "layerN" or one of its bottlenecks "layerN.i"."""

from __future__ import annotations

from torch import nn

STAGES = ("layer1", "layer2", "layer3", "layer4")


def target_layer_names(model: nn.Module) -> list[str]:
    """Every layer a CAM can target, shallow to deep: "layer1", "layer1.0", ..., "layer4.2"."""
    names = []
    for stage in STAGES:
        names.append(stage)
        names += [f"{stage}.{index}" for index in range(len(model.get_submodule(stage)))]
    return names


def target_layer(model: nn.Module, name: str) -> nn.Module:
    """The module called `name` (see `target_layer_names`); ValueError listing the choices."""
    choices = target_layer_names(model)
    if name not in choices:
        raise ValueError(f"unknown target layer {name!r}; choose one of {', '.join(choices)}")
    return model.get_submodule(name)
