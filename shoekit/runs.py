"""Run folders: every file one training run and its evaluations leave on disk, written and read here.

    RUN/config.json       the resolved TrainConfig
    RUN/train_log.csv     one row per epoch: loss, accuracy, images/s, lr, seconds
    RUN/checkpoint.pt     model + optimizer + scheduler + epoch, written atomically each epoch
    RUN/snapshots/        minute_MMM.pt: weights after MMM training minutes (--snapshot-minutes)
    RUN/metrics.json      {"train": {...}, "eval": {name: {...}}}
    RUN/eval/metrics.csv  one row per evaluation (column `head`: its NAME)
    RUN/eval/NAME/        one evaluation; NAME is a head (max), or a head with post-processing
                          (max+qe5+rr, see `shoekit.evaluate.eval_name`):
        metrics.json      rank1/5/10, mAP (fractions), query counts, metric, precision,
                          manifest_hash, data, ranking settings (written last: the folder is
                          complete once it is there)
        cmc.csv           rank, cmc
        rankings.npz      `Rankings`: query_rows (Q,), gallery_rows (G,) manifest rows,
                          top_indices (Q, K) into gallery_rows (-1 where an approximate index
                          found fewer than K), top_distances (Q, K), ap (Q,) (NaN: no positive)
        features.npz      `SavedFeatures`: query (Q, D), gallery (G, D) L2-normalised float32
                          (the queries as ranked), with their manifest rows
    RUN/explain/          `shoekit explain --measure`: measures.csv, measures.md, measures_crops.csv
                          (their columns: `shoekit.explain.measurement`)
    RUN/export/HEAD.onnx  `shoekit export`'s feature extractor (its metadata: `shoekit.export`)

Every file is written atomically (temp file + rename: a kill never leaves half a file).
`FORMAT_VERSION` is the folder's format, recorded in every checkpoint and snapshot; a checkpoint
of another version is refused with the fix. Files of a folder a reader cannot use raise a
CheckpointError naming the file and the command that rewrites it; folders written by earlier
shoekit versions of this format read as before.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import tempfile
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from shoekit.config import TrainConfig
from shoekit.errors import CheckpointError
from shoekit.models import AttentionResNet50, build_model

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.pt"
LOG_FILE = "train_log.csv"
METRICS_FILE = "metrics.json"
SNAPSHOT_DIR = "snapshots"
EVAL_DIR = "eval"
EVAL_TABLE_FILE = "metrics.csv"      # in RUN/eval/
CMC_FILE = "cmc.csv"                 # in RUN/eval/NAME/, as are the three below
RANKINGS_FILE = "rankings.npz"
FEATURES_FILE = "features.npz"
EVAL_FILES: tuple[str, ...] = (METRICS_FILE, CMC_FILE, RANKINGS_FILE, FEATURES_FILE)
MEASURE_DIR = "explain"              # RUN/explain/: the explanation measures
EXPORT_DIR = "export"                # RUN/export/: ONNX exports
HEAD_METRICS: tuple[str, ...] = ("rank1", "rank5", "rank10", "mAP")  # every evaluation's metrics.json has them


# ---- writing atomically ------------------------------------------------------------------------

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


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    """An uncompressed .npz of `arrays`, atomically."""
    def write(tmp: Path) -> None:
        with tmp.open("wb") as handle:
            np.savez(handle, **arrays)

    atomic_write(Path(path), write)


# ---- config, training log, checkpoints ---------------------------------------------------------

def write_config(run_dir: Path, config: TrainConfig) -> None:
    """RUN/config.json (creating the folder)."""
    write_text(Path(run_dir) / CONFIG_FILE, config.to_json() + "\n")


def read_config(run_dir: Path) -> TrainConfig:
    """RUN/config.json, its `data` found from here (`dataset_folder`); CheckpointError when it is
    missing, unreadable or from another version."""
    config = TrainConfig.load(Path(run_dir) / CONFIG_FILE)
    config.data = dataset_folder(run_dir, config.data)
    return config


def dataset_folder(run_dir: Path, recorded: str) -> str:
    """The dataset folder a run recorded (config.json's `data`, an evaluation's `data`), found from
    the working directory: the path as recorded when it exists there or is absolute; else, for a
    relative path, the nearest folder above the run where `recorded/manifest.csv` exists (the
    folder the run was made from: a demo trained on `demo/data`, opened from elsewhere). The
    recorded path unchanged when neither holds, so the error that follows names it."""
    path = Path(recorded)
    if not recorded or path.is_absolute() or path.exists():
        return recorded
    for folder in Path(run_dir).resolve().parents:
        if (folder / path / "manifest.csv").is_file():
            return str(folder / path)
    return recorded


def write_train_log(run_dir: Path, history: list[dict]) -> None:
    """RUN/train_log.csv from the checkpoint's history, one row per epoch (so the two never disagree)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    write_text(Path(run_dir) / LOG_FILE, buffer.getvalue())


