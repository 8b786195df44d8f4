"""The one training loop of ``l2v adapt`` and ``l2v pretrain``, readable top to bottom (nanoGPT style).

while steps (and time) remain:
    lr by schedule -> objective(step) does the step's forward + backward passes -> clip -> AdamW
    -> JSON-lines log + progress bar -> evaluation and checkpoint when due

One loop, so both commands share one checkpoint format, one LR schedule, one resume path: the objectives
(mntp.py, simcse.py, supervised.py, pretraining/train.py) are short files that only compute a step's loss.

The objective gets only the step number: its batch (and MNTP masking) is a pure function of (seed, step).
Dropout draws from the global RNG, whose state is checkpointed. So resuming from any checkpoint replays
exactly the same steps.
"""
from __future__ import annotations

import contextlib
import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Literal

import numpy as np
import torch

from ..encoder import is_out_of_memory
from ..errors import OutOfMemoryError
from ..progress import ProgressBar
from ..storage import atomic_directory
from .distributed import Ranks
from .errors import RunStateError

STATE_FILE = "trainer_state.pt"
ADAPT_OOM_ADVICE = ("lower --batch-size or --max-length, or use --grad-cache-chunk N, --gradient-checkpointing, "
                    "--dtype bfloat16")


@dataclass
class LoopSettings:
    """What one run of the loop is told; the defaults are ``l2v adapt``'s, pretrain sets the rest."""

    max_steps: int | None         # None: only the time budget ends the run
    lr: float
    warmup: int
    weight_decay: float           # on matrices only: norms and biases are not decayed
    max_grad_norm: float
    save_every: int               # steps between checkpoints (0: none by step count)
    checkpoint_dir: Path
    log_path: Path
    identity: dict                # what a checkpoint must match to be resumed
    may_change: tuple[str, ...] = ()  # identity keys a resume may change (pretrain: its budgets, logging)
    resume: bool = False
    schedule: Literal["linear", "cosine"] = "linear"  # the decay after warmup, down to min_lr_ratio * lr
    min_lr_ratio: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    # Single process only (ranks would disagree on the clock): a time budget summed over resumed sessions,
    # ending with a checkpoint, and checkpoints every so many minutes.
    max_minutes: float | None = None
    save_every_minutes: float | None = None
    final_checkpoint: bool = False    # also checkpoint at max_steps, so a finished run can be extended
    # Ctrl-C: checkpoint, log and re-raise. Not for adapt: a step cut short has drawn dropout noise, so the saved
    # RNG state would not replay it exactly; adapt relies on its periodic checkpoints instead.
    save_on_interrupt: bool = False
    pause_after: int | None = None  # end this session after this many steps, with a checkpoint (resumable)
    stop_after: int | None = None   # end after this many steps in this call without a checkpoint: a kill (tests)
    log_every: int = 1              # steps per log line (loss averaged, tokens summed over them)
    eval_every: int = 0             # steps between calls of train's ``evaluate`` (0: never)
    progress: bool = True
    desc: str = "train"
    oom_advice: str = ADAPT_OOM_ADVICE  # what to change when a step runs out of memory


@dataclass
class LoopResult:
    """How a call of :func:`train` ended."""

    stopped_by: Literal["max_steps", "max_minutes", "paused", "stopped"]
    steps: int        # optimizer steps done, over all sessions of the run
    elapsed: float    # training seconds, over all sessions of the run


def learning_rate(step: int, s: LoopSettings, elapsed: float = 0.0) -> float:
    """Linear warmup to ``lr`` over ``warmup`` steps, then ``schedule`` (linear or cosine) down to
    ``min_lr_ratio * lr`` at the end of the run: ``max_steps``, or the time budget (``elapsed`` training
    seconds of ``max_minutes``) if that is nearer."""
    if step < s.warmup:
        return s.lr * (step + 1) / s.warmup
    progress = 0.0
    if s.max_steps:
        progress = (step - s.warmup) / max(1, s.max_steps - s.warmup)
    if s.max_minutes:
        progress = max(progress, elapsed / (s.max_minutes * 60))
    progress = min(1.0, progress)
    shape = 0.5 * (1 + math.cos(math.pi * progress)) if s.schedule == "cosine" else 1 - progress
    return s.lr * (s.min_lr_ratio + (1 - s.min_lr_ratio) * shape)


