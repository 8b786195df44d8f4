"""``pretrain``: a small Llama decoder trained from scratch, the library side of ``l2v pretrain``.

Pretraining is one more objective over the training loop ``l2v adapt`` uses (``adaptation.training.loop``),
so the two commands share one checkpoint format, LR schedule, loss scaling and resume path. This file adds
only what is pretraining's own: the tokenizer and packed blocks, a freshly initialised model whose every
weight is trained, next-token loss with gradient accumulation over micro-batches, and the final report.

fp32 master weights with bf16 autocast (fast on CPUs with bf16 units and on GPUs), AdamW (betas 0.9/0.95),
linear warmup then cosine decay to ``min_lr_ratio`` over the step or time budget, and a time budget that ends
cleanly with a checkpoint. Layout of ``out``::

    checkpoint/tokenizer/, checkpoint/blocks.pt   the data, cached so that a resume trains on the same blocks
    checkpoint/state/                             the loop's checkpoint (weights, optimizer, the run's config)
    train_log.jsonl                               data/start/resume/eval/done events and step lines
    config.json, model.safetensors, tokenizer     the model (Hugging Face format), with pretrain_config.json
                                                  and pretrain_report.json (validation perplexity)
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from ..precision import autocast, grad_scaler
from ..storage import write_json_atomic
from ..training.loop import LoopResult, LoopSettings, append_log, checkpoint_info, train
from .config import RESUMABLE, PretrainConfig
from .data import BlockSampler, describe_files, iter_documents, pack_blocks, resolve_files, token_stream, train_tokenizer
from .errors import ResumeError
from .evaluate import perplexity

CKPT = "checkpoint"
STATE = "state"
OLD_STATE = "state.pt"  # the checkpoint of l2v pretrain before it shared adapt's loop: not resumable


def build_model(cfg: PretrainConfig, tokenizer) -> torch.nn.Module:
    """A randomly initialised LlamaForCausalLM with tied input/output embeddings."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=cfg.hidden, intermediate_size=cfg.intermediate,
                         num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads, num_key_value_heads=cfg.kv_heads,
                         max_position_embeddings=cfg.seq_len, tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(cfg.seed)
    return LlamaForCausalLM(config).float()


def loop_settings(cfg: PretrainConfig, out: Path, resume: bool = False, pause_after: int | None = None) -> LoopSettings:
    """The training loop configured as ``l2v pretrain``; the whole config is the checkpoint's identity, so a
    ``--resume`` reads it back (only the ``RESUMABLE`` settings may change)."""
    return LoopSettings(
        max_steps=cfg.max_steps, lr=cfg.lr, warmup=cfg.warmup, weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.grad_clip, save_every=0, checkpoint_dir=out / CKPT / STATE, log_path=out / "train_log.jsonl",
        identity=cfg.to_dict(), may_change=RESUMABLE, resume=resume, schedule="cosine", min_lr_ratio=cfg.min_lr_ratio,
        betas=(0.9, 0.95), max_minutes=cfg.max_minutes, save_every_minutes=cfg.checkpoint_minutes,
        final_checkpoint=True, save_on_interrupt=True, pause_after=pause_after, log_every=cfg.log_every,
        eval_every=cfg.eval_every, progress=cfg.progress, desc="pretrain",
        oom_advice="lower --micro-batch (the same --batch-size takes more accumulation steps) or --seq-len")


