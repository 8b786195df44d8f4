"""Mixed-precision training support shared by ``l2v adapt``, ``l2v pretrain`` (both through training.loop) and
pretraining's perplexity evaluation: one autocast rule and one loss-scaling rule, so the two commands cannot drift.
"""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch


def _device_type(device: str | torch.device) -> str:
    return "cuda" if str(device).startswith("cuda") else "cpu"


def autocast(dtype: str, device: str | torch.device) -> AbstractContextManager:
    """Autocast to ``dtype`` ("bfloat16" or "float16") on ``device``; "float32" runs without it.

    Weights kept in float32 (pretraining's master weights, LoRA adapters) stay float32; matmuls run in ``dtype``.
    """
    if dtype == "float32":
        return nullcontext()
    return torch.autocast(device_type=_device_type(device), dtype=torch.bfloat16 if dtype == "bfloat16" else torch.float16)


def grad_scaler(dtype: str, device: str | torch.device) -> torch.amp.GradScaler | None:
    """A GradScaler for float16 autocast, else None.

    float16 has 5 exponent bits: small gradients underflow to zero (and large ones overflow) unless the
    loss is scaled before backward and the gradients unscaled before clipping; bfloat16 shares float32's
    range and needs none.
    """
    if dtype != "float16":
        return None
    return torch.amp.GradScaler(_device_type(device))
