"""The random leave-one-out protocol: one held-out item per user, hit rate at k."""

from __future__ import annotations

import numpy as np
import pytest

import likewise
from likewise.evaluation.protocols import TopNLeaveOneOut, evaluate, get_protocol


def _designed_data() -> likewise.Interactions:
    """Popularity's answers are the same whichever item of a user is held out.

    Items A and B are the most popular (single-interaction fillers: 6 on A, 5 on B);
    users u1, u2 have {A, B}: the held-out one is the most popular unseen item (rank 1).
    Users u3, u4 have {C, D}: A and B rank first, the held-out item third (the only
    other unseen item). The fillers have one interaction each, so they stay in train.
    """
    users = [f"f{n}" for n in range(11)] + ["u1", "u1", "u2", "u2", "u3", "u3", "u4", "u4"]
    items = ["A"] * 6 + ["B"] * 5 + ["A", "B", "A", "B", "C", "D", "C", "D"]
    return likewise.Interactions.from_arrays(users, items)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_hand_computed_scores(seed):
    data = _designed_data()
    # k=2: u1, u2 hit at rank 1; u3, u4 miss (their item is third)
    at2 = evaluate(likewise.Popularity(), data, "topn_leave_one_out", k=2, random_state=seed,
                   metrics=["hit_rate", "mrr", "ndcg", "recall"])
    assert at2["hit_rate@2"] == pytest.approx(0.5)
    assert at2["mrr@2"] == pytest.approx(0.5)
    assert at2["ndcg@2"] == pytest.approx(0.5)
    assert at2["recall@2"] == pytest.approx(0.5)  # one relevant item: recall = hit rate
    assert at2["n_users"] == 4 and at2["cold_users"] == 0
    # k=3: everyone hits; MRR = (1 + 1 + 1/3 + 1/3) / 4, NDCG = (1 + 1 + 1/2 + 1/2) / 4
    at3 = evaluate(likewise.Popularity(), data, "topn_leave_one_out", k=3, random_state=seed,
                   metrics=["hit_rate", "mrr", "ndcg"])
    assert at3["hit_rate@3"] == pytest.approx(1.0)
    assert at3["mrr@3"] == pytest.approx((2 + 2 / 3) / 4)
    assert at3["ndcg@3"] == pytest.approx(0.75)


def test_one_random_item_per_user_and_seeded():
    data = likewise.datasets.movielens("100k")
    proto = get_protocol("topn_leave_one_out", random_state=7)
    (train, test), = list(proto.splits(data))
    per_user = np.diff(test.matrix.indptr)
    assert set(per_user.tolist()) == {1} and test.nnz == data.n_users
    assert train.nnz + test.nnz == data.nnz
    (_, again), = list(get_protocol("topn_leave_one_out", random_state=7).splits(data))
    assert (again.matrix != test.matrix).nnz == 0
    (_, other), = list(get_protocol("topn_leave_one_out", random_state=8).splits(data))
    assert (other.matrix != test.matrix).nnz > 0
    assert proto.describe()["protocol"] == "topn_leave_one_out"


def test_single_interaction_users_are_not_tested():
    data = _designed_data()
    (train, test), = list(TopNLeaveOneOut(random_state=0).splits(data))
    fillers = data.users.index([f"f{n}" for n in range(11)])
    assert np.diff(test.matrix.indptr)[fillers].sum() == 0
    assert np.diff(train.matrix.indptr)[fillers].sum() == 11


def test_compare_defaults_to_hit_rate():
    data = likewise.datasets.movielens("100k").as_implicit()
    result = likewise.compare({"pop": likewise.Popularity(), "random": likewise.Random()}, data,
                              protocol="topn_leave_one_out", k=10, progress=False)
    assert result.sort_by == "hit_rate@10"
    assert result.metrics == ["hit_rate@10", "ndcg@10", "mrr@10", "coverage@10"]
    frame = result.to_frame()
    assert frame.index.tolist() == ["pop", "random"]
    assert 0.0 < frame.loc["random", "hit_rate@10"] < frame.loc["pop", "hit_rate@10"] < 1.0


def test_options_are_validated():
    with pytest.raises(likewise.errors.ConfigError, match="k"):
        evaluate(likewise.Popularity(), _designed_data(), "topn_leave_one_out", k=0)
