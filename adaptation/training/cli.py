"""``l2v adapt``: a thin command line over ``adaptation.training.adapt``."""
from __future__ import annotations

from typing import List, Optional

import typer

from .config import RunConfig, parse_steps, per_step, step_defaults


def _float_or_int(cast):
    return lambda text: cast(float(text)) if cast is int else cast(text)


def build_config(base_model: str, out: str, steps: str, mntp_data: list[str], simcse_data: Optional[str],
                 supervised_data: list[str], overrides: dict[str, Optional[str]], seed: int, dtype: str,
                 gradient_checkpointing: bool, save_every: int, pooling: Optional[str], copy_base: bool,
                 mask_prob: float, mask_mode: str, mask_token: Optional[str], simcse_dropout: float,
                 grad_cache_chunk: int, symmetric: bool, lora_r: int, lora_alpha: int, lora_dropout: float,
                 lora_targets: Optional[str], lora_layers: int = 0) -> RunConfig:
    """CLI values -> RunConfig; per-step options accept '3e-5' or 'mntp=5e-5,simcse=3e-5'."""
    names = parse_steps(steps)
    casts = {"max_steps": int, "batch_size": int, "lr": float, "max_length": int, "warmup": int}
    values = {key: per_step(key.replace("_", "-"), overrides.get(key), names, _float_or_int(cast))
              for key, cast in casts.items()}
    data = {"mntp": list(mntp_data), "simcse": [simcse_data] if simcse_data else [],
            "supervised": list(supervised_data)}
    configs = []
    for name in names:
        step = step_defaults(name)
        for key in casts:
            if name in values[key]:
                setattr(step, key, values[key][name])
        step.data = data[name]
        step.mask_prob, step.mask_mode, step.mask_token = mask_prob, mask_mode, mask_token or ""
        step.attention_dropout = simcse_dropout if name == "simcse" else 0.0
        step.grad_cache_chunk, step.symmetric = grad_cache_chunk, symmetric and name == "simcse"
        step.lora_r, step.lora_alpha, step.lora_dropout, step.lora_layers = lora_r, lora_alpha, lora_dropout, lora_layers
        if lora_targets:
            step.lora_targets = [t.strip() for t in lora_targets.split(",") if t.strip()]
        configs.append(step)
    return RunConfig(base_model=base_model, out=out, steps=configs, seed=seed, dtype=dtype,
                     gradient_checkpointing=gradient_checkpointing, save_every=save_every, pooling=pooling,
                     copy_base=copy_base)


