"""One bidirectional-attention mechanism for every supported decoder family.

transformers 5 builds each model's causal mask inside ``forward`` through
``masking_utils``; a 4-D mask passed in is used as-is. So instead of copying a
modeling file per family we (1) flip ``is_causal`` off on every attention module
(the flag sdpa and flash-attention read) and disable sliding windows, and
(2) pass our own 4-D mask in which every token sees every non-padding token of
its own sequence and nothing sees padding. Flipping the flag alone is not
enough: with padding, transformers would still build a causal 4-D mask.
"""
from __future__ import annotations

import torch
from torch import nn


def set_bidirectional(model: nn.Module, enabled: bool = True) -> int:
    """Turn causal masking off (or back on) in every attention module; returns how many."""
    count = 0
    for module in model.modules():
        if hasattr(module, "is_causal") and isinstance(module.is_causal, bool):
            if not hasattr(module, "_l2v_causal_default"):
                module._l2v_causal_default = module.is_causal
                module._l2v_sliding_default = getattr(module, "sliding_window", None)
            module.is_causal = False if enabled else module._l2v_causal_default
            if hasattr(module, "sliding_window"):
                module.sliding_window = None if enabled else module._l2v_sliding_default
            count += 1
    return count


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions 0..n-1 over each sequence's real tokens, whatever the padding side."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def encoder_attention_mask(
    attention_mask: torch.Tensor,
    dtype: torch.dtype,
    bidirectional: bool = True,
    segment_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Additive (batch, 1, L, L) mask: 0 where a query may attend to a key, dtype-min elsewhere.

    ``segment_ids`` (batch, L) makes the mask block-diagonal so several sequences
    packed into one row never see each other (the CPU twin of varlen flash
    attention). Padding queries still see their sequence's real tokens, so no
    softmax row is empty.
    """
    keys = attention_mask.bool()[:, None, None, :]
    visible = keys.expand(-1, 1, attention_mask.shape[1], -1)
    if segment_ids is not None:
        visible = visible & (segment_ids[:, None, :, None] == segment_ids[:, None, None, :])
    if not bidirectional:
        length = attention_mask.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=attention_mask.device).tril()
        visible = visible & causal
        # a left-padded query row would see nothing: let it see itself to avoid NaN
        visible = visible | torch.eye(length, dtype=torch.bool, device=attention_mask.device)
    mask = torch.zeros(visible.shape, dtype=dtype, device=attention_mask.device)
    return mask.masked_fill(~visible, torch.finfo(dtype).min)
