"""The training levers one at a time: validation mAP and training accuracy per minute and per image.

Every arm is the `paper_fast` recipe (`--val-identities 10`) with one change; the arms of one
invocation train side by side as 1-thread processes for the same wall-clock budget, with a
snapshot every `--every` minutes. Each snapshot is scored on the **validation identities only**
(held-out training identities in the test protocol) at 64 and 96 px; the test split is never
read, because these are the numbers the defaults are chosen by.

    python benchmarks/bench_levers.py --data DATA --out bench-levers --arms paper_fast size64 triplet
    python benchmarks/bench_levers.py --data DATA --out /tmp/l --minutes 2 --every 1 --arms paper_fast

Appends to benchmarks/results/levers.csv (one row per arm, snapshot and size: minutes, images
seen, training accuracy of the snapshot's epoch, validation Rank-1 / mAP) and writes
levers.json (commands, machine, load average before and after, per invocation) and levers.png.
Arms already finished in `--out` are scored again, not retrained.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from bench_time_to_accuracy import snapshot_states, train_side_by_side  # the sibling script (run from benchmarks/)
from shoekit.data import manifest_hash
from shoekit.data.training_sets import validation_set
from shoekit.runs import load_run
from shoekit.validation import score_validation

RESULTS = Path(__file__).resolve().parent / "results"
BASE = ["--recipe", "paper_fast", "--val-identities", "10"]
SIZES = [64, 96]  # px the validation crops are scored at
# name -> (options added to BASE, head the validation is scored with)
ARMS: dict[str, tuple[list[str], str]] = {
    "paper_fast": ([], "max"),
    "size64": (["--train-sizes", "64", "--image-size", "64"], "max"),
    "no_zero_init": (["--no-zero-init-residual"], "max"),
    "triplet": (["--neck", "bnneck", "--sampler", "pk", "--triplet-weight", "1.0"], "bnneck"),
    "sgd": (["--optimizer", "sgd", "--lr", "0.05"], "max"),
    "adamw": (["--optimizer", "adamw", "--weight-decay", "0.05"], "max"),
    "batch64": (["--batch-size", "64", "--lr", "0.002", "--warmup-steps", "75"], "max"),
    "lr3e-4": (["--lr", "0.0003"], "max"),
    "lr3e-3": (["--lr", "0.003"], "max"),
    # a second seed (other initialisation, shuffles, renders and validation types) of the base and
    # of the arm that led the first comparison
    "paper_fast_seed1": (["--seed", "1"], "max"),
    "batch64_seed1": (["--batch-size", "64", "--lr", "0.002", "--warmup-steps", "75", "--seed", "1"], "max"),
}


def arm_commands(names: list[str], data: Path, out: Path, minutes: float, every: float) -> dict[str, list[str]]:
    """The `shoekit train` command line of every named arm (epochs are a generous maximum)."""
    return {name: [sys.executable, "-m", "shoekit", "train", "--data", str(data), "--out", str(out / name),
                   *BASE, *ARMS[name][0], "--budget-minutes", f"{minutes:g}", "--snapshot-minutes",
                   f"{every:g}", "--epochs", "1000", "--no-progress"]
            for name in names}


def score_arm(run_dir: Path, head: str) -> list[dict]:
    """Every snapshot of one arm on the validation identities at every size of SIZES: minutes,
    images seen, the training accuracy of the snapshot's epoch and validation Rank-1 / mAP
    (fractions)."""
    run = load_run(run_dir)
    validation = {size: validation_set(run.config, size) for size in SIZES}
    rows = []
    for when, logged in snapshot_states(run):
        for size in SIZES:
            val = score_validation(run.model, validation[size], head, torch.device("cpu"), run.config.bf16)
            rows.append({**when, "train_accuracy": float(logged["accuracy"]), "eval_size": size, **val})
    return rows


def plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    latest = table[table["invocation"] == table["invocation"].iloc[-1]]  # one run of the benchmark
    best = latest.loc[latest.groupby(["arm", "minutes"])["val_mAP"].idxmax()]
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, curve in best.groupby("arm", sort=False):
        axes[0].plot(curve["minutes"], 100 * curve["val_mAP"], marker="o", label=name)
        axes[1].plot(curve["images"] / 1000, 100 * curve["train_accuracy"], marker="o", label=name)
    axes[0].set(xlabel="training minutes (1 thread each, side by side)",
                ylabel="validation mAP % (best of 64 / 96 px)")
    axes[1].set(xlabel="thousands of images seen", ylabel="training accuracy %")
    for axis in axes:
        axis.grid(alpha=0.3)
    axes[0].legend()
    figure.suptitle("Training levers on the cpu scanned-shoe benchmark (validation identities)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the benchmark's dataset folder")
    parser.add_argument("--out", type=Path, required=True, help="folder for the run folders")
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), required=True, help="arms to train side by side")
    parser.add_argument("--minutes", type=float, default=45.0, help="training budget per arm")
    parser.add_argument("--every", type=float, default=15.0, help="minutes between scored snapshots")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the CSV/JSON/PNG go")
    args = parser.parse_args()

    load_before, started = os.getloadavg(), time.time()
    commands = arm_commands(args.arms, args.data, args.out, args.minutes, args.every)
    train_side_by_side(commands, args.out)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    invocation = f"{time.strftime('%Y-%m-%dT%H:%M', time.gmtime(started))}Z"
    rows = [{"invocation": invocation, "arm": name, "head": ARMS[name][1], **row}
            for name in args.arms for row in score_arm(args.out / name, ARMS[name][1])]
    args.results.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = args.results / "levers.csv", args.results / "levers.json"
    earlier = pd.read_csv(csv_path) if csv_path.is_file() else pd.DataFrame()
    table = pd.concat([earlier, pd.DataFrame(rows)], ignore_index=True)
    table.to_csv(csv_path, index=False)
    log = json.loads(json_path.read_text()) if json_path.is_file() else {"invocations": []}
    log["invocations"].append({
        "invocation": invocation, "command": " ".join(sys.argv),
        "train_commands": {k: " ".join(v[1:]) for k, v in commands.items()},
        "data": str(args.data), "manifest_sha256": manifest_hash(args.data),
        "budget_minutes": args.minutes, "snapshot_every_minutes": args.every,
        "wall_minutes": (time.time() - started) / 60.0, "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__}})
    json_path.write_text(json.dumps(log, indent=2) + "\n")
    plot(table, args.results / "levers.png")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
