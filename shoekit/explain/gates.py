"""The attention gates made visible: what each bottleneck's attention module multiplies onto its
features, read out as numpy arrays.

    gates = read_gates(model, images)          # images (N, 3, S, S) raw RGB in [0, 1]
    gates[0].block, gates[0].channel.shape     # "layer1.0", (N, 256)
    gates[0].branches["avg"]                   # dual_pool only: σ(MLP(avg X)), (N, 256) in (0, 1)

A forward pre-hook on every bottleneck's `attention` module takes the features it receives (its
first positional argument, whichever way the bottleneck calls it) and computes the gate from the
module's own pooling layers and MLP. Per attention kind (`GATE_RANGES`):

- dual_pool (the paper): `channel` = σ(MLP(avg)) + σ(MLP(max)) in (0, 2); branches "avg", "max"
  each in (0, 1). 1 is the neutral weight: above it a channel is amplified, below damped.
- se, eca: `channel` in (0, 1), no branches.
- cbam: `channel` = the channel gate in (0, 1); `spatial` the 7×7-conv spatial map `(N, H, W)`
  in (0, 1), computed on the channel-gated features as CBAM applies it.

Plain ResNet50 blocks (`NoAttention`) have no gate and are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from shoekit.models.attention import (ATTENTIONS, CBAM, DualPoolAttention, EfficientChannelAttention,
                                      NoAttention, SqueezeExcitation)

# (low, high): the open interval each kind's channel gate lies in.
GATE_RANGES: dict[str, tuple[float, float]] = {
    "dual_pool": (0.0, 2.0), "se": (0.0, 1.0), "eca": (0.0, 1.0), "cbam": (0.0, 1.0)}
NEUTRAL_GATE = 1.0  # a channel weighted 1 passes unchanged


@dataclass(frozen=True)
class BlockGates:
    """One bottleneck's gates for N images.

    `block`: its name ("layer2.3"); `attention`: the kind ("dual_pool", "se", "eca", "cbam");
    `channel`: `(N, C)` float32, the channel weights multiplied onto the features (range:
    `GATE_RANGES[attention]`); `branches`: dual_pool's {"avg": (N, C), "max": (N, C)}, each in
    (0, 1), summing to `channel`; empty for the others; `spatial`: CBAM's `(N, H, W)` map in
    (0, 1), None for the others; `feature_size`: (H, W) of the features the gate acts on.
    """

    block: str
    attention: str
    channel: np.ndarray
    branches: dict[str, np.ndarray] = field(default_factory=dict)
    spatial: np.ndarray | None = None
    feature_size: tuple[int, int] = (0, 0)

    @property
    def stage(self) -> str:
        """"layer2" for block "layer2.3"."""
        return self.block.split(".")[0]

    @property
    def value_range(self) -> tuple[float, float]:
        return GATE_RANGES[self.attention]

    @property
    def channels(self) -> int:
        return self.channel.shape[1]


def attention_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, bottleneck) of every bottleneck holding an `attention` module, shallow to deep."""
    return [(name, module) for name, module in model.named_modules()
            if isinstance(getattr(module, "attention", None), nn.Module) and name.startswith("layer")]


