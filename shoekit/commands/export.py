"""`shoekit export`: a run's feature extractor as an ONNX file for onnxruntime."""

from __future__ import annotations

import argparse
from pathlib import Path

from shoekit.choices import EXPORTERS, HEADS


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="export a run's feature extractor to ONNX",
        description="Export the model of RUN with one feature head as ONNX: input 'images' raw RGB in "
        "[0, 1], float32 (B, 3, S, S) with a dynamic batch B (normalisation is inside), output "
        "'features' (B, D), not normalised. The file's metadata names the run, head, input size and "
        "the weights' fingerprint; shoekit evaluate RUN --backend onnx uses RUN/export/HEAD.onnx.")
    parser.add_argument("run", metavar="RUN", help="run folder made by shoekit train")
    parser.add_argument("--head", choices=HEADS, default="max", help="feature head (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="ONNX file to write (default: RUN/export/HEAD.onnx)")
    parser.add_argument("--exporter", choices=EXPORTERS, default="dynamo",
                        help="torch.onnx exporter: 'dynamo' (torch.export based, the maintained one) or "
                        "'torchscript' (legacy, faster to export) (default: %(default)s)")
    parser.add_argument("--check", action=argparse.BooleanOptionalAction, default=True,
                        help="compare onnxruntime and torch features on random crops afterwards "
                        "(default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from shoekit.errors import CheckpointError
    from shoekit.export import PARITY_MIN_COSINE, check_parity, export_onnx

    report = export_onnx(args.run, args.head, args.out, exporter=args.exporter, overwrite=args.overwrite)
    parity = ""
    if args.check:
        cosine = check_parity(args.run, report.path)
        if cosine < PARITY_MIN_COSINE:
            raise CheckpointError(f"{report.path}: onnxruntime features differ from torch's (min cosine "
                                  f"{cosine:.6f} < {PARITY_MIN_COSINE}); try --exporter torchscript")
        parity = f", min cosine to torch {cosine:.6f} on random crops"
    print(f"exported {args.run} head {report.head} ({report.feature_dim}-d, {report.image_size} px, "
          f"{report.exporter}) -> {report.path} ({report.megabytes:.1f} MiB){parity}")
    return 0
