"""Training on fresh renders: the cut-out record, online rendering, validation identities,
budgets and snapshots, the cosine classifier, and pretraining on procedural types."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from shoekit.config import TrainConfig
from shoekit.data import BuildOptions, build_dataset
from shoekit.data.online import (CutoutSource, OnlineRenders, ValidationSet, read_record, record_path,
                                 split_identities)
from shoekit.data.datasets import train_transform
from shoekit.data.procedural import indistinct_pairs, make_shoe_types
from shoekit.data.training_sets import epoch_size, training_data
from shoekit.errors import CheckpointError, DataError
from shoekit.losses import with_margin
from shoekit.models import build_model
from shoekit.models.resnet import CosineClassifier
from shoekit.models.weights import load_pretrained
from shoekit.runs import load_checkpoint
from shoekit.train import train
from shoekit.validation import score_validation
from tests.test_train_evaluate import assert_resume_after_a_kill_gives_the_same_weights

SIZE = 32


@pytest.fixture(scope="module")
def procedural_data(tmp_path_factory) -> Path:
    """8 procedural types rendered at 48 px: 4 train types x 4 crops, a test split, the record."""
    out = tmp_path_factory.mktemp("procedural") / "data"
    build_dataset(BuildOptions(out=out, procedural=8, scale="smoke", size=48, train_crops=4,
                               gallery_crops=3, distractor_crops=1, seed=0, workers=1, progress=False))
    return out


def online_config(data: Path, **overrides) -> TrainConfig:
    settings = dict(data=str(data), attention="dual_pool", image_size=SIZE, epochs=2, batch_size=8,
                    lr=1e-3, warmup_steps=2, num_workers=0, seed=0, render="online")
    return TrainConfig(**{**settings, **overrides})


def test_make_dataset_records_the_training_cutouts(procedural_data):
    record = read_record(procedural_data)
    manifest = pd.read_csv(procedural_data / "manifest.csv")
    assert record.source == "procedural" and record.size == 48
    assert sorted(record.views) == sorted(manifest.loc[manifest["split"] == "train", "identity"].unique())
    assert all(set(views) == {"left", "right", "front", "back", "three_quarter"} for views in record.views.values())


def test_scanned_style_record_names_files_relative_to_the_cutout_folder(tmp_path):
    from shoekit.data.procedural import render_cutout
    from PIL import Image

    folder = tmp_path / "cutouts"
    rows = []
    for shoe in make_shoe_types(6):
        for view in range(0, 60, 6):
            path = f"images/{shoe.name}/{view}.png"
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(render_cutout(shoe, "right" if view < 30 else "three_quarter").rgba).save(folder / path)
            rows.append({"identity": shoe.name, "view": view, "path": path})
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    out = tmp_path / "data"
    build_dataset(BuildOptions(out=out, cutouts=folder, scale="smoke", size=48, workers=1, progress=False))
    record = read_record(out)
    assert record.source == "folder" and Path(record.folder) == folder.resolve()
    identity, views = next(iter(record.views.items()))
    assert views["0"] == f"images/{identity}/0.png"
    renders = OnlineRenders(CutoutSource(record), [identity] * 3, {identity: 0}, train_transform(SIZE), seed=0)
    assert renders[0][0].shape == (3, SIZE, SIZE)

    shutil.rmtree(folder)
    with pytest.raises(DataError, match="cut-out folder .* is missing"):
        training_data(online_config(out))


def test_online_renders_are_a_pure_function_of_seed_epoch_and_index(procedural_data):
    record = read_record(procedural_data)
    identities = sorted(record.views)
    label_map = {identity: i for i, identity in enumerate(identities)}

    def item(epoch: int, index: int, seed: int = 0) -> torch.Tensor:
        renders = OnlineRenders(CutoutSource(record), identities * 2, label_map,
                                train_transform(SIZE, random_erasing=0.5), seed)
        renders.set_epoch(epoch)
        image, label, position = renders[index]
        assert label == label_map[renders.identities[index]] and position == index
        return image

    first = item(3, 5)
    assert first.shape == (3, SIZE, SIZE) and 0.0 <= first.min() and first.max() <= 1.0
    assert torch.equal(first, item(3, 5))          # a new dataset object, same draw
    assert not torch.equal(first, item(4, 5))      # another epoch renders anew
    assert not torch.equal(first, item(3, 5, seed=1))


def test_online_training_resumes_to_the_same_weights(procedural_data, tmp_path, monkeypatch):
    config = online_config(procedural_data, num_workers=1, val_identities=2, val_head="max",
                           train_sizes=[SIZE - 8, SIZE], zero_init_residual=True)
    assert_resume_after_a_kill_gives_the_same_weights(config, tmp_path, monkeypatch)
    log = pd.read_csv(tmp_path / "whole" / "train_log.csv")
    assert log["image_size"].tolist() == [SIZE - 8, SIZE]
    assert {"val_rank1", "val_mAP"} <= set(log.columns) and log["val_mAP"].between(0, 1).all()
    assert json.loads((tmp_path / "whole" / "metrics.json").read_text())["train"]["render"] == "online"


def test_validation_identities_are_held_out_of_training(procedural_data):
    data = training_data(online_config(procedural_data, val_identities=2))
    held = set(data.validation.query_ids)
    assert len(held) == 2 and not held & set(data.class_names) and len(data.class_names) == 2
    assert set(data.validation.gallery_ids) == held and len(data.validation.query) == 4
    assert data.validation.query.shape[1:] == (3, SIZE, SIZE)


def test_fixed_crops_give_a_validation_split_too(tiny_dataset):
    config = TrainConfig(data=str(tiny_dataset), image_size=SIZE, val_identities=2, epochs=1)
    data = training_data(config)
    assert data.render == "fixed" and len(data.class_names) == 2 and len(data.dataset) == 16
    assert len(data.validation.query) == 4 and len(data.validation.gallery) == 12


def test_bad_training_data_options_are_named_and_nothing_is_written(tiny_dataset, procedural_data, tmp_path):
    with pytest.raises(DataError, match="no cut-out record"):
        train(TrainConfig(data=str(tiny_dataset), render="online", epochs=1), tmp_path / "a", progress=False)
    with pytest.raises(DataError, match="--val-identities 3: the training split has 4 identities"):
        train(TrainConfig(data=str(tiny_dataset), val_identities=3, epochs=1), tmp_path / "b", progress=False)
    broken = tmp_path / "broken"
    shutil.copytree(procedural_data, broken)
    record_path(broken).write_text("{not json")
    with pytest.raises(DataError, match="unreadable cut-out record"):
        train(online_config(broken), tmp_path / "c", progress=False)
    assert not any((tmp_path / name).exists() for name in "abc")


def test_split_identities_is_seeded_and_disjoint():
    names = [f"id{i}" for i in range(10)]
    kept, held = split_identities(names * 3, 3, seed=4)
    assert len(held) == 3 and sorted(kept + held) == sorted(names)
    assert (kept, held) == split_identities(names, 3, seed=4)
    assert split_identities(names, 0, seed=4) == (sorted(names), [])


def test_train_sizes_are_spread_over_the_epochs_small_first():
    config = TrainConfig(epochs=6, train_sizes=[64, 96])
    assert [epoch_size(config, epoch) for epoch in range(6)] == [64, 64, 64, 96, 96, 96]
    assert [epoch_size(TrainConfig(epochs=3, image_size=80), epoch) for epoch in range(3)] == [80, 80, 80]
    budgeted = TrainConfig(epochs=1000, train_sizes=[64, 64, 96], budget_minutes=60)
    assert [epoch_size(budgeted, 5, share) for share in (0.0, 0.5, 0.7, 1.0)] == [64, 64, 96, 96]


class ColourFeatures(torch.nn.Module):
    """A stand-in model whose feature is an image's mean colour (3-d)."""

    def features(self, images: torch.Tensor, head: str) -> torch.Tensor:
        return images.mean(dim=(2, 3))


