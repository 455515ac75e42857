"""Metrics against hand-computed values and against plain-Python reference versions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from likewise.errors import ConfigError, DataError
from likewise.evaluation import metrics as M


def csr(rows):
    return sp.csr_matrix(np.asarray(rows, dtype=np.float32))


# three users, six items; user 2 has no relevant item (ignored by means)
RECS = np.array([
    [0, 3, 1, 5],
    [4, 2, -1, -1],   # short list, padded
    [1, 2, 3, 4],
])
REL = csr([
    [1, 1, 0, 0, 0, 1],  # relevant {0, 1, 5}
    [0, 0, 0, 1, 0, 0],  # relevant {3}: never recommended
    [0, 0, 0, 0, 0, 0],  # none
])


# -- rating error ---------------------------------------------------------------------
def test_error_metrics_hand_values():
    t, p = [4, 3, 5, 1], [3.5, 3, 4, 2]
    assert M.mse(t, p) == pytest.approx((0.25 + 0 + 1 + 1) / 4)
    assert M.rmse(t, p) == pytest.approx(math.sqrt(2.25 / 4))
    assert M.mae(t, p) == pytest.approx(2.5 / 4)


def test_error_metrics_reject_bad_input():
    with pytest.raises(DataError, match="different lengths"):
        M.rmse([1, 2], [1])
    with pytest.raises(DataError, match="zero predictions"):
        M.mae([], [])
    with pytest.raises(DataError, match="NaN"):
        M.rmse([1, 2], [1, np.nan])


# -- ranking, by hand -----------------------------------------------------------------
def test_precision_recall_hitrate_by_hand():
    # user0 top-2 = [0, 3]: 1 hit; user1 top-2 = [4, 2]: 0 hits
    assert M.precision_at_k(RECS, REL, k=2) == pytest.approx((1 / 2 + 0) / 2)
    assert M.recall_at_k(RECS, REL, k=2) == pytest.approx((1 / 3 + 0) / 2)
    assert M.hit_rate_at_k(RECS, REL, k=2) == pytest.approx(0.5)
    # k = 4: user0 hits 0, 1, 5 -> 3/4; user1's padding does not count as a hit
    assert M.precision_at_k(RECS, REL, k=4) == pytest.approx((3 / 4 + 0) / 2)
    assert M.recall_at_k(RECS, REL) == pytest.approx((1 + 0) / 2)
    per = M.precision_at_k(RECS, REL, k=4, per_user=True)
    assert per[0] == pytest.approx(0.75) and per[1] == 0 and np.isnan(per[2])


def test_ndcg_by_hand():
    # user0 hits at ranks 1, 3, 4: DCG = 1 + 1/log2(4) + 1/log2(5)
    dcg = 1 + 1 / math.log2(4) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)  # 3 relevant
    per = M.ndcg_at_k(RECS, REL, k=4, per_user=True)
    assert per[0] == pytest.approx(dcg / idcg)
    assert per[1] == 0 and np.isnan(per[2])
    # at k=2 the ideal uses min(k, n_relevant) = 2 items
    per2 = M.ndcg_at_k(RECS, REL, k=2, per_user=True)
    assert per2[0] == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_ndcg_graded_gains():
    rel = csr([[3, 0, 1, 0]])
    recs = np.array([[2, 0, 1]])
    # linear: DCG = 1 + 3/log2(3); ideal = 3 + 1/log2(3)
    assert M.ndcg_at_k(recs, rel, gain="linear") == pytest.approx(
        (1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3)))
    # exponential: gains 2^3-1=7 and 1
    assert M.ndcg_at_k(recs, rel, gain="exponential") == pytest.approx(
        (1 + 7 / math.log2(3)) / (7 + 1 / math.log2(3)))
    assert M.ndcg_at_k(np.array([[0, 2]]), rel, gain="exponential") == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="gain"):
        M.ndcg_at_k(recs, rel, gain="log")


def test_map_and_mrr_by_hand():
    # user0 hits at 1, 3, 4: AP = (1/1 + 2/3 + 3/4) / min(4, 3)
    ap0 = (1 + 2 / 3 + 3 / 4) / 3
    assert M.map_at_k(RECS, REL, k=4) == pytest.approx((ap0 + 0) / 2)
    # k = 2: only rank 1 hit, divided by min(2, 3) = 2
    assert M.map_at_k(RECS, REL, k=2, per_user=True)[0] == pytest.approx(0.5)
    recs = np.array([[5, 4, 1], [0, 1, 2]])
    rel = csr([[0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1]])
    assert M.mrr_at_k(recs, rel) == pytest.approx((1 / 3 + 0) / 2)
    assert M.mrr_at_k(recs, rel, k=2) == pytest.approx(0.0)


def test_auc_by_hand_and_from_scores_agree():
    # ranking of the 5 candidates: 2 positives at positions 1 and 4 (0-based)
    recs = np.array([[4, 1, 0, 3, 2, -1]])
    rel = csr([[0, 1, 1, 0, 0, 0]])
    # positive 1 beats 3 negatives (0,3,2 below... ) -> wrong: 1 (item 4 above it)
    # positive 2 is last -> 3 negatives above it. wrong = 4 of 2*3 pairs
    assert M.auc(recs, rel) == pytest.approx(1 - 4 / 6)
    scores = np.array([[3.0, 4.0, 1.0, 2.0, 5.0, -10.0]])
    excl = csr([[0, 0, 0, 0, 0, 1]])  # item 5 is not a candidate
    assert M.auc_from_scores(scores, rel, excl) == pytest.approx(1 - 4 / 6)


def test_metrics_ignore_users_without_relevant_items():
    rel = csr([[0, 0, 0], [0, 0, 0]])
    assert math.isnan(M.precision_at_k(np.array([[0], [1]]), rel))


def test_ranking_input_validation():
    with pytest.raises(DataError, match="rows"):
        M.precision_at_k(RECS[:2], REL)
    with pytest.raises(DataError, match="sparse"):
        M.precision_at_k(RECS, REL.toarray())
    with pytest.raises(ConfigError, match="k must be"):
        M.recall_at_k(RECS, REL, k=0)
    with pytest.raises(DataError, match="integer item indices"):
        M.ndcg_at_k(RECS.astype(float), REL)
    with pytest.raises(DataError, match="item index"):
        M.precision_at_k(np.array([[9], [0], [0]]), REL)


def test_relevant_matrix_is_not_modified():
    rel = sp.csr_matrix((np.array([1.0, 0.0, 2.0]), np.array([2, 0, 1]), np.array([0, 2, 3])),
                        shape=(2, 3))
    before = (rel.data.copy(), rel.indices.copy())
    M.ndcg_at_k(np.array([[0, 2], [1, 0]]), rel)
    assert np.array_equal(rel.data, before[0]) and np.array_equal(rel.indices, before[1])


# -- beyond accuracy by hand ----------------------------------------------------------
def test_beyond_accuracy_by_hand():
    recs = np.array([[0, 1, -1], [1, 2, 3]])
    assert M.catalogue_coverage(recs, n_items=8) == pytest.approx(4 / 8)
    counts = np.array([8, 4, 2, 0])
    # -log2(p): 0, 1, 2, and 3 for the unseen item (p = 1/8)
    assert M.novelty(recs, counts, n_users=8, per_user=True).tolist() == \
        pytest.approx([0.5, 2.0])
    assert M.average_recommendation_popularity(recs, counts) == pytest.approx(
        ((8 + 4) / 2 + (4 + 2 + 0) / 3) / 2)
    vecs = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])
    c = 1 / math.sqrt(2)
    per = M.intra_list_diversity(recs, vecs, per_user=True)
    assert per[0] == pytest.approx(1 - c)
    assert per[1] == pytest.approx(1 - (c + 0 + 0) / 3)  # the zero vector has cosine 0
    assert M.intra_list_diversity(recs, sp.csr_matrix(vecs), per_user=True) == \
        pytest.approx(per)
    assert np.isnan(M.intra_list_diversity(np.array([[1, -1]]), vecs))


def test_direction_of_metrics():
    assert not M.higher_is_better("rmse") and not M.higher_is_better("MAE")
    assert M.higher_is_better("ndcg@10") and M.higher_is_better("coverage")


# -- vectorised == plain Python on random inputs --------------------------------------
def _reference(recs, rel_dense, k):
    out = {n: [] for n in ("precision", "recall", "hit", "ndcg", "map", "mrr")}
    for r in range(len(recs)):
        relevant = {j: rel_dense[r, j] for j in np.flatnonzero(rel_dense[r] > 0)}
        if not relevant:
            continue
        top = [int(i) for i in recs[r, :k]]
        hits = [1 if i >= 0 and i in relevant else 0 for i in top]
        out["precision"].append(sum(hits) / k)
        out["recall"].append(sum(hits) / len(relevant))
        out["hit"].append(float(any(hits)))
        dcg = sum(h / math.log2(j + 2) for j, h in enumerate(hits))
        idcg = sum(1 / math.log2(j + 2) for j in range(min(k, len(relevant))))
        out["ndcg"].append(dcg / idcg)
        ap, found = 0.0, 0
        for j, h in enumerate(hits):
            if h:
                found += 1
                ap += found / (j + 1)
        out["map"].append(ap / min(k, len(relevant)))
        out["mrr"].append(next((1 / (j + 1) for j, h in enumerate(hits) if h), 0.0))
    return {n: float(np.mean(v)) for n, v in out.items()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_matches_reference(seed):
    rng = np.random.default_rng(seed)
    n_users, n_items, length = 40, 30, 12
    recs = np.stack([rng.permutation(n_items)[:length] for _ in range(n_users)])
    recs[rng.random(recs.shape) < 0.1] = -1  # scattered padding is tolerated too
    rel_dense = (rng.random((n_users, n_items)) < 0.15).astype(np.float32)
    rel = sp.csr_matrix(rel_dense)
    for k in (1, 5, 12):
        ref = _reference(recs, rel_dense, k)
        assert M.precision_at_k(recs, rel, k) == pytest.approx(ref["precision"])
        assert M.recall_at_k(recs, rel, k) == pytest.approx(ref["recall"])
        assert M.hit_rate_at_k(recs, rel, k) == pytest.approx(ref["hit"])
        assert M.ndcg_at_k(recs, rel, k) == pytest.approx(ref["ndcg"])
        assert M.map_at_k(recs, rel, k) == pytest.approx(ref["map"])
        assert M.mrr_at_k(recs, rel, k) == pytest.approx(ref["mrr"])


def test_auc_matches_sklearn_style_pair_count():
    rng = np.random.default_rng(3)
    n_users, n_items = 20, 25
    scores = rng.normal(size=(n_users, n_items))
    rel_dense = rng.random((n_users, n_items)) < 0.2
    seen = (rng.random((n_users, n_items)) < 0.2) & ~rel_dense
    expected = []
    for r in range(n_users):
        cand = ~seen[r]
        pos, neg = scores[r][cand & rel_dense[r]], scores[r][cand & ~rel_dense[r]]
        if len(pos) and len(neg):
            expected.append(np.mean((pos[:, None] > neg[None, :]) +
                                    0.5 * (pos[:, None] == neg[None, :])))
    got = M.auc_from_scores(scores, sp.csr_matrix(rel_dense.astype(np.float32)),
                            sp.csr_matrix(seen.astype(np.float32)))
    assert got == pytest.approx(np.mean(expected))
    # the same from complete rankings of the candidates
    masked = np.where(seen, -np.inf, scores)
    order = np.argsort(-masked, axis=1, kind="stable")
    order = np.where(np.take_along_axis(masked, order, axis=1) == -np.inf, -1, order)
    assert M.auc(order, sp.csr_matrix(rel_dense.astype(np.float32))) == \
        pytest.approx(np.mean(expected))


# -- properties ------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 8), st.integers(2, 20))
def test_ranking_metrics_are_bounded_and_perfect_lists_score_one(seed, k, n_items):
    rng = np.random.default_rng(seed)
    n_users = 6
    rel_dense = (rng.random((n_users, n_items)) < 0.3).astype(np.float32)
    rel = sp.csr_matrix(rel_dense)
    recs = np.stack([rng.permutation(n_items) for _ in range(n_users)])[:, :k]
    for fn in (M.precision_at_k, M.recall_at_k, M.hit_rate_at_k, M.ndcg_at_k, M.map_at_k,
               M.mrr_at_k):
        per = fn(recs, rel, per_user=True)
        ok = ~np.isnan(per)
        assert np.all((per[ok] >= 0) & (per[ok] <= 1 + 1e-12))
        assert np.array_equal(ok, rel_dense.sum(axis=1) > 0)
    # relevant items first (in any order) -> NDCG, MAP and recall-bounded metrics are perfect
    ideal = np.argsort(-rel_dense - rng.random(rel_dense.shape) * 0.1, axis=1)[:, :k]
    ok = rel_dense.sum(axis=1) > 0
    assert np.allclose(M.ndcg_at_k(ideal, rel, per_user=True)[ok], 1.0)
    assert np.allclose(M.map_at_k(ideal, rel, per_user=True)[ok], 1.0)
    assert np.allclose(M.hit_rate_at_k(ideal, rel, per_user=True)[ok], 1.0)
