"""Mixed-precision training support shared by ``l2v adapt`` (training.loop) and ``l2v pretrain``."""
from __future__ import annotations

import torch


def grad_scaler(dtype: str, device: str) -> torch.amp.GradScaler | None:
    """A GradScaler for float16 autocast, else None.

    float16 has 5 exponent bits: small gradients underflow to zero (and large ones overflow) unless the
    loss is scaled before backward and the gradients unscaled before clipping; bfloat16 shares float32's
    range and needs none.
    """
    if dtype != "float16":
        return None
    return torch.amp.GradScaler("cuda" if str(device).startswith("cuda") else "cpu")
