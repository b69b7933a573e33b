"""CMC curves of several runs in one figure, Rank-1 and mAP in the legend (matplotlib, plotly)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shoekit.runs import read_eval_cmc, read_eval_metrics

DEFAULT_MAX_RANK = 20


@dataclass(frozen=True)
class CMCCurve:
    """One curve: `cmc` `(R,)` fractions (cmc[k-1]: share of queries with a match in the top k),
    `rank1` and `mAP` as fractions in [0, 1]."""

    cmc: np.ndarray
    rank1: float
    mAP: float

    def legend(self, label: str) -> str:
        return f"{label} (Rank-1 {100 * self.rank1:.1f}%, mAP {100 * self.mAP:.1f}%)"

    def up_to(self, max_rank: int) -> tuple[np.ndarray, np.ndarray]:
        """Ranks `(r,)` from 1 and CMC values `(r,)` in percent, r = min(max_rank, R)."""
        values = np.asarray(self.cmc, dtype=float)[:max_rank]
        return np.arange(1, len(values) + 1), 100 * values


def read_cmc(run_dir: str | Path, head: str = "max") -> CMCCurve:
    """The curve of one head of an evaluated run (RUN/eval/HEAD/cmc.csv and metrics.json)."""
    cmc = read_eval_cmc(Path(run_dir), head)
    metrics = read_eval_metrics(Path(run_dir), head)
    return CMCCurve(cmc=cmc, rank1=float(metrics["rank1"]), mAP=float(metrics["mAP"]))


def read_cmc_curves(runs: Mapping[str, str | Path] | Sequence[str | Path], head: str = "max"
                    ) -> dict[str, CMCCurve]:
    """{label: curve} for several runs; a plain list is labelled by run folder name."""
    if not isinstance(runs, Mapping):
        runs = {Path(run).name: run for run in runs}
    return {label: read_cmc(run, head) for label, run in runs.items()}


def cmc_figure(curves: Mapping[str, CMCCurve], max_rank: int = DEFAULT_MAX_RANK, title: str = "CMC"):
    """A static matplotlib Figure: CMC (%) against rank 1..max_rank, one line per curve."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.4), layout="constrained")
    draw_cmc(figure.add_subplot(), curves, max_rank, title)
    return figure


def draw_cmc(axes, curves: Mapping[str, CMCCurve], max_rank: int = DEFAULT_MAX_RANK, title: str = "CMC",
             legend_size: str | float = "small") -> None:
    """CMC (%) against rank 1..max_rank on matplotlib `axes`, one line per curve."""
    for label, curve in curves.items():
        ranks, values = curve.up_to(max_rank)
        axes.plot(ranks, values, marker="o", markersize=3, label=curve.legend(label))
    axes.set(xlabel="rank", ylabel="matching rate (%)", title=title, xlim=(0.5, max_rank + 0.5), ylim=(0, 101))
    axes.set_xticks(range(1, max_rank + 1, max(1, max_rank // 10)))
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=legend_size)


def cmc_figure_interactive(curves: Mapping[str, CMCCurve], max_rank: int = DEFAULT_MAX_RANK,
                           title: str = "CMC"):
    """The same plot as an interactive plotly Figure (hover shows rank and rate)."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for label, curve in curves.items():
        ranks, values = curve.up_to(max_rank)
        figure.add_trace(go.Scatter(x=ranks, y=values, mode="lines+markers", name=curve.legend(label),
                                    hovertemplate="rank %{x}: %{y:.1f}%<extra>" + label + "</extra>"))
    figure.update_layout(title=title, xaxis_title="rank", yaxis_title="matching rate (%)",
                         xaxis_range=[0.5, max_rank + 0.5], yaxis_range=[0, 101],
                         legend=dict(x=0.99, y=0.01, xanchor="right", yanchor="bottom"))
    return figure
