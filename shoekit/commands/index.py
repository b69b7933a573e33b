"""`shoekit index build|search`: a saved gallery index of a run's features, and searching it."""

from __future__ import annotations

import argparse
from pathlib import Path

from shoekit.choices import HEADS, SPLITS
from shoekit.index.settings import KINDS, IndexSettings


def add_index_arguments(parser: argparse.ArgumentParser, kind_flag: str = "--kind") -> None:
    """The engine options of `IndexSettings`, with its defaults (shared with shoekit evaluate)."""
    defaults = IndexSettings()
    group = parser.add_argument_group("index engine")
    group.add_argument(kind_flag, dest="index_kind", choices=KINDS, default=defaults.kind,
                       help="exact (numpy), flat (faiss exact), ivfpq, hnsw, or auto: exact below "
                       "--exact-threshold gallery crops, hnsw from there (default: %(default)s)")
    group.add_argument("--exact-threshold", type=int, default=defaults.exact_threshold,
                       help="gallery size from which 'auto' uses hnsw (default: %(default)s)")
    group.add_argument("--pca-dim", type=int, default=defaults.pca_dim,
                       help="reduce features to this many principal components before indexing, "
                       "0 = off (default: %(default)s)")
    group.add_argument("--nlist", type=int, default=defaults.nlist,
                       help="ivfpq inverted lists; 0 = 4*sqrt(gallery size) (default: %(default)s)")
    group.add_argument("--pq-m", type=int, default=defaults.pq_m,
                       help="ivfpq sub-quantisers, must divide the dimension (default: %(default)s)")
    group.add_argument("--pq-bits", type=int, default=defaults.pq_bits,
                       help="ivfpq bits per sub-quantiser (default: %(default)s)")
    group.add_argument("--hnsw-m", type=int, default=defaults.hnsw_m,
                       help="hnsw links per node (default: %(default)s)")
    group.add_argument("--ef-construction", type=int, default=defaults.ef_construction,
                       help="hnsw build-time candidate list (default: %(default)s)")
    add_search_arguments(group, defaults.nprobe, defaults.ef_search, defaults.refine)


def add_search_arguments(group, nprobe_default, ef_search_default, refine_default) -> None:
    """--nprobe, --ef-search and --refine; a None default means "as saved in the index"."""
    group.add_argument("--nprobe", type=int, default=nprobe_default,
                       help="ivfpq lists visited per query (default: "
                       f"{'as saved in the index' if nprobe_default is None else '%(default)s'})")
    group.add_argument("--ef-search", type=int, default=ef_search_default,
                       help="hnsw search-time candidate list (default: "
                       f"{'as saved in the index' if ef_search_default is None else '%(default)s'})")
    group.add_argument("--refine", type=int, default=refine_default,
                       help="ivfpq: re-rank REFINE*k candidates with the full vectors; at build time 0 = off "
                       "(no full vectors stored, refine cannot be turned on later) (default: "
                       f"{'as saved in the index' if refine_default is None else '%(default)s'})")


