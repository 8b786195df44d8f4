"""The one training loop every step shares, readable top to bottom (nanoGPT style).

for step in range(start, max_steps):
    lr by schedule -> objective(step) does forward + backward -> clip -> AdamW
    -> JSON-lines log + progress bar -> checkpoint every ``save_every`` steps.

The objective gets only the step number: its batch (and MNTP masking) is a pure
function of (seed, step). Dropout draws from the global RNG, whose state is
checkpointed. So resuming from any checkpoint replays exactly the same steps.
"""
from __future__ import annotations

import contextlib
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..encoder import is_out_of_memory
from ..errors import OutOfMemoryError
from ..progress import ProgressBar
from ..storage import atomic_directory
from .distributed import Ranks
from .errors import RunStateError

STATE_FILE = "trainer_state.pt"


@dataclass
class LoopSettings:
    max_steps: int
    lr: float
    warmup: int
    weight_decay: float
    max_grad_norm: float
    save_every: int
    checkpoint_dir: Path
    log_path: Path
    identity: dict           # what a checkpoint must match to be resumed
    resume: bool = False
    stop_after: int | None = None  # stop (as if killed, no checkpoint) after this many steps in this call
    desc: str = "train"


def learning_rate(step: int, s: LoopSettings) -> float:
    """Linear warmup to ``lr`` over ``warmup`` steps, then linear decay to 0 at ``max_steps``."""
    if step < s.warmup:
        return s.lr * (step + 1) / s.warmup
    return s.lr * max(0.0, s.max_steps - step) / max(1, s.max_steps - s.warmup)


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


def save_checkpoint(s: LoopSettings, step: int, params: dict[str, torch.nn.Parameter], optimizer,
                    scaler=None, ranks: Ranks = Ranks()) -> None:
    """Adapter weights, optimizer, loss scale, every rank's RNG states and the data position (= step), atomically.

    Called on every rank (the RNG states are gathered); only the main rank writes.
    """
    rng = ranks.all_objects(_rng_states())
    if not ranks.main:
        return
    state = {"step": step, "identity": s.identity, "params": {n: p.detach().cpu() for n, p in params.items()},
             "optimizer": optimizer.state_dict(), "rng": rng[0], "rank_rng": rng}
    if scaler is not None:
        state["scaler"] = scaler.state_dict()
    with atomic_directory(s.checkpoint_dir) as tmp:
        torch.save(state, tmp / STATE_FILE)


def load_checkpoint(s: LoopSettings, params: dict[str, torch.nn.Parameter], optimizer, scaler=None,
                    ranks: Ranks = Ranks()) -> int:
    """Restore a checkpoint into params/optimizer/RNG; returns the step to continue from (0 if none)."""
    path = s.checkpoint_dir / STATE_FILE
    if not s.resume or not path.is_file():
        return 0
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state["identity"] != s.identity:
        changed = sorted(k for k in s.identity if state["identity"].get(k) != s.identity.get(k))
        raise RunStateError(f"checkpoint {s.checkpoint_dir} was made with a different {', '.join(changed)}; "
                            "rerun with the original options, or choose a new --out")
    if set(state["params"]) != set(params) or any(state["params"][n].shape != p.shape for n, p in params.items()):
        raise RunStateError(f"checkpoint {s.checkpoint_dir} holds an adapter of another shape or base; "
                            "choose a new --out")
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(state["params"][name].to(param.device, param.dtype))
    optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and "scaler" in state:
        scaler.load_state_dict(state["scaler"])
    per_rank = state.get("rank_rng") or [state["rng"]]
    _restore_rng(per_rank[ranks.rank] if len(per_rank) == ranks.world else per_rank[0])
    return int(state["step"])


def _open_log(path: Path, start: int):
    """Append to the JSON-lines log, dropping lines of steps that will be replayed after a resume."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file():
        kept = [line for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= start]
        path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    return open(path, "a", encoding="utf-8")


def train(objective: Callable[[int], dict], params: dict[str, torch.nn.Parameter], s: LoopSettings,
          model: torch.nn.Module, scaler=None, ranks: Ranks = Ranks()) -> bool:
    """Run the steps; True when ``max_steps`` were reached, False when stopped by ``stop_after``.

    ``scaler`` (``adaptation.precision.grad_scaler``, float16 only): the objective scaled its loss with it; gradients
    are unscaled before clipping, and a step whose gradients overflowed is skipped by ``scaler.step``.
    Under torchrun every rank runs this loop; gradients are summed across ranks after each step's
    backward passes (see ``distributed``), and only the main rank logs and checkpoints.
    """
    optimizer = torch.optim.AdamW(list(params.values()), lr=s.lr, weight_decay=s.weight_decay)
    start = load_checkpoint(s, params, optimizer, scaler, ranks)
    ranks.broadcast(list(params.values()))
    model.train()
    log_file = _open_log(s.log_path, start) if ranks.main else contextlib.nullcontext()
    with log_file as log, \
            ProgressBar(total=s.max_steps, initial=start, desc=s.desc, unit="step", disable=not ranks.main) as bar:
        for step in range(start, s.max_steps):
            lr = learning_rate(step, s)
            for group in optimizer.param_groups:
                group["lr"] = lr
            began = time.perf_counter()
            try:
                stats = objective(step)
                ranks.sum_gradients(list(params.values()))   # before unscaling: every rank scaled alike
                if scaler is not None:
                    scaler.unscale_(optimizer)
                norm = torch.nn.utils.clip_grad_norm_(list(params.values()), s.max_grad_norm)
                if scaler is not None:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
            except (torch.OutOfMemoryError, RuntimeError) as err:
                if not is_out_of_memory(err):
                    raise
                raise OutOfMemoryError(f"out of memory in {s.desc} at step {step + 1}: lower --batch-size or "
                                       "--max-length, or use --grad-cache-chunk N, --gradient-checkpointing, "
                                       "--dtype bfloat16") from None
            optimizer.zero_grad(set_to_none=True)
            seconds = time.perf_counter() - began
            record = {"step": step + 1, "lr": lr, "grad_norm": float(norm), "seconds": round(seconds, 4),
                      "tokens_per_s": round(stats["tokens"] / max(seconds, 1e-9), 1), **stats}
            if log is not None:
                log.write(json.dumps(record) + "\n")
                log.flush()
            bar.set_postfix(loss=f"{stats['loss']:.4f}", tok_s=f"{record['tokens_per_s']:.0f}")
            bar.update(1)
            done = step + 1
            if s.stop_after is not None and done - start >= s.stop_after:
                return False
            if s.save_every > 0 and done % s.save_every == 0 and done < s.max_steps:
                save_checkpoint(s, done, params, optimizer, scaler, ranks)
    model.eval()
    return True