def read_train_log(run_dir: Path) -> pd.DataFrame:
    """RUN/train_log.csv, one row per finished epoch (the columns `write_train_log` wrote)."""
    return pd.read_csv(Path(run_dir) / LOG_FILE)


def count_epochs(run_dir: Path) -> int:
    """Number of epoch rows in RUN/train_log.csv (0 when it is missing or empty)."""
    try:
        return len(read_train_log(run_dir))
    except (OSError, pd.errors.EmptyDataError, pd.errors.ParserError):
        return 0


def save_checkpoint(path: Path, payload: dict) -> None:
    """`payload` stamped with FORMAT_VERSION, saved atomically (checkpoint.pt or a snapshot)."""
    atomic_write(Path(path), lambda tmp: torch.save({"format_version": FORMAT_VERSION, **payload}, tmp))


def snapshot_path(run_dir: Path, minute: int) -> Path:
    """RUN/snapshots/minute_MMM.pt: the weights after `minute` training minutes."""
    return Path(run_dir) / SNAPSHOT_DIR / f"minute_{minute:03d}.pt"


def check_format(path: Path, payload: object) -> None:
    """CheckpointError unless `payload` (a loaded checkpoint) is of FORMAT_VERSION."""
    version = payload.get("format_version") if isinstance(payload, dict) else "?"
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint from another shoekit version (format {version}, "
                              f"expected {FORMAT_VERSION}); retrain the run with this version")


