"""The test suite's l2v plugin: a deterministic, fast embedder for tests, crash subprocesses and benchmarks.

``HashEmbedder``: hashed bag of words -> fixed random projection, L2-normalized.
It has real lexical signal (shared words -> similar vectors) and costs no model
load, so a killed-and-restarted indexing subprocess starts in well under a second.

It is no part of the product: importing this module registers the ``hash:DIM[:SEED[:DELAY]]`` encoder
source and the ``words`` chunking tokenizer with ``indexer.plugins``. ``conftest.py`` imports it and
names it in ``L2V_PLUGINS`` (with ``tests/`` on ``PYTHONPATH``), so subprocesses started by tests
(``l2v`` commands, ``streamlit``) can read databases built with it; benchmarks import it from here.

``python -m l2v_doubles FOLDER DB [--dim 64] [--chunk-tokens N] [--overlap N] [--tokenizer DIR]``
indexes FOLDER with it (used by the crash-safety and memory tests); ``--tokenizer`` chunks with a
real Hugging Face tokenizer instead of words, as a real encoder would, and ``--max-rss-report``
prints the peak RSS (KiB) at the end.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
import zlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from indexer.chunking.tokenizers import HFTokenizer, write_spec
from indexer.plugins import register_embedder, register_tokenizer

WORD = re.compile(r"\w+|[^\w\s]")
TERM = re.compile(r"\w+")


class WordTokenizer:
    """Words and single punctuation marks, with character offsets."""

    def offsets(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in WORD.finditer(text)]

    def save(self, directory: Path) -> None:
        write_spec(directory, "words")


class HashEmbedder:
    """Bag of lowercased words hashed into ``buckets`` -> (buckets, dim) Gaussian projection."""

    def __init__(self, dim: int = 64, seed: int = 0, buckets: int = 4096, tokenizer=None, delay: float = 0.0):
        self.dim, self.seed, self.buckets = dim, seed, buckets
        # seconds per document text: a slow model, so a test can interrupt a run mid-embedding (same vectors,
        # same fingerprint: a rerun without the delay resumes the same encoder)
        self.delay = delay
        self.projection = np.random.default_rng(seed).standard_normal((buckets, dim)).astype(np.float32)
        # how load_embedder() recreates it (through the registered scheme)
        self.source = f"hash:{dim}:{seed}" + (f":{delay:g}" if delay else "")
        self.fingerprint = hashlib.sha256(f"hash:{dim}:{seed}:{buckets}".encode()).hexdigest()[:16]
        self._tokenizer = tokenizer or WordTokenizer()
        self.calls = 0          # texts embedded so far: tests assert on it
        self.query_calls = 0

    @classmethod
    def from_source(cls, source: str) -> "HashEmbedder":
        """``hash:DIM[:SEED[:DELAY]]``, DELAY in seconds per document text embedded."""
        parts = source.split(":")[1:]
        return cls(dim=int(parts[0]) if parts and parts[0] else 64, seed=int(parts[1]) if len(parts) > 1 else 0,
                   delay=float(parts[2]) if len(parts) > 2 else 0.0)

    @property
    def tokenizer(self) -> WordTokenizer:
        return self._tokenizer

    @property
    def config(self) -> dict[str, Any]:
        return {"kind": "hash", "dim": self.dim, "seed": self.seed, "buckets": self.buckets}

    def _embed(self, texts: Sequence[str], prefix: str = "") -> np.ndarray:
        counts = np.zeros((len(texts), self.buckets), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in TERM.findall(f"{prefix} {text}".lower()):
                counts[row, zlib.crc32(word.encode()) % self.buckets] += 1.0
        vectors = np.log1p(counts) @ self.projection
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += len(texts)
        if self.delay:
            time.sleep(self.delay * len(texts))
        return self._embed(texts)

    def encode_queries(self, texts: Sequence[str], instruction: str | None = None) -> np.ndarray:
        self.query_calls += len(texts)
        return self._embed(texts, instruction or "")


register_embedder("hash", HashEmbedder.from_source)
register_tokenizer("words", lambda directory: WordTokenizer())


def peak_rss_kib() -> int:
    """This process's own peak RSS: VmHWM of its address space.

    Not ``getrusage().ru_maxrss``: Linux carries that across fork+exec, so a child started by a big
    parent (a pytest process holding a 135M model) would report the parent's size.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(argv: list[str] | None = None) -> None:
    import argparse

    from indexer import IndexOptions, build_index

    parser = argparse.ArgumentParser(description="Index FOLDER into DB with a HashEmbedder (tests).")
    parser.add_argument("folder")
    parser.add_argument("db")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--chunk-tokens", type=int, default=64)
    parser.add_argument("--overlap", type=int, default=8)
    parser.add_argument("--batch-docs", type=int, default=4)
    parser.add_argument("--faiss", default="Flat")
    parser.add_argument("--tokenizer", help="a Hugging Face tokenizer directory to chunk with")
    parser.add_argument("--max-mb", type=float, default=50)
    parser.add_argument("--max-rss-report", action="store_true")
    args = parser.parse_args(argv)
    print("ready", flush=True)
    embedder: str | HashEmbedder = f"hash:{args.dim}"
    if args.tokenizer:
        from transformers import AutoTokenizer

        embedder = HashEmbedder(args.dim, tokenizer=HFTokenizer(AutoTokenizer.from_pretrained(args.tokenizer, trust_remote_code=False)))
    report = build_index(args.folder, args.db, {f"hash-{args.dim}": embedder},
                         IndexOptions(chunk_tokens=args.chunk_tokens, overlap=args.overlap, factory=args.faiss,
                                      batch_docs=args.batch_docs, max_bytes=int(args.max_mb * (1 << 20)),
                                      progress=False))
    if args.max_rss_report:
        print(json.dumps({"max_rss_kib": peak_rss_kib(), "chunks": report.chunks_added,
                          "skipped": report.docs_skipped}), flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()
