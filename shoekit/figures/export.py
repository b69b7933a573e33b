"""Figures for slides and handouts: the CMC figure and the metrics table as PNG or SVG, and the
one-page PDF "comparison sheet" (curves, metrics beside the paper's numbers, the run settings).

Every function returns the file's bytes, so the workbench offers them as downloads and a script
writes them where it likes. The paper's numbers (`shoekit.paper`, via `shoekit.compare`) are
labelled as the paper's, measured on its private data.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import pandas as pd

from shoekit.catalog import RunSummary
from shoekit.figures.cmc import DEFAULT_MAX_RANK, CMCCurve, draw_cmc

FORMATS = ("png", "svg", "pdf")
MIME_TYPES = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}
PNG_DPI = 200
A4_LANDSCAPE_INCHES = (11.69, 8.27)
PAPER_LABEL = "paper †"
PAPER_FOOTNOTE = ("† The paper's numbers (Zhang, Tang et al., LOP 2022, 59(2):0215004) for the closest setting it "
                  "reports, measured on its own private CCTV data: a reference for the ordering of settings, "
                  "not a score these runs are measured against.")
METRIC_COLUMNS = {"run": "run", "head": "head", "rank1": "Rank-1", "rank5": "Rank-5", "rank10": "Rank-10",
                  "mAP": "mAP", "paper_rank1": f"Rank-1 {PAPER_LABEL}", "paper_mAP": f"mAP {PAPER_LABEL}"}
SETTING_FIELDS = ("attention", "recipe", "image_size", "epochs", "batch_size", "optimizer", "lr",
                  "label_smoothing", "neck", "seed", "data")


def figure_bytes(figure, format: str, dpi: int = PNG_DPI) -> bytes:
    """A matplotlib Figure saved as `format` ("png", "svg" or "pdf"): the file's bytes."""
    if format not in FORMATS:
        raise ValueError(f"unknown figure format {format!r}; choose one of {', '.join(FORMATS)}")
    buffer = io.BytesIO()
    figure.savefig(buffer, format=format, dpi=dpi)
    return buffer.getvalue()


def metrics_rows(table: pd.DataFrame) -> pd.DataFrame:
    """`shoekit.compare.comparison_table` output as the printed table: run, head, our Rank-1/5/10
    and mAP, the paper's Rank-1 and mAP under headers marked †; percentages with one decimal,
    "–" where the paper reports no comparable setting."""
    shown = table[[column for column in METRIC_COLUMNS if column in table.columns]].rename(columns=METRIC_COLUMNS)
    for column in shown.columns[2:]:
        shown[column] = [("–" if pd.isna(value) else f"{float(value):.1f}") for value in shown[column]]
    return shown


def draw_table(axes, frame: pd.DataFrame, font_size: float = 8.0, title: str = "") -> None:
    """`frame` as a matplotlib table filling `axes` (axis hidden), header row shaded."""
    axes.set_axis_off()
    if title:
        axes.set_title(title, fontsize=font_size + 2, loc="left")
    if frame.empty:
        axes.text(0, 0.5, "(no rows)", fontsize=font_size)
        return
    cells = frame.astype(str).to_numpy().tolist()
    table = axes.table(cellText=cells, colLabels=list(frame.columns), loc="upper left", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(font_size)
    table.auto_set_column_width(list(range(frame.shape[1])))
    for (row, _), cell in table.get_celld().items():
        if row == 0:
            cell.set_facecolor("#e8e8e8")


def metrics_table_figure(table: pd.DataFrame, title: str = "Rank-1/5/10 and mAP (%)"):
    """The metrics table (`comparison_table` columns) as a matplotlib Figure, paper columns marked †
    and explained in a footnote."""
    from matplotlib.figure import Figure

    rows = metrics_rows(table)
    figure = Figure(figsize=(8.0, 0.9 + 0.28 * (len(rows) + 1)), layout="constrained")
    axes = figure.add_subplot()
    draw_table(axes, rows, title=title)
    figure.text(0.01, 0.01, PAPER_FOOTNOTE, fontsize=6.5, wrap=True, va="bottom")
    return figure


def run_settings(runs: Sequence[RunSummary]) -> pd.DataFrame:
    """One row per run: its name and the `SETTING_FIELDS` of its config (RUN/config.json), with the
    epochs it actually trained."""
    rows = []
    for run in runs:
        values = {name: getattr(run.config, name) for name in SETTING_FIELDS}
        values["epochs"] = f"{run.epochs_trained} of {run.config.epochs}"
        rows.append({"run": run.name, **values})
    return pd.DataFrame(rows, columns=["run", *SETTING_FIELDS])


def comparison_sheet(curves: Mapping[str, CMCCurve], table: pd.DataFrame, runs: Sequence[RunSummary],
                     max_rank: int = DEFAULT_MAX_RANK, title: str = "shoekit comparison sheet") -> bytes:
    """The one-page PDF comparison sheet (A4 landscape): CMC curves, the metrics table beside the
    paper's numbers (labelled †, with a footnote), and the settings of each run. Returns PDF bytes.

    `curves`: {label: curve} as `read_cmc` gives them; `table`: `shoekit.compare.comparison_table`
    of `runs`."""
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    figure = Figure(figsize=A4_LANDSCAPE_INCHES)
    figure.suptitle(title, fontsize=14, x=0.02, ha="left")
    grid = figure.add_gridspec(2, 2, height_ratios=(1.15, 1.0), width_ratios=(1.0, 1.25),
                               left=0.05, right=0.98, top=0.92, bottom=0.08, hspace=0.25, wspace=0.12)
    curve_axes = figure.add_subplot(grid[0, 0])
    draw_cmc(curve_axes, curves, max_rank, legend_size=6)
    draw_table(figure.add_subplot(grid[0, 1]), metrics_rows(table), font_size=7, title="Rank-1/5/10 and mAP (%)")
    draw_table(figure.add_subplot(grid[1, :]), run_settings(runs), font_size=7,
               title="Run settings (each run's config.json)")
    figure.text(0.02, 0.02, PAPER_FOOTNOTE, fontsize=7, wrap=True)
    buffer = io.BytesIO()
    with PdfPages(buffer, metadata={"Title": title, "Creator": "shoekit"}) as pdf:
        pdf.savefig(figure)
    return buffer.getvalue()

