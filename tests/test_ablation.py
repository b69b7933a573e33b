"""`shoekit ablate` at smoke scale: one trick per row, from the paper's recipe to Luo et al.'s; resumable."""

import json

import pandas as pd
import pytest

from shoekit.ablation import (ALONE_STEPS, TRAINING_STEPS, ablation_summary, cumulative_settings, step_config,
                              step_run_dir)
from shoekit.cli import main
from shoekit.config import RECIPES
from shoekit.reproduce import SCALES, run_dir_of
from tests.conftest import TINY_SIZE


def test_the_steps_add_up_to_the_presets(tmp_path):
    assert cumulative_settings(0) == RECIPES["paper"]
    assert cumulative_settings(len(TRAINING_STEPS) - 1) == RECIPES["bag_of_tricks"]
    assert step_run_dir(tmp_path, 0, 3) == run_dir_of(tmp_path, "dual_pool", 0.14, 3)  # shared with the grid
    strong = step_config(len(TRAINING_STEPS) - 1, tmp_path, "cpu", 0, {})
    assert strong.recipe == "bag_of_tricks" and strong.epochs == SCALES["cpu"]["epochs"] and strong.last_stride == 1
    assert strong.val_head == "bnneck" and step_config(0, tmp_path, "cpu", 0, {}).val_head == "max"  # the rows' heads


def test_summary_skips_unfinished_rows():
    table = pd.DataFrame({"name": ["paper", "+bnneck", "+triplet"], "mAP": [3.2, float("nan"), 1.66],
                          "mAP_gain": [0.0, float("nan"), -1.54]})
    assert ablation_summary(table) == ("paper mAP 3.20%, best on the test queries (no validation identities) "
                                       "paper: test mAP 3.20% (+0.00 points); "
                                       "1 of 3 rows unfinished (trained by another process or interrupted)")
    assert ablation_summary(table.iloc[[0, 2]]) == ("paper mAP 3.20%, best on the test queries (no validation "
                                                    "identities) paper: test mAP 3.20% (+0.00 points)")


def test_the_verdict_is_chosen_on_validation_where_the_runs_have_it():
    """+triplet has the best test mAP, +bnneck the best validation mAP: the verdict follows validation."""
    table = pd.DataFrame({"name": ["paper", "+bnneck", "+triplet", "+query_expansion"],
                          "mAP": [3.2, 3.0, 4.1, 5.0], "val_mAP": [40.0, 45.5, 38.0, float("nan")],
                          "mAP_gain": [0.0, -0.2, 0.9, 1.8]})
    assert ablation_summary(table) == ("paper mAP 3.20%, best on validation +bnneck (val mAP 45.50%): "
                                       "test mAP 3.00% (-0.20 points)")


@pytest.fixture
def tiny_smoke_scale():
    SCALES["smoke"]["image_size"], original = TINY_SIZE, SCALES["smoke"]["image_size"]
    yield
    SCALES["smoke"]["image_size"] = original


