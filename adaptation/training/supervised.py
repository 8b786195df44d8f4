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


def supervised_rows(triples, inputs) -> tuple[list, list[int]]:
    """[queries; positives; hard negatives] as encoded rows, and the three segment sizes."""
    queries = inputs.encode([(t.instruction, t.query) for t in triples])
    positives = inputs.encode([t.positive for t in triples])
    wanted = [t.negative for t in triples if t.negative]
    negatives = inputs.encode(wanted) if wanted else []   # a rank's slice may hold none
    return queries + positives + negatives, [len(queries), len(positives), len(negatives)]


def supervised_loss(embeddings: torch.Tensor, n_queries: int, scale: float = 50.0) -> torch.Tensor:
    return info_nce(embeddings[:n_queries], embeddings[n_queries:], scale)


class SupervisedObjective(ContrastiveObjective):
    """One supervised step over the step's triples, gradient-cached when asked."""

    def __call__(self, step: int) -> dict:
        rows, segments = supervised_rows(self.local_items(step), self.inputs)
        n_queries = len(self.plan.batch(step))  # every rank's queries: the gathered matrix's first rows
        loss, _ = self.backward(rows, lambda e: supervised_loss(self.ranks.gather(e, segments), n_queries,
                                                                self.cfg.scale))
        return {"loss": loss.item(), "tokens": int(self.ranks.total(sum(len(r.input_ids) for r in rows)))}

