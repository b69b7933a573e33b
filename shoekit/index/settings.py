"""Which search engine a gallery index uses, and its parameters (saved with the index).

Kinds:
    exact   numpy brute force (float32 inner products), for small galleries
    flat    faiss IndexFlatIP: exact, multithreaded brute force
    ivfpq   faiss random rotation + IVF with product quantisation: `nlist` lists, `pq_m`
            sub-quantisers of `pq_bits` bits; `nprobe` lists visited per query; `refine` > 0
            re-ranks refine × k candidates with the full vectors (faiss "RFlat")
    hnsw    faiss HNSW graph: `hnsw_m` links per node, `ef_construction` and `ef_search`
    auto    exact below `exact_threshold` gallery vectors, hnsw from there on
`pca_dim` > 0 projects the L2-normalised features on their `pca_dim` principal directions
(fitted on the gallery, stored with the index; see `shoekit.index.pca`) before indexing.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from shoekit.index.errors import GalleryIndexError

KINDS: tuple[str, ...] = ("auto", "exact", "flat", "ivfpq", "hnsw")
FAISS_KINDS: tuple[str, ...] = ("flat", "ivfpq", "hnsw")


@dataclass(frozen=True)
class IndexSettings:
    """Engine and parameters of a gallery index; the search-time ones can be changed later."""

    kind: str = "auto"
    exact_threshold: int = 50_000        # gallery vectors; "auto" switches to hnsw at this size
    pca_dim: int = 0                     # 0: keep the features' dimension
    nlist: int = 0                       # ivfpq inverted lists; 0: 4·sqrt(G) rounded to a power of 2
    pq_m: int = 32                       # ivfpq sub-quantisers (must divide the dimension)
    pq_bits: int = 8                     # ivfpq bits per sub-quantiser code
    nprobe: int = 32                     # ivfpq lists visited per query (search time)
    refine: int = 0                      # ivfpq: re-rank refine·k candidates exactly; 0 = off
    hnsw_m: int = 32                     # hnsw links per node
    ef_construction: int = 80            # hnsw build-time candidate list
    ef_search: int = 128                 # hnsw search-time candidate list (search time)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise GalleryIndexError(f"unknown index kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        for name in ("exact_threshold", "pca_dim", "nlist", "refine"):
            if getattr(self, name) < 0:
                raise GalleryIndexError(f"index setting {name} must be >= 0, not {getattr(self, name)}")
        for name in ("pq_m", "pq_bits", "nprobe", "hnsw_m", "ef_construction", "ef_search"):
            if getattr(self, name) < 1:
                raise GalleryIndexError(f"index setting {name} must be >= 1, not {getattr(self, name)}")

    def resolved(self, num_vectors: int) -> "IndexSettings":
        """`auto` replaced by the kind for a gallery of `num_vectors`, `nlist` 0 by its default."""
        kind = self.kind
        if kind == "auto":
            kind = "exact" if num_vectors < self.exact_threshold else "hnsw"
        nlist = self.nlist or default_nlist(num_vectors)
        return dataclasses.replace(self, kind=kind, nlist=nlist)

    def with_search_params(self, nprobe: int | None = None, ef_search: int | None = None,
                           refine: int | None = None) -> "IndexSettings":
        """The same index with other search-time parameters (None keeps the saved value).

        `refine` can only be changed on an ivfpq index built with refine > 0 (it holds the full
        vectors then); GalleryIndexError otherwise.
        """
        if refine is not None and refine != self.refine and (self.kind != "ivfpq" or not self.refine or refine < 1):
            raise GalleryIndexError(f"refine {refine} needs an ivfpq index built with --refine > 0 and a value "
                                    f">= 1 (this one: {self.kind}, refine {self.refine}); rebuild it with --refine")
        changes = {name: value for name, value in (("nprobe", nprobe), ("ef_search", ef_search), ("refine", refine))
                   if value is not None}
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "IndexSettings":
        known = {field.name for field in dataclasses.fields(cls)}
        return cls(**{name: value for name, value in values.items() if name in known})


def default_nlist(num_vectors: int) -> int:
    """4·sqrt(G) inverted lists, rounded to a power of two, at least 1."""
    return max(1, 2 ** round(math.log2(max(4.0 * math.sqrt(max(num_vectors, 1)), 1.0))))
