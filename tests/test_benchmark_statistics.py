"""The speed benchmark's statistics on hand-made times (the benchmark itself is run by hand)."""

import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str):
    """The script benchmarks/NAME.py as a module (the benchmarks folder is not a package)."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench_model_speed():
    return load_benchmark("bench_model_speed")


def test_overhead_by_speed_splits_rounds_at_plains_median(bench_model_speed):
    plain = [100.0, 50.0, 100.0, 50.0]
    gated = [120.0, 70.0, 120.0, 70.0]  # the gate adds 20 ms whatever plain's speed
    result = bench_model_speed.overhead_by_speed(plain, gated)
    assert result["rounds"] == 4
    assert result["overhead"] == pytest.approx(0.3)  # median of 0.2, 0.2, 0.4, 0.4
    assert result["added_ms"] == pytest.approx(20.0)
    assert result["fast"]["rounds"] == 2 and result["fast"]["plain_ms"] == pytest.approx(50.0)
    assert result["fast"]["overhead"] == pytest.approx(0.4)
    assert result["slow"]["rounds"] == 2 and result["slow"]["plain_ms"] == pytest.approx(100.0)
    assert result["slow"]["overhead"] == pytest.approx(0.2)
    assert result["slow"]["overhead_quartiles"] == pytest.approx([0.2, 0.2])


def test_overhead_by_speed_with_equal_plain_times_has_no_fast_half(bench_model_speed):
    result = bench_model_speed.overhead_by_speed([80.0, 80.0, 80.0], [88.0, 96.0, 84.0])
    assert result["fast"] is None
    assert result["slow"]["rounds"] == 3
    assert result["overhead"] == pytest.approx(0.1)
    assert result["added_ms"] == pytest.approx(8.0)


def test_in_turns_reverses_every_other_round(bench_model_speed):
    assert list(bench_model_speed.in_turns(["a", "b", "c"], 3)) == ["a", "b", "c", "c", "b", "a", "a", "b", "c"]


def test_wall_ms_in_turns_times_every_call_in_its_turn(bench_model_speed):
    called = []
    calls = {name: (lambda name=name: called.append(name)) for name in ("a", "b")}
    times = bench_model_speed.wall_ms_in_turns(calls, 3)
    assert called == ["a", "b", "b", "a", "a", "b"]
    assert {name: len(values) for name, values in times.items()} == {"a": 3, "b": 3}
    assert all(ms >= 0 for values in times.values() for ms in values)


@pytest.fixture(scope="module")
def bench_time_to_accuracy():
    return load_benchmark("bench_time_to_accuracy")


def test_time_to_accuracy_chooses_size_and_head_on_validation_not_test(bench_time_to_accuracy):
    import pandas as pd

    rows = [("new", 10.0, 64, "max", 0.30, 0.05), ("new", 10.0, 96, "max", 0.20, 0.50),   # early: ignored
            ("new", 60.0, 64, "max", 0.35, 0.10), ("new", 60.0, 96, "max", 0.40, 0.08),   # test favours 64
            ("new", 60.0, 96, "fc", 0.45, 0.01),                                          # validation: 96 + fc
            ("old", 60.0, 120, "max", float("nan"), 0.02)]
    table = pd.DataFrame(rows, columns=["recipe", "minutes", "eval_size", "head", "val_mAP", "mAP"])
    assert bench_time_to_accuracy.chosen_settings(table) == {"new": (96, "fc"), "old": (120, "max")}

    runs = pd.DataFrame([("paper_today", 10.4, 120, "max", float("nan"), 0.02, 0.0),
                         ("paper_today", 20.9, 120, "max", float("nan"), 0.04, 0.1),
                         ("new", 10.1, 96, "max", 0.3, 0.06, 0.1), ("new", 20.2, 96, "max", 0.4, 0.16, 0.2)],
                        columns=["recipe", "minutes", "eval_size", "head", "val_mAP", "mAP", "rank1"])
    table, sizes = bench_time_to_accuracy.summarise(runs, every=10.0)
    new = table[table["recipe"] == "new"]
    assert sizes == {"paper_today": (120, "max"), "new": (96, "max")} and new["mark"].tolist() == [10.0, 20.0]
    assert new["mAP_vs_baseline"].tolist() == pytest.approx([3.0, 4.0])  # at equal marks, not earlier ones
    assert pd.isna(new["rank1_vs_baseline"].iloc[0]) and new["rank1_vs_baseline"].iloc[1] == pytest.approx(2.0)
