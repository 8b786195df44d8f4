"""Open a file or folder under the indexed root so that what is opened is inside the root *when it is opened*.

Why: the walker checks where a symlink points when it lists a folder; reading happens later. Opening
the path then would follow whatever the link points to by that time (swapping links during runs put
text from outside the folder into the index). Here the path is resolved, checked against the root,
and opened one component at a time from the root with ``O_NOFOLLOW``, so a link swapped in after
the check makes the open fail instead of being followed; on Linux the opened descriptor's own path
(``/proc/self/fd``) is checked against the root once more (a folder renamed out of the root midway).
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .skip import Skip

OUTSIDE = "symlink to a path outside the indexed folder"
CHANGED = "a link on its path changed while it was read (tried again next run)"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_RDONLY | _NOFOLLOW | _CLOEXEC | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
_DIR_FLAGS = os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _DIRECTORY
_STEPWISE = bool(_NOFOLLOW and _DIRECTORY) and os.open in os.supports_dir_fd
_PROC_FD = Path("/proc/self/fd")


def open_inside(root: Path, path: Path, directory: bool = False) -> int:
    """A descriptor for ``path`` (a file, or a folder with ``directory``), which must be inside ``root``.

    ``root`` is already resolved. Links inside the root are fine (their target is opened); a path
    that resolves outside raises ``Skip('outside_root')``, one that changes between the check and the
    open raises ``Skip('unreadable')``. Other failures (gone, permissions) are ``OSError`` as usual.
    """
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(root):
        raise Skip("outside_root", OUTSIDE)
    if not _STEPWISE:   # no openat/O_NOFOLLOW (Windows): the check above is all there is
        return os.open(real, os.O_RDONLY | (0 if directory else _NOFOLLOW))
    fd = os.open(root, _DIR_FLAGS & ~_NOFOLLOW)
    try:
        parts = real.relative_to(root).parts
        for n, name in enumerate(parts):
            last = n == len(parts) - 1
            try:
                step = os.open(name, _FILE_FLAGS if last and not directory else _DIR_FLAGS, dir_fd=fd)
            except OSError as err:
                if err.errno in (errno.ELOOP, errno.ENOTDIR, getattr(errno, "EMLINK", -1)):
                    raise Skip("unreadable", CHANGED) from None
                raise
            os.close(fd)
            fd = step
        _check_descriptor(fd, root)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_descriptor(fd: int, root: Path) -> None:
    """Where the kernel says ``fd`` is must be inside ``root`` (Linux; elsewhere the stepwise open holds)."""
    try:
        where = os.readlink(_PROC_FD / str(fd))
    except OSError:
        return
    if where.startswith("/") and not Path(where.removesuffix(" (deleted)")).is_relative_to(root):
        raise Skip("outside_root", OUTSIDE + " (moved there while it was read)")


def read_inside(root: Path, path: Path, limit: int) -> bytes:
    """The bytes of the regular file ``path`` under ``root``, at most ``limit`` of them.

    A file that is no longer regular (a FIFO swapped in: opened non-blocking, never read) or grew past
    ``limit`` since it was listed raises ``Skip``.
    """
    fd = open_inside(root, path)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Skip("unreadable", "not a regular file (FIFO, socket or device)")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise Skip("too_large", f"grew past the limit {limit} while it was read")
    return data
