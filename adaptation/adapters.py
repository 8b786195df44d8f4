"""Applying an ordered stack of LoRA adapters to a base decoder.

LLM2Vec checkpoints are stacks: MNTP merged into the base, then SimCSE or
supervised on top. Merging in order reproduces the published semantics exactly.
"""
from __future__ import annotations

import hashlib
import logging
import shutil
import warnings
from pathlib import Path

import torch
from torch import nn

from .errors import AdapterError

log = logging.getLogger(__name__)


def check_adapter_fits(model: nn.Module, adapter_dir: Path) -> None:
    """Every LoRA weight must name a module of the model.

    peft drops adapter weights whose module does not exist (e.g. a q_proj LoRA on
    a model with a fused qkv_proj) without a word, leaving a half-applied stack.
    """
    from safetensors import safe_open

    weights = adapter_weight_file(adapter_dir)
    if weights.suffix != ".safetensors":
        return
    modules = {module_name for module_name, _ in model.named_modules()}
    with safe_open(str(weights), "pt") as handle:
        targets = {key.split(".lora_")[0].removeprefix("base_model.model.") for key in handle.keys()}
    stray = sorted(t for t in targets if t not in modules)
    if stray:
        raise AdapterError(f"adapter {adapter_dir} does not fit the base model: no module {stray[0]} "
                           f"({len(stray)} of {len(targets)} missing); was it trained on a different base?")


def apply_adapter(model: nn.Module, adapter_dir: Path, name: str, merge: bool) -> nn.Module:
    """Load one adapter on ``model``; merge it into the weights when ``merge``."""
    from peft import PeftModel

    check_adapter_fits(model, adapter_dir)
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


def adapter_tensors(directory: Path) -> dict[str, torch.Tensor]:
    """The adapter's tensors by name, from safetensors or a legacy .bin."""
    weights = adapter_weight_file(directory)
    if weights.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(weights))
    return torch.load(weights, map_location="cpu", weights_only=True)


def adapter_identity(directory: Path) -> str:
    """sha256 over the adapter's tensor names, dtypes, shapes and values - not over file bytes.

    Saving an encoder rewrites its adapters (a .bin becomes safetensors, header order and metadata may
    differ): identical weights must keep the fingerprint, or an index would refuse an identical copy.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(adapter_tensors(directory).items()):
        tensor = tensor.detach().contiguous().cpu()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def adapter_weight_file(directory: Path) -> Path:
    for name in ("adapter_model.safetensors", "adapter_model.bin"):
        if (directory / name).is_file():
            return directory / name
    raise AdapterError(f"{directory}: no adapter weights")
