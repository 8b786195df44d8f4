"""STS: Spearman correlation between cosine similarity and gold scores (MTEB's main STS score).

Reads STS-B (tab-separated genre, file, year, id, score, s1, s2 — split on tabs
only: sentences contain quotes), SICK (header with sentence_A, sentence_B,
relatedness_score) and plain ``score<TAB>s1<TAB>s2`` files, with or without a header.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import metrics
from .base import EvalSettings, TaskResult, embed
from .data import seeded_sample
from .errors import DataFormatError

SCORE_NAMES = ("score", "relatedness_score", "similarity", "label", "gold")
FIRST_NAMES = ("sentence1", "sentence_a", "s1", "text1", "sentence_1")
SECOND_NAMES = ("sentence2", "sentence_b", "s2", "text2", "sentence_2")


@dataclass
class STSData:
    path: Path
    format: str
    first: list[str]
    second: list[str]
    scores: np.ndarray


def _float(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _columns_from_header(fields: list[str]) -> tuple[int, int, int] | None:
    lowered = [f.strip().lower() for f in fields]
    found = []
    for names in (SCORE_NAMES, FIRST_NAMES, SECOND_NAMES):
        found.append(next((lowered.index(n) for n in names if n in lowered), None))
    return tuple(found) if None not in found else None  # type: ignore[return-value]


def detect_format(first_line: str, path: Path) -> tuple[str, tuple[int, int, int], bool]:
    """(format name, (score, s1, s2) column indices, has header) from the first line."""
    fields = first_line.rstrip("\r\n").split("\t")
    header = _columns_from_header(fields)
    if header is not None:
        name = "sick" if "sentence_a" in [f.lower() for f in fields] else "header"
        return name, header, True
    if len(fields) >= 7 and _float(fields[4]) is not None:
        return "stsb", (4, 5, 6), False
    if len(fields) == 3 and _float(fields[0]) is not None:
        return "score-s1-s2", (0, 1, 2), False
    raise DataFormatError(
        f"{path}: unknown STS format; expected tab-separated STS-B lines (genre, file, year, id, score, s1, s2), "
        "a SICK file with a header (sentence_A, sentence_B, relatedness_score) or 'score<TAB>s1<TAB>s2' lines")


def load(path: str | Path) -> STSData:
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: STS file not found (give a tab-separated file, e.g. sts-test.csv)")
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise DataFormatError(f"{path}: empty STS file")
    name, (si, ai, bi), has_header = detect_format(lines[0], path)
    first, second, scores = [], [], []
    for number, line in enumerate(lines[1:] if has_header else lines, start=2 if has_header else 1):
        fields = line.split("\t")
        score = _float(fields[si]) if len(fields) > max(si, ai, bi) else None
        if score is None:
            raise DataFormatError(f"{path}:{number}: expected a numeric score in column {si + 1} and two "
                                  f"sentences in columns {ai + 1} and {bi + 1} ({name} format)")
        first.append(fields[ai])
        second.append(fields[bi])
        scores.append(score)
    return STSData(path, name, first, second, np.asarray(scores, dtype=np.float64))


def run(encoder, data: STSData, settings: EvalSettings, instruction: str) -> TaskResult:
    start = time.perf_counter()
    keep = seeded_sample(len(data.scores), settings.limit, settings.seed)
    first = [data.first[i] for i in keep]
    second = [data.second[i] for i in keep]
    unique = sorted(set(first) | set(second))  # each sentence embedded once
    vectors = embed(encoder, unique, instruction, settings)
    row = {text: i for i, text in enumerate(unique)}
    a = vectors[[row[t] for t in first]]
    b = vectors[[row[t] for t in second]]
    cosine = metrics.cosine_pairs(a, b)
    gold = data.scores[keep]
    scores = {"cosine_spearman": metrics.spearman(cosine, gold), "cosine_pearson": metrics.pearson(cosine, gold)}
    return TaskResult("sts", "", "cosine_spearman", scores["cosine_spearman"], scores,
                      {"pairs": int(len(keep)), "pairs_total": int(len(data.scores)), "format": data.format,
                       "instruction": instruction}, time.perf_counter() - start)
