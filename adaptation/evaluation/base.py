"""Shared types of the evaluation tasks: settings in, ``TaskResult`` out."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np


@dataclass
class EvalSettings:
    """Everything that changes a score; saved in the report so a run can be repeated."""

    limit: int | None = None  # subsample each task to this many eval items (seeded); None = everything
    seed: int = 42
    split: str = "test"  # evaluation split (retrieval qrels/<split>.tsv, <split>.csv for the others)
    train_split: str = "train"  # classification: where the logistic regression is fitted
    batch_size: int = 32
    instructions: dict[str, str] = field(default_factory=dict)  # task type -> instruction override
    document_instruction: str = ""  # retrieval documents (LLM2Vec: none)
    top_k: int = 100  # retrieval depth (recall@100 needs 100)
    corpus_sample: int = 2000  # retrieval with --limit: unjudged documents kept besides every judged one
    classification_experiments: int = 10  # MTEB: 10 train subsamples, scores averaged
    samples_per_label: int = 8  # MTEB default; 0 = train on the whole train split once
    max_iter: int = 100  # LogisticRegression, as MTEB
    clustering_runs: int = 10  # MTEB ClusteringFast: bootstrap samples, V-measure averaged
    clustering_sample: int = 16384  # documents per bootstrap sample (capped at the set size)
    kmeans_batch_size: int = 512

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "EvalSettings":
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class TaskResult:
    """One encoder on one task: the main score plus every other metric and how it was run."""

    task_type: str
    dataset: str
    main_metric: str
    main_score: float
    metrics: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)  # sizes, instruction, subsampling notes
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TaskResult":
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


def embed(encoder, texts: Sequence[str], instruction: str, settings: EvalSettings) -> np.ndarray:
    """Embed ``texts`` as (instruction, text) pairs: the instruction is attended to, never pooled."""
    items = [(instruction, t) for t in texts] if instruction else list(texts)
    return encoder.encode(items, batch_size=settings.batch_size, show_progress=len(items) > 256)
