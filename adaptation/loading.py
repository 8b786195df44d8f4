"""Resolving and loading base models, tokenizers and adapter directories.

A name is either a local directory or a Hugging Face hub id; both go through the
same calls so users with internet get hub loading and tests stay offline.

Trust: a model directory is data. Every transformers ``from_pretrained`` here passes
``trust_remote_code=False`` (transformers would otherwise *ask* on a terminal, and run
the directory's Python on "y"), and ``check_family`` reads ``config.json`` as plain
JSON so an unsupported ``model_type`` is refused before transformers opens anything.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import warnings
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

import torch

from .errors import AdapterError, ModelNotFoundError, UsageError
from .families import check_supported

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
ATTN_CHOICES = ("auto", "sdpa", "eager", "flash_attention_2")
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")
HUB_PROBE_TIMEOUT_S = 3.0
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def torch_dtype(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise UsageError(f"unknown dtype '{name}'; choose one of: {', '.join(DTYPES)}")
    return DTYPES[name]


def flash_attn_available() -> bool:
    if not torch.cuda.is_available():
        return False
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_attention(requested: str, dtype: torch.dtype, device: str) -> str:
    """Pick the attention kernel; fall back from flash-attention with a warning."""
    if requested not in ATTN_CHOICES:
        raise UsageError(f"unknown attention '{requested}'; choose one of: {', '.join(ATTN_CHOICES)}")
    flash_ok = device.startswith("cuda") and flash_attn_available() and dtype in (torch.bfloat16, torch.float16)
    if requested == "auto":
        return "flash_attention_2" if flash_ok else "sdpa"
    if requested == "flash_attention_2" and not flash_ok:
        warnings.warn("flash_attention_2 needs CUDA, the flash-attn package and bf16/fp16; falling back to sdpa")
        return "sdpa"
    return requested


def is_local(name: str) -> bool:
    return Path(name).expanduser().exists()


def is_hub_id(name: str) -> bool:
    """``owner/name`` that is not a local path: the only names worth asking the hub about."""
    return not is_local(name) and "/" in name and not name.startswith((".", "/", "~"))


@lru_cache(maxsize=1)
def hub_reachable() -> bool:
    """One TCP connect to the hub's host (a few seconds at most); behind a proxy we cannot tell, so yes."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    if any(os.environ.get(v) for v in PROXY_VARIABLES):
        return True
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)),
                                 timeout=HUB_PROBE_TIMEOUT_S).close()
        return True
    except OSError:
        return False


def prepare_hub(name: str) -> None:
    """Before the first hub call for ``name``: offline, answer from the local cache or fail in one line.

    Without this, every file lookup retries the network five times with back-off (about a minute per
    unknown name offline) and ends in transformers' "couldn't connect ... couldn't find" message.
    Switching huggingface_hub to offline mode also makes transformers read the cache without retrying.
    """
    if not is_hub_id(name) or hub_reachable():
        return
    from huggingface_hub import constants, try_to_load_from_cache

    constants.HF_HUB_OFFLINE = True
    try:
        cached = any(isinstance(try_to_load_from_cache(name, f), str) for f in ("config.json", "adapter_config.json"))
    except Exception:  # noqa: BLE001 - not even a valid hub id (huggingface_hub's validation errors)
        cached = False
    if not cached:
        raise ModelNotFoundError(f"model '{name}' is not a local directory nor in the Hugging Face cache, and the "
                                 f"hub ({urlparse(constants.ENDPOINT).hostname}) cannot be reached; check the name, "
                                 "or connect once to download it")


def fetch_file(name: str, filename: str, revision: str | None = None) -> Path | None:
    """A file of a local dir or hub repo, or None when the repo has no such file."""
    if is_local(name):
        path = Path(name).expanduser() / filename
        return path if path.is_file() else None
    prepare_hub(name)
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(name, filename, revision=revision))
    except Exception as err:  # missing entry, offline, unknown repo: all mean "not here"
        log.debug("no %s in %s: %s", filename, name, err)
        return None


def local_adapter_dir(name: str, revision: str | None = None) -> Path:
    """A directory holding adapter_config.json + weights, downloading a hub adapter if needed."""
    if is_local(name):
        path = Path(name).expanduser()
        if not (path / "adapter_config.json").is_file():
            raise AdapterError(f"{name}: no adapter_config.json; not a LoRA adapter directory")
        return path
    prepare_hub(name)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, revision=revision, allow_patterns=list(ADAPTER_FILES)))
    except Exception as err:
        raise AdapterError(
            f"adapter '{name}' is not a local directory and could not be downloaded ({type(err).__name__}); "
            "check the path, or connect to the internet for hub ids"
        ) from None


def read_json(path: Path | None) -> dict:
    if path is None:
        return {}
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise UsageError(f"{path}: unreadable JSON ({err})") from None


def check_family(name: str, revision: str | None = None) -> None:
    """Refuse an unsupported ``model_type`` from the raw ``config.json``, before any transformers loader.

    transformers resolves ``auto_map`` (custom code) for a type it does not know; our check must come
    first so such a directory gets one line of refusal and its code is never imported nor offered.
    """
    path = fetch_file(name, "config.json", revision)
    if path is not None:
        check_supported(str(read_json(path).get("model_type", "")))


def load_config(name: str, revision: str | None = None):
    from transformers import AutoConfig

    if not is_local(name) and not is_hub_id(name):
        raise ModelNotFoundError(f"model '{name}': no such directory, and not a hub id (owner/name)")
    check_family(name, revision)
    try:
        return AutoConfig.from_pretrained(name, revision=revision, trust_remote_code=False)
    except (OSError, ValueError) as err:
        where = "local directory" if is_local(name) else "hub id (offline or unknown?)"
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelNotFoundError(f"cannot load model config from {where} '{name}': {first_line}") from None


def load_base_model(name: str, revision: str | None, dtype: torch.dtype, attn: str, device: str):
    """The bare decoder (no LM head): all an encoder needs."""
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    check_family(name, revision)  # also for a saved encoder's base, whose config.json may have changed
    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "lm_head weights not used" is expected for an encoder
    hf_logging.disable_progress_bar()
    try:
        model = AutoModel.from_pretrained(name, revision=revision, dtype=dtype, attn_implementation=attn,
                                          trust_remote_code=False)
    except ValueError as err:
        if attn == "eager" or "attention implementation" not in str(err):
            raise ModelNotFoundError(f"cannot load model weights from '{name}': {str(err).splitlines()[0]}") from None
        # some families (e.g. Gemma2's soft-capping) have no sdpa/flash kernel: eager is exact
        warnings.warn(f"{attn} attention is not available for this model; using eager")
        model = AutoModel.from_pretrained(name, revision=revision, dtype=dtype, attn_implementation="eager",
                                          trust_remote_code=False)
    except OSError as err:
        raise ModelNotFoundError(f"cannot load model weights from '{name}': {str(err).splitlines()[0]}") from None
    finally:
        hf_logging.set_verbosity(previous)
        hf_logging.enable_progress_bar()
    return model.to(device).eval()


def load_tokenizer(name: str, revision: str | None = None):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name, revision=revision, trust_remote_code=False)
    except (OSError, ValueError) as err:
        raise ModelNotFoundError(f"cannot load tokenizer from '{name}': {str(err).splitlines()[0]}") from None


def has_tokenizer(directory: Path) -> bool:
    return any((directory / f).is_file() for f in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json"))
