import numpy as np
import pytest

import likewise
from likewise import splits
from likewise.datasets import movielens
from likewise.models.ease import EASE
from likewise.testing import RecommenderContract, contract_data


class TestEASE(RecommenderContract):
    kind = "implicit"
    can_fold_in = can_similar_items = True
    invalid_params = [dict(lambda_=0.0), dict(dtype="float16"), dict(max_memory=0)]

    def make_model(self, **params):
        return EASE(**{"lambda_": 100.0, **params})


class TestEASEExplicit(RecommenderContract):
    kind = "explicit"
    can_fold_in = can_similar_items = True

    def make_model(self, **params):
        return EASE(**{"lambda_": 100.0, "dtype": "float32", **params})


def test_closed_form_matches_definition():
    # B = argmin ||X - XB||^2 + lambda ||B||^2 with diag(B) = 0, checked via the KKT
    # conditions: (G + lambda I) B - G = -diag(mu) with G = X^T X.
    data = contract_data("implicit").filter(top_items=40)
    X = data.matrix.toarray().astype(np.float64)
    X[X > 0] = 1
    model = EASE(lambda_=10.0).fit(data)
    B = model.weights_.astype(np.float64)
    assert np.allclose(np.diag(B), 0)
    G = X.T @ X
    resid = (G + 10.0 * np.eye(len(G))) @ B - G
    off = resid - np.diag(np.diag(resid))
    assert np.abs(off).max() < 1e-3 * np.abs(G).max()


def test_refuses_when_item_matrix_too_large():
    data = contract_data("implicit")
    n = data.n_items
    with pytest.raises(likewise.ConfigError, match=rf"{n} items need.*GiB.*max_memory"):
        EASE(max_memory=n * n * 8 - 1).fit(data)
    EASE(max_memory=n * n * 8).fit(data)  # exactly enough is accepted


def test_history_scores_equal_user_scores():
    data = contract_data("implicit")
    model = EASE(lambda_=50.0).fit(data)
    u = 4
    sl = slice(data.matrix.indptr[u], data.matrix.indptr[u + 1])
    np.testing.assert_allclose(model._score_history(data.matrix.indices[sl], data.matrix.data[sl]),
                               model._score(np.array([u]))[0], rtol=1e-5, atol=1e-5)


def test_float32_agrees_with_float64():
    data = contract_data("implicit")
    a = EASE(lambda_=50.0).fit(data).weights_
    b = EASE(lambda_=50.0, dtype="float32").fit(data).weights_
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_ease_ranking_quality():
    # measured NDCG@10 = 0.447 on this split (the reference numpy EASE: ~0.44)
    from likewise.metrics import ndcg_at_k

    data = movielens("100k").as_implicit()
    train, test = splits.user_holdout(data, test_size=0.2, random_state=0)
    model = EASE(lambda_=500.0).fit(train)
    recs = model.recommend(train.users.ids, n=10)
    assert ndcg_at_k(recs.item_indices, test.matrix, k=10) >= 0.44
