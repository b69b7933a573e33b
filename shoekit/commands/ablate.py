"""`shoekit ablate`: the paper's best recipe vs `strong`, one trick at a time, on one dataset."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "ablate", help="measure the strong recipe against the paper's best, one trick at a time",
        description="Train and evaluate the paper's best recipe (dual_pool, label smoothing 0.14, layer4+max; "
        "shared with shoekit reproduce) and then add BNNeck, batch-hard triplet loss with a PxK sampler, "
        "random erasing and last stride 1 one at a time (the last run is the 'strong' recipe), then "
        "query expansion and k-reciprocal re-ranking at evaluation. Every run trains for the same "
        "epochs. Finished runs are skipped and interrupted ones resume. Writes OUT/ablation.csv, "
        "ablation.md and ablation.json.")
    parser.add_argument("--data", type=Path, required=True, help="dataset folder (shoekit make-dataset)")
    parser.add_argument("--out", type=Path, required=True, help="results folder (runs go to OUT/runs)")
    parser.add_argument("--scale", choices=("smoke", "cpu", "paper"), default="cpu",
                        help="training size, as for shoekit reproduce (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of every run (default: %(default)s)")
    parser.add_argument("--epochs", type=int, help="override the scale's number of epochs")
    parser.add_argument("--device", default="auto", help="'auto', 'cpu', 'cuda' (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from shoekit.ablation import ablate

    overrides = {"device": args.device, **({"epochs": args.epochs} if args.epochs else {})}
    command = shlex.join(["shoekit", "ablate", "--data", str(args.data), "--out", str(args.out), "--scale",
                          args.scale, "--seed", str(args.seed),
                          *(["--epochs", str(args.epochs)] if args.epochs else []), "--device", args.device])
    table = ablate(args.data, args.out, args.scale, args.seed, progress=not args.no_progress,
                   overrides=overrides, command=command)
    best = table.sort_values("mAP").iloc[-1]
    print(f"ablation written to {args.out}/ablation.csv: paper mAP {table['mAP'].iloc[0]:.2f}%, best "
          f"{best['name']} mAP {best['mAP']:.2f}% ({best['mAP_gain']:+.2f} points)")
    return 0
