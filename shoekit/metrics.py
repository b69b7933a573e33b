"""Re-identification metrics: distances, CMC, mAP (numpy in, numpy out).

Ranking is by ascending distance with ties broken by gallery order (a stable sort), so results
are reproducible; say so when comparing with tools that break ties otherwise.
"""

from __future__ import annotations

import numpy as np


def l2_normalize(features: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit length: `(N, D)` -> `(N, D)` float32."""
    features = np.asarray(features, dtype=np.float32)
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), eps)


def distance_matrix(query: np.ndarray, gallery: np.ndarray, metric: str = "cosine") -> np.ndarray:
    """`(Q, D)`, `(G, D)` -> `(Q, G)` float32 distances.

    "cosine": 1 − cos(q, g) in [0, 2]; "euclidean": ‖q − g‖₂ of the vectors as given
    (normalise first for the usual re-id setting).
    """
    query = np.asarray(query, dtype=np.float32)
    gallery = np.asarray(gallery, dtype=np.float32)
    if metric == "cosine":
        return 1.0 - l2_normalize(query) @ l2_normalize(gallery).T
    if metric == "euclidean":
        squared = (query ** 2).sum(1)[:, None] + (gallery ** 2).sum(1)[None, :] - 2.0 * query @ gallery.T
        return np.sqrt(np.maximum(squared, 0.0))
    raise ValueError(f"unknown metric {metric!r}; choose 'cosine' or 'euclidean'")


def average_precision(matches: np.ndarray) -> float:
    """Non-interpolated AP of one ranked list: mean of precision@k over the positions k of the hits.

    `matches`: `(G,)` bool in rank order. Returns 0.0 for a list with no hit.
    """
    matches = np.asarray(matches, dtype=bool)
    hits = np.flatnonzero(matches)
    if hits.size == 0:
        return 0.0
    precision_at_hits = np.arange(1, hits.size + 1) / (hits + 1)
    return float(precision_at_hits.mean())


def rank_metrics(distmat: np.ndarray, query_ids, gallery_ids, max_rank: int = 50,
                 query_cams=None, gallery_cams=None) -> dict:
    """CMC and mAP of a `(Q, G)` distance matrix.

    `query_ids` `(Q,)`, `gallery_ids` `(G,)`: identities (any comparable type). With
    `query_cams`/`gallery_cams`, gallery items of the query's identity *and* camera are junk
    (removed from that query's list, as in Market-1501). Queries with no correct gallery item
    are left out of CMC and mAP and counted in `num_invalid_queries`.

    Returns `cmc` `(max_rank,)` (CMC[k-1] = share of valid queries with a correct match in the
    top k), `rank1`, `rank5`, `rank10`, `mAP` (fractions in [0, 1]), `ap` `(Q,)` (NaN for
    invalid queries), `num_valid_queries`, `num_invalid_queries`.
    """
    distmat = np.asarray(distmat)
    query_ids, gallery_ids = np.asarray(query_ids), np.asarray(gallery_ids)
    num_query, num_gallery = distmat.shape
    if query_ids.shape != (num_query,) or gallery_ids.shape != (num_gallery,):
        raise ValueError(f"distmat is {distmat.shape} but got {query_ids.shape[0]} query ids "
                         f"and {gallery_ids.shape[0]} gallery ids")
    use_cams = query_cams is not None and gallery_cams is not None
    order = np.argsort(distmat, axis=1, kind="stable")
    cmc_sum = np.zeros(max_rank)
    ap = np.full(num_query, np.nan)
    for q in range(num_query):
        ranked = order[q]
        keep = np.ones(num_gallery, dtype=bool)
        if use_cams:
            keep = ~((gallery_ids[ranked] == query_ids[q]) & (np.asarray(gallery_cams)[ranked] == query_cams[q]))
        matches = gallery_ids[ranked][keep] == query_ids[q]
        if not matches.any():
            continue
        first_hit = int(np.argmax(matches))
        if first_hit < max_rank:
            cmc_sum[first_hit:] += 1
        ap[q] = average_precision(matches)
    num_valid = int(np.count_nonzero(~np.isnan(ap)))
    cmc = cmc_sum / max(num_valid, 1)
    return {
        "cmc": cmc,
        "rank1": float(cmc[0]) if max_rank >= 1 else float("nan"),
        "rank5": float(cmc[min(4, max_rank - 1)]),
        "rank10": float(cmc[min(9, max_rank - 1)]),
        "mAP": float(np.nanmean(ap)) if num_valid else 0.0,
        "ap": ap,
        "num_valid_queries": num_valid,
        "num_invalid_queries": num_query - num_valid,
    }


# Student's t 0.975 quantiles by degrees of freedom (1-10): the two-sided 95% interval of a mean
# over a handful of training seeds. Beyond 10 degrees of freedom the value for 10 is used (wider).
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)


def seed_interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean of `values` (one number per training seed, e.g. an mAP difference) and its 95% Student
    t interval; NaN bounds with fewer than two finite values. It measures seed-to-seed variation,
    which a bootstrap over the queries of one seed cannot see."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if len(finite) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(finite.mean())
    if len(finite) < 2:
        return mean, float("nan"), float("nan")
    half = T_975[min(len(finite) - 1, len(T_975)) - 1] * float(finite.std(ddof=1)) / np.sqrt(len(finite))
    return mean, mean - half, mean + half


def paired_bootstrap(scores_a: np.ndarray, scores_b: np.ndarray, samples: int = 10_000, level: float = 0.95,
                     seed: int = 0) -> tuple[float, float, float]:
    """Mean of a − b over queries and its percentile bootstrap interval, resampling queries.

    `scores_a`, `scores_b`: `(Q,)` per-query scores of two systems on the same queries (e.g. AP);
    queries where either is NaN (no positive in the gallery) are left out. Returns
    (difference, low, high). It measures how much the difference depends on which queries were
    drawn, not the variation between training seeds.
    """
    a, b = np.asarray(scores_a, dtype=np.float64), np.asarray(scores_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired scores need the same queries: shapes {a.shape} and {b.shape}")
    diff = (a - b)[~(np.isnan(a) | np.isnan(b))]
    if len(diff) == 0:
        return float("nan"), float("nan"), float("nan")
    draws = np.random.default_rng(seed).integers(0, len(diff), size=(samples, len(diff)))
    means = diff[draws].mean(axis=1)
    tail = 100 * (1 - level) / 2
    return float(diff.mean()), float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))
