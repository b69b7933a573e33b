"""Figures: CMC curves, ranked galleries, explanation panels, score distributions (shoekit.figures)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from shoekit.errors import CheckpointError
from shoekit.explain import ImageExplanation, PairExplanation, QueryExplanation, load_evaluation
from shoekit.figures import (CMCCurve, RankedRow, cmc_figure, cmc_figure_interactive, explanation_figure,
                             explanation_sheet, pair_scores, query_order, ranked_gallery_figure,
                             ranked_gallery_sheet, ranked_rows, read_cmc_curves, read_pair_scores, save_png,
                             score_figure, tpr_at_fpr)
from shoekit.figures.sheet import CORRECT, NEUTRAL, WRONG

TILE = 40


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread while this module runs (the trained_run fixture trains on 32 px crops, where
    intra-op threads cost more than they give on a loaded 2-core machine); restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def solid(colour, size: int = 20) -> np.ndarray:
    return np.full((size, size, 3), colour, np.uint8)


def test_query_order_sorts_by_ap_with_unmatchable_queries_last():
    ap = np.array([0.5, np.nan, 0.9, 0.5, 0.1])
    assert query_order(ap).tolist() == [2, 0, 3, 4, 1]
    assert query_order(ap, best_first=False).tolist() == [4, 0, 3, 2, 1]


def test_tpr_at_fpr_by_hand():
    non_matching = np.arange(100) / 100                        # 0.00 ... 0.99
    matching = np.array([0.5, 0.95, 0.99, 0.995])
    table = tpr_at_fpr(matching, non_matching, fprs=(0.01, 0.001))
    one = table.iloc[0]
    assert one.threshold == pytest.approx(0.98) and one.fpr == pytest.approx(0.01)
    assert one.tpr == pytest.approx(0.5)                       # 0.99 and 0.995 are above 0.98
    tenth = table.iloc[1]
    assert np.isnan(tenth.tpr) and tenth.fpr == 0 and tenth.non_matching_pairs == 100
    assert tpr_at_fpr(matching, non_matching, fprs=(0.1,)).tpr[0] == pytest.approx(0.75)   # score > 0.89


def test_pair_scores_split_by_identity():
    query = np.array([[1.0, 0.0], [0.0, 2.0]])
    gallery = np.array([[3.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    matching, non_matching = pair_scores(query, gallery, ["a", "b"], ["a", "b", "b"])
    np.testing.assert_allclose(matching, [1.0, np.sqrt(0.5), 1.0], atol=1e-6)
    np.testing.assert_allclose(non_matching, [np.sqrt(0.5), 0.0, 0.0], atol=1e-6)


def test_score_figure_marks_each_target_fpr():
    rng = np.random.default_rng(0)
    figure = score_figure(rng.normal(0.8, 0.05, 50), rng.normal(0.4, 0.1, 500), fprs=(0.01, 0.001))
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert len(labels) == 2 and labels[0].startswith("FPR 1%") and "n/a" in labels[1]


def test_cmc_figures_show_rank1_and_map_in_the_legend():
    curves = {"plain": CMCCurve(np.linspace(0.6, 1.0, 30), rank1=0.6, mAP=0.45),
              "ours": CMCCurve(np.linspace(0.74, 1.0, 30), rank1=0.74, mAP=0.57)}
    figure = cmc_figure(curves)
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["plain (Rank-1 60.0%, mAP 45.0%)",
                                                    "ours (Rank-1 74.0%, mAP 57.0%)"]
    assert len(lines[0].get_xdata()) == 20 and lines[1].get_ydata()[0] == pytest.approx(74.0)
    interactive = cmc_figure_interactive(curves, max_rank=5)
    assert [trace.name for trace in interactive.data] == [line.get_label() for line in lines]
    assert list(interactive.data[0].x) == [1, 2, 3, 4, 5]


def test_cmc_curves_are_read_from_run_folders(trained_run):
    curves = read_cmc_curves([trained_run], head="avg")
    curve = curves[trained_run.name]
    metrics = json.loads((trained_run / "eval" / "avg" / "metrics.json").read_text())
    cmc = pd.read_csv(trained_run / "eval" / "avg" / "cmc.csv")["cmc"].to_numpy()
    np.testing.assert_allclose(curve.cmc, cmc)
    assert (curve.rank1, curve.mAP) == (metrics["rank1"], metrics["mAP"])
    assert curve.cmc[0] == pytest.approx(curve.rank1)
    with pytest.raises(CheckpointError, match="shoekit evaluate"):
        read_cmc_curves({"missing": trained_run.parent / "nothing"})


def test_ranked_gallery_sheet_frames_correct_matches_green_and_wrong_red():
    rows = [RankedRow(query_index=3, query=solid(90), query_identity="a", ap=0.5,
                      matches=[solid(10), solid(200)], identities=["a", "b"], distances=np.array([0.1, 0.2]))]
    sheet = ranked_gallery_sheet(rows, tile=TILE)
    assert sheet.dtype == np.uint8 and sheet.ndim == 3
    top_left_of_frames = [tuple(sheet[0, x]) for x in np.flatnonzero(np.any(sheet[0] != 255, axis=1))]
    assert top_left_of_frames[0] == NEUTRAL and CORRECT in top_left_of_frames and WRONG in top_left_of_frames
    assert rows[0].correct == [True, False]
    figure = ranked_gallery_figure(rows + rows)
    assert len(figure.axes) == 6


def test_ranked_rows_come_from_the_saved_rankings(trained_run):
    results = load_evaluation(trained_run, "max")
    order = query_order(results.ap, best_first=False)
    rows = ranked_rows(results, order[:2], top=3)
    assert [row.query_index for row in rows] == order[:2].tolist()
    first = rows[0]
    np.testing.assert_allclose(first.distances, results.top_distances[first.query_index, :3])
    top = results.top_indices[first.query_index, :3]
    assert first.identities == [results.gallery.identities[position] for position in top]
    assert first.query.shape == (32, 32, 3) and len(first.matches) == 3
    assert ranked_gallery_sheet(rows, tile=TILE).shape[0] > 2 * TILE


def image_explanation(value: float) -> ImageExplanation:
    cam = np.linspace(0, 1, 16 * 16, dtype=np.float32).reshape(16, 16)
    gradients = np.random.default_rng(0).normal(size=(16, 16, 3)).astype(np.float32)
    return ImageExplanation.build(torch.full((3, 16, 16), value), cam, gradients)


def explanation(correct: list[bool]) -> QueryExplanation:
    pairs = [PairExplanation(query=image_explanation(0.2), match=image_explanation(0.6), similarity=0.9,
                             distance=0.1 * (rank + 1), rank=rank + 1, identity="t", correct=flag)
             for rank, flag in enumerate(correct)]
    return QueryExplanation(head="max", method="gradcam", layer="layer4.2", pairs=pairs, query_identity="t")


def test_explanation_sheet_has_six_panels_per_pair_and_coloured_match_frames():
    one = explanation_sheet(explanation([True]), tile=TILE)
    three = explanation_sheet(explanation([True, False, True]), tile=TILE)
    assert one.shape[1] == three.shape[1] and three.shape[0] > 2 * one.shape[0]
    colours = {tuple(pixel) for pixel in three.reshape(-1, 3)}
    assert CORRECT in colours and WRONG in colours
    figure = explanation_figure(explanation([True, False]))
    assert len(figure.axes) == 12 and figure.axes[3].get_title() == "#1 t d 0.100"


def test_image_explanation_overlay_and_gradient_images():
    explained = image_explanation(0.5)
    assert explained.overlay.shape == (16, 16, 3) and explained.overlay.dtype == np.uint8
    assert explained.overlay[0, 0, 2] > explained.overlay[0, 0, 0]      # cold corner: blue
    assert explained.overlay[-1, -1, 0] > explained.overlay[-1, -1, 2]  # hot corner: red
    np.testing.assert_allclose(explained.guided_gradcam[0, 0], 0)
    assert explained.guided_gradcam_image.dtype == np.uint8


def test_save_png_round_trip(tmp_path):
    sheet = np.random.default_rng(0).integers(0, 256, (12, 20, 3), dtype=np.uint8)
    path = save_png(tmp_path / "sub" / "sheet.png", sheet)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), sheet)


def test_pair_scores_from_a_run_cover_every_query_gallery_pair(trained_run):
    matching, non_matching = read_pair_scores(trained_run, "max")
    results = load_evaluation(trained_run, "max")
    assert len(matching) + len(non_matching) == len(results.queries) * len(results.gallery)
    assert matching.mean() > non_matching.mean()
