"""`shoekit pretrain`: train the backbone on thousands of procedural shoe types, rendered online."""

from __future__ import annotations

import argparse
from pathlib import Path

from shoekit.commands.train import add_config_arguments, config_from_args
from shoekit.errors import ShoekitError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "pretrain", help="pretrain the backbone on procedural shoe types",
        description="Make N procedural shoe types (checked to be distinct from one another) in OUT/data, "
        "render them afresh every epoch through the CCTV simulation, and train a run folder OUT on them "
        "(the recipe 'paper_fast' unless --recipe says otherwise). Start a real run from it with "
        "shoekit train --pretrained OUT/checkpoint.pt; the load is reported tensor by tensor. A killed "
        "pretraining continues with shoekit train --resume OUT.")
    parser.add_argument("--procedural", type=int, required=True, metavar="N",
                        help="number of procedural shoe types (identities), e.g. 2000")
    parser.add_argument("--out", type=Path, required=True, help="run folder to create (data in OUT/data)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_config_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from shoekit.pretrain import PretrainSettings, pretrain

    if args.data is not None:
        raise ShoekitError("shoekit pretrain makes its own data in OUT/data; drop --data")
    args.recipe = args.recipe or "paper_fast"
    config = config_from_args(args)
    settings = PretrainSettings(types=args.procedural, out=args.out, seed=config.seed,
                                progress=not args.no_progress)
    summary = pretrain(settings, config)
    print(f"pretrained {args.out} on {summary['num_classes']} procedural types: {summary['epochs']} epochs, "
          f"train accuracy {100 * summary['final_accuracy']:.1f}%; use it with "
          f"shoekit train --pretrained {args.out / 'checkpoint.pt'}")
    return 0
