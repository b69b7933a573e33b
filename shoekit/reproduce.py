"""`shoekit reproduce`: the paper's experiment grid on one dataset folder.

    Table 1  five attention variants, FC features, no label smoothing (one run per seed; the seeds
             after the first may train only some variants: `repeat_attentions`)
    Table 2  the dual_pool run's heads fc / avg / maxavg / max (no retraining)
    Table 3  dual_pool, layer4+max, label smoothing eps in {0, 0.12, 0.13, 0.14, 0.15} (one run per
             seed; the seeds after the first may train only some epsilons: `repeat_epsilons`)
    Fig. 9   as numbers: the Grad-CAM of each Table 1 run measured against the shoe masks
             (`shoekit explain --measure`, max features, the layer `explain.options.default_layer`
             picks for the run's input size: layer4.2 from 96 px, layer3.5 at 64 px), where the
             dataset has masks

Runs live in OUT/runs/NAME; a run whose checkpoint and evaluation are complete is skipped and a
partly trained one resumes, so the grid continues after a kill. Writes OUT/table1.csv,
table2.csv, table3.csv, summary.md (ours beside the paper's numbers), reproduce.json
(command, scale, seeds, durations, machine), train_logs.csv (every run's learning curve) and
differences.csv (each table's paper pick minus every other row, mAP points, with a 95% paired
bootstrap interval over queries), seed_differences.csv (Tables 1 and 3 where rows have two or
more seeds: the same difference averaged over seeds, with intervals over seeds and over queries),
fig9.csv, and the per-run files that let notebooks draw the figures without the run folders
(`shoekit.results_folder`: curves.csv, query_ap.csv, scores.csv, thresholds.csv).
"""

from __future__ import annotations

import logging
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from shoekit import paper
from shoekit.choices import EPSILONS
from shoekit.config import FAST_TRAINING, TrainConfig
from shoekit.metrics import paired_bootstrap, seed_interval
from shoekit.models import ATTENTIONS as MODEL_ATTENTIONS
from shoekit.results_folder import write_run_files
from shoekit.runs import (CHECKPOINT_FILE, CONFIG_FILE, read_config, read_metrics, read_rankings,
                          read_train_log, write_json, write_text)

log = logging.getLogger(__name__)

ATTENTIONS = tuple(MODEL_ATTENTIONS)  # the paper's order: none, se, cbam, eca, dual_pool
TABLE2_HEADS = ("fc", "avg", "maxavg", "max")

# Training settings per scale, the fast training recipe (config.FAST_TRAINING: fresh renders
# where the dataset records its cut-outs, zero-initialised residual branches, 64 px); the paper's
# choices (attention, head, epsilon) stay the variables of each table. `cpu` holds 10 training
# identities out for validation (train_log.csv's val_mAP): the tables' verdicts are read from
# them. The dataset's size is the user's choice (make-dataset --scale). results/cpu-fixed-crops
# and results/gpu were measured with the settings before the fast recipe: cpu 8 epochs at 96 px,
# paper 60 epochs at 120 px, Adam 3.5e-4, fixed crops.
SCALES: dict[str, dict] = {
    "smoke": dict(epochs=1, image_size=64, batch_size=16, warmup_steps=2, lr=1e-3),
    "cpu": {**FAST_TRAINING, "epochs": 24, "val_identities": 10},
    "paper": {**FAST_TRAINING, "epochs": 60, "image_size": 120, "batch_size": 64, "warmup_steps": 500,
              "train_sizes": [64, 96, 120]},
}


@dataclass(frozen=True)
class PlannedRun:
    """One training run of the grid."""

    name: str
    attention: str
    epsilon: float
    seed: int


TABLES = ("table1", "table2", "table3")
LOCK_FILE = ".lock"