def test_ablate_smoke_writes_the_table_and_resumes(tiny_dataset, tmp_path, capsys, tiny_smoke_scale):
    out = tmp_path / "results"
    args = ["ablate", "--data", str(tiny_dataset), "--out", str(out), "--scale", "smoke", "--no-progress"]
    assert main(args) == 0
    first = {p.parent.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*/checkpoint.pt")}
    assert len(first) == len(TRAINING_STEPS) + len(ALONE_STEPS)
    assert main(args) == 0  # all finished: nothing retrained
    assert first == {p.parent.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*/checkpoint.pt")}
    assert "ablation written to" in capsys.readouterr().out

    table = pd.read_csv(out / "ablation.csv")
    assert table["name"].tolist() == ["paper", "+bnneck", "+triplet", "+random_erasing", "+last_stride1",
                                      "+query_expansion", "+rerank", "+bnneck +pk_sampler",
                                      "+bnneck +random_erasing", "+bnneck +last_stride1"]
    assert table["step"].tolist() == list(range(10))
    assert table["evaluation"].tolist() == ["max", "bnneck", "bnneck", "bnneck", "bnneck", "max+qe3",
                                            "max+qe3+rr", "bnneck", "bnneck", "bnneck"]
    assert table["mAP"].between(0, 100).all() and table["mAP_gain"].iloc[0] == 0
    assert table["mAP_gain"].tolist() == pytest.approx((table["mAP"] - table["mAP"].iloc[0]).tolist(), abs=0.011)
    assert table[["gain_low", "gain_high"]].iloc[0].isna().all()  # the paper row is the reference
    later = table.iloc[1:]
    assert ((later["gain_low"] <= later["mAP_gain"] + 0.011) & (later["mAP_gain"] <= later["gain_high"] + 0.011)).all()
    assert table["recipe"].tolist() == ["paper", "custom", "custom", "custom", "bag_of_tricks", "paper", "paper",
                                        "custom", "custom", "custom"]
    assert table["base"].fillna("").tolist() == ["", "paper", "+bnneck", "+triplet", "+random_erasing", "paper",
                                      "+query_expansion", "+bnneck", "+bnneck", "+bnneck"]
    assert table["run"].iloc[5] == table["run"].iloc[6] == table["run"].iloc[0]  # post-processing the paper run
    for row in (0, 4):
        config = json.loads((out / "runs" / table["run"].iloc[row] / "config.json").read_text())
        recipe = table["recipe"].iloc[row]
        assert {key: config[key] for key in RECIPES[recipe]} == RECIPES[recipe] and config["recipe"] == recipe
    record = json.loads((out / "ablation.json").read_text())
    assert record["command"].startswith("shoekit ablate --data") and len(record["steps"]) == 10
    for name, settings in [("+bnneck +pk_sampler", {"sampler": "pk", "triplet_weight": 0.0, "random_erasing": 0.0}),
                           ("+bnneck +last_stride1", {"last_stride": 1, "sampler": "random"})]:
        config = json.loads((out / "runs" / table.set_index("name").loc[name, "run"] / "config.json").read_text())
        assert config["neck"] == "bnneck" and {key: config[key] for key in settings} == settings
    assert "| +last_stride1 |" in (out / "ablation.md").read_text()


def test_a_row_is_validated_with_its_own_head(tiny_dataset, tmp_path):
    """A run whose training scored validation with `max` is scored with the row's head (`fc`)
    from its final weights, on the same held-out identities; its own head reads train_log."""
    import torch

    from shoekit.config import TrainConfig
    from shoekit.data.training_sets import validation_set
    from shoekit.evaluate import evaluate_run
    from shoekit.reproduce import validation_map
    from shoekit.runs import load_run
    from shoekit.train import train
    from shoekit.validation import score_validation

    config = TrainConfig(data=str(tiny_dataset), image_size=TINY_SIZE, epochs=1, batch_size=8, warmup_steps=2,
                         num_workers=0, val_identities=2, val_head="max", bf16=False)
    train(config, tmp_path / "run", progress=False)
    evaluate_run(tmp_path / "run", batch_size=16, bf16=False, progress=False)
    logged = pd.read_csv(tmp_path / "run" / "train_log.csv")["val_mAP"].iloc[-1]
    assert validation_map(tmp_path / "run", "max") == pytest.approx(100 * logged)
    metrics_path = tmp_path / "run" / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics["train"]["final_val_mAP"] = 2.0  # no real mAP: shows which path each head takes
    metrics_path.write_text(json.dumps(metrics))
    assert validation_map(tmp_path / "run", "max") == 200.0  # its training's head: the logged value
    run = load_run(tmp_path / "run")
    expected = score_validation(run.model, validation_set(run.config), "fc", torch.device("cpu"), False)["val_mAP"]
    assert validation_map(tmp_path / "run", "fc") == pytest.approx(100 * expected)
