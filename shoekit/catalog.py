"""Find the run folders under a root and summarise them, without loading any model.

A run folder is a directory holding `config.json` or `checkpoint.pt` (see `shoekit.runs`).
`discover_runs(root)` returns the usable ones (trained, evaluated on at least one head, written
by this shoekit version) and names every other one with the reason it was skipped and the fix,
so an interface can list them instead of failing on the first bad folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from shoekit.config import TrainConfig
from shoekit.errors import CheckpointError
from shoekit.models.heads import HEADS
from shoekit.runs import CHECKPOINT_FILE, CONFIG_FILE, EVAL_DIR, FORMAT_VERSION, LOG_FILE

EVAL_FILES: tuple[str, ...] = ("metrics.json", "cmc.csv", "rankings.npz", "features.npz")
RANKING_ARRAYS: tuple[str, ...] = ("query_rows", "gallery_rows", "top_indices", "top_distances", "ap")
FEATURE_ARRAYS: tuple[str, ...] = ("query", "gallery", "query_rows", "gallery_rows")
MAX_DEPTH = 3


@dataclass(frozen=True)
class RunSummary:
    """A usable run folder: its config, evaluated heads and their metrics (no model loaded).

    `name`: the folder relative to the catalog root (POSIX style); `heads`: evaluated heads in
    HEADS order (post-processed evaluations such as RUN/eval/max+qe5+rr are left out: their
    distances are not plain feature distances); `metrics[head]`: RUN/eval/HEAD/metrics.json
    (rank1/5/10, mAP as fractions, manifest_hash, data, metric, ...); `epochs_trained`: rows of
    train_log.csv.
    """

    path: Path
    name: str
    config: TrainConfig
    heads: tuple[str, ...]
    metrics: dict[str, dict]
    epochs_trained: int

    @property
    def data(self) -> Path:
        """The dataset folder the run was evaluated on (its first head's), else trained on."""
        evaluated = self.metrics[self.heads[0]].get("data") if self.heads else None
        return Path(evaluated or self.config.data)

    @property
    def manifest_hash(self) -> str:
        """sha256 of the evaluated dataset's manifest.csv, as the evaluation recorded it."""
        return str(self.metrics[self.heads[0]].get("manifest_hash", "")) if self.heads else ""

    @property
    def label(self) -> str:
        """A short human description: `name (attention, ε=…, N epochs)`."""
        smoothing = f", ε={self.config.label_smoothing:g}" if self.config.label_smoothing else ""
        return f"{self.name} ({self.config.attention}{smoothing}, {self.epochs_trained} epochs)"


@dataclass(frozen=True)
class SkippedRun:
    """A folder that looks like a run but cannot be shown, and why (with the fix)."""

    path: Path
    reason: str


@dataclass
class RunCatalog:
    """The runs found under `root`, sorted by name, and the folders skipped."""

    root: Path
    runs: list[RunSummary] = field(default_factory=list)
    skipped: list[SkippedRun] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [run.name for run in self.runs]

    def get(self, name: str) -> RunSummary:
        """The run called `name`; KeyError listing the known names."""
        for run in self.runs:
            if run.name == name:
                return run
        raise KeyError(f"no run {name!r} under {self.root}; known: {', '.join(self.names) or 'none'}")


def is_run_folder(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file() or (path / CHECKPOINT_FILE).is_file()


def candidate_folders(root: Path, depth: int = MAX_DEPTH) -> list[Path]:
    """Run folders under `root` (root itself included), not looking inside a run folder."""
    if is_run_folder(root):
        return [root]
    if depth == 0:
        return []
    found = []
    for child in sorted(root.iterdir()):
        if child.is_dir() and not child.name.startswith("."):
            found += candidate_folders(child, depth - 1)
    return found


def discover_runs(root: str | Path) -> RunCatalog:
    """Every run folder under `root` (up to MAX_DEPTH levels down), summarised or skipped.

    A missing root gives an empty catalog. Skipped: no config or checkpoint, a config or
    checkpoint from another shoekit version, no evaluated head, an evaluation with files
    missing or from another version.
    """
    root = Path(root)
    catalog = RunCatalog(root=root)
    if not root.is_dir():
        return catalog
    for folder in candidate_folders(root):
        name = folder.relative_to(root).as_posix() if folder != root else folder.name
        try:
            catalog.runs.append(summarise_run(folder, name))
        except CheckpointError as error:
            catalog.skipped.append(SkippedRun(folder, str(error)))
    return catalog


def summarise_run(folder: Path, name: str) -> RunSummary:
    """A RunSummary of one run folder; CheckpointError saying why it is unusable and the fix."""
    if not (folder / CONFIG_FILE).is_file():
        raise CheckpointError(f"{folder}: no {CONFIG_FILE}; the run was not started with shoekit train "
                              "(or its files were deleted): train it again")
    config = TrainConfig.load(folder / CONFIG_FILE)
    check_checkpoint_version(folder / CHECKPOINT_FILE)
    heads = tuple(head for head in HEADS if (folder / EVAL_DIR / head).is_dir())
    if not heads:
        raise CheckpointError(f"{folder}: trained but not evaluated; run `shoekit evaluate {folder}`")
    metrics = {head: read_head_metrics(folder, head) for head in heads}
    for head in heads:
        check_eval_arrays(folder / EVAL_DIR / head / "rankings.npz", RANKING_ARRAYS, folder, head)
        check_eval_arrays(folder / EVAL_DIR / head / "features.npz", FEATURE_ARRAYS, folder, head)
    return RunSummary(path=folder, name=name, config=config, heads=heads, metrics=metrics,
                      epochs_trained=count_epochs(folder / LOG_FILE))


def check_checkpoint_version(path: Path) -> None:
    """CheckpointError unless `path` is a checkpoint of this format version.

    Loaded memory-mapped, so only the small non-tensor entries are actually read.
    """
    import torch

    if not path.is_file():
        raise CheckpointError(f"{path.parent}: no {CHECKPOINT_FILE}; the run has not finished an epoch: "
                              f"resume it with `shoekit train --resume {path.parent}`")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # truncated file, unsafe pickle, not a zip checkpoint
        raise CheckpointError(f"{path}: unreadable checkpoint ({error}); retrain the run") from error
    version = payload.get("format_version") if isinstance(payload, dict) else None
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint from another shoekit version (format {version}, "
                              f"expected {FORMAT_VERSION}); retrain the run with this version")


def read_head_metrics(folder: Path, head: str) -> dict:
    """RUN/eval/HEAD/metrics.json; CheckpointError when a file of the head is missing or corrupt."""
    head_dir = folder / EVAL_DIR / head
    missing = [name for name in EVAL_FILES if not (head_dir / name).is_file()]
    if missing:
        raise CheckpointError(f"{head_dir}: {', '.join(missing)} missing (evaluation interrupted or "
                              f"from an older shoekit); run `shoekit evaluate {folder} --head {head}`")
    try:
        metrics = json.loads((head_dir / "metrics.json").read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{head_dir / 'metrics.json'}: corrupt ({error}); run "
                              f"`shoekit evaluate {folder} --head {head}`") from error
    absent = [key for key in ("rank1", "rank5", "rank10", "mAP") if key not in metrics]
    if absent:
        raise CheckpointError(f"{head_dir / 'metrics.json'}: no {', '.join(absent)} (written by another "
                              f"shoekit version); run `shoekit evaluate {folder} --head {head}`")
    return metrics


def check_eval_arrays(path: Path, names: tuple[str, ...], folder: Path, head: str) -> None:
    """CheckpointError when the .npz at `path` is unreadable or lacks one of `names`."""
    try:
        with np.load(path) as arrays:
            absent = [name for name in names if name not in arrays.files]
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{path}: unreadable ({error}); run `shoekit evaluate {folder} "
                              f"--head {head}`") from error
    if absent:
        raise CheckpointError(f"{path}: no {', '.join(absent)} (written by another shoekit version); "
                              f"run `shoekit evaluate {folder} --head {head}`")


def count_epochs(log_path: Path) -> int:
    """Number of epoch rows in train_log.csv (0 when it is missing or empty)."""
    try:
        return len(pd.read_csv(log_path))
    except (OSError, pd.errors.EmptyDataError, pd.errors.ParserError):
        return 0

