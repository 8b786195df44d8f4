"""``pretrain``: a small Llama decoder trained from scratch, the library side of ``l2v pretrain``.

fp32 master weights with bf16 autocast (fast on CPUs with bf16 units and on GPUs),
AdamW, linear warmup then cosine decay, gradient clipping, gradient accumulation over
packed blocks, periodic atomic checkpoints, and a time budget that ends cleanly.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..precision import grad_scaler
from .config import PretrainConfig, write_json
from .data import BlockSampler, describe_files, iter_documents, pack_blocks, resolve_files, token_stream, train_tokenizer
from .errors import ResumeError
from .evaluate import autocast, perplexity

CKPT = "checkpoint"


def build_model(cfg: PretrainConfig, tokenizer):
    """A randomly initialised LlamaForCausalLM with tied input/output embeddings."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=cfg.hidden, intermediate_size=cfg.intermediate,
                         num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads, num_key_value_heads=cfg.kv_heads,
                         max_position_embeddings=cfg.seq_len, tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(cfg.seed)
    return LlamaForCausalLM(config).float()


def lr_at(cfg: PretrainConfig, step: int, elapsed: float) -> float:
    """Warmup over ``cfg.warmup`` steps, then cosine to ``min_lr_ratio * lr`` over the step or time budget."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = 0.0
    if cfg.max_steps:
        progress = max(progress, (step - cfg.warmup) / max(1, cfg.max_steps - cfg.warmup))
    if cfg.max_minutes:
        progress = max(progress, elapsed / (cfg.max_minutes * 60))
    progress = min(1.0, progress)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def make_optimizer(model, cfg: PretrainConfig) -> torch.optim.AdamW:
    """AdamW; no weight decay on norms (1-d weights). Tied embeddings appear once."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": other, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8)


@dataclass
class State:
    step: int = 0
    tokens: int = 0
    elapsed: float = 0.0  # training seconds, summed over resumed segments


def save_checkpoint(out: Path, model, optimizer, state: State, cfg: PretrainConfig) -> None:
    """Atomic: written to a temporary file and renamed over the previous checkpoint."""
    path = out / CKPT / "state.pt"
    tmp = path.with_name("state.pt.tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "state": state.__dict__,
                "config": cfg.to_dict()}, tmp)
    os.replace(tmp, path)


def _prepare(cfg: PretrainConfig, out: Path, files: list[Path], log, reuse: bool):
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
    saved = None
    if resume:
        if not (out / CKPT / "state.pt").is_file():
            raise ResumeError(f"--resume: {out} has no checkpoint ({CKPT}/state.pt); start without --resume")
        saved = torch.load(out / CKPT / "state.pt", weights_only=False)
        cfg = PretrainConfig.from_dict(saved["config"]).resumed_with(overrides or {})
    elif (out / CKPT / "state.pt").is_file():
        raise ResumeError(f"{out} already holds a checkpoint; pass --resume to continue it or choose another --out")
    cfg.validate()
    files = resolve_files(cfg.data, cfg.eval_file)
    cfg.data = [str(f) for f in files]
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "train_log.jsonl").open("a") as log_file:
        def log(record: dict) -> None:
            log_file.write(json.dumps(record) + "\n")
            log_file.flush()

        run = _Run(cfg, out, log, files, saved)
        try:
            stopped_by = run.train(pause_after)
        except KeyboardInterrupt:
            run.checkpoint()
            log({"event": "interrupted", "step": run.state.step, "tokens": run.state.tokens})
            raise
        run.checkpoint()
        if stopped_by == "paused":
            return {"paused": True, "steps": run.state.step, "tokens_seen": run.state.tokens}
        report = _finish(cfg, out, run.model, run.tokenizer, run.state, files, run.blocks, run.device, stopped_by, log)
    report["process_wall_s"] = round(time.time() - started, 1)
    write_json(out / "pretrain_report.json", report)
    return report


