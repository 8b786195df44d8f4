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


def rank_table(rankings: Mapping[str, Sequence[Hashable]], k: int) -> list[dict]:
    """Every item of any top-k list: its rank in each list (None: not in that top k) and the spread.

    ``spread`` is the largest rank difference, an absent item counting as rank k+1: 0 where the
    encoders agree, large where one ranks it high and another not at all. Rows: largest spread
    first, then by best rank -- where the rankings differ, at a glance.
    """
    ranks = {name: {item: i + 1 for i, item in enumerate(list(items)[:k])} for name, items in rankings.items()}
    union = list(dict.fromkeys(item for items in rankings.values() for item in list(items)[:k]))
    rows = []
    for item in union:
        row = {"item": item, **{name: ranks[name].get(item) for name in rankings}}
        present = [r if r is not None else k + 1 for r in (ranks[name].get(item) for name in rankings)]
        row["spread"] = max(present) - min(present)
        row["best"] = min(present)
        rows.append(row)
    rows.sort(key=lambda r: (-r["spread"], r["best"]))
    return rows


def rank_badges(rankings: Mapping[str, Sequence[Hashable]], k: int) -> dict[str, dict[Hashable, list[str]]]:
    """Per encoder and item: "#3 in other" for each other encoder's rank of it, or "only here"."""
    ranks = {name: {item: i + 1 for i, item in enumerate(list(items)[:k])} for name, items in rankings.items()}
    out: dict[str, dict[Hashable, list[str]]] = {}
    for name, items in rankings.items():
        out[name] = {}
        for item in list(items)[:k]:
            elsewhere = [f"#{ranks[o][item]} in {o}" for o in rankings if o != name and item in ranks[o]]
            out[name][item] = elsewhere or ["only here"]
    return out
