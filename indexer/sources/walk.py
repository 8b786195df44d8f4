"""Walk a folder: include/exclude globs, hidden files, symlink loops, special files.

Yields ``FileEntry`` (stat only, nothing is read here) or ``Problem`` for entries
that cannot be indexed at all (special files, broken links, unreadable folders),
in a stable sorted order so runs are reproducible.

Nothing outside the root is listed or read: each folder is opened through ``safe_open`` (resolved,
checked, then opened component by component without following links) and listed from that
descriptor, and ``read_entry`` opens a file the same way when it is read, so a link swapped after
the listing is refused rather than followed.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from .globs import glob_match
from .safe_open import OUTSIDE, open_inside, read_inside
from .skip import Skip

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".html", ".htm", ".xhtml", ".pdf", ".docx", ".py", ".js",
                 ".ts", ".java", ".c", ".h", ".cpp", ".hpp", ".cc", ".rs", ".go", ".rb", ".sh", ".toml", ".yaml",
                 ".yml", ".json", ".ini", ".cfg", ".tex", ".csv", ".tsv", ".sql", ".css", ".scala", ".kt", ".swift",
                 ".r", ".jl", ".lua", ".php", ".pl", ".org", ".adoc", ".text", ""}


@dataclass(frozen=True)
class FileEntry:
    rel: str            # '/'-separated path relative to the root
    path: Path
    size: int
    mtime_ns: int
    ctime_ns: int = 0   # with ``mode``: a chmod/chown changes them, so a skip as unreadable is retried
    mode: int = 0
    root: Path | None = None   # the resolved folder being indexed: reads are checked against it


def read_entry(entry: FileEntry, limit: int) -> bytes:
    """The file's bytes (at most ``limit``), opened so that it is inside the root when it is opened.

    Raises ``Skip`` (outside the root, a link changed meanwhile, no longer a regular file, grew past
    ``limit``) or ``OSError`` (gone, permissions).
    """
    root = entry.root if entry.root is not None else Path(entry.path).parent.resolve()
    return read_inside(root, Path(entry.path), limit)


@dataclass(frozen=True)
class _Listed:
    """One folder entry as listed (read while the folder's descriptor was open)."""

    name: str
    is_symlink: bool
    is_dir: bool        # links followed
    stat: os.stat_result | OSError


@dataclass(frozen=True)
class Problem:
    rel: str
    reason: str
    detail: str


def printable_name(name: str) -> str | None:
    """``None`` for a valid UTF-8 name; else the name with its undecodable bytes written as ``\\xNN``.

    ``os.scandir`` hands such bytes over as lone surrogates, which SQLite (and every later
    ``str.encode``) refuses, so the file is reported under this escaped, storable name instead.
    """
    try:
        name.encode("utf-8")
        return None
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class Walker:
    def __init__(self, root: Path, include: Sequence[str] = (), exclude: Sequence[str] = (),
                 hidden: bool = False, all_suffixes: bool = False, skip_paths: Sequence[Path] = ()):
        self.root = Path(root).expanduser().resolve()
        self.include, self.exclude, self.hidden = list(include), list(exclude), hidden
        self.all_suffixes = all_suffixes or bool(include)  # explicit includes decide by themselves
        self.skip = {Path(p).resolve() for p in skip_paths}

    def wanted(self, rel: str) -> bool:
        if any(glob_match(rel, p) for p in self.exclude):
            return False
        if self.include:
            return any(glob_match(rel, p) for p in self.include)
        return self.all_suffixes or os.path.splitext(rel)[1].lower() in TEXT_SUFFIXES

    def _dir_excluded(self, rel: str) -> bool:
        return any(glob_match(rel, p) or glob_match(rel + "/", p) for p in self.exclude if "/" in p)

    def __iter__(self) -> Iterator[FileEntry | Problem]:
        seen_dirs: set[tuple[int, int]] = set()
        yield from self._walk(self.root, "", seen_dirs)

    def _list(self, directory: Path, seen: set[tuple[int, int]]) -> list[_Listed] | None:
        """The folder's entries, sorted, each with its stat (links followed, relative to the folder's
        descriptor, which is closed on return), or None for a folder already walked (a symlink loop or a
        second link to it)."""
        fd = open_inside(self.root, directory, directory=True)
        try:
            info = os.fstat(fd)
            if (info.st_dev, info.st_ino) in seen:
                return None
            seen.add((info.st_dev, info.st_ino))
            with os.scandir(fd) as it:
                entries = sorted(it, key=lambda e: e.name)
            listed = []
            for entry in entries:
                if not self.hidden and entry.name.startswith("."):
                    continue
                try:
                    st: os.stat_result | OSError = os.stat(entry.name, dir_fd=fd)
                except OSError as err:
                    st = err
                link = entry.is_symlink()
                listed.append(_Listed(entry.name, link, not isinstance(st, OSError) and stat.S_ISDIR(st.st_mode), st))
            return listed
        finally:
            os.close(fd)

    def _walk(self, directory: Path, prefix: str, seen: set[tuple[int, int]]) -> Iterator[FileEntry | Problem]:
        where = prefix.rstrip("/") or "."
        try:
            listed = self._list(directory, seen)
        except Skip as skip:
            yield Problem(where, skip.reason, f"folder: {skip.detail}")
            return
        except OSError as err:
            yield Problem(where, "unreadable", f"folder: {err.strerror or err}")
            return
        for entry in listed or ():
            rel, st = prefix + entry.name, entry.stat
            path = directory / entry.name
            escaped = printable_name(entry.name)
            if escaped is not None:  # before anything stores the name: one such file must not stop a run
                if self.wanted(rel) or entry.is_dir:
                    yield Problem(prefix + escaped, "bad_name", "file name is not valid UTF-8")
                continue
            if isinstance(st, OSError):
                if self.wanted(rel):
                    why = "broken symlink" if entry.is_symlink else (st.strerror or str(st))
                    yield Problem(rel, "unreadable", why)
                continue
            if entry.is_symlink and not path.resolve().is_relative_to(self.root):
                # the index (and the UI showing it) must never hold text from outside the folder
                if self.wanted(rel) or stat.S_ISDIR(st.st_mode):
                    yield Problem(rel, "outside_root", OUTSIDE)
                continue
            if stat.S_ISDIR(st.st_mode):
                if not self._dir_excluded(rel) and path.resolve() not in self.skip:
                    yield from self._walk(path, rel + "/", seen)
            elif not self.wanted(rel):
                continue
            elif stat.S_ISREG(st.st_mode):
                yield FileEntry(rel, path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode, self.root)
            else:
                yield Problem(rel, "unreadable", "not a regular file (FIFO, socket or device)")
