"""Channel/spatial attention modules placed in every ResNet50 bottleneck.

Each module maps features `(B, C, H, W)` to the same shape and exposes `gate(x)`, the
multiplicative weights it applies, so tests and explanations can inspect them. Called as
`module(x, identity)` it returns `x ⊗ gate + identity`, the bottleneck's residual sum, in one
`torch.addcmul` pass over the feature map instead of a multiply and an add (where the attention's
time goes: benchmarks/bench_attention_cost.py). Every ReLU is an `nn.ReLU` module
(never `F.relu`) so guided backprop can swap all of them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class SpatialMean(nn.Module):
    """Mean over H and W: `(B, C, H, W)` -> `(B, C, 1, 1)`, computed as a sum then a division. On
    bf16 channels_last CPU tensors `nn.AdaptiveAvgPool2d(1)` first copies the whole tensor to fp32
    and its backward is slow; the sum reduces in place and its backward is a broadcast."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum((2, 3), keepdim=True) / (x.shape[2] * x.shape[3])


def channel_mlp(channels: int, reduction: int) -> nn.Sequential:
    """The bottleneck MLP C -> C/r -> C, its weights held as 1×1 convs (the layout of SE-ResNet
    checkpoints); `mlp_on_rows` runs it."""
    hidden = max(channels // reduction, 1)
    return nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1))


def mlp_on_rows(mlp: nn.Sequential, rows: torch.Tensor) -> torch.Tensor:
    """`mlp` (1×1 conv, ReLU, 1×1 conv) as two matrix products on pooled rows `(..., C)` -> `(..., C)`.
    On one pixel a matrix product runs faster than oneDNN's 1×1 convolution in bf16; the
    parameters stay the convs', so checkpoints still load."""
    first, relu, second = mlp
    hidden = relu(F.linear(rows, first.weight.flatten(1), first.bias))
    return F.linear(hidden, second.weight.flatten(1), second.bias)


def shared_mlp(mlp: nn.Sequential, avg: torch.Tensor, max_: torch.Tensor) -> torch.Tensor:
    """`mlp` on both pooled descriptors `(B, C, 1, 1)` at once: `(B, 2, C)`, [:, 0] from avg,
    [:, 1] from max. No batch-sized slicing, so ONNX exports keep a dynamic batch."""
    return mlp_on_rows(mlp, torch.stack([avg.flatten(1), max_.flatten(1)], dim=1))


def apply_gate(x: torch.Tensor, gate: torch.Tensor, identity: torch.Tensor | None) -> torch.Tensor:
    """x ⊗ gate, plus `identity` when given, in one `addcmul` pass (gate broadcasts onto x)."""
    return x * gate if identity is None else torch.addcmul(identity, x, gate)


class NoAttention(nn.Module):
    """Plain ResNet50's bottleneck: features unchanged; `module(x, identity)` = x + identity."""

    def forward(self, x: torch.Tensor, identity: torch.Tensor | None = None) -> torch.Tensor:
        return x if identity is None else x + identity


class ChannelAttention(nn.Module):
    """A gate `(B, C, 1, 1)` multiplied onto the features; subclasses define `gate(x)`."""

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, identity: torch.Tensor | None = None) -> torch.Tensor:
        """x ⊗ gate(x), plus `identity` when given (fused into one pass)."""
        return apply_gate(x, self.gate(x), identity)


class SqueezeExcitation(ChannelAttention):
    """SE (Hu et al.): gate = σ(W1 δ(W0 avg(X))), shape (B, C, 1, 1), values in (0, 1)."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.pool = SpatialMean()
        self.mlp = channel_mlp(channels, reduction)
        self.sigmoid = nn.Sigmoid()

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        return self.sigmoid(mlp_on_rows(self.mlp, self.pool(x).flatten(1)))[:, :, None, None]


class DualPoolAttention(ChannelAttention):
    """The paper's module: W = σ(MLP(avg X)) + σ(MLP(max X)), one MLP shared by both branches.

    A sigmoid on each branch *before* the sum, so the gate `(B, C, 1, 1)` lies in (0, 2);
    CBAM's channel gate sums first and lies in (0, 1). Parameters: exactly those of SE.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.avg_pool = SpatialMean()
        self.max_pool = nn.AdaptiveMaxPool2d(1)
        self.mlp = channel_mlp(channels, reduction)
        self.sigmoid = nn.Sigmoid()

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        both = self.sigmoid(shared_mlp(self.mlp, self.avg_pool(x), self.max_pool(x)))  # (B, 2, C)
        return both.sum(dim=1)[:, :, None, None]  # σ(avg branch) + σ(max branch)


class ChannelGate(nn.Module):
    """CBAM channel gate: σ(MLP(avg X) + MLP(max X)), shape (B, C, 1, 1), values in (0, 1)."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.avg_pool = SpatialMean()
        self.max_pool = nn.AdaptiveMaxPool2d(1)
        self.mlp = channel_mlp(channels, reduction)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        both = shared_mlp(self.mlp, self.avg_pool(x), self.max_pool(x))  # (B, 2, C)
        return self.sigmoid(both.sum(dim=1))[:, :, None, None]


class SpatialGate(nn.Module):
    """CBAM spatial gate: σ(BN(conv7×7([mean_c X; max_c X]))), shape (B, 1, H, W), in (0, 1)."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return self.sigmoid(self.bn(self.conv(pooled)))


class CBAM(nn.Module):
    """CBAM (Woo et al.): channel gate, then spatial gate on the re-weighted features."""

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7):
        super().__init__()
        self.channel_gate = ChannelGate(channels, reduction)
        self.spatial_gate = SpatialGate(kernel_size)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The combined weight `(B, C, H, W)` = channel gate × spatial gate, in (0, 1)."""
        channel = self.channel_gate(x)
        return channel * self.spatial_gate(x * channel)

    def forward(self, x: torch.Tensor, identity: torch.Tensor | None = None) -> torch.Tensor:
        """x ⊗ channel gate ⊗ spatial gate, plus `identity` when given (the last product fused with it)."""
        x = x * self.channel_gate(x)
        return apply_gate(x, self.spatial_gate(x), identity)


def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """ECA's adaptive kernel: the odd number nearest |(log2 C + b) / γ| (rounded down, then up to odd)."""
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


class EfficientChannelAttention(ChannelAttention):
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


ATTENTIONS: dict[str, type[nn.Module]] = {
    "none": NoAttention,
    "se": SqueezeExcitation,
    "cbam": CBAM,
    "eca": EfficientChannelAttention,
    "dual_pool": DualPoolAttention,
}


def build_attention(name: str, channels: int) -> nn.Module:
    """The attention module `name` for `channels` features (`NoAttention` for "none")."""
    if name not in ATTENTIONS:
        raise ValueError(f"unknown attention {name!r}; choose one of {', '.join(ATTENTIONS)}")
    module = ATTENTIONS[name]
    return module() if module is NoAttention else module(channels)