def adapt_cmd(
    base_model: str = typer.Argument(..., metavar="BASE_MODEL", help="Base decoder: local dir or hub id (or an LLM2Vec/saved "
                                                                       "encoder, or a bundled one by name)."),
    out: str = typer.Option(..., "--out", "-o", help="Run directory; each step writes a loadable encoder in it."),
    steps: str = typer.Option("mntp,simcse", help="Steps in order: mntp,simcse | mntp,supervised | ..."),
    mntp_data: List[str] = typer.Option([], "--mntp-data", metavar="PATH", help="Text file(s)/dir, or a dataset name (wikitext-103)."),
    simcse_data: Optional[str] = typer.Option(None, "--simcse-data", help="One sentence per line."),
    supervised_data: List[str] = typer.Option([], "--supervised-data", metavar="PATH",
                                              help="JSONL {query,positive,negative?,instruction?,dataset?} or TSV "
                                                   "query/positive/negative (repeatable: one batch source each)."),
    max_steps: Optional[str] = typer.Option(None, "--max-steps", help="Optimizer steps (default 1000); N or mntp=N,simcse=M."),
    batch_size: Optional[str] = typer.Option(None, "--batch-size", help="Default mntp 32, simcse 128, supervised 64."),
    lr: Optional[str] = typer.Option(None, "--lr", help="Default mntp 5e-5, simcse 3e-5, supervised 2e-4."),
    max_length: Optional[str] = typer.Option(None, "--max-length", help="Tokens per block/text (mntp 512, simcse 128)."),
    warmup: Optional[str] = typer.Option(None, "--warmup", help="Warmup steps (supervised 300, others 0)."),
    seed: int = typer.Option(0, "--seed"),
    dtype: str = typer.Option("float32", "--dtype", help="float32 | bfloat16 (autocast; fast on recent CPUs/GPUs)."),
    resume: bool = typer.Option(False, "--resume", help="Continue a run from its last checkpoint."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan (steps, data sizes, parameters) and exit."),
    mask_prob: float = typer.Option(0.2, "--mask-prob", help="MNTP masking probability (paper's Mistral: 0.8)."),
    mask_mode: str = typer.Option("80-10-10", "--mask-mode", help="80-10-10 (mask/random/keep) | all"),
    mask_token: Optional[str] = typer.Option(None, "--mask-token", help="Default: tokenizer's mask token, else '_'."),
    simcse_dropout: float = typer.Option(0.3, "--simcse-dropout", help="Attention-probability dropout for SimCSE."),
    grad_cache_chunk: int = typer.Option(0, "--grad-cache-chunk", help="Gradient caching chunk size (0 = off)."),
    symmetric: bool = typer.Option(False, "--symmetric", help="Symmetric SimCSE loss."),
    gradient_checkpointing: bool = typer.Option(False, "--gradient-checkpointing"),
    save_every: int = typer.Option(100, "--save-every", help="Checkpoint every N steps (0 = never)."),
    pooling: Optional[str] = typer.Option(None, "--pooling", help="mean | weighted_mean | last_token | bos"),
    copy_base: bool = typer.Option(False, "--copy-base", help="Copy a local base into each step dir (default: reference it by path + hash)."),
    lora_r: int = typer.Option(16, "--lora-r"),
    lora_alpha: int = typer.Option(32, "--lora-alpha"),
    lora_dropout: float = typer.Option(0.05, "--lora-dropout"),
    lora_targets: Optional[str] = typer.Option(None, "--lora-targets", help="Comma list (default q,k,v,o,gate,up,down)."),
    lora_layers: int = typer.Option(0, "--lora-layers", min=0,
                                    help="Adapt only the top N decoder layers (0 = all): backward stops below them."),
    nproc: int = typer.Option(1, "--nproc", min=1,
                              help="Data-parallel processes on this machine (torchrun; gloo on CPU, one GPU each "
                                   "with nccl). --batch-size stays the global batch. Several nodes: run torchrun "
                                   "yourself with `-m adaptation.training adapt ...`."),
) -> None:
    """Turn a decoder into an encoder: MNTP, then SimCSE or supervised contrastive (LLM2Vec)."""
    from .distributed import leave
    from .run import adapt, check_run_dir, validate

    overrides = {"max_steps": max_steps, "batch_size": batch_size, "lr": lr, "max_length": max_length, "warmup": warmup}
    config = build_config(base_model, out, steps, mntp_data, simcse_data, supervised_data, overrides, seed, dtype,
                          gradient_checkpointing, save_every, pooling, copy_base, mask_prob, mask_mode, mask_token,
                          simcse_dropout, grad_cache_chunk, symmetric, lora_r, lora_alpha, lora_dropout, lora_targets,
                          lora_layers)
    if nproc > 1 and not dry_run:
        validate(config)                 # a user mistake is one line here, not N ranks' tracebacks
        check_run_dir(config, resume)
        raise typer.Exit(launch_torchrun(nproc))
    try:
        adapt(config, resume=resume, dry_run=dry_run, echo=typer.echo)
    finally:
        leave()


def launch_torchrun(nproc: int) -> int:
    """Run this same ``l2v adapt`` command under ``torch.distributed.run`` with ``nproc`` local processes."""
    import subprocess
    import sys

    args = sys.argv[sys.argv.index("adapt") + 1:]
    kept, skip = [], False
    for arg in args:  # drop --nproc N / --nproc=N: each launched process is one rank
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            kept.append(arg)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               "-m", "adaptation.training", "adapt", *kept]
    return subprocess.call(command)


def register(app: typer.Typer) -> None:
    app.command("adapt")(adapt_cmd)