def plan_grid(seeds: tuple[int, ...], tables: tuple[str, ...] = TABLES,
              repeat_attentions: tuple[str, ...] = ATTENTIONS,
              repeat_epsilons: tuple[float, ...] = EPSILONS) -> list[PlannedRun]:
    """The runs `tables` need, each once: Table 1's five variants for the first seed and the
    `repeat_attentions` for every further seed (Table 2 reads the first seed's dual_pool run),
    Table 3's five dual_pool epsilons for the first seed and the `repeat_epsilons` for every
    further seed (its epsilon 0 is Table 1's dual_pool run)."""
    unknown = set(tables) - set(TABLES)
    if unknown:
        raise ValueError(f"unknown tables {sorted(unknown)}; choose from {', '.join(TABLES)}")
    if set(repeat_attentions) - set(ATTENTIONS):
        raise ValueError(f"unknown attentions {sorted(set(repeat_attentions) - set(ATTENTIONS))}; "
                         f"choose from {', '.join(ATTENTIONS)}")
    if set(repeat_epsilons) - set(EPSILONS):
        raise ValueError(f"unknown epsilons {sorted(set(repeat_epsilons) - set(EPSILONS))}; "
                         f"choose from {', '.join(f'{e:g}' for e in EPSILONS)}")
    runs = []
    if tables != ("table3",):  # dual_pool without smoothing first: Tables 1 and 2 both need it
        runs.append(PlannedRun(run_name("dual_pool", 0.0, seeds[0]), "dual_pool", 0.0, seeds[0]))
    if "table1" in tables:
        runs += [PlannedRun(run_name(a, 0.0, s), a, 0.0, s) for s in seeds for a in ATTENTIONS
                 if s == seeds[0] or a in repeat_attentions]
    if "table3" in tables:
        runs += [PlannedRun(run_name("dual_pool", e, s), "dual_pool", e, s) for s in seeds for e in EPSILONS
                 if s == seeds[0] or e in repeat_epsilons]
    return list(dict.fromkeys(runs))


def is_complete(run_dir: Path) -> bool:
    """Trained to its last epoch (the train metrics a finished run writes) and evaluated on every head.

    Reads only config.json and metrics.json, so a run folder copied without its checkpoint counts too.
    """
    if not (run_dir / CONFIG_FILE).is_file():
        return False
    metrics = read_metrics(run_dir)
    finished = metrics.get("train", {}).get("epochs", -1) >= read_config(run_dir).epochs
    return finished and set(TABLE2_HEADS) <= set(metrics.get("eval", {}))


def ensure_run(planned: PlannedRun, data: Path, scale: str, runs_dir: Path, progress: bool,
               overrides: dict) -> None:
    """Train + evaluate one grid run unless it is complete."""
    config = TrainConfig(data=str(data), attention=planned.attention, label_smoothing=planned.epsilon,
                         seed=planned.seed, **{**SCALES[scale], **overrides})
    ensure_trained(runs_dir / planned.name, config, progress)


def ensure_trained(run_dir: Path, config: TrainConfig, progress: bool) -> bool:
    """Train `config` into `run_dir` (resuming a partial run) and evaluate every head, unless done.

    Several `reproduce`/`ablate` processes may share a results folder: a run another live process
    is training (RUN/.lock holds its PID) is left to it. Returns whether the run is complete.
    """
    from shoekit.evaluate import evaluate_run
    from shoekit.train import train

    if is_complete(run_dir):
        return True
    if not claim(run_dir):
        log.info("%s is being trained by another process; leaving it to that one", run_dir.name)
        return False
    try:
        resume = (run_dir / CHECKPOINT_FILE).is_file()
        train(config, run_dir, resume=resume, progress=progress)
        evaluate_run(run_dir, progress=progress)
    finally:
        (run_dir / LOCK_FILE).unlink(missing_ok=True)
    return True


def claim(run_dir: Path) -> bool:
    """Create RUN/.lock with this PID; False when a live process holds it (a dead one's is taken over)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = run_dir / LOCK_FILE
    try:
        descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            holder = int(lock.read_text() or 0)
            os.kill(holder, 0)
            return holder == os.getpid()
        except (ValueError, ProcessLookupError, FileNotFoundError):
            lock.write_text(str(os.getpid()))
            return True
    with os.fdopen(descriptor, "w") as handle:
        handle.write(str(os.getpid()))
    return True


def metrics_row(run_dir: Path, head: str) -> dict:
    """Rank-1/5/10 and mAP (%) of one run's head; NaN while the run is unfinished."""
    if not is_complete(run_dir):
        return dict.fromkeys(("rank1", "rank5", "rank10", "mAP"), float("nan"))
    values = read_metrics(run_dir)["eval"][head]
    return {"rank1": 100 * values["rank1"], "rank5": 100 * values["rank5"],
            "rank10": 100 * values["rank10"], "mAP": 100 * values["mAP"]}