def load_checkpoint(path: Path, mmap: bool = False) -> dict:
    """A checkpoint dict of this format version, loaded with `weights_only=True`.

    `mmap`: map the tensors instead of reading them (only the small non-tensor entries are
    read until a tensor is used): a cheap check of a checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint; train the run first (shoekit train)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as error:  # corrupt file, pickle of unsafe types
        raise CheckpointError(f"{path}: unreadable checkpoint ({error}); retrain the run") from error
    check_format(path, payload)
    return payload


# ---- RUN/metrics.json --------------------------------------------------------------------------

def read_metrics(run_dir: Path) -> dict:
    """RUN/metrics.json ({} when there is none yet)."""
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


# ---- RUN/eval/NAME/ ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Rankings:
    """RUN/eval/NAME/rankings.npz: query_rows `(Q,)` and gallery_rows `(G,)` manifest rows;
    top_indices `(Q, K)` int positions into gallery_rows, best first (-1: fewer than K found);
    top_distances `(Q, K)` float; ap `(Q,)` (NaN: no positive in the gallery)."""

    query_rows: np.ndarray
    gallery_rows: np.ndarray
    top_indices: np.ndarray
    top_distances: np.ndarray
    ap: np.ndarray


@dataclass(frozen=True)
class SavedFeatures:
    """RUN/eval/NAME/features.npz: query `(Q, D)` and gallery `(G, D)` L2-normalised float32
    features (the queries as ranked), with their manifest rows `(Q,)`, `(G,)`."""

    query: np.ndarray
    gallery: np.ndarray
    query_rows: np.ndarray
    gallery_rows: np.ndarray


def eval_dir(run_dir: Path, name: str) -> Path:
    """RUN/eval/NAME."""
    return Path(run_dir) / EVAL_DIR / name


def evaluate_hint(run_dir: Path, name: str) -> str:
    """The command that (re)writes evaluation `name` of `run_dir`."""
    return f"run `shoekit evaluate {run_dir} --head {name}`"


def write_evaluation(run_dir: Path, name: str, metrics: dict, cmc: np.ndarray, rankings: Rankings,
                     features: SavedFeatures) -> None:
    """Write RUN/eval/NAME/: rankings.npz, features.npz, cmc.csv (`cmc` `(R,)` fractions, rank 1..R),
    then metrics.json last, so a folder with metrics.json and every other file is complete."""
    folder = eval_dir(run_dir, name)
    folder.mkdir(parents=True, exist_ok=True)
    write_npz(folder / RANKINGS_FILE, **{field.name: value for field, value in zip(fields(Rankings), astuple(rankings))})
    write_npz(folder / FEATURES_FILE, **{field.name: value
                                         for field, value in zip(fields(SavedFeatures), astuple(features))})
    cmc_table = pd.DataFrame({"rank": np.arange(1, len(cmc) + 1), "cmc": cmc})
    write_text(folder / CMC_FILE, cmc_table.to_csv(index=False))
    write_json(folder / METRICS_FILE, metrics)


def eval_file(run_dir: Path, name: str, file: str) -> Path:
    """RUN/eval/NAME/file; CheckpointError telling the user to evaluate when it is missing."""
    path = eval_dir(run_dir, name) / file
    if not path.is_file():
        raise CheckpointError(f"{path}: missing; run `shoekit evaluate {run_dir} --head {name}` first")
    return path


def missing_eval_files(run_dir: Path, name: str) -> list[str]:
    """Which of EVAL_FILES RUN/eval/NAME lacks (none: the evaluation is complete)."""
    return [file for file in EVAL_FILES if not (eval_dir(run_dir, name) / file).is_file()]


def read_npz(path: Path, arrays: tuple[str, ...], run_dir: Path, name: str) -> dict[str, np.ndarray]:
    """The `arrays` of the .npz at `path`; CheckpointError when it is unreadable or lacks one."""
    try:
        with np.load(path) as saved:
            absent = [array for array in arrays if array not in saved.files]
            values = {array: saved[array] for array in arrays if array in saved.files}
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{path}: unreadable ({error}); {evaluate_hint(run_dir, name)}") from error
    if absent:
        raise CheckpointError(f"{path}: no {', '.join(absent)} (written by another shoekit version); "
                              f"{evaluate_hint(run_dir, name)}")
    return values


def read_rankings(run_dir: Path, name: str) -> Rankings:
    """RUN/eval/NAME/rankings.npz; CheckpointError when missing, unreadable or incomplete."""
    path = eval_file(run_dir, name, RANKINGS_FILE)
    return Rankings(**read_npz(path, tuple(field.name for field in fields(Rankings)), run_dir, name))


def read_features(run_dir: Path, name: str) -> SavedFeatures:
    """RUN/eval/NAME/features.npz; CheckpointError when missing, unreadable or incomplete."""
    path = eval_file(run_dir, name, FEATURES_FILE)
    return SavedFeatures(**read_npz(path, tuple(field.name for field in fields(SavedFeatures)), run_dir, name))


def read_eval_cmc(run_dir: Path, name: str) -> np.ndarray:
    """RUN/eval/NAME/cmc.csv as `(R,)` fractions, rank 1 first."""
    path = eval_file(run_dir, name, CMC_FILE)
    try:
        return pd.read_csv(path).sort_values("rank")["cmc"].to_numpy(dtype=float)
    except (ValueError, KeyError, pd.errors.ParserError) as error:
        raise CheckpointError(f"{path.parent}: unreadable evaluation files ({error}); "
                              f"re-run shoekit evaluate {run_dir}") from error


def parse_eval_metrics(path: Path, run_dir: Path, name: str) -> dict:
    try:
        metrics = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: corrupt ({error}); {evaluate_hint(run_dir, name)}") from error
    if not isinstance(metrics, dict):
        raise CheckpointError(f"{path}: not an evaluation's metrics (a JSON object); {evaluate_hint(run_dir, name)}")
    return metrics


def read_eval_metrics(run_dir: Path, name: str) -> dict:
    """RUN/eval/NAME/metrics.json (HEAD_METRICS as fractions, manifest_hash, data, metric, ...);
    CheckpointError when it is missing, corrupt, or lacks one of HEAD_METRICS."""
    path = eval_file(run_dir, name, METRICS_FILE)
    metrics = parse_eval_metrics(path, run_dir, name)
    absent = [key for key in HEAD_METRICS if key not in metrics]
    if absent:
        raise CheckpointError(f"{path}: no {', '.join(absent)} (written by another shoekit version); "
                              f"{evaluate_hint(run_dir, name)}")
    return metrics


def earlier_eval_metrics(run_dir: Path, name: str) -> dict | None:
    """RUN/eval/NAME/metrics.json as it stands, None when there is none yet (CheckpointError: corrupt)."""
    path = eval_dir(run_dir, name) / METRICS_FILE
    return parse_eval_metrics(path, run_dir, name) if path.is_file() else None


def check_evaluation(run_dir: Path, name: str) -> dict:
    """Every file of RUN/eval/NAME present and readable with the arrays this version reads;
    returns its metrics.json. CheckpointError naming the first problem and the fix."""
    missing = missing_eval_files(run_dir, name)
    if missing:
        raise CheckpointError(f"{eval_dir(run_dir, name)}: {', '.join(missing)} missing (evaluation interrupted "
                              f"or from an older shoekit); {evaluate_hint(run_dir, name)}")
    metrics = read_eval_metrics(run_dir, name)
    read_rankings(run_dir, name)
    read_features(run_dir, name)
    return metrics


def write_eval_table(run_dir: Path, results: dict[str, dict]) -> None:
    """Merge `results` {NAME: metrics} into RUN/eval/metrics.csv: rows of the same name replaced in
    place, new ones appended."""
    path = Path(run_dir) / EVAL_DIR / EVAL_TABLE_FILE
    rows = {}
    if path.is_file():
        try:
            rows = {str(row["head"]): row for row in pd.read_csv(path).to_dict("records")}
        except (pd.errors.ParserError, pd.errors.EmptyDataError, KeyError):
            log.warning("%s: unreadable, rewritten with this evaluation only", path)
    rows.update({name: {"head": name, **summary} for name, summary in results.items()})
    write_text(path, pd.DataFrame(list(rows.values())).to_csv(index=False))


# ---- a trained run, loaded for inference -------------------------------------------------------

def load_weights(model: torch.nn.Module, state_dict: dict, source: Path) -> None:
    """Load a full state dict, turning a shape/name mismatch into a CheckpointError."""
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as error:
        first = str(error).splitlines()[0:3]
        raise CheckpointError(f"{source}: weights do not fit this model (another attention or number "
                              f"of classes?): {' '.join(first)}") from error


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
    config = read_config(run_dir)
    checkpoint = load_checkpoint(run_dir / CHECKPOINT_FILE)
    class_names = list(checkpoint["class_names"])
    model = build_model(config.attention, num_classes=len(class_names), last_stride=config.last_stride,
                        neck=config.neck, classifier=config.classifier, cos_scale=config.cos_scale)
    load_weights(model, checkpoint["model"], run_dir / CHECKPOINT_FILE)
    model.eval()
    return TrainedRun(run_dir, config, model, class_names, checkpoint["manifest_hash"], checkpoint["epoch"])