def make_optimizer(params: dict[str, torch.nn.Parameter], s: LoopSettings) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices only (LoRA factors, projections, embeddings), none on norms/biases."""
    decay = [p for p in params.values() if p.dim() >= 2]
    other = [p for p in params.values() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": s.weight_decay}, {"params": other, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=s.lr, betas=s.betas)


def _rng_states() -> dict:
    states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _restore_rng(states: dict) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(s: LoopSettings, step: int, elapsed: float, params: dict[str, torch.nn.Parameter],
                    optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None = None,
                    ranks: Ranks = Ranks()) -> None:
    """Trained weights, optimizer, loss scale, every rank's RNG states, the data position (= step) and the
    training time so far, atomically.

    Called on every rank (the RNG states are gathered); only the main rank writes.
    """
    rng = ranks.all_objects(_rng_states())
    if not ranks.main:
        return
    state = {"step": step, "elapsed": elapsed, "identity": s.identity,
             "params": {n: p.detach().cpu() for n, p in params.items()},
             "optimizer": optimizer.state_dict(), "rng": rng[0], "rank_rng": rng}
    if scaler is not None:
        state["scaler"] = scaler.state_dict()
    with atomic_directory(s.checkpoint_dir) as tmp:
        torch.save(state, tmp / STATE_FILE)


def checkpoint_info(checkpoint_dir: Path) -> dict | None:
    """A checkpoint's step, training time and identity without loading its tensors; None if there is none.

    A caller whose settings live in the identity (pretrain) reads them from here before it builds anything.
    """
    path = Path(checkpoint_dir) / STATE_FILE
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    return {"step": int(state["step"]), "elapsed": float(state.get("elapsed", 0.0)), "identity": state["identity"]}


def load_checkpoint(s: LoopSettings, params: dict[str, torch.nn.Parameter], optimizer: torch.optim.Optimizer,
                    scaler: torch.amp.GradScaler | None = None, ranks: Ranks = Ranks()) -> tuple[int, float]:
    """Restore a checkpoint into params/optimizer/RNG; returns (step to continue from, training seconds so far),
    (0, 0.0) if there is none."""
    path = s.checkpoint_dir / STATE_FILE
    if not s.resume or not path.is_file():
        return 0, 0.0
    state = torch.load(path, map_location="cpu", weights_only=False)
    changed = sorted(k for k in {*s.identity, *state["identity"]}
                     if k not in s.may_change and state["identity"].get(k) != s.identity.get(k))
    if changed:
        raise RunStateError(f"checkpoint {s.checkpoint_dir} was made with a different {', '.join(changed)}; "
                            "rerun with the original options, or choose a new --out")
    if set(state["params"]) != set(params) or any(state["params"][n].shape != p.shape for n, p in params.items()):
        raise RunStateError(f"checkpoint {s.checkpoint_dir} holds weights of another shape or base; "
                            "choose a new --out")
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(state["params"][name].to(param.device, param.dtype))
    optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and "scaler" in state:
        scaler.load_state_dict(state["scaler"])
    per_rank = state.get("rank_rng") or [state["rng"]]
    _restore_rng(per_rank[ranks.rank] if len(per_rank) == ranks.world else per_rank[0])
    return int(state["step"]), float(state.get("elapsed", 0.0))  # adapt checkpoints before the time budget: none


def _open_log(path: Path, start: int) -> IO[str]:
    """Append to the JSON-lines log, dropping lines of steps that will be replayed after a resume."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file():
        kept = [line for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= start]
        path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    return open(path, "a", encoding="utf-8")


def append_log(path: Path, record: dict) -> None:
    """One line in a run's JSON-lines log from outside the loop (pretrain's data, start, resume, done events)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")


def _write(log: IO[str] | None, record: dict) -> None:
    if log is not None:
        log.write(json.dumps(record) + "\n")
        log.flush()


def _record(step: int, lr: float, grad_norm: float, window: list[tuple[dict, float]], elapsed: float) -> dict:
    """The log line of the steps since the last one: the last step's stats, loss averaged, tokens and time summed."""
    tokens = sum(stats["tokens"] for stats, _ in window)
    seconds = sum(took for _, took in window)
    return {"step": step, "lr": lr, "grad_norm": grad_norm, "seconds": round(seconds, 4),
            "tokens_per_s": round(tokens / max(seconds, 1e-9), 1), **window[-1][0],
            "loss": sum(stats["loss"] for stats, _ in window) / len(window), "tokens": tokens,
            "elapsed_s": round(elapsed, 1)}


def _session_over(s: LoopSettings, step: int, start: int, elapsed: float) -> str | None:
    """Why the loop ends before step ``step`` (``max_steps``, ``max_minutes`` or ``paused``), or None."""
    if s.max_steps is not None and step >= s.max_steps:
        return "max_steps"
    if s.max_minutes is not None and elapsed >= s.max_minutes * 60:
        return "max_minutes"
    if s.pause_after is not None and step - start >= s.pause_after:
        return "paused"
    return None


def _checkpoint_due(s: LoopSettings, step: int, since_save: float) -> bool:
    """Every ``save_every`` steps or ``save_every_minutes``; not at ``max_steps`` (what ends there is saved anyway)."""
    if s.max_steps is not None and step >= s.max_steps:
        return False
    return (s.save_every > 0 and step % s.save_every == 0) or (
        s.save_every_minutes is not None and since_save >= s.save_every_minutes * 60)


