"""What pretraining on procedural shoe types buys at equal total training time.

Each arm spends `--minutes` training minutes in all: N = 0 trains on the benchmark's training
identities for all of them; N > 0 first pretrains on N procedural types (`shoekit pretrain`,
`--pretrain-share` of the minutes), then fine-tunes from that checkpoint for the rest. The arms
run side by side as 1-thread processes (`OMP_NUM_THREADS=1`), all with the same recipe and
`--val-identities 10`; each fine-tuned model is scored on the validation identities (what a
choice would be made by) and on the test split (report only). Building the procedural data
(rendering N x 4 crops once) and process start-up are reported beside the training minutes
(pretrain_overhead_seconds).

    python benchmarks/bench_pretraining.py --data DATA --out bench-pretrain             # 30 minutes
    python benchmarks/bench_pretraining.py --data DATA --out /tmp/p --minutes 2 --types 0 20

Writes benchmarks/results/pretraining.{json,csv}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import torch

from bench_time_to_accuracy import score_snapshots  # the sibling script (this one runs from benchmarks/)
from shoekit.config import RECIPE_HEADS
from shoekit.data import manifest_hash
from shoekit.runs import METRICS_FILE, read_train_log

RESULTS = Path(__file__).resolve().parent / "results"
VAL_IDENTITIES = "10"


def arm_commands(n: int, args: argparse.Namespace) -> list[list[str]]:
    """The shoekit commands of one arm, run one after the other."""
    shoekit = [sys.executable, "-m", "shoekit"]
    common = ["--recipe", args.recipe, "--epochs", "1000", "--no-progress"]
    tuned = args.out / f"tuned-{n}"
    if n == 0:
        return [[*shoekit, "train", "--data", str(args.data), "--out", str(tuned), *common,
                 "--val-identities", VAL_IDENTITIES, "--budget-minutes", f"{args.minutes:g}",
                 "--snapshot-minutes", f"{args.minutes:g}"]]
    pretrain_minutes = args.minutes * args.pretrain_share
    pretrained = args.out / f"pretrain-{n}"
    return [[*shoekit, "pretrain", "--procedural", str(n), "--out", str(pretrained), *common,
             "--budget-minutes", f"{pretrain_minutes:g}"],
            [*shoekit, "train", "--data", str(args.data), "--out", str(tuned), *common,
             "--pretrained", str(pretrained / "checkpoint.pt"), "--val-identities", VAL_IDENTITIES,
             "--budget-minutes", f"{args.minutes - pretrain_minutes:g}",
             "--snapshot-minutes", f"{args.minutes - pretrain_minutes:g}"]]


def run_arm(n: int, args: argparse.Namespace) -> dict:
    """Run one arm's commands (skipping finished steps); the wall seconds of each."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    seconds = []
    with (args.out / f"arm-{n}.log").open("a") as log:
        for command in arm_commands(n, args):
            run_dir = Path(command[command.index("--out") + 1])
            started = time.perf_counter()
            if not (run_dir / METRICS_FILE).is_file():
                if subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env).returncode != 0:
                    raise SystemExit(f"arm N={n} failed; see {args.out / f'arm-{n}.log'}")
            seconds.append(time.perf_counter() - started)
    return {"commands": [" ".join(c[1:]) for c in arm_commands(n, args)], "wall_seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the benchmark's dataset folder")
    parser.add_argument("--out", type=Path, required=True, help="folder for the run folders")
    parser.add_argument("--minutes", type=float, default=30.0, help="training minutes per arm, in all")
    parser.add_argument("--pretrain-share", type=float, default=1 / 3, help="share of them pretraining")
    parser.add_argument("--types", type=int, nargs="+", default=[0, 500, 2000], help="procedural types N")
    parser.add_argument("--recipe", default="fast", help="shoekit train --recipe of every step")
    parser.add_argument("--eval-size", type=int, default=96, help="input size (px) the models are scored at")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON/CSV go")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    load_before = os.getloadavg()
    with ThreadPoolExecutor(len(args.types)) as pool:
        arms = dict(zip(args.types, pool.map(lambda n: run_arm(n, args), args.types)))
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    head = RECIPE_HEADS.get(args.recipe, "max")
    rows = []
    for n in args.types:
        final = score_snapshots(args.out / f"tuned-{n}", [head], args.data, [args.eval_size])[-1]
        pretrain_minutes = float(read_train_log(args.out / f"pretrain-{n}")["train_minutes"].iloc[-1]) if n else 0.0
        rows.append({"types": n, "pretrain_minutes": pretrain_minutes, "finetune_minutes": final["minutes"],
                     "total_minutes": pretrain_minutes + final["minutes"],
                     "pretrain_overhead_seconds": arms[n]["wall_seconds"][0] - 60 * pretrain_minutes if n else 0.0,
                     "val_mAP": final["val_mAP"], "test_rank1": final["rank1"], "test_mAP": final["mAP"]})
    table = pd.DataFrame(rows)
    args.results.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.results / "pretraining.csv", index=False)
    summary = {"command": " ".join(sys.argv), "arms": {str(n): arm for n, arm in arms.items()}, "head": head,
               "data": str(args.data), "manifest_sha256": manifest_hash(args.data),
               "load_average_before": load_before, "load_average_after": os.getloadavg(),
               "rows": table.to_dict("records")}
    (args.results / "pretraining.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