def pooled_rows(pool: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A global pooling layer's output on `x` `(N, C, H, W)` as rows `(N, C)`."""
    return pool(x).flatten(1)


def run_mlp(mlp: nn.Module, rows: torch.Tensor) -> torch.Tensor:
    """The attention MLP on pooled rows `(N, C)` -> `(N, C)`, fed as `(N, C)` when it is built from
    `nn.Linear` layers and as `(N, C, 1, 1)` when built from 1×1 convolutions."""
    if any(isinstance(layer, nn.Linear) for layer in mlp.modules()):
        return mlp(rows)
    return mlp(rows[:, :, None, None]).flatten(1)


def dual_pool_gates(module: DualPoolAttention, x: torch.Tensor) -> dict:
    avg = torch.sigmoid(run_mlp(module.mlp, pooled_rows(module.avg_pool, x)))
    max_ = torch.sigmoid(run_mlp(module.mlp, pooled_rows(module.max_pool, x)))
    return {"channel": avg + max_, "branches": {"avg": avg, "max": max_}}


def channel_only_gates(module: nn.Module, x: torch.Tensor) -> dict:
    """SE and ECA: the module's own `gate(x)` `(N, C, 1, 1)` as rows."""
    return {"channel": module.gate(x).flatten(1)}


def cbam_gates(module: CBAM, x: torch.Tensor) -> dict:
    channel = module.channel_gate(x)
    spatial = module.spatial_gate(x * channel.reshape(*channel.shape[:2], 1, 1))
    return {"channel": channel.flatten(1), "spatial": spatial[:, 0]}


GATE_READERS: dict[type[nn.Module], Callable[[nn.Module, torch.Tensor], dict]] = {
    DualPoolAttention: dual_pool_gates, SqueezeExcitation: channel_only_gates,
    EfficientChannelAttention: channel_only_gates, CBAM: cbam_gates,
}
ATTENTION_NAMES: dict[type[nn.Module], str] = {module: name for name, module in ATTENTIONS.items()}


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().float().cpu().numpy()


def numpy_gates(block: str, module: nn.Module, x: torch.Tensor) -> BlockGates:
    """`module`'s gates on the features `x` `(N, C, H, W)` it receives, as float32 arrays."""
    reader = GATE_READERS.get(type(module))
    if reader is None:
        raise ValueError(f"{block}: no gate reader for attention module {type(module).__name__}; "
                         f"known: {', '.join(cls.__name__ for cls in GATE_READERS)}")
    read = reader(module, x.float())
    return BlockGates(block=block, attention=ATTENTION_NAMES[type(module)], channel=to_numpy(read["channel"]),
                      branches={name: to_numpy(value) for name, value in read.get("branches", {}).items()},
                      spatial=None if read.get("spatial") is None else to_numpy(read["spatial"]),
                      feature_size=(int(x.shape[2]), int(x.shape[3])))


@contextmanager
def gate_hooks(model: nn.Module) -> Iterator[list[BlockGates]]:
    """While open, every forward pass of `model` appends each gated bottleneck's `BlockGates` to
    the yielded list, in execution order; the hooks are removed on exit, also after an error."""
    read: list[BlockGates] = []
    handles = []
    for name, block in attention_blocks(model):
        if isinstance(block.attention, NoAttention):
            continue

        def hook(module, args, name=name):
            with torch.no_grad():
                read.append(numpy_gates(name, module, args[0]))
        handles.append(block.attention.register_forward_pre_hook(hook))
    try:
        yield read
    finally:
        for handle in handles:
            handle.remove()


def read_gates(model: nn.Module, images: torch.Tensor, batch_size: int = 64) -> list[BlockGates]:
    """Every gated bottleneck's `BlockGates` for `images` `(N, 3, S, S)` raw RGB in [0, 1]: one
    entry per block, shallow to deep ("layer1.0" ... "layer4.2"), arrays over all N images.

    Runs `model.feature_map` in fp32 without gradients, `batch_size` images at a time. Empty for a
    plain ResNet50 (attention "none").
    """
    if images.dim() != 4:
        raise ValueError(f"images must be (N, 3, S, S); got shape {tuple(images.shape)}")
    batches: list[list[BlockGates]] = []
    with gate_hooks(model) as read, torch.no_grad():
        for start in range(0, len(images), batch_size):
            read.clear()
            model.feature_map(images[start:start + batch_size].float())
            batches.append(list(read))
    return [joined(parts) for parts in zip(*batches)]


def joined(parts: tuple[BlockGates, ...]) -> BlockGates:
    """One block's gates of several batches as one `BlockGates` over all their images."""
    first = parts[0]
    if len(parts) == 1:
        return first
    return BlockGates(block=first.block, attention=first.attention,
                      channel=np.concatenate([part.channel for part in parts]),
                      branches={name: np.concatenate([part.branches[name] for part in parts])
                                for name in first.branches},
                      spatial=None if first.spatial is None else np.concatenate([part.spatial for part in parts]),
                      feature_size=first.feature_size)


def extreme_channels(channel: np.ndarray, count: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The `count` most amplified and most damped channels of one image's gate `(C,)`: indices
    `(count,)` each, strongest weight first and weakest first respectively."""
    order = np.argsort(channel, kind="stable")
    return order[::-1][:count], order[:count]


def channel_spread(channel: np.ndarray) -> np.ndarray:
    """How much each channel's weight varies between images: the standard deviation over the N
    images of gate values `(N, C)` (`BlockGates.channel` or a branch), `(C,)` float32 in gate units."""
    return np.asarray(channel).std(axis=0)