class _Run:
    """One training session: model, optimiser, data order and the step loop."""

    def __init__(self, cfg: PretrainConfig, out: Path, log, files: list[Path], saved: dict | None):
        self.cfg, self.out, self.log = cfg, out, log
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.tokenizer, self.blocks = _prepare(cfg, out, files, log, reuse=saved is not None)
        self.model = build_model(cfg, self.tokenizer).to(self.device)
        self.optimizer = make_optimizer(self.model, cfg)
        self.scaler = grad_scaler(cfg.dtype, self.device)  # float16 only (see adaptation.precision)
        self.state = State()
        if saved is not None:
            self.model.load_state_dict(saved["model"])
            self.optimizer.load_state_dict(saved["optimizer"])
            self.state = State(**saved["state"])
            log({"event": "resume", "step": self.state.step, "tokens": self.state.tokens})
        else:
            log({"event": "start", "params": sum(p.numel() for p in self.model.parameters()), "config": cfg.to_dict()})
        self.sampler = BlockSampler(self.blocks.shape[0], cfg.seed)
        self.segment_start = time.time()

    def elapsed(self) -> float:
        return self.state.elapsed + time.time() - self.segment_start

    def checkpoint(self) -> None:
        now = time.time()
        self.state.elapsed += now - self.segment_start
        self.segment_start = now
        save_checkpoint(self.out, self.model, self.optimizer, self.state, self.cfg)

    def step(self) -> tuple[float, float, float]:
        """One optimiser step over ``batch_size`` blocks; returns (loss, lr, grad norm)."""
        cfg = self.cfg
        accum = cfg.batch_size // cfg.micro_batch
        lr = lr_at(cfg, self.state.step, self.elapsed())
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        step_loss = 0.0
        for micro in range(accum):
            idx = self.sampler.indices((self.state.step * accum + micro) * cfg.micro_batch, cfg.micro_batch)
            ids = self.blocks[idx].long().to(self.device)
            with autocast(self.device, cfg.dtype):
                loss = self.model(input_ids=ids, labels=ids).loss
            scaled = loss / accum
            (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
            step_loss += float(loss.detach()) / accum
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip))
        if self.scaler is not None:  # skips the step if float16 gradients overflowed, adapts the scale
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.step += 1
        self.state.tokens += cfg.batch_size * cfg.seq_len
        return step_loss, lr, grad_norm

    def train(self, pause_after: int | None) -> str:
        """Step until a budget is spent; returns what stopped it."""
        from ..progress import ProgressBar

        cfg, state = self.cfg, self.state
        self.model.train()
        budget = cfg.max_minutes * 60 if cfg.max_minutes else math.inf
        first, last_ckpt = state.step, time.time()
        bar = ProgressBar(total=cfg.max_steps, initial=state.step, disable=not cfg.progress, unit="step",
                          dynamic_ncols=True)
        window_loss, window_steps, window_time = 0.0, 0, time.time()
        stopped_by = "max_steps"
        while cfg.max_steps is None or state.step < cfg.max_steps:
            if self.elapsed() >= budget:
                stopped_by = "max_minutes"
                break
            if pause_after is not None and state.step - first >= pause_after:
                stopped_by = "paused"
                break
            loss, lr, grad_norm = self.step()
            window_loss, window_steps = window_loss + loss, window_steps + 1
            now = time.time()
            tok_s = window_steps * cfg.batch_size * cfg.seq_len / max(now - window_time, 1e-9)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.2e}", tok_s=f"{tok_s:,.0f}")
            if state.step % cfg.log_every == 0:
                self.log({"step": state.step, "loss": round(window_loss / window_steps, 4), "lr": lr,
                          "grad_norm": round(grad_norm, 3), "tokens": state.tokens,
                          "elapsed_s": round(self.elapsed(), 1), "tokens_per_s": round(tok_s, 1)})
                window_loss, window_steps, window_time = 0.0, 0, now
            if cfg.eval_every and cfg.eval_file and state.step % cfg.eval_every == 0:
                quick = perplexity(self.model, self.tokenizer, Path(cfg.eval_file), cfg.seq_len, cfg.dtype,
                                   self.device, max_blocks=cfg.eval_blocks or 32)
                self.log({"event": "eval", "step": state.step, "token_ppl": quick["token_ppl"],
                          "word_ppl": quick["word_ppl"], "blocks": quick["blocks"]})
                window_time = time.time()  # evaluation time is not training throughput
            if now - last_ckpt >= cfg.checkpoint_minutes * 60:
                self.checkpoint()
                last_ckpt = now
        bar.close()
        return stopped_by


def _finish(cfg, out: Path, model, tokenizer, state: State, files, blocks, device: str, stopped_by: str, log) -> dict:
    """Write the HF model dir, the exact settings, and the report (with validation perplexity)."""
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    report = {"steps": state.step, "tokens_seen": state.tokens, "wall_time_s": round(state.elapsed, 1),
              "tokens_per_s": round(state.tokens / max(state.elapsed, 1e-9), 1), "stopped_by": stopped_by,
              "params": sum(p.numel() for p in model.parameters()), "train_tokens": int(blocks.numel()),
              "epochs": round(state.tokens / blocks.numel(), 3), "device": device, "threads": torch.get_num_threads()}
    if cfg.eval_file:
        t0 = time.time()
        report["validation"] = perplexity(model, tokenizer, Path(cfg.eval_file), cfg.seq_len, cfg.dtype, device,
                                          max_blocks=cfg.eval_blocks)
        report["validation"]["seconds"] = round(time.time() - t0, 1)
    from ..config import library_versions

    write_json(out / "pretrain_config.json", {**cfg.to_dict(), "data_files": describe_files(files),
                                              "tokens_seen": state.tokens, "wall_time_s": round(state.elapsed, 1),
                                              "versions": library_versions()})
    write_json(out / "pretrain_report.json", report)
    log({"event": "done", **{k: v for k, v in report.items() if k != "validation"},
         **({"val_token_ppl": report["validation"]["token_ppl"], "val_word_ppl": report["validation"]["word_ppl"]}
            if "validation" in report else {})})
    return report