def index_settings(args: argparse.Namespace) -> IndexSettings:
    """The IndexSettings the parsed options of `add_index_arguments` describe."""
    return IndexSettings(kind=args.index_kind, exact_threshold=args.exact_threshold, pca_dim=args.pca_dim,
                         nlist=args.nlist, pq_m=args.pq_m, pq_bits=args.pq_bits, nprobe=args.nprobe,
                         refine=args.refine, hnsw_m=args.hnsw_m, ef_construction=args.ef_construction,
                         ef_search=args.ef_search)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "index", help="build or search a saved gallery index",
        description="A gallery index holds the features of gallery crops, extracted by one run with one "
        "head, in a search engine (numpy for small galleries, faiss flat / IVF-PQ / HNSW for large ones), "
        "saved to one file with the model's fingerprint, the head and the dataset's manifest hash. "
        "Queries from another model or head are refused.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION",
                                    help="build: index a run's gallery features; search: query a saved index")

    build = actions.add_parser(
        "build", help="extract gallery features with a run and index them",
        description="Extract features of the gallery + distractor crops of a dataset (default: the run's "
        "own) with the run's model and head, index them and write INDEX atomically. Under torchrun the "
        "extraction is split across processes.")
    build.add_argument("run", metavar="RUN", help="run folder made by shoekit train")
    build.add_argument("--out", required=True, type=Path, help="index file to write")
    build.add_argument("--head", choices=HEADS, default="max", help="feature head (default: %(default)s)")
    build.add_argument("--data", help="dataset folder of the gallery (default: the run's own)")
    build.add_argument("--split", action="append", dest="splits", choices=SPLITS,
                       help="manifest split(s) to index; repeat for several (default: gallery and distractor)")
    build.add_argument("--batch-size", type=int, default=128, help="images per batch (default: %(default)s)")
    build.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True,
                       help="bf16 autocast + channels_last where supported (default: %(default)s)")
    build.add_argument("--device", default="auto", help="'auto', 'cpu', 'cuda' (default: %(default)s)")
    build.add_argument("--overwrite", action="store_true", help="replace an existing index file")
    build.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_index_arguments(build)
    build.set_defaults(func=run_build)

    search = actions.add_parser(
        "search", help="rank gallery crops for query images",
        description="Extract query features with RUN (the run the index was built from) and list the "
        "K nearest gallery crops of each query: query, rank, distance (1 - cosine), manifest row, "
        "identity, path. Queries are image files, or the rows of one split of a dataset.")
    search.add_argument("index", metavar="INDEX", type=Path, help="index file made by shoekit index build")
    search.add_argument("--run", required=True, help="run folder whose model made the index")
    search.add_argument("--image", action="append", dest="images", default=[], metavar="PATH",
                        help="query image file; repeat for several")
    search.add_argument("--data", help="dataset folder whose --query-split rows are the queries")
    search.add_argument("--query-split", default="query", help="split of --data used as queries (default: %(default)s)")
    search.add_argument("--top-k", type=int, default=10, help="matches per query (default: %(default)s)")
    search.add_argument("--out", type=Path, help="also write all matches to this CSV file")
    search.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    search.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True,
                        help="bf16 autocast + channels_last where supported (default: %(default)s)")
    search.add_argument("--device", default="auto", help="'auto', 'cpu', 'cuda' (default: %(default)s)")
    engine = search.add_argument_group("search-time parameters")
    add_search_arguments(engine, None, None, None)
    search.set_defaults(func=run_search)


def run_build(args: argparse.Namespace) -> int:
    from shoekit.distributed import is_main_process
    from shoekit.index import build_run_index

    index = build_run_index(args.run, args.head, args.out, data=args.data,
                            splits=tuple(args.splits or ("gallery", "distractor")), settings=index_settings(args),
                            batch_size=args.batch_size, bf16=args.bf16, device=args.device,
                            overwrite=args.overwrite, progress=not args.no_progress)
    if is_main_process():
        pca = (f", PCA to {index.pca.output_dim}-d (keeping {100 * index.pca.explained:.1f}% of the energy)"
               if index.pca else "")
        print(f"indexed {index.size} gallery crops of {index.source.data} ({args.head} head of {args.run}) "
              f"with {index.kind}{pca} -> {args.out} ({args.out.stat().st_size / 2 ** 20:.1f} MiB)")
    return 0


def run_search(args: argparse.Namespace) -> int:
    import pandas as pd

    from shoekit.errors import ShoekitError
    from shoekit.index import GalleryIndex, query_features
    from shoekit.outputs import check_output_file
    from shoekit.runs import write_text

    if bool(args.images) == bool(args.data):
        raise ShoekitError("give query images with --image PATH (repeatable) or a dataset with --data DIR")
    if args.top_k < 1:
        raise ShoekitError(f"--top-k must be at least 1, not {args.top_k}")
    if args.out:
        check_output_file(args.out, args.overwrite)
    index = GalleryIndex.load(args.index)
    queries, source, names, identities = query_features(args.run, index.source.head, args.images, args.data,
                                                        args.query_split, bf16=args.bf16, device=args.device)
    found = index.search(queries, source, k=args.top_k, where=str(args.index), nprobe=args.nprobe,
                         ef_search=args.ef_search, refine=args.refine)
    records = [{"query": name, "query_identity": identity, "rank": rank + 1, "distance": float(distance),
                "row": int(index.rows[position]), "identity": str(index.identities[position]),
                "path": str(index.paths[position])}
               for name, identity, distances, positions in zip(names, identities, found.distances, found.positions)
               for rank, (distance, position) in enumerate(zip(distances, positions)) if position >= 0]
    table = pd.DataFrame(records)
    print(table.to_string(index=False, float_format=lambda value: f"{value:.4f}"))
    if args.out:
        write_text(args.out, table.to_csv(index=False))
    queries_word = "query" if len(names) == 1 else "queries"
    summary = f"searched {len(names)} {queries_word} against {index.size} gallery crops ({index.kind})"
    known = [identity for identity in identities if identity]
    if known:
        top1 = table[table["rank"] == 1]
        hits = int((top1["identity"] == top1["query_identity"]).sum())
        summary += f": Rank-1 {hits}/{len(known)} ({100 * hits / len(known):.1f}%)"
    print(summary + (f", matches in {args.out}" if args.out else ""))
    return 0
