"""Retrieval on a BEIR folder: nDCG@10 (main), MRR@10 and recall@100 with exact search.

Documents are embedded as "title text" (BEIR/MTEB), queries with the retrieval
instruction, documents with ``settings.document_instruction`` (none by default).
"""
from __future__ import annotations

import csv
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adaptation.numeric import unit_rows

from . import metrics
from .base import EvalSettings, TaskResult, embed
from .data import read_jsonl, seeded_sample
from .errors import DataFormatError


@dataclass
class RetrievalData:
    path: Path
    corpus_ids: list[str]
    corpus_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, int]]


SCORE_BLOCK = 1 << 24   # scores computed at once (64 MB of float32): queries go in blocks of this / documents


def exact_search(doc_vectors: np.ndarray, query_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (scores, row indices) by cosine, exact: inner products of unit rows, best first.

    Both arrays have shape (queries, min(k, documents)); equal scores rank the lower document row first,
    so the result never depends on the machine or on how the queries are split into blocks.
    """
    docs = unit_rows(doc_vectors)
    queries = unit_rows(query_vectors)
    k = max(0, min(k, len(docs)))
    scores = np.empty((len(queries), k), dtype=np.float32)
    rows = np.empty((len(queries), k), dtype=np.int64)
    if k == 0 or not len(queries):
        return scores, rows
    step = max(1, SCORE_BLOCK // len(docs))
    for start in range(0, len(queries), step):
        block = queries[start:start + step] @ docs.T
        top = _top_rows(block, k)
        scores[start:start + step] = np.take_along_axis(block, top, axis=1)
        rows[start:start + step] = top
    return scores, rows


def _top_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Per row, the column indices of the k highest scores, by score descending then index ascending."""
    if k < scores.shape[1]:
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        # argpartition picks any of the columns tied with the k-th score; take the lowest-numbered ones instead
        kth = np.take_along_axis(scores, top, axis=1).min(axis=1, keepdims=True)
        tied = (scores == kth).sum(axis=1) > (np.take_along_axis(scores, top, axis=1) == kth).sum(axis=1)
        for row in np.flatnonzero(tied):
            above = np.flatnonzero(scores[row] > kth[row])
            top[row] = np.concatenate([above, np.flatnonzero(scores[row] == kth[row])[:k - len(above)]])
    else:
        top = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    picked = np.take_along_axis(scores, top, axis=1)
    order = np.lexsort((top, -picked), axis=1)
    return np.take_along_axis(top, order, axis=1)


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with open(path, encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if not row or (number == 1 and row[0].strip().lower() in ("query-id", "query_id", "qid")):
                continue
            if len(row) < 3:
                raise DataFormatError(f"{path}:{number}: expected 'query-id<TAB>corpus-id<TAB>score'")
            try:
                qrels[row[0]][row[1]] = int(float(row[2]))
            except ValueError:
                raise DataFormatError(f"{path}:{number}: relevance score '{row[2]}' is not a number") from None
    return dict(qrels)


def load(path: str | Path, split: str = "test") -> RetrievalData:
    """A BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv."""
    path = Path(path)
    needed = [path / "corpus.jsonl", path / "queries.jsonl", path / "qrels" / f"{split}.tsv"]
    missing = [str(p.relative_to(path)) for p in needed if not p.is_file()]
    if missing:
        raise DataFormatError(f"{path}: not a BEIR folder, missing {', '.join(missing)}")
    corpus = read_jsonl(needed[0])
    queries = {str(q["_id"]): q.get("text", "") for q in read_jsonl(needed[1]) if "_id" in q}
    qrels = read_qrels(needed[2])
    if any("_id" not in d for d in corpus):
        raise DataFormatError(f"{needed[0]}: every document needs an '_id'")
    ids = [str(d["_id"]) for d in corpus]
    texts = [(str(d.get("title") or "") + " " + str(d.get("text") or "")).strip() for d in corpus]
    judged_queries = [q for q in qrels if q in queries]
    if not judged_queries:
        raise DataFormatError(f"{needed[2]}: no query id of the qrels appears in queries.jsonl")
    return RetrievalData(path, ids, texts, judged_queries, [queries[q] for q in judged_queries],
                         {q: qrels[q] for q in judged_queries})


def subsample(data: RetrievalData, settings: EvalSettings) -> tuple[RetrievalData, dict]:
    """With a limit: seeded queries; every judged document plus a seeded sample of the others."""
    if settings.limit is None:
        return data, {"subsampled": False}
    keep_q = seeded_sample(len(data.query_ids), settings.limit, settings.seed)
    judged = {doc for judgements in data.qrels.values() for doc in judgements}
    judged_rows = [i for i, d in enumerate(data.corpus_ids) if d in judged]
    other_rows = [i for i, d in enumerate(data.corpus_ids) if d not in judged]
    sampled = [other_rows[i] for i in seeded_sample(len(other_rows), settings.corpus_sample, settings.seed)]
    rows = sorted(judged_rows + sampled)
    query_ids = [data.query_ids[i] for i in keep_q]
    small = RetrievalData(data.path, [data.corpus_ids[i] for i in rows], [data.corpus_texts[i] for i in rows],
                          query_ids, [data.query_texts[i] for i in keep_q], {q: data.qrels[q] for q in query_ids})
    note = (f"subsampled: {len(query_ids)} of {len(data.query_ids)} queries; corpus = all {len(judged_rows)} judged "
            f"documents + {len(sampled)} of {len(other_rows)} others (seed {settings.seed}); scores are higher "
            "than on the full corpus")
    return small, {"subsampled": True, "note": note}


def run(encoder, data: RetrievalData, settings: EvalSettings, instruction: str) -> TaskResult:
    start = time.perf_counter()
    data, sampling = subsample(data, settings)
    docs = embed(encoder, data.corpus_texts, settings.document_instruction, settings)
    queries = embed(encoder, data.query_texts, instruction, settings)
    _, rows = exact_search(docs, queries, max(settings.top_k, 100))
    run_ = {q: [data.corpus_ids[r] for r in hits] for q, hits in zip(data.query_ids, rows)}
    scores = metrics.ranking_metrics(run_, data.qrels, ndcg_k=10, mrr_k=10, recall_k=100)
    details = {"queries": len(data.query_ids), "documents": len(data.corpus_ids), "instruction": instruction,
               "document_instruction": settings.document_instruction, "search": "exact inner product (cosine)",
               **sampling}
    return TaskResult("retrieval", "", "ndcg@10", scores["ndcg@10"], scores, details, time.perf_counter() - start)
