"""Choose an encoder on dev sets that are not its training distribution (issue 19): no single one decides.

    python bench/dev_sets.py NAME=ENCODER_DIR [NAME=ENCODER_DIR ...] --out bench/results/dev/NAME.json

- STS-B **dev** (1,500 pairs): cosine Spearman, each text with the encoder's ``similar`` task
  instruction when it records one, else plain;
- SciFact **dev**: the *train* queries and qrels (test stays for reporting), ``--scifact-queries``
  of them (seeded) against every judged abstract plus ``--corpus-sample`` others, documents plain;
- Banking77: classification accuracy, logistic regression on 8 train texts per label (MTEB protocol,
  ``--experiments`` runs), plain texts;
- PEP sections: the held-out demo PEPs' sections (``pep_sections_dev.py``), MRR@10, with the
  encoder's ``title`` task instruction, else its default query instruction.

Scores x100, one JSON line per (encoder, set) appended to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
DATA = REPO.parent / "shared" / "data"


def task_instruction(encoder, task: str, fallback: str = "") -> str:
    return (encoder.config.task_instructions or {}).get(task, fallback)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("encoders", nargs="+", metavar="NAME=DIR")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sets", default="sts,scifact,banking77,peps")
    parser.add_argument("--scifact-queries", type=int, default=100)
    parser.add_argument("--corpus-sample", type=int, default=300)
    parser.add_argument("--experiments", type=int, default=3)
    args = parser.parse_args()

    from adaptation import Encoder
    from adaptation.evaluation import classification, retrieval, sts
    from adaptation.evaluation.base import EvalSettings
    from pep_sections_dev import dev_set, score

    wanted = args.sets.split(",")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for spec in args.encoders:
        name, _, directory = spec.partition("=")
        encoder = Encoder.load(directory)
        results = {}
        started = time.perf_counter()
        if "sts" in wanted:
            data = sts.load(DATA / "stsbenchmark" / "sts-dev.csv")
            results["sts-b dev"] = sts.run(encoder, data, EvalSettings(batch_size=64),
                                           task_instruction(encoder, "similar")).main_score
        if "scifact" in wanted:
            settings = EvalSettings(limit=args.scifact_queries, corpus_sample=args.corpus_sample, split="train",
                                    batch_size=16)
            data = retrieval.load(DATA / "scifact", "train")
            results["scifact dev ndcg@10"] = retrieval.run(encoder, data, settings,
                                                           encoder.config.query_instruction).main_score
        if "banking77" in wanted:
            settings = EvalSettings(classification_experiments=args.experiments, batch_size=64)
            data = classification.load(DATA / "banking77", "test", "train")
            results["banking77 acc"] = classification.run(encoder, data, settings, "").main_score
        if "peps" in wanted:
            queries, passages = dev_set()
            instruction = task_instruction(encoder, "title", encoder.config.query_instruction)
            results["pep sections mrr@10"] = score(encoder, queries, passages, instruction)["mrr@10"] / 100
        row = {"encoder": name, "dir": directory, **{k: round(100 * v, 2) for k, v in results.items()},
               "seconds": round(time.perf_counter() - started, 1)}
        print(json.dumps(row), flush=True)
        with args.out.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        del encoder


if __name__ == "__main__":
    main()
