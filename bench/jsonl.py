"""One result row of a bench script: printed as JSON, and appended to ``--out`` (JSON lines) when given."""
from __future__ import annotations

import json
from pathlib import Path


def emit(row: dict, out: Path | None) -> None:
    print(json.dumps(row), flush=True)
    if out:
        with out.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
