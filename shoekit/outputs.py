"""Checks on the paths a command is told to write to, made before anything is computed or written.

Every command that takes an output path (`--out`) calls one of these first, so that a file is
never replaced and a folder's files never overwritten without `--overwrite`, and a path that
runs through an existing file ("FILE/model.onnx") is named instead of crashing the write.
"""

from __future__ import annotations

from pathlib import Path

from shoekit.errors import SettingsError


def check_parents(path: Path, option: str) -> None:
    """SettingsError when a folder above `path` already exists as a file."""
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise SettingsError(f"{option} {path}: {parent} is a file, not a folder; choose another {option}")


def check_output_file(path: str | Path, overwrite: bool, option: str = "--out") -> Path:
    """`path` as a Path after checking that it can be written as a file: not a folder, no file
    above it, and, unless `overwrite`, not already there."""
    path = Path(path)
    check_parents(path, option)
    if path.is_dir():
        raise SettingsError(f"{option} {path}: is a folder; give a file name (for example {path / 'out'})")
    if path.exists() and not overwrite:
        raise SettingsError(f"{option} {path}: already exists; pass --overwrite to replace it or choose "
                            f"another {option}")
    return path


def check_output_folder(path: str | Path, overwrite: bool, option: str = "--out") -> Path:
    """`path` as a Path after checking that files can be written into it: not a file, no file
    above it, and, unless `overwrite`, empty or not yet there."""
    path = Path(path)
    check_parents(path, option)
    if path.exists() and not path.is_dir():
        raise SettingsError(f"{option} {path}: is a file, not a folder; choose another {option}")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise SettingsError(f"{option} {path}: already holds files; pass --overwrite to write over them "
                            f"or choose an empty or new {option}")
    return path
