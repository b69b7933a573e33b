"""A gallery index: L2-normalised features of gallery crops in a search engine, saved to one file.

    index = GalleryIndex.build(features, source, IndexSettings(kind="hnsw"), rows=..., identities=...)
    result = index.search(query_features, source=query_source, k=10)
    index.save("city.index"); GalleryIndex.load("city.index")

The file is an uncompressed zip (numpy .npz, no pickles) of: `meta` (JSON: format, source,
resolved settings, PCA share of variance), `rows` (G,) int64 manifest rows, `identities` and
`paths` (G,) str, optional `pca_components` (D, d) float32 / `pca_explained`, and `engine`: the
vectors (exact) or faiss's serialised index (uint8). Zip CRCs catch corrupt bytes.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shoekit.index.engines import build_engine, engine_from_array
from shoekit.index.errors import GalleryIndexError
from shoekit.index.pca import Pca
from shoekit.index.settings import IndexSettings
from shoekit.index.source import FeatureSource
from shoekit.metrics import l2_normalize
from shoekit.outputs import check_output_file
from shoekit.runs import atomic_write

FORMAT = "shoekit-gallery-index"
FORMAT_VERSION = 1


def check_features(features: np.ndarray, dim: int | None, where: str, rows: np.ndarray | None = None) -> np.ndarray:
    """`features` as (N, D) float32 after checking shape and finiteness; GalleryIndexError otherwise."""
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2 or (dim is not None and features.shape[1] != dim):
        raise GalleryIndexError(f"{where}: features must be (N, {dim or 'D'}), got shape {features.shape}")
    finite = np.isfinite(features).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        named = (rows[bad] if rows is not None else bad)[:5].tolist()
        raise GalleryIndexError(f"{where}: {bad.size} feature vector(s) hold NaN or inf ("
                                f"{'manifest rows' if rows is not None else 'items'} {named}); the model "
                                "diverged or the images are broken: re-extract with --no-bf16, check those "
                                "images, or retrain")
    return features


@dataclass
class SearchResult:
    """`distances` (Q, k) float32 cosine distances (1 − cos, ascending; inf where nothing was found)
    and `positions` (Q, k) int64 gallery positions (-1 where nothing was found)."""

    distances: np.ndarray
    positions: np.ndarray


@dataclass
class GalleryIndex:
    """Gallery features of one model and head in a search engine, with their manifest rows."""

    source: FeatureSource
    settings: IndexSettings
    engine: object
    rows: np.ndarray
    identities: np.ndarray
    paths: np.ndarray
    pca: Pca | None = None

    @classmethod
    def build(cls, features: np.ndarray, source: FeatureSource, settings: IndexSettings = IndexSettings(),
              rows=None, identities=None, paths=None, progress: bool = False) -> "GalleryIndex":
        """Index `features` (G, D) (normalised here); `rows`/`identities`/`paths` (G,) name the items."""
        num = len(features)
        rows = np.arange(num, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        features = check_features(features, source.feature_dim, f"gallery of {source.run or 'features'}", rows)
        if num == 0:
            raise GalleryIndexError(f"gallery of {source.run or 'features'} is empty; give a dataset with "
                                    "gallery/distractor rows")
        identities = np.asarray([""] * num if identities is None else identities, dtype=str)
        paths = np.asarray([""] * num if paths is None else paths, dtype=str)
        if not len(rows) == len(identities) == len(paths) == num:
            raise GalleryIndexError(f"{num} gallery features but {len(rows)} rows, {len(identities)} "
                                    f"identities and {len(paths)} paths; give one of each per feature")
        settings = settings.resolved(num)
        vectors = l2_normalize(features)
        pca = Pca.fit(vectors, settings.pca_dim) if settings.pca_dim else None
        if pca is not None:
            vectors = np.concatenate([pca.apply(vectors[start:start + 65536])
                                      for start in range(0, num, 65536)])
        engine = build_engine(vectors, settings, progress=progress)
        return cls(source, settings, engine, rows, identities, paths, pca)

    @property
    def size(self) -> int:
        return len(self.rows)

    @property
    def kind(self) -> str:
        return self.settings.kind

    def prepare_queries(self, queries: np.ndarray, source: FeatureSource, where: str) -> np.ndarray:
        self.source.check_compatible(source, where)
        vectors = l2_normalize(check_features(queries, self.source.feature_dim, f"queries for {where}"))
        return self.pca.apply(vectors) if self.pca is not None else vectors

    def search(self, queries: np.ndarray, source: FeatureSource, k: int = 10,
               where: str = "this index", nprobe: int | None = None, ef_search: int | None = None,
               refine: int | None = None) -> SearchResult:
        """The `k` nearest gallery items of each query `(Q, D)` of `source` (same model and head);
        `nprobe`, `ef_search`, `refine`: search-time parameters (None: as saved)."""
        vectors = self.prepare_queries(queries, source, where)
        settings = self.settings.with_search_params(nprobe=nprobe, ef_search=ef_search, refine=refine)
        sims, positions = self.engine.search(vectors, min(k, self.size), settings)
        distances = np.where(positions >= 0, 1.0 - sims, np.inf).astype(np.float32)
        return SearchResult(distances, positions)

    def metadata(self) -> dict:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "source": self.source.to_dict(),
                "settings": self.settings.to_dict(), "size": self.size,
                "pca_explained": self.pca.explained if self.pca is not None else None}

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the index to `path` atomically; refuses to replace a file unless `overwrite`."""
        path = check_output_file(path, overwrite)
        arrays = {"meta": np.array(json.dumps(self.metadata())), "rows": self.rows,
                  "identities": self.identities, "paths": self.paths, "engine": self.engine.to_array()}
        if self.pca is not None:
            arrays.update(pca_components=self.pca.components, pca_explained=np.array(self.pca.explained))

        def write(tmp: Path) -> None:
            with tmp.open("wb") as handle:
                np.savez(handle, **arrays)

        atomic_write(path, write)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "GalleryIndex":
        """The index saved at `path`; GalleryIndexError naming the file when it is not a sound index."""
        path = Path(path)
        if not path.is_file():
            raise GalleryIndexError(f"{path}: no index file; build one with shoekit index build")
        try:
            with np.load(path, allow_pickle=False) as archive:
                meta = json.loads(str(archive["meta"]))
                if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
                    raise GalleryIndexError(f"{path}: not a shoekit gallery index of format {FORMAT_VERSION} "
                                            f"(found {meta.get('format')!r} {meta.get('format_version')!r}); "
                                            "rebuild it with shoekit index build")
                settings = IndexSettings.from_dict(meta["settings"])
                pca = None
                if "pca_components" in archive.files:
                    pca = Pca(archive["pca_components"], float(archive["pca_explained"]))
                index = cls(FeatureSource.from_dict(meta["source"]), settings,
                            engine_from_array(archive["engine"], settings.kind), archive["rows"],
                            archive["identities"], archive["paths"], pca)
        except GalleryIndexError:
            raise
        except (OSError, ValueError, KeyError, TypeError, EOFError, RuntimeError, zipfile.BadZipFile) as error:
            raise GalleryIndexError(f"{path}: corrupt or unreadable index ({type(error).__name__}: "
                                    f"{str(error)[:200]}); rebuild it with shoekit index build") from error
        if not index.engine.ntotal == len(index.rows) == len(index.identities) == meta["size"]:
            raise GalleryIndexError(f"{path}: inconsistent index ({index.engine.ntotal} vectors, "
                                    f"{len(index.rows)} rows, {meta['size']} in its header); rebuild it")
        return index
