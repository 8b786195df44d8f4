"""Plugins: embedder sources and chunking tokenizers beyond the built-in ones.

An ``--encoder`` value is normally a saved encoder directory, an LLM2Vec checkpoint or a hub id.
A plugin registers a *scheme* (``name:...`` sources) with a factory, and, if its embedder chunks with
something other than a Hugging Face tokenizer, a tokenizer *kind* so a database it built can be read
back. The test suite registers its model-free embedder this way (as simonw/llm registers its test
model from ``conftest.py``), so no test double sits on the production path.

Plugins are modules: those named in ``L2V_PLUGINS`` (comma separated; subprocesses inherit it) and
those of the ``l2v.plugins`` entry-point group, imported the first time a source or tokenizer kind is
not known. Importing one registers it.
"""
from __future__ import annotations

import importlib
import os
import re
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable

from .errors import NoEncoderError

PLUGINS_ENV = "L2V_PLUGINS"
SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9_+-]*):")

_embedders: dict[str, Callable[[str], Any]] = {}
_tokenizers: dict[str, Callable[[Path], Any]] = {}
_loaded = False


def register_embedder(scheme: str, factory: Callable[[str], Any]) -> None:
    """Sources ``scheme:...`` are made by ``factory(source)`` (an object satisfying ``Embedder``)."""
    _embedders[scheme] = factory


def register_tokenizer(kind: str, loader: Callable[[Path], Any]) -> None:
    """A chunking tokenizer saved with ``{"kind": kind}`` is read back by ``loader(directory)``."""
    _tokenizers[kind] = loader


def scheme_of(source: str) -> str | None:
    """The plugin scheme of a source (``hash:64`` -> ``hash``), or None: a path, a hub id, or a scheme no
    plugin registered (``pypi:...`` sources belong to ``adaptation``, which reports what it cannot load)."""
    match = SCHEME.match(source)
    if not match or Path(source).exists():
        return None
    if match.group(1) not in _embedders:
        load_plugins()
    return match.group(1) if match.group(1) in _embedders else None


def embedder_factory(source: str) -> Callable[[str], Any] | None:
    """The registered factory for a plugin source, or None (the source is for ``adaptation.Encoder``)."""
    scheme = scheme_of(source)
    return _embedders[scheme] if scheme else None


def tokenizer_loader(kind: str) -> Callable[[Path], Any]:
    """The loader of a saved chunking tokenizer's kind; one no plugin registered is a one-line error."""
    if kind not in _tokenizers:
        load_plugins()
    if kind not in _tokenizers:
        raise NoEncoderError(f"the database's chunking tokenizer is of kind '{kind}', which no plugin provides; "
                             f"name the module that registers it in {PLUGINS_ENV}")
    return _tokenizers[kind]


def load_plugins() -> None:
    """Import every plugin module once (a missing one is an error naming it, not a traceback)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for name in filter(None, (part.strip() for part in os.environ.get(PLUGINS_ENV, "").split(","))):
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise NoEncoderError(f"{PLUGINS_ENV}: plugin module '{name}' does not import ({err})") from None
    for entry in entry_points(group="l2v.plugins"):
        entry.load()
