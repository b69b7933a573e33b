"""`shoekit reproduce`: the paper's experiment grid on one dataset folder.

    Table 1  five attention variants, FC features, no label smoothing (one run per seed)
    Table 2  the dual_pool run's heads fc / avg / maxavg / max (no retraining)
    Table 3  dual_pool, layer4+max, label smoothing eps in {0, 0.12, 0.13, 0.14, 0.15}

Runs live in OUT/runs/NAME; a run whose checkpoint and evaluation are complete is skipped and a
partly trained one resumes, so the grid continues after a kill. Writes OUT/table1.csv,
table2.csv, table3.csv, summary.md (ours beside the paper's numbers) and reproduce.json
(command, scale, seeds, durations, machine).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from shoekit import paper
from shoekit.config import TrainConfig
from shoekit.runs import CHECKPOINT_FILE, CONFIG_FILE, load_checkpoint, read_metrics, write_json, write_text

log = logging.getLogger(__name__)

ATTENTIONS = ("none", "se", "cbam", "eca", "dual_pool")
TABLE2_HEADS = ("fc", "avg", "maxavg", "max")
EPSILONS = (0.0, 0.12, 0.13, 0.14, 0.15)

# Training settings per scale; the dataset's size is the user's choice (make-dataset --scale).
SCALES: dict[str, dict] = {
    "smoke": dict(epochs=1, image_size=64, batch_size=16, warmup_steps=2, lr=1e-3),
    "cpu": dict(epochs=12, image_size=120, batch_size=64, warmup_steps=200, lr=3.5e-4),
    "paper": dict(epochs=60, image_size=120, batch_size=64, warmup_steps=500, lr=3.5e-4),
}


@dataclass(frozen=True)
class PlannedRun:
    """One training run of the grid."""

    name: str
    attention: str
    epsilon: float
    seed: int


def plan_grid(seeds: tuple[int, ...]) -> list[PlannedRun]:
    """Table 1 runs for every seed, then the Table 3 epsilons (first seed) not already there."""
    runs = [PlannedRun(f"{a}-eps0-seed{s}", a, 0.0, s) for s in seeds for a in ATTENTIONS]
    runs += [PlannedRun(f"dual_pool-eps{e:g}-seed{seeds[0]}", "dual_pool", e, seeds[0])
             for e in EPSILONS if e > 0]
    return runs


def is_complete(run_dir: Path) -> bool:
    if not (run_dir / CHECKPOINT_FILE).is_file():
        return False
    finished = load_checkpoint(run_dir / CHECKPOINT_FILE)["epoch"] >= TrainConfig.load(run_dir / CONFIG_FILE).epochs
    return finished and set(TABLE2_HEADS) <= set(read_metrics(run_dir).get("eval", {}))


def ensure_run(planned: PlannedRun, data: Path, scale: str, runs_dir: Path, progress: bool,
               overrides: dict) -> None:
    """Train + evaluate one run unless it is complete."""
    from shoekit.evaluate import evaluate_run
    from shoekit.train import train

    run_dir = runs_dir / planned.name
    if is_complete(run_dir):
        return
    config = TrainConfig(data=str(data), attention=planned.attention, label_smoothing=planned.epsilon,
                         seed=planned.seed, **{**SCALES[scale], **overrides})
    resume = (run_dir / CHECKPOINT_FILE).is_file()
    train(config, run_dir, resume=resume, progress=progress)
    evaluate_run(run_dir, progress=progress)


def metrics_row(run_dir: Path, head: str) -> dict:
    values = read_metrics(run_dir)["eval"][head]
    return {"rank1": 100 * values["rank1"], "rank5": 100 * values["rank5"],
            "rank10": 100 * values["rank10"], "mAP": 100 * values["mAP"]}


def build_tables(runs_dir: Path, seeds: tuple[int, ...]) -> dict[str, pd.DataFrame]:
    """The three tables from the finished run folders (ours in %, the paper's beside)."""
    table1 = []
    for attention in ATTENTIONS:
        rows = [metrics_row(runs_dir / f"{attention}-eps0-seed{s}", "fc") for s in seeds]
        frame = pd.DataFrame(rows)
        table1.append({"attention": attention, "seeds": len(rows),
                       **{k: frame[k].mean() for k in frame}, "rank1_spread": frame["rank1"].max() - frame["rank1"].min(),
                       "mAP_spread": frame["mAP"].max() - frame["mAP"].min(),
                       "paper_rank1": paper.TABLE1[attention]["rank1"], "paper_mAP": paper.TABLE1[attention]["mAP"]})
    dual = runs_dir / f"dual_pool-eps0-seed{seeds[0]}"
    table2 = [{"head": head, **metrics_row(dual, head), "paper_rank1": paper.TABLE2[head]["rank1"],
               "paper_mAP": paper.TABLE2[head]["mAP"]} for head in TABLE2_HEADS]
    table3 = []
    for epsilon in EPSILONS:
        reported = paper.TABLE3.get(epsilon, {})
        table3.append({"epsilon": epsilon, **metrics_row(runs_dir / f"dual_pool-eps{epsilon:g}-seed{seeds[0]}", "max"),
                       "paper_rank1": reported.get("rank1"), "paper_mAP": reported.get("mAP")})
    return {name: pd.DataFrame(rows).round(2) for name, rows in
            (("table1", table1), ("table2", table2), ("table3", table3))}


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table; empty cells for missing values."""
    cells = frame.astype(object).where(frame.notna(), "")
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in cells.itertuples(index=False)]
    return "\n".join(lines)


def summary_markdown(tables: dict[str, pd.DataFrame], scale: str, seeds: tuple[int, ...], data: Path) -> str:
    parts = [f"# Reproduction at scale `{scale}`", "",
             f"Dataset: `{data}`; seeds {list(seeds)} (Table 1 averages them; spread = max − min). "
             f"Ours in %, measured; `paper_*` columns are the paper's numbers on its private data, "
             "for reference only.", ""]
    titles = {"table1": "Table 1: attention variants, FC features",
              "table2": "Table 2: feature heads of the dual_pool model",
              "table3": "Table 3: label smoothing (dual_pool, layer4+max)"}
    for name, frame in tables.items():
        parts += [f"## {titles[name]}", "", markdown_table(frame), ""]
    return "\n".join(parts)


def reproduce(data: str | Path, out: str | Path, scale: str = "cpu", seeds: tuple[int, ...] = (0,),
              progress: bool = True, overrides: dict | None = None,
              command: str | None = None) -> dict[str, pd.DataFrame]:
    """Run (or continue) the grid and write the tables; returns them. `command` is recorded."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    data, out = Path(data), Path(out)
    runs_dir = out / "runs"
    planned = plan_grid(tuple(seeds))
    bar = tqdm(planned, desc="reproduce", unit="run", disable=not progress)
    for run in bar:
        bar.set_postfix_str(run.name)
        ensure_run(run, data, scale, runs_dir, progress, overrides or {})
    tables = build_tables(runs_dir, tuple(seeds))
    for name, frame in tables.items():
        write_text(out / f"{name}.csv", frame.to_csv(index=False))
    write_text(out / "summary.md", summary_markdown(tables, scale, tuple(seeds), data))
    write_json(out / "reproduce.json", {
        "command": command,
        "scale": scale, "seeds": list(seeds), "data": str(data), "training": {**SCALES[scale], **(overrides or {})},
        "train_seconds": {run.name: round(read_metrics(runs_dir / run.name)["train"]["train_seconds"], 1)
                          for run in planned},
        "machine": {"platform": platform.platform(),
                                                         "processor": platform.processor(), "cpus": os.cpu_count()},
        "runs": [dataclasses.asdict(run) for run in planned],
    })
    return tables
