"""Indexing you can trust with Ctrl-C (issue 20, item 5).

Progress moves per embedder batch with chunks/s and an ETA (it moved every 256 chunks: 0/698 for 6.5
minutes); a commit comes at least every ``commit_seconds`` of embedding; Ctrl-C prints exactly one line,
exits 130, keeps every chunk embedded so far (it threw away everything since the last commit) and records
the run as interrupted (not failed); a search on a database whose first build is still running, or that
has no vectors because that build stopped, says so in one line with a non-zero exit instead of "no results".

The Ctrl-C tests run the real ``l2v index`` in a subprocess with the test suite's hash embedder slowed down
(``hash:DIM:SEED:DELAY``) and send it a real SIGINT while it embeds.
"""
from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from indexer import Index, build_index
from indexer.errors import IndexNotReadyError
from indexer.interrupts import IndexInterrupted, InterruptGuard
from indexer_helpers import hash_options, make_corpus
from l2v_doubles import HashEmbedder

REPO = Path(__file__).resolve().parents[1]
CODE = "import sys; from search_ui.l2v import main; sys.argv = ['l2v'] + sys.argv[1:]; main()"
PROGRESS = re.compile(r"embedding \(h\):.*?(\d+)/(\d+)")
KEPT = re.compile(r"^interrupted: (\d+) chunks kept, run again to resume$")


