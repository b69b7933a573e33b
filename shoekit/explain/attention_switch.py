"""Switch the attention of whole stages off (gate = 1) and see how one query's ranking changes.

    with attention_switched_off(model, ["layer3"]):      # layer3's blocks act as plain ResNet50's
        features = model.features(images, "max")

    with attention_switched_off(model, ["layer3"]):
        off = gallery_features(model, "max", candidate_images)
    change = switched_ranking(model, "max", query, candidates, gallery_ids, ["layer3"],
                              on_features, off, query_identity="id4")
    change.on.first_hit, change.off.first_hit, change.off.ap

Switching off replaces each `block.attention` of the chosen stages by `NoAttention` and always
puts the original modules back. The gallery is re-encoded with the same switch (a switched-off
query against gallery features made with attention on would compare two different networks).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from shoekit.explain.layers import STAGES
from shoekit.metrics import average_precision, l2_normalize
from shoekit.models.attention import NoAttention
from shoekit.search import query_feature, search_gallery


def check_stages(stages: Sequence[str]) -> list[str]:
    """`stages` as a list; ValueError naming the choices for an unknown one."""
    unknown = [stage for stage in stages if stage not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {', '.join(unknown)}; choose from {', '.join(STAGES)}")
    return list(stages)


@contextmanager
def attention_switched_off(model: nn.Module, stages: Sequence[str]) -> Iterator[nn.Module]:
    """Within the block, every bottleneck of `stages` ("layer1" ... "layer4") runs without its
    attention (`NoAttention`: gate = 1); the modules are restored on exit, also after an error.

    The model is changed in place: callers sharing it between threads must hold a lock."""
    saved = []
    try:
        for stage in check_stages(stages):
            for block in model.get_submodule(stage):
                saved.append((block, block.attention))
                block.attention = NoAttention()
        yield model
    finally:
        for block, attention in saved:
            block.attention = attention


def gallery_features(model: nn.Module, head: str, images: torch.Tensor, bf16: bool = True,
                     batch_size: int = 128) -> np.ndarray:
    """L2-normalised features `(G, D)` float32 of model inputs `(G, 3, S, S)` in [0, 1], as
    `shoekit.evaluate` computes them (`bf16`: the evaluation's precision)."""
    from shoekit.evaluate import extract_features

    items = [(image, 0, index) for index, image in enumerate(images)]
    features = extract_features(model, items, [head], batch_size=batch_size, device=torch.device("cpu"),
                                bf16=bf16, progress=False)[head]
    return l2_normalize(features)


@dataclass(frozen=True)
class QueryRanking:
    """One query's ranking over the candidate gallery crops.

    `positions` `(K,)` gallery positions best first (all candidates), `distances` `(K,)` cosine
    distances in [0, 2]; `first_hit`: rank (from 1) of the first crop of the query's type, 0 when
    none or the query's type is unknown; `ap`: average precision in [0, 1], NaN when unknown.
    """

    positions: np.ndarray
    distances: np.ndarray
    first_hit: int
    ap: float


@dataclass(frozen=True)
class SwitchedRanking:
    """A query ranked with attention on and with `stages` switched off, over the same candidates
    (`candidates` `(K,)` gallery positions, ascending)."""

    stages: tuple[str, ...]
    candidates: np.ndarray
    on: QueryRanking
    off: QueryRanking

    @property
    def moved(self) -> int:
        """How many of the top 10 positions hold another crop once attention is off."""
        top = min(10, len(self.candidates))
        return int(np.count_nonzero(self.on.positions[:top] != self.off.positions[:top]))


def query_ranking(feature: np.ndarray, candidate_features: np.ndarray, candidates: np.ndarray,
                  gallery_ids: Sequence[str], query_identity: str | None) -> QueryRanking:
    """Rank the candidate crops (features `(K, D)`, gallery positions `candidates` `(K,)`) for a
    normalised query feature `(D,)`."""
    order, distances = search_gallery(candidate_features, feature, len(candidates))
    positions = np.asarray(candidates)[order]
    if query_identity is None:
        return QueryRanking(positions, distances, 0, float("nan"))
    matches = np.asarray(gallery_ids, dtype=object)[positions] == str(query_identity)
    first_hit = int(np.argmax(matches)) + 1 if matches.any() else 0
    return QueryRanking(positions, distances, first_hit, average_precision(matches) if matches.any() else float("nan"))


def switched_ranking(model: nn.Module, head: str, query: torch.Tensor, candidates: np.ndarray,
                     gallery_ids: Sequence[str], stages: Sequence[str], on_features: np.ndarray,
                     off_features: np.ndarray, query_identity: str | None = None,
                     bf16: bool = True) -> SwitchedRanking:
    """One query `(3, S, S)` ranked among the candidate gallery crops with attention on and with
    the attention of `stages` switched off.

    `candidates` `(K,)`: gallery positions (`candidate_positions`); `gallery_ids` `(G,)`: the
    whole gallery's identities; `on_features` `(K, D)`: the candidates' normalised features with
    attention on (the run's saved ones); `off_features` `(K, D)`: theirs with the same switch
    (`gallery_features` inside `attention_switched_off`; computed once, shared by every query)."""
    stages = tuple(check_stages(stages))
    on = query_ranking(query_feature(model, query, head, bf16), on_features, candidates, gallery_ids,
                       query_identity)
    with attention_switched_off(model, stages):
        feature = query_feature(model, query, head, bf16)
    off = query_ranking(feature, off_features, candidates, gallery_ids, query_identity)
    return SwitchedRanking(stages, np.asarray(candidates), on, off)


def candidate_positions(gallery_features_on: np.ndarray, feature: np.ndarray, limit: int) -> np.ndarray:
    """The gallery positions a switched ranking is computed over, ascending `(K,)`: the whole
    gallery when it holds at most `limit` crops, else the `limit` crops closest to the query's
    normalised feature `(D,)` with attention on (`gallery_features_on` `(G, D)`)."""
    if len(gallery_features_on) <= limit:
        return np.arange(len(gallery_features_on))
    return np.sort(search_gallery(gallery_features_on, feature, limit)[0])
