"""A retrieval dev set that no training or reported result touches: the sections of the demo's PEPs.

    python bench/pep_sections_dev.py NAME=ENCODER [NAME=ENCODER ...] [--instruction TEXT] [--out dev.jsonl]

The 30 PEPs once bundled in data/sample-docs are excluded from the supervised training pairs
(bench/make_supervised_pairs.py), and SciFact / STS-B test stay for reporting; so their sections
serve to choose between encoders for search. Query: "PEP title: section title"; corpus: the first
paragraph of every section of those PEPs (304 passages); each query has one relevant passage.
Prints MRR@10 and accuracy@1 (x100) per encoder.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def dev_set() -> tuple[list[str], list[str]]:
    from make_supervised_pairs import DATA, DEMO_PEPS, clip, pep_sections

    queries, passages = [], []
    for name in sorted(DEMO_PEPS):
        title, sections = pep_sections(DATA / "peps" / name)
        for section, paragraphs in sections:
            passage = clip(paragraphs[0]) if paragraphs else None
            if passage and passage not in passages:
                queries.append(f"{title}: {section}")
                passages.append(passage)
    return queries, passages


def score(encoder, queries: list[str], passages: list[str], instruction: str | None) -> dict[str, float]:
    """MRR@10 and accuracy@1 (x100) of ``encoder`` on the dev set; query i's relevant passage is passage i."""
    from adaptation.evaluation import metrics
    from adaptation.evaluation.retrieval import exact_search

    docs = encoder.encode(passages, normalize=True)
    vectors = encoder.encode(queries, instruction=instruction or None, normalize=True)
    _, rows = exact_search(docs, vectors, 10)
    ranked = {str(i): [str(r) for r in row] for i, row in enumerate(rows)}
    qrels = {str(i): {str(i): 1} for i in range(len(queries))}
    scores = metrics.ranking_metrics(ranked, qrels, ndcg_k=10, mrr_k=10, recall_k=10)
    return {"mrr@10": round(100 * scores["mrr@10"], 2),
            "acc@1": round(100 * sum(r[0] == q for q, r in ranked.items()) / len(ranked), 2)}


def main() -> None:
    from adaptation import Encoder
    from jsonl import emit

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("encoders", nargs="+")
    parser.add_argument("--instruction", default=None, help="query instruction (default: each encoder's saved one)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    queries, passages = dev_set()
    for spec in args.encoders:
        name, _, source = spec.partition("=")
        encoder = Encoder.from_pretrained(source or name)
        instruction = encoder.config.query_instruction if args.instruction is None else args.instruction
        row = {"encoder": name, "instruction": instruction, "queries": len(queries),
               **score(encoder, queries, passages, instruction)}
        emit(row, args.out)


if __name__ == "__main__":
    main()