def colour(rgb) -> torch.Tensor:
    return torch.tensor(rgb, dtype=torch.float32).view(3, 1, 1).expand(3, 4, 4)


def test_validation_metrics_on_a_hand_made_case():
    """Query a (red) finds its gallery crop first; query b (green) is nearest to a's gallery
    crop and finds its own second: Rank-1 1/2, mAP (1 + 1/2) / 2."""
    validation = ValidationSet(
        query=torch.stack([colour([1.0, 0.05, 0.05]), colour([0.6, 0.5, 0.0])]), query_ids=["a", "b"],
        gallery=torch.stack([colour([0.9, 0.1, 0.1]), colour([0.0, 1.0, 0.0])]), gallery_ids=["a", "b"])
    scores = score_validation(ColourFeatures(), validation, "max", torch.device("cpu"), use_bf16=False)
    assert scores == pytest.approx({"val_rank1": 0.5, "val_mAP": 0.75})


def test_cosine_classifier_logits_are_bounded_by_its_scale():
    classifier = CosineClassifier(64, 10, scale=12.0)
    logits = classifier(100 * torch.randn(32, 64))
    assert logits.abs().max() <= 12.0 + 1e-4
    labels = torch.arange(10).repeat(4)[:32]
    cosface = with_margin(logits, labels, 12.0, 0.35, "cosface")
    rows = torch.arange(32)
    assert torch.allclose(cosface[rows, labels], logits[rows, labels] - 12.0 * 0.35, atol=1e-5)
    arcface = with_margin(logits, labels, 12.0, 0.35, "arcface")
    assert (arcface[rows, labels] < logits[rows, labels]).all()
    others = torch.ones_like(logits, dtype=torch.bool)
    others[rows, labels] = False
    assert torch.equal(arcface[others], logits.float()[others])


