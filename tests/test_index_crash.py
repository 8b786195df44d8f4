"""Crash safety: a real indexing process is SIGKILLed at random moments and at every commit step.

After each kill the database opens, searches, satisfies the invariant (every chunk
marked indexed for an encoder is in that encoder's FAISS file and nothing else is),
and a re-run ends in exactly the state of a clean build. Most trials fork a child
that already has everything imported (a real process killed with SIGKILL, without
paying ~2 s of interpreter start per trial); a few run the `python -m l2v_doubles`
entry point as a fresh interpreter.
"""
from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from indexer import Index, build_index
from indexer.errors import IndexNotReadyError
from indexer.store.layout import CRASH_ENV
from indexer.store.database import sqlite_path

from indexer_helpers import chunk_state, hash_options, make_corpus, search_signature, write_doc

ENCODERS = {"hash-32": "hash:32"}


def _child(folder: str, db: str, crash_at: str | None) -> None:
    if crash_at:
        os.environ[CRASH_ENV] = crash_at
    build_index(folder, db, ENCODERS, hash_options())
    os._exit(0)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    """Folder at version B, a database built at version A (for update trials), and clean builds of B."""
    root = tmp_path_factory.mktemp("crash")
    folder = root / "docs"
    paths = make_corpus(folder, 24, paragraphs=4)
    build_index(folder, root / "db-A", ENCODERS, hash_options())
    for i, path in enumerate(paths[:6]):  # version B: 3 edited, 3 deleted, 4 added
        write_doc(path, 500 + i, paragraphs=5) if i % 2 else path.unlink()
    make_corpus(folder, 4, paragraphs=5, start=40)
    started = time.perf_counter()
    build_index(folder, root / "clean", ENCODERS, hash_options())
    duration = time.perf_counter() - started
    return {"root": root, "folder": folder, "db_a": root / "db-A", "state": chunk_state(root / "clean"),
            "search": search_signature(root / "clean"), "duration": duration}


def _fresh_db(scenario, trial: int, update: bool) -> Path:
    db = scenario["root"] / f"trial-{trial}"
    shutil.rmtree(db, ignore_errors=True)
    if update:
        shutil.copytree(scenario["db_a"], db)
    return db


def _check_after_kill_then_resume(scenario, db: Path) -> tuple:
    """Returns what the killed run had committed: (documents, vectors), to show kills land everywhere."""
    killed_state: tuple = ("no database",)
    if sqlite_path(db).exists():
        with Index.open(db) as idx:  # opens, is consistent, and searches
            assert idx.check_consistency() == []
            if idx.encoders():
                try:
                    idx.search("rivers flow to the sea", k=3)
                except IndexNotReadyError:   # a first build killed before any vector commit says so (issue 20)
                    assert not any(e.n_vectors for e in idx.encoders())
            killed_state = (len(idx.documents()), sum(e.n_vectors for e in idx.encoders()))
    report = build_index(scenario["folder"], db, ENCODERS, hash_options())
    with Index.open(db) as idx:
        assert idx.check_consistency() == []
        live = {f"{e.id:04d}-{e.name}.g{e.generation:08d}.faiss" for e in idx.encoders()}
        assert {p.name for p in (db / "faiss").iterdir()} == live  # stale generations were cleaned up
        assert idx.runs()[0].status == "done"
    assert chunk_state(db) == scenario["state"]
    assert search_signature(db) == scenario["search"]
    assert report.chunks_embedded["hash-32"] >= 0
    return killed_state


def _kill_forked(scenario, db: Path, delay: float, crash_at: str | None = None) -> bool:
    """Run the indexer in a forked child and SIGKILL it after ``delay`` s; True if it was still running."""
    child = multiprocessing.get_context("fork").Process(target=_child,
                                                        args=(str(scenario["folder"]), str(db), crash_at))
    child.start()
    child.join(delay)
    alive = child.is_alive()
    if alive:
        os.kill(child.pid, signal.SIGKILL)
    child.join()
    return alive or child.exitcode == -signal.SIGKILL


def test_random_sigkill_24_trials(scenario):
    """24 kills that land while the child is indexing (a child that finished first shortens the delays)."""
    rng = random.Random(1234)
    killed, trials, states = 0, 0, set()
    horizon = {False: scenario["duration"], True: scenario["duration"]}  # per mode: an update run is shorter
    while killed < 24 and trials < 80:
        update = trials % 2 == 1
        db = _fresh_db(scenario, trials, update)
        delay = rng.uniform(0.0, horizon[update])
        if _kill_forked(scenario, db, delay):
            killed += 1
        else:
            horizon[update] = min(horizon[update], delay)  # that run took less than `delay` here and now
        states.add((update, _check_after_kill_then_resume(scenario, db)))
        shutil.rmtree(db)
        trials += 1
    assert killed == 24, f"only {killed} of {trials} kills landed while indexing"
    assert len(states) >= 6, f"kills left only {len(states)} distinct committed states: {sorted(states, key=str)}"


@pytest.mark.parametrize("crash_at", ["sync_before_commit", "sync_after_commit", "embed_before_commit",
                                      "embed_after_commit"])
@pytest.mark.parametrize("update", [False, True], ids=["fresh", "update"])
def test_kill_at_each_commit_step(scenario, crash_at, update):
    db = _fresh_db(scenario, 100, update)
    assert _kill_forked(scenario, db, 60.0, crash_at), "the crash point was never reached"
    _check_after_kill_then_resume(scenario, db)
    shutil.rmtree(db)


def _kill_subprocess(scenario, db: Path, delay: float) -> None:
    cmd = [sys.executable, "-m", "l2v_doubles", str(scenario["folder"]), str(db), "--dim", "32",
           "--chunk-tokens", "32", "--overlap", "4", "--batch-docs", "4"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _subprocess_trials(scenario, n: int, seed: int) -> None:
    rng = random.Random(seed)
    for trial in range(n):
        db = _fresh_db(scenario, 200 + trial, update=bool(trial % 2))
        _kill_subprocess(scenario, db, rng.uniform(0.0, scenario["duration"]))
        _check_after_kill_then_resume(scenario, db)
        shutil.rmtree(db)


def test_sigkill_fresh_interpreter_entry_point(scenario):
    _subprocess_trials(scenario, 2, seed=7)


@pytest.mark.slow
def test_sigkill_fresh_interpreter_many_trials(scenario):
    _subprocess_trials(scenario, 20, seed=8)
