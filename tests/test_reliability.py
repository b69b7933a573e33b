"""Careless and hostile input against the library and the command line: each case ends in
success or a clear ShoekitError naming the file, the row or the option, with nothing lost."""

from __future__ import annotations

import json
import re

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


def test_evaluating_on_other_data_keeps_the_runs_own_evaluation(trained_run, tiny_dataset, tmp_path, capsys):
    run = copy_run(trained_run, tmp_path / "run")
    own = (run / "eval/max/metrics.json").read_text()
    other = tiny_dataset  # the same crops under another manifest: one row fewer
    lines = (other / "manifest.csv").read_text().splitlines()
    (other / "manifest.csv").write_text("\n".join(lines[:-1]) + "\n")
    assert cli_main(["evaluate", str(run), "--data", str(other), "--no-progress"]) == 2
    assert "holds an evaluation on" in capsys.readouterr().err
    assert (run / "eval/max/metrics.json").read_text() == own
    assert cli_main(["evaluate", str(run), "--data", str(other), "--no-progress", "--overwrite",
                     "--head", "max"]) == 0
    assert f"on {other}:" in capsys.readouterr().out
    assert json.loads((run / "eval/max/metrics.json").read_text())["data"] == str(other)
    assert cli_main(["evaluate", str(run), "--data", str(other), "--no-progress", "--head", "max"]) == 0


@pytest.mark.parametrize("text, message", [
    ("[1, 2, 3]", "not a run config .*found a list"),
    ('"dual_pool"', "not a run config .*found a str"),
    ("\udcff\udcfe", "cannot read the run's config"),
])
def test_a_config_json_that_is_not_a_run_config_is_named(trained_run, tmp_path, capsys, text, message):
    run = copy_run(trained_run, tmp_path / "run")
    (run / "config.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    assert cli_main(["evaluate", str(run), "--no-progress"]) == 2
    assert re.search(rf"config\.json: {message}", capsys.readouterr().err)


def test_a_query_image_is_named_as_a_file_given_on_the_command_line(trained_run, tmp_path, capsys, caplog):
    index = tmp_path / "gallery.index"
    assert cli_main(["index", "build", str(trained_run), "--out", str(index), "--kind", "flat",
                     "--no-progress"]) == 0
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    capsys.readouterr()
    assert cli_main(["index", "search", str(index), "--run", str(trained_run), "--image", str(broken)]) == 2
    err = capsys.readouterr().err
    assert f"{broken}: not an image file" in err and "manifest row" not in err
    animated = tmp_path / "walk.gif"
    frames = [Image.fromarray(np.full((TINY_SIZE, TINY_SIZE, 3), value, np.uint8)) for value in (40, 200)]
    frames[0].save(animated, save_all=True, append_images=frames[1:])
    assert cli_main(["index", "search", str(index), "--run", str(trained_run), "--image", str(animated)]) == 0
    assert "walk.gif: 2 frames (GIF file): only the first frame is used" in caplog.text


def test_the_workbench_command_names_a_busy_port_and_a_missing_runs_folder(tmp_path, capsys):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert cli_main(["workbench", "--runs", str(tmp_path), "--port", str(port), "--no-browser"]) == 2
        assert f"--port {port}: cannot serve on it" in capsys.readouterr().err
    missing = tmp_path / "no-such-runs"
    assert cli_main(["workbench", "--runs", str(missing), "--port", str(port), "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert f"--runs {missing}: no such folder" in err and "--demo" in err


def test_a_diverging_training_loss_is_warned_about(tiny_dataset, tmp_path, caplog):
    train(tiny_config(tiny_dataset, epochs=1, lr=1e8), tmp_path / "run", progress=False)
    assert "far above chance level" in caplog.text and "lower --lr (now 1e+08)" in caplog.text
