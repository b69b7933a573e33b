"""`shoekit reproduce`: the paper's Tables 1-3 as one resumable grid of runs."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from shoekit.choices import ATTENTIONS, EPSILONS, SCALES, TABLES


def add_grid_arguments(parser: argparse.ArgumentParser) -> None:
    """The options `reproduce` and `ablate` share: dataset, results folder, scale and overrides."""
    parser.add_argument("--data", type=Path, required=True, help="dataset folder (shoekit make-dataset)")
    parser.add_argument("--out", type=Path, required=True, help="results folder (runs go to OUT/runs)")
    parser.add_argument("--scale", choices=SCALES, default="cpu",
                        help="training size: smoke (seconds, tests), cpu (hours on 2 cores), "
                        "paper (GPU) (default: %(default)s)")
    parser.add_argument("--epochs", type=int, help="override the scale's number of epochs")
    parser.add_argument("--device", default="auto", help="'auto', 'cpu', 'cuda' (default: %(default)s)")
    parser.add_argument("--workers", type=int, help="data-loading worker processes per training run "
                        "(default: the train command's, 1)")
    parser.add_argument("--cache-images", action="store_true",
                        help="decode each run's training images once and keep them in memory (43 KB per "
                        "120 px crop): what a GPU needs to be fed fast enough")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def grid_overrides(args: argparse.Namespace) -> dict:
    """TrainConfig settings the command line puts over the scale's."""
    return {"device": args.device, **({"epochs": args.epochs} if args.epochs else {}),
            **({"num_workers": args.workers} if args.workers is not None else {}),
            **({"cache_images": True} if args.cache_images else {})}


def grid_command(name: str, args: argparse.Namespace, *options: str) -> str:
    """The command line to record with the results: `shoekit NAME` with every option spelt out."""
    return shlex.join(["shoekit", name, "--data", str(args.data), "--out", str(args.out), "--scale", args.scale,
                       *options, *(["--epochs", str(args.epochs)] if args.epochs else []), "--device", args.device,
                       *(["--workers", str(args.workers)] if args.workers is not None else []),
                       *(["--cache-images"] if args.cache_images else [])])


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "reproduce", help="run the paper's experiment grid (Tables 1-3) on a dataset folder",
        description="Train and evaluate the five attention variants (Table 1, FC features), read the "
        "dual_pool run's four heads (Table 2) and train dual_pool with label smoothing eps 0.12-0.15 "
        "(Table 3, layer4+max). Finished runs are skipped and interrupted ones resume. Writes "
        "OUT/table1.csv, table2.csv, table3.csv, summary.md, reproduce.json, train_logs.csv and "
        "differences.csv (the paper's pick against every other row, with bootstrap intervals) and, with "
        "several seeds, seed_differences.csv (intervals over seeds and over queries).")
    add_grid_arguments(parser)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="seeds for Tables 1 and 3; Table 2 uses the first (default: %(default)s)")
    parser.add_argument("--repeat-attentions", nargs="+", choices=ATTENTIONS, default=list(ATTENTIONS),
                        metavar="ATTENTION", help="the Table 1 variants trained for the seeds after the first "
                        f"(choose from {', '.join(ATTENTIONS)}; default: all five)")
    parser.add_argument("--repeat-epsilons", nargs="+", type=float, choices=EPSILONS, default=list(EPSILONS),
                        metavar="EPSILON", help="the Table 3 label smoothings trained for the seeds after the "
                        f"first (choose from {', '.join(f'{e:g}' for e in EPSILONS)}; default: all five)")
    parser.add_argument("--tables", nargs="+", choices=TABLES, default=list(TABLES),
                        help="which tables to run (default: all three)")
    parser.add_argument("--no-train", action="store_true",
                        help="train nothing: write the tables from the runs that have finished (while other "
                        "processes still train, or after a run was stopped)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from shoekit.reproduce import best_finished, reproduce

    command = grid_command("reproduce", args, "--seeds", *map(str, args.seeds),
                           "--repeat-attentions", *args.repeat_attentions,
                           "--repeat-epsilons", *(f"{e:g}" for e in args.repeat_epsilons), "--tables", *args.tables,
                           *(["--no-train"] if args.no_train else []))
    tables = reproduce(args.data, args.out, args.scale, tuple(args.seeds), progress=not args.no_progress,
                       overrides=grid_overrides(args), command=command, tables=tuple(args.tables),
                       train=not args.no_train, repeat_attentions=tuple(args.repeat_attentions),
                       repeat_epsilons=tuple(args.repeat_epsilons))
    lines = {"table1": "best attention {attention} (FC, mAP {mAP:.2f}%)",
             "table2": "best head {head} (mAP {mAP:.2f}%)", "table3": "best epsilon {epsilon:g} (mAP {mAP:.2f}%)"}
    best = {name: best_finished(frame) for name, frame in tables.items()}
    summary = [lines[name].format(**row.to_dict()) if row is not None else f"{name}: no finished run yet"
               for name, row in best.items()]
    print(f"reproduced {', '.join(tables)} into {args.out}: {'; '.join(summary)}")
    return 0
