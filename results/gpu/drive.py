"""Paper-scale reproduction on one GPU inside a fixed time budget: what made results/gpu/.

    python results/gpu/drive.py CUTOUTS WORK RESULTS --budget 480

1. `shoekit make-dataset --scale paper` from the cut-outs into WORK/data.
2. Six training processes share the GPU: five `shoekit reproduce --scale paper --tables table1
   table2` processes (each takes the next run no other process holds: Table 1's five variants,
   Table 2 reads the dual_pool run's heads) and Table 3's paper pick (dual_pool, eps 0.14),
   trained exactly as `reproduce --tables table3` would.
3. They start with the paper scale's 60 epochs. Once every run has logged two epochs, the
   slowest run's epoch time says whether all six end inside the budget; if not, they are
   stopped and restarted with the most epochs that fit (the run folders of the probe are
   deleted: a shorter cosine schedule is a different run).
4. Whatever has finished when the budget ends is written as tables; RESULTS gets the tables,
   the summary, the learning curves and every run's config, log and metrics (no checkpoints).

Run folders live in WORK (a tmpfs such as /dev/shm keeps the per-epoch checkpoints off disk).
Prints one line per event with the seconds since start.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

EVAL_SECONDS = 30              # evaluating one run's five heads, a generous allowance
START = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - START:6.1f} s] {message}", flush=True)


def shoekit(*args: str) -> list[str]:
    return [sys.executable, "-m", "shoekit", *args]


def launch(data: Path, results: Path, args: argparse.Namespace, epochs: int) -> list[subprocess.Popen]:
    """The reproduce processes and one process per Table 3 epsilon, each in its own process group."""
    common = ["--data", str(data), "--out", str(results), "--scale", args.scale, "--epochs", str(epochs),
              "--device", args.device, "--workers", str(args.workers), "--cache-images", "--no-progress"]
    commands = [shoekit("reproduce", *common, "--tables", "table1", "table2") for _ in range(args.reproduce_processes)]
    commands += [[sys.executable, "-c", (
        "from pathlib import Path; from shoekit.reproduce import PlannedRun, ensure_run; "
        f"ensure_run(PlannedRun('dual_pool-eps{epsilon:g}-seed0', 'dual_pool', {epsilon}, 0), Path({str(data)!r}), "
        f"{args.scale!r}, Path({str(results / 'runs')!r}), False, dict(device={args.device!r}, "
        f"epochs={epochs}, num_workers={args.workers}, cache_images=True))")] for epsilon in args.epsilons]
    processes = []
    for index, command in enumerate(commands):
        log = open(results / f"process{index}.log", "w")
        processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                          env={**os.environ, "OMP_NUM_THREADS": "1"}))
        time.sleep(1.0)  # each claims its run before the next looks
    say(f"launched {len(processes)} processes, {epochs} epochs each")
    return processes


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    for process in processes:
        process.wait()


def epoch_logs(runs: Path) -> dict[str, list[dict]]:
    """Each run folder's train_log.csv rows."""
    logs = {}
    for log in sorted(runs.glob("*/train_log.csv")):
        with open(log) as handle:
            logs[log.parent.name] = list(csv.DictReader(handle))
    return logs


