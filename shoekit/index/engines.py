"""Search engines behind a gallery index: numpy brute force, or a faiss index.

Every engine holds L2-normalised float32 vectors `(N, d)` and answers `search(queries, k)` with
inner products (cosine similarities) `(Q, k)` float32, best first, and gallery positions
`(Q, k)` int64 (-1 where fewer than k were found). Ties are broken by position.
"""

from __future__ import annotations

import logging

import numpy as np
from tqdm.auto import tqdm

from shoekit.index.errors import GalleryIndexError
from shoekit.index.settings import IndexSettings

ADD_CHUNK = 100_000
QUERY_CHUNK = 1024


def import_faiss():
    """The faiss module (its loader's INFO lines about CPU-specific builds silenced)."""
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    try:
        import faiss
    except ImportError as error:
        raise GalleryIndexError("faiss is not installed: pip install faiss-cpu (faiss-gpu on CUDA "
                                "machines), or use the exact index (--index exact)") from error
    return faiss


def top_k(similarities: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best `k` columns of each row of `(Q, N)` similarities, descending, ties by column."""
    num_rows, num = similarities.shape
    k = min(k, num)
    if k < num:
        kth = -np.partition(-similarities, k - 1, axis=1)[:, k - 1:k]
        above = similarities > kth
        level = similarities == kth
        chosen = above | (level & (np.cumsum(level, axis=1) <= k - above.sum(axis=1, keepdims=True)))
        candidates = np.nonzero(chosen)[1].reshape(num_rows, k)
    else:
        candidates = np.broadcast_to(np.arange(num), similarities.shape)
    values = np.take_along_axis(similarities, candidates, axis=1)
    order = np.lexsort((candidates, -values), axis=1)
    return np.take_along_axis(values, order, axis=1), np.take_along_axis(candidates, order, axis=1)


class ExactEngine:
    """numpy brute force over all vectors: exact, O(Q·N·d) per search."""

    kind = "exact"

    def __init__(self, vectors: np.ndarray):
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)

    @property
    def ntotal(self) -> int:
        return len(self.vectors)

    def search(self, queries: np.ndarray, k: int, settings: IndexSettings):
        results = [top_k(queries[start:start + QUERY_CHUNK] @ self.vectors.T, k)
                   for start in range(0, len(queries), QUERY_CHUNK)]
        sims = np.concatenate([sims for sims, _ in results]) if results else np.zeros((0, k), np.float32)
        ids = np.concatenate([ids for _, ids in results]) if results else np.zeros((0, k), np.int64)
        return sims.astype(np.float32), ids.astype(np.int64)

    def to_array(self) -> np.ndarray:
        return self.vectors

    @property
    def memory_bytes(self) -> int:
        return int(self.vectors.nbytes)


class FaissEngine:
    """A faiss index (inner-product metric) with its search-time parameters set per search."""

    def __init__(self, index, kind: str):
        self.index = index
        self.kind = kind

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int, settings: IndexSettings):
        faiss = import_faiss()
        space = faiss.ParameterSpace()
        if self.kind == "ivfpq":
            space.set_index_parameter(self.index, "nprobe", settings.nprobe)
            if settings.refine:
                space.set_index_parameter(self.index, "k_factor_rf", float(settings.refine))
        elif self.kind == "hnsw":
            space.set_index_parameter(self.index, "efSearch", max(settings.ef_search, k))
        sims, ids = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return sims.astype(np.float32), ids.astype(np.int64)

    def to_array(self) -> np.ndarray:
        return import_faiss().serialize_index(self.index)

    @classmethod
    def from_array(cls, array: np.ndarray, kind: str) -> "FaissEngine":
        return cls(import_faiss().deserialize_index(np.ascontiguousarray(array, dtype=np.uint8)), kind)

    @property
    def memory_bytes(self) -> int:
        return int(len(self.to_array()))


def factory_string(settings: IndexSettings, dim: int) -> str:
    """The faiss index_factory description of a resolved faiss kind.

    ivfpq starts with a random rotation: PCA output (and pooled activations) put most energy in
    a few dimensions, which starves most PQ sub-quantisers; rotating first spreads it evenly.
    """
    if settings.kind == "flat":
        return "Flat"
    if settings.kind == "hnsw":
        return f"HNSW{settings.hnsw_m}"
    return (f"RR{dim},IVF{settings.nlist},PQ{settings.pq_m}x{settings.pq_bits}"
            + (",RFlat" if settings.refine else ""))


def check_trainable(settings: IndexSettings, num: int, dim: int) -> None:
    if settings.kind != "ivfpq":
        return
    if dim % settings.pq_m:
        raise GalleryIndexError(f"ivfpq: --pq-m {settings.pq_m} must divide the feature dimension {dim}; "
                                "choose a divisor (or --pca-dim a multiple of it)")
    needed = max(settings.nlist, 2 ** settings.pq_bits)
    if num < needed:
        raise GalleryIndexError(f"ivfpq with {settings.nlist} lists and {settings.pq_bits}-bit codes needs at "
                                f"least {needed} gallery vectors to train, got {num}: lower --nlist/--pq-bits "
                                "or use --index flat/hnsw/exact")


def build_engine(vectors: np.ndarray, settings: IndexSettings, progress: bool = False, seed: int = 0):
    """An engine of `settings.kind` (resolved, not auto) holding `vectors` (N, d) float32."""
    if settings.kind == "exact":
        return ExactEngine(vectors)
    faiss = import_faiss()
    num, dim = vectors.shape
    check_trainable(settings, num, dim)
    index = faiss.index_factory(dim, factory_string(settings, dim), faiss.METRIC_INNER_PRODUCT)
    if settings.kind == "hnsw":
        faiss.downcast_index(index).hnsw.efConstruction = settings.ef_construction
    if settings.kind == "ivfpq":
        faiss.downcast_index(faiss.extract_index_ivf(index)).do_polysemous_training = False  # unused, slow
    if not index.is_trained:
        sample = min(num, max(40 * settings.nlist, 40 * 2 ** settings.pq_bits))
        rows = np.sort(np.random.default_rng(seed).choice(num, sample, replace=False))
        index.train(np.ascontiguousarray(vectors[rows], dtype=np.float32))
    for start in tqdm(range(0, num, ADD_CHUNK), desc="  indexing", leave=False, disable=not progress,
                      unit="chunk"):
        index.add(np.ascontiguousarray(vectors[start:start + ADD_CHUNK], dtype=np.float32))
    return FaissEngine(index, settings.kind)


def engine_from_array(array: np.ndarray, kind: str):
    """The engine saved by `engine.to_array()`."""
    return ExactEngine(array) if kind == "exact" else FaissEngine.from_array(array, kind)
