"""Device, bf16 autocast, channels_last and compilation: the settings that make ResNet50 fast here.

bf16 autocast with channels_last tensors is used where the device computes bf16 natively (CPUs
with AMX/AVX-512 bf16, bf16 GPUs); elsewhere shoekit falls back to fp32. The attention modules'
poolings and gate multiplications run as extra kernels that plain ResNet50 does not need;
`torch.compile` fuses each into one pass. What each setting gains, and what the attention still
costs, is measured by benchmarks/bench_model_speed.py and bench_attention_cost.py (results in
benchmarks/results/ and the README's Results section).
"""

from __future__ import annotations

import contextlib
import functools

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """"auto" -> cuda when available, else cpu; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 autocast is fast on `device` (native bf16 on the CPU, or a bf16 GPU)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on `device` when `enabled`, else a no-op context."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def to_device(tensor: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """Move a 4-D batch to `device`, in channels_last layout when asked."""
    tensor = tensor.to(device, non_blocking=True)
    return tensor.contiguous(memory_format=torch.channels_last) if channels_last else tensor


def compiled(function, enabled: bool, inference: bool = False):
    """`torch.compile(function)` when `enabled`, else `function` unchanged.

    `inference`: compile with inductor's freezing (weights become constants, batch norms fold into
    the convolutions, weights are pre-packed for oneDNN) and its C++ wrapper (the compiled graph
    calls its kernels from C++, not Python, which matters for the attention's many small kernels);
    only for calls under no_grad/inference_mode with weights that no longer change. The first call
    compiles, which takes long (benchmarks/results/model_speed.json has the times measured) and
    needs a C++ compiler on CPUs; it pays off on long extractions and trainings, not on a few images.
    """
    if not enabled:
        return function
    compiled_function = torch.compile(function)
    if not inference:
        return compiled_function

    @functools.wraps(function)
    def frozen(*args, **kwargs):
        from torch._inductor import config

        with config.patch(freezing=True, cpp_wrapper=True):
            return compiled_function(*args, **kwargs)
    return frozen
