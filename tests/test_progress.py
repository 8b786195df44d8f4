"""Progress bars survive a forked child that was SIGKILLed while holding the bar lock.

With tqdm's default lock (a multiprocessing semaphore shared across fork) the parent's
next bar blocks for ever -- this hung CI in the indexer's crash tests.
"""
from __future__ import annotations

import io
import multiprocessing
import os
import signal
import threading

from tqdm._monitor import TMonitor

from adaptation.progress import ProgressBar


def _hold_lock_and_wait(ready) -> None:
    ProgressBar.get_lock().acquire()
    ready.set()
    threading.Event().wait()  # killed here, lock held


def test_bar_after_child_killed_holding_the_lock():
    ProgressBar.get_lock()  # the parent's lock exists before the fork, as in a real run
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    child = ctx.Process(target=_hold_lock_and_wait, args=(ready,))
    child.start()
    assert ready.wait(30), "child never took the lock"
    os.kill(child.pid, signal.SIGKILL)
    child.join()

    done = threading.Event()

    def draw() -> None:
        for _ in ProgressBar(range(5), file=io.StringIO()):
            pass
        done.set()

    threading.Thread(target=draw, daemon=True).start()
    assert done.wait(20), "a progress bar blocked on a lock held by a dead child"


def test_no_monitor_thread_is_started():
    monitors = lambda: [t for t in threading.enumerate() if isinstance(t, TMonitor)]  # noqa: E731
    before = len(monitors())
    with ProgressBar(total=3, file=io.StringIO()) as bar:
        bar.update(3)
        assert len(monitors()) == before
