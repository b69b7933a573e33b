"""Figures for slides and handouts (shoekit.figures.export, handout, walkthrough): PNG and SVG
files, the one-page PDF comparison sheet, the walk-through handout and its small pictures."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import torch
from pypdf import PdfReader

from shoekit.catalog import discover_runs
from shoekit.compare import comparison_table
from shoekit.explain.stages import StageMaps
from shoekit.figures import cmc_figure, read_cmc
from shoekit.figures.export import (PAPER_LABEL, comparison_sheet, figure_bytes, metrics_rows, metrics_table_figure,
                                    run_settings)
from shoekit.figures.handout import HandoutStep, handout_pdf
from shoekit.figures.sheet import CORRECT, NEUTRAL, WRONG
from shoekit.figures.walkthrough import feature_bars, feature_grid, gate_strip, similarity_bars, spatial_map


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread while the trained fixture trains on 32 px crops (see test_figures.py)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pdf_text(data: bytes) -> tuple[int, str]:
    """(pages, all their text) of a PDF file's bytes."""
    reader = PdfReader(io.BytesIO(data))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


@pytest.fixture(scope="module")
def run_summary(trained_run):
    (run,) = discover_runs(trained_run.parent).runs
    return run


def test_cmc_figure_as_png_svg_and_pdf(trained_run):
    figure = cmc_figure({"tiny": read_cmc(trained_run, "max")}, max_rank=5)
    assert figure_bytes(figure, "png").startswith(b"\x89PNG\r\n\x1a\n")
    svg = figure_bytes(figure, "svg").decode()
    assert "<svg" in svg and "Rank-1" in svg
    assert figure_bytes(figure, "pdf").startswith(b"%PDF")
    with pytest.raises(ValueError, match="choose one of png, svg, pdf"):
        figure_bytes(figure, "gif")


def test_metrics_table_marks_the_papers_numbers_as_the_papers(run_summary):
    table = comparison_table([run_summary], ["max", "gem"])
    rows = metrics_rows(table)
    assert list(rows.columns) == ["run", "head", "Rank-1", "Rank-5", "Rank-10", "mAP",
                                  f"Rank-1 {PAPER_LABEL}", f"mAP {PAPER_LABEL}"]
    by_head = rows.set_index("head")
    assert by_head.loc["max", f"Rank-1 {PAPER_LABEL}"] == "73.9"      # Table 2, dual_pool, layer4+max
    assert by_head.loc["gem", f"Rank-1 {PAPER_LABEL}"] == "–"         # the paper has no GeM row
    assert by_head.loc["max", "mAP"] == f"{table.set_index('head').loc['max', 'mAP']:.1f}"
    svg = figure_bytes(metrics_table_figure(table), "svg").decode()
    assert "private CCTV data" in svg


def test_comparison_sheet_is_one_page_with_curves_table_paper_numbers_and_settings(trained_run, run_summary):
    curves = {f"{run_summary.name} · max": read_cmc(trained_run, "max")}
    sheet = comparison_sheet(curves, comparison_table([run_summary], ["max"]), [run_summary], max_rank=5)
    pages, text = pdf_text(sheet)
    assert pages == 1
    for expected in ("CMC", "Rank-1/5/10 and mAP", "paper †", "private CCTV data", "Run settings", "dual_pool",
                     run_summary.name):
        assert expected in text, expected
    settings = run_settings([run_summary])
    assert settings.loc[0, "epochs"] == f"{run_summary.epochs_trained} of {run_summary.config.epochs}"
    assert settings.loc[0, "image_size"] == 32


def test_handout_has_a_cover_and_one_page_per_step():
    steps = [HandoutStep("The CCTV crop", "A small blurred crop of one shoe.", [(np.zeros((8, 8, 3), np.uint8), "crop")]),
             HandoutStep("The attention gates", "Each map gets a weight.", [(np.full((4, 30, 3), 200, np.uint8), "strip")] * 3),
             HandoutStep("No picture", "Text only.")]
    pages, text = pdf_text(handout_pdf("How the model works", ["Run: tiny"], steps))
    assert pages == 1 + len(steps)
    for expected in ("How the model works", "Run: tiny", "1. The CCTV crop", "2. The attention gates",
                     "Each map gets a weight.", "3. No picture"):
        assert expected in text, expected


def test_walkthrough_pictures():
    stage = StageMaps("layer2", np.arange(6 * 4 * 4, dtype=np.float32).reshape(6, 4, 4), np.arange(6), 512)
    grid = feature_grid(stage, tile=10, columns=3)
    assert grid.shape == (2 * 12 + 1, 3 * 12 + 2, 3) and grid.dtype == np.uint8
    strip = gate_strip(np.array([0.0, 1.0, 2.0]), (0.0, 2.0), width=30, height=4)
    assert strip.shape == (4, 30, 3)
    assert strip[0, 0, 2] > strip[0, 0, 0] and strip[0, -1, 0] > strip[0, -1, 2]   # blue low end, red high end
    assert spatial_map(np.full((2, 2), 0.5), size=12).shape == (12, 12, 3)
    bars = feature_bars(np.array([0.0, 1.0, 0.5, 1.0]), width=8, height=10)
    assert bars.shape == (10, 8, 3)
    assert (bars[1:-1, 2:4] != 255).all() and (bars[:-1, 0:2] == 255).all()         # a full bar, an empty one
    similarity = similarity_bars(np.array([0.1, 0.5, 1.5]), [True, False, None], width=3, height=10)
    assert tuple(similarity[-2, 0]) == CORRECT and tuple(similarity[-2, 1]) == WRONG
    assert (similarity[:-1, 2] == 255).all() and tuple(similarity[-1, 2]) == NEUTRAL   # similarity < 0: no bar
    many = feature_bars(np.ones(2048), width=64)
    assert many.shape[1] == 64


def test_run_settings_come_from_each_runs_config(run_summary):
    settings = run_settings([run_summary, run_summary])
    assert isinstance(settings, pd.DataFrame) and len(settings) == 2
    assert settings.loc[0, "attention"] == run_summary.config.attention
    assert settings.loc[0, "data"] == run_summary.config.data