def test_cosine_classifier_with_margin_trains(tiny_dataset, tmp_path):
    config = TrainConfig(data=str(tiny_dataset), image_size=SIZE, epochs=1, batch_size=8, num_workers=0,
                         neck="bnneck", classifier="cosine", margin="arcface", cos_scale=8.0)
    summary = train(config, tmp_path / "run", progress=False)
    assert np.isfinite(summary["final_loss"])


def test_budget_stops_training_and_keeps_snapshots(tiny_dataset, tmp_path):
    config = TrainConfig(data=str(tiny_dataset), image_size=SIZE, epochs=50, batch_size=8, num_workers=0,
                         budget_minutes=0.001, snapshot_minutes=0.0005)
    summary = train(config, tmp_path / "run", progress=False)
    checkpoint = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert summary["epochs"] == 1 and checkpoint["finished"] and "optimizer" not in checkpoint
    snapshots = sorted((tmp_path / "run" / "snapshots").glob("minute_*.pt"))
    assert snapshots and load_checkpoint(snapshots[-1])["epoch"] == 1
    again = train(TrainConfig(), tmp_path / "run", resume=True, progress=False)  # finished: nothing to do
    assert again["epochs"] == 1


def test_procedural_types_are_distinct_and_repeats_are_found():
    types = make_shoe_types(2000)
    assert indistinct_pairs(types) == []
    twin = types[0].__class__(**{**types[0].__dict__, "name": "twin"})
    assert indistinct_pairs([types[0], types[5], twin]) == [(types[0].name, "twin")]


def test_pretrain_then_train_loads_the_backbone(tmp_path):
    from shoekit.pretrain import PretrainSettings, pretrain

    settings = PretrainSettings(types=12, out=tmp_path / "pre", crops_per_type=2, test_fraction=0.2,
                                progress=False)
    pretrain(settings, TrainConfig(attention="dual_pool", image_size=SIZE, epochs=1, batch_size=8,
                                   num_workers=0, zero_init_residual=True))
    source = tmp_path / "pre" / "checkpoint.pt"
    weights = load_checkpoint(source)["model"]

    same = build_model("dual_pool", num_classes=3)
    report = load_pretrained(same, str(source))
    assert "layer1.0.attention.mlp.0.weight" in report.loaded and report.skipped == ["fc.weight", "fc.bias"]
    assert torch.equal(same.state_dict()["layer3.2.conv2.weight"], weights["layer3.2.conv2.weight"])
    other = build_model("se", num_classes=3)
    report = load_pretrained(other, str(source))
    assert "layer1.0.attention.mlp.0.weight" in report.kept_init
    assert torch.equal(other.state_dict()["conv1.weight"], weights["conv1.weight"])


def test_pretrained_file_of_another_architecture_names_its_keys(tmp_path):
    from torchvision.models import resnet18

    path = tmp_path / "resnet18.pth"
    torch.save(resnet18().state_dict(), path)
    with pytest.raises(CheckpointError, match=r"layer1\.0\.conv3\.weight: missing"):
        build_model("dual_pool", num_classes=3, pretrained=str(path))


def test_a_loss_that_is_no_longer_finite_stops_training_with_a_clear_message(tiny_dataset, tmp_path):
    from shoekit.errors import TrainingError

    config = TrainConfig(data=str(tiny_dataset), image_size=SIZE, epochs=2, batch_size=8, num_workers=0,
                         lr=1e12, warmup_steps=0, optimizer="sgd")
    with pytest.raises(TrainingError, match="lower --lr"):
        train(config, tmp_path / "run", progress=False)


def test_a_manifest_without_training_rows_is_named(tmp_path):
    from shoekit.errors import ManifestError

    data = tmp_path / "empty"
    data.mkdir()
    (data / "manifest.csv").write_text("path,identity,split\n")
    with pytest.raises(ManifestError, match="manifest.csv"):
        train(TrainConfig(data=str(data), epochs=1), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
