"""Gallery index at scale: 1,000,000 gallery vectors derived from real features, 1,000 queries.

What it measures (each ratio against a baseline of the same run):
  * build time, index size and process peak memory of faiss flat (exact, the baseline),
    HNSW and IVF-PQ(+exact refine) on PCA-reduced vectors;
  * per-query latency (one query per call, median and p95) and recall@10 against exact search,
    both in the index's (PCA) space and against exact search on the full 2048-d vectors;
    target: median < 20 ms at recall@10 >= 0.95, index < 4 GiB;
  * on the real features themselves: Rank-1/mAP of exact ranking vs ranking through flat and
    HNSW indexes (the evaluation's index path), and mAP after PCA to several dimensions.

How the 1M vectors are made (seeded, documented in the JSON): the real L2-normalised query +
gallery features of a run (RUN/eval/HEAD/features.npz, identities from its manifest) are
modelled as identity centre + within-identity residual. Centres: the features' mean plus a
Gaussian with the covariance of the real identity means (their principal directions and
standard deviations); residuals: a Gaussian with the pooled covariance of the real features
around their identity means. A synthetic identity gets a centre, each of its crops centre +
residual, L2-normalised; queries are fresh crops of random gallery identities. The synthetic
vectors therefore span the same directions, with the same between/within spread, as the real
ones (their rank is at most the number of real features). As a check the JSON holds the
Rank-1/mAP of real features and of a synthetic set of the same size.

The gallery is generated in 2048-d chunks and never held whole at 2048-d: a PCA (fitted on the
first 100k vectors, as `GalleryIndex.build` does) reduces each chunk to --pca-dim, while exact
2048-d top-10 of the queries is accumulated chunk by chunk. Peak memory stays near 4 GB at 1M.

    python benchmarks/bench_index.py --run RUN [--head max] [--quick] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shoekit.data import read_manifest
from shoekit.index import IndexSettings, rank_with_index
from shoekit.index.engines import build_engine, import_faiss
from shoekit.index.pca import Pca
from shoekit.metrics import distance_matrix, l2_normalize, rank_metrics
from shoekit.runs import read_config, read_features

CHUNK = 25_000
K = 10


def load_real_features(run: Path, head: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(query features, query identities, gallery features, gallery identities) of a run's evaluation."""
    saved = read_features(run, head)
    manifest = read_manifest(read_config(run).data)
    identity = manifest["identity"].astype(str).to_numpy()
    return (l2_normalize(saved.query), identity[saved.query_rows],
            l2_normalize(saved.gallery), identity[saved.gallery_rows])


