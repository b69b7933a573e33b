"""A non-editable install: the wheel brings the workbench app, and `shoekit workbench` finds it there."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_wheel_ships_the_workbench_and_an_installed_shoekit_finds_it(tmp_path):
    # build isolation, as `pip install .` does: pyproject.toml asks for a newer setuptools than a
    # fresh Python 3.11 virtual environment has (the package registry provides it)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(tmp_path / "dist"),
                            str(REPO)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("shoekit-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"workbench/app.py", "workbench/state.py", "workbench/views/match.py", "shoekit/cli.py"} <= names
    site = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile",
                                "--target", str(site), str(wheel)], capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr[-2000:]
    # the installed copy comes first on the path; the rest (torch, streamlit) from this environment
    env = {**os.environ, "PYTHONPATH": str(site)}
    found = subprocess.run([sys.executable, "-c", "import shoekit; from shoekit.commands.workbench import "
                            "workbench_app; print(shoekit.__file__); print(workbench_app())"],
                           capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert found.returncode == 0, found.stderr[-2000:]
    package, app = found.stdout.split()
    assert Path(package).is_relative_to(site) and Path(app) == site / "workbench" / "app.py"
