"""Shared fixtures of the UI tests: one real index (PEPs or generated text) with two real encoders.

Built once per session even though several test modules import the fixture (module-level cache):
a ``hash:64`` HashEmbedder and a tiny random Llama saved as an encoder directory.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from indexer import Index, IndexOptions, build_index

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

        for i in range(len(PEPS)):   # as many documents as the PEP corpus: the tests count them
            body = "\n\n".join(" ".join(BUILTIN_CORPUS[(i * 7 + p * 3 + j) % len(BUILTIN_CORPUS)] for j in range(6))
                               for p in range(20))
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


# ------------------------------------------------------------------ driving the app under AppTest
APP = str(Path(__file__).resolve().parents[1] / "search_ui" / "app.py")
DOCUMENTS = 7   # readable documents in ui_db's corpus


RECORDED = "recorded"


def app(monkeypatch, db, page: str | None = None, root: str | Path | None = RECORDED) -> AppTest:
    """The app on ``db``; ``root`` is the folder the user allowed (default: as if they confirmed the recorded one)."""
    monkeypatch.setenv("L2V_UI_DB", str(db))
    if root == RECORDED and (Path(db) / "metadata.sqlite").is_file():
        with Index.open(db) as idx:
            root = idx.root
    if root is None or root == RECORDED:
        monkeypatch.delenv("L2V_UI_ROOT", raising=False)
    else:
        monkeypatch.setenv("L2V_UI_ROOT", str(root))
    at = AppTest.from_file(APP, default_timeout=60)
    if page:
        at.query_params["page"] = page
    return at.run()


def hits(at: AppTest) -> list[str]:
    return [h.proto.body for h in at.get("html") if 'class="l2v-hit"' in h.proto.body]


def search(at: AppTest, query: str, encoder: str = "hash") -> AppTest:
    """Search without an instruction (the HashEmbedder would otherwise mix the preset's words in)."""
    at.selectbox(key="search_encoder").select(encoder).run()
    at.selectbox(key=f"search_{encoder}_preset").select("No instruction").run()
    return at.text_input(key="search_query").input(query).run()


def no_errors(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def text_of(at: AppTest) -> str:
    parts = [h.proto.body for h in at.get("html")] + [e.value for e in at.error] + [m.value for m in at.markdown]
    return "\n".join(map(str, parts + [c.value for c in at.caption] + [c.value for c in at.code]))
