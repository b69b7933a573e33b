"""Training and evaluation end to end on the tiny dataset: run folder, resume, metrics, errors."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

import shoekit.train as train_module
from shoekit.config import TrainConfig
from shoekit.errors import CheckpointError, ManifestError
from shoekit.evaluate import evaluate_run
from shoekit.runs import load_checkpoint, load_run
from shoekit.train import lr_factor, train
from tests.conftest import TINY_SIZE, copy_run


def tiny_config(data, **overrides) -> TrainConfig:
    values = dict(data=str(data), attention="se", image_size=TINY_SIZE, epochs=2, batch_size=8,
                  lr=1e-3, warmup_steps=2, num_workers=0, seed=3, random_erasing=0.5)
    return TrainConfig(**{**values, **overrides})


def test_run_folder_contents(trained_run):
    config = json.loads((trained_run / "config.json").read_text())
    assert config["attention"] == "dual_pool" and config["epochs"] == 3
    log = pd.read_csv(trained_run / "train_log.csv")
    assert log["epoch"].tolist() == [1, 2, 3]
    assert {"loss", "accuracy", "images_per_s", "lr"} <= set(log.columns)
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["train"]["label_smoothing"] == {"epsilon": 0.0, "form": "paper"}
    assert metrics["train"]["precision"] in ("bf16", "fp32")
    assert len(metrics["train"]["manifest_hash"]) == 64
    assert set(metrics["eval"]) == {"fc", "avg", "max", "maxavg", "gem"}  # no BNNeck: no "bnneck" head
    run = load_run(trained_run)
    assert run.class_names == ["id0", "id1", "id2", "id3"] and run.epoch == 3


def test_evaluation_files(trained_run):
    for head, dim in (("fc", 4), ("avg", 2048), ("max", 2048), ("maxavg", 4096), ("gem", 2048)):
        metrics = json.loads((trained_run / "eval" / head / "metrics.json").read_text())
        assert 0 <= metrics["rank1"] <= metrics["rank5"] <= metrics["rank10"] <= 1
        assert 0 < metrics["mAP"] <= 1 and metrics["num_valid_queries"] == 6
        assert metrics["num_gallery"] == 3 * 3 + 2 * 3 and metrics["feature_dim"] == dim
        rankings = np.load(trained_run / "eval" / head / "rankings.npz")
        assert rankings["top_indices"].shape == (6, 15)
        assert np.all(np.diff(rankings["top_distances"], axis=1) >= 0)
        features = np.load(trained_run / "eval" / head / "features.npz")
        assert np.linalg.norm(features["gallery"], axis=1) == pytest.approx(1, abs=1e-4)
        cmc = pd.read_csv(trained_run / "eval" / head / "cmc.csv")
        assert cmc["cmc"].iloc[0] == pytest.approx(metrics["rank1"]) and cmc["cmc"].is_monotonic_increasing
    table = pd.read_csv(trained_run / "eval" / "metrics.csv")
    assert table["head"].tolist() == ["fc", "avg", "max", "maxavg", "gem"]


def test_the_tiny_task_is_learned(trained_run):
    """3 epochs on 4 clearly different patterns: far above chance (25%) in training accuracy."""
    log = pd.read_csv(trained_run / "train_log.csv")
    assert log["accuracy"].iloc[-1] > 0.5
    assert log["loss"].iloc[-1] < log["loss"].iloc[0]


def assert_resume_after_a_kill_gives_the_same_weights(config, tmp_path, monkeypatch):
    train(config, tmp_path / "whole", progress=False)

    real_write_train_log = train_module.write_train_log

    def killed_after_first_epoch(run_dir, history):
        real_write_train_log(run_dir, history)
        raise KeyboardInterrupt
    monkeypatch.setattr(train_module, "write_train_log", killed_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "killed", progress=False)
    monkeypatch.setattr(train_module, "write_train_log", real_write_train_log)
    unfinished = load_checkpoint(tmp_path / "killed" / "checkpoint.pt")
    assert unfinished["epoch"] == 1 and {"optimizer", "scheduler", "center_optimizer"} <= set(unfinished)
    train(TrainConfig(), tmp_path / "killed", resume=True, progress=False)

    whole = load_checkpoint(tmp_path / "whole" / "checkpoint.pt")
    resumed = load_checkpoint(tmp_path / "killed" / "checkpoint.pt")
    assert resumed["epoch"] == 2 and len(resumed["history"]) == 2
    for name, tensor in [*whole["model"].items(), *whole["criterion"].items()]:
        assert torch.equal(tensor, {**resumed["model"], **resumed["criterion"]}[name]), name
    assert pd.read_csv(tmp_path / "killed" / "train_log.csv")["epoch"].tolist() == [1, 2]
    assert "optimizer" not in whole and "optimizer" not in resumed  # finished: weights only
    return unfinished


def test_resume_after_a_kill_gives_the_same_weights(tiny_dataset, tmp_path, monkeypatch):
    assert_resume_after_a_kill_gives_the_same_weights(tiny_config(tiny_dataset), tmp_path, monkeypatch)


def test_bag_of_tricks_with_centre_loss_trains_and_resumes(tiny_dataset, tmp_path, monkeypatch):
    """BNNeck, P×K triplet, random erasing, last stride 1 and a centre loss: each term is logged,
    the centres are checkpointed, and a killed run still resumes to the same weights."""
    base = {f: getattr(tiny_config(tiny_dataset), f) for f in ("data", "image_size", "epochs", "lr",
                                                               "warmup_steps", "num_workers", "seed")}
    config = TrainConfig.from_recipe("bag_of_tricks", **base, batch_size=8, center_weight=5e-4)
    assert config.neck == "bnneck" and config.sampler == "pk" and config.last_stride == 1
    unfinished = assert_resume_after_a_kill_gives_the_same_weights(config, tmp_path, monkeypatch)
    assert unfinished["center_optimizer"] is not None
    assert unfinished["criterion"]["center.centers"].shape == (4, 2048)
    log = pd.read_csv(tmp_path / "whole" / "train_log.csv")
    assert {"loss_ce", "loss_triplet", "loss_center"} <= set(log.columns)
    assert log["loss"].iloc[0] > log["loss_ce"].iloc[0]  # the triplet term is part of the loss
    assert "bnneck" in load_run(tmp_path / "whole").model.heads


def test_a_run_is_never_overwritten(tiny_dataset, tmp_path):
    train(tiny_config(tiny_dataset, epochs=1), tmp_path / "run", progress=False)
    with pytest.raises(CheckpointError, match="--resume"):
        train(tiny_config(tiny_dataset, epochs=1), tmp_path / "run", progress=False)


def test_label_smoothing_and_sgd_step_schedule_run(tiny_dataset, tmp_path):
    config = tiny_config(tiny_dataset, epochs=1, optimizer="sgd", schedule="step", milestones=[1],
                         label_smoothing=0.14, smoothing_form="pytorch", bf16=False)
    summary = train(config, tmp_path / "run", progress=False)
    assert summary["precision"] == "fp32"
    assert summary["label_smoothing"] == {"epsilon": 0.14, "form": "pytorch"}


def test_warmup_then_cosine():
    factor = lr_factor(TrainConfig(epochs=10, warmup_steps=10), steps_per_epoch=10)
    assert factor(0) == pytest.approx(0.01) and factor(10) == pytest.approx(1.0)
    assert factor(55) == pytest.approx(0.5) and factor(99) < 0.01


def test_manifest_without_required_columns_fails_before_training(tmp_path):
    (tmp_path / "manifest.csv").write_text("file,label\na.png,x\n")
    with pytest.raises(ManifestError, match="manifest.csv"):
        train(tiny_config(tmp_path), tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_checkpoint_of_another_architecture_is_named(trained_run, tmp_path):
    copy = tmp_path / "copy"
    copy_run(trained_run, copy)
    config = json.loads((copy / "config.json").read_text())
    config["attention"] = "cbam"
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="checkpoint.pt"):
        load_run(copy)


def test_corrupt_checkpoint_is_named(tmp_path, trained_run):
    copy = tmp_path / "copy"
    copy_run(trained_run, copy)
    (copy / "checkpoint.pt").unlink()  # a hard link to the session's checkpoint
    (copy / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="unreadable checkpoint"):
        load_run(copy)


def test_evaluation_needs_queries(trained_run, tmp_path, tiny_dataset):
    manifest = pd.read_csv(tiny_dataset / "manifest.csv")
    manifest = manifest[manifest["split"] != "query"]
    manifest.to_csv(tiny_dataset / "manifest.csv", index=False)
    copy = tmp_path / "copy"
    copy_run(trained_run, copy)
    with pytest.raises(ManifestError, match="0 query"):
        evaluate_run(copy, data=str(tiny_dataset), progress=False)


def test_bf16_and_fp32_extraction_agree(trained_run, tmp_path):
    """Same model, bf16 vs fp32 features: nearly the same ranking metrics on the tiny set."""
    copy = tmp_path / "copy"
    copy_run(trained_run, copy)
    bf16 = evaluate_run(copy, heads=("max",), bf16=True, progress=False)["max"]
    fp32 = evaluate_run(copy, heads=("max",), bf16=False, progress=False)["max"]
    assert abs(bf16["mAP"] - fp32["mAP"]) < 0.1


def test_compiled_extraction_matches_eager(trained_run):
    """`--compile` (torch.compile of the backbone) gives the eager features."""
    from shoekit.data import ShoeCrops, eval_transform
    from shoekit.evaluate import extract_features

    run = load_run(trained_run)
    crops = ShoeCrops(run.config.data, ["query"], transform=eval_transform(TINY_SIZE))
    eager = extract_features(run.model, crops, ("max", "fc"), bf16=False, progress=False)
    fused = extract_features(run.model, crops, ("max", "fc"), bf16=False, progress=False, compile=True)
    for head in ("max", "fc"):
        np.testing.assert_allclose(fused[head], eager[head], rtol=1e-3, atol=1e-4)


def test_optimizer_state_of_conv_shaped_moments_takes_the_linear_parameters_shape():
    """A checkpoint from before the attention MLP became Linear layers keeps Adam's moments of
    its weights as (out, in, 1, 1); after loading they take the (out, in) shape, so a non-fused
    Adam steps with them."""
    from shoekit.train import match_parameter_shapes

    layer = torch.nn.Linear(4, 3)
    first = torch.optim.Adam(layer.parameters(), lr=1e-3, foreach=True)
    layer(torch.ones(2, 4)).sum().backward()
    first.step()
    saved = first.state_dict()
    saved["state"][0] = {key: value.reshape(3, 4, 1, 1) if value.dim() == 2 else value
                         for key, value in saved["state"][0].items()}
    second = torch.optim.Adam(layer.parameters(), lr=1e-3, foreach=True)
    second.load_state_dict(saved)
    match_parameter_shapes(second)
    assert second.state[layer.weight]["exp_avg"].shape == layer.weight.shape
    assert second.state[layer.weight]["step"].dim() == 0
    layer(torch.ones(2, 4)).sum().backward()
    second.step()  # raises on mismatched moment shapes with the foreach implementation
