"""ResNet50 (bottlenecks 3-4-6-3) with an attention module in every bottleneck.

Parameter names match torchvision's `resnet50` (`conv1`, `layer1.0.conv1`, ..., `fc`), so its
ImageNet weights load into every variant; attention parameters live under
`layerN.M.attention.*`. Pixel mean/std are non-persistent buffers: the model takes raw RGB in
[0, 1] and its state dict stays torchvision-compatible.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from shoekit.choices import CLASSIFIERS, NECKS
from shoekit.models.attention import NoAttention, build_attention
from shoekit.models.heads import POOLINGS, check_head, model_heads

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LAYERS = (3, 4, 6, 3)


class CosineClassifier(nn.Module):
    """Features `(B, D)` -> `scale` × cos(feature, class weight): logits `(B, N)` in
    [-scale, scale] (normalised features and weights, as fast-reid's cosine softmax). A margin,
    when wanted, is the loss's business (`losses.MarginCrossEntropy`): it needs the labels."""

    def __init__(self, in_features: int, num_classes: int, scale: float = 16.0):
        super().__init__()
        if scale <= 0:
            raise ValueError(f"cosine classifier scale must be > 0, not {scale}")
        self.in_features = in_features
        self.scale = scale
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        nn.init.normal_(self.weight, std=0.01)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        cosine = F.linear(F.normalize(features.float(), dim=1), F.normalize(self.weight.float(), dim=1))
        return self.scale * cosine


class AttentionBottleneck(nn.Module):
    """torchvision's Bottleneck (stride on the 3×3 conv) plus attention after conv3/bn3, before the
    residual addition: `relu(identity + out ⊗ gate)`, added in one `torch.addcmul` pass over the
    map (a multiply then an add would be two). The gate comes from calling `self.attention(out,
    gate_only=True)`, so hooks on the attention module see `out` as their first argument; with
    `NoAttention` (any block's `attention` may be replaced by one) the block is plain ResNet50's:
    `relu(identity + out)`, no multiplication."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, attention: str, stride: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        width = planes
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.attention = build_attention(attention, out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        out = self.bn3(self.conv3(y))
        if isinstance(self.attention, NoAttention):
            return self.relu(self.attention(out) + identity)
        return self.relu(torch.addcmul(identity, out, self.attention(out, gate_only=True)))


class AttentionResNet50(nn.Module):
    """Images `(B, 3, H, W)` raw RGB in [0, 1] -> logits `(B, num_classes)`.

    `feature_map` gives layer4's output `(B, 2048, H/32, W/32)` (H/16 with `last_stride=1`);
    `features(images, head)` gives the retrieval vector of a head (see `heads.py`).
    `neck="bnneck"` (Luo et al., "Bag of Tricks"): the avg-pooled feature passes a BatchNorm1d
    (bias frozen at 0) before a bias-free classifier; metric losses use the feature before it.
    `classifier="cosine"`: the FC layer is a `CosineClassifier` (logits bounded by `cos_scale`).
    """

    def __init__(self, attention: str = "dual_pool", num_classes: int = 1000, last_stride: int = 2,
                 neck: str = "none", classifier: str = "linear", cos_scale: float = 16.0):
        super().__init__()
        if neck not in NECKS:
            raise ValueError(f"unknown neck {neck!r}; choose one of {', '.join(NECKS)}")
        if classifier not in CLASSIFIERS:
            raise ValueError(f"unknown classifier {classifier!r}; choose one of {', '.join(CLASSIFIERS)}")
        self.attention = attention
        self.num_classes = num_classes
        self.neck = neck
        self.heads = model_heads(neck)
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self._inplanes = 64
        self.layer1 = self._make_layer(64, LAYERS[0], 1)
        self.layer2 = self._make_layer(128, LAYERS[1], 2)
        self.layer3 = self._make_layer(256, LAYERS[2], 2)
        self.layer4 = self._make_layer(512, LAYERS[3], last_stride)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        channels = 512 * AttentionBottleneck.expansion
        if neck == "bnneck":
            self.bnneck = nn.BatchNorm1d(channels)
            self.bnneck.bias.requires_grad_(False)
        self.fc = (CosineClassifier(channels, num_classes, cos_scale) if classifier == "cosine"
                   else nn.Linear(channels, num_classes, bias=neck == "none"))
        self.poolings = nn.ModuleDict({name: pool() for name, pool in POOLINGS.items()})
        self._init_weights()

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        out = planes * AttentionBottleneck.expansion
        downsample = None
        if stride != 1 or self._inplanes != out:
            downsample = nn.Sequential(
                nn.Conv2d(self._inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out)
            )
        layers = [AttentionBottleneck(self._inplanes, planes, self.attention, stride, downsample)]
        self._inplanes = out
        layers += [AttentionBottleneck(out, planes, self.attention) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _init_weights(self) -> None:
        """torchvision's initialisation of convs and BNs; attention modules keep their own."""
        for name, module in self.named_modules():
            if ".attention" in name:
                continue
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def zero_init_residual(self) -> None:
        """Zero the last BN's scale of every residual branch (Goyal et al. 2017): each bottleneck
        starts as the identity, which speeds up training from scratch."""
        for module in self.modules():
            if isinstance(module, AttentionBottleneck):
                nn.init.zeros_(module.bn3.weight)

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        x = (images - self.pixel_mean) / self.pixel_std
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def check_head(self, head: str) -> str:
        """`head` when this model offers it (`heads.check_head` against `self.heads`: "bnneck"
        needs a BNNeck); SettingsError (a ValueError) naming the choices otherwise."""
        return check_head(head, self.heads)

    def classifier_input(self, pooled: torch.Tensor) -> torch.Tensor:
        """`(B, 2048)` avg-pooled features -> the classifier's input `(B, 2048)`: through the
        BNNeck when the model has one, else unchanged."""
        return self.bnneck(pooled) if self.neck == "bnneck" else pooled

    def classify(self, feature_map: torch.Tensor) -> torch.Tensor:
        return self.fc(self.classifier_input(self.avgpool(feature_map).flatten(1)))

    def forward(self, images: torch.Tensor, with_features: bool = False):
        """Logits `(B, N)`; with `with_features` also the avg-pooled feature `(B, 2048)` the
        metric losses use: `(features, logits)`."""
        if not with_features:
            return self.classify(self.feature_map(images))
        pooled = self.avgpool(self.feature_map(images)).flatten(1)
        return pooled, self.fc(self.classifier_input(pooled))

    def head_features(self, feature_map: torch.Tensor, head: str) -> torch.Tensor:
        """Retrieval features `(B, D)` of `head` from a layer4 map, not normalised; SettingsError
        for a head this model does not offer (`check_head`)."""
        self.check_head(head)
        if head == "fc":
            return self.classify(feature_map)
        if head == "bnneck":
            return self.bnneck(self.avgpool(feature_map).flatten(1))
        return self.poolings[head](feature_map)

    def features(self, images: torch.Tensor, head: str) -> torch.Tensor:
        """Retrieval features `(B, D)` of `head` (see `heads.py`), not normalised; the head is
        checked before the backbone runs."""
        head = self.check_head(head)
        return self.head_features(self.feature_map(images), head)