def validation_map(run_dir: Path, head: str | None = None) -> float:
    """The finished run's final mAP (%) on the training identities held out for validation, with
    `head`'s features (default: the head its training scored, `val_head`): the last epoch's
    (train_log) when training scored that head, else its final weights scored now on the same
    held-out identities. NaN without validation identities or while unfinished."""
    if not is_complete(run_dir):
        return float("nan")
    config = read_config(run_dir)
    if head is None or head == config.val_head or not config.val_identities:
        value = read_metrics(run_dir)["train"].get("final_val_mAP")
        return float("nan") if value is None else 100 * float(value)
    from shoekit.data.training_sets import validation_set
    from shoekit.precision import bf16_supported
    from shoekit.runs import load_run
    from shoekit.validation import score_validation

    run, cpu = load_run(run_dir), torch.device("cpu")
    scores = score_validation(run.model, validation_set(config), head, cpu, config.bf16 and bf16_supported(cpu))
    return 100 * scores["val_mAP"]


def mean_of_finite(values: list[float]) -> float:
    """The mean of the finite `values`; NaN when there are none."""
    finite = [value for value in values if np.isfinite(value)]
    return float(np.mean(finite)) if finite else float("nan")


def over_seeds_row(runs_dir: Path, attention: str, epsilon: float, head: str, seeds: tuple[int, ...]) -> dict:
    """One grid row averaged over the seeds whose run has finished: `seeds` (how many), Rank-1/5/10
    and mAP (%), val_mAP, and the spreads (max - min) of Rank-1 and mAP over those seeds."""
    frame = pd.DataFrame([metrics_row(runs_dir / run_name(attention, epsilon, s), head) for s in seeds])
    return {"seeds": int(frame["mAP"].notna().sum()), **frame.mean().to_dict(),
            "val_mAP": mean_of_finite([validation_map(runs_dir / run_name(attention, epsilon, s), head)
                                       for s in seeds]),
            "rank1_spread": frame["rank1"].max() - frame["rank1"].min(),
            "mAP_spread": frame["mAP"].max() - frame["mAP"].min()}


def build_tables(runs_dir: Path, seeds: tuple[int, ...], tables: tuple[str, ...] = TABLES
                 ) -> dict[str, pd.DataFrame]:
    """The requested tables from the finished run folders (ours in %, the paper's beside); Tables 1
    and 3 average each row over its finished seeds."""
    rows: dict[str, list[dict]] = {}
    if "table1" in tables:
        rows["table1"] = [{"attention": attention, **over_seeds_row(runs_dir, attention, 0.0, "fc", seeds),
                           "paper_rank1": paper.TABLE1[attention]["rank1"], "paper_mAP": paper.TABLE1[attention]["mAP"]}
                          for attention in ATTENTIONS]
    if "table2" in tables:
        dual = runs_dir / run_name("dual_pool", 0.0, seeds[0])
        rows["table2"] = [{"head": head, **metrics_row(dual, head), "paper_rank1": paper.TABLE2[head]["rank1"],
                           "paper_mAP": paper.TABLE2[head]["mAP"]} for head in TABLE2_HEADS]
    if "table3" in tables:
        rows["table3"] = [{"epsilon": epsilon, **over_seeds_row(runs_dir, "dual_pool", epsilon, "max", seeds),
                           "paper_rank1": paper.TABLE3.get(epsilon, {}).get("rank1"),
                           "paper_mAP": paper.TABLE3.get(epsilon, {}).get("mAP")} for epsilon in EPSILONS]
    return {name: pd.DataFrame(table).round(2) for name, table in rows.items()}


SEEDED_TABLES = ("table1", "table3")  # the tables whose rows are trained once per seed
# The paper's pick in each table, compared with every other row of that table (first seed).
PAPER_PICKS = {"table1": ("dual_pool", 0.0, "fc"), "table2": ("dual_pool", 0.0, "max"),
               "table3": ("dual_pool", 0.14, "max")}


def table_variants(table: str) -> list[tuple[str, float, str]]:
    """(attention, epsilon, head) of each row of `table`."""
    if table == "table1":
        return [(attention, 0.0, "fc") for attention in ATTENTIONS]
    if table == "table2":
        return [("dual_pool", 0.0, head) for head in TABLE2_HEADS]
    return [("dual_pool", epsilon, "max") for epsilon in EPSILONS]


def query_ap(run_dir: Path, head: str) -> np.ndarray:
    """`(Q,)` per-query AP of one evaluated head (NaN: no positive in the gallery)."""
    return read_rankings(run_dir, head).ap


