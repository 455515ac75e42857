"""ApproxUserKNN: the model contract, a plain reference of its scoring, and ANN quality."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import likewise
from likewise.models.approx_knn import ApproxUserKNN
from likewise.testing import RecommenderContract, contract_data

needs_annoy = pytest.mark.skipif(importlib.util.find_spec("annoy") is None,
                                 reason="annoy not installed")
needs_hnsw = pytest.mark.skipif(importlib.util.find_spec("hnswlib") is None,
                                reason="hnswlib not installed")


@needs_annoy
class TestApproxUserKNN(RecommenderContract):
    kind = "implicit"
    can_fold_in = can_similar_items = has_item_vectors = True
    invalid_params = [dict(k=0), dict(factors=0), dict(factors=10_000), dict(backend="kdtree"),
                      dict(n_trees=0), dict(search_k=0), dict(index_params=[1])]

    def make_model(self, **params):
        return ApproxUserKNN(**{"k": 10, "factors": 8, **params})


@needs_hnsw
class TestApproxUserKNNHnsw(RecommenderContract):
    kind = "explicit"
    can_fold_in = can_similar_items = has_item_vectors = True

    def make_model(self, **params):
        return ApproxUserKNN(**{"k": 10, "factors": 8, "backend": "hnsw", **params})


def reference_scores(model: ApproxUserKNN, user_idx: np.ndarray) -> np.ndarray:
    """Plain NumPy: exact cosine neighbours in the SVD space, then dense weighted votes."""
    vecs = model.user_vectors_.astype(np.float64)
    unit = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-30)
    sims = unit[user_idx] @ unit.T
    sims[np.arange(len(user_idx)), user_idx] = -np.inf
    binary = (model.user_items_.toarray() != 0).astype(np.float64)
    out = []
    for sim in sims:
        nbrs = np.argsort(-sim, kind="stable")[: model.k]
        w = np.clip(sim[nbrs], 0, None)
        votes = w @ binary[nbrs]
        pop = model.item_popularity_
        out.append(np.where(votes > 0, votes, pop / (pop.max() + 1) - 1))
    return np.array(out)


def test_exact_backend_matches_reference():
    data = contract_data("implicit")
    model = ApproxUserKNN(k=15, factors=10, backend="exact", random_state=0).fit(data)
    users = np.arange(0, data.n_users, 7)
    np.testing.assert_allclose(model._score(users), reference_scores(model, users),
                               rtol=1e-4, atol=1e-4)


@needs_annoy
def test_annoy_neighbours_close_to_exact_on_movielens():
    data = likewise.datasets.movielens("100k")
    approx = ApproxUserKNN(k=10, factors=40, random_state=0).fit(data)
    exact = ApproxUserKNN(k=10, factors=40, backend="exact", random_state=0).fit(data)
    np.testing.assert_array_equal(approx.user_vectors_, exact.user_vectors_)
    users = data.users.ids
    recall = likewise.index.recall(approx.neighbours(users).ids, exact.neighbours(users).ids,
                                   k=10)
    assert recall >= 0.9
    a = approx.recommend(users[:200], n=10).item_indices
    e = exact.recommend(users[:200], n=10).item_indices
    assert likewise.index.recall(a, e, k=10) >= 0.85


def test_history_equals_training_user_without_self():
    data = contract_data("implicit")
    model = ApproxUserKNN(k=10, factors=8, backend="exact", random_state=1).fit(data)
    u = 5
    items = data.items.ids_of(data.matrix.indices[data.matrix.indptr[u]:data.matrix.indptr[u + 1]])
    from_history = model.recommend_from_history(items, n=10)
    # the history projects onto the user's own vector, so the nearest "user" is the user
    own = model.neighbours(data.users.ids[[u]], k=1)
    assert from_history.items.shape == (1, 10)
    assert own.ids.shape == (1, 1)
    nearest = model._cache_index.query(model.components_[:, data.matrix.indices[
        data.matrix.indptr[u]:data.matrix.indptr[u + 1]]].sum(axis=1), k=1)
    assert nearest.positions[0, 0] == u
