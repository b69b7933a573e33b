"""The learning-rate range test: the ramp, the reading of a hand-made curve, the command."""

import numpy as np
import pandas as pd
import pytest

from shoekit.cli import main
from shoekit.errors import ShoekitError
from shoekit.lr_range import exponential_rates, read_curve, smooth
from tests.conftest import TINY_SIZE


def test_the_ramp_is_geometric_from_min_to_max():
    rates = exponential_rates(1e-4, 1e-1, 4)
    assert np.allclose(rates, [1e-4, 1e-3, 1e-2, 1e-1])
    for bad in ((1e-2, 1e-3, 10), (0.0, 1.0, 10), (1e-3, 1e-2, 1)):
        with pytest.raises(ShoekitError, match="--min-lr"):
            exponential_rates(*bad)


def test_the_suggestion_is_the_steepest_fall_before_the_minimum():
    lrs = np.logspace(-5, 0, 11)
    loss = np.array([5, 5, 4.9, 4.5, 3, 2, 1.8, 1.9, 3, 6, 9], dtype=float)
    suggested, lowest = read_curve(lrs, loss, loss)
    assert suggested == lrs[4] and lowest == lrs[6]  # central differences: -1.25 per half-decade at index 4
    falling = np.array([3.0, 2.0, 1.0])
    assert read_curve(lrs[:3], falling, falling)[1] == lrs[2]


def test_no_rate_is_suggested_when_the_loss_never_fell():
    """A network from scratch at chance for the whole ramp (ln 40 = 3.69), then diverging."""
    lrs = np.logspace(-5, 0, 12)
    loss = np.array([3.69, 3.70, 3.68, 3.69, 3.71, 3.66, 3.69, 3.70, 3.68, 3.75, 9.0, 60.0])
    suggested, lowest = read_curve(lrs, loss, smooth(list(loss)))
    assert suggested is None and lrs[0] <= lowest < lrs[-2]


def test_smoothing_is_bias_corrected():
    assert np.allclose(smooth([2.0, 2.0, 2.0]), 2.0)  # a constant loss stays constant from the first step
    assert smooth([1.0, 3.0])[1] == pytest.approx((0.98 * 0.02 * 1 + 0.02 * 3) / (1 - 0.98 ** 2))


def test_range_test_from_the_command_line(tiny_dataset, tmp_path, capsys):
    out = tmp_path / "range.csv"
    args = ["lr-range", "--data", str(tiny_dataset), "--out", str(out), "--steps", "6", "--min-lr", "1e-4",
            "--max-lr", "1e-1", "--batch-size", "8", "--image-size", str(TINY_SIZE), "--num-workers", "0",
            "--no-bf16", "--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert ("suggested --lr" in printed or "no rate to suggest" in printed) and str(out) in printed
    table = pd.read_csv(out)
    assert list(table.columns) == ["step", "lr", "loss", "smoothed_loss"] and 2 <= len(table) <= 6
    assert np.allclose(table["lr"], exponential_rates(1e-4, 1e-1, 6)[:len(table)])
    assert np.isfinite(table["loss"]).all() and out.with_suffix(".png").stat().st_size > 1000
    assert main(args) == 2  # the curve is there: not replaced without --overwrite
    assert "already exists" in capsys.readouterr().err
    upside_down = [*args[:8], "1", *args[9:], "--overwrite"]  # --min-lr 1 above --max-lr 0.1
    assert main(upside_down) == 2 and "0 < --min-lr < --max-lr" in capsys.readouterr().err
    assert pd.read_csv(out).equals(table)  # refused before any training: the curve is untouched
