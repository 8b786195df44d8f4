"""Dense vs BM25 vs hybrid (reciprocal rank fusion) through the real indexer, on a BEIR folder.

    python bench/bench_hybrid.py [--data ../shared/data/scifact] [--encoder data/encoders/l2v-smollm2] \
        [--weights 0.5,0.3,0.2] [--out bench/results/hybrid.md]

Writes each corpus document as a file, indexes the folder with ``build_index`` (the encoder's
own chunking), then runs every test query through ``Index.search_vector``: dense, hybrid at several
dense weights (the product's fusion: min-max-scaled scores, weighed), and the FTS5 BM25 ranking alone;
with ``--rrf`` also reciprocal rank fusion of the same two rankings (the fusion hybrid search used
before). A document ranks where its best chunk does. Prints nDCG@10, MRR@10 and recall@100 (as
``l2v eval`` computes them). A database already built for the same folder and encoder is reused.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from indexer import Index, IndexOptions, build_index  # noqa: E402
from adaptation.evaluation import metrics  # noqa: E402
from adaptation.evaluation.base import EvalSettings  # noqa: E402
from adaptation.evaluation.retrieval import load, subsample  # noqa: E402
from indexer.ranking import rrf  # noqa: E402
from indexer.store.queries import bm25  # noqa: E402

WORK = REPO / "bench" / "out" / "hybrid"


def write_corpus(data, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for doc_id, text in zip(data.corpus_ids, data.corpus_texts):
        (folder / f"{doc_id}.txt").write_text(text + "\n", encoding="utf-8")


def documents(chunk_ids: list[int], doc_of: dict[int, str]) -> list[str]:
    """Chunk ranking -> document ranking (each document at its best chunk's rank)."""
    return list(dict.fromkeys(doc_of[c] for c in chunk_ids))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "scifact"))
    parser.add_argument("--encoder", default=str(REPO / "data" / "encoders" / "l2v-smollm2"))
    parser.add_argument("--weights", default="0.5,0.3,0.2", help="dense weights of the fusions to compare")
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--limit", type=int, default=None,
                        help="seeded subsample of N queries, as `l2v eval --limit` (corpus: judged + --corpus-sample)")
    parser.add_argument("--corpus-sample", type=int, default=2000)
    parser.add_argument("--split", default="test", help="qrels split: choose the weight on 'train' (a dev split), "
                                                       "report 'test' once")
    parser.add_argument("--rrf", action="store_true", help="also reciprocal rank fusion (k=60) at the same weights")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    data, sampling = subsample(load(args.data, args.split), EvalSettings(limit=args.limit, corpus_sample=args.corpus_sample))
    name = Path(args.data).name + (f"-{args.split}" if args.split != "test" else "") + \
        (f"-limit{args.limit}-corpus{args.corpus_sample}" if args.limit else "")
    folder, db = WORK / f"{name}-docs", WORK / f"{name}-{Path(args.encoder).name}.l2v"
    if not folder.is_dir():
        write_corpus(data, folder)
    started = time.perf_counter()
    build_index(folder, db, {"enc": args.encoder}, IndexOptions(progress=True))
    build_seconds = time.perf_counter() - started

    weights = [float(w) for w in args.weights.split(",")]
    runs: dict[str, dict[str, list[str]]] = {"dense": {}, "BM25": {},
                                             **{f"hybrid, dense weight {w:g}": {} for w in weights},
                                             **({f"RRF (before), dense weight {w:g}": {} for w in weights}
                                                if args.rrf else {})}
    with Index.open(db) as idx:
        doc_of = {c.id: Path(c.path).stem for c in idx.chunks()}
        embedder, instruction = idx.embedder("enc"), idx.query_instruction("enc")
        for qid, query in zip(data.query_ids, data.query_texts):
            vector = embedder.encode_queries([query], instruction=instruction)[0]
            dense = [r.chunk_id for r in idx.search_vector(vector, "enc", k=args.depth)]
            with idx.Session() as s:
                lexical = bm25(s, query, args.depth)
            runs["dense"][qid] = documents(dense, doc_of)
            runs["BM25"][qid] = documents(lexical, doc_of)
            for w in weights:
                fused = idx.search_vector(vector, "enc", k=args.depth, bm25_query=query, dense_weight=w)
                runs[f"hybrid, dense weight {w:g}"][qid] = documents([r.chunk_id for r in fused], doc_of)
                if args.rrf:
                    ranked = [c for c, _ in rrf([dense, lexical], weights=[w, 1 - w])]
                    runs[f"RRF (before), dense weight {w:g}"][qid] = documents(ranked, doc_of)

    lines = [f"{name}: {len(data.corpus_ids)} documents, {len(data.query_ids)} {args.split} queries; encoder "
             f"`{args.encoder}`; index built in {build_seconds:.0f} s", *([sampling["note"]] if args.limit else []), "",
             "| ranking | nDCG@10 | MRR@10 | recall@100 |", "|---|---:|---:|---:|"]
    for label, run in runs.items():
        m = metrics.ranking_metrics(run, data.qrels, ndcg_k=10, mrr_k=10, recall_k=100)
        lines.append(f"| {label} | {100 * m['ndcg@10']:.1f} | {100 * m['mrr@10']:.1f} | {100 * m['recall@100']:.1f} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
