"""The model side of a step: the encoder, its new LoRA adapter, the frozen LM head, saving.

LoRA goes on the *bare* decoder (``Encoder.model``), so the adapter's keys
(``base_model.model.layers.N.self_attn.q_proj...``) are those of the Encoder and
of the published LLM2Vec adapters: a trained adapter stacks with ``Encoder``
exactly like a downloaded one.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from ..config import AdapterEntry, EncoderConfig
from ..encoder import Encoder
from ..errors import ModelNotFoundError, UsageError
from ..pooling import check_pooling
from ..storage import atomic_directory
from .config import StepConfig


@dataclass
class StepModel:
    """The encoder being trained (``encoder.model`` is the peft model) and, for MNTP, the head."""

    encoder: Encoder
    head: nn.Module | None = None
    softcap: float | None = None  # final logit soft-capping of the base's LM head (Gemma-2), if any

    def trainable(self) -> dict[str, nn.Parameter]:
        return {n: p for n, p in self.encoder.model.named_parameters() if p.requires_grad}


def load_encoder(source: str | Path, dtype: str, device: str | None, pooling: str | None) -> Encoder:
    """The encoder a step starts from: the base, or the previous step's saved encoder (all merged)."""
    encoder = Encoder.from_pretrained(str(source), dtype=dtype, device=device)  # refuses adapters that do not fit
    if pooling:
        encoder.config.pooling = check_pooling(pooling)
    return encoder


def lora_targets(model: nn.Module, wanted: list[str]) -> list[str]:
    """Which of the wanted projection names exist as linear layers in this model (never by model name)."""
    present = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                      if isinstance(module, nn.Linear) and name.rsplit(".", 1)[-1] in wanted})
    if not present:
        raise UsageError(f"none of the LoRA targets {', '.join(wanted)} is a linear layer of this model; "
                         "pass --lora-targets with its projection names")
    return present


def add_lora(encoder: Encoder, step: StepConfig, gradient_checkpointing: bool = False) -> list[str]:
    """Wrap the bare decoder with a fresh trainable LoRA adapter; returns the target names."""
    from peft import LoraConfig, get_peft_model

    targets = lora_targets(encoder.model, step.lora_targets)
    if gradient_checkpointing:
        encoder.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    modules: list[str] = targets
    if step.lora_layers:
        total = encoder.model.config.num_hidden_layers
        if step.lora_layers > total:
            raise UsageError(f"--lora-layers {step.lora_layers}: this model has {total} decoder layers")
        lowest = total - step.lora_layers   # full module names: peft's layer patterns miss a bare decoder's "layers.N"
        modules = [name for name, _ in encoder.model.named_modules()
                   if name.rsplit(".", 1)[-1] in targets and _layer_index(name) >= lowest]
    config = LoraConfig(r=step.lora_r, lora_alpha=step.lora_alpha, lora_dropout=step.lora_dropout,
                        target_modules=modules, bias="none")
    with warnings.catch_warnings():  # transformers 5 deprecation inside peft; nothing for the user to do
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        encoder.model = get_peft_model(encoder.model, config)
    return targets


def _layer_index(module_name: str) -> int:
    """N of a module under ``layers.N.`` (-1 outside the decoder layers)."""
    parts = module_name.split(".")
    for i, part in enumerate(parts[:-1]):
        if part == "layers" and parts[i + 1].isdigit():
            return int(parts[i + 1])
    return -1


def set_attention_dropout(model: nn.Module, probability: float) -> int:
    """Dropout on attention probabilities, set on every module that has the attribute; returns how many."""
    count = 0
    for module in model.modules():
        value = getattr(module, "attention_dropout", None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            module.attention_dropout = float(probability)
            count += 1
    if count == 0 and probability > 0:
        raise UsageError("this model's attention has no attention_dropout; pass --simcse-dropout 0")
    return count


def load_head(encoder: Encoder) -> tuple[nn.Module, float | None]:
    """The base model's own LM head, frozen (MNTP predicts tokens with it)."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    source = str(encoder.base_dir) if encoder.base_dir is not None else encoder.config.base_model
    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        causal = AutoModelForCausalLM.from_pretrained(source, revision=encoder.config.base_revision,
                                                      dtype=encoder.model.dtype, trust_remote_code=False)
    except (OSError, ValueError) as err:
        raise ModelNotFoundError(f"MNTP needs the LM head of '{source}' but it cannot be loaded as a causal LM "
                                 f"({str(err).splitlines()[0][:160]}); use --steps simcse or supervised") from None
    finally:
        hf_logging.set_verbosity(previous)
        hf_logging.enable_progress_bar()
    head = causal.get_output_embeddings()
    softcap = getattr(causal.config, "final_logit_softcapping", None)
    del causal
    head.requires_grad_(False)
    return head.to(encoder.device), softcap


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def save_step(step_model: StepModel, name: str, target: Path, copy_base: bool,
              extra_files: dict[str, str]) -> Path:
    """Write a complete, loadable encoder: previous adapters + this step's adapter (merged in order).

    Atomic: ``target`` appears only once everything, run config and log included, is written.
    """
    encoder = step_model.encoder
    with atomic_directory(target) as tmp:
        adapter_dir = tmp / "_new_adapter"
        encoder.model.save_pretrained(str(adapter_dir), safe_serialization=True)
        config = EncoderConfig.from_dict(encoder.config.to_dict())
        config.adapters.append(AdapterEntry(name=name, path=str(adapter_dir), merged=True, source=f"l2v adapt ({name})"))
        stepped = Encoder(encoder.model, encoder.tokenizer, config, [*encoder.adapter_dirs, adapter_dir],
                          encoder.base_dir, encoder.device)
        stepped.save(tmp, copy_base=copy_base and encoder.base_dir is not None)
        for filename, content in extra_files.items():
            (tmp / filename).write_text(content, encoding="utf-8")
    return target
