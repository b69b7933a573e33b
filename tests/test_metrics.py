"""rank_metrics and distances on hand-computed cases."""

import numpy as np
import pytest

from shoekit.metrics import average_precision, distance_matrix, l2_normalize, rank_metrics


def test_all_correct_first():
    distmat = np.array([[0.1, 0.5, 0.2, 0.9]])
    result = rank_metrics(distmat, ["A"], ["A", "B", "A", "C"], max_rank=4)
    assert result["rank1"] == 1.0 and result["mAP"] == 1.0
    assert result["cmc"].tolist() == [1, 1, 1, 1]


def test_correct_match_last():
    distmat = np.array([[0.1, 0.9, 0.2, 0.3]])
    result = rank_metrics(distmat, ["B"], ["A", "B", "A", "C"], max_rank=4)
    assert result["cmc"].tolist() == [0, 0, 0, 1]
    assert result["mAP"] == pytest.approx(0.25)


def test_two_queries_average():
    distmat = np.array([[0.1, 0.5, 0.2, 0.9], [0.1, 0.9, 0.2, 0.3]])
    result = rank_metrics(distmat, ["A", "B"], ["A", "B", "A", "C"], max_rank=4)
    assert result["rank1"] == 0.5 and result["cmc"][3] == 1.0
    assert result["mAP"] == pytest.approx((1.0 + 0.25) / 2)
    assert result["ap"].tolist() == pytest.approx([1.0, 0.25])


def test_none_correct_in_top_ranks():
    distmat = np.array([[0.1, 0.2, 0.3]])
    result = rank_metrics(distmat, ["C"], ["A", "B", "C"], max_rank=2)
    assert result["rank1"] == 0.0 and result["cmc"].tolist() == [0, 0]
    assert result["mAP"] == pytest.approx(1 / 3)


def test_several_correct_per_query():
    distmat = np.array([[0.1, 0.2, 0.3, 0.4, 0.5]])
    result = rank_metrics(distmat, ["A"], ["A", "B", "A", "B", "A"], max_rank=5)
    assert result["mAP"] == pytest.approx((1 / 1 + 2 / 3 + 3 / 5) / 3)
    assert result["rank1"] == 1.0


def test_ties_keep_gallery_order():
    """Equal distances are ranked in gallery order (stable sort): B before A here."""
    result = rank_metrics(np.array([[0.5, 0.5]]), ["A"], ["B", "A"], max_rank=2)
    assert result["rank1"] == 0.0 and result["mAP"] == 0.5
    result = rank_metrics(np.array([[0.5, 0.5]]), ["A"], ["A", "B"], max_rank=2)
    assert result["rank1"] == 1.0 and result["mAP"] == 1.0


def test_query_without_positive_is_left_out_and_counted():
    distmat = np.array([[0.1, 0.2], [0.3, 0.1]])
    result = rank_metrics(distmat, ["A", "Z"], ["A", "B"], max_rank=2)
    assert result["num_valid_queries"] == 1 and result["num_invalid_queries"] == 1
    assert result["rank1"] == 1.0 and result["mAP"] == 1.0
    assert np.isnan(result["ap"][1])


def test_no_valid_query_at_all():
    result = rank_metrics(np.array([[0.1]]), ["Z"], ["A"], max_rank=1)
    assert result["num_valid_queries"] == 0 and result["mAP"] == 0.0 and result["rank1"] == 0.0


def test_same_camera_matches_are_junk():
    distmat = np.array([[0.1, 0.2, 0.3]])
    kwargs = dict(query_cams=np.array(["c1"]), gallery_cams=np.array(["c1", "c2", "c2"]))
    result = rank_metrics(distmat, ["A"], ["A", "B", "A"], max_rank=2, **kwargs)
    assert result["rank1"] == 0.0 and result["mAP"] == 0.5
    assert rank_metrics(distmat, ["A"], ["A", "B", "A"], max_rank=2)["rank1"] == 1.0


def test_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match="gallery ids"):
        rank_metrics(np.zeros((1, 3)), ["A"], ["A", "B"])


def test_average_precision_of_empty_list():
    assert average_precision(np.array([False, False])) == 0.0


def test_distances():
    rng = np.random.default_rng(0)
    q, g = rng.normal(size=(3, 8)), rng.normal(size=(5, 8))
    cosine = distance_matrix(q, g, "cosine")
    expected = 1 - (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (g / np.linalg.norm(g, axis=1, keepdims=True)).T
    assert cosine == pytest.approx(expected, abs=1e-5)
    euclid = distance_matrix(q, g, "euclidean")
    assert euclid == pytest.approx(np.linalg.norm(q[:, None] - g[None], axis=2), abs=1e-4)
    assert distance_matrix(q, q, "cosine").diagonal() == pytest.approx(0, abs=1e-6)
    assert np.linalg.norm(l2_normalize(q), axis=1) == pytest.approx(1)
    with pytest.raises(ValueError, match="cosine"):
        distance_matrix(q, g, "manhattan")


def test_paired_bootstrap_by_hand():
    from shoekit.metrics import paired_bootstrap

    a = np.array([1.0, 0.5, 0.25, np.nan])
    b = np.array([0.5, 0.5, 0.25, 1.0])
    diff, low, high = paired_bootstrap(a, b, samples=2000)
    assert diff == pytest.approx(0.5 / 3)  # the NaN query is left out
    assert 0.0 <= low <= diff <= high <= 0.5  # resampled means of {0.5, 0, 0} lie in [0, 0.5]
    same = paired_bootstrap(a, a)
    assert same == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="same queries"):
        paired_bootstrap(a, b[:3])
