"""Time to accuracy: Rank-1 and mAP on the test split against minutes of training, per recipe.

Trains every recipe of RECIPES side by side on one dataset (the `cpu` scanned-shoe benchmark:
`shoekit make-dataset --cutouts ../shared/data/scanned-shoes --scale cpu --out DATA`), each as
a 1-thread process (`OMP_NUM_THREADS=1`: on 2 cores, side-by-side 1-thread processes are the
fairest split) with a wall-clock budget of `--minutes` training minutes and a snapshot of the
weights every `--every` minutes. When all have finished, every snapshot is scored on the test
split (queries against gallery + distractors, with each of the recipe's retrieval heads), so the
scoring never competes with training. The 120 px crops are resized to each input size in the
recipe's list; the size and head reported are those with the best validation mAP (held-out
training identities) at the last snapshot, never chosen on the test split, which only reports.

    python benchmarks/bench_time_to_accuracy.py --data DATA --out bench-runs   # 60 minutes
    python benchmarks/bench_time_to_accuracy.py --data DATA --out /tmp/q --minutes 2 --every 1

Writes benchmarks/results/time_to_accuracy.{json,csv,png}: per recipe and snapshot the training
minutes, images seen, test Rank-1 and mAP at the chosen size and head, and the ratio to the
baseline recipe (`paper_today`) at the same minute (time_to_accuracy_sizes.csv: every size and
head); the command, the machine and its load average before and after. Runs already finished in
`--out` are scored again, not retrained.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from shoekit.data import ShoeCrops, eval_transform, manifest_hash
from shoekit.evaluate import extract_features
from shoekit.metrics import distance_matrix, l2_normalize, rank_metrics
from shoekit.data.training_sets import validation_set
from shoekit.runs import CONFIG_FILE, METRICS_FILE, SNAPSHOT_DIR, load_checkpoint, load_run, read_train_log
from shoekit.validation import score_validation

RESULTS = Path(__file__).resolve().parent / "results"
BASELINE = "paper_today"
EVAL_SIZES = [64, 96, 120]  # input sizes (px) the 120 px crops are resized to; chosen on validation
# name -> (shoekit train options, retrieval heads tried, input sizes tried); where several are
# tried, the (size, head) with the best validation mAP at the last snapshot is reported
RECIPES: dict[str, tuple[list[str], list[str], list[int]]] = {
    # (a) the paper recipe as shoekit trained it before fresh renders: fixed crops, 120 px
    "paper_today": (["--recipe", "paper", "--render", "fixed"], ["max"], [120]),
    # (b) the new default recipe with the paper's model: dual_pool, layer4 + max, epsilon 0.14
    "paper_new": (["--recipe", "paper_fast", "--val-identities", "10"], ["max"], EVAL_SIZES),
    # (c) the best recipe found: (b) + BNNeck + cosine softmax with a CosFace margin, any head
    "best": (["--recipe", "fast", "--val-identities", "10"], ["bnneck", "max", "avg", "maxavg", "fc"], EVAL_SIZES),
    # (d) (b) with layer4 at stride 1, whose Grad-CAM has 4 x 4 cells at 64 px (docs/explanations.md):
    # what the sharper heatmaps cost in retrieval
    "paper_new_ls1": (["--recipe", "paper_fast", "--val-identities", "10", "--last-stride", "1"], ["max"],
                      EVAL_SIZES),
}


def train_commands(data: Path, out: Path, minutes: float, every: float) -> dict[str, list[str]]:
    """The `shoekit train` command line of every recipe (epochs are a generous maximum)."""
    return {name: [sys.executable, "-m", "shoekit", "train", "--data", str(data), "--out", str(out / name),
                   *options, "--budget-minutes", str(minutes), "--snapshot-minutes", str(every),
                   "--epochs", "1000", "--no-progress"]
            for name, (options, _, _) in RECIPES.items()}


def train_side_by_side(commands: dict[str, list[str]], out: Path) -> None:
    """Run the unfinished runs' commands at once, one thread each; logs in OUT/NAME.log."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    processes = {}
    out.mkdir(parents=True, exist_ok=True)
    for name, command in commands.items():
        if (out / name / METRICS_FILE).is_file():
            continue
        if (out / name / CONFIG_FILE).is_file():
            command = [sys.executable, "-m", "shoekit", "train", "--resume", str(out / name), "--no-progress"]
        log = (out / f"{name}.log").open("a")
        processes[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    for name, process in processes.items():
        if process.wait() != 0:
            raise SystemExit(f"training {name} failed (exit {process.returncode}); see {out / name}.log")


def snapshot_states(run) -> Iterator[tuple[dict, pd.Series]]:
    """Load each snapshot of `run` (a TrainedRun) into `run.model` in turn, oldest first, and yield
    its {minutes, epoch, images seen} and the train_log.csv row of its epoch."""
    history = read_train_log(run.path)
    seen = (history["images_per_s"] * history["seconds"]).cumsum()
    for path in sorted((run.path / SNAPSHOT_DIR).glob("minute_*.pt")):
        snapshot = load_checkpoint(path)
        run.model.load_state_dict(snapshot["model"])
        epoch = int(snapshot["epoch"])
        yield ({"minutes": float(snapshot["train_minutes"]), "epoch": epoch, "images": int(seen.iloc[epoch - 1])},
               history.iloc[epoch - 1])


def score_snapshots(run_dir: Path, heads: list[str], data: Path, sizes: list[int]) -> list[dict]:
    """Every snapshot of a run scored with every head of `heads` at every input size in `sizes`
    (px): its minutes and images seen, test-split Rank-1 / mAP (fractions) and, for runs with
    validation identities, the validation mAP (the number a size and head are chosen by)."""
    run = load_run(run_dir)
    splits = {size: [ShoeCrops(data, split, transform=eval_transform(size), align=run.config.align)
                     for split in (["query"], ["gallery", "distractor"])] for size in sizes}
    validation = {size: validation_set(run.config, size) for size in sizes}
    rows = []
    for when, _ in snapshot_states(run):
        for size in sizes:
            query, gallery = splits[size]
            feats = [extract_features(run.model, split, heads, progress=False) for split in (query, gallery)]
            for head in heads:
                result = rank_metrics(distance_matrix(l2_normalize(feats[0][head]), l2_normalize(feats[1][head])),
                                      np.array(query.identities), np.array(gallery.identities))
                val = ({} if validation[size] is None else
                       score_validation(run.model, validation[size], head, torch.device("cpu"), run.config.bf16))
                rows.append({**when, "head": head, "eval_size": size, "rank1": result["rank1"],
                             "mAP": result["mAP"], **({"val_mAP": val["val_mAP"]} if val else {})})
    return rows


def chosen_settings(table: pd.DataFrame) -> dict[str, tuple[int, str]]:
    """Per recipe, the (input size, head) whose validation mAP is highest at the last snapshot (a
    run without validation identities keeps its only size and head)."""
    chosen = {}
    for name, rows in table.groupby("recipe", sort=False):
        last = rows[rows["minutes"] == rows["minutes"].max()]
        ranked = last.sort_values("val_mAP", ascending=False) if "val_mAP" in last and last["val_mAP"].notna().all() else last
        chosen[name] = (int(ranked["eval_size"].iloc[0]), str(ranked["head"].iloc[0]))
    return chosen


def summarise(every_size: pd.DataFrame, every: float) -> tuple[pd.DataFrame, dict[str, tuple[int, str]]]:
    """The curves at each recipe's chosen input size and head, with `mark` (the snapshot's multiple
    of `every` minutes: the one whose crossing saved it) and the ratios of mAP and Rank-1 to the
    baseline recipe's at the same mark (NaN where the baseline scored 0 or has no such mark)."""
    sizes = chosen_settings(every_size)
    table = pd.concat([every_size[(every_size["recipe"] == name) & (every_size["eval_size"] == size)
                                  & (every_size["head"] == head)]
                       for name, (size, head) in sizes.items()], ignore_index=True)
    table.insert(2, "mark", (table["minutes"] // every) * every)
    baseline = table[table["recipe"] == BASELINE].set_index("mark")
    for column in ("mAP", "rank1"):
        base = table["mark"].map(baseline[column]).where(lambda value: value > 0)
        table[f"{column}_vs_baseline"] = table[column] / base
    return table, sizes


def plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, curve in table.groupby("recipe", sort=False):
        for axis, column in zip(axes, ("mAP", "rank1")):
            axis.plot(curve["minutes"], 100 * curve[column], marker="o", label=name)
    for axis, column in zip(axes, ("mAP %", "Rank-1 %")):
        axis.set_xlabel("training minutes (1 thread each, side by side)")
        axis.set_ylabel(f"test {column}")
        axis.grid(alpha=0.3)
    axes[0].legend()
    figure.suptitle("Time to accuracy on the cpu scanned-shoe benchmark")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def train_and_score(args: argparse.Namespace) -> tuple[pd.DataFrame, dict]:
    """Train the recipes (unless finished) and score every snapshot at every size; the rows and
    the run's description (commands, machine, load)."""
    load_before = os.getloadavg()
    started = time.time()
    commands = train_commands(args.data, args.out, args.minutes, args.every)
    train_side_by_side(commands, args.out)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    rows = []
    for name, (_, heads, sizes) in RECIPES.items():
        for row in score_snapshots(args.out / name, heads, args.data, sizes):
            rows.append({"recipe": name, **row})
    return pd.DataFrame(rows), {
        "command": " ".join(sys.argv), "train_commands": {k: " ".join(v[1:]) for k, v in commands.items()},
        "heads_tried": {name: heads for name, (_, heads, _) in RECIPES.items()},
        "data": str(args.data), "manifest_sha256": manifest_hash(args.data),
        "budget_minutes": args.minutes, "snapshot_every_minutes": args.every,
        "wall_minutes": (time.time() - started) / 60.0, "load_average_before": load_before,
        "load_average_after": os.getloadavg(), "machine": {"platform": platform.platform(),
                                                           "cpus": os.cpu_count(), "torch": torch.__version__}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the benchmark's dataset folder")
    parser.add_argument("--out", type=Path, required=True, help="folder for the run folders")
    parser.add_argument("--minutes", type=float, default=60.0, help="training budget per recipe")
    parser.add_argument("--every", type=float, default=10.0, help="minutes between scored snapshots")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON/CSV/PNG go")
    parser.add_argument("--from-csv", action="store_true", help="neither train nor score: summarise "
                        "RESULTS/time_to_accuracy_sizes.csv of an earlier run again")
    args = parser.parse_args()

    args.results.mkdir(parents=True, exist_ok=True)
    sizes_csv, summary_json = args.results / "time_to_accuracy_sizes.csv", args.results / "time_to_accuracy.json"
    if args.from_csv:
        every_size, summary = pd.read_csv(sizes_csv), json.loads(summary_json.read_text())
        summary["summarised_again_with"] = " ".join(sys.argv)
    else:
        every_size, summary = train_and_score(args)
        every_size.to_csv(sizes_csv, index=False)
    table, sizes = summarise(every_size, args.every)
    table.to_csv(args.results / "time_to_accuracy.csv", index=False)
    plot(table, args.results / "time_to_accuracy.png")
    summary.update(size_and_head_chosen_on_validation=sizes,
                   final={name: curve.iloc[-1].to_dict() for name, curve in table.groupby("recipe", sort=False)})
    summary_json.write_text(json.dumps(summary, indent=2, default=float) + "\n")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
