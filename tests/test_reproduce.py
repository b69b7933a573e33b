"""The reproduction grid at smoke scale: tables, summary, skipping finished runs."""

import json

import pandas as pd

from shoekit.cli import main
from shoekit.config import TrainConfig
from shoekit.reproduce import TABLE2_HEADS, best_finished, is_complete, plan_grid
from tests.conftest import TINY_SIZE


def test_grid_plan():
    names = [run.name for run in plan_grid((0, 1))]
    assert [r.name for r in plan_grid((0,), ("table2",))] == ["dual_pool-eps0-seed0"]
    assert len(names) == 2 * (5 + 4) and len(set(names)) == len(names)  # per seed: 5 variants, 4 more epsilons
    assert {"dual_pool-eps0.14-seed0", "dual_pool-eps0.14-seed1", "cbam-eps0-seed1"} <= set(names)


def test_later_seeds_may_repeat_only_some_variants():
    names = [run.name for run in plan_grid((0, 1, 2), ("table1",), ("dual_pool", "se"))]
    assert len(names) == 5 + 2 + 2 and "se-eps0-seed2" in names and "cbam-eps0-seed1" not in names
    import pytest
    with pytest.raises(ValueError, match="unknown attentions"):
        plan_grid((0, 1), ("table1",), ("resnet",))


def test_later_seeds_may_repeat_only_some_epsilons():
    """Table 3 over seeds: the first seed trains all five epsilons, later ones the chosen ones; its
    epsilon 0 is Table 1's dual_pool run, planned once."""
    names = [run.name for run in plan_grid((0, 1, 2), ("table1", "table3"), ("dual_pool",), (0.0, 0.14))]
    assert len(names) == len(set(names)) == 5 + 4 + 2 + 2
    assert {"dual_pool-eps0.14-seed2", "dual_pool-eps0-seed1"} <= set(names)
    assert "dual_pool-eps0.12-seed1" not in names
    import pytest
    with pytest.raises(ValueError, match="unknown epsilons"):
        plan_grid((0, 1), ("table3",), repeat_epsilons=(0.2,))


def test_seed_interval_is_a_student_t_interval():
    from shoekit.metrics import seed_interval
    mean, low, high = seed_interval([1.0, 2.0, 3.0])  # sd 1, n 3: half-width 4.303 / sqrt(3)
    assert mean == 2.0 and abs((high - mean) - 4.303 / 3 ** 0.5) < 1e-9 and abs((mean - low) - (high - mean)) < 1e-12
    single = seed_interval([5.0, float("nan")])
    assert single[0] == 5.0 and all(v != v for v in single[1:])  # one seed: no interval


def test_seed_differences_average_the_seeds_of_both_variants(tmp_path, monkeypatch):
    """Per-query AP made by hand: dual_pool beats SE by 0.1 AP on seeds 0 and 2, by 0.2 on seed 1,
    on every query alike; CBAM has one seed only, so it has no row."""
    import numpy as np

    import shoekit.reproduce as reproduce
    base = np.array([0.1, 0.2, 0.3, 0.4])
    ap = {"dual_pool-eps0-seed0": base + 0.1, "dual_pool-eps0-seed1": base + 0.2, "dual_pool-eps0-seed2": base + 0.1,
          "se-eps0-seed0": base, "se-eps0-seed1": base, "se-eps0-seed2": base, "cbam-eps0-seed0": base}
    monkeypatch.setattr(reproduce, "is_complete", lambda run_dir: run_dir.name in ap)
    monkeypatch.setattr(reproduce, "query_ap", lambda run_dir, head: ap[run_dir.name])
    table = reproduce.seed_differences(tmp_path, (0, 1, 2))
    assert table["other"].tolist() == ["se eps=0 fc"] and table["table"].tolist() == ["table1"]
    row = table.iloc[0]
    assert row["seeds"] == 3 and abs(row["mAP_diff"] - 100 * 0.4 / 3) < 0.01
    assert row["seed_ci_low"] < row["mAP_diff"] < row["seed_ci_high"]
    assert row["query_ci_low"] == row["query_ci_high"] == row["mAP_diff"]  # the same gain on every query
    # 10, 20 and 10 points: sd 5.8, t interval from -1.0 to 27.7 -> the seeds leave it unresolved
    assert row["seed_ci_low"] < 0 and not row["resolved"]


