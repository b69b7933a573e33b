"""PCA dimension reduction of L2-normalised features, stored with an index."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shoekit.index.errors import GalleryIndexError
from shoekit.metrics import l2_normalize

FIT_SAMPLE = 200_000
CHUNK = 8192


@dataclass(frozen=True)
class Pca:
    """`mean` (D,) float32 and `components` (D, d) float32, orthonormal columns by variance.

    `explained` is the share of the fitted features' variance the d components keep.
    """

    mean: np.ndarray
    components: np.ndarray
    explained: float

    @classmethod
    def fit(cls, features: np.ndarray, dim: int, seed: int = 0) -> "Pca":
        """Fit on (up to FIT_SAMPLE randomly chosen rows of) `features` (N, D), in float64 chunks."""
        num, full_dim = features.shape
        if not 0 < dim <= min(num, full_dim):
            raise GalleryIndexError(f"PCA to {dim} dimensions needs at least {dim} gallery vectors of "
                                    f"dimension >= {dim}; got {num} of dimension {full_dim}: lower "
                                    "--pca-dim or use 0 (no PCA)")
        rows = np.arange(num)
        if num > FIT_SAMPLE:
            rows = np.sort(np.random.default_rng(seed).choice(num, FIT_SAMPLE, replace=False))
        chunks = [rows[start:start + CHUNK] for start in range(0, len(rows), CHUNK)]
        mean = sum(np.asarray(features[chunk], np.float64).sum(axis=0) for chunk in chunks) / len(rows)
        scatter = np.zeros((full_dim, full_dim))
        for chunk in chunks:
            centred = np.asarray(features[chunk], np.float64) - mean
            scatter += centred.T @ centred
        variances, vectors = np.linalg.eigh(scatter)
        order = np.argsort(variances)[::-1][:dim]
        explained = float(variances[order].sum() / max(variances.sum(), 1e-30))
        return cls(mean.astype(np.float32), np.ascontiguousarray(vectors[:, order], dtype=np.float32), explained)

    @property
    def input_dim(self) -> int:
        return int(self.components.shape[0])

    @property
    def output_dim(self) -> int:
        return int(self.components.shape[1])

    def apply(self, features: np.ndarray) -> np.ndarray:
        """(N, D) -> (N, d) float32, L2-normalised again."""
        return l2_normalize((np.asarray(features, dtype=np.float32) - self.mean) @ self.components)
