"""Which query instruction suits an encoder: one retrieval run, documents embedded once.

    python bench/query_instructions.py ENCODER [--data ../shared/data/scifact] [--limit 100 --corpus-sample 300] \
        [--instruction ''] [--instruction 'Given a title, retrieve the passage it describes'] ...

Documents get no instruction (as in `l2v eval` and the indexer); each query instruction is scored with
nDCG@10 / MRR@10 / recall@100 exactly as `l2v eval` scores retrieval (same subsampling with --limit).
Documents are the expensive side, so comparing instructions costs one corpus embedding, not one each.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    from adaptation import Encoder
    from adaptation.evaluation import metrics
    from adaptation.evaluation.base import EvalSettings, embed
    from adaptation.evaluation.retrieval import exact_search, load, subsample

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("encoder")
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "scifact"))
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--corpus-sample", type=int, default=2000)
    parser.add_argument("--instruction", action="append", default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    settings = EvalSettings(limit=args.limit, corpus_sample=args.corpus_sample)
    data, sampling = subsample(load(args.data), settings)
    encoder = Encoder.from_pretrained(args.encoder)
    started = time.perf_counter()
    docs = embed(encoder, data.corpus_texts, "", settings)
    rows = [{"encoder": args.encoder, "documents": len(data.corpus_ids), "queries": len(data.query_ids),
             "document_seconds": round(time.perf_counter() - started, 1), **sampling}]
    for instruction in args.instruction or [""]:
        queries = embed(encoder, data.query_texts, instruction, settings)
        _, hits = exact_search(docs, queries, 100)
        ranked = {q: [data.corpus_ids[r] for r in row if r >= 0] for q, row in zip(data.query_ids, hits)}
        scores = metrics.ranking_metrics(ranked, data.qrels, ndcg_k=10, mrr_k=10, recall_k=100)
        rows.append({"instruction": instruction, **{k: round(100 * v, 2) for k, v in scores.items()}})
        print(json.dumps(rows[-1]), flush=True)
    if args.out:
        args.out.write_text("\n".join(json.dumps(r) for r in rows) + "\n")


if __name__ == "__main__":
    main()
