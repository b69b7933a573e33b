"""Feature extraction with onnxruntime from a file made by `shoekit export`.

    model = OnnxFeatureModel("runs/dual_pool/export/max.onnx")
    features = model(images)          # (B, 3, S, S) float32 raw RGB in [0, 1] -> (B, D) float32

`extract_onnx_features` is the onnxruntime counterpart of `shoekit.evaluate.extract_features`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from shoekit.errors import CheckpointError
from shoekit.export import INPUT_NAME, METADATA_FORMAT


def session_options(threads: int | None):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    return options


class OnnxFeatureModel:
    """An exported feature extractor in an onnxruntime session; `metadata` holds the export's
    run, head, image_size, feature_dim and model_fingerprint (strings)."""

    def __init__(self, path: str | Path, device: str = "cpu", threads: int | None = None):
        try:
            import onnxruntime
        except ImportError as error:
            raise CheckpointError("onnxruntime is not installed: pip install onnxruntime "
                                  "(onnxruntime-gpu on CUDA machines)") from error
        self.path = Path(path)
        if not self.path.is_file():
            raise CheckpointError(f"{self.path}: no ONNX file; make it with shoekit export RUN --head HEAD")
        available = onnxruntime.get_available_providers()
        providers = (["CUDAExecutionProvider"] if device.startswith("cuda") and
                     "CUDAExecutionProvider" in available else []) + ["CPUExecutionProvider"]
        try:
            self.session = onnxruntime.InferenceSession(str(self.path), session_options(threads),
                                                        providers=providers)
        except Exception as error:  # onnxruntime raises its own Fail/InvalidProtobuf types
            raise CheckpointError(f"{self.path}: onnxruntime cannot load it ({str(error)[:200]}); "
                                  "export it again with shoekit export") from error
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        if self.metadata.get("format") != METADATA_FORMAT:
            raise CheckpointError(f"{self.path}: not a shoekit feature export (no {METADATA_FORMAT} "
                                  "metadata); export it with shoekit export")

    @property
    def head(self) -> str:
        return self.metadata["head"]

    @property
    def image_size(self) -> int:
        return int(self.metadata["image_size"])

    @property
    def fingerprint(self) -> str:
        return self.metadata["model_fingerprint"]

    def check_weights(self, fingerprint: str, run_dir: str | Path) -> None:
        """CheckpointError unless the file was exported from weights with this fingerprint."""
        if fingerprint != self.fingerprint:
            raise CheckpointError(f"{self.path}: exported from other weights ({self.metadata.get('run')}, "
                                  f"fingerprint {self.fingerprint[:12]}) than {run_dir} "
                                  f"({fingerprint[:12]}); export this run again (shoekit export {run_dir} "
                                  f"--head {self.head} --overwrite)")

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """(B, 3, S, S) float32 in [0, 1] -> (B, D) float32 features."""
        return self.session.run(None, {INPUT_NAME: np.ascontiguousarray(images, dtype=np.float32)})[0]


def extract_onnx_features(models: dict[str, OnnxFeatureModel], dataset, batch_size: int = 128,
                          progress: bool = True) -> dict[str, np.ndarray]:
    """One pass over `dataset` -> {head: (N, D) float32, not normalised}, in dataset order."""
    outputs = {head: [] for head in models}
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    for images, _, _ in tqdm(loader, desc="  features (onnx)", leave=False, disable=not progress, unit="batch"):
        batch = images.numpy()
        for head, model in models.items():
            outputs[head].append(model(batch))
    return {head: np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)
            for head, chunks in outputs.items()}


def load_exports(run_dir: str | Path, fingerprint: str, image_size: int, heads=None, paths=(),
                 device: str = "cpu") -> dict[str, OnnxFeatureModel]:
    """{head: model} of the ONNX files evaluating `run_dir`, each checked against its weights.

    `paths` given: those files (heads from their metadata; `heads`, when given, must match).
    Otherwise RUN/export/HEAD.onnx for each of `heads`, or for every head exported when None.
    """
    from shoekit.export import default_export_path
    from shoekit.models import HEADS

    if paths:
        models = [OnnxFeatureModel(path, device) for path in paths]
    else:
        wanted = heads or [head for head in HEADS if default_export_path(run_dir, head).is_file()]
        if not wanted:
            raise CheckpointError(f"{Path(run_dir) / 'export'}: no ONNX exports; make one with "
                                  f"shoekit export {run_dir} --head max")
        models = [OnnxFeatureModel(default_export_path(run_dir, head), device) for head in wanted]
    found = {}
    for model in models:
        model.check_weights(fingerprint, run_dir)
        if model.image_size != image_size:
            raise CheckpointError(f"{model.path}: exported for {model.image_size} px input but {run_dir} "
                                  f"uses {image_size} px; export it again")
        found[model.head] = model
    if heads and set(heads) != set(found):
        raise CheckpointError(f"ONNX files {', '.join(str(m.path) for m in models)} hold heads "
                              f"{sorted(found)}, not the requested {sorted(heads)}; drop --head or "
                              "export the missing heads")
    return found
