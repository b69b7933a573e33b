"""`shoekit reproduce`: the paper's Tables 1-3 as one resumable grid of runs."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "reproduce", help="run the paper's experiment grid (Tables 1-3) on a dataset folder",
        description="Train and evaluate the five attention variants (Table 1, FC features), read the "
        "dual_pool run's four heads (Table 2) and train dual_pool with label smoothing eps 0.12-0.15 "
        "(Table 3, layer4+max). Finished runs are skipped and interrupted ones resume. Writes "
        "OUT/table1.csv, table2.csv, table3.csv, summary.md and reproduce.json.")
    parser.add_argument("--data", type=Path, required=True, help="dataset folder (shoekit make-dataset)")
    parser.add_argument("--out", type=Path, required=True, help="results folder (runs go to OUT/runs)")
    parser.add_argument("--scale", choices=("smoke", "cpu", "paper"), default="cpu",
                        help="training size: smoke (seconds, tests), cpu (hours on 2 cores), "
                        "paper (GPU) (default: %(default)s)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="seeds for Table 1; Tables 2 and 3 use the first (default: %(default)s)")
    parser.add_argument("--epochs", type=int, help="override the scale's number of epochs")
    parser.add_argument("--device", default="auto", help="'auto', 'cpu', 'cuda' (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from shoekit.reproduce import reproduce

    overrides = {"device": args.device}
    if args.epochs:
        overrides["epochs"] = args.epochs
    command = shlex.join(["shoekit", "reproduce", "--data", str(args.data), "--out", str(args.out),
                          "--scale", args.scale, "--seeds", *map(str, args.seeds),
                          *(["--epochs", str(args.epochs)] if args.epochs else []), "--device", args.device])
    tables = reproduce(args.data, args.out, args.scale, tuple(args.seeds), progress=not args.no_progress,
                       overrides=overrides, command=command)
    best = tables["table1"].sort_values("mAP", ascending=False).iloc[0]
    print(f"reproduced {len(tables['table1'])} attention variants, 4 heads, {len(tables['table3'])} epsilons "
          f"into {args.out}: best Table 1 variant {best['attention']} (mAP {best['mAP']:.2f}%)")
    return 0
