"""What the walker lets through (issue 21, items 3, 5 and 10): a symlink swapped between listing and reading
never brings text (or names) from outside the folder into the index, path globs match in linear time, and
control sequences in file names, titles and text are escaped when the CLI prints them."""
from __future__ import annotations

import os
import threading

import pytest
import typer
from indexer_helpers import hash_options, make_corpus
from test_extract_bounds import within
from typer.testing import CliRunner

from indexer import Index, build_index
from indexer import sync as sync_module
from indexer.errors import UsageError
from indexer.sources import FileEntry, Problem, Skip, Walker, glob_match

SECRET = "SECRET-FROM-OUTSIDE-THE-FOLDER"


def _relink(link, target) -> None:
    """Point ``link`` at ``target`` atomically (as an attacker racing the indexer would)."""
    tmp = link.with_name(link.name + ".tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)


def _swap_before_reading(monkeypatch, rel: str, swap) -> None:
    """The indexer's own walker, with ``swap()`` run after it listed ``rel`` and before the file is read."""

    class SwappingWalker(Walker):
        def __iter__(self):
            for item in super().__iter__():
                if item.rel == rel:
                    swap()
                yield item

    monkeypatch.setattr(sync_module, "Walker", SwappingWalker)


@pytest.fixture
def folders(tmp_path):
    docs, outside = tmp_path / "docs", tmp_path / "outside"
    make_corpus(docs, 2)
    outside.mkdir()
    (outside / "secret.md").write_text(f"# Secret\n\n{SECRET} rivers and seas.\n")
    (outside / "doc.md").write_text(f"# Doc\n\n{SECRET} mountains.\n")
    return docs, outside


def _chunk_texts(db) -> str:
    with Index.open(db) as index:
        return "\n".join(c.text for c in index.chunks())


def test_a_file_link_swapped_to_outside_after_listing_is_not_read(folders, tmp_path, monkeypatch):
    docs, outside = folders
    (docs / "inside.md").write_text("# Inside\n\nText that lives in the folder.\n")
    (docs / "note.md").symlink_to(docs / "inside.md")
    _swap_before_reading(monkeypatch, "note.md", lambda: _relink(docs / "note.md", outside / "secret.md"))
    build_index(docs, tmp_path / "db", {"h": "hash:32"}, hash_options())
    assert SECRET not in _chunk_texts(tmp_path / "db")
    with Index.open(tmp_path / "db") as index:
        assert {s.path: s.reason for s in index.skipped()} == {"note.md": "outside_root"}

    monkeypatch.undo()                                  # the link points inside again: read on the next run
    _relink(docs / "note.md", docs / "inside.md")
    build_index(docs, tmp_path / "db", {"h": "hash:32"}, hash_options())
    with Index.open(tmp_path / "db") as index:
        assert index.document("note.md") is not None and index.skipped() == []


def test_a_folder_swapped_for_an_outside_link_after_listing_is_not_read(folders, tmp_path, monkeypatch):
    docs, outside = folders
    (docs / "sub").mkdir()
    (docs / "sub" / "doc.md").write_text("# Doc\n\nInside text.\n")

    def swap() -> None:
        (docs / "sub").rename(docs / "sub.moved")
        (docs / "sub").symlink_to(outside)

    _swap_before_reading(monkeypatch, "sub/doc.md", swap)
    build_index(docs, tmp_path / "db", {"h": "hash:32"}, hash_options())
    assert SECRET not in _chunk_texts(tmp_path / "db")
    with Index.open(tmp_path / "db") as index:
        assert {s.path: s.reason for s in index.skipped()}["sub/doc.md"] == "outside_root"


def test_a_folder_swapped_for_an_outside_link_before_it_is_listed_is_not_listed(folders):
    docs, outside = folders
    (docs / "sub").mkdir()
    (docs / "sub" / "x.md").write_text("inside")
    (outside / "private-name.md").write_text("outside")
    walker = iter(Walker(docs))
    first = next(walker)                                   # the root is listed: 'sub' is a real folder
    (docs / "sub").rename(docs / "sub.moved")
    (docs / "sub").symlink_to(outside)
    rest = [first, *walker]
    assert not any("private-name" in item.rel or "secret" in item.rel for item in rest)
    assert any(isinstance(p, Problem) and p.rel == "sub" and p.reason == "outside_root" for p in rest)


def test_reads_racing_a_link_flip_never_return_outside_text(folders):
    from indexer.sources import read_entry

    docs, outside = folders
    (docs / "inside.md").write_text("inside text")
    link = docs / "flip.md"
    link.symlink_to(docs / "inside.md")
    entry = next(e for e in Walker(docs) if isinstance(e, FileEntry) and e.rel == "flip.md")
    stop = threading.Event()

    def flip() -> None:
        while not stop.is_set():
            _relink(link, outside / "secret.md")
            _relink(link, docs / "inside.md")

    flipper = threading.Thread(target=flip)
    flipper.start()
    outcomes = set()
    try:
        for _ in range(3000):
            try:
                outcomes.add(read_entry(entry, 1 << 20))
            except Skip as skip:
                outcomes.add(skip.reason)
            except FileNotFoundError:
                outcomes.add("gone")           # between the two renames of one flip
    finally:
        stop.set()
        flipper.join()
    assert not any(isinstance(o, bytes) and SECRET.encode() in o for o in outcomes)
    assert outcomes <= {b"inside text", "outside_root", "unreadable", "gone"}


# ------------------------------------------------------------------ path globs
def _match_all(names: list[str], pattern: str) -> list[bool]:
    return [glob_match(name, pattern) for name in names]


@pytest.mark.parametrize("pattern", ["**?" * 8 + "!", "docs/" + "**?" * 8 + "!", "*a" * 12 + "!", "**/" * 10 + "*!"])
def test_globs_with_many_stars_match_in_linear_time(pattern):
    """``"**?" * 8 + "!"`` on 50 long names took 201 s as a backtracking regex."""
    names = [f"docs/section-{i}/" + "a" * 240 + f"-{i}.md" for i in range(50)]
    matched, _, _ = within(3, _match_all, names, pattern)
    assert matched == [False] * 50


@pytest.mark.parametrize("rel, pattern, expected", [
    ("docs/a/b/note.md", "docs/**/*.md", True), ("docs/note.md", "docs/**/*.md", True),
    ("docs/a/note.txt", "docs/**/*.md", False), ("a/b/c.md", "**", True), ("a/b/c.md", "a/*", False),
    ("a/b/c.md", "a/**", True), ("a/b/c.md", "*.md", True), ("a/b/c.md", "a/*/c.?d", True),
    ("x/pep-0001.rst", "**/pep-000[1]*", True), ("pep-0041.rst", "pep-00[!0-3]*", True),
    ("a/b", "a[/]b", False), ("ab-ab-ab!", "*ab*ab*!", True), ("ab-ab-ab", "*ab*ab*!", False),
    ("docs/x/y/z.md", "docs/**/y/**/*.md", True), ("docs/y/z.md", "docs/**/y/**/*.md", True),
    ("docs/z.md", "docs/**/y/**/*.md", False), ("a/dir/sub/file", "a/dir**file", True),
    ("dir/sub/file", "dir/*file", False),
])
def test_glob_meaning_is_unchanged(rel, pattern, expected):
    assert glob_match(rel, pattern) is expected


def test_a_glob_too_long_to_match_is_refused_in_one_line_naming_it():
    with pytest.raises(UsageError) as err:
        glob_match("docs/a.md", "docs/" + "*a" * 600)
    message = str(err.value)
    assert "\n" not in message and "glob 'docs/*a*a" in message and "at most 1000" in message


# ------------------------------------------------------------------ terminal output
def test_control_sequences_in_names_titles_and_text_are_escaped_on_the_terminal(tmp_path):
    from indexer.cli import register

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "evil\x1b]0;owned\x07.md").write_text(
        "# Title \x1b[2J cleared\n\nRivers flow \x1b]8;;http://x.example\x07to the sea\x1b]8;;\x07 \u202e desrever.\n")
    (docs / "bad\x1b[31mred.pdf").write_bytes(b"%PDF-1.4 broken")
    build_index(docs, tmp_path / "db", {"h": "hash:32"}, hash_options())
    app = typer.Typer()
    register(app)
    for args in (["search", str(tmp_path / "db"), "rivers to the sea", "-e", "h"],
                 ["search", str(tmp_path / "db"), "rivers to the sea", "-e", "h", "--chunks"],
                 ["status", str(tmp_path / "db")]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output and "\x07" not in result.output and "\u202e" not in result.output
        assert "\\x1b" in result.output, result.output


def test_an_error_naming_a_crafted_path_is_escaped_on_the_terminal(tmp_path):
    """The one-line error quotes what the user typed (or a database recorded): its control sequences too."""
    import subprocess
    import sys

    evil = tmp_path / "no\x1b]0;owned\x07such"
    run = subprocess.run([sys.executable, "-m", "search_ui.l2v", "index", str(evil), "--db", str(tmp_path / "db"),
                          "--encoder", "hash:16"], capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and run.stderr.startswith("error: "), run.stderr
    assert "\x1b" not in run.stderr and "\x07" not in run.stderr and "\\x1b]0;owned\\x07" in run.stderr, run.stderr
