"""A results folder's per-run files: written from an evaluated run, read back without it."""

import numpy as np
import pandas as pd
import pytest

from shoekit.errors import DataError
from shoekit.evaluate import evaluate_run
from shoekit.figures import read_cmc, read_pair_scores, score_histogram_figure, tpr_at_fpr
from shoekit.results_folder import (CURVES_FILE, SCORE_BINS, read_curves, read_query_ap, read_scores, read_table,
                                    write_run_files)
from shoekit.runs import read_rankings
from tests.conftest import copy_run


def test_the_per_run_files_hold_what_the_figures_need(trained_run, tmp_path):
    write_run_files(tmp_path, {"tiny": trained_run}, {"tiny": ["max", "fc"]})
    curve = read_curves(tmp_path, {"ours": "tiny"}, "max")["ours"]
    saved = read_cmc(trained_run, "max")
    np.testing.assert_allclose(curve.cmc, saved.cmc[:len(curve.cmc)], atol=1e-6)
    assert curve.rank1 == pytest.approx(saved.rank1) and curve.mAP == pytest.approx(saved.mAP)
    ap = read_query_ap(tmp_path, "tiny", "max")
    np.testing.assert_allclose(ap["ap"].to_numpy(), read_rankings(trained_run, "max").ap, atol=1e-6)
    histogram, thresholds = read_scores(tmp_path, "tiny", "max")
    matching, non_matching = read_pair_scores(trained_run, "max")
    assert len(histogram) == SCORE_BINS
    assert histogram["matching"].sum() == len(matching) and histogram["non_matching"].sum() == len(non_matching)
    expected = tpr_at_fpr(matching, non_matching)
    np.testing.assert_allclose(thresholds["threshold"], expected["threshold"], atol=1e-6)
    assert score_histogram_figure(histogram, thresholds).axes[0].patches  # drawn from counts alone


def test_writing_again_replaces_only_the_runs_given(trained_run, tmp_path):
    write_run_files(tmp_path, {"a": trained_run, "b": trained_run}, {"a": ["max"], "b": ["max"]})
    write_run_files(tmp_path, {"a": trained_run}, {"a": ["fc"]})
    curves = read_table(tmp_path, CURVES_FILE)
    assert set(zip(curves["run"], curves["head"])) == {("a", "fc"), ("b", "max")}


def test_missing_files_and_rows_name_what_writes_them(trained_run, tmp_path):
    with pytest.raises(DataError, match="curves.csv does not exist.*shoekit reproduce"):
        read_curves(tmp_path, {"ours": "tiny"}, "max")
    write_run_files(tmp_path, {"tiny": trained_run}, {"tiny": ["max"]})
    with pytest.raises(DataError, match="no rows of run tiny head fc"):
        read_curves(tmp_path, {"ours": "tiny"}, "fc")
    assert isinstance(read_table(tmp_path, "query_ap.csv"), pd.DataFrame)


def test_a_post_processed_evaluation_has_its_own_rows(trained_run, tmp_path):
    run = copy_run(trained_run, tmp_path / "run")
    evaluate_run(run, heads=("max",), query_expansion=2, batch_size=16, progress=False)
    write_run_files(tmp_path, {"tiny": run}, {"tiny": ["max", "max+qe2"]})
    expanded = read_curves(tmp_path, {"qe": "tiny"}, "max+qe2")["qe"]
    assert expanded.mAP == pytest.approx(read_cmc(run, "max+qe2").mAP)
    assert len(read_query_ap(tmp_path, "tiny", "max+qe2")) == len(read_query_ap(tmp_path, "tiny", "max"))
