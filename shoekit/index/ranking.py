"""Rank-k, CMC and mAP from top-k lists (an index's answers) instead of a full distance matrix.

A query's positives are all gallery items of its identity (minus junk); those an index did not
return within its `depth` count as misses. When every positive is within the depth and the
index returns the exact top-k, the numbers equal `shoekit.metrics.rank_metrics` on the full
distance matrix; `positives_beyond_depth` says how many positives were missed.
"""

from __future__ import annotations

from collections import Counter

import numpy as np


def topk_rank_metrics(top_positions: np.ndarray, query_ids, gallery_ids, max_rank: int = 50,
                      query_cams=None, gallery_cams=None) -> dict:
    """CMC and mAP of ranked lists `top_positions` (Q, K) int64 into the gallery (-1: empty slot).

    `query_ids` (Q,), `gallery_ids` (G,): identities; with `query_cams`/`gallery_cams`, items of
    the query's identity and camera are junk (as in `rank_metrics`). AP of a query = sum of
    precision at its hits within the list / its number of positives in the whole gallery.
    Returns the keys of `rank_metrics` plus `positives_beyond_depth`.
    """
    top_positions = np.asarray(top_positions, dtype=np.int64)
    query_ids, gallery_ids = np.asarray(query_ids), np.asarray(gallery_ids)
    use_cams = query_cams is not None and gallery_cams is not None
    if use_cams:
        query_cams, gallery_cams = np.asarray(query_cams), np.asarray(gallery_cams)
        junk_of = Counter(zip(gallery_ids.tolist(), gallery_cams.tolist()))
    per_identity = Counter(gallery_ids.tolist())
    cmc_sum = np.zeros(max_rank)
    ap = np.full(len(top_positions), np.nan)
    beyond = 0
    for q, ranked in enumerate(top_positions):
        ranked = ranked[ranked >= 0]
        positives = per_identity[query_ids[q]]
        keep = np.ones(len(ranked), dtype=bool)
        if use_cams:
            positives -= junk_of[(query_ids[q], query_cams[q])]
            keep = ~((gallery_ids[ranked] == query_ids[q]) & (gallery_cams[ranked] == query_cams[q]))
        if positives == 0:
            continue
        matches = gallery_ids[ranked][keep] == query_ids[q]
        hits = np.flatnonzero(matches)
        beyond += positives - hits.size
        if hits.size and hits[0] < max_rank:
            cmc_sum[hits[0]:] += 1
        ap[q] = float((np.arange(1, hits.size + 1) / (hits + 1)).sum() / positives)
    num_valid = int(np.count_nonzero(~np.isnan(ap)))
    cmc = cmc_sum / max(num_valid, 1)
    return {
        "cmc": cmc,
        "rank1": float(cmc[0]),
        "rank5": float(cmc[min(4, max_rank - 1)]),
        "rank10": float(cmc[min(9, max_rank - 1)]),
        "mAP": float(np.nanmean(ap)) if num_valid else 0.0,
        "ap": ap,
        "num_valid_queries": num_valid,
        "num_invalid_queries": len(top_positions) - num_valid,
        "positives_beyond_depth": int(beyond),
    }


def rank_with_index(query_feats: np.ndarray, gallery_feats: np.ndarray, query_ids, gallery_ids,
                    metric: str, settings, depth: int = 1000, keep: int = 100, max_rank: int = 50,
                    query_cams=None, gallery_cams=None) -> tuple[dict, np.ndarray, np.ndarray]:
    """Rank L2-normalised features with an in-memory index to `depth`.

    Returns (`topk_rank_metrics` result, top positions (Q, keep) int64, their distances (Q, keep)
    float32 in `metric` units: "cosine" 1 − cos, "euclidean" sqrt(2 − 2 cos)).
    """
    from shoekit.index.gallery import GalleryIndex
    from shoekit.index.source import FeatureSource

    source = FeatureSource(model="in-memory evaluation", head="features", feature_dim=gallery_feats.shape[1])
    index = GalleryIndex.build(gallery_feats, source, settings)
    found = index.search(query_feats, source, k=min(depth, index.size))
    result = topk_rank_metrics(found.positions, query_ids, gallery_ids, max_rank, query_cams, gallery_cams)
    distances = found.distances[:, :keep]
    if metric == "euclidean":
        distances = np.sqrt(np.maximum(2.0 * distances, 0.0))
    elif metric != "cosine":
        raise ValueError(f"unknown metric {metric!r}; choose 'cosine' or 'euclidean'")
    return result, found.positions[:, :keep], distances.astype(np.float32)
