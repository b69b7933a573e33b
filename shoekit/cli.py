"""The `shoekit` command line: one subcommand per module in `shoekit.commands`.

Each command module defines `register(subparsers)`, which adds its parser and sets
`func=run`; heavy imports (torch) happen inside `run`, so `shoekit --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from shoekit import __version__
from shoekit.errors import ShoekitError

COMMANDS = ("demo", "make_dataset", "import_folder", "pretrain", "train", "lr_range", "evaluate", "reproduce",
            "ablate", "explain", "workbench", "index", "export")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shoekit",
        description="Shoe-type recognition and retrieval: train, evaluate and explain "
        "attention ResNet50 models on CCTV-like shoe crops.",
    )
    parser.add_argument("--version", action="version", version=f"shoekit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                       help="what to do; `shoekit COMMAND --help` lists its options")
    for name in COMMANDS:
        importlib.import_module(f"shoekit.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except ShoekitError as error:
        print(f"shoekit {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"shoekit {args.command}: interrupted", file=sys.stderr)
        return 130
