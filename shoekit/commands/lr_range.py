"""`shoekit lr-range`: the learning-rate range test of a training recipe on a dataset folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from shoekit.commands.train import add_config_arguments, config_from_args
from shoekit.errors import ShoekitError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "lr-range", help="learning-rate range test: loss against an exponentially rising rate",
        description="Train a fresh model for --steps optimizer steps with the learning rate rising "
        "exponentially from --min-lr to --max-lr (Smith 2017), with the data, model, loss, optimizer and "
        "batch size the same options give shoekit train, stopping early once the smoothed loss diverges. "
        "Writes OUT (CSV: step, lr, loss, smoothed_loss) and OUT with .png (the curve), and prints the "
        "suggested peak rate: where the smoothed loss falls fastest, before its minimum. Nothing else "
        "is kept.")
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write (the plot goes beside it)")
    parser.add_argument("--steps", type=int, default=200, help="optimizer steps at most (default: %(default)s)")
    parser.add_argument("--min-lr", type=float, default=1e-5, help="first rate (default: %(default)s)")
    parser.add_argument("--max-lr", type=float, default=1.0, help="last rate (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT and its plot if they exist")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_config_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from shoekit.figures.export import figure_bytes
    from shoekit.figures.lr_range import lr_range_figure
    from shoekit.lr_range import exponential_rates, lr_range_test, write_range_test
    from shoekit.outputs import check_output_file
    from shoekit.runs import atomic_write

    if not args.data:
        raise ShoekitError("give --data DIR: the dataset folder to train on (see shoekit lr-range --help)")
    out = check_output_file(args.out, args.overwrite)
    plot = check_output_file(out.with_suffix(".png"), args.overwrite)
    exponential_rates(args.min_lr, args.max_lr, args.steps)  # a bad range fails before any training
    config = config_from_args(args)
    result = lr_range_test(config, args.steps, args.min_lr, args.max_lr, progress=not args.no_progress)
    write_range_test(out, result)
    figure = lr_range_figure(result.table, result.suggested_lr, result.min_loss_lr,
                             title=f"Learning-rate range test: {config.recipe}, {config.optimizer}, "
                             f"batch {config.batch_size}")
    png = figure_bytes(figure, "png")
    atomic_write(plot, lambda tmp: tmp.write_bytes(png))
    stopped = "stopped when the loss diverged" if result.diverged else "reached --max-lr"
    reading = (f"suggested --lr {result.suggested_lr:.2g} (steepest descent)" if result.suggested_lr is not None
               else "the loss did not fall at any rate, so there is no rate to suggest (more --steps, or compare "
               "rates by training)")
    print(f"range test of {len(result.table)} steps ({stopped}): {reading}, loss lowest at "
          f"{result.min_loss_lr:.2g}; curve in {out} and {plot}")
    return 0
