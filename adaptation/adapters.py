"""Applying an ordered stack of LoRA adapters to a base decoder.

LLM2Vec checkpoints are stacks: MNTP merged into the base, then SimCSE or
supervised on top. Merging in order reproduces the published semantics exactly.
"""
from __future__ import annotations

import logging
import shutil
import warnings
from pathlib import Path

import torch
from torch import nn

from .errors import AdapterError

log = logging.getLogger(__name__)


def apply_adapter(model: nn.Module, adapter_dir: Path, name: str, merge: bool) -> nn.Module:
    """Load one adapter on ``model``; merge it into the weights when ``merge``."""
    from peft import PeftModel

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            peft_model = PeftModel.from_pretrained(model, str(adapter_dir), adapter_name=name, is_trainable=False)
        except (ValueError, RuntimeError, KeyError) as err:
            raise AdapterError(
                f"adapter {adapter_dir} does not fit the base model ({str(err).splitlines()[0][:200]}); "
                "was it trained on a different base?"
            ) from None
    missing = [w for w in caught if "missing adapter keys" in str(w.message).lower()]
    if missing:
        raise AdapterError(
            f"adapter {adapter_dir} does not match the base model's module names (missing adapter keys); "
            "was it trained on a different base or on the model with its LM head?"
        )
    if merge:
        return peft_model.merge_and_unload()
    return peft_model


def copy_adapter(source: Path, target: Path) -> None:
    """Copy adapter files; a legacy .bin adapter is converted to safetensors."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / "adapter_config.json", target / "adapter_config.json")
    if (source / "adapter_model.safetensors").is_file():
        shutil.copy2(source / "adapter_model.safetensors", target / "adapter_model.safetensors")
    elif (source / "adapter_model.bin").is_file():
        from safetensors.torch import save_file

        state = torch.load(source / "adapter_model.bin", map_location="cpu", weights_only=True)
        save_file({k: v.contiguous() for k, v in state.items()}, str(target / "adapter_model.safetensors"))
    else:
        raise AdapterError(f"{source}: no adapter_model.safetensors or adapter_model.bin")


def adapter_weight_file(directory: Path) -> Path:
    for name in ("adapter_model.safetensors", "adapter_model.bin"):
        if (directory / name).is_file():
            return directory / name
    raise AdapterError(f"{directory}: no adapter weights")
