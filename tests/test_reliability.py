"""Careless and hostile input against the library and the command line: each case ends in
success or a clear ShoekitError naming the file, the row or the option, with nothing lost."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from shoekit.cli import main as cli_main
from shoekit.config import TrainConfig
from shoekit.errors import CheckpointError, ImageError
from shoekit.evaluate import evaluate_run
from shoekit.train import train
from tests.conftest import TINY_SIZE, copy_run, png_header_only


def tiny_config(data, **overrides) -> TrainConfig:
    settings = dict(data=str(data), image_size=TINY_SIZE, epochs=1, batch_size=8, warmup_steps=1,
                    num_workers=0)
    return TrainConfig(**{**settings, **overrides})


def test_evaluating_a_model_with_nan_features_is_refused(trained_run, tmp_path):
    run = copy_run(trained_run, tmp_path / "nan", ignore=lambda *_: ["eval"])
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=False)
    (run / "checkpoint.pt").unlink()  # a hard link to the session's run: never write through it
    checkpoint["model"]["layer4.2.bn3.weight"].fill_(float("nan"))
    torch.save(checkpoint, run / "checkpoint.pt")
    with pytest.raises(CheckpointError, match=r"nan: the \w+ features of \d+ query crop\(s\) hold NaN or inf "
                       r"\(manifest rows \[.*\]\).*retrain with a lower --lr"):
        evaluate_run(run, progress=False)
    assert not (run / "eval").exists()


def test_an_error_in_a_dataloader_worker_reads_as_its_own_message(tiny_dataset, tmp_path):
    broken = tiny_dataset / "images/id0/3.png"
    broken.write_bytes(broken.read_bytes()[:60])  # truncated
    with pytest.raises(ImageError) as caught:
        train(tiny_config(tiny_dataset, num_workers=1), tmp_path / "run", progress=False)
    message = str(caught.value)
    assert message.startswith(f"{broken}: cannot read this image") and "Traceback" not in message


@pytest.mark.parametrize("side", [1, 100_000])
def test_training_and_evaluation_apply_the_image_policy(tiny_dataset, trained_run, tmp_path, side):
    target = tiny_dataset / "images/id0/0.png"
    if side == 1:
        Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(target)
        expected = r"1×1 px is too small"
    else:  # 100,000 × 1,000 px: 100 megapixels, refused from the header before decoding
        png_header_only(target, side, 1_000)
        expected = r"100000×1000 px \(100\.0 megapixels\) is over the 50-megapixel limit"
    with pytest.raises(ImageError, match=rf"id0/0\.png: {expected}"):
        train(tiny_config(tiny_dataset), tmp_path / "run", progress=False)
    query = tiny_dataset / "images/id4/0.png"  # a query crop of the evaluation
    query.write_bytes(target.read_bytes())
    run = copy_run(trained_run, tmp_path / "evaluated", ignore=lambda *_: ["eval"])
    with pytest.raises(ImageError, match=rf"id4/0\.png: {expected}"):
        evaluate_run(run, data=str(tiny_dataset), progress=False)
