"""Embedding a contrastive batch with or without gradient caching (GradCache, Gao et al. 2021).

With caching, the batch is embedded chunk by chunk without a graph, the loss and
its gradient w.r.t. the embeddings are computed on the small (batch x dim)
matrix, then each chunk is re-embedded with a graph and the cached gradient is
pushed through it. The RNG state is restored before each re-embedding, so
dropout draws the same masks and the gradients equal those of embedding all
chunks with a graph at once; memory is that of one chunk.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from ..inputs import EncodedText
from .distributed import Ranks

EmbedFn = Callable[[Sequence[EncodedText]], torch.Tensor]
LossFn = Callable[[torch.Tensor], torch.Tensor]


def _rng_state(device: torch.device) -> tuple:
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), cuda


def _set_rng_state(state: tuple, device: torch.device) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


def backward_contrastive(embed: EmbedFn, rows: Sequence[EncodedText], loss_fn: LossFn, chunk: int = 0,
                         device: torch.device | str = "cpu", scaler=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward + backward of ``loss_fn(embed(rows))``; returns (loss, detached embeddings).

    ``chunk`` > 0 (and smaller than the batch) turns gradient caching on. With a float16 ``scaler``
    the loss is scaled before backward (the cached embeddings' gradients then carry the scale too).
    """
    scale = scaler.scale if scaler is not None else (lambda loss: loss)
    if chunk <= 0 or chunk >= len(rows):
        embeddings = embed(rows)
        loss = loss_fn(embeddings)
        scale(loss).backward()
        return loss.detach(), embeddings.detach()
    device = torch.device(device)
    pieces = [rows[i:i + chunk] for i in range(0, len(rows), chunk)]
    states, cached = [], []
    with torch.no_grad():
        for piece in pieces:
            states.append(_rng_state(device))
            cached.append(embed(piece))
    embeddings = torch.cat(cached).requires_grad_()
    loss = loss_fn(embeddings)
    scale(loss).backward()
    grads = embeddings.grad.split([len(p) for p in pieces])
    after = _rng_state(device)
    for piece, state, grad in zip(pieces, states, grads):
        _set_rng_state(state, device)
        embed(piece).backward(grad)
    _set_rng_state(after, device)
    return loss.detach(), embeddings.detach()


class ContrastiveObjective:
    """Shared by SimCSE and supervised: items, their batch plan, and embedding exactly as at inference."""

    def __init__(self, step_model, items: list, plan, cfg, inputs, autocast, scaler=None, ranks: Ranks = Ranks()):
        self.model, self.items, self.plan, self.cfg = step_model, items, plan, cfg
        self.inputs, self.autocast, self.scaler, self.ranks = inputs, autocast, scaler, ranks

    def local_items(self, step: int) -> list:
        """This rank's slice of the step's global batch (all of it in a single process)."""
        return [self.items[i] for i in self.ranks.shard(self.plan.batch(step))]

    def embed(self, rows: Sequence[EncodedText]) -> torch.Tensor:
        """Rows embedded in input order, through length-sorted forward passes of bounded padded size.

        Collating a (query, passage, negative) batch whole pads 20-token queries to the longest passage:
        on SQuAD-like rows most of the compute went to padding. Sorting is deterministic, so GradCache's
        replay (same RNG state, same rows) embeds each piece exactly as before.
        """
        encoder = self.model.encoder
        groups = encoder.forward_groups(sorted(range(len(rows)), key=lambda i: -len(rows[i].input_ids)), rows)
        with self.autocast():
            parts = [encoder.embed_batch(self.inputs.collate([rows[i] for i in group])) for group in groups]
        flat = torch.tensor([i for group in groups for i in group])
        inverse = torch.empty_like(flat)
        inverse[flat] = torch.arange(len(flat))
        return torch.cat(parts)[inverse]

    def backward(self, rows: Sequence[EncodedText], loss_fn: LossFn) -> tuple[torch.Tensor, torch.Tensor]:
        return backward_contrastive(self.embed, rows, loss_fn, self.cfg.grad_cache_chunk, self.model.encoder.device,
                                    self.scaler)