def differences(runs_dir: Path, seed: int, tables: tuple[str, ...] = TABLES) -> pd.DataFrame:
    """mAP of each table's paper pick minus each other finished row, in points, with a 95% paired
    bootstrap interval over queries; `resolved` when the interval excludes 0."""
    rows = []
    for table in tables:
        pick = PAPER_PICKS[table]
        pick_dir = runs_dir / run_name(pick[0], pick[1], seed)
        for variant in table_variants(table):
            other_dir = runs_dir / run_name(variant[0], variant[1], seed)
            if variant == pick or not (is_complete(pick_dir) and is_complete(other_dir)):
                continue
            diff, low, high = paired_bootstrap(query_ap(pick_dir, pick[2]), query_ap(other_dir, variant[2]))
            rows.append({"table": table, "paper_pick": describe(pick), "other": describe(variant),
                         "mAP_diff": 100 * diff, "ci_low": 100 * low, "ci_high": 100 * high,
                         "resolved": bool(low > 0 or high < 0)})
    return pd.DataFrame(rows, columns=["table", "paper_pick", "other", "mAP_diff", "ci_low", "ci_high",
                                       "resolved"]).round(2)


def seed_differences(runs_dir: Path, seeds: tuple[int, ...], tables: tuple[str, ...] = ("table1", "table3")
                     ) -> pd.DataFrame:
    """Tables 1 and 3 over seeds: mAP of each table's paper pick minus each other row, in points,
    averaged over the seeds where both runs finished, with a 95% t interval over those seeds
    (seed-to-seed variation) and a 95% paired bootstrap interval over queries of the seed-averaged
    per-query AP; `resolved` when both intervals exclude 0. Rows need at least two common seeds."""
    rows = []
    for table, variant in [(t, v) for t in tables if t in SEEDED_TABLES for v in table_variants(t)]:
        pick = PAPER_PICKS[table]
        if variant == pick:
            continue
        pairs = [(runs_dir / run_name(pick[0], pick[1], s), runs_dir / run_name(variant[0], variant[1], s))
                 for s in seeds]
        pairs = [(a, b) for a, b in pairs if is_complete(a) and is_complete(b)]
        if len(pairs) < 2:
            continue
        ours = np.stack([query_ap(a, pick[2]) for a, _ in pairs])
        theirs = np.stack([query_ap(b, variant[2]) for _, b in pairs])
        diff, seed_low, seed_high = seed_interval(100 * (np.nanmean(ours, axis=1) - np.nanmean(theirs, axis=1)))
        _, query_low, query_high = paired_bootstrap(ours.mean(axis=0), theirs.mean(axis=0))
        rows.append({"table": table, "paper_pick": describe(pick), "other": describe(variant), "seeds": len(pairs),
                     "mAP_diff": diff, "seed_ci_low": seed_low, "seed_ci_high": seed_high,
                     "query_ci_low": 100 * query_low, "query_ci_high": 100 * query_high,
                     "resolved": bool(min(seed_low, 100 * query_low) > 0 or max(seed_high, 100 * query_high) < 0)})
    return pd.DataFrame(rows, columns=["table", "paper_pick", "other", "seeds", "mAP_diff", "seed_ci_low",
                                       "seed_ci_high", "query_ci_low", "query_ci_high", "resolved"]).round(2)


def describe(variant: tuple[str, float, str]) -> str:
    attention, epsilon, head = variant
    return f"{attention} eps={epsilon:g} {head}"


def run_name(attention: str, epsilon: float, seed: int) -> str:
    """The grid's name of the run of (attention, epsilon, seed), e.g. `dual_pool-eps0.14-seed0`:
    its folder under OUT/runs and its `run` in the results folder's per-run files."""
    return f"{attention}-eps{epsilon:g}-seed{seed}"


