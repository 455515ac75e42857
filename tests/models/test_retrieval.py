"""The one retrieval module: item sets, the three sources, and the user cases of recommend."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import likewise
from likewise.models._retrieval import ItemSets, Request, retrieve
from likewise.models.base import top_n_reference
from likewise.testing import contract_data

N_ITEMS = 12
row_sets = st.lists(st.lists(st.integers(0, N_ITEMS - 1), max_size=6), min_size=1, max_size=5)


def _as_lists(sets: ItemSets):
    return [sets.indices[sets.indptr[r]:sets.indptr[r + 1]].tolist() for r in range(sets.n_rows)]


@given(row_sets, row_sets)
def test_item_sets_union_and_take(a, b):
    b = (b * len(a))[:len(a)]
    left, right = ItemSets.from_lists(a), ItemSets.from_lists(b)
    assert _as_lists(left) == [sorted(set(x)) for x in a]
    assert _as_lists(left.union(right)) == [sorted(set(x) | set(y)) for x, y in zip(a, b)]
    rows = np.arange(len(a))[::-1]
    assert _as_lists(left.take(rows)) == [sorted(set(a[r])) for r in rows]


def test_rows_of_a_csr_matrix():
    m = sp.random(20, N_ITEMS, density=0.3, format="csr", random_state=0)
    for rows in ([3], [0, 5, 5, 19], []):
        sets = ItemSets.rows_of(m, np.array(rows, dtype=np.int64))
        assert _as_lists(sets) == [m[r].indices.tolist() for r in rows]


def _reference(scores, skip_lists, cand_lists, n, allowed=None):
    scores = scores.astype(np.float32).copy()
    if allowed is not None:
        scores[:, ~allowed] = -np.inf
    for r, skip in enumerate(skip_lists):
        scores[r, skip] = -np.inf
        if cand_lists is not None:
            allowed = np.zeros(scores.shape[1], bool)
            allowed[cand_lists[r]] = True
            scores[r, ~allowed] = -np.inf
    return top_n_reference(scores, n)


@settings(max_examples=60, deadline=None)
@given(row_sets, st.booleans(), st.integers(1, N_ITEMS), st.integers(0, 2**16))
def test_scores_and_ranked_sources_agree_with_the_reference(skips, use_cand, n, seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 5, size=(len(skips), N_ITEMS)).astype(np.float32)  # many ties
    cand_lists = [rng.choice(N_ITEMS, 6, replace=False).tolist() for _ in skips] \
        if use_cand else None
    allowed = rng.random(N_ITEMS) < 0.8 if seed % 2 else None  # a model's trained items
    request = Request(n, N_ITEMS, ItemSets.from_lists(skips),
                      ItemSets.from_lists(cand_lists) if use_cand else None, allowed)
    want = _reference(scores, skips, cand_lists, n, allowed)
    got = retrieve(request, scores=scores)
    np.testing.assert_array_equal(got[0], want[0])
    # a best-first list of every item filtered by the same request gives the same lists
    order = np.argsort(-scores, axis=1, kind="stable")
    ranked = retrieve(request, ranked=(order, np.take_along_axis(scores, order, axis=1)))
    np.testing.assert_array_equal(ranked[0], want[0])
    np.testing.assert_array_equal(ranked[1], want[1])


def test_index_source_over_fetches_past_skipped_items():
    from likewise import index

    rng = np.random.default_rng(0)
    items = rng.normal(size=(30, 4)).astype(np.float32)
    users = rng.normal(size=(3, 4)).astype(np.float32)
    exact = index.build(items, metric="dot")
    scores = users @ items.T
    skip = [np.argsort(-s)[:5].tolist() for s in scores]  # the five best are all skipped
    request = Request(4, 30, ItemSets.from_lists(skip))
    got = retrieve(request, index=exact, vectors=users, offset=np.array([0, 1, 2], np.float32))
    want = _reference(scores, skip, None, 4)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1] + np.array([[0], [1], [2]]), rtol=1e-5)


def test_exactly_one_source():
    request = Request(2, 3, ItemSets.empty(1))
    with pytest.raises(ValueError, match="exactly one"):
        retrieve(request)
    with pytest.raises(ValueError, match="exactly one"):
        retrieve(request, scores=np.zeros((1, 3)), ranked=(np.zeros((1, 3)), np.zeros((1, 3))))


@pytest.mark.parametrize("make", [
    lambda: likewise.ItemKNN(k=20),
    lambda: likewise.EASE(lambda_=50.0),
    lambda: likewise.ImplicitALS(factors=8, iterations=3, random_state=0),
])
def test_known_warm_and_cold_users(make):
    data = contract_data("implicit")
    model = make().fit(data)
    history = data.items.ids[[0, 3, 7, 11]]
    known = data.users.ids[0]
    recs = model.recommend([known, "new-user", "nobody"] if not data.users.is_integer
                           else [known, -5, -6], n=5, histories={-5: history, "new-user": history})
    assert recs.cases.tolist() == ["known", "warm", "cold"]
    assert recs.fallback.tolist() == [False, False, True]
    alone = model.recommend_from_history(history, n=5)
    np.testing.assert_array_equal(recs.item_indices[1], alone.item_indices[0])
    np.testing.assert_allclose(recs.scores[1], alone.scores[0], rtol=1e-6)
    np.testing.assert_array_equal(recs.item_indices[0],
                                  model.recommend([known], n=5).item_indices[0])
    np.testing.assert_array_equal(recs.item_indices[2],
                                  model.recommend([-6], n=5).item_indices[0])
    with pytest.raises(likewise.UnknownUserError):
        model.recommend([-5, -6], histories={-5: history}, on_unknown="raise")
    # a warm user's own history is excluded, like a known user's seen items
    assert not set(recs.items[1].tolist()) & set(history.tolist())


class _NoFoldIn(likewise.Recommender):
    """A minimal model without the fold-in hook."""

    def _fit(self, data):
        pass

    def _score(self, user_idx):
        return np.broadcast_to(self.item_popularity_, (len(user_idx), self.n_items))


def test_models_that_cannot_fold_in_treat_warm_users_as_cold():
    data = contract_data("explicit")
    model = _NoFoldIn().fit(data)
    assert not model.can_fold_in
    recs = model.recommend([-1], n=3, histories={-1: data.items.ids[:3]})
    assert recs.cases.tolist() == ["cold"] and recs.fallback.tolist() == [True]


def test_histories_must_be_a_mapping():
    data = contract_data("explicit")
    model = likewise.SVD(factors=4, epochs=2, random_state=0).fit(data)
    with pytest.raises(likewise.ConfigError, match="histories must be a mapping"):
        model.recommend([-1], histories=[1, 2])
    recs = model.recommend([-1, -2], n=3, histories={-1: ([50, 172], [5, 4]), -2: [999999]})
    assert recs.cases.tolist() == ["warm", "cold"]  # -2's history has no known item


def test_fit_and_load_build_the_id_lookups(tmp_path):
    """The vocabularies' hash tables exist before the first query (no lazy build in it)."""
    data = contract_data("implicit")
    data.users._index = data.items._index = None  # as a freshly read vocabulary has
    model = likewise.EASE(lambda_=50.0).fit(data)
    assert model.users_._index is not None and model.items_._index is not None
    model.save(tmp_path / "m")
    loaded = likewise.load(tmp_path / "m")
    assert loaded.users_._index is not None and loaded.items_._index is not None
