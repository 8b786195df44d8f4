"""What this machine runs fast: the default dtype (a capability probe) and the thread count.

bf16 halves memory traffic and doubles matmul throughput only where the hardware has bf16 units:
CPUs with ``avx512_bf16`` or AMX, and GPUs that support it. Elsewhere (an AVX2-only CPU) torch
emulates bf16 and runs it several times *slower* than fp32 (measured on a 2-core AVX2 EPYC: a
512x576x1536 matmul at 18 GFLOP/s in bf16 against 150 in fp32). So the dtype an encoder runs in is
decided per machine, recorded on the encoder (``Encoder.dtype_reason``), and overridable: an explicit
``dtype=`` / ``--dtype``, or ``L2V_DTYPE`` for every encoder a process (and its children) loads.

``int8`` is a CPU option, never a default: dynamic int8 linear layers (weights quantized once,
activations per batch), see ``quantize_int8``.
"""
from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UsageError

if TYPE_CHECKING:   # torch is imported where it is used: `l2v --help` names --dtype without loading it
    import torch

log = logging.getLogger(__name__)

DTYPE_ENV = "L2V_DTYPE"
RUN_DTYPES = ("float32", "bfloat16", "float16", "int8")
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class DtypeChoice:
    dtype: str
    reason: str


@lru_cache(maxsize=1)
def _cpuinfo() -> list[str]:
    """The lines of /proc/cpuinfo, read once (none where it is missing: no bf16 assumed, cores from the OS)."""
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags Linux reports."""
    for line in _cpuinfo():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def choose_dtype(requested: str | None, device: str) -> DtypeChoice:
    """The dtype to run in: ``requested`` if given, else ``L2V_DTYPE``, else what the hardware runs fastest."""
    if requested:
        return DtypeChoice(_checked(requested, device), "asked for")
    if os.environ.get(DTYPE_ENV):
        return DtypeChoice(_checked(os.environ[DTYPE_ENV], device), f"{DTYPE_ENV}={os.environ[DTYPE_ENV]}")
    import torch

    if torch.device(device).type == "cuda":
        if torch.cuda.is_bf16_supported():
            return DtypeChoice("bfloat16", "GPU with bf16 support")
        return DtypeChoice("float32", "GPU without bf16 support")
    if torch.device(device).type != "cpu":
        return DtypeChoice("float32", f"device {device}")
    native = [flag for flag in BF16_CPU_FLAGS if flag in cpu_flags()]
    if native:
        return DtypeChoice("bfloat16", f"CPU has native bf16 ({', '.join(native)})")
    return DtypeChoice("float32", "CPU has no native bf16 (no avx512_bf16 / amx_bf16): bf16 would be emulated")


def _checked(dtype: str, device: str) -> str:
    if dtype not in RUN_DTYPES:
        raise UsageError(f"unknown dtype '{dtype}'; choose one of: {', '.join(RUN_DTYPES)}")
    if dtype == "int8" and not device.startswith("cpu"):
        raise UsageError("dtype int8 runs on CPU only; on a GPU use bfloat16")
    return dtype


def weights_dtype(dtype: str) -> str:
    """The dtype the weights load in: int8 quantizes fp32 weights after loading."""
    return "float32" if dtype == "int8" else dtype


def quantize_int8(model: "torch.nn.Module", per_channel: bool = True) -> "torch.nn.Module":
    """Every ``nn.Linear`` as a dynamic int8 linear layer (int8 weights, activations quantized per batch).

    Weights get one scale per output channel: a single scale per matrix lets a few large rows crush the
    resolution of all the others (STS-B test, shipped encoder: see BENCHMARKS.md).

    torch's eager dynamic quantization is deprecated in favour of torchao, but it is in every CPU torch
    build, needs no extra package, and runs on fbgemm's AVX2 int8 kernels; swap the backend here if a
    well-kept one measures better (bench/bench_encode.py --dtypes).
    """
    import torch
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic

    qconfig = per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {torch.nn.Linear: qconfig}, dtype=torch.qint8, inplace=True)


@lru_cache(maxsize=1)
def physical_cores() -> int:
    """Physical cores this process may run on (hyper-threads share one core's matmul units)."""
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    cores, current = set(), {}
    for line in _cpuinfo() + [""]:
        if not line.strip():
            if "core id" in current:
                cores.add((current.get("physical id", "0"), current["core id"]))
            current = {}
        elif ":" in line:
            key, value = line.split(":", 1)
            current[key.strip()] = value.strip()
    return max(1, min(allowed, len(cores) or allowed))


def set_cpu_threads() -> int:
    """At most one torch thread per physical core (an encoder calls this when it loads on a CPU).

    Only ever lowers the count: hyper-threads contend for the same matmul units, while a caller that
    chose fewer threads (``OMP_NUM_THREADS``, a Ray actor given one CPU) keeps its choice.
    """
    import torch

    cores = physical_cores()
    if not os.environ.get("OMP_NUM_THREADS") and torch.get_num_threads() > cores:
        torch.set_num_threads(cores)
    return torch.get_num_threads()


def use_dtype(dtype: str | None) -> None:
    """A command's ``--dtype``: every encoder this process and its children (the UI server, Ray actors)
    load runs in it (through ``L2V_DTYPE``); None leaves the choice to ``choose_dtype``."""
    if dtype:
        if dtype not in RUN_DTYPES:
            raise UsageError(f"--dtype {dtype}: choose one of {', '.join(RUN_DTYPES)}")
        os.environ[DTYPE_ENV] = dtype


DTYPE_HELP = ("float32 | bfloat16 | int8 (CPU only: dynamic int8 linear layers) [default: bfloat16 where the "
              "CPU or GPU has native bf16, else float32]")
