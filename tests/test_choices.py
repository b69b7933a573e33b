"""One source for every choice list: `shoekit.choices` agrees with what the library builds, and the
CLI offers exactly those names."""

import argparse

import pytest
import torch

from shoekit import choices
from shoekit.cli import build_parser
from shoekit.config import TrainConfig


def subcommand_choices(command: str) -> dict[str, tuple]:
    """{dest: choices} of every option of `shoekit COMMAND` that has a choice list."""
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {action.dest: tuple(action.choices) for action in subparsers.choices[command]._actions
            if action.choices is not None}


def test_every_choice_list_names_what_the_library_builds():
    from shoekit import losses, reproduce
    from shoekit.data import planning
    from shoekit.models.attention import ATTENTIONS
    from shoekit.models.heads import HEADS, POOLINGS, model_heads

    assert tuple(ATTENTIONS) == choices.ATTENTIONS
    assert tuple(POOLINGS) == choices.POOLING_HEADS
    assert HEADS == choices.HEADS and model_heads("bnneck") == choices.HEADS
    assert losses.MARGINS == choices.MARGINS and losses.SMOOTHING_FORMS == choices.SMOOTHING_FORMS
    assert tuple(planning.SCALES) == tuple(reproduce.SCALES) == choices.SCALES
    assert tuple(reproduce.TABLES) == choices.TABLES


@pytest.mark.parametrize("optimizer", choices.OPTIMIZERS)
def test_every_optimizer_choice_builds(optimizer):
    from shoekit.train import build_optimizer

    built = build_optimizer(torch.nn.Linear(2, 2), TrainConfig(optimizer=optimizer))
    assert isinstance(built, torch.optim.Optimizer)


def test_the_cli_offers_the_library_choices():
    train = subcommand_choices("train")
    assert train["attention"] == choices.ATTENTIONS and train["val_head"] == choices.HEADS
    assert (train["margin"], train["schedule"], train["optimizer"]) == (choices.MARGINS, choices.SCHEDULES,
                                                                         choices.OPTIMIZERS)
    assert subcommand_choices("pretrain")["neck"] == choices.NECKS
    evaluate = subcommand_choices("evaluate")
    assert (evaluate["heads"], evaluate["metric"], evaluate["backend"]) == (choices.HEADS, choices.METRICS,
                                                                             choices.BACKENDS)
    assert subcommand_choices("export")["exporter"] == choices.EXPORTERS
    assert subcommand_choices("reproduce")["scale"] == subcommand_choices("make-dataset")["scale"] == choices.SCALES
