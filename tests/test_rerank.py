"""Evaluation post-processing: k-reciprocal re-ranking, average query expansion, test-time flip,
`evaluate --rerank`."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from shoekit.catalog import discover_runs
from shoekit.cli import main
from shoekit.errors import SettingsError
from shoekit.evaluate import EvaluationOptions, eval_name, evaluate_run, rank_head
from shoekit.index import IndexSettings
from shoekit.metrics import distance_matrix, l2_normalize
from shoekit.rerank import average_query_expansion, k_reciprocal_rerank
from tests.conftest import copy_run

def separated_clusters(num_ids=5, queries=3, gallery=25, dim=16, seed=0):
    """Each identity a tight cluster around its own axis: (query, query_ids, gallery, gallery_ids)."""
    rng = np.random.default_rng(seed)
    centers = np.eye(dim)[:num_ids] * 4.0

    def crops(count):
        ids = np.repeat(np.arange(num_ids), count)
        return l2_normalize(centers[ids] + rng.normal(0, 0.05, (len(ids), dim))), ids
    (query, query_ids), (gallery, gallery_ids) = crops(queries), crops(gallery)
    return query, query_ids, gallery[::-1].copy(), gallery_ids[::-1].copy()  # gallery not grouped by id


def angles(*degrees):
    return np.array([[np.cos(np.deg2rad(a)), np.sin(np.deg2rad(a))] for a in degrees], np.float32)


@pytest.mark.parametrize("k1, k2, per_query, per_gallery", [(20, 6, 3, 25), (3, 2, 1, 3)])
def test_rerank_keeps_a_perfectly_separated_ranking(k1, k2, per_query, per_gallery):
    """Clusters of k1 + 1 crops or more: each crop's k1 nearest are all of its own identity."""
    query, query_ids, gallery, gallery_ids = separated_clusters(queries=per_query, gallery=per_gallery)
    original = distance_matrix(query, gallery)
    reranked = k_reciprocal_rerank(query, gallery, k1=k1, k2=k2)
    num_positives = (gallery_ids == query_ids[0]).sum()
    for q in range(len(query)):
        positives = gallery_ids == query_ids[q]
        assert positives[np.argsort(original[q], kind="stable")[:num_positives]].all()  # the premise
        assert positives[np.argsort(reranked[q], kind="stable")[:num_positives]].all()
        assert reranked[q, positives].max() < reranked[q, ~positives].min()
        assert gallery_ids[np.argmin(reranked[q])] == gallery_ids[np.argmin(original[q])] == query_ids[q]
    # no reciprocal neighbour is shared across clusters: Jaccard distance 1 to every negative
    jaccard = k_reciprocal_rerank(query, gallery, k1=k1, k2=k2, lambda_value=0.0)
    negatives = gallery_ids[None] != query_ids[:, None]
    np.testing.assert_allclose(jaccard[negatives], 1.0, atol=1e-6)
    assert jaccard[~negatives].max() < 0.9 and jaccard.shape == (5 * per_query, 5 * per_gallery)


def test_rerank_shape_range_and_finiteness():
    rng = np.random.default_rng(1)
    query, gallery = rng.normal(size=(7, 12)), rng.normal(size=(30, 12))
    reranked = k_reciprocal_rerank(query, gallery)
    assert reranked.shape == (7, 30) and reranked.dtype == np.float32
    assert np.isfinite(reranked).all() and reranked.min() >= 0 and reranked.max() <= 1 + 1e-6
    assert k_reciprocal_rerank(query[:0], gallery).shape == (0, 30)


def test_rerank_with_lambda_1_is_the_original_order():
    """lambda_value = 1 keeps only the original distance (2 - 2cos, per-row scaled): same order as cosine."""
    rng = np.random.default_rng(2)
    query, gallery = rng.normal(size=(6, 8)), rng.normal(size=(40, 8))
    reranked = k_reciprocal_rerank(query, gallery, lambda_value=1.0)
    cosine = distance_matrix(query, gallery)
    np.testing.assert_array_equal(np.argsort(reranked, axis=1), np.argsort(cosine, axis=1))
    scale = (2 * cosine) / reranked  # each row divided by one constant: the row's max over query + gallery
    assert np.allclose(scale, scale[:, :1], rtol=1e-4)


def test_rerank_matches_the_reference_implementation_on_a_small_case():
    """Values of the widely used loop implementation (k1=2, k2=2, lambda 0.3) on 2-D unit vectors.

    Query 95° is closer to 40° than to 180° by cosine, but 180° shares reciprocal neighbours
    with it (via 100°) and 40° does not, so re-ranking puts 180° ahead of 40°.
    """
    query, gallery = angles(0, 95), angles(10, 40, 80, 100, 180)
    expected = np.array([[0.002279, 0.323522, 0.823953, 0.876047, 1.0],
                         [0.951899, 0.817671, 0.023227, 0.001050, 0.718565]])
    np.testing.assert_allclose(k_reciprocal_rerank(query, gallery, k1=2, k2=2), expected, atol=2e-6)
    with pytest.raises(ValueError, match="k1 >= 1"):
        k_reciprocal_rerank(query, gallery, k1=0)