def run_dir_of(out: str | Path, attention: str = "dual_pool", epsilon: float = 0.0, seed: int = 0) -> Path:
    """Where the grid keeps the run of (attention, epsilon, seed)."""
    return Path(out) / "runs" / run_name(attention, epsilon, seed)


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table; empty cells for missing values."""
    cells = frame.astype(object).where(frame.notna(), "")
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in cells.itertuples(index=False)]
    return "\n".join(lines)


def summary_markdown(tables: dict[str, pd.DataFrame], scale: str, seeds: tuple[int, ...], data: Path,
                     diffs: pd.DataFrame | None = None, fig9: pd.DataFrame | None = None,
                     over_seeds: pd.DataFrame | None = None) -> str:
    parts = [f"# Reproduction at scale `{scale}`", "",
             f"Dataset: `{data}`; seeds {list(seeds)} (Tables 1 and 3 average them; spread = max − min). "
             f"Ours in %, measured; `paper_*` columns are the paper's numbers on its private data, "
             "for reference only. `val_mAP`: the final mAP on the training identities held out for "
             "validation, with the table's features (FC in Table 1, layer4+max in Table 3), what a choice "
             "between rows is made by; the test columns only report.", ""]
    titles = {"table1": "Table 1: attention variants, FC features",
              "table2": "Table 2: feature heads of the dual_pool model",
              "table3": "Table 3: label smoothing (dual_pool, layer4+max)"}
    for name, frame in tables.items():
        parts += [f"## {titles[name]}", "", markdown_table(frame), ""]
    if diffs is not None and len(diffs):
        parts += ["## The paper's pick against each other row (mAP points)", "",
                  f"Seed {seeds[0]}; 95% paired bootstrap interval over queries (`resolved`: it excludes 0). "
                  "It shows how much a difference depends on the queries drawn, not on the training seed.",
                  "", markdown_table(diffs), ""]
    if over_seeds is not None and len(over_seeds):
        parts += ["## Over seeds: the paper's pick against each other row (mAP points)", "",
                  "Mean over the seeds where both finished; `seed_ci`: 95% t interval over those seeds "
                  "(training variation); `query_ci`: 95% paired bootstrap over queries of the seed-averaged AP "
                  "(`resolved`: both exclude 0).", "", markdown_table(over_seeds), ""]
    if fig9 is not None and len(fig9):
        parts += ["## Fig. 9 as numbers: Grad-CAM against the shoe masks", "",
                  f"Seed {seeds[0]}, {FIG9_HEAD} features, Grad-CAM on `layer` (the deepest with at least 3 × 3 "
                  "cells at the run's input size), each test query and its top 5 matches both ways "
                  "(shoekit explain --measure). energy_ratio: the heatmap's share on the shoe over the shoe's "
                  "share of the crop (1 = a uniform map; interval: 95% bootstrap over crops); pointing: hottest "
                  "pixel on the shoe; deletion (lower) / insertion (higher): faithfulness to the similarity; "
                  "sanity_spearman: correlation with the same network's maps at random weights (lower is better).",
                  "", markdown_table(fig9), ""]
    return "\n".join(parts)


def reproduce(data: str | Path, out: str | Path, scale: str = "cpu", seeds: tuple[int, ...] = (0,),
              progress: bool = True, overrides: dict | None = None, command: str | None = None,
              tables: tuple[str, ...] = TABLES, train: bool = True,
              repeat_attentions: tuple[str, ...] = ATTENTIONS,
              repeat_epsilons: tuple[float, ...] = EPSILONS) -> dict[str, pd.DataFrame]:
    """Run (or continue) the runs `tables` need, write those tables and the summary; returns them.

    The seeds after the first train only Table 1's `repeat_attentions` and Table 3's
    `repeat_epsilons` (the paper's pick and its rivals when machine time is short). `command` is
    recorded in reproduce.json. The summary lists every table CSV present in `out`.
    `train=False` writes the tables from the runs that have finished and trains nothing.
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    data, out, seeds = Path(data), Path(out), tuple(seeds)
    runs_dir = out / "runs"
    planned = plan_grid(seeds, tables, tuple(repeat_attentions), tuple(repeat_epsilons))
    bar = tqdm(planned if train else [], desc="reproduce", unit="run", disable=not progress)
    for run in bar:
        bar.set_postfix_str(run.name)
        ensure_run(run, data, scale, runs_dir, progress, overrides or {})
    unfinished = [run.name for run in planned if not is_complete(runs_dir / run.name)]
    if unfinished:
        log.warning("unfinished runs (their rows are empty; run the command again): %s", ", ".join(unfinished))
    built = build_tables(runs_dir, seeds, tables)
    for name, frame in built.items():
        write_text(out / f"{name}.csv", frame.to_csv(index=False))
    on_disk = {name: pd.read_csv(out / f"{name}.csv") for name in TABLES if (out / f"{name}.csv").is_file()}
    diffs = differences(runs_dir, seeds[0], tuple(on_disk))
    write_text(out / "differences.csv", diffs.to_csv(index=False))
    over_seeds = seed_differences(runs_dir, seeds, tuple(on_disk))
    if len(over_seeds):
        write_text(out / "seed_differences.csv", over_seeds.to_csv(index=False))
    fig9 = fig9_table(runs_dir, seeds[0], measure=train, progress=progress) if "table1" in tables else None
    if fig9 is not None:
        write_text(out / "fig9.csv", fig9.to_csv(index=False))
    elif (out / "fig9.csv").is_file():
        fig9 = pd.read_csv(out / "fig9.csv")
    write_text(out / "summary.md", summary_markdown(on_disk, scale, seeds, data, diffs, fig9, over_seeds))
    finished = sorted(p.name for p in runs_dir.iterdir() if is_complete(p)) if runs_dir.is_dir() else []
    write_json(out / "reproduce.json", {
        "command": command, "scale": scale, "seeds": list(seeds), "data": str(data),
        "training": {**SCALES[scale], **(overrides or {})}, "unfinished": unfinished,
        "train_seconds": {name: round(read_metrics(runs_dir / name)["train"]["train_seconds"], 1)
                          for name in finished},
        "machine": machine_record(),
    })
    if finished:
        write_text(out / "train_logs.csv", training_logs(runs_dir, finished).to_csv(index=False))
        write_run_files(out, {name: runs_dir / name for name in finished},
                        {name: evaluated_heads(runs_dir / name) for name in finished})
    return built


def evaluated_heads(run_dir: Path) -> list[str]:
    """The heads of TABLE2_HEADS that `run_dir` has evaluated (metrics.json), in that order."""
    return [head for head in TABLE2_HEADS if head in read_metrics(run_dir).get("eval", {})]


FIG9_HEAD = "max"
FIG9_METRICS = ("energy_ratio", "pointing", "ggc_energy_ratio", "deletion_auc", "insertion_auc", "sanity_spearman")


def fig9_table(runs_dir: Path, seed: int, measure: bool, progress: bool = True) -> pd.DataFrame | None:
    """Fig. 9 as numbers: per attention variant of Table 1 (seed `seed`), the means of FIG9_METRICS
    for its Grad-CAM on the run's default layer (`layer`: layer4.2 from 96 px inputs, layer3.5 at
    64 px; `energy_ratio` with its 95% interval) and the untrained network's
    energy ratio beside it (empty where a metric is undefined: all its maps constant). Runs not yet
    measured are measured when `measure`; None when the dataset has no shoe masks (logged), or no
    run is finished."""
    from shoekit.errors import ShoekitError
    from shoekit.explain.measurement import MeasureOptions, measure_run, read_measures
    from shoekit.explain.options import default_layer

    rows = []
    for attention in ATTENTIONS:
        run_dir = runs_dir / run_name(attention, 0.0, seed)
        if not is_complete(run_dir):
            continue
        table = read_measures(run_dir)
        if table is None and measure:
            try:
                table = measure_run(run_dir, MeasureOptions(head=FIG9_HEAD, progress=progress)).table
            except ShoekitError as error:
                log.warning("Fig. 9 left out: %s", error)
                return None
        if table is None:
            continue
        config = read_config(run_dir)
        layer = default_layer(config.image_size, config.last_stride)
        chosen = table[(table["method"] == "gradcam") & (table["layer"] == layer)]
        trained = chosen[chosen["model"] == "trained"].set_index("metric")
        untrained = chosen[chosen["model"] == "untrained"].set_index("metric")
        rows.append({"attention": attention, "layer": layer, **{metric: trained["mean"].get(metric) for metric in FIG9_METRICS},
                     "energy_ratio_low": trained["low"].get("energy_ratio"),
                     "energy_ratio_high": trained["high"].get("energy_ratio"),
                     "untrained_energy_ratio": untrained["mean"].get("energy_ratio"),
                     "crops": trained["count"].get("energy_ratio")})
    return pd.DataFrame(rows).round(3) if rows else None


def best_finished(table: pd.DataFrame) -> pd.Series | None:
    """The row with the highest mAP among finished ones (unfinished runs' rows are NaN); None if none."""
    finished = table.dropna(subset=["mAP"])
    return finished.loc[finished["mAP"].idxmax()] if len(finished) else None


def machine_record() -> dict:
    """Where results were measured: platform, processor, CPU count, torch and GPU (recorded beside them)."""
    return {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
            "torch": torch.__version__, "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def training_logs(runs_dir: Path, names: list[str]) -> pd.DataFrame:
    """Every finished run's train_log.csv in one table (column `run` first): the learning curves."""
    logs = [read_train_log(runs_dir / name).assign(run=name) for name in names]
    table = pd.concat(logs, ignore_index=True)
    return table[["run", *[c for c in table.columns if c != "run"]]].round(6)
