"""`l2v index --ray`: embedding on a real local Ray cluster (Ray Data actor pool), one writer in the driver.

The cluster is started once for the module with ``ray.init(num_cpus=4)`` -- more logical CPUs than this
2-core machine has, so two 0.5-CPU actors never starve Ray Data's own tasks (two full-core actors on
2 cores hang). Other drivers (the SIGKILLed subprocess) join it by its GCS address.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from indexer import Index, build_index
from indexer.errors import UsageError
from indexer.store.layout import CRASH_ENV
from indexer.embedding.ray_engine import RayOptions

from indexer_helpers import chunk_state, hash_options, make_corpus

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cluster():
    os.environ["RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO"] = "0"
    ray.init(num_cpus=4, include_dashboard=False, logging_level="WARNING")
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def encoder_dir(tiny_model_dir, tmp_path_factory):
    from adaptation import Encoder

    return Encoder.from_pretrained(tiny_model_dir("llama")).save(tmp_path_factory.mktemp("ray-enc") / "enc")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ray-corpus") / "docs"
    make_corpus(folder, 14, paragraphs=3)
    return folder


def ray_options(**overrides) -> RayOptions:
    base = dict(actors=2, cpus_per_actor=0.5, batch_size=8, tasks_per_actor=1)
    base.update(overrides)
    return RayOptions(**base)


def vectors_by_chunk(db: Path, encoder: str) -> dict[tuple, np.ndarray]:
    """(path, start, end) -> stored vector, read back from the live FAISS file."""
    with Index.open(db) as idx:
        store = idx.vectors(encoder)
        ids = store.ids()
        chunks = {c.id: (c.path, c.start, c.end) for c in idx.chunks(ids=ids.tolist())}
        return dict(zip((chunks[int(i)] for i in ids), store.reconstruct(ids)))


def assert_same_index(db: Path, reference: Path, encoder: str) -> None:
    assert chunk_state(db) == chunk_state(reference)
    got, want = vectors_by_chunk(db, encoder), vectors_by_chunk(reference, encoder)
    assert got.keys() == want.keys()
    worst = max(float(np.abs(got[k] - want[k]).max()) for k in want)
    assert worst <= 1e-5, f"vectors differ by {worst}"
    with Index.open(db) as idx:
        status = idx.status()
        assert not status.problems
        assert all(e.n_pending == 0 for e in status.encoders)


@pytest.fixture(scope="module")
def reference(corpus, encoder_dir, tmp_path_factory):
    """The in-process build every Ray build must equal."""
    db = tmp_path_factory.mktemp("ray-ref") / "db"
    build_index(corpus, db, {"enc": str(encoder_dir)}, hash_options(embed_batch=16))
    return db


def test_ray_actors_give_the_same_vectors_as_one_process(cluster, corpus, encoder_dir, reference, tmp_path):
    docs, db = tmp_path / "docs", tmp_path / "db"
    shutil.copytree(corpus, docs)
    report = build_index(docs, db, {"enc": str(encoder_dir)}, hash_options(embed_batch=16, ray=ray_options()))
    assert report.chunks_embedded["enc"] > 40
    assert report.embedding_workers == {"enc": 2}          # both actors embedded a share
    assert_same_index(db, reference, "enc")
    # an edit goes through Ray again: only the changed document's chunks are embedded
    (docs / "a" / "doc001.md").write_text("# Changed\n\nRivers flow to the sea, now in a new document.\n")
    update = build_index(docs, db, None, hash_options(embed_batch=16, ray=ray_options()))
    assert update.docs_changed == 1 and 0 < update.chunks_embedded["enc"] <= 2
    with Index.open(db) as idx:
        assert not idx.status().problems
        assert idx.search("now in a new document", k=1)[0].path == "a/doc001.md"


def test_a_killed_ray_driver_resumes_to_the_same_index(cluster, corpus, encoder_dir, reference, tmp_path):
    db = tmp_path / "db"
    driver = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO / 'tests')!r})
        from indexer import build_index
        from indexer.embedding.ray_engine import RayOptions
        from indexer_helpers import hash_options
        build_index({str(corpus)!r}, {str(db)!r}, {{"enc": {str(encoder_dir)!r}}},
                    hash_options(embed_batch=16, ray=RayOptions(address={cluster!r}, actors=2, cpus_per_actor=0.5,
                                                                batch_size=8, tasks_per_actor=1)))
    """)
    env = dict(os.environ, **{CRASH_ENV: "embed_after_commit", "PYTHONPATH": os.environ["PYTHONPATH"]})
    killed = subprocess.run([sys.executable, "-c", driver], env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    with Index.open(db) as idx:  # the first commit landed, the rest is pending
        (enc,) = idx.status().encoders
        assert 0 < enc.n_vectors and enc.n_pending > 0
    resumed = build_index(corpus, db, None, hash_options(embed_batch=16, ray=ray_options()))
    assert resumed.docs_unchanged == 14 and resumed.chunks_embedded["enc"] == enc.n_pending
    assert_same_index(db, reference, "enc")


def test_cli_index_with_ray(cluster, corpus, tmp_path):
    from indexer.cli import register

    app = typer.Typer()
    register(app)
    args = ["index", str(corpus), "--encoder", "hash:32", "--chunk-tokens", "32", "--overlap", "4"]
    result = CliRunner().invoke(app, args + ["--db", str(tmp_path / "ray"), "--ray", cluster, "--ray-actors", "2",
                                             "--ray-cpus-per-actor", "0.5"])
    assert result.exit_code == 0, result.output
    assert "14 added" in result.output and "Ray actors" in result.output
    assert CliRunner().invoke(app, args + ["--db", str(tmp_path / "local")]).exit_code == 0
    assert vectors_by_chunk(tmp_path / "ray", "hash-32").keys() == vectors_by_chunk(tmp_path / "local", "hash-32").keys()
    too_big = CliRunner().invoke(app, args + ["--db", str(tmp_path / "big"), "--ray", cluster, "--ray-actors", "3",
                                              "--ray-gpus-per-actor", "1"])
    assert isinstance(too_big.exception, UsageError) and too_big.exception.exit_code == 2
    assert "needs 3 GPUs, the Ray cluster has 0" in str(too_big.exception)
