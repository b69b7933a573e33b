"""`shoekit demo`: the embedded demo, from procedural shoes to a metrics table."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    from shoekit.demo import DemoSettings

    defaults = DemoSettings()
    parser = subparsers.add_parser(
        "demo", help="build, train and evaluate the embedded procedural demo",
        description="Make procedural shoe types, render them as CCTV-like crops into a dataset folder, "
        "train the paper's dual_pool model briefly and evaluate it. Steps whose output exists are "
        "skipped; an interrupted training resumes. A few minutes on 2 CPU cores.")
    parser.add_argument("--out", type=Path, default=defaults.out,
                        help="folder for the demo's data/ and runs/ (default: %(default)s)")
    parser.add_argument("--types", type=int, default=defaults.types,
                        help="number of procedural shoe types (default: %(default)s)")
    parser.add_argument("--train-crops", type=int, default=defaults.train_crops,
                        help="crops per training shoe type (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="training epochs (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="random seed (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from shoekit.commands.evaluate import print_results
    from shoekit.demo import DemoSettings, run_demo

    settings = DemoSettings(out=args.out, types=args.types, train_crops=args.train_crops,
                            epochs=args.epochs, seed=args.seed)
    results = run_demo(settings, progress=not args.no_progress)
    print_results(settings.run, results)
    return 0
