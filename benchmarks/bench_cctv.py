"""Speed of the CCTV simulation: simulated crops per second, as ratios to a baseline and target.

The baseline, measured in the same run on the same cut-outs, is the least a crop costs: the
cut-out resized and composited onto one fixed floor, no texture, no degradation. The target is
the issue's 200 crops/s on the 2 cores of the development machine. Both 1 process and a
2-process pool are measured, OpenCV single-threaded in every process (for 120 px images its
thread pool costs more than it gives). The CPU time per crop is printed too: on a shared
machine the wall-clock rates fall with the load, CPU time much less.

Cut-outs are the scanned shoes (../shared/data/scanned-shoes) when that folder exists,
procedural ones otherwise.

    python benchmarks/bench_cctv.py            # 2,000 crops per measurement
    python benchmarks/bench_cctv.py --quick    # 200 crops, a few seconds

Results also go to benchmarks/results/cctv_speed.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import platform
import time
from pathlib import Path

import cv2
import numpy as np

from shoekit.data.cctv import simulate_crop
from shoekit.data.cutout import Cutout, load_cutout
from shoekit.data.floors import render_floor
from shoekit.data.procedural import VIEWS, make_shoe_types, render_cutout

TARGET_CROPS_PER_S = 200.0
SCANNED = Path(__file__).resolve().parents[2] / "shared" / "data" / "scanned-shoes"
CROP_SIZE = 120

_worker_cutouts: list[Cutout] = []


def load_cutouts(count: int, scanned: Path) -> tuple[list[Cutout], str]:
    """`count` cut-outs spread over the scanned set's rows, or procedural ones without it."""
    manifest = scanned / "manifest.csv"
    if manifest.is_file():
        with manifest.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        picked = rows[:: max(1, len(rows) // count)][:count]
        return [load_cutout(scanned / row["path"]) for row in picked], f"scanned ({scanned})"
    types = make_shoe_types(max(1, count // len(VIEWS)) + 1, seed=0)
    cutouts = [render_cutout(shoe, view) for shoe in types for view in VIEWS][:count]
    return cutouts, "procedural"


def baseline_crop(cutout: Cutout, floor: np.ndarray) -> np.ndarray:
    """Plain composite + resize: the cut-out's long side to 0.7 of the crop, centred."""
    height, width = cutout.rgba.shape[:2]
    factor = 0.7 * CROP_SIZE / max(height, width)
    small = cv2.resize(cutout.rgba, (max(1, round(width * factor)), max(1, round(height * factor))),
                       interpolation=cv2.INTER_AREA).astype(np.float32)
    top, left = (CROP_SIZE - small.shape[0]) // 2, (CROP_SIZE - small.shape[1]) // 2
    crop = floor.copy()
    window = crop[top:top + small.shape[0], left:left + small.shape[1]]
    alpha = small[..., 3:] / 255.0
    window[:] = window * (1.0 - alpha) + small[..., :3] * alpha
    return crop.astype(np.uint8)


def measure(run, count: int) -> tuple[float, float]:
    """(crops per wall-clock second, CPU milliseconds per crop) of `run(count)`."""
    start, cpu_start = time.perf_counter(), time.process_time()
    run(count)
    return count / (time.perf_counter() - start), 1000 * (time.process_time() - cpu_start) / count


def _init_worker(cutouts: list[Cutout]) -> None:
    global _worker_cutouts
    _worker_cutouts = cutouts
    cv2.setNumThreads(1)


def _simulate_range(bounds: tuple[int, int]) -> float:
    """Simulate seeds start..stop-1 in a worker; returns the worker's CPU seconds spent."""
    start, stop = bounds
    cpu_start = time.process_time()
    for seed in range(start, stop):
        simulate_crop(_worker_cutouts[seed % len(_worker_cutouts)], seed=seed, size=CROP_SIZE)
    return time.process_time() - cpu_start


def measure_pool(cutouts: list[Cutout], count: int, processes: int) -> tuple[float, float]:
    """Like `measure`, for `count` crops split over a pool of `processes` workers."""
    chunk = 50
    with multiprocessing.get_context("spawn").Pool(processes, _init_worker, (cutouts,)) as pool:
        pool.map(_simulate_range, [(i * chunk, (i + 1) * chunk) for i in range(processes)])  # warm-up
        start = time.perf_counter()
        cpu = sum(pool.map(_simulate_range, [(s, min(s + chunk, count)) for s in range(0, count, chunk)]))
        return count / (time.perf_counter() - start), 1000 * cpu / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 crops per measurement instead of 2,000")
    parser.add_argument("--cutouts", type=int, default=64, help="distinct cut-outs to cycle through")
    parser.add_argument("--scanned", type=Path, default=SCANNED,
                        help="scanned-shoes folder (manifest.csv + images); procedural if missing")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "cctv_speed.json",
                        help="where to write the JSON results")
    args = parser.parse_args()
    count = 200 if args.quick else 2000
    cv2.setNumThreads(1)  # crops are tiny: OpenCV's thread pool costs more than it gives

    cutouts, source = load_cutouts(args.cutouts, args.scanned)
    floor = render_floor("asphalt", CROP_SIZE, np.random.default_rng(0)).astype(np.float32)

    def run_baseline(n: int) -> None:
        for i in range(n):
            baseline_crop(cutouts[i % len(cutouts)], floor)

    def run_simulation(n: int) -> None:
        for seed in range(n):
            simulate_crop(cutouts[seed % len(cutouts)], seed=seed, size=CROP_SIZE)

    run_simulation(20)  # warm-up: imports, caches
    results = [("baseline: composite + resize", *measure(run_baseline, count)),
               ("simulate_crop, 1 process", *measure(run_simulation, count)),
               ("simulate_crop, 2-process pool", *measure_pool(cutouts, count, processes=2))]
    baseline = results[0][1]

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"CCTV simulation, {count} crops of {CROP_SIZE}x{CROP_SIZE} px from {len(cutouts)} "
          f"{source} cut-outs; {os.cpu_count()} CPUs, load average {load}")
    print(f"{'variant':<32}{'crops/s':>9}{'vs baseline':>13}{'vs 200/s':>10}{'CPU ms/crop':>13}")
    for name, rate, cpu_ms in results:
        print(f"{name:<32}{rate:>9.0f}{rate / baseline:>12.3f}x{rate / TARGET_CROPS_PER_S:>9.2f}x"
              f"{cpu_ms:>13.2f}")
    print("CPU ms/crop is process time: 1000 / it is the crops/s one idle core would give.")
    summary = {
        "crops": count, "crop_size": CROP_SIZE, "cutouts": f"{len(cutouts)} {source}",
        "cpus": os.cpu_count(), "load_average": os.getloadavg(), "platform": platform.platform(),
        "target_crops_per_s": TARGET_CROPS_PER_S,
        "results": [{"variant": name, "crops_per_s": rate, "vs_baseline": rate / baseline,
                     "vs_target": rate / TARGET_CROPS_PER_S, "cpu_ms_per_crop": cpu_ms}
                    for name, rate, cpu_ms in results],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
