"""Model speed at 120 px: bf16 + channels_last (+ torch.compile) vs plain fp32, and the cost of the attention.

Prints ratios against baselines measured in the same run (images/s), for shoekit's fast path
(bf16 + channels_last + torch.compile, with inductor freezing and its C++ wrapper for extraction:
`--compile` in train/evaluate) and, as `*_eager`, without compilation:
  extraction  dual_pool fast  /  torchvision resnet50 fp32 eager       target >= 3.0
  training    dual_pool fast  /  torchvision resnet50 fp32 eager       target >= 2.0
  overhead    resnet50 fast   /  dual_pool fast  - 1 (extraction)      target <= 0.15
Extraction runs batches of 32, training batches of 64 (shoekit train's default, the paper's batch);
the training overhead of the attention (eager) is printed too.
Compilation time is measured and reported separately, not counted in images/s. The settings take
turns one batch at a time: a round times one call of each (a few seconds for all), and each ratio
is the median of its per-round ratios, printed with their quartiles. On a shared machine the speed
of the same call drifts within minutes (the README's Results section has how much it did on the
development VM); pairing calls seconds apart cancels most of it.
The attention overhead is then measured again over --overhead-rounds (default 150) rounds of
only its two settings, a few seconds per 10 rounds: a tighter median, the milliseconds the gate
adds per batch, and the overhead in the rounds where the machine ran plain ResNet50 faster than its
median vs slower (a shared machine has fast and slow spells; the gate's memory-bound passes need
not speed up with its compute, so the gate's share can differ between them).
With --run RUN it also evaluates that run in bf16 and fp32 and prints the Rank-1/mAP gap
(target <= 0.5 points). Results go to benchmarks/results/model_speed.json.

    python benchmarks/bench_model_speed.py [--quick] [--run RUN]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torchvision

from shoekit.config import TrainConfig
from shoekit.models import build_model
from shoekit.precision import autocast, bf16_supported, compiled

SIZE = 120


def warm_up(step, batch: torch.Tensor) -> float:
    """Two calls (the first compiles a compiled step); seconds of the first."""
    start = time.perf_counter()
    step(batch)
    first = time.perf_counter() - start
    step(batch)
    return first


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


RATIOS = {  # name: (numerator setting, denominator setting, subtract 1)
    "extraction_speedup": ("extract_dual_pool_fast", "extract_torchvision_fp32", False),
    "training_speedup": ("train_dual_pool_fast", "train_torchvision_fp32", False),
    "attention_overhead": ("extract_none_fast", "extract_dual_pool_fast", True),
    "extraction_speedup_eager": ("extract_dual_pool_eager", "extract_torchvision_fp32", False),
    "training_speedup_eager": ("train_dual_pool_eager", "train_torchvision_fp32", False),
    "attention_overhead_eager": ("extract_none_eager", "extract_dual_pool_eager", True),
    "attention_overhead_train_eager": ("train_none_eager", "train_dual_pool_eager", True),
}


def settings(extract_batch: int, train_batch: int) -> tuple[dict, dict]:
    """{name: (step, batch)} of every measured setting, each on its own model instance (training
    changes weights and mode), and {name: compile seconds} of the compiled ones (warmed up here)."""
    fast = bf16_supported(torch.device("cpu"))
    batch = torch.rand(extract_batch, 3, SIZE, SIZE)
    batch_cl = batch.contiguous(memory_format=torch.channels_last)
    train = torch.rand(train_batch, 3, SIZE, SIZE)
    train_cl = train.contiguous(memory_format=torch.channels_last)
    normalise = torchvision.transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

    def baseline():  # torchvision needs normalised input
        return torch.nn.Sequential(normalise, torchvision.models.resnet50(num_classes=150))

    def ours(attention):
        return prepared(build_model(attention, num_classes=150), fast)

    steps = {
        "extract_torchvision_fp32": (extraction_step(baseline(), False), batch),
        "extract_dual_pool_eager": (extraction_step(ours("dual_pool"), fast), batch_cl),
        "extract_none_eager": (extraction_step(ours("none"), fast), batch_cl),
        "extract_dual_pool_fast": (extraction_step(compiled(ours("dual_pool").eval(), True, inference=True), fast),
                                   batch_cl),
        "extract_none_fast": (extraction_step(compiled(ours("none").eval(), True, inference=True), fast), batch_cl),
        "train_torchvision_fp32": (training_step(baseline(), False, 150), train),
        "train_dual_pool_eager": (training_step(ours("dual_pool"), fast, 150, fused=True), train_cl),
        "train_none_eager": (training_step(ours("none"), fast, 150, fused=True), train_cl),
        "train_dual_pool_fast": (training_step(compiled(ours("dual_pool"), True), fast, 150, fused=True), train_cl),
    }
    compile_seconds = {}
    for name, (step, images) in steps.items():
        first = warm_up(step, images)
        if name.endswith("_fast"):
            compile_seconds[name] = first
    return steps, compile_seconds


def in_turns(names, rounds: int):
    """Every name once per round, `rounds` times, every other round in reverse order: settings timed
    this way see the same spells of a shared machine, and none always follows the same other."""
    for index in range(rounds):
        yield from (list(names) if index % 2 == 0 else list(reversed(names)))


def wall_ms_in_turns(calls: dict, rounds: int) -> dict[str, list[float]]:
    """{name: milliseconds of each call} of the argument-free `calls` {name: function}, taking
    turns (`in_turns`) `rounds` times."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for name in in_turns(list(calls), rounds):
        start = time.perf_counter()
        calls[name]()
        times[name].append(1000 * (time.perf_counter() - start))
    return times