def _optimizer_step(objective: Callable[[int], dict], step: int, params: list[torch.nn.Parameter],
                    optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None, s: LoopSettings,
                    ranks: Ranks) -> tuple[dict, float]:
    """forward + backward (the objective) -> sum gradients over ranks -> unscale -> clip -> step; (stats, grad norm)."""
    try:
        stats = objective(step)
        ranks.sum_gradients(params)   # before unscaling: every rank scaled alike
        if scaler is not None:
            scaler.unscale_(optimizer)
        norm = torch.nn.utils.clip_grad_norm_(params, s.max_grad_norm)
        if scaler is not None:        # skips the step if float16 gradients overflowed, adapts the scale
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
    except (torch.OutOfMemoryError, RuntimeError) as err:
        if not is_out_of_memory(err):
            raise
        raise OutOfMemoryError(f"out of memory in {s.desc} at step {step + 1}: {s.oom_advice}") from None
    optimizer.zero_grad(set_to_none=True)
    return stats, float(norm)


def train(objective: Callable[[int], dict], params: dict[str, torch.nn.Parameter], s: LoopSettings,
          model: torch.nn.Module, scaler: torch.amp.GradScaler | None = None, ranks: Ranks = Ranks(),
          evaluate: Callable[[], dict] | None = None) -> LoopResult:
    """Run the steps until ``max_steps``, the time budget, ``pause_after`` or ``stop_after``; says which.

    ``params``: what is trained and checkpointed (adapt: the LoRA weights; pretrain: the whole model).
    ``objective(step)`` returns stats with at least ``loss`` and ``tokens``. ``scaler``
    (``adaptation.precision.grad_scaler``, float16 only): the objective scaled its loss with it; gradients
    are unscaled before clipping, and a step whose gradients overflowed is skipped by ``scaler.step``.
    ``evaluate()`` runs every ``eval_every`` steps; its dict is logged as an ``eval`` event.
    Under torchrun every rank runs this loop; gradients are summed across ranks after each step's
    backward passes (see ``distributed``), and only the main rank logs and checkpoints.
    """
    if ranks.distributed and (s.max_minutes or s.save_every_minutes):
        raise ValueError("a time budget or timed checkpoints need a single process: ranks would disagree on time")
    optimizer = make_optimizer(params, s)
    step, before = load_checkpoint(s, params, optimizer, scaler, ranks)
    start, weights = step, list(params.values())
    ranks.broadcast(weights)
    model.train()
    session = last_save = time.perf_counter()
    elapsed = lambda: before + time.perf_counter() - session  # noqa: E731  (training seconds, all sessions)
    window: list[tuple[dict, float]] = []
    log_file = _open_log(s.log_path, start) if ranks.main else contextlib.nullcontext()
    with log_file as log, ProgressBar(total=s.max_steps, initial=start, desc=s.desc, unit="step", dynamic_ncols=True,
                                      disable=not (ranks.main and s.progress)) as bar:
        try:
            while (stopped_by := _session_over(s, step, start, elapsed())) is None:
                lr = learning_rate(step, s, elapsed())
                for group in optimizer.param_groups:
                    group["lr"] = lr
                began = time.perf_counter()
                stats, norm = _optimizer_step(objective, step, weights, optimizer, scaler, s, ranks)
                window.append((stats, time.perf_counter() - began))
                step += 1
                bar.set_postfix(loss=f"{stats['loss']:.4f}", lr=f"{lr:.2e}",
                                tok_s=f"{stats['tokens'] / max(window[-1][1], 1e-9):.0f}")
                bar.update(1)
                if step % s.log_every == 0:
                    _write(log, _record(step, lr, norm, window, elapsed()))
                    window = []
                if s.stop_after is not None and step - start >= s.stop_after:
                    return LoopResult("stopped", step, elapsed())
                if evaluate is not None and s.eval_every and step % s.eval_every == 0:
                    _write(log, {"event": "eval", "step": step, **evaluate()})
                if _checkpoint_due(s, step, time.perf_counter() - last_save):
                    save_checkpoint(s, step, elapsed(), params, optimizer, scaler, ranks)
                    last_save = time.perf_counter()
        except KeyboardInterrupt:
            if s.save_on_interrupt:
                save_checkpoint(s, step, elapsed(), params, optimizer, scaler, ranks)
                _write(log, {"event": "interrupted", "step": step})
            raise
        if stopped_by != "max_steps" or s.final_checkpoint:
            save_checkpoint(s, step, elapsed(), params, optimizer, scaler, ranks)
    model.eval()
    return LoopResult(stopped_by, step, elapsed())
