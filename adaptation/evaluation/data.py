"""Small shared helpers for reading evaluation files and subsampling them reproducibly."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import DataFormatError

TEXT_COLUMNS = ("text", "sentence", "query")
LABEL_COLUMNS = ("label", "category", "label_text", "intent")


def seeded_sample(n: int, limit: int | None, seed: int) -> np.ndarray:
    """Sorted indices of a seeded sample of ``limit`` out of ``n`` (all of them without a limit)."""
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise DataFormatError(f"{path}:{number}: not valid JSON ({err.msg}); expected one object per line") from None
    return rows


def _pick(header: Sequence[str], names: Sequence[str], path: Path, what: str) -> int:
    lowered = [h.strip().lower() for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    raise DataFormatError(f"{path}: no {what} column; the header must name one of {', '.join(names)} "
                          f"(found: {', '.join(header)})")


def read_labelled(path: Path) -> tuple[list[str], list[str]]:
    """(texts, labels) from a CSV/TSV with a header (text + label/category) or JSONL with those keys."""
    if not path.is_file():
        raise DataFormatError(f"{path}: file not found")
    if path.suffix == ".jsonl":
        rows = read_jsonl(path)
        if not rows:
            raise DataFormatError(f"{path}: empty file")
        tcol = next((c for c in TEXT_COLUMNS if c in rows[0]), None)
        lcol = next((c for c in LABEL_COLUMNS if c in rows[0]), None)
        if tcol is None or lcol is None:
            raise DataFormatError(f"{path}: each line needs a text key ({'/'.join(TEXT_COLUMNS)}) and a label key "
                                  f"({'/'.join(LABEL_COLUMNS)})")
        return [str(r[tcol]) for r in rows], [str(r[lcol]) for r in rows]
    with open(path, encoding="utf-8", newline="") as handle:
        delimiter = "\t" if path.suffix in (".tsv", ".tab") else ","
        reader = csv.reader(handle, delimiter=delimiter)
        header = next(reader, None)
        if not header:
            raise DataFormatError(f"{path}: empty file")
        ti, li = _pick(header, TEXT_COLUMNS, path, "text"), _pick(header, LABEL_COLUMNS, path, "label")
        texts, labels = [], []
        for number, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) <= max(ti, li):
                raise DataFormatError(f"{path}:{number}: expected {len(header)} columns, found {len(row)}")
            texts.append(row[ti])
            labels.append(row[li])
    if not texts:
        raise DataFormatError(f"{path}: no rows after the header")
    return texts, labels


def split_file(path: Path, split: str) -> Path:
    """``path`` itself if a file, else the ``split`` file (csv/tsv/jsonl) inside the folder."""
    if path.is_file():
        return path
    for suffix in (".csv", ".tsv", ".jsonl"):
        candidate = path / f"{split}{suffix}"
        if candidate.is_file():
            return candidate
    raise DataFormatError(f"{path}: no {split}.csv, {split}.tsv or {split}.jsonl in this folder")
