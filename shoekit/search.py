"""Search a run's saved gallery with a new query crop; rankings and queries as tables.

The gallery's features are the ones `shoekit evaluate` saved (RUN/eval/HEAD/features.npz, via
`shoekit.explain.evaluation`); only the query is passed through the model, with the same head
and precision as the evaluation, so a query taken from the dataset ranks as it did there.
`search_gallery` ranks the saved features for one query feature, as the evaluation did.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from shoekit.data import ShoeCrops
from shoekit.evaluate import extract_features
from shoekit.metrics import distance_matrix, l2_normalize
from shoekit.models import AttentionResNet50

OPTIONAL_MATCH_COLUMNS: tuple[str, ...] = ("camera", "background", "view")


def query_feature(model: AttentionResNet50, queries: torch.Tensor, head: str, bf16: bool = True) -> np.ndarray:
    """L2-normalised query feature `(D,)` float32 of one crop `(3, H, W)` or several `(N, 3, H, W)`.

    Model inputs are RGB in [0, 1] at the run's image size. Several crops of one shoe (frames
    of a video) give one multi-shot feature: the mean of their normalised features, normalised.
    Runs through `shoekit.evaluate.extract_features`, so `bf16` (autocast where supported)
    should match the evaluation's precision (its metrics.json "precision").
    """
    batch = queries[None] if queries.dim() == 3 else queries
    features = extract_features(model, [(image, 0, index) for index, image in enumerate(batch)], [head],
                                batch_size=len(batch), device=torch.device("cpu"), bf16=bf16,
                                progress=False)[head]
    return l2_normalize(l2_normalize(features).mean(axis=0, keepdims=True))[0]


def search_gallery(gallery_features: np.ndarray, query_feature: np.ndarray, top: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Best `top` gallery positions `(k,)` and cosine distances `(k,)` for one feature `(D,)`.

    Ties keep gallery order (a stable sort), as in `shoekit.evaluate`.
    """
    if gallery_features.shape[1] != np.asarray(query_feature).shape[-1]:
        raise ValueError(f"query feature has {np.asarray(query_feature).shape[-1]} values but the "
                         f"gallery features {gallery_features.shape[1]}: another head or model")
    distances = distance_matrix(np.asarray(query_feature)[None], gallery_features, "cosine")[0]
    order = np.argsort(distances, kind="stable")[:top]
    return order, distances[order]


def ranked_matches(gallery: ShoeCrops, positions: np.ndarray, distances: np.ndarray,
                   query_identity: str | None = None) -> pd.DataFrame:
    """One row per match, best first.

    `positions` `(k,)`: indices into `gallery` (the evaluation's gallery + distractor order);
    `distances` `(k,)`. Columns: rank (from 1), position, row (manifest row), identity,
    distance, path, split, then camera / background / view where the manifest has them, and
    `correct` (match identity == `query_identity`) when a query identity is given.
    """
    rows = gallery.rows.iloc[np.asarray(positions, dtype=np.int64)]
    table = pd.DataFrame({
        "rank": np.arange(1, len(rows) + 1),
        "position": np.asarray(positions, dtype=np.int64),
        "row": rows["row"].to_numpy(),
        "identity": rows["identity"].to_numpy(),
        "distance": np.asarray(distances, dtype=np.float64),
        "path": rows["path"].to_numpy(),
        "split": rows["split"].to_numpy(),
    })
    for column in OPTIONAL_MATCH_COLUMNS:
        if column in rows.columns:
            table[column] = rows[column].to_numpy()
    if query_identity is not None:
        table["correct"] = table["identity"] == str(query_identity)
    return table


def search(model: AttentionResNet50, head: str, query: torch.Tensor, gallery_features: np.ndarray,
           gallery: ShoeCrops, top: int = 10, bf16: bool = True) -> pd.DataFrame:
    """Rank the saved gallery for a new query: one crop `(3, H, W)` or several `(N, 3, H, W)` of
    the same shoe (see `query_feature`), model inputs at the run's image size.

    `gallery_features` `(G, D)`: the saved, L2-normalised features of `gallery`
    (`EvaluationResults.features()[1]`). Returns `ranked_matches` of the best `top`,
    distances being cosine distances 1 − cos in [0, 2].
    """
    if len(gallery_features) != len(gallery):
        raise ValueError(f"{len(gallery_features)} gallery features but {len(gallery)} gallery crops "
                         f"in {gallery.root}; re-run shoekit evaluate on this run")
    feature = query_feature(model, query, head, bf16)
    positions, distances = search_gallery(gallery_features, feature, min(top, len(gallery)))
    return ranked_matches(gallery, positions, distances)


def query_table(queries: ShoeCrops, gallery: ShoeCrops, top_indices: np.ndarray, ap: np.ndarray) -> pd.DataFrame:
    """One row per evaluated query (in evaluation order) with how well it was ranked.

    `top_indices` `(Q, K)` gallery positions and `ap` `(Q,)` from rankings.npz. Columns:
    position, row, identity, path, ap (NaN: no correct crop in the gallery), first_hit (rank
    of the first correct match, from 1; 0 when none within the saved top K), then camera /
    background / view where the manifest has them.
    """
    gallery_ids = np.asarray(gallery.identities)
    hits = gallery_ids[np.asarray(top_indices)] == np.asarray(queries.identities)[:, None]
    first_hit = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, 0)
    table = pd.DataFrame({"position": np.arange(len(queries)), "row": queries.rows["row"].to_numpy(),
                          "identity": queries.identities, "path": queries.rows["path"].to_numpy(),
                          "ap": np.asarray(ap, dtype=np.float64), "first_hit": first_hit})
    for column in OPTIONAL_MATCH_COLUMNS:
        if column in queries.rows.columns:
            table[column] = queries.rows[column].to_numpy()
    return table