def test_average_query_expansion_by_hand():
    query, gallery = angles(0, 270), angles(53.13010235, 90, 180)  # gallery: (0.6, 0.8), (0, 1), (-1, 0)
    expanded = average_query_expansion(query, gallery, k=1)
    # (1, 0) + its nearest (0.6, 0.8) -> (1.6, 0.8) -> (2, 1)/sqrt5; (0, -1) + nearest (-1, 0) -> (-1, -1)/sqrt2
    np.testing.assert_allclose(expanded, [[2 / 5 ** 0.5, 1 / 5 ** 0.5], [-0.5 ** 0.5, -0.5 ** 0.5]], atol=1e-6)
    # k = 2: (1, 0) + (0.6, 0.8) + (0, 1) = (1.6, 1.8)
    np.testing.assert_allclose(average_query_expansion(query[:1], gallery, k=2)[0],
                               np.array([1.6, 1.8]) / np.hypot(1.6, 1.8), atol=1e-6)
    # k beyond the gallery: all of it, (1, 0) + (0.6, 0.8) + (0, 1) + (-1, 0) = (0.6, 1.8)
    np.testing.assert_allclose(average_query_expansion(query[:1], gallery, k=10)[0],
                               np.array([0.6, 1.8]) / np.hypot(0.6, 1.8), atol=1e-6)


def test_query_expansion_of_zero_returns_the_queries():
    rng = np.random.default_rng(3)
    query, gallery = l2_normalize(rng.normal(size=(4, 6))), l2_normalize(rng.normal(size=(9, 6)))
    expanded = average_query_expansion(query, gallery, k=0)
    np.testing.assert_array_equal(expanded, query)
    assert expanded is not query and expanded.dtype == np.float32
    with pytest.raises(ValueError, match=">= 0"):
        average_query_expansion(query, gallery, k=-1)


def test_eval_names():
    assert eval_name("max") == "max"
    assert eval_name("max", query_expansion=5) == "max+qe5"
    assert eval_name("max", rerank=True) == "max+rr"
    assert eval_name("maxavg", 5, True) == "maxavg+qe5+rr"


@pytest.mark.parametrize("index", [IndexSettings(kind="hnsw"), IndexSettings(kind="flat"),
                                   IndexSettings(kind="auto", exact_threshold=10)])
def test_rerank_refuses_an_approximate_ranking(index):
    features = np.eye(20, 4, dtype=np.float32)
    with pytest.raises(ValueError, match="re-ranking needs exact ranking.*--index exact"):
        rank_head(features[:2], features, np.arange(2), np.arange(20), EvaluationOptions(index=index, rerank=True))


@pytest.fixture
def run_copy(trained_run, tmp_path):
    """The session's trained + evaluated run, copied: these tests write into RUN/eval."""
    return copy_run(trained_run, tmp_path / "runs" / "run")


def test_evaluate_run_with_rerank_and_query_expansion(run_copy):
    plain_files = {path.relative_to(run_copy): path.read_bytes() for path in (run_copy / "eval").rglob("*")
                   if path.is_file() and path.name != "metrics.csv"}
    plain_metrics = json.loads((run_copy / "metrics.json").read_text())["eval"]
    plain_heads = pd.read_csv(run_copy / "eval" / "metrics.csv")["head"].tolist()
    assert {"fc", "max"} <= set(plain_heads) and set(plain_heads) == set(plain_metrics)

    results = evaluate_run(run_copy, heads=("max",), batch_size=16, progress=False, rerank=True, query_expansion=2)

    assert list(results) == ["max+qe2+rr"]
    out = run_copy / "eval" / "max+qe2+rr"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["query_expansion"] == 2 and metrics["rerank"] is True and metrics["ranking"] == "exact"
    assert metrics["num_valid_queries"] == 6 and metrics["num_gallery"] == 15
    assert 0 <= metrics["rank1"] <= metrics["rank5"] <= metrics["rank10"] <= 1 and 0 < metrics["mAP"] <= 1
    assert metrics == results["max+qe2+rr"]
    # the plain results are untouched; the summary table and metrics.json gain one entry
    for relative, content in plain_files.items():
        assert (run_copy / relative).read_bytes() == content, relative
    all_metrics = json.loads((run_copy / "metrics.json").read_text())["eval"]
    assert {name: all_metrics[name] for name in plain_metrics} == plain_metrics
    assert set(all_metrics) == set(plain_heads) | {"max+qe2+rr"}
    assert all_metrics["max"]["query_expansion"] == 0 and all_metrics["max"]["rerank"] is False
    table = pd.read_csv(run_copy / "eval" / "metrics.csv")
    assert table["head"].tolist() == plain_heads + ["max+qe2+rr"]
    assert table.set_index("head").loc["max", "mAP"] == pytest.approx(plain_metrics["max"]["mAP"])
    # saved queries are the plain ones expanded; the ranking is the re-ranked distance's order
    plain = np.load(run_copy / "eval" / "max" / "features.npz")
    saved = np.load(out / "features.npz")
    np.testing.assert_allclose(saved["query"], average_query_expansion(plain["query"], plain["gallery"], 2),
                               atol=1e-4)
    np.testing.assert_allclose(saved["gallery"], plain["gallery"], atol=1e-5)
    reranked = k_reciprocal_rerank(saved["query"], saved["gallery"])
    rankings = np.load(out / "rankings.npz")
    assert rankings["top_indices"].shape == (6, 15)
    np.testing.assert_allclose(rankings["top_distances"], np.sort(reranked, axis=1), atol=1e-6)
    assert not np.allclose(rankings["top_distances"], np.load(run_copy / "eval" / "max" / "rankings.npz")
                           ["top_distances"])
    # the run catalog (and so the workbench) lists only the plain heads, and does not skip the run
    catalog = discover_runs(run_copy.parent)
    assert not catalog.skipped and set(catalog.runs[0].heads) == set(plain_heads)


