"""Factor models answer recommend / similar_items through a likewise.index (issue 7)."""

import numpy as np
import pytest

import likewise
from likewise.testing import contract_data


def _overlap(a, b):
    hits = [len(set(x[x >= 0]) & set(y[y >= 0])) / max(1, (y >= 0).sum())
            for x, y in zip(a, b)]
    return float(np.mean(hits))


@pytest.fixture(scope="module")
def implicit_data():
    return likewise.datasets.movielens("100k").as_implicit()


@pytest.mark.parametrize("make", [
    lambda: likewise.ImplicitALS(factors=32, iterations=5, regularization=20.0, random_state=0),
    lambda: likewise.BPR(factors=32, epochs=10, random_state=0),
])
def test_exact_index_equals_the_exact_path(implicit_data, make):
    model = make().fit(implicit_data)
    users = implicit_data.users.ids[:200]
    plain = model.recommend(users, n=10)
    model.prepare(index="exact")
    indexed = model.recommend(users, n=10, index="exact")
    # the same lists (ties aside); scores equal the model's own scores
    assert _overlap(indexed.item_indices, plain.item_indices) > 0.99
    np.testing.assert_allclose(indexed.scores[:, 0], plain.scores[:, 0], rtol=1e-4, atol=1e-4)
    seen = implicit_data.matrix
    for row, u in enumerate(implicit_data.users.index(users)):
        got = set(indexed.item_indices[row].tolist())
        assert not got & set(seen.indices[seen.indptr[u]:seen.indptr[u + 1]].tolist())


def test_hnsw_index_keeps_recall_and_exclusions(implicit_data):
    model = likewise.ImplicitALS(factors=32, iterations=5, regularization=20.0,
                                 random_state=0).fit(implicit_data)
    users = implicit_data.users.ids[:300]
    plain = model.recommend(users, n=10)
    model.build_index("hnsw", M=16, ef=200, ef_construction=200)
    fast = model.recommend(users, n=10, index="hnsw")
    assert _overlap(fast.item_indices, plain.item_indices) >= 0.9
    banned = plain.items[0][:3]
    again = model.recommend(users[:1], n=10, index="hnsw", exclude=banned)
    assert not set(banned.tolist()) & set(again.items[0].tolist())


def test_biased_models_fold_biases_into_the_index():
    data = contract_data("explicit")
    model = likewise.SVD(factors=16, epochs=5, random_state=0).fit(data)
    users = data.users.ids[:50]
    plain = model.recommend(users, n=5)
    model.prepare(index="exact", warm=False)
    indexed = model.recommend(users, n=5, index="exact")
    assert _overlap(indexed.item_indices, plain.item_indices) > 0.99
    np.testing.assert_allclose(indexed.scores, plain.scores, rtol=1e-4, atol=1e-3)


def test_similar_items_through_an_index(implicit_data):
    model = likewise.ImplicitALS(factors=32, iterations=5, regularization=20.0,
                                 random_state=0).fit(implicit_data)
    plain = model.similar_items([50, 172, 1], n=10)
    model.prepare(similar_index="exact")
    via = model.similar_items([50, 172, 1], n=10, index="exact")
    assert _overlap(via.item_indices, plain.item_indices) > 0.99
    assert 50 not in via.items[0]


def test_index_needs_a_factor_model():
    data = contract_data("explicit")
    model = likewise.Baseline().fit(data)
    with pytest.raises(likewise.UnsupportedError, match="not a factor model"):
        model.recommend(data.users.ids[:2], index="hnsw")
    with pytest.raises(likewise.ConfigError, match="backend name"):
        likewise.SVD(factors=4, epochs=1).fit(data).recommend(data.users.ids[:2], index=3)


def test_queries_never_build_an_index():
    """An index is built by prepare (or build_index), never inside a query."""
    data = contract_data("implicit")
    model = likewise.ImplicitALS(factors=8, iterations=2, random_state=0).fit(data)
    users = data.users.ids[:3]
    with pytest.raises(likewise.ConfigError, match=r"prepare\(index='exact'\)"):
        model.recommend(users, index="exact")
    with pytest.raises(likewise.ConfigError, match=r"prepare\(similar_index='exact'\)"):
        model.similar_items(data.items.ids[:2], index="exact")
    assert not [k for k in vars(model) if k.endswith("_index")]
    model.prepare(index="exact", similar_index="exact")
    assert model.recommend(users, index="exact").items.shape == (3, 10)
    with pytest.raises(likewise.ConfigError, match="backend name"):
        model.prepare(index="nope")


def test_prepare_makes_the_first_query_no_slower_than_later_ones():
    """prepare(warm=True) runs every entry point once, so nothing new is compiled or
    cached by the first real query (checked through numba's dispatcher signatures)."""
    from likewise.models import _topk

    data = contract_data("implicit")
    model = likewise.EASE(lambda_=100.0).fit(data).prepare()
    kernels = [getattr(_topk, name) for name in dir(_topk)
               if hasattr(getattr(_topk, name), "signatures")]
    before = {k: len(k.signatures) for k in kernels}
    state = set(vars(model))
    model.recommend(data.users.ids[:1], n=10)
    model.recommend(data.users.ids[:50], n=10)
    model.similar_items(data.items.ids[:1], n=10)
    model.recommend_from_history(data.items.ids[:3], n=10)
    assert {k: len(k.signatures) for k in kernels} == before
    assert set(vars(model)) == state
