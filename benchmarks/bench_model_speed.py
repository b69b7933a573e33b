"""Model speed at 120 px: bf16 + channels_last (+ torch.compile) vs plain fp32, and the cost of the attention.

Prints ratios against baselines measured in the same run (images/s), for shoekit's fast path
(bf16 + channels_last + torch.compile, with inductor freezing for extraction: `--compile` in
train/evaluate) and, as `*_eager`, without compilation:
  extraction  dual_pool fast  /  torchvision resnet50 fp32 eager       target >= 3.0
  training    dual_pool fast  /  torchvision resnet50 fp32 eager       target >= 2.0
  overhead    resnet50 fast   /  dual_pool fast  - 1 (extraction)      target <= 0.15
Compilation time is measured and reported separately, not counted in images/s.
With --run RUN it also evaluates that run in bf16 and fp32 and prints the Rank-1/mAP gap
(target <= 0.5 points). Results go to benchmarks/results/model_speed.json.

    python benchmarks/bench_model_speed.py [--quick] [--run RUN]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch
import torchvision

from shoekit.models import build_model
from shoekit.precision import autocast, bf16_supported, compiled

SIZE = 120


def images_per_second(step, batch: torch.Tensor, seconds: float, compile_times: dict | None = None,
                      name: str = "") -> float:
    """Run `step(batch)` for about `seconds` after two warm-up calls; images per second. The first
    call's duration is stored as `compile_times[name]` when a dict is given."""
    start = time.perf_counter()
    step(batch)
    if compile_times is not None:
        compile_times[name] = time.perf_counter() - start
    step(batch)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step(batch)
        done += len(batch)
    return done / (time.perf_counter() - start)


def extraction_step(model, bf16: bool):
    """`model`: a module (put in eval mode here) or a compiled function of a module in eval mode."""
    if isinstance(model, torch.nn.Module):
        model.eval()

    @torch.inference_mode()
    def step(batch):
        with autocast(torch.device("cpu"), bf16):
            model(batch)
    return step


def training_step(model, bf16: bool, num_classes: int, fused: bool = False):
    """One Adam step per call; `fused`: the fused Adam kernel shoekit's training uses."""
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, **({"fused": True} if fused else {}))
    labels = None

    def step(batch):
        nonlocal labels
        labels = torch.randint(0, num_classes, (len(batch),))
        with autocast(torch.device("cpu"), bf16):
            logits = model(batch)
        loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return step


def prepared(model, channels_last: bool):
    return model.to(memory_format=torch.channels_last) if channels_last else model


def measure(seconds: float, batch_size: int) -> dict:
    fast = bf16_supported(torch.device("cpu"))
    batch = torch.rand(batch_size, 3, SIZE, SIZE)
    batch_cl = batch.contiguous(memory_format=torch.channels_last)
    normalise = torchvision.transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    baseline = torchvision.models.resnet50(num_classes=150)
    baseline_forward = torch.nn.Sequential(normalise, baseline)  # torchvision needs normalised input
    dual = prepared(build_model("dual_pool", num_classes=150), fast)
    plain = prepared(build_model("none", num_classes=150), fast)
    compile_seconds: dict[str, float] = {}
    rates = {
        "extract_torchvision_fp32": images_per_second(extraction_step(baseline_forward, False), batch, seconds),
        "extract_dual_pool_eager": images_per_second(extraction_step(dual, fast), batch_cl, seconds),
        "extract_none_eager": images_per_second(extraction_step(plain, fast), batch_cl, seconds),
        "extract_dual_pool_fast": images_per_second(extraction_step(compiled(dual.eval(), True, inference=True), fast),
                                                    batch_cl, seconds, compile_seconds, "extract_dual_pool"),
        "extract_none_fast": images_per_second(extraction_step(compiled(plain.eval(), True, inference=True), fast),
                                               batch_cl, seconds, compile_seconds, "extract_none"),
        "train_torchvision_fp32": images_per_second(training_step(baseline_forward, False, 150), batch, seconds),
        "train_dual_pool_eager": images_per_second(training_step(dual, fast, 150, fused=True), batch_cl, seconds),
        "train_dual_pool_fast": images_per_second(training_step(compiled(dual, True), fast, 150, fused=True), batch_cl,
                                                  seconds, compile_seconds, "train_dual_pool"),
    }
    return {"bf16_supported": fast, "batch_size": batch_size, "images_per_s": rates,
            "compile_seconds": compile_seconds, "ratios": {
                "extraction_speedup": rates["extract_dual_pool_fast"] / rates["extract_torchvision_fp32"],
                "training_speedup": rates["train_dual_pool_fast"] / rates["train_torchvision_fp32"],
                "attention_overhead": rates["extract_none_fast"] / rates["extract_dual_pool_fast"] - 1.0,
                "extraction_speedup_eager": rates["extract_dual_pool_eager"] / rates["extract_torchvision_fp32"],
                "training_speedup_eager": rates["train_dual_pool_eager"] / rates["train_torchvision_fp32"],
                "attention_overhead_eager": rates["extract_none_eager"] / rates["extract_dual_pool_eager"] - 1.0,
            }}