def epochs_that_fit(logs: dict[str, list[dict]], launched: float, deadline: float) -> int:
    """The most epochs whose run, restarted now, ends (evaluation included) before `deadline`.

    Start-up (imports, decoding the images, CUDA) is the time since launch not spent in logged
    epochs: an overestimate by at most the epoch in progress.
    """
    slowest = max(float(rows[-1]["seconds"]) for rows in logs.values())
    now = time.monotonic()
    startup = max(now - launched - sum(float(row["seconds"]) for row in rows) for rows in logs.values())
    room = deadline - now - startup - EVAL_SECONDS
    return max(1, math.floor(room / slowest))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cutouts", type=Path)
    parser.add_argument("work", type=Path)
    parser.add_argument("results", type=Path)
    parser.add_argument("--budget", type=float, default=480, help="seconds from start to the last table")
    parser.add_argument("--workers", type=int, default=2, help="data-loading processes per run")
    parser.add_argument("--build-workers", type=int, default=os.cpu_count())
    parser.add_argument("--scale", default="paper", help="reproduce's training scale (smoke: a dry run)")
    parser.add_argument("--epochs", type=int, default=60, help="epochs to start with (the paper scale's 60)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--reproduce-processes", type=int, default=5,
                        help="reproduce --tables table1 table2 processes (5: one per Table 1 run)")
    parser.add_argument("--epsilons", type=float, nargs="*", default=[0.14],
                        help="Table 3 runs (dual_pool with these label smoothings), one process each")
    parser.add_argument("--tables", nargs="+", default=["table1", "table2"], help="tables to write at the end")
    args = parser.parse_args()
    deadline = START + args.budget
    data, grid = args.work / "data", args.work / "grid"
    shutil.rmtree(grid, ignore_errors=True)
    grid.mkdir(parents=True)

    say("building the paper-scale dataset")
    subprocess.run(shoekit("make-dataset", "--cutouts", str(args.cutouts), "--scale", args.scale, "--out", str(data),
                           "--workers", str(args.build_workers), "--no-progress", "--overwrite"), check=True)
    epochs, launched = args.epochs, time.monotonic()
    processes = launch(data, grid, args, epochs)
    probed = False
    while any(p.poll() is None for p in processes) and time.monotonic() < deadline:
        time.sleep(5)
        logs = epoch_logs(grid / "runs")
        if probed or len(logs) < len(processes) or min(len(rows) for rows in logs.values()) < 2:
            continue
        probed = True
        slowest = max(float(rows[-1]["seconds"]) for rows in logs.values())
        done = min(len(rows) for rows in logs.values())
        say(f"probe: slowest epoch {slowest:.1f} s, " + ", ".join(
            f"{name} {float(rows[-1]['images_per_s']):.0f} img/s" for name, rows in logs.items()))
        if time.monotonic() + (epochs - done) * slowest + EVAL_SECONDS <= deadline:
            continue
        epochs = epochs_that_fit(logs, launched, deadline)
        say(f"{args.epochs} epochs do not fit the budget: restarting with {epochs}")
        stop(processes)
        shutil.rmtree(grid / "runs")
        launched = time.monotonic()
        processes = launch(data, grid, args, epochs)
    if any(p.poll() is None for p in processes):
        say("budget spent: stopping the runs still training (their rows stay empty)")
        stop(processes)
    else:
        say("all runs finished")
    for index, process in enumerate(processes):
        if process.returncode not in (0, -signal.SIGKILL):
            say(f"process {index} exited with {process.returncode}; the end of its log:")
            print("".join((grid / f"process{index}.log").read_text().splitlines(keepends=True)[-15:]), flush=True)

    say("writing the tables")
    subprocess.run(shoekit("reproduce", "--data", str(data), "--out", str(grid), "--scale", args.scale, "--epochs",
                           str(epochs), "--device", args.device, "--workers", str(args.workers), "--cache-images",
                           "--tables", *args.tables, "--no-train", "--no-progress"), timeout=120)
    args.results.mkdir(parents=True, exist_ok=True)
    for name in ("table1.csv", "table2.csv", "table3.csv", "summary.md", "reproduce.json", "train_logs.csv", "differences.csv"):
        if (grid / name).is_file():
            shutil.copy(grid / name, args.results / name)
    with tarfile.open(args.results / "runs.tar.gz", "w:gz") as archive:
        keep = {"config.json", "metrics.json", "train_log.csv", "metrics.csv", "cmc.csv", "rankings.npz"}
        for path in sorted(grid.rglob("*")):
            if path.is_file() and (path.name in keep or path.name.startswith("process")):
                archive.add(path, arcname=str(path.relative_to(grid)))
    (args.results / "drive.json").write_text(json.dumps(
        {"scale": args.scale, "epochs": epochs, "started_with_epochs": args.epochs, "budget_s": args.budget, "workers": args.workers,
         "seconds": round(time.monotonic() - START, 1),
         "stats": json.loads((data / "stats.json").read_text())["crops"]}, indent=2) + "\n")
    say(f"done: {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
