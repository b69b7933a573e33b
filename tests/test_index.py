"""Gallery index: exact and faiss engines, PCA, saving, refusing other models, bad files, evaluation."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from shoekit.data import ShoeCrops
from shoekit.errors import SettingsError
from shoekit.evaluate import EvaluationOptions, rank_head
from shoekit.index import (FeatureSource, GalleryIndex, GalleryIndexError, IndexSettings,
                           topk_rank_metrics)
from shoekit.index.engines import top_k
from shoekit.metrics import distance_matrix, l2_normalize, rank_metrics
from tests.conftest import copy_run

DIM = 32


def make_quick_run(root: Path) -> Path:
    """A real run folder in seconds: one optimizer step on the tiny dataset, evaluated on head max."""
    from shoekit.config import TrainConfig
    from shoekit.evaluate import evaluate_run
    from shoekit.train import train
    from tests.conftest import TINY_SIZE, write_tiny_dataset

    data = write_tiny_dataset(root / "tiny")
    config = TrainConfig(data=str(data), image_size=TINY_SIZE, epochs=1, batch_size=32, warmup_steps=0,
                         num_workers=0, seed=0)
    train(config, root / "run", progress=False)
    evaluate_run(root / "run", heads=("max",), index=None, progress=False)
    return root / "run"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> Path:
    return make_quick_run(tmp_path_factory.mktemp("quick"))


def clustered(num: int, seed: int, centres: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """(num, DIM) unit vectors around `centres` random centres, and their centre ids."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(centres, DIM))
    ids = rng.integers(0, centres, num)
    return l2_normalize(means[ids] + 0.35 * rng.normal(size=(num, DIM))), ids


SOURCE = FeatureSource(model="a" * 64, head="max", feature_dim=DIM, run="runs/a", attention="dual_pool")


def exact_top(queries, gallery, k):
    order = np.argsort(distance_matrix(queries, gallery), axis=1, kind="stable")
    return order[:, :k]


def recall_at(found, truth) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def test_top_k_is_sorted_with_ties_by_position():
    sims = np.array([[0.5, 0.9, 0.5, 0.1, 0.9]], dtype=np.float32)
    values, positions = top_k(sims, 3)
    assert positions.tolist() == [[1, 4, 0]] and values[0].tolist() == pytest.approx([0.9, 0.9, 0.5])


@pytest.mark.parametrize("kind", ["exact", "flat"])
def test_exact_kinds_equal_brute_force(kind):
    gallery, _ = clustered(500, 0)
    queries, _ = clustered(20, 1)
    index = GalleryIndex.build(gallery, SOURCE, IndexSettings(kind=kind))
    found = index.search(queries, SOURCE, k=10)
    assert index.kind == kind
    np.testing.assert_array_equal(found.positions, exact_top(queries, gallery, 10))
    expected = np.sort(distance_matrix(queries, gallery), axis=1)[:, :10]
    np.testing.assert_allclose(found.distances, expected, atol=1e-5)


def test_hnsw_and_ivfpq_find_the_exact_neighbours():
    gallery, _ = clustered(3000, 2)
    queries, _ = clustered(50, 3)
    truth = exact_top(queries, gallery, 10)
    hnsw = GalleryIndex.build(gallery, SOURCE, IndexSettings(kind="hnsw", hnsw_m=16, ef_search=64))
    assert recall_at(hnsw.search(queries, SOURCE, k=10).positions, truth) >= 0.95
    ivfpq = GalleryIndex.build(gallery, SOURCE, IndexSettings(kind="ivfpq", nlist=16, pq_m=16, pq_bits=4,
                                                              nprobe=16, refine=16))
    assert recall_at(ivfpq.search(queries, SOURCE, k=10).positions, truth) >= 0.95
    coarse = ivfpq.search(queries, SOURCE, k=10, nprobe=1).positions
    assert recall_at(coarse, truth) < recall_at(ivfpq.search(queries, SOURCE, k=10).positions, truth)
    unrefined = ivfpq.search(queries, SOURCE, k=10, refine=1).positions
    assert recall_at(unrefined, truth) < recall_at(ivfpq.search(queries, SOURCE, k=10).positions, truth)
    with pytest.raises(GalleryIndexError, match="refine 4 needs an ivfpq index built with --refine"):
        hnsw.search(queries, SOURCE, k=10, refine=4)


def test_auto_switches_at_the_threshold():
    assert IndexSettings().resolved(49_999).kind == "exact"
    assert IndexSettings().resolved(50_000).kind == "hnsw"
    assert IndexSettings(kind="ivfpq").resolved(1_000_000).nlist == 4096


