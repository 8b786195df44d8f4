"""What every search surface agrees on before it searches: dense or hybrid by default, and which queries are empty.

One constant and one test, here in the library, so ``l2v search``, ``l2v serve``, the demo and the UI's
Search and Compare pages give the same question the same answer instead of each choosing its own.
"""
from __future__ import annotations

# Hybrid (dense + BM25, their scores min-max scaled and weighed at the dense weight the encoder recorded) unless
# told otherwise: on SciFact's train-split dev sample (bench/bench_hybrid.py, BENCHMARKS.md) the bundled l2v-smollm2
# scores nDCG@10 44.1 dense, 79.1 BM25 and 82.6 hybrid at its recorded weight 0.3; the fusion rescues exact names
# for any encoder.
DEFAULT_HYBRID = True

EMPTY_QUERY = "the query is empty (no letter or digit): give some words to search for"


def blank_query(query: object) -> bool:
    """True for a query with no letter or digit ("", "  ", "?!..."): its vector would rank arbitrary chunks
    with confident-looking scores, and BM25 has no term to match."""
    return not isinstance(query, str) or not any(ch.isalnum() for ch in query)
