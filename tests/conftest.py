"""Shared fixtures: tiny random decoders of every family, built once per session."""
from __future__ import annotations

import os
import json
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tiny models gain nothing from intra-op threads, and on a busy 2-core machine threads
# contend badly; subprocesses started by tests inherit this too.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Every test runs the same arithmetic whatever the CI machine's CPU: the dtype probe (bf16 on CPUs with
# native bf16) is tested on its own in test_dtype.py.
os.environ.setdefault("L2V_DTYPE", "float32")

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
SHARED_DATA = REPO.parent / "shared" / "data"
FIXTURES = TESTS / "fixtures"

# The test embedder (``hash:DIM`` sources) is a plugin of the test suite, not of the product: registered
# here in process, and named for subprocesses (``l2v`` commands, ``streamlit``, ``python -m l2v_doubles``),
# which find it on PYTHONPATH. Tests that set PYTHONPATH for a child pass this value on.
os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(
    [str(REPO), str(TESTS), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]))
os.environ["L2V_PLUGINS"] = "l2v_doubles"
import l2v_doubles  # noqa: E402,F401  (registers the plugin in this process)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """``tiny_model_dir(family)`` -> path of a tiny random CausalLM + tokenizer (cached per family)."""
    from adaptation.tiny import build_tiny_decoder

    root = tmp_path_factory.mktemp("tiny-models")
    built: dict[str, Path] = {}

    def build(family: str = "llama") -> Path:
        if family not in built:
            built[family] = build_tiny_decoder(root / family, family)
        return built[family]

    return build


@pytest.fixture(scope="session")
def tiny_encoder(tiny_model_dir):
    """``tiny_encoder(family, **options)`` -> Encoder on the tiny model (cached per arguments)."""
    from adaptation import Encoder

    cache: dict = {}

    def make(family: str = "llama", **options):
        key = (family, tuple(sorted(options.items())))
        if key not in cache:
            cache[key] = Encoder.from_pretrained(tiny_model_dir(family), **options)
        return cache[key]

    return make


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (clone with ../shared beside the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def published(tmp_path_factory) -> dict[str, Path]:
    """The reference fixtures' published LLM2Vec layout (base config + MNTP adapter), pointed at its base.

    The recorded adapter configs name the base by the absolute path it had when built.
    """
    root = tmp_path_factory.mktemp("published")
    names = ("llama", "llama-mntp", "llama-simcse")
    for name in names:
        shutil.copytree(FIXTURES / "reference" / name, root / name)
    for name in ("llama-mntp", "llama-simcse"):
        config_path = root / name / "adapter_config.json"
        config = json.loads(config_path.read_text())
        config["base_model_name_or_path"] = str(root / "llama")
        config_path.write_text(json.dumps(config))
    return {name: root / name for name in names}
