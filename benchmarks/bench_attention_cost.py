"""Where the dual_pool attention's extraction time goes, against a memory floor measured in the same run.

Profiles plain and dual_pool ResNet50 on shoekit's fast extraction path (bf16 + channels_last +
torch.compile with freezing, 120 px; inductor's Python wrapper, so that every call is an event)
and splits each forward pass into
  convolutions             oneDNN calls of the backbone (plain's conv3 also adds the residual and
                           applies the ReLU inside the same call)
  gate MLP                 the attention's shared MLP on the pooled rows (B, 2, C)
  generated kernels        inductor's fused C++ loops: the gate's avg+max pooling, its
                           multiply-add-ReLU, the stem's normalisation and pooling
  other                    everything else (graph call, allocation)
The memory floor is the least a gate that needs the global max of conv3's output must add, in
passes over that output (one per bottleneck each): the pooling reads it; then, as the gate is
known only after the convolution, one more kernel reads it again, reads the identity and writes
the sum, the residual addition that plain ResNet50 does inside its convolution while it
computes. Four passes. One pass is timed as a copy of a tensor of half that output's size,
read + write, twice: with the tensors in the caches and with them pushed out to memory first.
Results go to benchmarks/results/attention_cost.json.

    python benchmarks/bench_attention_cost.py [--rounds 10] [--batch 32]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
import torch._inductor.config as inductor_config
from torch.profiler import ProfilerActivity, profile

from shoekit.models import build_model
from shoekit.models.resnet import AttentionBottleneck
from shoekit.precision import autocast

from bench_model_speed import in_turns, wall_ms_in_turns  # the sibling script (this one runs from benchmarks/)

SIZE = 120
FLUSH_BYTES = 1 << 30  # larger than any CPU's last-level cache
FLOOR_PASSES = 4  # pool (read); scale + residual add + ReLU (read map, read identity, write)
CATEGORIES = ("convolutions", "gate MLP", "generated kernels", "other")


def category(name: str, input_shapes, batch_size: int) -> str:
    """The CATEGORIES entry of one profiler event (name and its inputs' shapes)."""
    first = list(input_shapes[0]) if input_shapes else []
    if name.startswith("mkldnn::_linear_pointwise") and first[:1] == [2 * batch_size]:
        return "gate MLP"  # the pooled rows (2B, C); the classifier's input has B rows
    if name.startswith("mkldnn::_convolution_pointwise"):
        return "convolutions"
    if "cpp_fused" in name:
        return "generated kernels"
    return "other"


def bottleneck_output_shapes(attention: str, batch: torch.Tensor) -> list[torch.Size]:
    """The shape of every bottleneck's conv3/bn3 output, in forward order."""
    model = build_model(attention, num_classes=150).eval()
    shapes = []
    hooks = [module.bn3.register_forward_hook(lambda _m, _i, out: shapes.append(out.shape))
             for module in model.modules() if isinstance(module, AttentionBottleneck)]
    with torch.inference_mode():
        model(batch[:1])
    for hook in hooks:
        hook.remove()
    return [torch.Size((len(batch), *shape[1:])) for shape in shapes]


def fast_extractor(attention: str, batch: torch.Tensor):
    """A compiled, frozen bf16 + channels_last forward of a fresh model, warmed up (compiled). As
    `shoekit.precision.compiled(..., inference=True)` but with inductor's Python wrapper, under
    which the profiler sees every oneDNN call as its own event (the C++ wrapper hides them)."""
    model = build_model(attention, num_classes=150).to(memory_format=torch.channels_last).eval()
    forward = torch.compile(model)

    @torch.inference_mode()
    def step():
        with inductor_config.patch(freezing=True, cpp_wrapper=False), autocast(torch.device("cpu"), True):
            forward(batch)
    step()
    step()
    return step


def profile_split(steps: dict, rounds: int, batch_size: int) -> tuple[dict, dict]:
    """({step: {category: milliseconds per forward pass}}, {step: {category: calls per forward
    pass}}), averaged over `rounds` profiled calls of each step, the steps taking turns."""
    split = {name: dict.fromkeys(CATEGORIES, 0.0) for name in steps}
    calls = {name: dict.fromkeys(CATEGORIES, 0) for name in steps}
    for name in in_turns(list(steps), rounds):
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            steps[name]()
        for event in prof.key_averages(group_by_input_shape=True):
            part = category(event.key, event.input_shapes, batch_size)
            split[name][part] += event.self_cpu_time_total / 1000 / rounds
            calls[name][part] += event.count
    return split, {name: {part: round(count / rounds) for part, count in parts.items()} for name, parts in calls.items()}


def pass_ms(shape: torch.Size, cold: bool, repeats: int = 10) -> float:
    """Fastest of `repeats` copies of a bf16 tensor of half `shape`'s elements, read + written:
    the time of one pass (read or write) over a tensor of `shape`, in ms. `cold`: before each
    copy, writing a buffer of FLUSH_BYTES pushes the tensors out of the caches to memory."""
    half = torch.Size((max(shape[0] // 2, 1), *shape[1:]))
    source = torch.rand(half).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    target = torch.empty_like(source)
    flush = torch.empty(FLUSH_BYTES, dtype=torch.uint8) if cold else None
    best = float("inf")
    for index in range(repeats):
        if flush is not None:
            flush.fill_(index)
        start = time.perf_counter()
        target.copy_(source)
        best = min(best, time.perf_counter() - start)
    return 1000 * best * shape[0] / (2 * half[0])


def memory_floor_ms(shapes: list[torch.Size], cold: bool) -> float:
    """FLOOR_PASSES passes over a tensor of every shape in `shapes` (ms), each distinct shape timed once."""
    per_shape = {shape: pass_ms(shape, cold) for shape in set(shapes)}
    return FLOOR_PASSES * sum(per_shape[shape] for shape in shapes)


def measure(rounds: int, batch_size: int) -> dict:
    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        raise SystemExit("this CPU has no fast bf16: the fast path this benchmark profiles falls back to fp32")
    inductor_config.cpp.enable_kernel_profile = True  # named profiler events for inductor's kernels
    batch = torch.rand(batch_size, 3, SIZE, SIZE).contiguous(memory_format=torch.channels_last)
    steps = {attention: fast_extractor(attention, batch) for attention in ("none", "dual_pool")}
    split, calls = profile_split(steps, rounds, batch_size)
    times = wall_ms_in_turns(steps, rounds)
    shapes = bottleneck_output_shapes("dual_pool", batch)
    floor = {"cached": memory_floor_ms(shapes, cold=False), "from_memory": memory_floor_ms(shapes, cold=True)}
    plain_profiled = sum(split["none"].values())
    return {
        "batch": batch_size, "rounds": rounds, "image_size": SIZE,
        "profile_ms_per_forward": split,
        "kernel_calls_per_forward": {name: {part: calls[name][part] for part in CATEGORIES[:3]} for name in calls},
        "wall_ms_median": {name: statistics.median(values) for name, values in times.items()},
        "overhead_wall_median": statistics.median(d / n - 1 for n, d in zip(times["none"], times["dual_pool"])),
        "overhead_profiled": sum(split["dual_pool"].values()) / plain_profiled - 1,
        "memory_floor_ms": floor,
        "memory_floor_fraction_of_plain": {where: ms / plain_profiled for where, ms in floor.items()},
        "bottleneck_outputs": [list(shape) for shape in shapes],
    }


def print_result(result: dict) -> None:
    split = result["profile_ms_per_forward"]
    print(f"batch {result['batch']} at {result['image_size']} px, ms per forward pass (profiled, "
          f"mean of {result['rounds']}):")
    print(f"{'':24} {'plain':>8} {'dual_pool':>10}")
    for name in CATEGORIES:
        print(f"{name:24} {split['none'][name]:8.1f} {split['dual_pool'][name]:10.1f}")
    totals = {model: sum(parts.values()) for model, parts in split.items()}
    print(f"{'total':24} {totals['none']:8.1f} {totals['dual_pool']:10.1f}")
    kernels = {model: sum(parts.values()) for model, parts in result["kernel_calls_per_forward"].items()}
    print(f"kernel calls (conv, MLP, generated) {kernels['none']:6.0f} {kernels['dual_pool']:10.0f}")
    wall = result["wall_ms_median"]
    print(f"wall time (median)       {wall['none']:8.1f} {wall['dual_pool']:10.1f}")
    print(f"attention overhead: {100 * result['overhead_profiled']:.1f}% profiled, "
          f"{100 * result['overhead_wall_median']:.1f}% wall (median of paired calls); target <= 15%")
    floor, fraction = result["memory_floor_ms"], result["memory_floor_fraction_of_plain"]
    print(f"memory floor of the gate ({FLOOR_PASSES} passes over every conv3 output), % of plain's profiled forward:")
    for where in floor:
        print(f"  {where.replace('_', ' '):12} {floor[where]:6.1f} ms = {100 * fraction[where]:.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10, help="profiled and timed calls of each model (default: 10)")
    parser.add_argument("--batch", type=int, default=32, help="images per batch (default: 32)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "attention_cost.json",
                        help="where to write the JSON results")
    args = parser.parse_args()
    if args.rounds < 1 or args.batch < 2:
        parser.error("--rounds must be at least 1 and --batch at least 2")
    result = measure(args.rounds, args.batch)
    result.update(threads=torch.get_num_threads(), torch=torch.__version__,
                  machine=platform.processor() or platform.machine(),
                  command=f"python benchmarks/bench_attention_cost.py --rounds {args.rounds} --batch {args.batch}")
    print_result(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
