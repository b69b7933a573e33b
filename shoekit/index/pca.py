"""Dimension reduction of L2-normalised features by their principal directions, stored with an index.

The directions are the top eigenvectors of the features' second moment E[x xᵀ] (PCA without
centring, i.e. a truncated SVD), and vectors are projected without renormalising, so the inner
product of two projections is the best rank-d approximation of the features' cosine similarity
(exact for features inside the kept subspace). Centring would drop the mean direction, which
holds most of the similarity of non-negative features such as max-pooled layer4 activations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shoekit.index.errors import GalleryIndexError

FIT_SAMPLE = 200_000
CHUNK = 8192


@dataclass(frozen=True)
class Pca:
    """`components` (D, d) float32: orthonormal directions, by decreasing energy.

    `explained`: the share of the fitted features' squared norm the d directions keep (for unit
    vectors, the mean of ‖projection‖²).
    """

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
        moment = np.zeros((full_dim, full_dim))
        for start in range(0, len(rows), CHUNK):
            chunk = np.asarray(features[rows[start:start + CHUNK]], np.float64)
            moment += chunk.T @ chunk
        energies, vectors = np.linalg.eigh(moment)
        order = np.argsort(energies)[::-1][:dim]
        explained = float(energies[order].sum() / max(energies.sum(), 1e-30))
        return cls(np.ascontiguousarray(vectors[:, order], dtype=np.float32), explained)

    @property
    def input_dim(self) -> int:
        return int(self.components.shape[0])

    @property
    def output_dim(self) -> int:
        return int(self.components.shape[1])

    def apply(self, features: np.ndarray) -> np.ndarray:
        """(N, D) -> (N, d) float32 projections (not renormalised)."""
        return np.asarray(features, dtype=np.float32) @ self.components
