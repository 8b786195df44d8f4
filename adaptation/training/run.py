"""``adapt``: run the requested steps in order, each starting from the previous step's encoder.

Layout of a run directory::

    runs/x/run_config.json          the whole run's configuration
    runs/x/logs/<step>.jsonl        per-step JSON-lines log (loss, lr, tokens/s, step)
    runs/x/checkpoints/<step>/      resumable state while a step is in progress
    runs/x/<step>/                  a complete encoder (Encoder.load) + run_config.json + train_log.jsonl
"""
from __future__ import annotations

import json
import math
import random
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..config import CONFIG_NAME, library_versions
from ..names import resolve_encoder_name
from ..precision import autocast, grad_scaler
from ..storage import read_json_or_empty, write_json_atomic
from .config import RUN_CONFIG, MASK_MODES, RunConfig, StepConfig
from .data import BatchPlan, check_source, describe_source, mntp_blocks, sentences, triples
from .distributed import Ranks, join_from_environment
from .errors import RunStateError, TrainingDataError
from .loop import LoopSettings, train
from .mntp import MNTPObjective, resolve_mask_token
from .model import StepModel, add_lora, count_parameters, load_encoder, load_head, save_step, set_attention_dropout
from .simcse import SimCSEObjective
from .supervised import SupervisedObjective
from ..errors import UsageError


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def validate(config: RunConfig) -> None:
    """Cheap checks before any model is loaded: one clear line per mistake."""
    resolve_encoder_name(config.base_model)   # a mistyped base fails before the run directory is claimed
    if not config.steps:
        raise UsageError("no steps to run; pass --steps mntp,simcse")
    for step in config.steps:
        for key in ("max_steps", "batch_size", "max_length"):
            if getattr(step, key) < 1:
                raise UsageError(f"{step.name}: {key.replace('_', '-')} must be at least 1")
        if not math.isfinite(step.lr) or step.lr <= 0:
            raise UsageError(f"{step.name}: --lr {step.lr}: must be a positive number, e.g. 5e-5")
        if step.lora_r < 1:
            raise UsageError(f"--lora-r {step.lora_r}: the LoRA rank must be at least 1 (16 is the default)")
        if not math.isfinite(step.lora_alpha) or step.lora_alpha <= 0:
            raise UsageError(f"--lora-alpha {step.lora_alpha}: must be positive (32 is the default)")
        if not 0 <= step.lora_dropout < 1:
            raise UsageError(f"--lora-dropout {step.lora_dropout}: must be in [0, 1)")
        for key, value in (("weight_decay", step.weight_decay), ("max_grad_norm", step.max_grad_norm),
                           ("scale", step.scale)):
            if not math.isfinite(value) or value < 0 or (key != "weight_decay" and value == 0):
                raise UsageError(f"{step.name}: {key.replace('_', '-')} {value}: must be a finite positive number")
        if not 0 < step.mask_prob < 1 and step.name == "mntp":
            raise UsageError(f"--mask-prob {step.mask_prob}: must be between 0 and 1")
        if step.mask_mode not in MASK_MODES:
            raise UsageError(f"--mask-mode {step.mask_mode}: choose one of {', '.join(MASK_MODES)}")
        if not 0 <= step.attention_dropout < 1:
            raise UsageError(f"--simcse-dropout {step.attention_dropout}: must be in [0, 1)")
        option = {"mntp": "--mntp-data", "simcse": "--simcse-data", "supervised": "--supervised-data"}[step.name]
        if not step.data:
            kind = {"mntp": "FILE_OR_DATASET", "simcse": "FILE", "supervised": "FILE.jsonl|FILE.tsv"}[step.name]
            raise TrainingDataError(f"step {step.name} needs {option} {kind}")
        for source in step.data:
            check_source(source, option)


