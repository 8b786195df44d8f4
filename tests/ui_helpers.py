"""Shared fixtures of the UI tests: one real index (PEPs or generated text) with two real encoders.

Built once per session even though several test modules import the fixture (module-level cache):
a ``hash:64`` HashEmbedder and a tiny random Llama saved as an encoder directory.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from indexer import IndexOptions, build_index

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PEPS = ["pep-0020.rst", "pep-0202.rst", "pep-0257.rst", "pep-0289.rst", "pep-0498.rst", "pep-0572.rst"]
QUERY_INSTRUCTION = "Given a question about Python, retrieve the PEP that answers it:"
SECRET = "TOP-SECRET-MARKER-7f3a"
_BUILT: dict[str, Path] = {}


def make_corpus(folder: Path) -> Path:
    """Real PEPs when ../shared/data is present, else a few generated text files (same layout)."""
    folder.mkdir(parents=True, exist_ok=True)
    peps = DATA / "peps"
    if peps.is_dir():
        for name in PEPS:
            shutil.copy(peps / name, folder / name)
    else:
        from adaptation.tiny import BUILTIN_CORPUS

        for i in range(12):
            body = "\n\n".join(" ".join(BUILTIN_CORPUS[(i * 7 + p * 3 + j) % len(BUILTIN_CORPUS)] for j in range(6))
                               for p in range(10))
            (folder / f"note-{i}.rst").write_text(f"Title: Note {i} about assignment expressions\n\n{body}\n")
    (folder / "notes").mkdir(exist_ok=True)
    (folder / "notes" / "walrus.md").write_text(
        "# Walrus notes\n\nThe walrus operator := assigns inside an expression. It came with Python 3.8.\n\n"
        "Use it in while loops and comprehensions to avoid computing a value twice.\n")
    (folder / "empty.txt").write_text("")          # skipped: empty
    return folder


def encoder_dir(root: Path) -> Path:
    from adaptation import Encoder
    from adaptation.tiny import build_tiny_decoder

    base = build_tiny_decoder(root / "tiny-base", "llama")
    out = root / "tiny-encoder"
    Encoder.from_pretrained(base, query_instruction=QUERY_INSTRUCTION).save(out)
    return out


@pytest.fixture(scope="session")
def ui_db(tmp_path_factory) -> Path:
    """A database over the corpus with encoders 'hash' (hash:64) and 'tiny' (saved tiny Llama encoder)."""
    if "db" not in _BUILT:
        root = tmp_path_factory.mktemp("ui-index")
        corpus = make_corpus(root / "corpus")
        (root / "outside").mkdir()
        (root / "outside" / "secret.txt").write_text(f"{SECRET} never shown through the UI\n")
        db = root / "test.l2v"
        build_index(corpus, db, {"hash": "hash:64", "tiny": str(encoder_dir(root))},
                    IndexOptions(chunk_tokens=200, overlap=16, progress=False))
        _BUILT["db"] = db
    return _BUILT["db"]