def l2v(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.environ["PYTHONPATH"]}
    return subprocess.run([sys.executable, "-c", CODE, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=120, env=env, cwd=REPO)


def ctrl_c_as_in_a_terminal() -> None:
    """SIGINT back to its default in the child: a suite started in the background (``nohup``, ``cmd &``) inherits
    SIGINT *ignored*, and the child would then never see the Ctrl-C these tests send."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def python_sigint():
    """Python's own SIGINT handler for the test (it is not installed when SIGINT was ignored at start-up)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


class IndexProcess:
    """``l2v index`` in a subprocess with a slow hash embedder; its stderr is read as it comes."""

    def __init__(self, docs: Path, db: Path, delay: float):
        env = {**os.environ, "PYTHONPATH": os.environ["PYTHONPATH"]}
        self.process = subprocess.Popen(
            [sys.executable, "-c", CODE, "index", str(docs), "--db", str(db), "--encoder", f"hash:16:0:{delay}",
             "--name", "h", "--chunk-tokens", "32", "--overlap", "4"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO,
            preexec_fn=ctrl_c_as_in_a_terminal)
        self.stderr = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            block = os.read(self.process.stderr.fileno(), 4096)
            if not block:
                return
            self.stderr += block.decode("utf-8", "replace")

    def embedded_so_far(self) -> tuple[int, int]:
        """(done, total) of the embedding bar's latest render; (0, 0) before it appears."""
        found = PROGRESS.findall(self.stderr)
        return (int(found[-1][0]), int(found[-1][1])) if found else (0, 0)

    def wait_for_embedding(self, at_least: int, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done, total = self.embedded_so_far()
            if total and done >= at_least:
                assert done < total, f"the run finished before it could be interrupted: {self.stderr[-500:]}"
                return total
            assert self.process.poll() is None, f"l2v index ended early: {self.stderr[-2000:]}"
            time.sleep(0.05)
        raise AssertionError(f"no embedding progress within {timeout} s: {self.stderr[-2000:]}")

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        stdout = self.process.stdout.read().decode()
        code = self.process.wait(timeout)
        self._reader.join(10)
        return code, stdout, self.stderr


def lines_of(stream: str) -> list[str]:
    """What a terminal shows: lines split at newlines and at the progress bars' carriage returns."""
    return [line.strip() for line in re.split(r"[\r\n]+", stream) if line.strip()]


def memberships(db: Path) -> int:
    con = sqlite3.connect(db / "metadata.sqlite")
    try:
        return con.execute("SELECT count(*) FROM membership").fetchone()[0]
    finally:
        con.close()


def run_statuses(db: Path) -> list[str]:
    con = sqlite3.connect(db / "metadata.sqlite")
    try:
        return [s for (s,) in con.execute("SELECT status FROM runs ORDER BY id")]
    finally:
        con.close()


@pytest.fixture
def corpus(tmp_path) -> Path:
    make_corpus(tmp_path / "docs", 20, paragraphs=4)   # ~160 chunks of 32 words: 5 embedder batches
    return tmp_path / "docs"


def test_ctrl_c_mid_embedding_keeps_what_was_embedded_says_so_once_and_a_rerun_resumes(tmp_path, corpus):
    db = tmp_path / "db"
    run = IndexProcess(corpus, db, delay=0.03)          # ~1 s per embedder batch of 32 chunks
    total = run.wait_for_embedding(at_least=64)          # two batches done, a third one in the model
    run.process.send_signal(signal.SIGINT)
    code, stdout, stderr = run.finish()

    assert code == 130, stderr[-2000:]
    assert "Traceback" not in stderr and "aborted" not in stderr and stdout == ""
    said = [line for line in lines_of(stderr) if "interrupted" in line]
    assert len(said) == 1 and lines_of(stderr)[-1] == said[0], stderr[-2000:]
    kept = int(KEPT.match(said[0]).group(1))
    assert 64 <= kept < total                             # nothing embedded was thrown away ...
    assert memberships(db) == kept                        # ... and the line tells the truth
    assert run_statuses(db) == ["interrupted"]
    status = l2v("status", str(db))
    assert status.returncode == 0 and "interrupted" in status.stdout and f"{total - kept} pending" in status.stdout
    with Index.open(db) as idx:
        assert idx.check_consistency() == []

    embedder = HashEmbedder(16)                           # the same vectors, without the delay
    report = build_index(corpus, db, {"h": embedder}, hash_options())
    assert embedder.calls == total - kept                 # resumed: the kept chunks are not embedded again
    assert report.chunks_embedded == {"h": total - kept} and memberships(db) == total
    assert run_statuses(db) == ["interrupted", "done"]


def test_progress_moves_per_embedder_batch_with_rate_and_eta(tmp_path, corpus, capsys):
    embedder = HashEmbedder(16, delay=0.005)              # 0.16 s per batch of 32: every batch is drawn
    build_index(corpus, tmp_path / "db", {"h": embedder}, hash_options(progress=True))
    renders = [line for line in lines_of(capsys.readouterr().err) if line.startswith("embedding (h)")]
    counts = [(int(d), int(t)) for d, t in (PROGRESS.match(line).groups() for line in renders)]
    total = counts[-1][1]
    assert total > 64 and counts[-1][0] == total
    between = [line for line, (done, _) in zip(renders, counts) if 0 < done < total]
    assert len(between) >= 2, renders                     # it used to jump from 0 to 256 chunks at a time
    assert all(re.search(r"<\d\d:\d\d, [\d.]+chunk/s\]", line) for line in between), between  # ETA, rate


def test_commits_come_at_least_every_commit_seconds_of_embedding(tmp_path, corpus):
    embedder = HashEmbedder(16, delay=0.02)               # 0.64 s per batch of 32, 5 batches
    options = hash_options(commit_chunks=10 ** 9, commit_growth=0.0, commit_seconds=0.2)
    report = build_index(corpus, tmp_path / "db", {"h": embedder}, options)
    assert report.chunks_added > 4 * 32
    with Index.open(tmp_path / "db") as idx:
        (encoder,) = idx.encoders()
        # by count alone there would be one commit, at the end; by time, one after (nearly) every batch
        # (a commit that itself took long spaces the next ones out: a loaded machine may merge a few)
        assert encoder.generation >= 3, encoder.generation
        assert encoder.n_vectors == report.chunks_added and idx.check_consistency() == []


def test_search_while_the_first_build_runs_or_after_it_stopped_without_vectors_says_so(tmp_path, corpus):
    db = tmp_path / "db"
    run = IndexProcess(corpus, db, delay=0.3)           # ~50 s of embedding: the search comes well before the end
    run.wait_for_embedding(at_least=0)                   # chunks stored, the model at work on the first batch
    started = time.monotonic()
    searched = l2v("search", str(db), "rivers flow to the sea")
    took = time.monotonic() - started
    running = run.process.poll() is None
    run.process.kill()                                    # SIGKILL: before any commit, so no vectors at all
    run.finish()
    assert running, f"the build ended while `l2v search` started ({took:.0f} s): {run.stderr[-300:]}"
    assert searched.returncode == IndexNotReadyError.exit_code, searched.stdout + searched.stderr
    assert "no results" not in searched.stdout
    (line,) = [line for line in searched.stderr.splitlines() if line.strip()]
    assert line.startswith("error: ") and "is still being built" in line, searched.stderr

    assert memberships(db) == 0
    again = l2v("search", str(db), "rivers flow to the sea")
    assert again.returncode == IndexNotReadyError.exit_code and "no results" not in again.stdout
    (line,) = [line for line in again.stderr.splitlines() if line.strip()]
    assert "has no vectors for encoder 'h' yet" in line and "again to resume" in line, again.stderr
    with Index.open(db) as idx, pytest.raises(IndexNotReadyError):
        idx.search_documents("rivers")

    build_index(corpus, db, {"h": "hash:16:0"}, hash_options())   # resumed: now it answers
    with Index.open(db) as idx:
        assert idx.search("rivers flow to the sea", k=3)


def test_a_finished_empty_index_still_answers_no_results(tmp_path):
    (tmp_path / "empty").mkdir()
    build_index(tmp_path / "empty", tmp_path / "db", {"h": "hash:16"}, hash_options())
    with Index.open(tmp_path / "db") as idx:
        assert idx.search("anything") == []


def test_the_guard_holds_a_sigint_until_the_protected_section_ends(python_sigint):
    reached = []
    with InterruptGuard() as guard, pytest.raises(KeyboardInterrupt):
        with guard.protected():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            reached.append("end of section")            # not cut short: vectors and their ids stay together
    assert reached == ["end of section"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert str(IndexInterrupted(3)) == "interrupted: 3 chunks kept, run again to resume"