def check_run_dir(config: RunConfig, resume: bool) -> None:
    """A run directory belongs to one run: refuse to mix, and refuse a resume onto another base."""
    out = Path(config.out).expanduser()
    if out.exists() and not out.is_dir():
        raise RunStateError(f"--out {out} is a file; name a new folder for the run (each step writes an encoder in it)")
    saved = read_json_or_empty(out / RUN_CONFIG)
    if saved and not resume:
        raise RunStateError(f"{out} already holds a run; pass --resume to continue it, or choose another --out")
    if saved and saved.get("base_model") != config.base_model:
        raise RunStateError(f"--resume: {out} was trained from base '{saved.get('base_model')}', not "
                            f"'{config.base_model}'; its adapters do not fit this base — pass the original base")
    if out.exists() and not saved and any(out.iterdir()) and not resume:
        raise RunStateError(f"{out} exists and is not an l2v adapt run; choose another --out")


def prepare(step: StepConfig, config: RunConfig, source: str | Path,
            ranks: Ranks = Ranks()) -> tuple[StepModel, object, dict]:
    """Load the step's starting encoder, data and new adapter; returns (model, objective, facts for the plan)."""
    encoder = load_encoder(source, config.dtype, ranks.device(), config.pooling)
    tokenizer = encoder.tokenizer
    facts: dict = {"started_from": str(source), "data": [describe_source(s) for s in step.data]}
    if step.name == "mntp":
        token, mask_id = resolve_mask_token(tokenizer, step.mask_token or None)
        step.mask_token = token
        facts.update(mask_token=token, mask_token_id=mask_id)
        blocks, stats = mntp_blocks(tokenizer, step.data, step.max_length, step.max_steps * step.batch_size)
        facts["data_stats"] = stats
        items: list = blocks
    elif step.name == "simcse":
        items = sentences(step.data[0])
        facts["data_stats"] = {"sentences": len(items)}
    else:
        items = [row for source in step.data for row in triples(source)]
        facts["data_stats"] = {"triples": len(items), "datasets": len({t.dataset for t in items}),
                               "with_negative": sum(t.negative is not None for t in items)}
    seed_everything(config.seed + 1000 * ("mntp", "simcse", "supervised").index(step.name))
    targets = add_lora(encoder, step, config.gradient_checkpointing)
    head, softcap = load_head(encoder) if step.name == "mntp" else (None, None)
    set_attention_dropout(encoder.model, step.attention_dropout)
    trainable, total = count_parameters(encoder.model)
    facts.update(lora_targets=targets, trainable_params=trainable, total_params=total)
    model = StepModel(encoder, head, softcap)
    groups = [t.dataset for t in items] if step.name == "supervised" else None
    plan = BatchPlan(len(items), step.batch_size, config.seed, groups)
    facts["batches_per_epoch"] = plan.batches_per_epoch
    mixed = lambda: autocast(config.dtype, encoder.device)  # noqa: E731
    scaler = grad_scaler(config.dtype, encoder.device)
    if step.name == "mntp":
        objective = MNTPObjective(model, items, plan, step, mask_id, config.seed, mixed, scaler, ranks)
    else:
        inputs = encoder.input_builder(step.max_length)
        cls = SimCSEObjective if step.name == "simcse" else SupervisedObjective
        objective = cls(model, items, plan, step, inputs, mixed, scaler, ranks)
    return model, objective, facts


def describe(step: StepConfig, facts: dict) -> str:
    """One paragraph of the plan for ``--dry-run`` and the start of each step."""
    sizes = ", ".join(f"{k} {v}" for k, v in facts.get("data_stats", {}).items())
    line = (f"step {step.name}: {step.max_steps} steps x batch {step.batch_size} x max {step.max_length} tokens, "
            f"lr {step.lr:g} (warmup {step.warmup}, linear decay)\n"
            f"  data: {', '.join(d['source'] for d in facts['data'])} -> {sizes}; "
            f"{facts['batches_per_epoch']} batches/epoch\n"
            f"  LoRA r={step.lora_r} alpha={step.lora_alpha} on {', '.join(facts['lora_targets'])}"
            f"{f' (top {step.lora_layers} layers)' if step.lora_layers else ''}: "
            f"{facts['trainable_params']:,} trainable of {facts['total_params']:,} parameters "
            f"({100 * facts['trainable_params'] / max(facts['total_params'], 1):.2f}%)")
    if step.name == "mntp":
        line += f"\n  masking: p={step.mask_prob} {step.mask_mode}, mask token {facts['mask_token']!r} (id {facts['mask_token_id']})"
    else:
        line += (f"\n  contrastive: scale {step.scale:g}, attention dropout {step.attention_dropout}, "
                 f"grad-cache chunk {step.grad_cache_chunk or 'off'}")
    return line


