"""Run discovery: complete runs are summarised, incomplete or older-version ones named and skipped.

The run folders here are written by hand (config, a small checkpoint dict, evaluation files), so
no model is trained or loaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from shoekit.catalog import discover_runs
from shoekit.config import TrainConfig
from shoekit.models.heads import HEADS
from shoekit.runs import FORMAT_VERSION


def write_eval_head(run: Path, head: str, rank1: float = 0.5) -> None:
    folder = run / "eval" / head
    folder.mkdir(parents=True)
    metrics = {"rank1": rank1, "rank5": 0.8, "rank10": 0.9, "mAP": 0.4, "manifest_hash": "ab" * 32,
               "data": "some/data", "num_valid_queries": 2, "num_gallery": 3}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    pd.DataFrame({"rank": [1, 2, 3], "cmc": [rank1, 0.8, 1.0]}).to_csv(folder / "cmc.csv", index=False)
    rows = np.arange(2)
    np.savez(folder / "rankings.npz", query_rows=rows, gallery_rows=np.arange(3), top_indices=np.zeros((2, 3), int),
             top_distances=np.zeros((2, 3), np.float32), ap=np.ones(2))
    np.savez(folder / "features.npz", query=np.zeros((2, 4), np.float32), gallery=np.zeros((3, 4), np.float32),
             query_rows=rows, gallery_rows=np.arange(3))


def write_run(run: Path, heads=("max",), format_version: int = FORMAT_VERSION, epochs: int = 2,
              config: dict | None = None) -> Path:
    """A complete run folder (unless the caller removes or spoils a part)."""
    run.mkdir(parents=True)
    values = json.loads(TrainConfig(data="some/data", attention="cbam", label_smoothing=0.14).to_json())
    (run / "config.json").write_text(json.dumps({**values, **(config or {})}))
    torch.save({"format_version": format_version, "epoch": epochs, "model": {"w": torch.zeros(2)}},
               run / "checkpoint.pt")
    pd.DataFrame({"epoch": range(1, epochs + 1), "loss": [1.0] * epochs}).to_csv(run / "train_log.csv", index=False)
    for head in heads:
        write_eval_head(run, head)
    return run


def reasons(catalog) -> dict[str, str]:
    return {skipped.path.name: skipped.reason for skipped in catalog.skipped}


def test_complete_runs_are_summarised_in_name_order(tmp_path):
    write_run(tmp_path / "b_run", heads=HEADS)
    write_run(tmp_path / "sweep" / "a_run", epochs=3)
    catalog = discover_runs(tmp_path)
    assert catalog.names == ["b_run", "sweep/a_run"] and not catalog.skipped
    run = catalog.get("b_run")
    assert run.heads == HEADS and run.epochs_trained == 2
    assert run.metrics["max"]["rank1"] == 0.5
    assert run.data == Path("some/data") and run.manifest_hash == "ab" * 32
    assert run.label == "b_run (cbam, ε=0.14, 2 epochs)"
    assert catalog.get("sweep/a_run").heads == ("max",)


def test_a_missing_or_empty_root_has_no_runs(tmp_path):
    assert discover_runs(tmp_path / "missing").runs == []
    assert discover_runs(tmp_path).runs == [] and discover_runs(tmp_path).skipped == []


def test_incomplete_runs_are_named_with_the_fix(tmp_path):
    write_run(tmp_path / "good")
    (write_run(tmp_path / "no_checkpoint") / "checkpoint.pt").unlink()
    write_run(tmp_path / "not_evaluated", heads=())
    (write_run(tmp_path / "half_evaluated") / "eval" / "max" / "features.npz").unlink()
    (tmp_path / "checkpoint_only").mkdir()
    torch.save({"format_version": FORMAT_VERSION}, tmp_path / "checkpoint_only" / "checkpoint.pt")
    catalog = discover_runs(tmp_path)
    assert catalog.names == ["good"]
    why = reasons(catalog)
    assert "shoekit train --resume" in why["no_checkpoint"]
    assert "shoekit evaluate" in why["not_evaluated"] and "not evaluated" in why["not_evaluated"]
    assert "features.npz missing" in why["half_evaluated"]
    assert "no config.json" in why["checkpoint_only"]


def test_runs_from_another_version_are_named(tmp_path):
    write_run(tmp_path / "old_config", config={"dropout_rate": 0.5})
    write_run(tmp_path / "old_checkpoint", format_version=FORMAT_VERSION - 1)
    old_rankings = write_run(tmp_path / "old_rankings") / "eval" / "max" / "rankings.npz"
    np.savez(old_rankings, query_rows=np.arange(2), top_indices=np.zeros((2, 3), int))
    (write_run(tmp_path / "corrupt_checkpoint") / "checkpoint.pt").write_bytes(b"not a checkpoint")
    catalog = discover_runs(tmp_path)
    assert catalog.runs == []
    why = reasons(catalog)
    assert "unknown settings ['dropout_rate']" in why["old_config"]
    assert "another shoekit version" in why["old_checkpoint"]
    assert "gallery_rows, top_distances, ap" in why["old_rankings"] and "another shoekit version" in why["old_rankings"]
    assert "unreadable checkpoint" in why["corrupt_checkpoint"]


def test_a_run_folder_given_as_the_root_is_itself_listed(tmp_path):
    run = write_run(tmp_path / "only")
    catalog = discover_runs(run)
    assert catalog.names == ["only"]


def test_a_run_recorded_with_relative_paths_finds_its_dataset_from_another_folder(trained_run, tmp_path, monkeypatch):
    """`shoekit demo` records `demo/data` relative to where it ran; the workbench, explain and
    evaluate opened from elsewhere find it above the run folder, and an unknown path stays as
    recorded so its error names it."""
    import shutil

    from shoekit.explain.evaluation import load_evaluation
    from shoekit.runs import dataset_folder, read_config
    from tests.conftest import copy_run

    project = tmp_path / "project"
    run = copy_run(trained_run, project / "demo" / "runs" / "dual_pool")
    shutil.copytree(json.loads((trained_run / "config.json").read_text())["data"], project / "demo" / "data")
    for path in [run / "config.json", *(run / "eval").glob("*/metrics.json")]:
        values = json.loads(path.read_text())
        values["data"] = "demo/data"
        path.write_text(json.dumps(values))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    found = project / "demo" / "data"
    assert Path(read_config(run).data) == found
    assert discover_runs(project).runs[0].data == found
    evaluation = load_evaluation(run, "max")
    assert len(evaluation.queries) and Path(evaluation.queries.root) == found
    assert dataset_folder(run, "no/such/data") == "no/such/data"
    monkeypatch.chdir(project)  # where it was made: the path as recorded
    assert read_config(run).data == "demo/data"
