"""Saving, loading, published LLM2Vec layouts, fingerprints and user-facing errors."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from adaptation import Encoder
from adaptation.errors import AdapterError, EncoderFormatError, ModelNotFoundError, UnsupportedModelError

TEXTS = ["the quick brown fox", ("Retrieve semantically similar text:", "a cat sat on the mat"), "Paris"]
def test_save_load_round_trip_with_adapter_stack(published, tmp_path):
    encoder = Encoder.from_pretrained(published["llama-mntp"], adapters=[published["llama-simcse"]],
                                      pooling="weighted_mean", query_instruction="Find:")
    saved = encoder.save(tmp_path / "enc")
    # adapters are copied in, the base referenced by path and pinned by hash: the directory
    # still loads after it moved and its adapter sources are gone
    moved = tmp_path / "moved"
    shutil.move(saved, moved)
    reloaded = Encoder.load(moved)
    np.testing.assert_allclose(reloaded.encode(TEXTS), encoder.encode(TEXTS), atol=1e-6)
    config = json.loads((moved / "encoder_config.json").read_text())
    assert config["base_model"] == str(published["llama"].resolve()) and config["model_type"] == "llama"
    assert config["base_hash"].startswith("dir:") and not (moved / "base").exists()
    assert not [p for p in moved.rglob("*.safetensors") if "adapters" not in p.parts]
    assert [a["name"] for a in config["adapters"]] == ["mntp", "adapter1"]
    assert all((moved / a["path"] / "adapter_model.safetensors").is_file() for a in config["adapters"])
    assert config["pooling"] == "weighted_mean" and config["dim"] == 64 and config["query_instruction"] == "Find:"
    assert {"torch", "transformers", "peft"} <= set(config["versions"])
    assert reloaded.fingerprint == encoder.fingerprint


def test_published_layout_equals_manual_merge(published):
    """Base + MNTP merged + SimCSE on top, done by hand with peft, gives the same vectors."""
    from peft import PeftModel
    from transformers import AutoModel

    from adaptation.encoder import Encoder as Enc

    layout = Encoder.from_pretrained(published["llama-mntp"], adapters=[published["llama-simcse"]])
    model = AutoModel.from_pretrained(published["llama"], dtype="float32")
    model = PeftModel.from_pretrained(model, str(published["llama-mntp"])).merge_and_unload()
    model = PeftModel.from_pretrained(model, str(published["llama-simcse"])).merge_and_unload()
    manual = Enc(model.eval(), layout.tokenizer, layout.config)
    np.testing.assert_allclose(layout.encode(TEXTS), manual.encode(TEXTS), atol=1e-5)
    plain = Encoder.from_pretrained(published["llama"])
    assert np.abs(plain.encode(TEXTS) - layout.encode(TEXTS)).max() > 1e-3  # the adapters really apply


def test_llm2vec_config_sets_defaults(published, tmp_path):
    layout = tmp_path / "with-config"
    shutil.copytree(published["llama-mntp"], layout)
    (layout / "llm2vec_config.json").write_text(json.dumps({"pooling_mode": "eos_token", "max_length": 128,
                                                           "skip_instruction": False}))
    encoder = Encoder.from_pretrained(layout)
    assert (encoder.config.pooling, encoder.config.max_length, encoder.config.skip_instruction) == ("last_token", 128, False)
    assert Encoder.from_pretrained(layout, pooling="mean").config.pooling == "mean"


def test_fingerprint_tracks_what_changes_vectors(tiny_model_dir, tiny_encoder):
    base = tiny_encoder("llama")
    assert base.fingerprint == Encoder.from_pretrained(tiny_model_dir("llama"), dtype="bfloat16").fingerprint
    assert base.fingerprint != tiny_encoder("llama", pooling="last_token").fingerprint
    assert base.fingerprint != tiny_encoder("mistral").fingerprint  # same shapes, different config/weights


def test_rewritten_adapters_keep_the_fingerprint_changed_values_do_not(published, tmp_path):
    """Re-saving rewrites adapter files (a .bin becomes safetensors, other header/metadata): identical
    tensors must keep the fingerprint, or an index refuses an identical copy of its encoder."""
    import torch
    from safetensors.torch import load_file, save_file

    original = Encoder.from_pretrained(published["llama-mntp"])
    as_bin = shutil.copytree(published["llama-mntp"], tmp_path / "as-bin")
    tensors = load_file(str(as_bin / "adapter_model.safetensors"))
    torch.save(tensors, as_bin / "adapter_model.bin")
    (as_bin / "adapter_model.safetensors").unlink()
    assert Encoder.from_pretrained(as_bin).fingerprint == original.fingerprint
    saved = original.save(tmp_path / "saved")
    (weights,) = saved.rglob("adapter_model.safetensors")
    save_file(dict(reversed(list(load_file(str(weights)).items()))), str(weights), metadata={"format": "pt", "x": "y"})
    assert Encoder.load(saved).fingerprint == original.fingerprint
    changed = {k: (v + 1e-3 if i == 0 else v) for i, (k, v) in enumerate(sorted(tensors.items()))}
    save_file(changed, str(weights))
    assert Encoder.load(saved).fingerprint != original.fingerprint


def test_search_preferences_are_saved_but_do_not_change_the_fingerprint(tiny_model_dir, tmp_path):
    encoder = Encoder.from_pretrained(tiny_model_dir("llama"))
    before = encoder.fingerprint
    encoder.config.hybrid_dense_weight = 0.2
    encoder.save(tmp_path / "enc")
    loaded = Encoder.load(tmp_path / "enc")
    assert loaded.config.hybrid_dense_weight == 0.2
    assert loaded.fingerprint == before                # the stored vectors would not change


def test_failed_save_leaves_no_directory_and_keeps_the_previous_one(tiny_encoder, tmp_path):
    """A save that dies half-way (here: an adapter whose files vanished) changes nothing on disk."""
    from adaptation.config import AdapterEntry

    encoder = tiny_encoder("llama")
    broken = Encoder(encoder.model, encoder.tokenizer, encoder.config.__class__.from_dict(encoder.config.to_dict()),
                     adapter_dirs=[tmp_path / "missing-adapter"], base_dir=encoder.base_dir)
    broken.config.adapters = [AdapterEntry(name="ghost", path="x")]
    with pytest.raises((FileNotFoundError, AdapterError)):
        broken.save(tmp_path / "out")
    assert not (tmp_path / "out").exists()
    good = encoder.save(tmp_path / "good")
    with pytest.raises((FileNotFoundError, AdapterError)):
        broken.save(good)
    np.testing.assert_allclose(Encoder.load(good).encode(["a cat"]), encoder.encode(["a cat"]), atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good"]


def test_unsupported_family_lists_supported(tmp_path):
    from transformers import GPT2Config, GPT2Model

    GPT2Model(GPT2Config(n_embd=32, n_layer=1, n_head=2, vocab_size=100)).save_pretrained(tmp_path / "gpt2")
    with pytest.raises(UnsupportedModelError, match="'gpt2' is not supported.*llama, mistral, qwen2"):
        Encoder.from_pretrained(tmp_path / "gpt2")


def test_missing_paths_are_clear_errors(tmp_path, tiny_model_dir):
    with pytest.raises(ModelNotFoundError, match="no such directory"):
        Encoder.from_pretrained(tmp_path / "nope")
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        Encoder.load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EncoderFormatError, match="encoder_config.json"):
        Encoder.load(tmp_path / "empty")
    with pytest.raises(AdapterError, match="adapter_config.json"):
        Encoder.from_pretrained(tiny_model_dir("llama"), adapters=[tmp_path / "empty"])


def test_adapter_for_another_base_is_refused(published, tmp_path):
    from adaptation.tiny import build_tiny_decoder

    narrower = build_tiny_decoder(tmp_path / "narrow", "llama", hidden=32)
    with pytest.raises(AdapterError, match="different base"):
        Encoder.from_pretrained(narrower, adapters=[published["llama-simcse"]])


def test_adapter_for_missing_modules_is_refused_not_half_applied(published, tiny_model_dir):
    """Phi3 fuses q/k/v into qkv_proj: a q_proj LoRA would silently drop those weights in peft."""
    with pytest.raises(AdapterError, match="no module layers.0.*(10 of 14 missing)"):
        Encoder.from_pretrained(tiny_model_dir("phi3"), adapters=[published["llama-simcse"]])
