"""Progress bars that are safe to fork and to SIGKILL.

tqdm's default lock includes a ``multiprocessing`` semaphore shared with forked
children. A child killed while it holds that semaphore (drawing or closing a bar)
leaves it taken for ever, and the parent's next bar blocks indefinitely -- which is
exactly what the indexer's crash tests (and any supervisor that forks and kills
workers) do. Our bars use a process-local lock and no monitor thread instead.
"""
from __future__ import annotations

import threading

from tqdm.auto import tqdm as _tqdm


class ProgressBar(_tqdm):
    """``tqdm.auto.tqdm`` with a thread-only lock and no monitor thread."""

    monitor_interval = 0  # the monitor thread takes the lock periodically; nothing of ours needs it


ProgressBar.set_lock(threading.RLock())
