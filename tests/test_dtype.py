"""The dtype an encoder runs in: a per-machine probe (bf16 only with native bf16), overridable, and int8."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from adaptation import Encoder
from adaptation import hardware
from adaptation.errors import UsageError

TEXTS = ["the quick brown fox jumps over the lazy dog", "a short one",
         "retrieval of documents by meaning with encoders " * 6]


@pytest.fixture(scope="module")
def saved_encoder(tiny_model_dir, tmp_path_factory):
    directory = tmp_path_factory.mktemp("dtype") / "enc"
    Encoder.from_pretrained(tiny_model_dir("llama"), dtype="float32").save(directory)
    return directory


@pytest.fixture
def probe(monkeypatch):
    """Pretend to be a CPU with the given flags; no L2V_DTYPE set."""
    monkeypatch.delenv(hardware.DTYPE_ENV, raising=False)

    def cpu(*flags: str) -> None:
        monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset(flags))
    return cpu


def test_bf16_only_where_the_cpu_has_native_bf16(probe):
    probe("avx2", "fma")
    choice = hardware.choose_dtype(None, "cpu")
    assert choice.dtype == "float32" and "no native bf16" in choice.reason
    probe("avx2", "avx512f", "avx512_bf16")
    assert hardware.choose_dtype(None, "cpu") == hardware.DtypeChoice("bfloat16", "CPU has native bf16 (avx512_bf16)")
    probe("amx_bf16", "amx_tile")
    assert hardware.choose_dtype(None, "cpu").dtype == "bfloat16"


def test_the_choice_is_overridable(probe, monkeypatch):
    probe("avx512_bf16")
    assert hardware.choose_dtype("float32", "cpu") == hardware.DtypeChoice("float32", "asked for")
    monkeypatch.setenv(hardware.DTYPE_ENV, "int8")
    assert hardware.choose_dtype(None, "cpu") == hardware.DtypeChoice("int8", "L2V_DTYPE=int8")
    with pytest.raises(UsageError, match="unknown dtype 'int4'"):
        hardware.choose_dtype("int4", "cpu")
    with pytest.raises(UsageError, match="int8 runs on CPU only"):
        hardware.choose_dtype("int8", "cuda")


def test_load_uses_the_probe_and_an_explicit_dtype_overrides_it(saved_encoder, probe):
    probe("avx512_bf16")
    encoder = Encoder.load(saved_encoder)
    assert encoder.model.dtype == torch.bfloat16 and encoder.config.dtype == "bfloat16"
    assert "avx512_bf16" in encoder.dtype_reason
    forced = Encoder.load(saved_encoder, dtype="float32")
    assert forced.model.dtype == torch.float32 and forced.dtype_reason == "asked for"
    probe("avx2")
    assert Encoder.load(saved_encoder).model.dtype == torch.float32


def test_bf16_and_int8_embeddings_agree_with_float32(saved_encoder):
    reference = Encoder.load(saved_encoder, dtype="float32").encode(TEXTS, normalize=True)
    bf16 = Encoder.load(saved_encoder, dtype="bfloat16").encode(TEXTS, normalize=True)
    int8_encoder = Encoder.load(saved_encoder, dtype="int8")
    int8 = int8_encoder.encode(TEXTS, normalize=True)
    assert np.min((bf16 * reference).sum(1)) >= 0.999
    assert np.min((int8 * reference).sum(1)) >= 0.99
    quantized = [m for m in int8_encoder.model.modules() if type(m).__name__ == "Linear" and hasattr(m, "_packed_params")]
    plain = [m for m in int8_encoder.model.modules() if type(m) is torch.nn.Linear]
    assert quantized and not plain      # every linear layer runs in int8
    assert int8_encoder.fingerprint == Encoder.load(saved_encoder, dtype="float32").fingerprint  # same index


def test_the_cli_runs_an_encoder_in_int8_and_refuses_an_unknown_dtype(saved_encoder, monkeypatch):
    import json

    from typer.testing import CliRunner

    from search_ui.l2v import app

    monkeypatch.delenv(hardware.DTYPE_ENV, raising=False)
    done = CliRunner().invoke(app, ["encoder", "embed", str(saved_encoder), "a cat sat", "--dtype", "int8"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["dim"] == Encoder.load(saved_encoder, dtype="float32").dim
    bad = CliRunner().invoke(app, ["search", "x.l2v", "query", "--dtype", "int4"], standalone_mode=False)
    assert isinstance(bad.exception, UsageError) and "--dtype int4" in str(bad.exception)


def test_threads_are_lowered_to_physical_cores_never_raised(monkeypatch):
    before = torch.get_num_threads()
    assert 1 <= hardware.physical_cores() <= (__import__("os").cpu_count() or 1)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(hardware, "physical_cores", lambda: 2)
    try:
        torch.set_num_threads(1)                          # a caller's lower choice (a Ray actor) stands
        assert hardware.set_cpu_threads() == 1
        torch.set_num_threads(4)                          # more than the cores: lowered
        assert hardware.set_cpu_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_bf16_gpu_the_default_is_bf16_and_agrees_with_float32(saved_encoder, monkeypatch):
    monkeypatch.delenv(hardware.DTYPE_ENV, raising=False)
    if not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    encoder = Encoder.load(saved_encoder, device="cuda")
    assert encoder.config.dtype == "bfloat16" and encoder.dtype_reason == "GPU with bf16 support"
    reference = Encoder.load(saved_encoder, device="cuda", dtype="float32").encode(TEXTS, normalize=True)
    assert np.min((encoder.encode(TEXTS, normalize=True) * reference).sum(1)) >= 0.999
