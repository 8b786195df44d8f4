"""The indexer with real (tiny, random) adaptation encoders, and the l2v index/search/status commands."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from indexer import EncoderAdapter, Index, build_index
from indexer.embedding.embedders import Embedder
from indexer.errors import EncoderMismatchError

from indexer_helpers import make_corpus


@pytest.fixture(scope="module")
def encoders(tiny_model_dir, tmp_path_factory):
    """Two saved encoder dirs of different families; the second has a saved query instruction."""
    from adaptation import Encoder

    root = tmp_path_factory.mktemp("encoders")
    llama = Encoder.from_pretrained(tiny_model_dir("llama")).save(root / "enc-llama")
    qwen = Encoder.from_pretrained(tiny_model_dir("qwen2"), query_instruction="Retrieve passages about").save(
        root / "enc-qwen")
    return {"llama": llama, "qwen": qwen}


@pytest.fixture(scope="module")
def app():
    from indexer.cli import register

    application = typer.Typer()
    register(application)
    return application


@pytest.fixture(scope="module")
def built(encoders, app, tmp_path_factory):
    root = tmp_path_factory.mktemp("real")
    make_corpus(root / "docs", 4, paragraphs=2)
    result = CliRunner().invoke(app, ["index", str(root / "docs"), "--db", str(root / "db"), "--encoder",
                                      str(encoders["llama"]), "--chunk-tokens", "48", "--overlap", "8"])
    assert result.exit_code == 0, result.output
    assert "4 added" in result.output
    return root


def test_adapter_satisfies_the_embedder_protocol(encoders):
    from adaptation import Encoder

    adapter = EncoderAdapter(Encoder.load(encoders["llama"]))
    assert isinstance(adapter, Embedder)
    vectors = adapter.encode_documents(["a river", "a mountain"])
    assert vectors.shape == (2, adapter.dim) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    offsets = adapter.tokenizer.offsets("Rivers flow to the sea.")
    assert offsets and all(0 <= a < b <= 23 for a, b in offsets)


def test_real_encoder_vectors_and_exact_search(encoders, built):
    from adaptation import Encoder

    encoder = Encoder.load(encoders["llama"])
    with Index.open(built / "db") as idx:
        (info,) = idx.encoders()
        assert info.name == "enc-llama" and info.fingerprint == encoder.fingerprint and info.n_pending == 0
        chunks = idx.chunks()
        store = idx.vectors()
        stored = np.vstack([store.index.reconstruct(c.id) for c in chunks])
        expected = encoder.encode_documents([c.text for c in chunks], normalize=True)
        np.testing.assert_allclose(stored, expected, atol=1e-4)  # what FAISS holds is the encoder's output
        query = "rivers flow to the sea"
        q = encoder.encode_queries([query], normalize=True)[0]
        cosine = stored @ q
        hits = idx.search(query, k=3)  # loads the encoder from the recorded source directory
        np.testing.assert_allclose([h.score for h in hits], np.sort(cosine)[::-1][:3], atol=1e-4)
        assert hits[0].chunk_id == chunks[int(np.argmax(cosine))].id


def test_two_real_encoders_share_chunk_ids_and_instructions_default(encoders, built):
    from adaptation import Encoder

    build_index(built / "docs", built / "db", {"qwen": str(encoders["qwen"])})
    with Index.open(built / "db") as idx:
        ids = {e.name: set(idx.vectors(e.name).ids().tolist()) for e in idx.encoders()}
        assert ids["qwen"] == ids["enc-llama"] == {c.id for c in idx.chunks()}
        assert idx.check_consistency() == []
        qwen = Encoder.load(encoders["qwen"])
        idx.set_embedder("qwen", EncoderAdapter(qwen))
        saved = idx.search("mountains", encoder="qwen", k=3)
        explicit = idx.search_vector(qwen.encode([("Retrieve passages about", "mountains")], normalize=True)[0],
                                     "qwen", k=3)
        assert [(h.chunk_id, round(h.score, 5)) for h in saved] == [(h.chunk_id, round(h.score, 5)) for h in explicit]
        other = idx.search("mountains", encoder="qwen", k=3, instruction="")
        assert [round(h.score, 5) for h in other] != [round(h.score, 5) for h in saved]
        with pytest.raises(EncoderMismatchError):
            idx.set_embedder("enc-llama", EncoderAdapter(qwen))
    with pytest.raises(EncoderMismatchError, match="--name"):
        build_index(built / "docs", built / "db", {"qwen": str(encoders["llama"])})


def test_cli_search_and_status(built, app):
    runner = CliRunner()
    result = runner.invoke(app, ["search", str(built / "db"), "rivers", "-k", "2", "--json", "--encoder", "enc-llama",
                                 "--chunks"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert len(hits) == 2 and {"path", "title", "text", "start", "end", "score", "chunk_id"} <= set(hits[0])
    documents = runner.invoke(app, ["search", str(built / "db"), "rivers", "-k", "3", "--json"])
    found = json.loads(documents.stdout)   # results by document (the default): k counts documents
    assert len(found) == 3 and len({d["path"] for d in found}) == 3
    assert all(d["best"]["path"] == d["path"] and d["best"]["score"] == d["score"] for d in found)
    filtered = runner.invoke(app, ["search", str(built / "db"), "rivers", "--path", "a/**", "--hybrid", "--json",
                                   "--chunks"])
    assert filtered.exit_code == 0 and all(h["path"].startswith("a/") for h in json.loads(filtered.stdout))
    text = runner.invoke(app, ["search", str(built / "db"), "rivers", "-k", "2"])
    assert text.exit_code == 0 and text.stdout.count("  1. ") == 1 and "  2. " in text.stdout
    status = runner.invoke(app, ["status", str(built / "db")])
    assert status.exit_code == 0
    assert "documents 4" in status.output and "encoder enc-llama" in status.output
    assert "consistency: ok" in status.output


def test_cli_errors_are_one_line(tmp_path):
    make_corpus(tmp_path / "docs", 1)
    cli = [sys.executable, "-c", "from search_ui.l2v import main; main()", "index"]
    result = subprocess.run(cli + [str(tmp_path / "docs"), "--db", str(tmp_path / "db"), "--name", "x"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: --name needs --encoder (it names the encoder being added)"]
    missing = subprocess.run(cli + [str(tmp_path / "nope"), "--db", str(tmp_path / "db"), "--encoder", "hash:16"],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().splitlines()[-1].startswith("error: folder") and "nope" in missing.stderr
    assert not (tmp_path / "db").exists()


def test_recorded_encoder_is_loaded_only_when_needed_and_checked(encoders, tmp_path):
    import shutil

    from adaptation.errors import L2VError

    from indexer_helpers import write_doc

    docs = tmp_path / "docs"
    paths = make_corpus(docs, 2, paragraphs=1)
    moving = tmp_path / "enc-moving"
    shutil.copytree(encoders["llama"], moving)
    build_index(docs, tmp_path / "db", {"m": str(moving)})
    shutil.rmtree(moving)
    noop = build_index(docs, tmp_path / "db")  # nothing to embed: the (now missing) model is never loaded
    assert noop.chunks_embedded == {"m": 0} and noop.docs_unchanged == 2
    write_doc(paths[0], 99, paragraphs=1)
    with pytest.raises(L2VError, match="enc-moving"):
        build_index(docs, tmp_path / "db")
    shutil.copytree(encoders["qwen"], moving)  # a different model at the recorded path is refused
    with pytest.raises(EncoderMismatchError, match="changed since it was indexed"):
        build_index(docs, tmp_path / "db")
    with Index.open(tmp_path / "db") as idx:  # the refused run left a consistent index, edit pending
        assert idx.check_consistency() == [] and idx.encoders()[0].n_pending > 0
        assert idx.runs()[0].status == "failed"


def test_search_preferences_follow_the_encoder_on_the_next_run_that_loads_it(encoders, tmp_path):
    """Editing hybrid_dense_weight in a saved encoder does not change its vectors (same fingerprint);
    the database picks the new value up the next time a run loads the encoder."""
    import shutil

    from indexer_helpers import write_doc

    docs, enc = tmp_path / "docs", tmp_path / "enc"
    paths = make_corpus(docs, 2, paragraphs=1)
    shutil.copytree(encoders["llama"], enc)
    build_index(docs, tmp_path / "db", {"m": str(enc)})
    config = json.loads((enc / "encoder_config.json").read_text())
    config["hybrid_dense_weight"] = 0.2
    (enc / "encoder_config.json").write_text(json.dumps(config))
    build_index(docs, tmp_path / "db")                    # no-op: the encoder is not loaded, nothing changes
    with Index.open(tmp_path / "db") as idx:
        assert idx.hybrid_dense_weight() == 0.5
    write_doc(paths[0], 7, paragraphs=1)
    build_index(docs, tmp_path / "db")                    # loads the encoder (same fingerprint) to embed
    with Index.open(tmp_path / "db") as idx:
        assert idx.hybrid_dense_weight() == 0.2
