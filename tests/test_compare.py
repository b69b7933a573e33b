"""Comparing runs: our metrics per run and head, with the paper's closest reported numbers."""

from __future__ import annotations

import numpy as np
import pytest

from shoekit import paper
from shoekit.catalog import discover_runs
from shoekit.compare import comparison_table, paper_reference, paper_table
from tests.test_catalog import write_run


@pytest.mark.parametrize("attention, head, epsilon, expected", [
    ("dual_pool", "max", 0.14, paper.TABLE3[0.14]),
    ("dual_pool", "avg", 0.0, paper.TABLE2["avg"]),
    ("se", "fc", 0.0, paper.TABLE1["se"]),
    ("se", "max", 0.0, None),
    ("dual_pool", "max", 0.12, None),
])
def test_paper_reference_picks_the_comparable_setting(attention, head, epsilon, expected):
    assert paper_reference(attention, head, epsilon) == expected


def test_comparison_table_has_ours_in_percent_beside_the_papers(tmp_path):
    write_run(tmp_path / "eca", heads=("fc", "max"), config={"attention": "eca", "label_smoothing": 0.0})
    catalog = discover_runs(tmp_path)
    table = comparison_table(catalog.runs)
    assert list(table["head"]) == ["fc", "max"]
    fc = table.iloc[0]
    assert fc["rank1"] == pytest.approx(50.0) and fc["mAP"] == pytest.approx(40.0)
    assert fc["paper_rank1"] == paper.TABLE1["eca"]["rank1"] and fc["paper_mAP"] == paper.TABLE1["eca"]["mAP"]
    assert np.isnan(table.iloc[1]["paper_rank1"])
    assert list(comparison_table(catalog.runs, heads=["max"])["head"]) == ["max"]


def test_paper_table_lists_every_reported_number():
    table = paper_table()
    assert len(table) == len(paper.TABLE1) + len(paper.TABLE2) + len(paper.TABLE3)
    best = table[(table["table"] == "Table 3") & (table["label_smoothing"] == 0.14)].iloc[0]
    assert (best["rank1"], best["mAP"]) == (74.32, 56.97)


def test_validation_curves_in_percent_for_runs_that_have_them(tmp_path):
    from shoekit.compare import validation_curves

    write_run(tmp_path / "validated", heads=("max",))
    write_run(tmp_path / "plain", heads=("max",))
    (tmp_path / "validated" / "train_log.csv").write_text(
        "epoch,loss,train_minutes,val_rank1,val_mAP\n1,3.0,1.5,0.1,0.05\n2,2.0,3.0,0.3,0.2\n")
    curves = validation_curves(discover_runs(tmp_path).runs)
    assert curves["run"].unique().tolist() == ["validated"]
    assert curves["minutes"].tolist() == [1.5, 3.0]
    assert curves["val_mAP"].tolist() == pytest.approx([5.0, 20.0])
    assert curves["val_rank1"].tolist() == pytest.approx([10.0, 30.0])
    assert validation_curves([]).empty
