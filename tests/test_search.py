"""Searching saved gallery features with new query crops; rankings and queries as tables."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shoekit.data import ShoeCrops
from shoekit.evaluate import extract_features
from shoekit.metrics import l2_normalize
from shoekit.models import build_model
from shoekit.search import query_feature, query_table, ranked_matches, search
from tests.conftest import write_tiny_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("search") / "tiny")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("dual_pool", num_classes=4).eval()


@pytest.fixture(scope="module")
def gallery(dataset):
    return ShoeCrops(dataset, ["gallery", "distractor"])


@pytest.fixture(scope="module")
def saved(model, dataset, gallery):
    """What `shoekit evaluate` saves for head "max": L2-normalised query and gallery features (fp32)."""
    queries = ShoeCrops(dataset, ["query"])
    features = extract_features(model, queries, ["max"], bf16=False, progress=False)["max"]
    gallery_features = extract_features(model, gallery, ["max"], bf16=False, progress=False)["max"]
    return queries, l2_normalize(features), l2_normalize(gallery_features)


def test_a_gallery_crop_finds_itself_first(model, gallery, saved):
    table = search(model, "max", gallery[4][0], saved[2], gallery, top=5, bf16=False)
    assert list(table["rank"]) == [1, 2, 3, 4, 5]
    assert table["position"].iat[0] == 4 and table["distance"].iat[0] == pytest.approx(0.0, abs=1e-5)
    assert table["distance"].is_monotonic_increasing
    assert table["row"].iat[0] == gallery.rows["row"].iat[4]
    assert table["identity"].iat[0] == gallery.identities[4] and "camera" in table.columns


def test_several_crops_give_the_mean_feature(model, gallery, saved):
    together = query_feature(model, torch.stack([gallery[0][0], gallery[1][0]]), "max", bf16=False)
    mean = saved[2][0] + saved[2][1]
    np.testing.assert_allclose(together, mean / np.linalg.norm(mean), atol=1e-5)
    assert np.linalg.norm(together) == pytest.approx(1.0, abs=1e-5)


def test_search_matches_the_saved_ranking_of_an_evaluation(model, gallery, saved):
    queries, query_features, gallery_features = saved
    order = np.argsort(1.0 - query_features @ gallery_features.T, axis=1, kind="stable")
    for index in (0, 3):
        table = search(model, "max", queries[index][0], gallery_features, gallery, top=6, bf16=False)
        assert list(table["position"]) == list(order[index, :6])


def test_search_refuses_features_of_another_gallery(model, gallery):
    with pytest.raises(ValueError, match="re-run shoekit evaluate"):
        search(model, "max", gallery[0][0], np.zeros((3, 2048), np.float32), gallery)


def test_ranked_matches_marks_correct_identities(gallery):
    table = ranked_matches(gallery, np.array([5, 0]), np.array([0.1, 0.3]), query_identity=gallery.identities[0])
    assert list(table["rank"]) == [1, 2] and list(table["position"]) == [5, 0]
    assert list(table["correct"]) == [gallery.identities[5] == gallery.identities[0], True]


def test_query_table_reports_ap_and_first_hit(gallery, saved):
    queries = saved[0]
    same = np.array([[j for j, identity in enumerate(gallery.identities) if identity == query_identity][0]
                     for query_identity in queries.identities])
    other = np.array([[j for j, identity in enumerate(gallery.identities) if identity != query_identity][0]
                      for query_identity in queries.identities])
    top = np.stack([other, same], axis=1)  # every query: a wrong crop, then a right one
    table = query_table(queries, gallery, top, np.full(len(queries), 0.5))
    assert list(table["first_hit"]) == [2] * len(queries)
    assert list(table["identity"]) == queries.identities and "camera" in table.columns
    table = query_table(queries, gallery, other[:, None], np.full(len(queries), np.nan))
    assert list(table["first_hit"]) == [0] * len(queries) and table["ap"].isna().all()
