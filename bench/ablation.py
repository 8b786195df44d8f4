"""The LLM2Vec ablation at this project's scale: what each step adds, on real tasks.

Given a base decoder and an `l2v adapt` run directory (with `mntp/` and `simcse/` encoders),
evaluates five encoders on STS-B test, SciFact, Banking77 classification and clustering:

  causal+mean   the base as it is (causal attention), mean pooling
  causal+last   the base, causal, last-token (EOS) pooling
  bi            bidirectional attention, no training
  bi+mntp       + masked next token prediction
  bi+mntp+simcse + unsupervised SimCSE

    python bench/ablation.py BASE_DIR RUN_DIR [--limit 300] [--out bench/results/ablation]

Writes `ablation.json` (full report) and `ablation.md` (table) under --out.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"

TASKS = [f"sts:{DATA / 'stsbenchmark' / 'sts-test.csv'}", f"retrieval:{DATA / 'scifact'}",
         f"classification:{DATA / 'banking77'}", f"clustering:{DATA / 'banking77'}"]


def variants(base: Path, run: Path) -> dict[str, callable]:
    from adaptation import Encoder

    return {
        "causal+mean": lambda: Encoder.from_pretrained(base, bidirectional=False, pooling="mean"),
        "causal+last": lambda: Encoder.from_pretrained(base, bidirectional=False, pooling="last_token"),
        "bi": lambda: Encoder.from_pretrained(base),
        "bi+mntp": lambda: Encoder.load(run / "mntp"),
        "bi+mntp+simcse": lambda: Encoder.load(run / "simcse"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", type=Path)
    parser.add_argument("run", type=Path)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--corpus-sample", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "ablation")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"needs the shared data at {DATA}")

    from indexer.evaluation.base import EvalSettings
    from indexer.evaluation.report import to_markdown
    from indexer.evaluation.runner import EncoderSpec, evaluate

    builders = variants(args.base, args.run)
    settings = EvalSettings(limit=args.limit, corpus_sample=args.corpus_sample)
    report = evaluate([EncoderSpec(name, name) for name in builders], TASKS, settings,
                      load_encoder=lambda name: builders[name](),
                      on_result=lambda enc, task, r: print(f"{enc:16s} {task:28s} {r.main_score:.4f}", flush=True))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report.save(args.out.with_suffix(".json"))
    table = to_markdown(report)
    args.out.with_suffix(".md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
