"""`shoekit ablate`: the paper's best recipe and the re-id tricks, one at a time, on one dataset."""

from __future__ import annotations

import argparse

from shoekit.commands.reproduce import add_grid_arguments, grid_command, grid_overrides


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "ablate", help="measure the re-id tricks against the paper's best recipe, one at a time",
        description="Train and evaluate the paper's best recipe (dual_pool, label smoothing 0.14, layer4+max; "
        "shared with shoekit reproduce) and then add BNNeck, batch-hard triplet loss with a PxK sampler, "
        "random erasing and last stride 1 one at a time (the last run is the 'bag_of_tricks' recipe), "
        "then query expansion and k-reciprocal re-ranking on the paper row's run, and "
        "each of the P x K sampler, random erasing and last stride 1 alone on the BNNeck run; every row "
        "has a paired bootstrap interval of its mAP gain. Every run trains for the same epochs. "
        "Finished runs are skipped and interrupted ones resume. Writes OUT/ablation.csv, ablation.md "
        "and ablation.json.")
    add_grid_arguments(parser)
    parser.add_argument("--seed", type=int, default=0, help="random seed of every run (default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from shoekit.ablation import ablate, ablation_summary

    command = grid_command("ablate", args, "--seed", str(args.seed))
    table = ablate(args.data, args.out, args.scale, args.seed, progress=not args.no_progress,
                   overrides=grid_overrides(args), command=command)
    print(f"ablation written to {args.out}/ablation.csv: {ablation_summary(table)}")
    return 0
