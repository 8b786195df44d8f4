"""Settings of one pretraining run, saved as JSON beside the model it produced."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from .errors import ResumeError

# Settings that may change between an interrupted run and its ``--resume``: everything else
# (architecture, data, optimiser) must match or the resumed run would not continue the same one.
RESUMABLE = ("max_steps", "max_minutes", "threads", "checkpoint_minutes", "log_every", "eval_every", "progress")


@dataclass
class PretrainConfig:
    """Model shape, data and optimisation of ``l2v pretrain`` (defaults: ~12.6M parameters)."""

    data: list[str] = field(default_factory=list)
    eval_file: str | None = None
    vocab_size: int = 8192
    hidden: int = 384
    layers: int = 6
    heads: int = 6
    kv_heads: int = 2
    intermediate: int = 1024
    seq_len: int = 512
    batch_size: int = 32  # sequences per optimiser step
    micro_batch: int = 8  # sequences per forward/backward (gradient accumulation)
    max_steps: int | None = None
    max_minutes: float | None = None
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup: int = 50
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    dtype: str = "bfloat16"  # autocast dtype; master weights stay float32
    threads: int | None = None
    seed: int = 0
    checkpoint_minutes: float = 10.0
    log_every: int = 10
    eval_every: int = 0  # steps between quick validation passes; 0 = only at the end
    eval_blocks: int | None = None  # cap on validation blocks (None = the whole file)
    progress: bool = True

    def validate(self) -> None:
        from ..errors import UsageError

        if self.max_steps is None and self.max_minutes is None:
            raise UsageError("give --max-steps or --max-minutes (or both) so the run knows when to stop")
        if self.hidden % self.heads or self.heads % self.kv_heads:
            raise UsageError(f"--hidden {self.hidden} must divide by --heads {self.heads}, "
                             f"and --heads by --kv-heads {self.kv_heads}")
        if self.batch_size % self.micro_batch:
            raise UsageError(f"--batch-size {self.batch_size} must be a multiple of --micro-batch {self.micro_batch}")
        if self.log_every < 1:
            raise UsageError(f"--log-every {self.log_every}: must be at least 1 (steps between log lines)")
        if self.eval_every < 0:
            raise UsageError(f"--eval-every {self.eval_every}: must be 0 (only at the end) or more")
        if self.dtype not in ("bfloat16", "float32", "float16"):
            raise UsageError(f"unknown --dtype '{self.dtype}'; choose bfloat16, float16 or float32")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "PretrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def resumed_with(self, overrides: dict) -> "PretrainConfig":
        """This (checkpointed) config with ``overrides``; only the resumable settings may change."""
        changed = [k for k, v in overrides.items() if k not in RESUMABLE and v is not None and getattr(self, k) != v]
        if changed:
            raise ResumeError("--resume with settings that differ from the checkpoint: "
                              + ", ".join(f"{k} (was {getattr(self, k)!r}, now {overrides[k]!r})" for k in changed)
                              + "; repeat the original settings or leave them out")
        merged = self.to_dict()
        merged.update({k: v for k, v in overrides.items() if k in RESUMABLE and v is not None})
        return PretrainConfig.from_dict(merged)