def test_evaluate_run_checks_rerank_before_extracting(run_copy, monkeypatch):
    import shoekit.evaluate as evaluate_module

    monkeypatch.setattr(evaluate_module, "feature_extraction", lambda *args: pytest.fail("extracted features"))
    with pytest.raises(SettingsError, match="--index exact"):
        evaluate_run(run_copy, rerank=True, index=IndexSettings(kind="hnsw"), progress=False)
    with pytest.raises(SettingsError, match=">= 0"):
        evaluate_run(run_copy, query_expansion=-1, progress=False)


def test_evaluate_command_with_rerank(run_copy, capsys):
    assert main(["evaluate", str(run_copy), "--head", "fc", "--rerank", "--query-expansion", "2",
                 "--no-bf16", "--no-progress"]) == 0
    lines = capsys.readouterr().out.splitlines()
    metrics = json.loads((run_copy / "eval" / "fc+qe2+rr" / "metrics.json").read_text())
    header, row = lines[0].split(), lines[1].split()
    assert header[:5] == ["head", "rank1", "rank5", "rank10", "mAP"]
    assert row[0] == "fc+qe2+rr" and float(row[4]) == pytest.approx(100 * metrics["mAP"], abs=0.01)
    assert lines[0].index("rank1") + len("rank1") == lines[1].index(row[1]) + len(row[1])  # aligned columns
    assert "best head fc+qe2+rr" in lines[-1]
    assert not (run_copy / "eval" / "fc+rr").exists() and metrics["rerank"] is True

    assert main(["evaluate", str(run_copy), "--rerank", "--index", "hnsw", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "re-ranking needs exact ranking" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", str(run_copy), "--query-expansion", "-1"])
    assert exit_info.value.code == 2


def test_flip_averaged_features_are_those_of_the_crop_and_its_mirror():
    """A fake extractor whose feature is the image's first pixel row, left to right: flipping
    reverses it, and the flip-averaged feature is the same for a crop and for its mirror image."""
    from shoekit.evaluate import MirroredCrops, flip_averaged

    images = torch.rand(4, 3, 2, 5)
    crops = [(image, 0, index) for index, image in enumerate(images)]

    def first_rows(dataset):
        return {"max": np.stack([np.asarray(dataset[i][0][0, 0]) for i in range(len(dataset))])}

    rows = images[:, 0, 0].numpy()
    np.testing.assert_allclose(first_rows(MirroredCrops(crops))["max"], rows[:, ::-1])
    averaged = flip_averaged(first_rows)(crops)["max"]
    np.testing.assert_allclose(averaged, l2_normalize(rows) + l2_normalize(rows[:, ::-1]), atol=1e-6)
    np.testing.assert_allclose(flip_averaged(first_rows)(MirroredCrops(crops))["max"], averaged, atol=1e-6)


def test_evaluate_run_with_flip_keeps_the_plain_results(run_copy):
    plain = json.loads((run_copy / "metrics.json").read_text())["eval"]["max"]
    results = evaluate_run(run_copy, heads=("max",), batch_size=16, progress=False, flip=True, query_expansion=2)
    assert list(results) == ["max+flip+qe2"]
    metrics = json.loads((run_copy / "eval" / "max+flip+qe2" / "metrics.json").read_text())
    assert metrics["flip"] is True and metrics["query_expansion"] == 2 and 0 < metrics["mAP"] <= 1
    all_metrics = json.loads((run_copy / "metrics.json").read_text())["eval"]
    assert all_metrics["max"] == plain and plain["flip"] is False
    saved = np.load(run_copy / "eval" / "max+flip+qe2" / "features.npz")
    assert not np.allclose(saved["gallery"], np.load(run_copy / "eval" / "max" / "features.npz")["gallery"], atol=1e-3)
    assert "max" in discover_runs(run_copy.parent).runs[0].heads  # the workbench lists plain heads only
    assert "max+flip+qe2" not in discover_runs(run_copy.parent).runs[0].heads


def test_evaluate_command_with_flip(run_copy, capsys):
    assert main(["evaluate", str(run_copy), "--head", "fc", "--flip", "--no-progress"]) == 0
    assert "best head fc+flip" in capsys.readouterr().out
    assert json.loads((run_copy / "eval" / "fc+flip" / "metrics.json").read_text())["flip"] is True
