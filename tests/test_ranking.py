"""Hybrid search's fusion (``indexer.ranking``): scaled scores weighed, and why not reciprocal ranks."""
import pytest


def test_min_max_scales_each_candidate_list_to_zero_one():
    from indexer.ranking import min_max

    assert min_max([(7, 12.0), (3, 4.0), (9, 8.0)]) == {7: 1.0, 3: 0.0, 9: 0.5}
    assert min_max([(1, 0.3), (2, 0.3)]) == {1: 1.0, 2: 1.0}            # equal scores: none is worse
    assert min_max([]) == {}


def test_convex_fusion_weighs_scaled_scores_and_keeps_a_confident_bm25_hit():
    from indexer.ranking import convex_fusion, rrf

    lexical = [(1, 10.0), (2, 3.0), (3, 2.9)] + [(100 + i, 1.0 - i / 100) for i in range(47)]
    dense = [(2, 0.62), (3, 0.61)] + [(200 + i, 0.60 - i / 1000) for i in range(27)] + [(1, 0.55)] + \
        [(300 + i, 0.54 - i / 1000) for i in range(20)]                 # a weak encoder puts chunk 1 30th
    fused = convex_fusion(dense, lexical, 0.3)
    assert fused[0][0] == 1                                              # BM25's clear winner stays first
    assert [i for i, _ in rrf([[c for c, _ in dense], [c for c, _ in lexical]], weights=[0.3, 0.7])][0] == 2
    scores = dict(fused)
    assert scores[1] == pytest.approx(0.7 * 1.0 + 0.3 * (0.55 - 0.521) / (0.62 - 0.521))
    assert scores[100] == pytest.approx(0.7 * (1.0 - 1.0 + 0.46) / (10.0 - 0.54))  # missing from dense: 0 there
    assert [i for i, _ in convex_fusion(dense, lexical, 1.0)][:len(dense)] == [c for c, _ in dense]
    assert [i for i, _ in convex_fusion(dense, lexical, 0.0)][:len(lexical)] == [c for c, _ in lexical]
    tied = convex_fusion([(5, 0.9), (6, 0.9)], [(6, 2.0), (5, 2.0)], 0.4)  # all tie: the heavier (BM25) order
    assert [i for i, _ in tied] == [6, 5] and {v for _, v in tied} == {1.0}