def adapt(config: RunConfig, *, resume: bool = False, dry_run: bool = False, stop_after: int | None = None,
          echo: Callable[[str], None] = print) -> list[Path]:
    """Run (or with ``dry_run`` only plan) the steps; returns the step directories written.

    ``stop_after`` ends the run after that many optimizer steps of the first
    unfinished step (counted from where it resumed), without a final
    checkpoint: what a kill looks like (tests).
    """
    validate(config)
    ranks = join_from_environment()   # torchrun's job, or the single process
    if not ranks.main:
        echo = lambda _: None  # noqa: E731  (one voice)
    for step in config.steps:  # a warmup as long as the run would never reach the peak lr
        if step.warmup >= step.max_steps:
            step.warmup = step.max_steps // 10
    out = Path(config.out).expanduser()
    if not dry_run:
        check_run_dir(config, resume)
        ranks.barrier()                   # every rank checked the directory before the main rank claims it
        if ranks.main:
            out.mkdir(parents=True, exist_ok=True)
            write_json_atomic(out / RUN_CONFIG, config.to_dict())
    echo(f"{'plan' if dry_run else 'run'}: {config.base_model} -> {out} "
         f"(steps {','.join(s.name for s in config.steps)}, dtype {config.dtype}, seed {config.seed}"
         + (f", {ranks.world} processes: global batch split across them)" if ranks.distributed else ")"))
    source: str | Path = config.base_model
    written = []
    for step in config.steps:
        step_dir = out / step.name
        if not dry_run and resume and (step_dir / CONFIG_NAME).is_file():
            echo(f"step {step.name}: already complete in {step_dir}; skipping")
            source, written = step_dir, [*written, step_dir]
            continue
        model, objective, facts = prepare(step, config, source if not dry_run else config.base_model, ranks)
        echo(describe(step, facts))
        if dry_run:
            continue
        settings = LoopSettings(
            max_steps=step.max_steps, lr=step.lr, warmup=step.warmup, weight_decay=step.weight_decay,
            max_grad_norm=step.max_grad_norm, save_every=config.save_every,
            checkpoint_dir=out / "checkpoints" / step.name, log_path=out / "logs" / f"{step.name}.jsonl",
            identity=config.identity(step), resume=resume, stop_after=stop_after, desc=step.name)
        result = train(objective, model.trainable(), settings, model.encoder.model, objective.scaler, ranks)
        if result.stopped_by == "stopped":
            echo(f"step {step.name}: stopped after {stop_after} steps; continue with --resume")
            return written
        if ranks.main:
            record = {"run": config.to_dict(), "step": asdict(step), **facts, "versions": library_versions(),
                      "processes": ranks.world}
            save_step(model, step.name, step_dir, config.copy_base,
                      {RUN_CONFIG: json.dumps(record, indent=2) + "\n",
                       "train_log.jsonl": settings.log_path.read_text(encoding="utf-8")})
            shutil.rmtree(settings.checkpoint_dir, ignore_errors=True)
        ranks.barrier()                   # the next step loads this one's directory on every rank
        echo(f"step {step.name}: encoder saved to {step_dir}")
        source, written = step_dir, [*written, step_dir]
        del model, objective
    return written


def plan(config: RunConfig, echo: Callable[[str], None] = print) -> None:
    """Print what ``adapt`` would do (steps, data sizes, parameters trained) without training."""
    adapt(config, dry_run=True, echo=echo)
