"""The learning-rate range test's curve: loss against a rising learning rate (`shoekit.lr_range`)."""

from __future__ import annotations

import pandas as pd


def lr_range_figure(table: pd.DataFrame, suggested_lr: float | None, min_loss_lr: float,
                    title: str = "Learning-rate range test"):
    """matplotlib Figure of a range test's `table` (columns lr, loss, smoothed_loss): each step's
    loss and the smoothed loss over a log-scaled rate axis, with the suggested rate (if any) and
    the rate at the smoothed loss's minimum marked. The loss axis stops at twice the first
    smoothed loss, so a divergence at the end does not flatten the rest of the curve."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.0), layout="constrained")
    axes = figure.add_subplot()
    axes.plot(table["lr"], table["loss"], color="tab:gray", alpha=0.4, linewidth=1, label="loss of each step")
    axes.plot(table["lr"], table["smoothed_loss"], color="tab:blue", label="smoothed loss")
    if suggested_lr is not None:
        axes.axvline(suggested_lr, color="tab:green", linestyle="--", label=f"steepest descent: {suggested_lr:.2g}")
    axes.axvline(min_loss_lr, color="tab:red", linestyle=":", label=f"minimum: {min_loss_lr:.2g}")
    axes.set(xscale="log", xlabel="learning rate", ylabel="training loss", title=title,
             ylim=(0, 2 * float(table["smoothed_loss"].iloc[0])))
    axes.legend(fontsize="small")
    return figure
