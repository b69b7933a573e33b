"""`Explainer`: Grad-CAM-family maps, guided backprop and Guided Grad-CAM for one trained model."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from shoekit.explain.cams import check_method, compute_cams
from shoekit.explain.guided import guided_backprop
from shoekit.explain.layers import target_layer
from shoekit.explain.options import DEFAULT_LAYER, DEFAULT_METHOD
from shoekit.explain.results import ImageExplanation, PairExplanation, QueryExplanation
from shoekit.explain.targets import ClassTarget, SimilarityTarget


def frozen_copy(model: nn.Module, layer: str) -> nn.Module:
    """A deep copy of `model` in eval mode where only the parameters of `layer` require grad.

    A CAM then back-propagates from the output to `layer` only (the layer's own output needs a
    gradient-tracking parameter); guided backprop makes the input require grad instead.
    """
    frozen = copy.deepcopy(model).eval()
    frozen.requires_grad_(False)
    target_layer(frozen, layer).requires_grad_(True)
    return frozen


class Explainer:
    """Heatmaps of one model for one feature head, CAM method and target layer.

    Images are model inputs: raw RGB `(3, H, W)` (or `(B, 3, H, W)`) float in [0, 1], already
    resized (`shoekit.data.eval_transform`). Everything runs in fp32 on the model's device, on
    a private copy made here: the caller's model is never modified (guided backprop swaps
    ReLUs, CAMs fill `.grad`). Rebuild the explainer after changing the model's weights. Not
    thread-safe (guided backprop swaps the copy's ReLUs while it runs): one explainer per thread.
    """

    def __init__(self, model: nn.Module, head: str = "max", method: str = DEFAULT_METHOD,
                 layer: str = DEFAULT_LAYER):
        model.check_head(head)
        self.head = head
        self.method = check_method(method)
        self.layer = layer
        self.model = frozen_copy(model, layer)
        self.device = next(self.model.parameters()).device

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised fp32 features `(B, D)` of the explainer's head."""
        return F.normalize(self.model.features(images.to(self.device).float(), self.head), dim=1)

    @torch.no_grad()
    def predicted_classes(self, images: torch.Tensor) -> list[int]:
        """Index of the highest training-class logit for each image `(B, 3, H, W)`."""
        return self.model(images.to(self.device).float()).argmax(dim=1).tolist()

    def cams(self, images: torch.Tensor, targets: Sequence) -> np.ndarray:
        """Heatmaps `(B, H, W)` float32 in [0, 1], one target per image (see `compute_cams`)."""
        return compute_cams(self.model, images.to(self.device).float(), targets, self.method, self.layer)

    def guided_backprop(self, image: torch.Tensor, target) -> np.ndarray:
        """Guided backprop `(H, W, 3)` float32 of one image `(3, H, W)` for `target`."""
        return guided_backprop(self.model, image.to(self.device).float(), target)

    def explain(self, images: torch.Tensor, targets: Sequence) -> list[ImageExplanation]:
        """CAM, overlay, guided backprop and Guided Grad-CAM of each image for its target."""
        cams = self.cams(images, targets)
        return [ImageExplanation.build(image, cam, self.guided_backprop(image, target))
                for image, cam, target in zip(images, cams, targets)]

    def explain_classes(self, images: torch.Tensor, classes: Sequence[int] | None = None
                        ) -> list[ImageExplanation]:
        """Explain each image `(B, 3, H, W)` by a training-class logit (default: its predicted class)."""
        classes = self.predicted_classes(images) if classes is None else classes
        return self.explain(images, [ClassTarget(int(category)) for category in classes])

    def explain_query(self, query: torch.Tensor, matches: torch.Tensor, distances: Sequence[float] | None = None,
                      identities: Sequence[str] | None = None, query_identity: str | None = None
                      ) -> QueryExplanation:
        """Explain `query` `(3, H, W)` against each of `matches` `(K, 3, H, W)`, in both directions.

        For match k the query's map explains its similarity to match k, and match k's map its
        similarity to the query. `distances` (the ranking's, shown in figures) default to
        1 − cosine similarity; `correct` is set when `identities` and `query_identity` are given.
        """
        count = len(matches)
        if count == 0:
            raise ValueError("no matches to explain: give at least one gallery crop")
        features = self.features(torch.cat([query[None], matches]))
        query_targets = [SimilarityTarget(features[1 + k], self.head) for k in range(count)]
        match_targets = [SimilarityTarget(features[0], self.head)] * count
        images = torch.cat([query[None].expand(count, -1, -1, -1), matches])
        explained = self.explain(images, query_targets + match_targets)
        similarities = (features[1:] @ features[0]).tolist()
        pairs = []
        for k in range(count):
            identity = None if identities is None else str(identities[k])
            correct = None if identity is None or query_identity is None else identity == str(query_identity)
            distance = 1.0 - similarities[k] if distances is None else float(distances[k])
            pairs.append(PairExplanation(query=explained[k], match=explained[count + k],
                                         similarity=similarities[k], distance=distance, rank=k + 1,
                                         identity=identity, correct=correct))
        return QueryExplanation(head=self.head, method=self.method, layer=self.layer, pairs=pairs,
                                query_identity=query_identity)

    def explain_pair(self, query: torch.Tensor, match: torch.Tensor) -> PairExplanation:
        """Explain one pair of crops `(3, H, W)` each, in both directions."""
        return self.explain_query(query, match[None]).pairs[0]
