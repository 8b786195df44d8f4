"""File names inside a database directory, and the crash-injection hook used by tests."""
from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

FAISS_DIR = "faiss"
CRASH_ENV = "L2V_CRASH_AT"


def faiss_path(db: Path, encoder_id: int, name: str, generation: int) -> Path:
    """Each commit of an encoder's vectors is a new file; SQLite records which generation is live."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:60]
    return Path(db) / FAISS_DIR / f"{encoder_id:04d}-{safe}.g{generation:08d}.faiss"


def live_files(db: Path, encoders: list[tuple[int, str, int]]) -> set[Path]:
    return {faiss_path(db, i, n, g) for i, n, g in encoders if g > 0}


def remove_stale(db: Path, keep: set[Path]) -> int:
    """Delete FAISS files (and temp files) no generation refers to; only the lock holder calls this."""
    folder = Path(db) / FAISS_DIR
    if not folder.is_dir():
        return 0
    removed = 0
    for path in folder.iterdir():
        if path not in keep:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


class RetiredFiles:
    """FAISS generations a commit superseded, deleted only after ``grace`` seconds.

    A reader reads the live generation's number in SQLite, then opens that file; deleting a superseded
    file at once made a reader that began its snapshot just before a commit find nothing, and a writer
    committing every few milliseconds (a fast embedder, small commits) could do that to every retry of a
    reader on a busy machine. A grace of seconds gives every reader a whole snapshot's time; the files
    kept meanwhile are few (large indexes commit at most every few seconds) and the run deletes the rest
    when it ends (``remove_stale``).
    """

    def __init__(self, grace: float = 10.0):
        self.grace = grace
        self._pending: list[tuple[float, Path]] = []

    def retire(self, paths: list[Path]) -> None:
        """``paths`` stopped being live in a commit that has just finished; delete older retirees."""
        now = time.monotonic()
        self._pending += [(now, p) for p in paths]
        while self._pending and now - self._pending[0][0] >= self.grace:
            self._pending.pop(0)[1].unlink(missing_ok=True)


def crash_point(name: str) -> None:
    """Tests set L2V_CRASH_AT=<name> to SIGKILL the process at exactly this step (a real kill, no cleanup)."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