def test_save_and_load_keep_results_source_and_pca(tmp_path):
    gallery, ids = clustered(400, 4)
    queries, _ = clustered(10, 5)
    settings = IndexSettings(kind="hnsw", pca_dim=16)
    index = GalleryIndex.build(gallery, SOURCE, settings, rows=np.arange(400) + 7,
                               identities=[f"id{i}" for i in ids], paths=[f"images/{i}.png" for i in range(400)])
    assert index.pca.output_dim == 16 and 0.3 < index.pca.explained < 1
    path = index.save(tmp_path / "gallery.index")
    loaded = GalleryIndex.load(path)
    assert loaded.source == SOURCE and loaded.settings == index.settings and loaded.size == 400
    assert loaded.rows[0] == 7 and loaded.identities[3] == f"id{ids[3]}" and loaded.paths[1] == "images/1.png"
    before, after = index.search(queries, SOURCE, k=5), loaded.search(queries, SOURCE, k=5)
    np.testing.assert_array_equal(before.positions, after.positions)
    meta = json.loads(str(np.load(path)["meta"]))
    assert meta["source"]["model"] == SOURCE.model and meta["pca_explained"] == pytest.approx(index.pca.explained)


def test_pca_keeps_the_neighbours_of_low_rank_features():
    rng = np.random.default_rng(6)
    gallery = l2_normalize(rng.normal(size=(600, 8)) @ rng.normal(size=(8, DIM)))
    queries = l2_normalize(rng.normal(size=(20, 8)) @ rng.normal(size=(8, DIM)))
    reduced = GalleryIndex.build(gallery, SOURCE, IndexSettings(kind="exact", pca_dim=8))
    assert recall_at(reduced.search(queries, SOURCE, k=10).positions, exact_top(queries, gallery, 10)) >= 0.95


def test_features_of_another_model_or_head_are_refused():
    gallery, _ = clustered(100, 7)
    index = GalleryIndex.build(gallery, SOURCE, IndexSettings(kind="exact"))
    other_model = FeatureSource(model="b" * 64, head="max", feature_dim=DIM, run="runs/b")
    with pytest.raises(GalleryIndexError, match="runs/b.*rebuild the index"):
        index.search(gallery[:2], other_model, where="city.index")
    other_head = FeatureSource(model="a" * 64, head="avg", feature_dim=DIM)
    with pytest.raises(GalleryIndexError, match="head 'max'.*--head max"):
        index.search(gallery[:2], other_head)


def test_nan_features_are_named_and_nothing_is_written(tmp_path):
    gallery, _ = clustered(50, 8)
    gallery[[3, 9]] = np.nan
    with pytest.raises(GalleryIndexError, match=r"2 feature vector\(s\) hold NaN.*manifest rows \[103, 109\]"):
        GalleryIndex.build(gallery, SOURCE, IndexSettings(kind="exact"), rows=np.arange(50) + 100)
    good = GalleryIndex.build(gallery[10:], SOURCE, IndexSettings(kind="exact"))
    with pytest.raises(GalleryIndexError, match="NaN"):
        good.search(gallery[:5], SOURCE)


