"""Speed of explaining one 120 px pair: Grad-CAM + Guided Grad-CAM, both directions.

One pair = the query's map of its similarity to the match and the match's map of its
similarity to the query, each with guided backprop and Guided Grad-CAM (`Explainer.explain_pair`:
one feature pass, one CAM pass over both images, two guided-backprop passes). Printed as a
ratio against a baseline measured in the same run: one plain forward + backward (weights'
gradients included) of the same model on one 120 px image, fp32. Target: a pair under 1.5 s on
the 2 cores of the development machine. Wall-clock and process CPU time are both printed, with
the machine's load: on a shared machine wall-clock grows with the load. Under heavy load,
2 threads with OpenMP's default (spinning) wait policy can be many times slower for these many
small ops; OMP_WAIT_POLICY=PASSIVE or --threads 1 avoids that. The model is randomly
initialised (its speed does not depend on training). Also shown: the one-off cost of
building an `Explainer` (a private model copy) and a query against its top 5.

    python benchmarks/bench_explain.py            # 10 repeats each
    python benchmarks/bench_explain.py --quick    # 3 repeats each

Results also go to benchmarks/results/explain_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from shoekit.explain import DEFAULT_LAYER, Explainer
from shoekit.models import build_model

SIZE = 120
TARGET_PAIR_SECONDS = 1.5
BASELINE = "baseline: forward+backward, 1 image"
PAIR = "explain_pair (both directions)"


def timed(step, repeats: int) -> dict[str, float]:
    """Median and best wall-clock seconds, and median CPU seconds, of `step()` after one warm-up."""
    step()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        step()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {"wall_median_s": statistics.median(walls), "wall_best_s": min(walls),
            "cpu_median_s": statistics.median(cpus)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 10")
    parser.add_argument("--head", default="max", help="feature head (default: %(default)s)")
    parser.add_argument("--method", default="gradcam", help="CAM method (default: %(default)s)")
    parser.add_argument("--layer", default=DEFAULT_LAYER, help="target layer (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice, one per core)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "explain_speed.json",
                        help="where to write the JSON results (default: %(default)s)")
    args = parser.parse_args()
    repeats = 3 if args.quick else 10
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model("dual_pool", num_classes=150).eval()
    query, match = torch.rand(2, 3, SIZE, SIZE).unbind(0)

    def forward_backward():
        model.zero_grad(set_to_none=True)
        model(query[None]).sum().backward()

    explainer = Explainer(model, head=args.head, method=args.method, layer=args.layer)
    matches = torch.rand(5, 3, SIZE, SIZE)
    load_before = os.getloadavg()[0]
    few = max(1, repeats // 3)
    timings = {
        BASELINE: timed(forward_backward, repeats),
        "Explainer(model) (once per model)": timed(
            lambda: Explainer(model, head=args.head, method=args.method, layer=args.layer), few),
        PAIR: timed(lambda: explainer.explain_pair(query, match), repeats),
        "explain_query, top 5": timed(lambda: explainer.explain_query(query, matches), few),
    }
    baseline = timings[BASELINE]["wall_median_s"]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}, {SIZE} px, fp32, head {args.head}, "
          f"{args.method} on {args.layer}; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, "
          f"1-min load {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"{'':40} {'wall median':>11} {'wall best':>10} {'cpu median':>11} {'x baseline':>10}")
    for name, timing in timings.items():
        print(f"{name:40} {1000 * timing['wall_median_s']:9.0f}ms {1000 * timing['wall_best_s']:8.0f}ms "
              f"{1000 * timing['cpu_median_s']:9.0f}ms {timing['wall_median_s'] / baseline:9.2f}x")
    pair = timings[PAIR]
    met = "met" if pair["wall_median_s"] < TARGET_PAIR_SECONDS else "NOT met"
    print(f"target: a pair under {TARGET_PAIR_SECONDS} s: {met} ({pair['wall_median_s']:.2f} s wall median, "
          f"{pair['wall_best_s']:.2f} s best, {pair['wall_median_s'] / baseline:.1f}x one forward+backward)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"size": SIZE, "head": args.head, "method": args.method, "layer": args.layer,
                                    "threads": torch.get_num_threads(), "repeats": repeats,
                                    "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                                    "load_before": load_before, "load_after": os.getloadavg()[0],
                                    "target_pair_s": TARGET_PAIR_SECONDS, "timings": timings}, indent=2) + "\n")


if __name__ == "__main__":
    main()
