"""File names inside a database directory, and the crash-injection hook used by tests."""
from __future__ import annotations

import os
import re
import signal
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


def crash_point(name: str) -> None:
    """Tests set L2V_CRASH_AT=<name> to SIGKILL the process at exactly this step (a real kill, no cleanup)."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
