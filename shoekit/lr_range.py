"""The learning-rate range test (Smith 2017, "Cyclical learning rates"; fastai's `lr_find`).

From a fresh model, train `steps` optimizer steps with the rate rising exponentially from
`min_lr` to `max_lr`, recording every step's loss, and stop early once the smoothed loss has
diverged. The model, data, loss and optimizer are those `shoekit train` would build from the same
TrainConfig, so the curve speaks for that recipe; the weights are thrown away afterwards.

The suggested peak rate is the one where the smoothed loss falls fastest per decade of rate,
looked for before the loss's minimum (fastai's "steep" point); there is none when the loss never
fell by MIN_FALL of its starting level (a network from scratch that has not yet left chance at any
rate, for instance: then only training runs can compare rates). This module owns the range
test's CSV: one row per step, columns `step`, `lr`, `loss`, `smoothed_loss`.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from shoekit.config import TrainConfig
from shoekit.errors import ShoekitError, TrainingError
from shoekit.runs import write_text

SMOOTHING = 0.98      # exponential moving average of the loss, bias-corrected
DIVERGED_FACTOR = 4.0  # stop once the smoothed loss is this many times its minimum
MIN_FALL = 0.05        # the smoothed loss must fall this share below its start for a suggestion
START_STEPS = 10       # the starting level: the median loss of the first steps
COLUMNS = ["step", "lr", "loss", "smoothed_loss"]


@dataclass(frozen=True)
class RangeTest:
    """The range test's curve (`table`: COLUMNS, one row per step taken) and its reading."""

    table: pd.DataFrame
    suggested_lr: float | None  # steepest descent of the smoothed loss per decade, before its
                                # minimum; None when the loss never fell by MIN_FALL
    min_loss_lr: float          # the rate at the smoothed loss's minimum (training diverges beyond it)
    diverged: bool        # stopped early: the smoothed loss ran away, or the loss became non-finite


def exponential_rates(min_lr: float, max_lr: float, steps: int) -> np.ndarray:
    """`(steps,)` rates rising geometrically from `min_lr` to `max_lr`; ShoekitError for a bad range."""
    if not (0 < min_lr < max_lr) or steps < 2:
        raise ShoekitError(f"the range test needs 0 < --min-lr < --max-lr and --steps >= 2 "
                           f"(got {min_lr:g}, {max_lr:g}, {steps})")
    return min_lr * (max_lr / min_lr) ** (np.arange(steps) / (steps - 1))


def smooth(losses: list[float], beta: float = SMOOTHING) -> np.ndarray:
    """Bias-corrected exponential moving average of `losses` (the first value is kept as is)."""
    average, out = 0.0, []
    for step, loss in enumerate(losses, start=1):
        average = beta * average + (1 - beta) * loss
        out.append(average / (1 - beta ** step))
    return np.asarray(out, dtype=np.float64)


def read_curve(lrs: np.ndarray, losses: np.ndarray, smoothed: np.ndarray) -> tuple[float | None, float]:
    """(suggested rate, rate at the minimum) from each step's loss and the smoothed loss over rising
    rates: the suggestion is where d(loss)/d(log10 lr) is most negative up to the minimum, None when
    the smoothed minimum is not MIN_FALL below the median of the first START_STEPS losses."""
    lowest = int(np.argmin(smoothed))
    if smoothed[lowest] > (1 - MIN_FALL) * float(np.median(losses[:START_STEPS])):
        return None, float(lrs[lowest])
    if lowest < 2:
        return float(lrs[lowest]), float(lrs[lowest])
    slopes = np.gradient(smoothed[:lowest + 1], np.log10(lrs[:lowest + 1]))
    return float(lrs[int(np.argmin(slopes))]), float(lrs[lowest])


def lr_range_test(config: TrainConfig, steps: int = 200, min_lr: float = 1e-5, max_lr: float = 1.0,
                  progress: bool = True) -> RangeTest:
    """Run the range test for `config` (its data, model, loss, optimizer, batch size and first
    training size; its learning-rate schedule is replaced by the exponential ramp) on one process."""
    from shoekit.data.training_sets import epoch_size, set_epoch
    from shoekit.train import Trainer, epoch_loader, epoch_seed, run_epoch

    rates = exponential_rates(min_lr, max_lr, steps)
    with tempfile.TemporaryDirectory() as scratch:  # the trainer's run folder is never written
        trainer = Trainer(config, Path(scratch) / "lr-range", progress=progress)
    optimizer = trainer.optimizers.model_optimizer
    for group in optimizer.param_groups:
        group["initial_lr"] = config.lr
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: rates[min(step, steps - 1)] / config.lr)
    losses: list[float] = []
    state = {"average": 0.0, "best": math.inf, "diverged": False}

    def record(loss: float) -> bool:  # after each step: True stops the epoch
        losses.append(loss)
        state["average"] = SMOOTHING * state["average"] + (1 - SMOOTHING) * loss
        smoothed = state["average"] / (1 - SMOOTHING ** len(losses))  # as `smooth` computes it
        state["best"] = min(state["best"], smoothed)
        state["diverged"] = smoothed > DIVERGED_FACTOR * state["best"]
        return state["diverged"] or len(losses) >= steps

    epoch, size = 0, epoch_size(config, 0, 0.0)  # the first training size throughout
    while len(losses) < steps and not state["diverged"]:
        set_epoch(trainer.data.dataset, config, epoch, size)
        torch.manual_seed(epoch_seed(config.seed, epoch))
        loader = epoch_loader(trainer.context, trainer.data.dataset, config, trainer.batch_size,
                              epoch_seed(config.seed, epoch), config.num_workers)
        try:
            run_epoch(trainer.model, loader, trainer.criterion, trainer.optimizers, scheduler, trainer.device,
                      trainer.use_bf16, progress, trainer.context, after_step=record)
        except TrainingError:  # the loss became non-finite: the ramp has gone past any usable rate
            state["diverged"] = True
        epoch += 1
    if len(losses) < 2:
        raise ShoekitError("the range test stopped before two steps: the loss was not finite from the start; "
                           "lower --min-lr")
    smoothed = smooth(losses)
    table = pd.DataFrame({"step": np.arange(1, len(losses) + 1), "lr": rates[:len(losses)], "loss": losses,
                          "smoothed_loss": smoothed})
    suggested, at_minimum = read_curve(table["lr"].to_numpy(), table["loss"].to_numpy(), smoothed)
    return RangeTest(table, suggested, at_minimum, state["diverged"])


def write_range_test(path: str | Path, result: RangeTest) -> None:
    """The curve as CSV (COLUMNS), written atomically."""
    write_text(Path(path), result.table[COLUMNS].to_csv(index=False))
