"""Shared helpers of the indexer tests: small deterministic corpora and database snapshots."""
from __future__ import annotations

import os
import random
import sqlite3
from pathlib import Path

from adaptation.tiny import BUILTIN_CORPUS

from indexer import Index, IndexOptions

TOPICS = ["rivers", "mountains", "encoders", "libraries", "oceans", "capitals", "networks", "cats", "search"]
QUERIES = ["rivers flow to the sea", "capital of France", "neural networks learn text", "the cat sat on the mat",
           "search engines rank documents"]


def paragraph(rng: random.Random, topic: str, sentences: int) -> str:
    picked = [rng.choice(BUILTIN_CORPUS) for _ in range(sentences)]
    return f"{topic.capitalize()} notes. " + " ".join(picked)


def write_doc(path: Path, seed: int, paragraphs: int = 3, title: str | None = None) -> Path:
    rng = random.Random(seed)
    topic = TOPICS[seed % len(TOPICS)]
    body = "\n\n".join(paragraph(rng, topic, rng.randint(2, 5)) for _ in range(paragraphs))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {title or f'Document {seed} about {topic}'}\n\n{body}\n", encoding="utf-8")
    return path


def make_corpus(folder: Path, n: int, paragraphs: int = 3, start: int = 0) -> list[Path]:
    """``n`` Markdown files in two sub-folders, deterministic in their seed."""
    return [write_doc(folder / ("a" if i % 2 else "b") / f"doc{i:03d}.md", i, paragraphs) for i in range(start, start + n)]


def hash_options(**overrides) -> IndexOptions:
    base = dict(chunk_tokens=32, overlap=4, progress=False, batch_docs=4, commit_chunks=16, commit_growth=0.1)
    base.update(overrides)
    return IndexOptions(**base)


def chunk_state(db: Path) -> list[tuple]:
    """Everything that defines the chunks, independent of the ids they got: (path, start, end, text)."""
    con = sqlite3.connect(Path(db) / "metadata.sqlite")
    try:
        return sorted(con.execute("SELECT d.path, c.start, c.end, c.text FROM chunks c JOIN documents d "
                                  "ON d.id = c.document_id").fetchall())
    finally:
        con.close()


def faiss_members(idx: Index, encoder: str) -> dict[int, tuple]:
    """chunk id -> (path, start) for every id in the encoder's live FAISS file."""
    ids = idx.vectors(encoder).ids().tolist()
    return {c.id: (c.path, c.start) for c in idx.chunks(ids=ids)}


def search_signature(db: Path, encoder: str | None = None, k: int = 5) -> list[tuple]:
    """Per query: all top-k scores, and the hits scoring above the k-th (ties at the cut may legitimately swap)."""
    out = []
    with Index.open(db) as idx:
        for q in QUERIES:
            hits = idx.search(q, encoder=encoder, k=k)
            scores = [round(h.score, 4) for h in hits]
            cut = scores[-1] if scores else 0.0
            out.append((scores, sorted((round(h.score, 4), h.path, h.start) for h in hits if round(h.score, 4) > cut)))
    return out


def as_nobody(fn):
    """Root ignores file modes, so drop the *effective* uid for the run: the kernel then really refuses."""
    if os.geteuid() != 0:
        return fn()
    os.setegid(65534)
    os.seteuid(65534)
    try:
        return fn()
    finally:
        os.seteuid(0)
        os.setegid(0)


def minimal_pdf(text: str) -> bytes:
    """A valid one-page PDF showing ``text`` (Helvetica), with a correct xref table."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