def test_seed_differences_cover_table3_rows_with_common_seeds(tmp_path, monkeypatch):
    """Table 3's pick (eps 0.14, max head) against each epsilon over the seeds both have finished:
    eps 0 (Table 1's dual_pool runs, seeds 0-2) and 0.12 share seeds 0 and 1 with it, 0.13 one seed only."""
    import numpy as np

    import shoekit.reproduce as reproduce
    base = np.array([0.2, 0.4])
    ap = {"dual_pool-eps0.14-seed0": base + 0.1, "dual_pool-eps0.14-seed1": base + 0.1,
          "dual_pool-eps0-seed0": base, "dual_pool-eps0-seed1": base, "dual_pool-eps0-seed2": base,
          "dual_pool-eps0.12-seed0": base + 0.2, "dual_pool-eps0.12-seed1": base + 0.2,
          "dual_pool-eps0.13-seed0": base}
    monkeypatch.setattr(reproduce, "is_complete", lambda run_dir: run_dir.name in ap)
    monkeypatch.setattr(reproduce, "query_ap", lambda run_dir, head: ap[run_dir.name])
    table = reproduce.seed_differences(tmp_path, (0, 1, 2), ("table3",)).set_index("other")
    assert list(table.index) == ["dual_pool eps=0 max", "dual_pool eps=0.12 max"]
    assert (table["table"] == "table3").all() and (table["seeds"] == 2).all()
    assert table.loc["dual_pool eps=0 max", "mAP_diff"] == 10.0
    assert table.loc["dual_pool eps=0.12 max", "mAP_diff"] == -10.0
    assert reproduce.seed_differences(tmp_path, (0, 1, 2), ("table2",)).empty  # one model: no seeds to compare


def test_best_row_ignores_unfinished_runs():
    """Rows of runs still training are NaN; sorting would put them last and call them the best."""
    table = pd.DataFrame({"attention": ["se", "eca", "none"], "mAP": [5.7, float("nan"), 3.2]})
    assert best_finished(table)["attention"] == "se"
    assert best_finished(table.iloc[[1]]) is None


