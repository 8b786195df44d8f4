"""Agreement between ranked lists of chunk ids (one list per encoder, same query).

overlap@k: |A ∩ B| / k. Spearman's rho over the union of both lists, an item missing
from a list ranked k+1 (so disjoint lists score low, identical lists 1.0); Kendall's
tau over the shared items only (None with fewer than two).
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Hashable, Mapping, Sequence


@dataclass(frozen=True)
class PairAgreement:
    a: str
    b: str
    overlap: float
    shared: int
    spearman: float | None
    kendall: float | None


def overlap_at_k(a: Sequence[Hashable], b: Sequence[Hashable], k: int | None = None) -> float:
    k = k or max(len(a), len(b), 1)
    return len(set(a[:k]) & set(b[:k])) / k


def _pearson(x: list[float], y: list[float]) -> float | None:
    n = len(x)
    if n < 2:
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((p - mx) * (q - my) for p, q in zip(x, y))
    sxx, syy = sum((p - mx) ** 2 for p in x), sum((q - my) ** 2 for q in y)
    if sxx == 0 or syy == 0:
        return None
    return sxy / (sxx * syy) ** 0.5


def spearman_union(a: Sequence[Hashable], b: Sequence[Hashable], k: int | None = None) -> float | None:
    """Spearman's rho of the two rankings over the union of items (absent = rank k+1)."""
    k = k or max(len(a), len(b))
    a, b = list(a[:k]), list(b[:k])
    ra = {x: i + 1 for i, x in enumerate(a)}
    rb = {x: i + 1 for i, x in enumerate(b)}
    union = list(dict.fromkeys(a + b))
    return _pearson([ra.get(x, k + 1) for x in union], [rb.get(x, k + 1) for x in union])


def kendall_shared(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Kendall's tau-a of the order the two lists give their shared items."""
    shared = [x for x in a if x in set(b)]
    if len(shared) < 2:
        return None
    rb = {x: i for i, x in enumerate(b)}
    concordant = discordant = 0
    for x, y in combinations(shared, 2):  # x before y in a
        if rb[x] < rb[y]:
            concordant += 1
        else:
            discordant += 1
    return (concordant - discordant) / (concordant + discordant)


def agreements(rankings: Mapping[str, Sequence[Hashable]], k: int) -> list[PairAgreement]:
    """Every pair of encoders: overlap@k, shared count, Spearman (union), Kendall (shared)."""
    out = []
    for a, b in combinations(list(rankings), 2):
        ra, rb = list(rankings[a])[:k], list(rankings[b])[:k]
        out.append(PairAgreement(a, b, overlap_at_k(ra, rb, k), len(set(ra) & set(rb)),
                                 spearman_union(ra, rb, k), kendall_shared(ra, rb)))
    return out


def shared_marks(rankings: Mapping[str, Sequence[Hashable]]) -> dict[str, dict[Hashable, list[str]]]:
    """For each encoder and each of its items: the other encoders whose list also holds that item."""
    sets = {name: set(items) for name, items in rankings.items()}
    return {name: {item: [o for o in rankings if o != name and item in sets[o]] for item in items}
            for name, items in rankings.items()}
