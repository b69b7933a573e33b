"""Figures for notebooks, reports and the workbench: matplotlib/plotly figures and numpy sheets.

    cmc.py      CMC curves of several runs (Rank-1 and mAP in the legend)
    ranked.py   ranked retrieval gallery: query + top-k crops, green/red borders, distances
    panels.py   original | Grad-CAM overlay | Guided Grad-CAM panels (the paper's Fig. 9)
    scores.py   matching / non-matching score distributions and TPR at fixed FPR
    sheet.py    numpy image-sheet drawing (tiles, borders, captions) for PNG files
    export.py   figures as PNG/SVG bytes, the metrics table figure, the one-page PDF comparison sheet
    walkthrough.py  the walk-through's pictures: feature-map grids, gate strips, feature and similarity bars
    handout.py  a walk-through as a PDF handout (cover + one page per step)
    lr_range.py the learning-rate range test's loss curve

Names are imported on first use, so drawing a PNG sheet does not import plotly.
"""

from __future__ import annotations

from shoekit.lazy import lazy_exports

LAZY_NAMES: dict[str, str] = {
    **dict.fromkeys(("CMCCurve", "read_cmc", "read_cmc_curves", "cmc_figure",
                     "cmc_figure_interactive"), "cmc"),
    **dict.fromkeys(("RankedRow", "query_order", "ranked_rows", "ranked_gallery_sheet",
                     "ranked_gallery_figure"), "ranked"),
    **dict.fromkeys(("pair_sheet", "explanation_sheet", "explanation_figure"), "panels"),
    **dict.fromkeys(("pair_scores", "tpr_at_fpr", "read_pair_scores", "score_histogram", "score_figure",
                     "score_histogram_figure"), "scores"),
    **dict.fromkeys(("save_png",), "sheet"),
    **dict.fromkeys(("figure_bytes", "metrics_table_figure", "comparison_sheet", "run_settings"), "export"),
    **dict.fromkeys(("feature_grid", "gate_strip", "spatial_map", "feature_bars", "similarity_bars"), "walkthrough"),
    **dict.fromkeys(("HandoutStep", "handout_pdf"), "handout"),
    **dict.fromkeys(("lr_range_figure",), "lr_range"),
}

__all__ = list(LAZY_NAMES)

__getattr__, __dir__ = lazy_exports(__name__, LAZY_NAMES)
