"""ONNX export: parity with torch, dynamic batch, metadata, evaluate --backend onnx, bad files."""

import json

import numpy as np
import onnx
import pytest
import torch

from shoekit.errors import CheckpointError, SettingsError
from shoekit.export import PARITY_MIN_COSINE, cosine_similarities, default_export_path, export_onnx
from shoekit.index.source import model_fingerprint
from shoekit.models import FeatureExtractor
from shoekit.onnx_backend import OnnxFeatureModel, load_exports
from shoekit.runs import load_run
from tests.conftest import copy_run
from tests.test_index import make_quick_run


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A quick run with its max head exported (torchscript exporter: seconds, not minutes)."""
    run = make_quick_run(tmp_path_factory.mktemp("export"))
    report = export_onnx(run, "max", exporter="torchscript")
    return run, report, load_run(run).model


def test_export_writes_the_default_path_with_metadata(exported):
    run, report, model = exported
    assert report.path == default_export_path(run, "max") == run / "export" / "max.onnx"
    assert report.feature_dim == 2048 and report.image_size == 32
    metadata = {prop.key: prop.value for prop in onnx.load(str(report.path), load_external_data=False).metadata_props}
    assert metadata["head"] == "max" and metadata["image_size"] == "32"
    assert metadata["model_fingerprint"] == model_fingerprint(model)


@pytest.mark.parametrize("batch", [1, 5])
def test_onnxruntime_features_match_torch_on_random_crops(exported, batch):
    run, report, model = exported
    crops = torch.rand(batch, 3, 32, 32, generator=torch.Generator().manual_seed(batch))
    with torch.inference_mode():
        expected = FeatureExtractor(model, "max")(crops).numpy()
    got = OnnxFeatureModel(report.path)(crops.numpy())
    assert got.shape == (batch, 2048)
    assert cosine_similarities(expected, got).min() >= PARITY_MIN_COSINE


def test_evaluate_with_the_onnx_backend_matches_torch_fp32(exported, tmp_path, capsys):
    from shoekit.cli import main

    run, _, _ = exported
    copy = tmp_path / "run"
    copy_run(run, copy)
    assert main(["evaluate", str(copy), "--head", "max", "--no-bf16", "--no-progress"]) == 0
    torch_metrics = json.loads((copy / "eval" / "max" / "metrics.json").read_text())
    torch_features = np.load(copy / "eval" / "max" / "features.npz")["gallery"]
    assert main(["evaluate", str(copy), "--backend", "onnx", "--no-progress"]) == 0
    assert "best head max" in capsys.readouterr().out
    onnx_metrics = json.loads((copy / "eval" / "max" / "metrics.json").read_text())
    onnx_features = np.load(copy / "eval" / "max" / "features.npz")["gallery"]
    assert onnx_metrics["precision"] == "onnx-fp32" and torch_metrics["precision"] == "fp32"
    assert cosine_similarities(torch_features, onnx_features).min() >= PARITY_MIN_COSINE
    assert onnx_metrics["mAP"] == pytest.approx(torch_metrics["mAP"], abs=1e-6)


def test_an_export_of_other_weights_or_size_is_refused(exported):
    run, report, model = exported
    fingerprint = model_fingerprint(model)
    assert set(load_exports(run, fingerprint, 32)) == {"max"}
    with pytest.raises(CheckpointError, match="exported from other weights.*shoekit export"):
        load_exports(run, "0" * 64, 32)
    with pytest.raises(CheckpointError, match="exported for 32 px input but .* uses 120 px"):
        load_exports(run, fingerprint, 120)
    with pytest.raises(CheckpointError, match="avg.onnx: no ONNX file.*shoekit export"):
        load_exports(run, fingerprint, 32, heads=("avg",))


def test_a_corrupt_onnx_file_is_named_and_an_export_is_not_overwritten(exported, tmp_path):
    run, report, model = exported
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(report.path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="broken.onnx: onnxruntime cannot load it.*export it again"):
        OnnxFeatureModel(broken)
    before = report.path.stat().st_mtime_ns
    with pytest.raises(SettingsError, match="already exists; pass --overwrite"):
        export_onnx(run, "max", exporter="torchscript")
    assert report.path.stat().st_mtime_ns == before
    (tmp_path / "file").write_text("")
    with pytest.raises(SettingsError, match=r"--out .*file/model\.onnx: .*file is a file, not a folder"):
        export_onnx(run, "max", out=tmp_path / "file" / "model.onnx", exporter="torchscript")
