"""Run and step configuration, saved as ``run_config.json`` beside every artefact.

Defaults follow the LLM2Vec paper (MNTP 1000 steps x 32 x 512 at 5e-5; SimCSE
1000 x 128 x 128 at 3e-5; supervised lr 2e-4, warmup 300, scale 50); every
value can be overridden, per step where it makes sense.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from ..errors import UsageError

STEP_ORDER: tuple[str, ...] = ("mntp", "simcse", "supervised")
MASK_MODES: tuple[str, ...] = ("80-10-10", "all")
DEFAULT_TARGETS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
                                   "qkv_proj", "gate_up_proj")  # fused variants (Phi-3) where they exist
RUN_CONFIG = "run_config.json"


@dataclass
class StepConfig:
    """Everything one step's training depends on (recorded with its output)."""

    name: str
    max_steps: int
    batch_size: int
    lr: float
    max_length: int
    warmup: int = 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    data: list[str] = field(default_factory=list)
    # LoRA on the bare decoder (same module names as the Encoder's and published adapters)
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: list[str] = field(default_factory=lambda: list(DEFAULT_TARGETS))
    # 0 = every decoder layer; N = only the top N. Below the lowest adapted layer nothing needs a gradient,
    # so backward (and checkpoint recompute) stops there: on a CPU, the top half trains ~1.6x faster.
    lora_layers: int = 0
    # MNTP
    mask_prob: float = 0.2
    mask_mode: str = "80-10-10"
    mask_token: str = ""  # "" = the tokenizer's mask token, else "_" (the reference), else unk/pad
    # contrastive (SimCSE / supervised)
    scale: float = 20.0
    symmetric: bool = False
    attention_dropout: float = 0.0
    grad_cache_chunk: int = 0  # 0 = whole batch at once


def step_defaults(name: str) -> StepConfig:
    """The paper's defaults for one step."""
    if name == "mntp":
        return StepConfig(name, max_steps=1000, batch_size=32, lr=5e-5, max_length=512)
    if name == "simcse":
        return StepConfig(name, max_steps=1000, batch_size=128, lr=3e-5, max_length=128, scale=20.0,
                          attention_dropout=0.3)
    if name == "supervised":
        return StepConfig(name, max_steps=1000, batch_size=64, lr=2e-4, max_length=512, warmup=300, scale=50.0)
    raise UsageError(f"unknown step '{name}'; choose from: {', '.join(STEP_ORDER)}")


def parse_steps(text: str) -> list[str]:
    """'mntp,simcse' -> ['mntp', 'simcse'], in the order the steps build on each other."""
    names = [s.strip().lower() for s in text.split(",") if s.strip()]
    if not names:
        raise UsageError("--steps is empty; give e.g. --steps mntp,simcse")
    for name in names:
        if name not in STEP_ORDER:
            raise UsageError(f"--steps: unknown step '{name}'; choose from: {', '.join(STEP_ORDER)}")
    if len(set(names)) != len(names) or names != sorted(names, key=STEP_ORDER.index):
        raise UsageError(f"--steps {text}: each step at most once, in the order {','.join(STEP_ORDER)}")
    return names


def per_step(option: str, text: str | None, steps: list[str], cast) -> dict[str, Any]:
    """'3e-5' applies to every step; 'mntp=5e-5,simcse=3e-5' sets steps one by one."""
    if text is None or str(text).strip() == "":
        return {}
    values: dict[str, Any] = {}
    for part in str(text).split(","):
        key, sep, value = part.partition("=")
        try:
            if sep:
                if key.strip() not in STEP_ORDER:
                    raise UsageError(f"--{option} {text}: unknown step '{key.strip()}'")
                values[key.strip()] = cast(value.strip())
            else:
                values.update({s: cast(key.strip()) for s in steps})
        except ValueError:
            raise UsageError(f"--{option} {text}: '{part}' is not a valid value") from None
    return values


@dataclass
class RunConfig:
    """A whole ``l2v adapt`` run: the base, the steps in order and shared settings."""

    base_model: str
    out: str
    steps: list[StepConfig]
    seed: int = 0
    dtype: str = "float32"
    gradient_checkpointing: bool = False
    save_every: int = 100
    pooling: str | None = None  # None: keep the base encoder's pooling
    copy_base: bool = False     # True: each step dir gets a copy of a local base (loads without it; 100s of MB)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        data["steps"] = [StepConfig(**s) for s in data.get("steps", [])]
        return cls(**data)

    def step(self, name: str) -> StepConfig:
        return next(s for s in self.steps if s.name == name)

    def identity(self, step: StepConfig) -> dict[str, Any]:
        """What must match for a checkpoint to be resumed (not e.g. save_every)."""
        return {"base_model": self.base_model, "seed": self.seed, "dtype": self.dtype,
                "pooling": self.pooling, "step": asdict(replace(step, max_steps=0))}
