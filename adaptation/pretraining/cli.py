"""``l2v pretrain``: a thin command over :func:`adaptation.pretraining.pretrain`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


def pretrain_cmd(
    out: Path = typer.Option(..., "--out", help="Output model directory (HF format + pretrain_report.json)."),
    data: Optional[list[Path]] = typer.Option(None, "--data", help="Training text files or folders (repeatable). "
                                              "Default: ../shared/data WikiText-2 valid, wiki1m sample, PEPs."),
    eval_file: Optional[Path] = typer.Option(None, "--eval-file", help="Validation text (default: WikiText-2 test)."),
    vocab_size: Optional[int] = typer.Option(None, "--vocab-size", help="BPE vocabulary size [8192]."),
    hidden: Optional[int] = typer.Option(None, "--hidden", help="Hidden size [384]."),
    layers: Optional[int] = typer.Option(None, "--layers", help="Decoder layers [6]."),
    heads: Optional[int] = typer.Option(None, "--heads", help="Attention heads [6]."),
    kv_heads: Optional[int] = typer.Option(None, "--kv-heads", help="Key/value heads (GQA) [2]."),
    intermediate: Optional[int] = typer.Option(None, "--intermediate", help="MLP size [1024]."),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", help="Tokens per packed block [512]."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Sequences per optimiser step [32]."),
    micro_batch: Optional[int] = typer.Option(None, "--micro-batch", help="Sequences per forward pass [8]."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after this many optimiser steps."),
    max_minutes: Optional[float] = typer.Option(None, "--max-minutes", help="Stop (and save) after this much training time."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate [1e-3]."),
    warmup: Optional[int] = typer.Option(None, "--warmup", help="Warmup steps [50]."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="Autocast dtype: bfloat16 | float16 | float32 [bfloat16]."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads (default: torch's choice)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for init and data order [0]."),
    checkpoint_minutes: Optional[float] = typer.Option(None, "--checkpoint-minutes", help="Minutes between checkpoints [10]."),
    eval_every: Optional[int] = typer.Option(None, "--eval-every", help="Steps between quick validation passes [0 = end only]."),
    log_every: Optional[int] = typer.Option(None, "--log-every", help="Steps between train_log.jsonl lines [10]."),
    resume: bool = typer.Option(False, "--resume", help="Continue the checkpoint in --out."),
) -> None:
    """Pretrain a small Llama decoder from scratch (BPE tokenizer trained on the same text)."""
    from .config import PretrainConfig
    from .data import default_data_files, default_eval_file, resolve_files
    from .train import pretrain

    given = dict(vocab_size=vocab_size, hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads,
                 intermediate=intermediate, seq_len=seq_len, batch_size=batch_size, micro_batch=micro_batch,
                 max_steps=max_steps, max_minutes=max_minutes, lr=lr, warmup=warmup, dtype=dtype, threads=threads,
                 seed=seed, checkpoint_minutes=checkpoint_minutes, eval_every=eval_every, log_every=log_every)
    given = {k: v for k, v in given.items() if v is not None}
    if eval_file is not None:
        if not eval_file.is_file():
            from .errors import PretrainDataError

            raise PretrainDataError(f"--eval-file {eval_file}: no such file")
        given["eval_file"] = str(eval_file.resolve())
    if data:
        given["data"] = [str(f) for f in resolve_files(data, given.get("eval_file"))]
    if resume:
        report = pretrain(PretrainConfig(), out, resume=True, overrides=given)
    else:
        PretrainConfig(**given).validate()   # an argument mistake is reported before any data is looked for
        if "data" not in given:              # (setdefault would look for the default corpora even with --data)
            given["data"] = [str(f) for f in default_data_files()]
        if "eval_file" not in given:
            default_eval = default_eval_file()
            given["eval_file"] = str(default_eval) if default_eval else None
        report = pretrain(PretrainConfig(**given), out)
    summary = {k: report[k] for k in ("steps", "tokens_seen", "wall_time_s", "tokens_per_s")}
    if "validation" in report:
        summary.update(val_token_ppl=round(report["validation"]["token_ppl"], 2),
                       val_word_ppl=round(report["validation"]["word_ppl"], 2))
    typer.echo(json.dumps(summary))
    typer.echo(f"model written to {out}")


def register(app: typer.Typer) -> None:
    app.command("pretrain")(pretrain_cmd)
