"""``l2v eval``: a thin command over ``adaptation.evaluation.evaluate``."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..hardware import DTYPE_HELP
from .errors import EvaluationError


def parse_instructions(values: list[str]) -> dict[str, str]:
    """'TASKTYPE=TEXT' pairs -> {task type: instruction}."""
    out = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            raise EvaluationError(f"--instruction '{value}': expected TASKTYPE=TEXT, e.g. "
                                  "sts='Retrieve semantically similar text:'")
        out[key.strip().lower()] = text
    return out


def eval_cmd(
    encoders: list[str] = typer.Argument(..., metavar="ENCODERS", help="Encoders to compare: saved encoder dir, bundled encoder name "
                                                   "(l2v encoders), LLM2Vec checkpoint dir or hub id; NAME=PATH names the column."),
    task: list[str] = typer.Option(..., "--task", "-t", metavar="TYPE:PATH", help="TYPE:PATH with TYPE sts | retrieval | classification "
                                                             "| clustering (repeatable)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the JSON report here."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Seeded subsample of N eval items per task "
                                                                     "(queries for retrieval) for a quick run."),
    instruction: list[str] = typer.Option([], "--instruction", "-i", metavar="TASKTYPE=TEXT", help="TASKTYPE=TEXT overrides the default "
                                                                          "instruction of a task type (repeatable)."),
    document_instruction: str = typer.Option("", help="Instruction for retrieval documents (default: none)."),
    batch_size: int = typer.Option(32, "--batch-size", min=1),
    corpus_sample: int = typer.Option(2000, min=0, help="Retrieval with --limit: unjudged documents kept besides "
                                                        "every judged one."),
    seed: int = typer.Option(42, help="Seed of every subsample, train undersample and k-means."),
    split: str = typer.Option("test", help="Evaluation split (qrels/<split>.tsv, <split>.csv)."),
    samples_per_label: int = typer.Option(8, min=0, help="Classification: training texts per label per experiment "
                                                  "(MTEB: 8); 0 = the whole train split."),
    experiments: int = typer.Option(10, min=1, help="Classification: experiments averaged (MTEB: 10)."),
    clustering_runs: int = typer.Option(10, min=1, help="Clustering: bootstrap k-means runs averaged (MTEB: 10)."),
    dtype: Optional[str] = typer.Option(None, "--dtype", metavar="DTYPE", help=DTYPE_HELP),
    all_metrics: bool = typer.Option(False, "--all-metrics", help="Show every metric, not only the main score."),
) -> None:
    """Compare encoders on STS, retrieval, classification and clustering files (offline)."""
    from ..names import resolve_encoder_name
    from .base import EvalSettings
    from .report import print_table
    from .runner import EncoderSpec, evaluate

    for value in encoders:   # a mistyped second encoder fails now, not after the first one's whole evaluation
        resolve_encoder_name(EncoderSpec.parse(value).source)

    settings = EvalSettings(limit=limit, seed=seed, batch_size=batch_size, split=split,
                            instructions=parse_instructions(instruction), document_instruction=document_instruction,
                            samples_per_label=samples_per_label, corpus_sample=corpus_sample, classification_experiments=experiments,
                            clustering_runs=clustering_runs)

    def progress(encoder: str, key: str, result) -> None:
        typer.echo(f"{encoder} | {key}: {result.main_metric} = {100 * result.main_score:.2f} "
                   f"({result.seconds:.1f} s)", err=True)

    def load(source: str):
        from adaptation import Encoder

        return Encoder.from_pretrained(source, dtype=dtype)

    report = evaluate(encoders, task, settings, load_encoder=load, on_result=progress)
    print_table(report, all_metrics)
    if limit is not None:
        typer.echo(f"note: --limit {limit}: subsampled quick run, not comparable to full-set scores", err=True)
    if out is not None:
        report.save(out)
        typer.echo(f"report written to {out}", err=True)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)
