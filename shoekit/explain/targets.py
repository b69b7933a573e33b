"""What a heatmap explains: similarity to a reference feature (retrieval) or a class logit.

A target is a plain callable on one image's model output, as pytorch-grad-cam expects, and
also names the model output it needs (`output_model`) and the model guided backprop runs on
(`guided_model`), so CAMs and guided backprop explain exactly the same number.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from shoekit.models import FeatureExtractor
from shoekit.models.heads import check_head


class SimilarityModel(nn.Module):
    """Images `(B, 3, H, W)` -> `(B, 1)` cosine similarity of their features to `reference` `(D,)`."""

    def __init__(self, extractor: nn.Module, reference: torch.Tensor):
        super().__init__()
        self.extractor = extractor
        self.register_buffer("reference", reference.detach().flatten(), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.extractor(images)
        return F.cosine_similarity(features, self.reference.to(features.dtype)[None], dim=1)[:, None]


class SimilarityTarget:
    """Retrieval target: cos(feature of the explained image, `reference`), features of `head`.

    `reference` `(D,)`: the other crop's feature from the same head (normalised or not).
    Called on one image's features `(D,)` (or a batch `(B, D)`), returns the similarity.
    """

    def __init__(self, reference: torch.Tensor, head: str):
        self.reference = reference.detach().flatten()
        self.head = check_head(head)

    @property
    def output(self) -> str:
        """Which model output the target reads: the head's features."""
        return self.head

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        reference = self.reference.to(features.device, features.dtype)
        return F.cosine_similarity(features, reference.expand_as(features), dim=-1)

    def output_model(self, model: nn.Module) -> nn.Module:
        """images -> (B, D) features of the head: what CAMs run on."""
        return FeatureExtractor(model, self.head)

    def guided_model(self, model: nn.Module) -> tuple[nn.Module, int]:
        """(images -> (B, 1) similarity, output index 0): what guided backprop runs on."""
        return SimilarityModel(FeatureExtractor(model, self.head), self.reference), 0


class ClassTarget(ClassifierOutputTarget):
    """Classification target: the logit of training class `category` (pytorch-grad-cam's target)."""

    @property
    def output(self) -> str:
        return "logits"

    def output_model(self, model: nn.Module) -> nn.Module:
        return model

    def guided_model(self, model: nn.Module) -> tuple[nn.Module, int]:
        return model, int(self.category)
