"""Find the run folders under a root and summarise them, without loading any model.

A run folder is a directory holding `config.json` or `checkpoint.pt` (see `shoekit.runs`).
`discover_runs(root)` returns the usable ones (trained, evaluated on at least one head, written
by this shoekit version) and names every other one with the reason it was skipped and the fix,
so an interface can list them instead of failing on the first bad folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from shoekit.config import TrainConfig
from shoekit.errors import CheckpointError
from shoekit.models.heads import HEADS
from shoekit.runs import (CHECKPOINT_FILE, CONFIG_FILE, check_evaluation, count_epochs, dataset_folder, eval_dir,
                          load_checkpoint, read_config)

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
        return Path(dataset_folder(self.path, evaluated or self.config.data))

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
    """A RunSummary of one run folder; CheckpointError saying why it is unusable and the fix.

    The checkpoint is loaded memory-mapped, so only its small non-tensor entries are read."""
    if not (folder / CONFIG_FILE).is_file():
        raise CheckpointError(f"{folder}: no {CONFIG_FILE}; the run was not started with shoekit train "
                              "(or its files were deleted): train it again")
    config = read_config(folder)
    if not (folder / CHECKPOINT_FILE).is_file():
        raise CheckpointError(f"{folder}: no {CHECKPOINT_FILE}; the run has not finished an epoch: "
                              f"resume it with `shoekit train --resume {folder}`")
    load_checkpoint(folder / CHECKPOINT_FILE, mmap=True)
    heads = tuple(head for head in HEADS if eval_dir(folder, head).is_dir())
    if not heads:
        raise CheckpointError(f"{folder}: trained but not evaluated; run `shoekit evaluate {folder}`")
    metrics = {head: check_evaluation(folder, head) for head in heads}
    return RunSummary(path=folder, name=name, config=config, heads=heads, metrics=metrics,
                      epochs_trained=count_epochs(folder))
