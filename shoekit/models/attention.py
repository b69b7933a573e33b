"""Channel/spatial attention modules placed in every ResNet50 bottleneck.

Every module is a pure gate on features `(B, C, H, W)`: `gate(x)` returns the multiplicative
weights (shape per module, broadcastable onto x) and `forward(x)` returns `x ⊗ gate(x)`, the
same shape as x. The residual addition is the bottleneck's (`shoekit.models.resnet`), which asks
its module for the gate with `attention(x, gate_only=True)` (a module call, so forward hooks and
pre-hooks on the module see the features x as their first positional argument) and adds it as
`addcmul(identity, x, gate)` in one pass. `NoAttention` is plain ResNet50's block: gate 1.
Every ReLU is an `nn.ReLU` module (never `F.relu`) so guided backprop can swap all of them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from shoekit import choices


class SpatialMean(nn.Module):
    """Mean over H and W: `(B, C, H, W)` -> `(B, C, 1, 1)`, computed as a sum then a division. On
    bf16 channels_last CPU tensors `nn.AdaptiveAvgPool2d(1)` first copies the whole tensor to fp32
    and its backward is slow; the sum reduces in place and its backward is a broadcast."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum((2, 3), keepdim=True) / (x.shape[2] * x.shape[3])


def conv_weights_as_linear(state_dict: dict, prefix: str, *_) -> None:
    """Load-state-dict pre-hook of `ChannelMLP`: rewrites, in `state_dict` (in place), weights
    saved by shoekit before the MLP was made of `nn.Linear` layers, 1×1 convs `(out, in, 1, 1)`
    under the same keys `PREFIX0.weight` and `PREFIX2.weight`, as the `(out, in)` matrices the
    Linear layers hold. Biases have the same shape in both layouts; other tensors are left alone."""
    for index in ("0", "2"):
        key = f"{prefix}{index}.weight"
        weight = state_dict.get(key)
        if isinstance(weight, torch.Tensor) and weight.dim() == 4 and weight.shape[2:] == (1, 1):
            state_dict[key] = weight.flatten(1)


class ChannelMLP(nn.Sequential):
    """The attention's MLP on pooled rows: `(..., C)` -> `(..., C)`, Linear C -> C/r, ReLU,
    Linear C/r -> C (r = `reduction`, at least one hidden unit). Parameters `0.weight` `(C/r, C)`,
    `0.bias`, `2.weight` `(C, C/r)`, `2.bias`; checkpoints holding the weights as 1×1 convs
    `(out, in, 1, 1)` under the same keys (shoekit's layout before) load too (`conv_weights_as_linear`)."""

    def __init__(self, channels: int, reduction: int):
        hidden = max(channels // reduction, 1)
        super().__init__(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))
        self._register_load_state_dict_pre_hook(conv_weights_as_linear)


def pooled_rows(*pooled: torch.Tensor) -> torch.Tensor:
    """Pooled descriptors `(B, C, 1, 1)` as rows for one `ChannelMLP` call: `(B, C)` for one,
    `(B, k, C)` for k of them stacked (row [:, i] from the i-th). No batch-sized slicing, so ONNX
    exports keep a dynamic batch."""
    if len(pooled) == 1:
        return pooled[0].flatten(1)
    return torch.stack([p.flatten(1) for p in pooled], dim=1)


class AttentionGate(nn.Module):
    """Base of the gating modules: subclasses define `gate(x)`; calling the module gives
    `x ⊗ gate(x)` `(B, C, H, W)`, or with `gate_only=True` the gate itself (what the bottleneck
    fuses with its residual addition)."""

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The multiplicative weights for features `x` `(B, C, H, W)`, broadcastable onto x."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, gate_only: bool = False) -> torch.Tensor:
        gate = self.gate(x)
        return gate if gate_only else x * gate


class NoAttention(AttentionGate):
    """Plain ResNet50's bottleneck: gate 1, features unchanged. The bottleneck adds its residual
    without multiplying by the ones."""

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """A ones tensor of shape `(1, 1, 1, 1)` (broadcasts onto any x), in x's dtype and device."""
        return torch.ones((1, 1, 1, 1), dtype=x.dtype, device=x.device)

    def forward(self, x: torch.Tensor, gate_only: bool = False) -> torch.Tensor:
        return self.gate(x) if gate_only else x