def measure(rounds: int, extract_batch: int, train_batch: int, overhead_rounds: int) -> dict:
    """One call of every setting per round, `rounds` times, so a slow spell of the machine hits all
    settings alike (every other round in reverse order, so no setting always follows the same one);
    a ratio is the median over rounds of that round's ratio, with its quartiles. Then
    `overhead_pairing` over `overhead_rounds`."""
    steps, compile_seconds = settings(extract_batch, train_batch)
    times = wall_ms_in_turns({name: functools.partial(step, images) for name, (step, images) in steps.items()}, rounds)
    rates = {name: [1000 * len(steps[name][1]) / ms for ms in values] for name, values in times.items()}
    ratios, spreads = {}, {}
    for name, (top, bottom, minus_one) in RATIOS.items():
        per_round = [a / b - minus_one for a, b in zip(rates[top], rates[bottom])]
        ratios[name] = statistics.median(per_round)
        spreads[name] = quartiles(per_round)
    return {"bf16_supported": bf16_supported(torch.device("cpu")), "extract_batch": extract_batch,
            "train_batch": train_batch, "rounds": rounds,
            "images_per_s": {name: statistics.median(values) for name, values in rates.items()},
            "images_per_s_rounds": rates, "compile_seconds": compile_seconds, "ratios": ratios,
            "ratio_quartiles": spreads, "overhead_pairing": overhead_pairing(steps, overhead_rounds)}


def quartiles(values: list[float]) -> list[float]:
    """[first, third] quartile of `values` (the value itself, twice, for one value)."""
    low, _, high = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
    return [low, high]


def overhead_by_speed(plain_ms: list[float], gated_ms: list[float]) -> dict:
    """The gate's cost from paired per-round times (ms per batch) of plain and gated extraction:
    the median overhead (gated / plain - 1) with its quartiles, the median milliseconds it adds,
    and both again for the rounds in which plain ran faster than its median ("fast") and the rest
    ("slow"), each with that half's median plain time."""
    pairs = list(zip(plain_ms, gated_ms))

    def summary(rounds):
        overheads = [gated / plain - 1 for plain, gated in rounds]
        return {"rounds": len(rounds), "overhead": statistics.median(overheads),
                "overhead_quartiles": quartiles(overheads),
                "added_ms": statistics.median(gated - plain for plain, gated in rounds),
                "plain_ms": statistics.median(plain for plain, _ in rounds)}
    middle = statistics.median(plain_ms)
    fast = [pair for pair in pairs if pair[0] < middle]
    slow = [pair for pair in pairs if pair[0] >= middle]
    return {**summary(pairs), "fast": summary(fast) if fast else None, "slow": summary(slow)}


