"""Run folders: the files one training run leaves on disk, and loading them back.

    RUN/config.json       the resolved TrainConfig
    RUN/train_log.csv     one row per epoch: loss, accuracy, images/s, lr, seconds
    RUN/checkpoint.pt     model + optimizer + scheduler + epoch, written atomically each epoch
    RUN/snapshots/        minute_MMM.pt: weights after MMM training minutes (--snapshot-minutes)
    RUN/metrics.json      {"train": {...}, "eval": {name: {...}}}, written atomically
    RUN/eval/NAME/        metrics.json, cmc.csv, rankings.npz, features.npz (see evaluate.py);
                          NAME is a head (max), or a head with post-processing (max+qe5+rr)
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from shoekit.config import TrainConfig
from shoekit.errors import CheckpointError
from shoekit.models import AttentionResNet50, build_model

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.pt"
LOG_FILE = "train_log.csv"
METRICS_FILE = "metrics.json"
EVAL_DIR = "eval"
SNAPSHOT_DIR = "snapshots"


def atomic_write(path: Path, write) -> None:
    """Call `write(tmp_path)` then rename over `path`: a kill never leaves a half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: Path, text: str) -> None:
    atomic_write(Path(path), lambda tmp: tmp.write_text(text))


def write_json(path: Path, values: dict) -> None:
    write_text(path, json.dumps(values, indent=2, sort_keys=True) + "\n")


def save_checkpoint(path: Path, payload: dict) -> None:
    atomic_write(Path(path), lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: Path) -> dict:
    """A checkpoint dict, loaded with `weights_only=True`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint; train the run first (shoekit train)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupt file, pickle of unsafe types
        raise CheckpointError(f"{path}: unreadable checkpoint ({error}); retrain the run") from error
    if not isinstance(payload, dict) or payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint from another shoekit version "
                              f"(format {payload.get('format_version') if isinstance(payload, dict) else '?'}, "
                              f"expected {FORMAT_VERSION}); retrain the run")
    return payload


def load_weights(model: torch.nn.Module, state_dict: dict, source: Path) -> None:
    """Load a full state dict, turning a shape/name mismatch into a CheckpointError."""
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as error:
        first = str(error).splitlines()[0:3]
        raise CheckpointError(f"{source}: weights do not fit this model (another attention or number "
                              f"of classes?): {' '.join(first)}") from error


def read_metrics(run_dir: Path) -> dict:
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path}: corrupt metrics file ({error}); delete it and re-evaluate") from error


def update_metrics(run_dir: Path, section: str, values: dict) -> None:
    """Set `metrics.json[section]` (merging dict sections), atomically."""
    metrics = read_metrics(run_dir)
    if isinstance(metrics.get(section), dict) and isinstance(values, dict):
        metrics[section].update(values)
    else:
        metrics[section] = values
    write_json(Path(run_dir) / METRICS_FILE, metrics)


@dataclass
class TrainedRun:
    """A finished (or resumable) run loaded for inference."""

    path: Path
    config: TrainConfig
    model: AttentionResNet50
    class_names: list[str]
    manifest_hash: str
    epoch: int


def load_run(run_dir: str | Path) -> TrainedRun:
    """Config + trained model (eval mode, CPU) of a run folder; CheckpointError if incomplete."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: no such run folder; make one with shoekit train")
    config = TrainConfig.load(run_dir / CONFIG_FILE)
    checkpoint = load_checkpoint(run_dir / CHECKPOINT_FILE)
    class_names = list(checkpoint["class_names"])
    model = build_model(config.attention, num_classes=len(class_names), last_stride=config.last_stride,
                        neck=config.neck, classifier=config.classifier, cos_scale=config.cos_scale)
    load_weights(model, checkpoint["model"], run_dir / CHECKPOINT_FILE)
    model.eval()
    return TrainedRun(run_dir, config, model, class_names, checkpoint["manifest_hash"], checkpoint["epoch"])
