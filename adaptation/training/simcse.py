"""Unsupervised SimCSE: a sentence and itself, through the encoder twice with dropout, are a pair.

The other sentences of the batch are the negatives. Embeddings are pooled
exactly as the encoder pools at inference (``Encoder.embed_batch``: padding and
special tokens never pooled).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .contrastive import ContrastiveObjective


def info_nce(queries: torch.Tensor, documents: torch.Tensor, scale: float, symmetric: bool = False) -> torch.Tensor:
    """Cross-entropy over scaled cosine similarities; row i's positive is document i.

    ``documents`` may hold more rows than ``queries`` (hard negatives after the positives).
    """
    scores = scale * F.normalize(queries, dim=-1) @ F.normalize(documents, dim=-1).T
    labels = torch.arange(queries.shape[0], device=queries.device)
    loss = F.cross_entropy(scores, labels)
    if symmetric:
        loss = (loss + F.cross_entropy(scores[:, :queries.shape[0]].T, labels)) / 2
    return loss


def simcse_loss(embeddings: torch.Tensor, scale: float = 20.0, symmetric: bool = False) -> torch.Tensor:
    """``embeddings`` = [view 1 of n sentences; view 2 of the same n]."""
    n = embeddings.shape[0] // 2
    return info_nce(embeddings[:n], embeddings[n:], scale, symmetric)


def pair_cosines(embeddings: torch.Tensor) -> tuple[float, float]:
    """(mean cosine of positive pairs, mean cosine of the other in-batch pairs): alignment vs. spread."""
    n = embeddings.shape[0] // 2
    sims = F.normalize(embeddings[:n], dim=-1) @ F.normalize(embeddings[n:], dim=-1).T
    positive = sims.diagonal().mean().item()
    negative = ((sims.sum() - sims.diagonal().sum()) / max(n * n - n, 1)).item()
    return positive, negative


class SimCSEObjective(ContrastiveObjective):
    """One SimCSE step: both views of the step's sentences, (grad-cached) InfoNCE, backward."""

    def __call__(self, step: int) -> dict:
        rows = self.inputs.encode(self.local_items(step))
        views = [len(rows), len(rows)]
        rows = rows + rows
        gather = lambda e: self.ranks.gather(e, views)  # noqa: E731  (both views of every rank's sentences)
        loss, embeddings = self.backward(rows, lambda e: simcse_loss(gather(e), self.cfg.scale, self.cfg.symmetric))
        positive, negative = pair_cosines(gather(embeddings))
        return {"loss": loss.item(), "tokens": int(self.ranks.total(sum(len(r.input_ids) for r in rows))),
                "pos_cos": positive, "neg_cos": negative}
