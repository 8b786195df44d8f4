"""Turning token states into one vector per text.

``pool_mask`` marks the tokens whose states are pooled: the text's own tokens
(BOS, padding and, by default, instruction tokens excluded). ``attention_mask``
marks every real token, used by the positional poolings.
"""
from __future__ import annotations

import torch

from .errors import UsageError

POOLING_MODES: tuple[str, ...] = ("mean", "weighted_mean", "last_token", "bos")


def check_pooling(mode: str) -> str:
    if mode not in POOLING_MODES:
        raise UsageError(f"unknown pooling '{mode}'; choose one of: {', '.join(POOLING_MODES)}")
    return mode


def pool(hidden: torch.Tensor, pool_mask: torch.Tensor, attention_mask: torch.Tensor, mode: str) -> torch.Tensor:
    """(batch, L, dim) states -> (batch, dim) embeddings."""
    if mode == "mean":
        weights = pool_mask.to(hidden.dtype)
    elif mode == "weighted_mean":
        # Position-weighted mean (SGPT): later tokens, which have seen more context
        # in a causal model, weigh more; 1..n over the pooled tokens.
        weights = (pool_mask.long().cumsum(-1) * pool_mask.long()).to(hidden.dtype)
    elif mode == "last_token":
        last = attention_mask.shape[1] - 1 - attention_mask.long().flip(-1).argmax(-1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    elif mode == "bos":
        first = attention_mask.long().argmax(-1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), first]
    else:
        raise UsageError(f"unknown pooling '{mode}'; choose one of: {', '.join(POOLING_MODES)}")
    total = weights.sum(-1, keepdim=True).clamp(min=1e-9)
    return (hidden * weights.unsqueeze(-1)).sum(1) / total