def test_a_run_is_complete_from_its_metrics_without_a_checkpoint(tmp_path):
    """What a finished run leaves in metrics.json decides it, so folders copied without their
    checkpoints (results/gpu) still make tables; a run stopped early or not evaluated does not."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(TrainConfig(data="d", epochs=4).to_json())
    assert not is_complete(run)
    evaluated = dict.fromkeys(TABLE2_HEADS, {"mAP": 0.1})
    (run / "metrics.json").write_text(json.dumps({"eval": evaluated}))  # evaluated, never finished
    assert not is_complete(run)
    (run / "metrics.json").write_text(json.dumps({"train": {"epochs": 4}, "eval": {"fc": {"mAP": 0.1}}}))
    assert not is_complete(run)  # finished, one head evaluated
    (run / "metrics.json").write_text(json.dumps({"train": {"epochs": 4}, "eval": evaluated}))
    assert is_complete(run) and not (run / "checkpoint.pt").exists()


def test_reproduce_smoke_writes_tables_and_resumes(tiny_dataset, tmp_path, capsys):
    out = tmp_path / "results"
    args = ["reproduce", "--data", str(tiny_dataset), "--out", str(out), "--scale", "smoke", "--no-progress",
            "--workers", "0", "--cache-images"]
    from shoekit.reproduce import SCALES
    SCALES["smoke"]["image_size"], original = TINY_SIZE, SCALES["smoke"]["image_size"]
    try:
        assert main(args) == 0
        first = {p.parent.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*/checkpoint.pt")}
        assert main(args) == 0  # everything finished: nothing retrained
        second = {p.parent.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*/checkpoint.pt")}
    finally:
        SCALES["smoke"]["image_size"] = original
    assert first == second
    assert "best attention" in capsys.readouterr().out
    table1 = pd.read_csv(out / "table1.csv")
    assert table1["attention"].tolist() == ["none", "se", "cbam", "eca", "dual_pool"]
    assert table1["rank1"].between(0, 100).all() and table1["paper_rank1"].iloc[4] == 65.37
    assert pd.read_csv(out / "table2.csv")["head"].tolist() == ["fc", "avg", "maxavg", "max"]
    assert pd.read_csv(out / "table3.csv")["epsilon"].tolist() == [0, 0.12, 0.13, 0.14, 0.15]
    summary = (out / "summary.md").read_text()
    assert "paper's numbers on its private data" in summary and "| dual_pool |" in summary
    record = json.loads((out / "reproduce.json").read_text())
    assert record["command"].startswith("shoekit reproduce --data") and len(record["train_seconds"]) == 9
    assert record["command"].endswith("--workers 0 --cache-images")
    run_config = json.loads((out / "runs/se-eps0-seed0/config.json").read_text())
    assert (run_config["num_workers"], run_config["cache_images"]) == (0, True)
    diffs = pd.read_csv(out / "differences.csv")
    assert len(diffs) == 4 + 3 + 4 and (diffs["ci_low"] <= diffs["mAP_diff"]).all()
    assert (diffs["mAP_diff"] <= diffs["ci_high"]).all() and "paper's pick" in summary
    logs = pd.read_csv(out / "train_logs.csv")
    assert logs["run"].nunique() == 9 and {"epoch", "loss", "accuracy"} <= set(logs.columns)


def test_no_train_writes_empty_rows_and_trains_nothing(tiny_dataset, tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["reproduce", "--data", str(tiny_dataset), "--out", str(out), "--scale", "smoke", "--no-progress",
                 "--tables", "table1", "--no-train"]) == 0
    assert "table1: no finished run yet" in capsys.readouterr().out
    assert not (out / "runs").exists() and pd.read_csv(out / "table1.csv")["mAP"].isna().all()
    record = json.loads((out / "reproduce.json").read_text())
    assert "--tables table1 --no-train" in record["command"] and record["unfinished"]
    assert {"torch", "gpu"} <= set(record["machine"])


def test_a_run_locked_by_a_live_process_is_left_to_it(tmp_path):
    import math
    import os

    from shoekit.reproduce import LOCK_FILE, claim, metrics_row

    run = tmp_path / "runs" / "se-eps0-seed0"
    assert claim(run) and (run / LOCK_FILE).read_text() == str(os.getpid())
    assert claim(run)  # our own lock
    (run / LOCK_FILE).write_text(str(os.getppid()))  # a live process: pytest's parent
    assert not claim(run)
    (run / LOCK_FILE).write_text("999999999")  # a process that does not exist: stale, taken over
    assert claim(run) and (run / LOCK_FILE).read_text() == str(os.getpid())
    assert all(math.isnan(value) for value in metrics_row(run, "fc").values())  # unfinished: empty row


def test_fig9_measures_each_finished_attention_run_on_the_masks(trained_run, tmp_path, caplog):
    from shoekit.reproduce import fig9_table, summary_markdown
    from tests.conftest import copy_run, masked_copy

    runs = tmp_path / "runs"
    runs.mkdir()
    masked_copy(trained_run, tmp_path / "masked").rename(runs / "dual_pool-eps0-seed0")
    assert fig9_table(runs, 0, measure=False) is None  # not measured yet, and told not to
    table = fig9_table(runs, 0, measure=True, progress=False)
    assert table["attention"].tolist() == ["dual_pool"]  # values NaN: layer4 of a 32 px model is 1×1
    assert {"energy_ratio", "pointing", "untrained_energy_ratio", "energy_ratio_low"} <= set(table.columns)
    summary = summary_markdown({}, "smoke", (0,), tmp_path, fig9=table)
    assert "## Fig. 9 as numbers" in summary and "| dual_pool |" in summary
    copy_run(trained_run, runs / "se-eps0-seed0")  # a dataset without masks: Fig. 9 is left out, said why
    (runs / "dual_pool-eps0-seed0" / "explain" / "measures.csv").unlink()
    assert fig9_table(runs, 0, measure=True, progress=False) is None
    assert "Fig. 9 left out" in caplog.text and "no shoe mask" in caplog.text