def precision_gap(run: Path) -> dict:
    """Rank-1/mAP (points) of bf16 vs fp32 extraction of one run (evaluated on a copy)."""
    from shoekit.evaluate import evaluate_run

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "run"
        shutil.copytree(run, copy, ignore=shutil.ignore_patterns("eval"))
        bf16 = evaluate_run(copy, heads=("max",), bf16=True, progress=False)["max"]
        fp32 = evaluate_run(copy, heads=("max",), bf16=False, progress=False)["max"]
    return {"run": str(run), "rank1_bf16": 100 * bf16["rank1"], "rank1_fp32": 100 * fp32["rank1"],
            "mAP_bf16": 100 * bf16["mAP"], "mAP_fp32": 100 * fp32["mAP"],
            "rank1_gap_points": 100 * abs(bf16["rank1"] - fp32["rank1"]),
            "mAP_gap_points": 100 * abs(bf16["mAP"] - fp32["mAP"])}


def print_speed(result: dict) -> None:
    for name, rate in result["images_per_s"].items():
        print(f"{name:28} {rate:8.1f} images/s")
    ratios = result["ratios"]
    print(f"extraction speed-up  {ratios['extraction_speedup']:.2f}x  (target >= 3.0)")
    print(f"training speed-up    {ratios['training_speedup']:.2f}x  (target >= 2.0)")
    print(f"attention overhead   {100 * ratios['attention_overhead']:.1f}%  (target <= 15%)")
    print(f"without compilation: extraction {ratios['extraction_speedup_eager']:.2f}x, training "
          f"{ratios['training_speedup_eager']:.2f}x, overhead {100 * ratios['attention_overhead_eager']:.1f}%")
    for name, spent in result["compile_seconds"].items():
        print(f"compiling {name:24} {spent:6.1f} s (first call; inductor's disk cache can shorten it)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 s per measurement instead of 10")
    parser.add_argument("--batch-size", type=int, default=32, help="images per batch (default: 32)")
    parser.add_argument("--run", type=Path, help="a trained run: also compare bf16 vs fp32 metrics")
    parser.add_argument("--gap-only", action="store_true",
                        help="with --run: only the bf16 vs fp32 comparison, added to the existing --out file")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "model_speed.json",
                        help="where to write the JSON results")
    args = parser.parse_args()
    if args.gap_only and not (args.run and args.out.is_file()):
        parser.error("--gap-only needs --run RUN and an existing --out file from a full measurement")
    if args.gap_only:
        result = json.loads(args.out.read_text())
    else:
        load = os.getloadavg()[0]
        result = measure(2.0 if args.quick else 10.0, args.batch_size)
        result.update(threads=torch.get_num_threads(), torch=torch.__version__, load_average_1min=load,
                      machine=platform.processor() or platform.machine(),
                      command="python benchmarks/bench_model_speed.py" + (" --quick" if args.quick else ""))
        print_speed(result)
    if args.run:
        result["precision_gap"] = gap = precision_gap(args.run)
        gap["command"] = f"python benchmarks/bench_model_speed.py --run {args.run}" + (" --gap-only" if args.gap_only else "")
        print(f"bf16 vs fp32: Rank-1 gap {gap['rank1_gap_points']:.2f} points, mAP gap "
              f"{gap['mAP_gap_points']:.2f} points (target <= 0.5)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
