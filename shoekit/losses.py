"""Cross-entropy with label smoothing, in the paper's form or PyTorch's.

Paper (eqs. 6-7): the target class gets 1 − ε and every other class ε/N, so
    loss = −(1 − ε) log p_y − (ε/N) Σ_{k≠y} log p_k.
PyTorch (`F.cross_entropy(label_smoothing=ε)`): the target gets 1 − ε + ε/N, every class ε/N.
With ε = 0 both are plain cross-entropy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from shoekit.choices import MARGINS, SMOOTHING_FORMS


def with_margin(logits: torch.Tensor, labels: torch.Tensor, scale: float, margin: float,
                kind: str) -> torch.Tensor:
    """Cosine-classifier logits `(B, N)` (= scale × cos θ) with an additive margin on each
    row's target class: "cosface" s·(cos θ − m) (Wang et al. 2018), "arcface" s·cos(θ + m)
    (Deng et al. 2019), "none" unchanged. Float32 out."""
    if kind not in MARGINS:
        raise ValueError(f"unknown margin {kind!r}; choose one of {', '.join(MARGINS)}")
    logits = logits.float()
    if kind == "none" or margin == 0:
        return logits
    rows = torch.arange(len(labels), device=labels.device)
    cosine = logits[rows, labels] / scale
    if kind == "cosface":
        target = cosine - margin
    else:
        target = torch.cos(torch.acos(cosine.clamp(-1 + 1e-6, 1 - 1e-6)) + margin)
    return logits.index_put((rows, labels), scale * target)


class LabelSmoothingCrossEntropy(nn.Module):
    """logits `(B, N)`, integer targets `(B,)` -> mean loss (scalar)."""

    def __init__(self, epsilon: float = 0.0, form: str = "paper"):
        super().__init__()
        if not 0.0 <= epsilon < 1.0:
            raise ValueError(f"label smoothing epsilon must be in [0, 1), not {epsilon}")
        if form not in SMOOTHING_FORMS:
            raise ValueError(f"unknown label smoothing form {form!r}; choose one of {SMOOTHING_FORMS}")
        self.epsilon = epsilon
        self.form = form

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if self.form == "pytorch":
            return F.cross_entropy(logits, targets, label_smoothing=self.epsilon)
        log_probs = F.log_softmax(logits, dim=1)
        num_classes = logits.shape[1]
        weights = torch.full_like(log_probs, self.epsilon / num_classes)
        weights.scatter_(1, targets.unsqueeze(1), 1.0 - self.epsilon)
        return -(weights * log_probs).sum(dim=1).mean()


def pairwise_distances(features: torch.Tensor) -> torch.Tensor:
    """`(B, D)` -> `(B, B)` Euclidean distances (float32; sqrt clamped away from 0 for gradients)."""
    features = features.float()
    squared = features.pow(2).sum(1)
    dist = squared[:, None] + squared[None, :] - 2.0 * features @ features.T
    return dist.clamp(min=1e-12).sqrt()


def hardest_pairs(dist: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch-hard mining (Hermans et al. 2017): for each anchor the index of its farthest
    positive (same label, itself excluded) and of its nearest negative; `(B,)`, `(B,)`.

    Anchors without a positive get themselves as positive (distance 0, so no loss from them).
    """
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positive = torch.where(same & ~eye, dist, torch.full_like(dist, -1.0)).argmax(1)
    lonely = ~(same & ~eye).any(1)
    positive = torch.where(lonely, torch.arange(len(labels), device=labels.device), positive)
    negative = torch.where(same, torch.full_like(dist, float("inf")), dist).argmin(1)
    return positive, negative


class BatchHardTripletLoss(nn.Module):
    """features `(B, D)`, labels `(B,)` -> mean over anchors of max(0, d(a,p) − d(a,n) + margin),
    with the hardest positive and negative of each anchor in the batch; margin 0 uses the soft
    margin log(1 + exp(d(a,p) − d(a,n))). Batches need several images per identity (P×K)."""

    def __init__(self, margin: float = 0.3):
        super().__init__()
        if margin < 0:
            raise ValueError(f"triplet margin must be >= 0, not {margin}")
        self.margin = margin

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        dist = pairwise_distances(features)
        positive, negative = hardest_pairs(dist.detach(), labels)
        rows = torch.arange(len(labels), device=labels.device)
        gap = dist[rows, positive] - dist[rows, negative]
        if self.margin == 0:
            return F.softplus(gap).mean()
        return F.relu(gap + self.margin).mean()


class CenterLoss(nn.Module):
    """features `(B, D)`, labels `(B,)` -> mean of ½‖f − c_y‖² (Wen et al. 2016); the centres
    `(N, D)` are parameters, trained by their own optimizer (see `shoekit.train`)."""

    def __init__(self, num_classes: int, dim: int):
        super().__init__()
        self.centers = nn.Parameter(torch.randn(num_classes, dim))

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return 0.5 * (features.float() - self.centers[labels]).pow(2).sum(1).mean()


class ReidLoss(nn.Module):
    """The training objective: label-smoothed cross-entropy on the logits, plus optionally
    `triplet_weight` × batch-hard triplet and `center_weight` × centre loss on the pooled
    feature (before any BNNeck); with a cosine classifier, a CosFace/ArcFace `margin` of
    `margin_value` on the target logits (`scale`: the classifier's). Called as `loss(features, logits, labels)` -> (total, parts)
    where `parts` holds each term's value (floats) for the log."""

    def __init__(self, num_classes: int, feature_dim: int, epsilon: float = 0.0, form: str = "paper",
                 triplet_weight: float = 0.0, triplet_margin: float = 0.3, center_weight: float = 0.0,
                 margin: str = "none", margin_value: float = 0.0, scale: float = 1.0):
        super().__init__()
        self.margin, self.margin_value, self.scale = margin, margin_value, scale
        self.cross_entropy = LabelSmoothingCrossEntropy(epsilon, form)
        self.triplet_weight, self.center_weight = triplet_weight, center_weight
        self.triplet = BatchHardTripletLoss(triplet_margin) if triplet_weight > 0 else None
        self.center = CenterLoss(num_classes, feature_dim) if center_weight > 0 else None

    @property
    def needs_features(self) -> bool:
        return self.triplet is not None or self.center is not None

    def forward(self, features: torch.Tensor | None, logits: torch.Tensor, labels: torch.Tensor):
        total = self.cross_entropy(with_margin(logits, labels, self.scale, self.margin_value, self.margin),
                                   labels)
        parts = {"ce": total.item()}
        if self.triplet is not None:
            triplet = self.triplet(features, labels)
            total = total + self.triplet_weight * triplet
            parts["triplet"] = triplet.item()
        if self.center is not None:
            center = self.center(features, labels)
            total = total + self.center_weight * center
            parts["center"] = center.item()
        return total, parts
