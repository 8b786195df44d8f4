"""Which decoder families the bidirectional mechanism is validated on.

The mechanism itself is generic (see ``bidirectional.py``); this list exists
only so an untested family fails loudly instead of silently staying causal.
Keyed on ``config.model_type``, never on a model's name or path.
"""
from __future__ import annotations

from .errors import UnsupportedModelError

SUPPORTED_MODEL_TYPES: tuple[str, ...] = (
    "llama",
    "mistral",
    "qwen2",
    "qwen3",
    "gemma",
    "gemma2",
    "phi3",
)


def check_supported(model_type: str) -> None:
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise UnsupportedModelError(
            f"model type '{model_type}' is not supported; supported types: {', '.join(SUPPORTED_MODEL_TYPES)}"
        )
