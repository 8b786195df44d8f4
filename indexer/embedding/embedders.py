"""What the indexer needs from an encoder (``Embedder``), and how an ``--encoder`` value becomes one.

The indexer never imports torch itself: ``adaptation.Encoder`` is wrapped by ``EncoderAdapter``
(loaded lazily). A ``scheme:...`` source is made by the plugin that registered the scheme
(``indexer.plugins``); the test suite's model-free embedder comes in that way.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from ..chunking.tokenizers import ChunkTokenizer, HFTokenizer
from ..errors import EncoderMismatchError, NoEncoderError
from ..plugins import embedder_factory, scheme_of

@runtime_checkable
class Embedder(Protocol):
    """What indexing and search need from an encoder; vectors come back L2-normalized."""

    fingerprint: str   # independent of the name: changes iff stored vectors would change
    dim: int

    @property
    def tokenizer(self) -> ChunkTokenizer: ...

    @property
    def config(self) -> dict[str, Any]: ...

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_queries(self, texts: Sequence[str], instruction: str | None = None) -> np.ndarray: ...


class EncoderAdapter:
    """``adaptation.Encoder`` -> Embedder; vectors L2-normalized so inner product == cosine."""

    def __init__(self, encoder, batch_size: int = 32, source: str | None = None):
        self.encoder = encoder
        self.source = source or f"<in-memory {type(encoder).__name__}>"
        self.batch_size = batch_size
        self.fingerprint = encoder.fingerprint
        self.dim = encoder.dim
        self._tokenizer = HFTokenizer(encoder.tokenizer)

    @property
    def tokenizer(self) -> ChunkTokenizer:
        return self._tokenizer

    @property
    def fingerprint_aliases(self) -> list[str]:
        return self.encoder.fingerprint_aliases

    @property
    def config(self) -> dict[str, Any]:
        return self.encoder.config.to_dict()

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.encode_documents(list(texts), batch_size=self.batch_size, normalize=True)

    def encode_queries(self, texts: Sequence[str], instruction: str | None = None) -> np.ndarray:
        extra = {} if instruction is None else {"instruction": instruction}
        return self.encoder.encode_queries(list(texts), batch_size=self.batch_size, normalize=True, **extra)


def fingerprint_matches(recorded: str, embedder: Embedder) -> bool:
    """``embedder`` is the one a database recorded as ``recorded``: its fingerprint, or one an older
    l2v computed for the same weights (``fingerprint_aliases``, only consulted on a mismatch)."""
    return recorded == embedder.fingerprint or recorded in getattr(embedder, "fingerprint_aliases", ())


def loaded_config(embedder: Embedder) -> dict[str, Any] | None:
    """The embedder's config if it is in memory already (never loads a recorded encoder for it)."""
    if isinstance(embedder, LazyEmbedder):
        return embedder.loaded.config if embedder.loaded is not None else None
    return embedder.config


def load_embedder(source: str) -> Embedder:
    """A saved encoder dir, a published checkpoint dir, a hub id, or a plugin's ``scheme:...`` source."""
    if source.startswith("<"):
        raise NoEncoderError(f"this encoder was indexed from an object in memory ({source}); give it to "
                             "Index.set_embedder(name, embedder) or index again with a saved encoder directory")
    factory = embedder_factory(source)
    if factory is not None:
        return factory(source)
    from adaptation import Encoder

    return EncoderAdapter(Encoder.from_pretrained(source), source=source)


class LazyEmbedder:
    """A recorded encoder, loaded only when there is something to embed: a no-op re-run loads no model.

    Its fingerprint is the recorded one until loaded; loading checks the real one against it.
    """

    def __init__(self, name: str, source: str, fingerprint: str, dim: int):
        self.name, self.source, self.fingerprint, self.dim = name, source, fingerprint, dim
        self._loaded: Embedder | None = None

    @property
    def loaded(self) -> Embedder | None:
        return self._loaded

    def load(self) -> Embedder:
        if self._loaded is None:
            embedder = load_embedder(self.source)
            if not fingerprint_matches(self.fingerprint, embedder):
                raise EncoderMismatchError(
                    f"encoder '{self.name}' at {self.source} changed since it was indexed (fingerprint "
                    f"{self.fingerprint} -> {embedder.fingerprint}); re-index with --rebuild or under a new --name")
            self._loaded = embedder
        return self._loaded

    @property
    def tokenizer(self) -> ChunkTokenizer:
        return self.load().tokenizer

    @property
    def config(self) -> dict[str, Any]:
        return self.load().config

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.load().encode_documents(texts)

    def encode_queries(self, texts: Sequence[str], instruction: str | None = None) -> np.ndarray:
        return self.load().encode_queries(texts, instruction=instruction)


def resolve_source(source: str | None) -> str:
    """The --encoder value as recorded (an absolute path, a bundled encoder's directory, a spec, a hub id or a
    plugin's ``scheme:...``), else the shipped default; a name that is none of these is a one-line error here,
    before any file is read or the hub is asked (``adaptation.names``)."""
    from adaptation.names import resolve_encoder_name

    from ..defaults import default_encoder_path

    if source:
        if Path(source).expanduser().exists():
            return str(Path(source).expanduser().resolve())
        return source if scheme_of(source) else resolve_encoder_name(source)
    default = default_encoder_path()
    if default is None:
        raise NoEncoderError("no encoder: pass --encoder ENCODER_DIR_OR_ID (a saved encoder directory, an LLM2Vec "
                             "checkpoint directory or a hub id), optionally with --name NAME")
    return str(default)


def default_name(source: str) -> str:
    """An encoder's name defaults to its directory name (or the last part of a hub id)."""
    if scheme_of(source):
        return source.replace(":", "-")
    name = Path(source.split("#", 1)[0].rstrip("/")).name or source
    return name[: -len(".gguf")] if name.lower().endswith(".gguf") else name  # a GGUF or package-index file
