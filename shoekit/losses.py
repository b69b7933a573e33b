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

SMOOTHING_FORMS = ("paper", "pytorch")


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
