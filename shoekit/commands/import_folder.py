"""`shoekit import-folder`: write a dataset manifest for a folder-per-identity image collection."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from shoekit.data.image_policy import MIN_SIDE

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "import-folder", help="make a dataset folder from ROOT/<identity>/<image> files",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Write manifest.csv for images laid out as ROOT/<identity>/<image>: a seeded "
        "share of the identities goes to 'train'; each other identity gives --queries-per-identity "
        "'query' images and the rest 'gallery'. Unreadable or tiny images and identities with too "
        "few images are reported and skipped.")
    parser.add_argument("root", type=Path, help="folder with one sub-folder of images per identity")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="copy the images to DIR and write the manifest there; None writes "
                        "ROOT/manifest.csv and leaves the images in place")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the identity split and query choice")
    parser.add_argument("--train-fraction", type=float, default=0.5, metavar="F",
                        help="share of identities used for training (the rest are test identities)")
    parser.add_argument("--queries-per-identity", type=int, default=1, metavar="N",
                        help="query images per test identity (the others go to the gallery)")
    parser.add_argument("--min-size", type=int, default=MIN_SIDE, metavar="PX",
                        help="skip images smaller than this many px on a side")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a manifest.csv already in the destination (its split and hand "
                        "edits are lost)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from shoekit.data.folder_import import import_folder

    result = import_folder(args.root, args.out, seed=args.seed, train_fraction=args.train_fraction,
                           queries_per_identity=args.queries_per_identity, min_size=args.min_size,
                           overwrite=args.overwrite)
    counts = result.manifest.groupby("split")["identity"].agg(["size", "nunique"])
    parts = ", ".join(f"{split} {int(row['size'])} images/{int(row['nunique'])} identities"
                      for split, row in counts.iterrows())
    log.info("%s: %s; %d warning(s)", result.manifest_file, parts, len(result.warnings))
    return 0
