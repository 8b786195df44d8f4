"""Benchmarks that must not pay for a model index with the test suite's ``HashEmbedder`` (``hash:DIM``).

It is a plugin of the test suite (``tests/l2v_doubles.py``), not of the product: importing this module
puts it on the path, registers it here and names it for child processes (``L2V_PLUGINS``).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS.parent), str(TESTS), os.environ.get("PYTHONPATH")]))
os.environ["L2V_PLUGINS"] = "l2v_doubles"

from l2v_doubles import HashEmbedder  # noqa: E402  (importing it registers the plugin)

__all__ = ["HashEmbedder"]