@dataclass
class IdentityModel:
    """x = normalise(mean + (z_b·between_std) @ between_dirs + (z_w·within_std) @ within_dirs), z ~ N(0, I)."""

    mean: np.ndarray
    between_dirs: np.ndarray
    between_std: np.ndarray
    within_dirs: np.ndarray
    within_std: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray, identities: np.ndarray) -> "IdentityModel":
        names, labels = np.unique(identities, return_inverse=True)
        means = np.stack([features[labels == k].mean(axis=0) for k in range(len(names))]).astype(np.float64)
        mean = features.mean(axis=0).astype(np.float64)
        _, between_s, between_dirs = np.linalg.svd(means - mean, full_matrices=False)
        _, within_s, within_dirs = np.linalg.svd(features - means[labels], full_matrices=False)
        keep_b, keep_w = between_s > 1e-6 * between_s.max(), within_s > 1e-6 * within_s.max()
        return cls(mean.astype(np.float32), between_dirs[keep_b].astype(np.float32),
                   (between_s[keep_b] / np.sqrt(max(len(names) - 1, 1))).astype(np.float32),
                   within_dirs[keep_w].astype(np.float32),
                   (within_s[keep_w] / np.sqrt(max(len(features) - len(names), 1))).astype(np.float32))

    def centre_codes(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """(count, r_b) float32 codes of identity centres."""
        return rng.standard_normal((count, len(self.between_std)), dtype=np.float32)

    def crops(self, codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One L2-normalised (n, D) float32 crop per row of centre `codes` (n, r_b)."""
        centres = self.mean + (codes * self.between_std) @ self.between_dirs
        residuals = (rng.standard_normal((len(codes), len(self.within_std)), dtype=np.float32)
                     * self.within_std) @ self.within_dirs
        return l2_normalize(centres + residuals)

    def describe(self) -> dict:
        between, within = float((self.between_std ** 2).sum()), float((self.within_std ** 2).sum())
        return {"between_rank": len(self.between_std), "within_rank": len(self.within_std),
                "between_variance": between, "within_variance": within,
                "within_share_of_variance": within / (between + within)}


@dataclass
class SyntheticGallery:
    """`size` crops of `size // per_identity` identities; chunk `i` is regenerated identically."""

    model: IdentityModel
    size: int
    per_identity: int
    seed: int

    def __post_init__(self) -> None:
        self.codes = self.model.centre_codes(-(-self.size // self.per_identity), np.random.default_rng([self.seed, 0]))

    def identity_of(self, positions: np.ndarray) -> np.ndarray:
        return positions // self.per_identity

    def chunk(self, start: int) -> np.ndarray:
        positions = np.arange(start, min(start + CHUNK, self.size))
        return self.model.crops(self.codes[self.identity_of(positions)], np.random.default_rng([self.seed, 1, start]))

    def queries(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, 2])
        identities = rng.integers(0, len(self.codes), count)
        return self.model.crops(self.codes[identities], rng), identities


def merge_top(best_sims, best_ids, sims, offset):
    """Running top-K of (Q, K) with a new block of similarities (Q, B) starting at gallery `offset`."""
    ids = np.concatenate([best_ids, np.broadcast_to(np.arange(sims.shape[1]) + offset, sims.shape)], axis=1)
    all_sims = np.concatenate([best_sims, sims], axis=1)
    top = np.argpartition(-all_sims, K - 1, axis=1)[:, :K]
    return np.take_along_axis(all_sims, top, axis=1), np.take_along_axis(ids, top, axis=1)


def generate(gallery: SyntheticGallery, queries: np.ndarray, pca_dim: int, progress) -> tuple:
    """Reduced gallery (G, d) float32, the PCA, exact 2048-d top-K ids of the queries, seconds."""
    start = time.perf_counter()
    sample = np.concatenate([gallery.chunk(s) for s in range(0, min(gallery.size, 100_000), CHUNK)])
    pca = Pca.fit(sample, pca_dim) if pca_dim else None
    del sample
    dim = pca.output_dim if pca else queries.shape[1]
    reduced = np.empty((gallery.size, dim), dtype=np.float32)
    best_sims = np.full((len(queries), K), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(queries), K), dtype=np.int64)
    for s in range(0, gallery.size, CHUNK):
        block = gallery.chunk(s)
        best_sims, best_ids = merge_top(best_sims, best_ids, queries @ block.T, s)
        reduced[s:s + len(block)] = pca.apply(block) if pca else block
        if (s + len(block)) % 250_000 == 0 or s + len(block) == gallery.size:
            progress(f"generated {s + len(block):,} / {gallery.size:,}")
    return reduced, pca, best_ids, time.perf_counter() - start


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[f >= 0]) & set(t)) / len(t) for f, t in zip(found, truth)]))


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def latencies_ms(engine, queries: np.ndarray, settings: IndexSettings) -> dict:
    times = []
    for row in queries:
        start = time.perf_counter()
        engine.search(row[None], K, settings)
        times.append(1000 * (time.perf_counter() - start))
    return {"median_ms": statistics.median(times), "p95_ms": float(np.percentile(times, 95)),
            "queries_timed": len(times)}


def measure_engine(name, settings, vectors, queries_reduced, truth_reduced, truth_full, sweep, latency_queries,
                   progress) -> dict:
    """Build one engine, then for each search setting of `sweep`: recall and latency."""
    start = time.perf_counter()
    engine = build_engine(vectors, settings, progress=False)
    build_seconds = time.perf_counter() - start
    size = engine.memory_bytes
    results = []
    for params in sweep:
        tuned = IndexSettings(**{**settings.to_dict(), **params})
        _, found = engine.search(queries_reduced, K, tuned)
        entry = {**params, "recall_at_10_vs_exact_reduced": recall(found, truth_reduced),
                 "recall_at_10_vs_exact_2048d": recall(found, truth_full),
                 **latencies_ms(engine, queries_reduced[:latency_queries], tuned)}
        results.append(entry)
        progress(f"{name} {params}: recall {entry['recall_at_10_vs_exact_reduced']:.3f}, "
                 f"median {entry['median_ms']:.2f} ms")
    del engine
    return {"settings": settings.to_dict(), "build_seconds": build_seconds, "index_bytes": size,
            "index_gib": size / 2 ** 30, "peak_rss_gib_so_far": peak_rss_gib(), "search": results}


def real_feature_checks(run: Path, head: str) -> dict:
    """Exact vs index ranking and PCA's effect on mAP, on the run's real features."""
    query, query_ids, gallery, gallery_ids = load_real_features(run, head)
    exact = rank_metrics(distance_matrix(query, gallery), query_ids, gallery_ids, max_rank=min(50, len(gallery)))
    checks = {"num_query": len(query), "num_gallery": len(gallery), "feature_dim": int(gallery.shape[1]),
              "exact": {"rank1": exact["rank1"], "mAP": exact["mAP"]}, "index_vs_exact": {}, "pca_mAP": {}}
    for kind in ("flat", "hnsw"):
        result, _, _ = rank_with_index(query, gallery, query_ids, gallery_ids, "cosine", IndexSettings(kind=kind),
                                       max_rank=min(50, len(gallery)))
        checks["index_vs_exact"][kind] = {"rank1": result["rank1"], "mAP": result["mAP"],
                                          "positives_beyond_depth": result["positives_beyond_depth"],
                                          "same_as_exact": bool(np.isclose(result["rank1"], exact["rank1"])
                                                                and np.isclose(result["mAP"], exact["mAP"]))}
    for dim in (8, 16, 32, 64, 128, 256, 512):
        if dim >= min(len(gallery), gallery.shape[1]):
            break
        result, _, _ = rank_with_index(query, gallery, query_ids, gallery_ids, "cosine",
                                       IndexSettings(kind="flat", pca_dim=dim), depth=len(gallery),
                                       max_rank=min(50, len(gallery)))
        checks["pca_mAP"][str(dim)] = {"rank1": result["rank1"], "mAP": result["mAP"],
                                       "mAP_change_points": 100 * (result["mAP"] - exact["mAP"])}
    return checks


def synthetic_check(model: IdentityModel, real_query: int, real_gallery: int, per_identity: int, seed: int) -> dict:
    """Rank-1/mAP of a synthetic set as large as the real one: does it look as hard?"""
    gallery = SyntheticGallery(model, real_gallery, per_identity, seed + 1)
    vectors = gallery.chunk(0)
    queries, query_ids = gallery.queries(real_query)
    result = rank_metrics(distance_matrix(queries, vectors), query_ids, gallery.identity_of(np.arange(len(vectors))),
                          max_rank=min(50, len(vectors)))
    return {"rank1": result["rank1"], "mAP": result["mAP"], "num_gallery": len(vectors), "num_query": real_query}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="an evaluated run (RUN/eval/HEAD/features.npz)")
    parser.add_argument("--head", default="max", help="feature head (default: max)")
    parser.add_argument("--gallery", type=int, default=1_000_000, help="synthetic gallery vectors (default: 1000000)")
    parser.add_argument("--queries", type=int, default=1000, help="synthetic queries (default: 1000)")
    parser.add_argument("--per-identity", type=int, default=10,
                        help="gallery crops per synthetic identity (default: 10)")
    parser.add_argument("--pca-dim", type=int, default=256, help="PCA dimension of the indexed vectors (default: 256)")
    parser.add_argument("--latency-queries", type=int, default=200,
                        help="queries timed one by one per setting (default: 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--quick", action="store_true", help="20,000 gallery vectors and 200 queries")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "index_1m.json",
                        help="where to write the JSON results")
    args = parser.parse_args()
    if args.quick:
        args.gallery, args.queries, args.latency_queries = 20_000, 200, 100
    faiss = import_faiss()
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f} s] {message}", flush=True)

    load_before = os.getloadavg()
    real = real_feature_checks(args.run, args.head)
    progress(f"real features: exact mAP {real['exact']['mAP']:.4f}, index {real['index_vs_exact']}")
    query, query_ids, gallery_real, gallery_ids = load_real_features(args.run, args.head)
    model = IdentityModel.fit(np.concatenate([query, gallery_real]), np.concatenate([query_ids, gallery_ids]))
    synthetic_small = synthetic_check(model, len(query), len(gallery_real), args.per_identity, args.seed)
    gallery = SyntheticGallery(model, args.gallery, args.per_identity, args.seed)
    queries_full, _ = gallery.queries(args.queries)
    reduced, pca, truth_full, generation_seconds = generate(gallery, queries_full, args.pca_dim, progress)
    queries_reduced = pca.apply(queries_full) if pca else queries_full
    progress(f"generated {args.gallery:,} vectors in {generation_seconds:.0f} s, peak RSS {peak_rss_gib():.2f} GiB")

    flat = IndexSettings(kind="flat")
    truth_engine = build_engine(reduced, flat)
    _, truth_reduced = truth_engine.search(queries_reduced, K, flat)
    del truth_engine
    engines = {
        "flat": measure_engine("flat", flat, reduced, queries_reduced, truth_reduced, truth_full, [{}],
                               min(args.latency_queries, 100), progress),
        "hnsw": measure_engine("hnsw", IndexSettings(kind="hnsw"), reduced, queries_reduced, truth_reduced,
                               truth_full, [{"ef_search": ef} for ef in (16, 32, 64, 128, 256)],
                               args.latency_queries, progress),
        "ivfpq": measure_engine("ivfpq", IndexSettings(kind="ivfpq", pq_m=64, refine=8).resolved(args.gallery),
                                reduced, queries_reduced, truth_reduced, truth_full,
                                [{"nprobe": n, "refine": r} for n, r in ((16, 8), (32, 8), (32, 32), (64, 32),
                                                                         (64, 64), (128, 128))],
                                args.latency_queries, progress),
    }
    baseline = engines["flat"]["search"][0]["median_ms"]
    for name, engine in engines.items():
        for entry in engine["search"]:
            entry["speedup_vs_flat"] = baseline / entry["median_ms"]
        passing = [entry for entry in engine["search"] if entry["recall_at_10_vs_exact_reduced"] >= 0.95]
        best = min(passing, key=lambda entry: entry["median_ms"]) if passing else None
        engine["target_met"] = bool(best and best["median_ms"] < 20 and engine["index_gib"] < 4)
        engine["fastest_at_recall_0.95"] = best
    result = {
        "command": "python benchmarks/bench_index.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("quick", "out")),
        "run": str(args.run), "head": args.head, "gallery": args.gallery, "queries": args.queries,
        "per_identity": args.per_identity, "pca_dim": args.pca_dim, "seed": args.seed,
        "pca_explained": pca.explained if pca else None, "generation_seconds": generation_seconds,
        "generator": {**model.describe(), "real_features": len(query) + len(gallery_real),
                      "real_identities": int(len(np.unique(np.concatenate([query_ids, gallery_ids])))),
                      "synthetic_at_real_size": synthetic_small,
                      "real_exact": real["exact"]},
        "real_features": real, "engines": engines, "peak_rss_gib": peak_rss_gib(),
        "faiss_threads": faiss.omp_get_max_threads(), "cpus": os.cpu_count(),
        "load_average_before_after": [load_before[0], os.getloadavg()[0]],
        "faiss": faiss.__version__, "machine": platform.processor() or platform.machine(),
        "total_seconds": time.perf_counter() - started,
    }
    for name, engine in engines.items():
        best = engine["fastest_at_recall_0.95"]
        summary = (f"median {best['median_ms']:.2f} ms ({best['speedup_vs_flat']:.1f}x flat), recall "
                   f"{best['recall_at_10_vs_exact_reduced']:.3f}" if best else "recall 0.95 not reached")
        print(f"{name:6} build {engine['build_seconds']:7.1f} s, {engine['index_gib']:.2f} GiB, {summary}, "
              f"target {'met' if engine['target_met'] else 'missed'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
