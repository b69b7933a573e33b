"""Models: attention ResNet50 variants, retrieval heads and weight loading.

    model = build_model(attention="dual_pool", num_classes=150)
    logits = model(images)                 # images: raw RGB in [0, 1], (B, 3, H, W)
    feats = model.features(images, "max")  # (B, 2048)
"""

from __future__ import annotations

from shoekit.models.attention import ATTENTIONS
from shoekit.models.heads import HEADS, FeatureExtractor, feature_dim
from shoekit.models.resnet import AttentionResNet50
from shoekit.models.weights import LoadReport, load_pretrained

__all__ = ["ATTENTIONS", "HEADS", "AttentionResNet50", "FeatureExtractor", "LoadReport",
           "build_model", "feature_dim", "load_pretrained"]


def build_model(attention: str = "dual_pool", num_classes: int = 1000, last_stride: int = 2,
                pretrained: str | None = None, neck: str = "none", classifier: str = "linear",
                cos_scale: float = 16.0) -> AttentionResNet50:
    """ResNet50 with `attention` ("none", "se", "cbam", "eca", "dual_pool") in every bottleneck.

    `neck`: "none" (the paper) or "bnneck" (batch norm between pooled feature and classifier).
    `classifier`: "linear" or "cosine" (normalised features and weights times `cos_scale`).
    `pretrained`: None (random init), "imagenet" (torchvision's weights API) or a `.pth` path.
    """
    if attention not in ATTENTIONS:
        raise ValueError(f"unknown attention {attention!r}; choose one of {', '.join(ATTENTIONS)}")
    if last_stride not in (1, 2):
        raise ValueError(f"last_stride must be 1 or 2, not {last_stride}")
    model = AttentionResNet50(attention=attention, num_classes=num_classes, last_stride=last_stride, neck=neck,
                              classifier=classifier, cos_scale=cos_scale)
    if pretrained is not None:
        load_pretrained(model, pretrained)
    return model
