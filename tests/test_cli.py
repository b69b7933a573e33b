"""The command line: complete --help, train/evaluate from the shell, clear errors."""

import argparse
import subprocess
import sys

import pytest

from shoekit.cli import COMMANDS, build_parser, main
from tests.conftest import TINY_SIZE


def test_every_command_has_help(capsys):
    for name in COMMANDS:
        command = name.replace("_", "-")
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        assert f"usage: shoekit {command}" in text and "options:" in text


def test_every_option_is_explained():
    def check(parser, prefix):
        for action in parser._actions:
            assert action.help, f"{prefix} {action.option_strings or action.dest}: no help text"
            if isinstance(action, argparse._SubParsersAction):
                for name, subparser in action.choices.items():
                    check(subparser, f"{prefix} {name}")
    check(build_parser(), "shoekit")


def test_building_the_parser_imports_no_torch():
    """The CLI's promise: every subcommand registers without torch (heavy imports wait for `run`)."""
    code = ("import sys; from shoekit.cli import build_parser; build_parser(); "
            "print(' '.join(name for name in sys.modules if name == 'torch' or name.startswith('shoekit')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    imported = result.stdout.split()
    assert "torch" not in imported, f"torch imported with the shoekit modules {imported}"


def test_python_dash_m_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "shoekit", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "train" in result.stdout and "evaluate" in result.stdout


def test_train_and_evaluate_from_the_command_line(tiny_dataset, tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["train", "--data", str(tiny_dataset), "--out", str(run), "--attention", "eca",
                 "--epochs", "1", "--batch-size", "8", "--image-size", str(TINY_SIZE), "--num-workers", "0",
                 "--label-smoothing", "0.14", "--no-bf16", "--no-progress"])
    assert code == 0 and "trained" in capsys.readouterr().out
    assert main(["evaluate", str(run), "--head", "max", "--head", "fc", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "max" in out and "evaluated" in out.splitlines()[-1]
    assert (run / "eval" / "max" / "rankings.npz").is_file()
    assert not (run / "eval" / "avg").exists()


def test_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "manifest.csv" in err and "Traceback" not in err
    assert main(["evaluate", str(tmp_path / "missing")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    assert main(["train"]) == 2
    assert "--resume" in capsys.readouterr().err


def test_a_head_the_model_lacks_is_one_line(trained_run, capsys):
    assert main(["evaluate", str(trained_run), "--head", "bnneck", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--neck bnneck" in err and "Traceback" not in err
