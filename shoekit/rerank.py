"""Evaluation-time post-processing of a ranking: k-reciprocal re-ranking and query expansion.

`k_reciprocal_rerank`: Zhong et al., "Re-ranking Person Re-identification with k-reciprocal
Encoding", CVPR 2017, as implemented in the usual person re-id code bases (float32, top-k
neighbour lists instead of a full sort). It builds dense `(Q+G, Q+G)` float32 matrices (about
2.3 of them at the peak), so it is meant for galleries up to a few tens of thousands of crops:
20,000 queries + gallery crops need about 4 GB.

`average_query_expansion`: each query replaced by the mean of itself and its top-k gallery
neighbours (Chum et al., ICCV 2007, "average query expansion").

Both take L2-normalised features (they normalise again, so raw features work too) and are
deterministic: neighbours are ordered by distance, ties by position (stable sorts).
"""

from __future__ import annotations

import numpy as np

from shoekit.metrics import l2_normalize

ROW_CHUNK = 1024


def nearest_neighbours(distances: np.ndarray, k: int) -> np.ndarray:
    """`(N, M)` distances -> `(N, min(k, M))` int column indices of each row's k smallest, best first.

    Works on ROW_CHUNK rows at a time, so the temporary index arrays stay small.
    """
    k = min(k, distances.shape[1])
    neighbours = np.empty((len(distances), k), np.int64)
    for start in range(0, len(distances), ROW_CHUNK):
        block = distances[start:start + ROW_CHUNK]
        candidates = np.sort(np.argpartition(block, k - 1, axis=1)[:, :k], axis=1) if k < block.shape[1] else \
            np.broadcast_to(np.arange(k), block.shape)
        order = np.argsort(np.take_along_axis(block, candidates, axis=1), axis=1, kind="stable")
        neighbours[start:start + ROW_CHUNK] = np.take_along_axis(candidates, order, axis=1)
    return neighbours


def average_query_expansion(query: np.ndarray, gallery: np.ndarray, k: int = 5) -> np.ndarray:
    """`(Q, D)` queries, `(G, D)` gallery -> `(Q, D)` float32 expanded queries, L2-normalised.

    Each query becomes the normalised mean of itself and its `k` most cosine-similar gallery
    features (all of them when k >= G). `k` = 0 returns a float32 copy of the queries as given.
    """
    if k < 0:
        raise ValueError(f"query expansion k must be >= 0, not {k}")
    if k == 0 or len(gallery) == 0:
        return np.array(query, dtype=np.float32)
    query, gallery = l2_normalize(query), l2_normalize(gallery)
    expanded = np.empty_like(query)
    for start in range(0, len(query), ROW_CHUNK):  # bounds memory to ROW_CHUNK × G
        block = query[start:start + ROW_CHUNK]
        neighbours = nearest_neighbours(-(block @ gallery.T), k)        # (B, k)
        expanded[start:start + ROW_CHUNK] = block + gallery[neighbours].sum(axis=1)
    return l2_normalize(expanded)


