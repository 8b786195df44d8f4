"""The supervised mix the default encoder is trained on: LLM2Vec's recipe at CPU scale.

    python bench/make_supervised_pairs.py --out RUN/pairs.jsonl
    python bench/supervised_mix.py --pairs RUN/pairs.jsonl --out RUN/mix.jsonl

Writes ``l2v adapt --supervised-data`` JSON lines from the public triplet sets in ``../shared/data``
(read through ``adaptation.training.data.tsv_triples``), each with the instruction of its task, as
the paper's E5 mix gives one instruction per dataset. Batches never mix datasets (``BatchPlan``).
Nothing here comes from STS-B, SciFact, Banking77 or the demo PEPs: those are the dev/test sets.
"""
from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from pathlib import Path

from adaptation.training.data import Triple, tsv_triples, triples

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# (file, task instruction, dataset label) — the instructions the shipped encoder records per task
SIMILARITY = "Retrieve semantically similar text:"
QUESTION = "Given a question, retrieve passages that answer it:"
TITLE = "Given a title, retrieve the passage it describes:"
SOURCES = {
    "nli": ("nli-triplets/train.tsv", SIMILARITY),
    "mnli": ("mnli-triplets/train.tsv", SIMILARITY),
    "squad": ("squad-pairs/train.tsv", QUESTION),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pairs", type=Path, help="title -> passage JSONL of make_supervised_pairs.py (optional)")
    parser.add_argument("--limit", action="append", default=[], metavar="NAME=N",
                        help="rows kept per source (seeded subset), e.g. squad=1200 nli=5000 pairs=640")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    limits = {k: int(v) for k, v in (item.split("=", 1) for item in args.limit)}
    rows: list[Triple] = []
    for name, (relative, instruction) in SOURCES.items():
        rows += tsv_triples(DATA / relative, instruction, name, limits.get(name), args.seed)
    if args.pairs:
        pairs = [Triple(t.query, t.positive, t.negative, TITLE, "titles") for t in triples(str(args.pairs))]
        random.Random(args.seed).shuffle(pairs)
        rows += pairs[:limits.get("pairs", len(pairs))]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row.__dict__, ensure_ascii=False) + "\n")
    print(f"{len(rows)} rows -> {args.out}: {dict(Counter(r.dataset for r in rows))}")


if __name__ == "__main__":
    main()
