"""`shoekit make-dataset`: build a benchmark dataset folder of simulated CCTV shoe crops."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from shoekit.choices import SCALES as SCALE_NAMES

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "make-dataset", help="build a benchmark dataset folder of simulated CCTV crops",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Render shoe cut-outs (a cut-out folder or procedural shoes) into square "
        "CCTV-like crops (--size, 120 px as in the paper) on five floors and three cameras, in "
        "the paper's protocol: disjoint train / test / distractor identity pools chosen by "
        "--seed; per test identity 2 query crops (a side and a front/three-quarter view, or two "
        "trajectory views far apart) and gallery crops on other floors without the views next "
        "to a query view. Writes OUT/images/, OUT/manifest.csv and OUT/stats.json; the same "
        "arguments give the same bytes.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--cutouts", type=Path, metavar="DIR",
                        help="folder with a manifest.csv of cut-outs (columns identity, view, "
                        "path; optional quality ok/low), e.g. ../shared/data/scanned-shoes")
    source.add_argument("--procedural", type=int, metavar="N",
                        help="use N procedural shoe types (made from --seed) instead of cut-outs")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", default=argparse.SUPPRESS,
                        help="dataset folder to write")
    parser.add_argument("--scale", choices=SCALE_NAMES, default="smoke",
                        help="size preset: crops per identity and identity-pool fractions "
                        "(smoke: seconds, for tests; cpu: ~2,500 training crops, trains in well "
                        "under an hour on 2 cores; paper: 200 crops per training identity)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed for identity pools, views, floors, cameras and every crop")
    parser.add_argument("--size", type=int, default=120, help="crop side in px")
    for name, what in (("train-crops", "crops per training identity"),
                       ("gallery-crops", "gallery crops per test identity"),
                       ("distractor-crops", "crops per distractor identity")):
        parser.add_argument(f"--{name}", type=int, metavar="N",
                            help=f"{what}; None takes it from --scale")
    for name, what in (("train-fraction", "training"), ("test-fraction", "test"),
                       ("distractor-fraction", "distractor")):
        parser.add_argument(f"--{name}", type=float, metavar="F",
                            help=f"share of identities in the {what} pool, the three shares "
                            "summing to at most 1; None takes it from --scale")
    parser.add_argument("--drop-low-quality", action=argparse.BooleanOptionalAction, default=True,
                        help="leave out cut-outs whose manifest `quality` is `low` (recorded in "
                        "stats.json)")
    parser.add_argument("--view-exclusion", type=int, default=5, metavar="K",
                        help="trajectory-numbered views: gallery crops leave out views within K "
                        "positions of a query view (near-duplicates)")
    parser.add_argument("--query-view-gap", type=int, default=20, metavar="G",
                        help="trajectory-numbered views: a test identity's two query views are at "
                        "least G positions apart")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="rendering processes, the output does not depend on it; None uses "
                        "every available CPU core")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an earlier build in --out (its images/, manifest.csv, "
                        "stats.json)")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="hide the progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from shoekit.data.builder import BuildOptions, build_dataset

    started = time.perf_counter()
    options = BuildOptions(
        out=args.out, cutouts=args.cutouts, procedural=args.procedural, scale=args.scale,
        seed=args.seed, size=args.size, train_crops=args.train_crops,
        gallery_crops=args.gallery_crops, distractor_crops=args.distractor_crops,
        train_fraction=args.train_fraction, test_fraction=args.test_fraction,
        distractor_fraction=args.distractor_fraction, drop_low_quality=args.drop_low_quality,
        view_exclusion=args.view_exclusion, query_view_gap=args.query_view_gap,
        workers=args.workers, overwrite=args.overwrite, progress=args.progress)
    result = build_dataset(options)
    crops = result.stats["crops"]
    pools = result.stats["identities"]
    log.info("%s: %d crops (train %d, query %d, gallery %d, distractor %d) from %d/%d/%d "
             "train/test/distractor identities, %d skipped, %d warning(s), in %.1f s",
             result.out, crops["total"], crops["train"], crops["query"], crops["gallery"],
             crops["distractor"], pools["train"]["count"], pools["test"]["count"],
             pools["distractor"]["count"], len(result.stats["skipped_identities"]),
             len(result.warnings), time.perf_counter() - started)
    return 0
