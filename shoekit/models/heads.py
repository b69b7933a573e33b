"""Retrieval feature heads, chosen at extraction time from one trained model.

A head maps layer4's feature map `(B, 2048, h, w)` to a vector: "avg", "max", "maxavg"
([max; avg], 4096-d) or "gem" (generalised mean, p = 3). "fc" is the classifier's output (avg
pooling then the FC layer), the paper's baseline feature. "bnneck" is the avg-pooled feature
after the BNNeck's batch norm (models built with `neck="bnneck"` only; "avg" is the feature
before it). Poolings are small named modules so a head is swapped by name.
"""

from __future__ import annotations

import torch
from torch import nn

from shoekit.choices import HEADS, NECK_HEADS
from shoekit.errors import SettingsError


class GlobalAvgPool(nn.Module):
    """(B, C, h, w) -> (B, C): mean over space."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class GlobalMaxPool(nn.Module):
    """(B, C, h, w) -> (B, C): max over space."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=(2, 3))


class GlobalMaxAvgPool(nn.Module):
    """(B, C, h, w) -> (B, 2C): [max; avg] concatenated."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.amax(dim=(2, 3)), x.mean(dim=(2, 3))], dim=1)


class GeneralizedMeanPool(nn.Module):
    """(B, C, h, w) -> (B, C): (mean over space of x^p)^(1/p) (Radenović et al.), p fixed.

    p = 1 is avg pooling and p -> inf max pooling; computed in float32 on values clamped to eps.
    """

    def __init__(self, p: float = 3.0, eps: float = 1e-6):
        super().__init__()
        self.p = p
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float().clamp(min=self.eps).pow(self.p).mean(dim=(2, 3)).pow(1.0 / self.p)


# One pooling per name of `shoekit.choices.POOLING_HEADS` (tests check the two agree).
POOLINGS: dict[str, type[nn.Module]] = {
    "avg": GlobalAvgPool,
    "max": GlobalMaxPool,
    "maxavg": GlobalMaxAvgPool,
    "gem": GeneralizedMeanPool,
}


def check_head(head: str, offered: tuple[str, ...] = HEADS) -> str:
    """`head` when it is one of `offered` (default: every head); SettingsError (a ValueError)
    otherwise, naming the choices, or for a neck head a model lacks, the option that adds it.

    The one check of a head name: `AttentionResNet50.check_head` passes the model's own heads.
    """
    if head not in HEADS:
        raise SettingsError(f"unknown feature head {head!r}; choose one of {', '.join(HEADS)}")
    if head not in offered:
        raise SettingsError(f"head {head!r} needs a model trained with a BNNeck (--neck bnneck); "
                            f"this model offers {', '.join(offered)}")
    return head


def model_heads(neck: str) -> tuple[str, ...]:
    """The heads a model with `neck` ("none" or "bnneck") offers, in HEADS order."""
    return HEADS if neck == "bnneck" else tuple(h for h in HEADS if h not in NECK_HEADS)


def feature_dim(head: str, num_classes: int, channels: int = 2048) -> int:
    """Length of the feature vector a head yields."""
    check_head(head)
    return {"fc": num_classes, "maxavg": 2 * channels}.get(head, channels)


class FeatureExtractor(nn.Module):
    """A model with a fixed head: raw RGB in [0, 1] `(B, 3, H, W)` -> features `(B, D)`.

    Used for export, Grad-CAM targets and batch extraction; shares the model's parameters.
    """

    def __init__(self, model: nn.Module, head: str):
        super().__init__()
        self.model = model
        self.head = check_head(head)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.features(images, self.head)