def test_an_existing_index_is_never_overwritten_by_accident(tmp_path):
    gallery, _ = clustered(60, 9)
    path = GalleryIndex.build(gallery, SOURCE, IndexSettings(kind="flat")).save(tmp_path / "g.index")
    before = path.read_bytes()
    with pytest.raises(SettingsError, match="already exists; pass --overwrite"):
        GalleryIndex.build(gallery[:30], SOURCE, IndexSettings(kind="flat")).save(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_a_corrupt_index_file_is_named(tmp_path, damage):
    gallery, _ = clustered(200, 10)
    path = GalleryIndex.build(gallery, SOURCE, IndexSettings(kind="hnsw")).save(tmp_path / "g.index")
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        data = bytearray(b"not an index at all")
    path.write_bytes(bytes(data))
    with pytest.raises(GalleryIndexError, match=r"g\.index: corrupt or unreadable index.*shoekit index build"):
        GalleryIndex.load(path)


def test_ivfpq_too_small_to_train_says_what_to_do():
    gallery, _ = clustered(100, 11)
    with pytest.raises(GalleryIndexError, match="needs at least 256 gallery vectors"):
        GalleryIndex.build(gallery, SOURCE, IndexSettings(kind="ivfpq", nlist=8, pq_m=8))
    with pytest.raises(GalleryIndexError, match="must divide the feature dimension 32"):
        GalleryIndex.build(gallery, SOURCE, IndexSettings(kind="ivfpq", nlist=8, pq_m=5, pq_bits=4))


@pytest.mark.parametrize("with_cams", [False, True])
def test_topk_metrics_equal_full_metrics_when_the_depth_holds_every_positive(with_cams):
    rng = np.random.default_rng(12)
    distmat = rng.random((30, 80))
    query_ids, gallery_ids = rng.integers(0, 10, 30), rng.integers(0, 12, 80)
    cams = {"query_cams": rng.integers(0, 3, 30), "gallery_cams": rng.integers(0, 3, 80)} if with_cams else {}
    full = rank_metrics(distmat, query_ids, gallery_ids, max_rank=20, **cams)
    top = topk_rank_metrics(np.argsort(distmat, axis=1, kind="stable"), query_ids, gallery_ids, 20, **cams)
    for key in ("rank1", "rank5", "rank10", "mAP", "num_valid_queries", "num_invalid_queries"):
        assert top[key] == pytest.approx(full[key]), key
    np.testing.assert_allclose(top["cmc"], full["cmc"])
    assert top["positives_beyond_depth"] == 0
    shallow = topk_rank_metrics(np.argsort(distmat, axis=1, kind="stable")[:, :5], query_ids, gallery_ids, 20, **cams)
    assert shallow["positives_beyond_depth"] > 0 and shallow["mAP"] <= full["mAP"] + 1e-12
    assert shallow["rank1"] == pytest.approx(full["rank1"])


@pytest.mark.parametrize("junk", [False, True])
def test_evaluation_through_an_index_gives_the_exact_metrics(quick_run, tmp_path, junk):
    """A run's saved features, ranked exactly and through faiss flat / hnsw indexes."""
    from shoekit.config import TrainConfig

    data = TrainConfig.load(quick_run / "config.json").data
    query, gallery = ShoeCrops(data, ["query"]), ShoeCrops(data, ["gallery", "distractor"])
    features = np.load(quick_run / "eval" / "max" / "features.npz")
    ids = (query.identities, gallery.identities)
    cams = {"query_cams": query.rows["camera"].to_numpy(), "gallery_cams": gallery.rows["camera"].to_numpy()}
    exact = rank_head(features["query"], features["gallery"], *ids,
                      EvaluationOptions(metric="euclidean", same_camera_junk=junk, index=None), **cams)
    for kind in ("flat", "hnsw"):
        ranked = rank_head(features["query"], features["gallery"], *ids,
                           EvaluationOptions(metric="euclidean", same_camera_junk=junk, index=IndexSettings(kind=kind)),
                           **cams)
        assert ranked.summary["ranking"] == kind and ranked.summary["positives_beyond_depth"] == 0
        for key in ("rank1", "rank5", "rank10", "mAP", "num_valid_queries"):
            assert ranked.summary[key] == pytest.approx(exact.summary[key]), (kind, key)
        np.testing.assert_array_equal(ranked.top_indices, exact.top_indices)
        np.testing.assert_allclose(ranked.top_distances, exact.top_distances, atol=1e-4)


def shoekit(capsys, *args) -> tuple[int, str, str]:
    """Run the command line in this process: (exit code, stdout, stderr)."""
    from shoekit.cli import main

    code = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_build_search_and_refuse_another_model(quick_run, tmp_path, capsys):
    from shoekit.config import TrainConfig

    data = TrainConfig.load(quick_run / "config.json").data
    index_path = tmp_path / "tiny.index"
    code, out, err = shoekit(capsys, "index", "build", quick_run, "--out", index_path, "--kind", "hnsw",
                             "--head", "max", "--no-progress", "--no-bf16")
    assert code == 0, err
    assert "indexed 15 gallery crops" in out and index_path.is_file()
    code, out, err = shoekit(capsys, "index", "search", index_path, "--run", quick_run, "--data", data,
                             "--top-k", "3", "--out", tmp_path / "matches.csv", "--no-bf16")
    assert code == 0, err
    assert "searched 6 queries against 15 gallery crops (hnsw): Rank-1" in out
    assert (tmp_path / "matches.csv").read_text().count("\n") == 6 * 3 + 1
    matches = (tmp_path / "matches.csv").read_bytes()
    code, out, err = shoekit(capsys, "index", "search", index_path, "--run", quick_run, "--data", data,
                             "--top-k", "1", "--out", tmp_path / "matches.csv", "--no-bf16")
    assert code == 2 and "matches.csv: already exists; pass --overwrite" in err
    assert (tmp_path / "matches.csv").read_bytes() == matches

    other = tmp_path / "other_run"
    copy_run(quick_run, other, ignore=shutil.ignore_patterns("eval"))
    checkpoint = torch.load(other / "checkpoint.pt", weights_only=True)
    checkpoint["model"]["fc.bias"] += 1.0
    (other / "checkpoint.pt").unlink()  # a hard link to quick_run's checkpoint
    torch.save(checkpoint, other / "checkpoint.pt")
    image = next((Path(data) / "images").rglob("*.png"))
    code, out, err = shoekit(capsys, "index", "search", index_path, "--run", other, "--image", image)
    assert code == 2 and "rebuild the index from this run" in err
    before = index_path.read_bytes()
    code, out, err = shoekit(capsys, "index", "build", other, "--out", index_path, "--kind", "flat", "--no-progress")
    assert code == 2 and "--overwrite" in err and index_path.read_bytes() == before


def test_cli_evaluate_ranks_with_the_index_it_is_given(quick_run, tmp_path, capsys):
    copy = tmp_path / "run"
    copy_run(quick_run, copy)
    exact = json.loads((quick_run / "eval" / "max" / "metrics.json").read_text())
    code, out, err = shoekit(capsys, "evaluate", copy, "--head", "max", "--index", "hnsw", "--ef-search", "16",
                             "--no-progress")
    assert code == 0, err
    ranked = json.loads((copy / "eval" / "max" / "metrics.json").read_text())
    assert ranked["ranking"] == "hnsw" and ranked["ranking_depth"] == 15 and ranked["positives_beyond_depth"] == 0
    assert exact["ranking"] == "exact" and ranked["mAP"] == pytest.approx(exact["mAP"])
    assert "best head max" in out
