"""Gallery indexes: exact numpy search for small galleries, faiss (flat, IVF-PQ, HNSW) for large.

    from shoekit.index import GalleryIndex, IndexSettings
    index = GalleryIndex.build(features, source, IndexSettings(kind="hnsw", pca_dim=256))
    found = index.search(queries, source, k=10)     # found.distances, found.positions (Q, 10)
    index.save("gallery.index")

`build_run_index` / `query_features` do the same from a run folder and a dataset;
`rank_with_index` ranks an evaluation's features (see `shoekit.evaluate`). Names are imported
on first use, so `shoekit.index.settings` (used by the CLI parsers) does not pull in torch.
"""

from __future__ import annotations

from shoekit.lazy import lazy_exports

LAZY_NAMES: dict[str, str] = {
    "GalleryIndexError": "errors",
    **dict.fromkeys(("GalleryIndex", "SearchResult", "check_features"), "gallery"),
    **dict.fromkeys(("rank_with_index", "topk_rank_metrics"), "ranking"),
    **dict.fromkeys(("FAISS_KINDS", "KINDS", "IndexSettings"), "settings"),
    **dict.fromkeys(("FeatureSource", "model_fingerprint"), "source"),
    **dict.fromkeys(("Pca",), "pca"),
    **dict.fromkeys(("build_run_index", "query_features", "run_source"), "run_features"),
}

__all__ = list(LAZY_NAMES)

__getattr__, __dir__ = lazy_exports(__name__, LAZY_NAMES)
