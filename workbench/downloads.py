"""Download buttons for slides and handouts: the CMC figure and the metrics table as PNG and SVG,
and the one-page PDF comparison sheet (`shoekit.figures.export`). Files are drawn only when a
button is clicked, on Streamlit's download thread, so the page does not wait for matplotlib."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import streamlit as st

from shoekit.catalog import RunSummary
from shoekit.figures.cmc import CMCCurve


def figure_downloads(curves: Mapping[str, CMCCurve], table: pd.DataFrame, runs: Sequence[RunSummary],
                     max_rank: int, key: str, name: str) -> None:
    """Five buttons in a row: CMC (PNG, SVG), metrics table (PNG, SVG), comparison sheet (PDF).

    `curves` as the page plots them, `table` a `shoekit.compare.comparison_table` of `runs`;
    `key` prefixes the widget keys, `name` the file names."""
    from shoekit.figures.cmc import cmc_figure
    from shoekit.figures.export import MIME_TYPES, comparison_sheet, figure_bytes, metrics_table_figure

    curves, table, runs = dict(curves), table.copy(), list(runs)
    files = {
        f"{key}_cmc_png": ("CMC (PNG)", f"{name}-cmc.png", lambda: figure_bytes(cmc_figure(curves, max_rank), "png")),
        f"{key}_cmc_svg": ("CMC (SVG)", f"{name}-cmc.svg", lambda: figure_bytes(cmc_figure(curves, max_rank), "svg")),
        f"{key}_table_png": ("Table (PNG)", f"{name}-metrics.png",
                             lambda: figure_bytes(metrics_table_figure(table), "png")),
        f"{key}_table_svg": ("Table (SVG)", f"{name}-metrics.svg",
                             lambda: figure_bytes(metrics_table_figure(table), "svg")),
        f"{key}_sheet_pdf": ("Comparison sheet (PDF)", f"{name}-comparison-sheet.pdf",
                             lambda: comparison_sheet(curves, table, runs, max_rank)),
    }
    cells = st.columns(len(files))
    for cell, (widget_key, (label, file_name, make)) in zip(cells, files.items()):
        cell.download_button(label, make, file_name=file_name, mime=MIME_TYPES[file_name.rsplit(".", 1)[1]],
                             key=widget_key, on_click="ignore", icon=":material/download:", width="stretch")
    st.caption("For slides and handouts. The comparison sheet is one page: the curves, this table with the "
               "paper's numbers marked † as the paper's (its private data), and each run's settings.")
