"""Lazy package exports (PEP 562), so importing a package's CLI or errors stays cheap.

``l2v --help`` would otherwise import torch, FAISS and SQLAlchemy through the
packages' ``__init__`` modules before printing a line.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Iterable


def lazy_exports(package: str, exports: dict[str, Iterable[str]]) -> tuple[Callable[[str], Any], list[str]]:
    """``(__getattr__, names)`` for a package exporting ``exports`` (submodule -> names) on first use."""
    module_of = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in module_of:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module_of[name], package), name)

    return __getattr__, list(module_of)
