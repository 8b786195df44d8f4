"""Lazy package exports (PEP 562), so importing a package's CLI or errors stays cheap.

``l2v --help`` would otherwise import torch, FAISS and SQLAlchemy through the
packages' ``__init__`` modules before printing a line.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` resolving ``name`` from ``exports[name]`` (a submodule) on first use."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name], package), name)

    return __getattr__