class SqueezeExcitation(AttentionGate):
    """SE (Hu et al.): gate = σ(W1 δ(W0 avg(X))), shape (B, C, 1, 1), values in (0, 1)."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.pool = SpatialMean()
        self.mlp = ChannelMLP(channels, reduction)
        self.sigmoid = nn.Sigmoid()

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        return self.sigmoid(self.mlp(pooled_rows(self.pool(x))))[:, :, None, None]


class DualPoolAttention(AttentionGate):
    """The paper's module: W = σ(MLP(avg X)) + σ(MLP(max X)), one MLP shared by both branches.

    A sigmoid on each branch *before* the sum, so the gate `(B, C, 1, 1)` lies in (0, 2);
    CBAM's channel gate sums first and lies in (0, 1). Parameters: exactly those of SE.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.avg_pool = SpatialMean()
        self.max_pool = nn.AdaptiveMaxPool2d(1)
        self.mlp = ChannelMLP(channels, reduction)
        self.sigmoid = nn.Sigmoid()

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        both = self.sigmoid(self.mlp(pooled_rows(self.avg_pool(x), self.max_pool(x))))  # (B, 2, C)
        return both.sum(dim=1)[:, :, None, None]  # σ(avg branch) + σ(max branch)


class ChannelGate(nn.Module):
    """CBAM channel gate: features `(B, C, H, W)` -> σ(MLP(avg X) + MLP(max X)), shape
    (B, C, 1, 1), values in (0, 1)."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.avg_pool = SpatialMean()
        self.max_pool = nn.AdaptiveMaxPool2d(1)
        self.mlp = ChannelMLP(channels, reduction)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        both = self.mlp(pooled_rows(self.avg_pool(x), self.max_pool(x)))  # (B, 2, C)
        return self.sigmoid(both.sum(dim=1))[:, :, None, None]


class SpatialGate(nn.Module):
    """CBAM spatial gate: features `(B, C, H, W)` -> σ(BN(conv7×7([mean_c X; max_c X]))), shape
    (B, 1, H, W), values in (0, 1)."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return self.sigmoid(self.bn(self.conv(pooled)))


class CBAM(AttentionGate):
    """CBAM (Woo et al.): the channel gate, then the spatial gate computed on the channel-gated
    features."""

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7):
        super().__init__()
        self.channel_gate = ChannelGate(channels, reduction)
        self.spatial_gate = SpatialGate(kernel_size)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The combined weight `(B, C, H, W)` = channel gate × spatial gate, in (0, 1)."""
        channel = self.channel_gate(x)
        return channel * self.spatial_gate(x * channel)


def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """ECA's adaptive kernel: the odd number nearest |(log2 C + b) / γ| (rounded down, then up to odd)."""
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


class EfficientChannelAttention(AttentionGate):
    """ECA (Wang et al.): σ(conv1d_k(avg X)) across channels, gate (B, C, 1, 1) in (0, 1)."""

    def __init__(self, channels: int, gamma: int = 2, b: int = 1):
        super().__init__()
        k = eca_kernel_size(channels, gamma, b)
        self.pool = SpatialMean()
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(x).flatten(1).unsqueeze(1)  # (B, 1, C)
        return self.sigmoid(self.conv(y)).transpose(1, 2).unsqueeze(-1)  # (B, C, 1, 1)


# One module per name of `shoekit.choices.ATTENTIONS` (tests check the two agree).
ATTENTIONS: dict[str, type[AttentionGate]] = {
    "none": NoAttention,
    "se": SqueezeExcitation,
    "cbam": CBAM,
    "eca": EfficientChannelAttention,
    "dual_pool": DualPoolAttention,
}


def build_attention(name: str, channels: int) -> AttentionGate:
    """The attention module `name` for `channels` features (`NoAttention` for "none")."""
    if name not in ATTENTIONS:
        raise ValueError(f"unknown attention {name!r}; choose one of {', '.join(choices.ATTENTIONS)}")
    module = ATTENTIONS[name]
    return module() if module is NoAttention else module(channels)