def overhead_pairing(steps: dict, rounds: int) -> dict:
    """`overhead_by_speed` of `rounds` paired calls of the two compiled extraction settings only."""
    names = ["extract_none_fast", "extract_dual_pool_fast"]
    times = wall_ms_in_turns({name: functools.partial(*steps[name]) for name in names}, rounds)
    return overhead_by_speed(*(times[name] for name in names))


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
    ratios, spreads = result["ratios"], result["ratio_quartiles"]

    def times(name):
        low, high = spreads[name]
        return f"{ratios[name]:.2f}x (quartiles {low:.2f}-{high:.2f})"

    def percent(name):
        low, high = spreads[name]
        return f"{100 * ratios[name]:.1f}% (quartiles {100 * low:.1f} to {100 * high:.1f})"
    print(f"medians over {result['rounds']} rounds:")
    print(f"extraction speed-up  {times('extraction_speedup')}  (target >= 3.0)")
    print(f"training speed-up    {times('training_speedup')}  (target >= 2.0)")
    print(f"attention overhead   {percent('attention_overhead')}  (target <= 15%)")
    pairing = result["overhead_pairing"]

    def gate(part):
        low, high = part["overhead_quartiles"]
        return (f"{100 * part['overhead']:.1f}% (quartiles {100 * low:.1f} to {100 * high:.1f}), "
                f"+{part['added_ms']:.1f} ms per batch on plain's {part['plain_ms']:.1f} ms")
    print(f"attention overhead, {pairing['rounds']} rounds of only its two settings: {gate(pairing)}  (target <= 15%)")
    for half in ("fast", "slow"):
        if pairing[half]:
            print(f"  rounds with plain {'faster' if half == 'fast' else 'no faster'} than its median: {gate(pairing[half])}")
    print(f"without compilation: extraction {times('extraction_speedup_eager')}, training "
          f"{times('training_speedup_eager')}, overhead {percent('attention_overhead_eager')} "
          f"(training: {percent('attention_overhead_train_eager')})")
    for name, spent in result["compile_seconds"].items():
        print(f"compiling {name:24} {spent:6.1f} s (first call; inductor's disk cache can shorten it)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20, help="timed calls of each setting (default: 20)")
    parser.add_argument("--overhead-rounds", type=int, default=150,
                        help="then paired calls of only plain and dual_pool compiled extraction (default: 150)")
    parser.add_argument("--quick", action="store_true", help="3 rounds each: checks that it runs, measures little")
    parser.add_argument("--extract-batch", type=int, default=32, help="images per extraction batch (default: 32)")
    parser.add_argument("--train-batch", type=int, default=TrainConfig().batch_size,
                        help="images per training batch (default: %(default)s, shoekit train's and the paper's)")
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
        rounds, overhead_rounds = (3, 3) if args.quick else (args.rounds, args.overhead_rounds)
        result = measure(rounds, args.extract_batch, args.train_batch, overhead_rounds)
        result.update(threads=torch.get_num_threads(), torch=torch.__version__, load_average_1min=load,
                      machine=platform.processor() or platform.machine(),
                      command=f"python benchmarks/bench_model_speed.py --rounds {rounds} --overhead-rounds "
                      f"{overhead_rounds} --extract-batch {args.extract_batch} --train-batch {args.train_batch}")
        print_speed(result)
        if not args.run and args.out.is_file():  # a speed run leaves the earlier precision gap (its own command) in place
            result.update({key: value for key, value in json.loads(args.out.read_text()).items()
                           if key == "precision_gap"})
    if args.run:
        result["precision_gap"] = gap = precision_gap(args.run)
        gap["command"] = f"python benchmarks/bench_model_speed.py --run {args.run}" + (" --gap-only" if args.gap_only else "")
        print(f"bf16 vs fp32: Rank-1 gap {gap['rank1_gap_points']:.2f} points, mAP gap "
              f"{gap['mAP_gap_points']:.2f} points (target <= 0.5)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
