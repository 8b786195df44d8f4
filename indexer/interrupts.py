"""Ctrl-C during ``build_index``: stop at once, but never between a vector entering FAISS and its commit.

Why a guard at all: KeyboardInterrupt may land on any bytecode. Landing between ``store.add`` and the
bookkeeping of the ids it added would leave vectors in memory that no membership row accounts for, so the
builder could not commit them and had to throw away everything embedded since its last commit. Inside a
``protected()`` section a SIGINT is held and raised when the section ends; everywhere else (the model's
forward passes, reading and chunking files) it raises at once, so Ctrl-C never waits for a 256-chunk batch.

On the way out the builder commits what was embedded, records the run as ``interrupted`` and raises
``IndexInterrupted``, whose message is the one line the CLI prints.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


class IndexInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped ``build_index``; ``kept`` chunks embedded by the run were committed before it stopped.

    A KeyboardInterrupt still (code that catches those keeps working); its message is for the user.
    """

    def __init__(self, kept: int):
        super().__init__(f"interrupted: {kept} chunks kept, run again to resume")
        self.kept = kept


class InterruptGuard:
    """SIGINT raises KeyboardInterrupt immediately, except inside ``protected()``, where it waits for the end.

    Installed only in the main thread and only over Python's default handler: a host (a UI thread, an
    application with its own handler) keeps its own behaviour, and the guard is then a no-op.
    """

    def __init__(self) -> None:
        self._depth = 0
        self._held = False
        self._previous = None

    def __enter__(self) -> "InterruptGuard":
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _on_sigint(self, signum, frame) -> None:
        if self._depth:
            self._held = True
        else:
            raise KeyboardInterrupt

    @contextmanager
    def protected(self) -> Iterator[None]:
        """A section that must run to its end (or fail on its own): a Ctrl-C inside it is raised after it."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if self._depth == 0 and self._held:
            self._held = False
            raise KeyboardInterrupt
