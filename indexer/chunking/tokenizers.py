"""The tokenizer chunks are measured with, saved in each database so every later run chunks alike.

Encoders share one set of chunks, so the first encoder's tokenizer is saved in ``db/tokenizer/``
with a ``chunking_tokenizer.json`` naming its kind: ``hf`` (a Hugging Face fast tokenizer) is built
in; other kinds come from plugins (``indexer.plugins``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol, runtime_checkable

from ..plugins import register_tokenizer, tokenizer_loader

TOKENIZER_SPEC = "chunking_tokenizer.json"


@runtime_checkable
class ChunkTokenizer(Protocol):
    """Token character offsets, so chunks are measured in the encoder's own tokens."""

    def offsets(self, text: str) -> list[tuple[int, int]]: ...

    def save(self, directory: Path) -> None: ...


class HFTokenizer:
    """A Hugging Face fast tokenizer seen as a ChunkTokenizer."""

    def __init__(self, tokenizer):
        self.hf = tokenizer

    def offsets(self, text: str) -> list[tuple[int, int]]:
        enc = self.hf(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [tuple(o) for o in enc["offset_mapping"]]

    def save(self, directory: Path) -> None:
        self.hf.save_pretrained(directory)
        write_spec(directory, "hf")


def _load_hf(directory: Path) -> HFTokenizer:
    from transformers import AutoTokenizer

    return HFTokenizer(AutoTokenizer.from_pretrained(str(directory), trust_remote_code=False))


register_tokenizer("hf", _load_hf)


def write_spec(directory: Path, kind: str) -> None:
    """Record which kind of tokenizer ``directory`` holds (every ``ChunkTokenizer.save`` ends with this)."""
    Path(directory).mkdir(parents=True, exist_ok=True)
    (Path(directory) / TOKENIZER_SPEC).write_text(json.dumps({"kind": kind}))


def load_tokenizer(directory: Path) -> ChunkTokenizer:
    """The chunking tokenizer saved in a database, so any later run chunks the same way."""
    spec = json.loads((Path(directory) / TOKENIZER_SPEC).read_text())
    return tokenizer_loader(spec["kind"])(Path(directory))
