"""`shoekit evaluate`: rank query crops against gallery + distractors with a trained run."""

from __future__ import annotations

import argparse

from shoekit.choices import BACKENDS, HEADS, METRICS
from shoekit.commands.index import add_index_arguments, index_settings


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="compute Rank-k, CMC and mAP of a trained run",
        description="Extract L2-normalised features of split 'query' and of 'gallery' + 'distractor' "
        "crops, rank by distance and compute CMC, Rank-1/5/10 and mAP for each feature head. Writes "
        "RUN/eval/HEAD/{metrics.json,cmc.csv,rankings.npz,features.npz}, RUN/eval/metrics.csv and "
        "updates RUN/metrics.json. With --flip, --query-expansion K and/or --rerank the results go to "
        "RUN/eval/HEAD+flip, HEAD+qeK, HEAD+rr or a combination (e.g. max+flip+qe5+rr) instead, next to "
        "the plain ones.")
    parser.add_argument("run", metavar="RUN", help="run folder made by shoekit train")
    parser.add_argument("--head", action="append", choices=HEADS, dest="heads",
                        help="feature head; repeat for several (default: all of fc, avg, max, maxavg; with "
                        "--backend onnx all heads exported to RUN/export)")
    parser.add_argument("--metric", choices=METRICS, default="cosine",
                        help="distance between L2-normalised features (default: %(default)s)")
    parser.add_argument("--data", help="dataset folder to evaluate on (default: the run's own)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an evaluation of the same head made on other data (explain and "
                        "the workbench then use this --data)")
    parser.add_argument("--batch-size", type=int, default=128, help="images per batch (default: %(default)s)")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True,
                        help="bf16 autocast + channels_last where supported (default: %(default)s)")
    parser.add_argument("--compile", action="store_true",
                        help="run the model through torch.compile (fuses the attention's memory-bound work; "
                        "the first batch waits 20-30 s on 2 cores to compile, so use it for large galleries)")
    parser.add_argument("--same-camera-junk", action="store_true",
                        help="ignore gallery crops of the query's identity from the query's camera "
                        "(Market-1501 rule; needs a camera column)")
    parser.add_argument("--device", default="auto", help="'auto', 'cpu', 'cuda' (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument("--backend", choices=BACKENDS, default="torch",
                        help="extract features with the torch model or with onnxruntime from the run's "
                        "ONNX exports (shoekit export) (default: %(default)s)")
    parser.add_argument("--onnx-model", action="append", dest="onnx_models", default=[], metavar="FILE",
                        help="ONNX file to use with --backend onnx instead of RUN/export/HEAD.onnx; repeatable")
    parser.add_argument("--index-depth", type=int, default=1000,
                        help="ranking depth when an index ranks (--index flat/ivfpq/hnsw, or auto with "
                        "a gallery of --exact-threshold crops or more); positives beyond it count as "
                        "misses and are reported (default: %(default)s)")
    parser.add_argument("--flip", action="store_true",
                        help="test-time flip: average each crop's normalised features with those of its "
                        "left-right mirror image (twice the extraction time). Results go to RUN/eval/HEAD+flip")
    parser.add_argument("--query-expansion", type=non_negative_int, default=0, metavar="K",
                        help="average query expansion: replace each query by the normalised mean of itself "
                        "and its K most similar gallery crops before ranking; 0 = off. Results go to "
                        "RUN/eval/HEAD+qeK (default: %(default)s)")
    parser.add_argument("--rerank", action="store_true",
                        help="k-reciprocal re-ranking (Zhong et al. 2017; k1=20, k2=6, lambda=0.3) of the "
                        "exact distance matrix; needs exact ranking (--index exact, or auto below --exact-threshold "
                        "gallery crops) and memory growing as (queries + gallery)^2 (about 4 GB for 20,000 crops). "
                        "Results go to RUN/eval/HEAD+rr (HEAD+qeK+rr with --query-expansion)")
    add_index_arguments(parser, kind_flag="--index")
    parser.set_defaults(func=run)


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return value


def print_results(run_dir, results: dict[str, dict]) -> None:
    """A metrics table, one line per head (or evaluation name such as max+qe5+rr), then a
    one-line summary of the best one."""
    width = max(8, *(len(name) for name in results))
    print(f"{'head':{width}} {'rank1':>7} {'rank5':>7} {'rank10':>7} {'mAP':>7}  queries")
    for head, m in results.items():
        print(f"{head:{width}} {100 * m['rank1']:7.2f} {100 * m['rank5']:7.2f} {100 * m['rank10']:7.2f} "
              f"{100 * m['mAP']:7.2f}  {m['num_valid_queries']} (+{m['num_invalid_queries']} without positives)")
    best = max(results, key=lambda head: results[head]["mAP"])
    print(f"evaluated {run_dir} on {results[best]['data']}: best head {best}, Rank-1 {100 * results[best]['rank1']:.2f}%, "
          f"mAP {100 * results[best]['mAP']:.2f}% over {results[best]['num_gallery']} gallery crops")


def run(args: argparse.Namespace) -> int:
    from shoekit.evaluate import evaluate_run

    from shoekit.distributed import is_main_process

    results = evaluate_run(args.run, heads=tuple(args.heads) if args.heads else None, metric=args.metric,
                           data=args.data, batch_size=args.batch_size, bf16=args.bf16,
                           same_camera_junk=args.same_camera_junk, device=args.device,
                           progress=not args.no_progress, backend=args.backend, onnx_models=args.onnx_models,
                           index=index_settings(args), index_depth=args.index_depth,
                           flip=args.flip, rerank=args.rerank, query_expansion=args.query_expansion,
                           compile=args.compile,
                           overwrite=args.overwrite)
    if is_main_process():
        print_results(args.run, results)
    return 0
