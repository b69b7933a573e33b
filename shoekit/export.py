"""ONNX export of a run's feature extractor: raw RGB in [0, 1] -> features of one head.

    export_onnx("runs/dual_pool", head="max")   # -> runs/dual_pool/export/max.onnx

The graph is `shoekit.models.FeatureExtractor(model, head)` (pixel mean/std inside), float32,
input "images" (B, 3, S, S) with a dynamic batch B, output "features" (B, D), not normalised
(as `extract_features` gives them). The file's metadata (`metadata_props`) names the run,
head, image size and the weights' fingerprint, so `shoekit evaluate --backend onnx` can refuse
a file exported from other weights. Written atomically: a failed export leaves no file.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from shoekit.choices import EXPORTERS
from shoekit.index.source import model_fingerprint
from shoekit.models import FeatureExtractor, feature_dim
from shoekit.models.heads import check_head
from shoekit.outputs import check_output_file
from shoekit.runs import EXPORT_DIR, atomic_write, load_run

log = logging.getLogger(__name__)

INPUT_NAME = "images"
OUTPUT_NAME = "features"
OPSET = 18
METADATA_FORMAT = "shoekit-features-1"
PARITY_MIN_COSINE = 0.999


def default_export_path(run_dir: str | Path, head: str) -> Path:
    """RUN/export/HEAD.onnx: where `shoekit export` writes and `evaluate --backend onnx` looks."""
    return Path(run_dir) / EXPORT_DIR / f"{check_head(head)}.onnx"


@dataclass(frozen=True)
class ExportReport:
    """What was exported: the file, head, feature dimension, input size (px) and fingerprint."""

    path: Path
    head: str
    feature_dim: int
    image_size: int
    fingerprint: str
    exporter: str
    megabytes: float


def export_graph(extractor: torch.nn.Module, example: torch.Tensor, path: Path, exporter: str) -> None:
    """torch.onnx.export of `extractor` to `path` with a dynamic batch dimension."""
    if exporter == "dynamo":
        batch = torch.export.Dim("batch", min=1)
        torch.onnx.export(extractor, (example,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_shapes={"images": {0: batch}}, dynamo=True, external_data=False,
                          opset_version=OPSET, verbose=False)
    elif exporter == "torchscript":
        torch.onnx.export(extractor, (example,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}, dynamo=False,
                          opset_version=OPSET)
    else:
        raise ValueError(f"unknown exporter {exporter!r}; choose one of {', '.join(EXPORTERS)}")


def export_onnx(run_dir: str | Path, head: str = "max", out: str | Path | None = None,
                exporter: str = "dynamo", overwrite: bool = False) -> ExportReport:
    """Export the feature extractor of run `run_dir` with `head` to `out` (default RUN/export/HEAD.onnx)."""
    import onnx

    check_head(head)
    run = load_run(run_dir)
    out = Path(out) if out is not None else default_export_path(run_dir, head)
    check_output_file(out, overwrite)
    extractor = FeatureExtractor(run.model.float().eval(), head).eval()
    size = run.config.image_size
    example = torch.rand(2, 3, size, size)
    fingerprint = model_fingerprint(run.model)
    dim = feature_dim(head, len(run.class_names))
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".export-") as scratch:
        raw = Path(scratch) / "graph.onnx"
        log.info("exporting %s head %s (%s exporter, %d px input)", run_dir, head, exporter, size)
        export_graph(extractor, example, raw, exporter)
        proto = onnx.load(str(raw))
    metadata = {"format": METADATA_FORMAT, "run": str(run_dir), "head": head, "attention": run.config.attention,
                "num_classes": str(len(run.class_names)), "feature_dim": str(dim), "image_size": str(size),
                "model_fingerprint": fingerprint, "input": "raw RGB in [0, 1], float32 (B, 3, S, S)",
                "exporter": exporter}
    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    atomic_write(out, lambda tmp: onnx.save(proto, str(tmp)))
    return ExportReport(out, head, dim, size, fingerprint, exporter, out.stat().st_size / 2 ** 20)


def check_parity(run_dir: str | Path, onnx_path: str | Path, num_crops: int = 8, seed: int = 0) -> float:
    """Smallest cosine similarity between torch fp32 and onnxruntime features of random crops."""
    from shoekit.onnx_backend import OnnxFeatureModel

    run = load_run(run_dir)
    session = OnnxFeatureModel(onnx_path)
    size = run.config.image_size
    crops = torch.rand(num_crops, 3, size, size, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        expected = FeatureExtractor(run.model.float().eval(), session.head)(crops).numpy()
    return float(cosine_similarities(expected, session(crops.numpy())).min())


def cosine_similarities(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (N, D) arrays: (N,) float64."""
    first, second = np.asarray(first, np.float64), np.asarray(second, np.float64)
    norms = np.linalg.norm(first, axis=1) * np.linalg.norm(second, axis=1)
    return (first * second).sum(axis=1) / np.maximum(norms, 1e-30)
