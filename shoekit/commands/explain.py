"""`shoekit explain`: Grad-CAM and Guided Grad-CAM panels of a query and its top gallery matches,
or (`--measure`) the explanation measures over all of a run's test queries."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from shoekit.choices import HEADS
from shoekit.explain.options import CAM_METHOD_CLASSES, DEFAULT_METHOD

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "explain", help="Grad-CAM / Guided Grad-CAM panels of a query and its top matches",
        description="Explain why a query crop matched its top gallery crops: for each match, the query's "
        "heatmap of its cosine similarity to the match and the match's heatmap of its similarity to the "
        "query (CAM overlay and Guided Grad-CAM, as in the paper's Fig. 9). Writes OUT/explanation.png "
        "(all pairs), OUT/pair_NN.png (one per match) and OUT/matches.csv. Needs `shoekit evaluate RUN` "
        "first: matches come from RUN/eval/HEAD/rankings.npz (query INDEX) or features.npz (image PATH).")
    parser.add_argument("run", metavar="RUN", help="run folder made by shoekit train and shoekit evaluate")
    parser.add_argument("--measure", action="store_true",
                        help="instead of panels for one query: measure the explanations of every test query "
                        "and its --top matches (energy on the shoe mask, pointing game, deletion/insertion, "
                        "sanity against random weights) into RUN/explain/measures.{csv,md}")
    parser.add_argument("--query", metavar="PATH|INDEX",
                        help="an image file (searched against the run's saved gallery features), or the "
                        "position of a query among the run's query crops (0 = first query row)")
    parser.add_argument("--top", type=int, default=5,
                        help="number of best matches to explain (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="folder for the PNG panels (created; not with --measure)")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into an --out folder that already holds files (an earlier "
                        "explanation there is replaced)")
    parser.add_argument("--head", choices=HEADS, default="max",
                        help="feature head the similarity is taken on (default: %(default)s)")
    parser.add_argument("--method", choices=tuple(CAM_METHOD_CLASSES), default=DEFAULT_METHOD,
                        help="CAM method from pytorch-grad-cam (default: %(default)s)")
    parser.add_argument("--layer", default=None,
                        help="target layer: a stage 'layerN' (N = 1-4) or a bottleneck 'layerN.i' "
                        "(layer1.0-2, layer2.0-3, layer3.0-5, layer4.0-2); deeper is coarser "
                        "(default: the paper's layer4.2 where its map is at least 3 px a side at the "
                        "run's input size, else layer3.5, e.g. for 64 px inputs at layer4 stride 2)")
    parser.add_argument("--tile", type=int, default=128,
                        help="size of each image in the PNG panels, px (default: %(default)s)")
    measure = parser.add_argument_group("--measure options")
    measure.add_argument("--methods", nargs="+", choices=tuple(CAM_METHOD_CLASSES), default=None,
                         help="CAM methods to measure (default: the --method)")
    measure.add_argument("--layers", nargs="+", default=None,
                         help="target layers to measure (default: the --layer default)")
    measure.add_argument("--queries", type=int, default=None, metavar="N",
                         help="measure only the first N test queries (default: all)")
    measure.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def fail(message: str) -> int:
    print(f"shoekit explain: error: {message}", file=sys.stderr)
    return 2


def run_measure(args: argparse.Namespace) -> int:
    from shoekit.explain.measurement import MeasureOptions, measure_run

    if args.query is not None or args.out is not None:
        return fail("--measure explains every test query into RUN/explain/: drop --query and --out")
    report = measure_run(args.run, MeasureOptions(
        top=args.top, methods=tuple(args.methods or [args.method]),
        layers=tuple(args.layers or ([args.layer] if args.layer else [])),
        head=args.head,
        queries=args.queries, progress=not args.no_progress))
    print(f"measured {args.run}: {report.headline()}; table in {report.files[1]}")
    return 0


def run(args: argparse.Namespace) -> int:
    import pandas as pd
    import torch

    from shoekit.explain import Explainer, load_evaluation
    from shoekit.explain.layers import target_layer_names
    from shoekit.explain.options import default_layer
    from shoekit.figures.panels import explanation_sheet, pair_sheet
    from shoekit.figures.sheet import save_png
    from shoekit.query_image import load_query_image
    from shoekit.search import search_gallery
    from shoekit.outputs import check_output_folder
    from shoekit.runs import load_run, write_text

    if args.top < 1:
        return fail(f"--top must be at least 1, not {args.top}")
    if args.measure:
        return run_measure(args)
    if args.query is None or args.out is None:
        return fail("give --query and --out (panels for one query), or --measure (every test query)")
    check_output_folder(args.out, args.overwrite)
    trained = load_run(args.run)
    layers = target_layer_names(trained.model)
    args.layer = args.layer or default_layer(trained.config.image_size, trained.config.last_stride)
    if args.layer not in layers:
        return fail(f"unknown --layer {args.layer!r}; choose one of {', '.join(layers)}")
    results = load_evaluation(args.run, args.head)
    explainer = Explainer(trained.model, head=args.head, method=args.method, layer=args.layer)
    query_path = Path(args.query)
    if query_path.exists():
        image = load_query_image(query_path)
        for note in image.notes:
            log.warning("%s: %s", image.name, note)
        query, query_identity, query_label = image.model_input(trained.config.image_size), None, image.name
        query_feature = explainer.features(query[None])[0].cpu().numpy()
        positions, distances = search_gallery(results.features()[1], query_feature, args.top)
    elif args.query.isdigit() and int(args.query) < len(results.queries):
        index = int(args.query)
        query, query_identity = results.queries[index][0], results.queries.identities[index]
        query_label = f"query {index} ({results.queries.image_path(index)})"
        positions, distances = results.top_matches(index, args.top)
    else:
        return fail(f"--query {args.query}: no such image file, and not a query index (the run has "
                    f"{len(results.queries)} queries: 0 to {len(results.queries) - 1})")
    matches = torch.stack([results.gallery[int(position)][0] for position in positions])
    identities = [results.gallery.identities[int(position)] for position in positions]
    log.info("explaining %s against its top %d matches (%s on %s, %s features)", query_label,
             len(positions), args.method, args.layer, args.head)
    explanation = explainer.explain_query(query, matches, distances=distances, identities=identities,
                                          query_identity=query_identity)
    for stale in args.out.glob("pair_*.png"):  # an earlier explanation's panels (--overwrite)
        stale.unlink()
    save_png(args.out / "explanation.png", explanation_sheet(explanation, args.tile))
    for pair in explanation.pairs:
        save_png(args.out / f"pair_{pair.rank:02d}.png", pair_sheet(pair, args.method, args.tile))
    table = pd.DataFrame({
        "rank": [pair.rank for pair in explanation.pairs],
        "manifest_row": results.gallery.rows["row"].to_numpy()[positions],
        "path": [str(results.gallery.image_path(int(position))) for position in positions],
        "identity": identities,
        "distance": [pair.distance for pair in explanation.pairs],
        "similarity_fp32": [pair.similarity for pair in explanation.pairs],
        "correct": [pair.correct for pair in explanation.pairs],
    })
    write_text(args.out / "matches.csv", table.to_csv(index=False))
    correct = sum(bool(pair.correct) for pair in explanation.pairs)
    verdict = f", {correct} of the query's type" if query_identity is not None else ""
    print(f"explained {query_label} against its top {len(explanation.pairs)} matches in "
          f"{results.gallery.root}{verdict} "
          f"({args.method} on {args.layer}, {args.head} features): wrote {len(explanation.pairs) + 1} PNGs "
          f"and matches.csv to {args.out}")
    return 0