def reciprocal_neighbours(ranks: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """k-nearest neighbour lists `(N, k+1)` (self included) and a mask `(N, k+1)` of the reciprocal ones.

    `ranks`: `(N, >= k+1)` neighbour indices, best first. Neighbour j of i is reciprocal when i is
    among the k+1 nearest of j.
    """
    forward = ranks[:, :k + 1]
    backward = ranks[forward, :k + 1]                                   # (N, k+1, k+1)
    mask = (backward == np.arange(len(ranks))[:, None, None]).any(axis=2)
    return forward, mask


def expanded_reciprocal_set(i: int, forward: np.ndarray, mask: np.ndarray, half_forward: np.ndarray,
                            half_mask: np.ndarray) -> np.ndarray:
    """R*(i): the k1-reciprocal neighbours of i plus each neighbour's k1/2-reciprocal set that
    shares more than 2/3 of its items with them (sorted unique indices)."""
    reciprocal = forward[i][mask[i]]
    candidate_sets = half_forward[reciprocal]                           # (R, k1/2+1)
    candidate_masks = half_mask[reciprocal]
    shared = (np.isin(candidate_sets, reciprocal) & candidate_masks).sum(axis=1)
    added = shared > 2 / 3 * candidate_masks.sum(axis=1)
    extra = candidate_sets[added][candidate_masks[added]]
    return np.unique(np.concatenate([reciprocal, extra]))


def encode_neighbourhoods(original: np.ndarray, ranks: np.ndarray, k1: int) -> np.ndarray:
    """`(N, N)` float32 V, mostly zeros: row i spreads weight exp(-d) over R*(i), summing to 1."""
    forward, mask = reciprocal_neighbours(ranks, k1)
    half_forward, half_mask = reciprocal_neighbours(ranks, int(np.around(k1 / 2)))
    encoded = np.zeros_like(original)
    for i in range(len(original)):
        members = expanded_reciprocal_set(i, forward, mask, half_forward, half_mask)
        weights = np.exp(-original[i, members])
        encoded[i, members] = weights / weights.sum()
    return encoded


def local_query_expansion(encoded: np.ndarray, ranks: np.ndarray, k2: int) -> np.ndarray:
    """`(N, N)` V with each row replaced by the mean of the rows of its k2 nearest neighbours."""
    if k2 <= 1:
        return encoded
    expanded = np.empty_like(encoded)
    for i in range(len(encoded)):
        expanded[i] = encoded[ranks[i, :k2]].mean(axis=0)
    return expanded


def jaccard_distance(encoded: np.ndarray, num_query: int) -> np.ndarray:
    """`(Q, G)` float32 1 - Σmin/Σmax of the V rows of queries (first Q rows) and gallery items.

    V rows sum to 1, so Σmax = 2 - Σmin; the sum of minima runs over an inverted index of the
    gallery rows' non-zero columns.
    """
    gallery_rows, columns = np.nonzero(encoded[num_query:])
    order = np.argsort(columns, kind="stable")
    gallery_rows, columns = gallery_rows[order], columns[order]
    values = encoded[num_query:][gallery_rows, columns]
    starts = np.searchsorted(columns, np.arange(encoded.shape[1] + 1))
    num_gallery = len(encoded) - num_query
    jaccard = np.empty((num_query, num_gallery), np.float32)
    for q in range(num_query):
        nonzero = np.flatnonzero(encoded[q])
        lengths = starts[nonzero + 1] - starts[nonzero]
        offsets = np.repeat(starts[nonzero] - (np.cumsum(lengths) - lengths), lengths)
        positions = np.arange(lengths.sum()) + offsets                  # entries of those columns
        minima = np.minimum(np.repeat(encoded[q, nonzero], lengths), values[positions])
        shared = np.bincount(gallery_rows[positions], weights=minima, minlength=num_gallery)
        jaccard[q] = 1.0 - shared / (2.0 - shared)
    return jaccard


def k_reciprocal_rerank(query: np.ndarray, gallery: np.ndarray, k1: int = 20, k2: int = 6,
                        lambda_value: float = 0.3) -> np.ndarray:
    """`(Q, D)` queries, `(G, D)` gallery -> `(Q, G)` float32 re-ranked distances (smaller = closer).

    Over the Q+G features stacked: the original distance is the squared Euclidean distance of the
    L2-normalised features (2 - 2 cos), each row divided by its maximum; each item is encoded by
    its k1-reciprocal neighbours (expanded with the k1/2 rule, Gaussian-kernel weights), averaged
    over its k2 nearest neighbours (local query expansion; k2 = 1: off); the result is
    jaccard · (1 - lambda_value) + original · lambda_value. Memory: O((Q+G)²) float32.
    """
    if k1 < 1 or k2 < 1 or not 0.0 <= lambda_value <= 1.0:
        raise ValueError(f"re-ranking needs k1 >= 1, k2 >= 1 and 0 <= lambda_value <= 1 "
                         f"(got k1={k1}, k2={k2}, lambda_value={lambda_value})")
    query, gallery = l2_normalize(query), l2_normalize(gallery)
    num_query = len(query)
    if num_query == 0 or len(gallery) == 0:
        return np.zeros((num_query, len(gallery)), np.float32)
    features = np.concatenate([query, gallery])
    original = features @ features.T                                    # (N, N)
    np.multiply(original, -2.0, out=original)
    np.add(original, 2.0, out=original)
    np.maximum(original, 0.0, out=original)
    original /= np.maximum(original.max(axis=1, keepdims=True), 1e-12)
    ranks = nearest_neighbours(original, max(k1 + 1, k2))               # (N, K)
    encoded = encode_neighbourhoods(original, ranks, k1)
    original_qg = original[:num_query, num_query:].copy()
    del original
    encoded = local_query_expansion(encoded, ranks, k2)
    jaccard = jaccard_distance(encoded, num_query)
    return (jaccard * (1.0 - lambda_value) + original_qg * lambda_value).astype(np.float32)