class NextTokenObjective:
    """One optimiser step: ``batch_size`` packed blocks as ``batch_size / micro_batch`` accumulated micro-batches.

    Blocks come from a seeded permutation per epoch (``BlockSampler``), so step n's blocks depend only on n.
    """

    def __init__(self, model: torch.nn.Module, blocks: torch.Tensor, cfg: PretrainConfig, device: str,
                 scaler: torch.amp.GradScaler | None):
        self.model, self.blocks, self.cfg, self.device, self.scaler = model, blocks, cfg, device, scaler
        self.sampler = BlockSampler(blocks.shape[0], cfg.seed)
        self.accum = cfg.batch_size // cfg.micro_batch

    def __call__(self, step: int) -> dict:
        cfg, loss_sum = self.cfg, 0.0
        for micro in range(self.accum):
            idx = self.sampler.indices((step * self.accum + micro) * cfg.micro_batch, cfg.micro_batch)
            ids = self.blocks[idx].long().to(self.device)
            with autocast(cfg.dtype, self.device):
                loss = self.model(input_ids=ids, labels=ids).loss
            scaled = loss / self.accum
            (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
            loss_sum += float(loss.detach()) / self.accum
        tokens = cfg.batch_size * cfg.seq_len
        return {"loss": loss_sum, "tokens": tokens, "tokens_seen": (step + 1) * tokens}


def _session_config(cfg: PretrainConfig, out: Path, resume: bool, overrides: dict,
                    saved: dict | None) -> PretrainConfig:
    """The settings this session runs: on ``--resume`` those of the ``saved`` checkpoint, with the resumable
    ``overrides``."""
    if not resume:
        if saved is not None:
            raise ResumeError(f"{out} already holds a checkpoint; pass --resume to continue it or choose another --out")
        return cfg
    if saved is None and (out / CKPT / OLD_STATE).is_file():
        raise ResumeError(f"--resume: {out} holds a checkpoint of an older l2v pretrain that cannot be continued; "
                          "start again without --resume")
    if saved is None:
        raise ResumeError(f"--resume: {out} has no checkpoint ({CKPT}/{STATE}); start without --resume")
    return PretrainConfig.from_dict(saved["identity"]).resumed_with(overrides)


def _prepare(cfg: PretrainConfig, out: Path, files: list[Path], log, reuse: bool) -> tuple[object, torch.Tensor]:
    """Tokenizer + packed blocks, cached under ``out/checkpoint`` so a resume reuses them exactly.

    A fresh run always rebuilds them: a cache left by a killed run may come from other data.
    """
    from transformers import AutoTokenizer

    ckpt = out / CKPT
    if reuse and (ckpt / "blocks.pt").is_file():
        return AutoTokenizer.from_pretrained(ckpt / "tokenizer", trust_remote_code=False), torch.load(ckpt / "blocks.pt")
    ckpt.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    tokenizer = train_tokenizer(files, cfg.vocab_size, cfg.seq_len)
    log({"event": "tokenizer", "vocab": len(tokenizer), "seconds": round(time.time() - t0, 1)})
    blocks = pack_blocks(token_stream(tokenizer, list(iter_documents(files))), cfg.seq_len)
    log({"event": "data", "blocks": blocks.shape[0], "tokens": blocks.numel(), "seconds": round(time.time() - t0, 1)})
    tokenizer.save_pretrained(ckpt / "tokenizer")
    torch.save(blocks, ckpt / "blocks.pt")
    return tokenizer, blocks


def pretrain(cfg: PretrainConfig, out: str | Path, resume: bool = False, overrides: dict | None = None,
             pause_after: int | None = None) -> dict:
    """Train (or resume) into ``out``; returns the report also written to ``out/pretrain_report.json``.

    ``pause_after`` ends this session after that many steps with only a checkpoint written
    (the run stays resumable, its schedule unchanged); Ctrl-C does the same and re-raises.
    """
    started = time.time()
    out = Path(out)
    saved = checkpoint_info(out / CKPT / STATE)
    cfg = _session_config(cfg, out, resume, overrides or {}, saved)
    cfg.validate()
    files = resolve_files(cfg.data, cfg.eval_file)
    cfg.data = [str(f) for f in files]
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out.mkdir(parents=True, exist_ok=True)
    settings = loop_settings(cfg, out, resume, pause_after)
    log = lambda record: append_log(settings.log_path, record)  # noqa: E731
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer, blocks = _prepare(cfg, out, files, log, reuse=resume)
    model = build_model(cfg, tokenizer).to(device)
    if saved is not None:
        log({"event": "resume", "step": saved["step"], "tokens": saved["step"] * cfg.batch_size * cfg.seq_len})
    else:
        log({"event": "start", "params": sum(p.numel() for p in model.parameters()), "config": cfg.to_dict()})
    objective = NextTokenObjective(model, blocks, cfg, device, grad_scaler(cfg.dtype, device))
    quick_eval = lambda: _quick_eval(cfg, model, tokenizer, device)  # noqa: E731
    result = train(objective, dict(model.named_parameters()), settings, model, objective.scaler,
                   evaluate=quick_eval if cfg.eval_file else None)
    if result.stopped_by == "paused":
        return {"paused": True, "steps": result.steps, "tokens_seen": result.steps * cfg.batch_size * cfg.seq_len}
    report = _finish(cfg, out, model, tokenizer, result, files, blocks, device, log)
    report["process_wall_s"] = round(time.time() - started, 1)
    write_json_atomic(out / "pretrain_report.json", report)
    return report


def _quick_eval(cfg: PretrainConfig, model: torch.nn.Module, tokenizer, device: str) -> dict:
    """Validation perplexity on the first ``eval_blocks`` (default 32) blocks, during training."""
    quick = perplexity(model, tokenizer, Path(cfg.eval_file), cfg.seq_len, cfg.dtype, device,
                       max_blocks=cfg.eval_blocks or 32)
    return {k: quick[k] for k in ("token_ppl", "word_ppl", "blocks")}


def _finish(cfg: PretrainConfig, out: Path, model: torch.nn.Module, tokenizer, result: LoopResult, files: list[Path],
            blocks: torch.Tensor, device: str, log) -> dict:
    """Write the HF model dir, the exact settings, and the report (with validation perplexity)."""
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    tokens, seconds = result.steps * cfg.batch_size * cfg.seq_len, round(result.elapsed, 1)
    report = {"steps": result.steps, "tokens_seen": tokens, "wall_time_s": seconds,
              "tokens_per_s": round(tokens / max(result.elapsed, 1e-9), 1), "stopped_by": result.stopped_by,
              "params": sum(p.numel() for p in model.parameters()), "train_tokens": int(blocks.numel()),
              "epochs": round(tokens / blocks.numel(), 3), "device": device, "threads": torch.get_num_threads()}
    if cfg.eval_file:
        t0 = time.time()
        report["validation"] = perplexity(model, tokenizer, Path(cfg.eval_file), cfg.seq_len, cfg.dtype, device,
                                          max_blocks=cfg.eval_blocks)
        report["validation"]["seconds"] = round(time.time() - t0, 1)
    from ..config import library_versions

    write_json_atomic(out / "pretrain_config.json", {**cfg.to_dict(), "data_files": describe_files(files),
                                                     "tokens_seen": tokens, "wall_time_s": seconds,
                                                     "versions": library_versions()})
    write_json_atomic(out / "pretrain_report.json", report)
    log({"event": "done", **{k: v for k, v in report.items() if k != "validation"},
         **({"val_token_ppl": report["validation"]["token_ppl"], "val_word_ppl": report["validation"]["word_ppl"]}
            if "validation" in report else {})})
    return report
