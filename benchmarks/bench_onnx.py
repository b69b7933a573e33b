"""ONNX export and onnxruntime inference speed vs torch, at 120 px, batch 1 and batch 64.

Prints images/s and ratios against torch fp32 eager measured in the same run (the baseline):
  onnxruntime fp32 (CPU execution provider)   /  torch fp32
  torch bf16 autocast + channels_last         /  torch fp32
Each setting is measured in several alternating rounds and the median is kept, so a machine
shared with other jobs slows all settings alike. The export (default: torch's dynamo exporter)
is timed, and its features are compared with torch's (cosine, target >= 0.999). Without --run a
randomly initialised dual_pool model with 150 classes is exported. Results go to
benchmarks/results/onnx_speed.json.

    python benchmarks/bench_onnx.py [--quick] [--run RUN] [--head max] [--exporter dynamo]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from shoekit.config import TrainConfig
from shoekit.export import cosine_similarities, export_onnx
from shoekit.models import FeatureExtractor, build_model
from shoekit.onnx_backend import OnnxFeatureModel
from shoekit.precision import autocast, bf16_supported
from shoekit.runs import CHECKPOINT_FILE, load_run, save_checkpoint, write_config

SIZE = 120


def images_per_second(step, batch: np.ndarray | torch.Tensor, seconds: float) -> float:
    """Run `step(batch)` for about `seconds` after one warm-up call; images per second."""
    step(batch)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or done == 0:
        step(batch)
        done += len(batch)
    return done / (time.perf_counter() - start)


def torch_step(extractor: torch.nn.Module, bf16: bool):
    @torch.inference_mode()
    def step(batch):
        with autocast(torch.device("cpu"), bf16):
            extractor(batch)
    return step


def random_run(folder: Path) -> Path:
    """A run folder holding a randomly initialised dual_pool model (150 classes, 120 px)."""
    model = build_model("dual_pool", num_classes=150)
    write_config(folder, TrainConfig(data="(none)", image_size=SIZE))
    save_checkpoint(folder / CHECKPOINT_FILE, {
        "epoch": 0, "model": model.state_dict(),
        "class_names": [str(i) for i in range(150)], "manifest_hash": ""})
    return folder


def measure(run: Path, head: str, exporter: str, seconds: float, rounds: int) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        report = export_onnx(run, head, Path(scratch) / "model.onnx", exporter=exporter)
        export_seconds = time.perf_counter() - start
        session = OnnxFeatureModel(report.path, threads=torch.get_num_threads())
        model = load_run(run).model.eval()
        size = report.image_size
        crops = torch.rand(16, 3, size, size, generator=torch.Generator().manual_seed(0))
        with torch.inference_mode():
            parity = float(cosine_similarities(FeatureExtractor(model, head)(crops).numpy(),
                                               session(crops.numpy())).min())
        fp32 = FeatureExtractor(model, head).eval()
        fast = bf16_supported(torch.device("cpu"))
        bf16 = FeatureExtractor(build_model(load_run(run).config.attention, num_classes=model.num_classes)
                                .to(memory_format=torch.channels_last), head).eval()
        bf16.model.load_state_dict(model.state_dict())
        rates: dict[str, list[float]] = {}
        for batch_size in (1, 64):
            images = torch.rand(batch_size, 3, size, size)
            settings = {
                f"torch_fp32_b{batch_size}": (torch_step(fp32, False), images),
                f"torch_bf16_b{batch_size}": (torch_step(bf16, fast),
                                              images.contiguous(memory_format=torch.channels_last)),
                f"onnxruntime_fp32_b{batch_size}": (session, images.numpy()),
            }
            for _ in range(rounds):
                for name, (step, batch) in settings.items():
                    rates.setdefault(name, []).append(images_per_second(step, batch, seconds))
    medians = {name: statistics.median(values) for name, values in rates.items()}
    ratios = {}
    for batch_size in (1, 64):
        base = medians[f"torch_fp32_b{batch_size}"]
        ratios[f"onnxruntime_vs_torch_fp32_b{batch_size}"] = medians[f"onnxruntime_fp32_b{batch_size}"] / base
        ratios[f"torch_bf16_vs_torch_fp32_b{batch_size}"] = medians[f"torch_bf16_b{batch_size}"] / base
    return {"head": head, "exporter": exporter, "export_seconds": export_seconds, "onnx_megabytes": report.megabytes,
            "parity_min_cosine": parity, "bf16_supported": fast, "image_size": size,
            "images_per_s": medians, "images_per_s_rounds": rates, "ratios": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 s per measurement and 2 rounds instead of 4 s and 3")
    parser.add_argument("--run", type=Path, help="a trained run to export (default: random dual_pool weights)")
    parser.add_argument("--head", default="max", help="feature head (default: max)")
    parser.add_argument("--exporter", default="dynamo", choices=("dynamo", "torchscript"),
                        help="torch.onnx exporter (default: dynamo)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "onnx_speed.json",
                        help="where to write the JSON results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        run = args.run or random_run(Path(scratch) / "run")
        result = measure(run, args.head, args.exporter, 1.0 if args.quick else 4.0, 2 if args.quick else 3)
    result.update(run=str(args.run or "random dual_pool, 150 classes"), threads=torch.get_num_threads(),
                  torch=torch.__version__, onnxruntime=__import__("onnxruntime").__version__,
                  machine=platform.processor() or platform.machine(),
                  command="python benchmarks/bench_onnx.py" + (" --quick" if args.quick else "")
                  + (f" --run {args.run}" if args.run else "") + f" --exporter {args.exporter}")
    for name, rate in result["images_per_s"].items():
        print(f"{name:26} {rate:8.1f} images/s")
    for name, ratio in result["ratios"].items():
        print(f"{name:38} {ratio:5.2f}x")
    print(f"export ({args.exporter}) {result['export_seconds']:.1f} s, {result['onnx_megabytes']:.0f} MiB, "
          f"min cosine onnxruntime vs torch {result['parity_min_cosine']:.6f} (target >= 0.999)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
