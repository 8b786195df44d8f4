"""Supervised contrastive: (instruction + query, positive, hard negative) triples.

The instruction goes on the query side only and is not pooled (the encoder's
``skip_instruction``). Negatives are the other positives of the batch plus
every hard negative; batches come from one source dataset at a time
(``BatchPlan`` groups), as in the paper.
"""
from __future__ import annotations

import torch

from .contrastive import ContrastiveObjective
from .simcse import info_nce


def supervised_rows(triples, inputs) -> tuple[list, int]:
    """[queries; positives; hard negatives] as encoded rows, and the number of queries."""
    queries = inputs.encode([(t.instruction, t.query) for t in triples])
    positives = inputs.encode([t.positive for t in triples])
    negatives = inputs.encode([t.negative for t in triples if t.negative])
    return queries + positives + negatives, len(triples)


def supervised_loss(embeddings: torch.Tensor, n_queries: int, scale: float = 50.0) -> torch.Tensor:
    return info_nce(embeddings[:n_queries], embeddings[n_queries:], scale)


class SupervisedObjective(ContrastiveObjective):
    """One supervised step over the step's triples, gradient-cached when asked."""

    def __call__(self, step: int) -> dict:
        rows, n = supervised_rows([self.items[i] for i in self.plan.batch(step)], self.inputs)
        loss, _ = self.backward(rows, lambda e: supervised_loss(e, n, self.cfg.scale))
        return {"loss": loss.item(), "tokens": sum(len(r.input_ids) for r in rows)}

