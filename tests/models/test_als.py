import numpy as np
import pytest
import scipy.sparse as sp

from likewise import splits
from likewise.datasets import movielens
from likewise.models import _mf_kernels as K
from likewise.models.als import ALS, ImplicitALS, bm25_weight
from likewise.testing import RecommenderContract, contract_data


class TestImplicitALS(RecommenderContract):
    kind = "implicit"
    can_fold_in = can_similar_items = has_item_vectors = can_index = True
    invalid_params = [dict(factors=0), dict(iterations=0), dict(alpha=-1.0),
                      dict(weighting="tfidf"), dict(regularization=-0.1)]

    def make_model(self, **params):
        return ImplicitALS(**{"factors": 8, "iterations": 5, **params})


class TestImplicitALSBM25(RecommenderContract):
    kind = "implicit"
    can_fold_in = can_similar_items = has_item_vectors = can_index = True

    def make_model(self, **params):
        return ImplicitALS(**{"factors": 8, "iterations": 5, "weighting": "bm25", **params})


class TestALS(RecommenderContract):
    kind = "explicit"
    can_predict_ratings = can_fold_in = can_similar_items = has_item_vectors = True
    can_index = True
    invalid_params = [dict(factors=0), dict(regularization=0.0), dict(num_threads=-2)]

    def make_model(self, **params):
        return ALS(**{"factors": 8, "iterations": 5, **params})


def _small(kind="implicit"):
    return contract_data(kind).filter(top_users=40, top_items=60)


def test_cg_kernel_matches_reference():
    data = _small()
    m = data.matrix
    conf = (1.0 + 3.0 * m.data).astype(np.float32)
    rng = np.random.default_rng(0)
    X = rng.random((data.n_users, 5), dtype=np.float32) * 0.1
    Y = rng.random((data.n_items, 5), dtype=np.float32)
    YtY = K.gram(Y, 0.1)
    np.testing.assert_allclose(YtY, Y.T.astype(np.float64) @ Y + 0.1 * np.eye(5), rtol=1e-5)
    X_ref = X.astype(np.float64)
    K.als_cg(m.indptr, m.indices, conf, X, Y, YtY, 3)
    K.als_cg_reference(m.indptr, m.indices, conf, X_ref, Y, YtY.astype(np.float64), 3)
    np.testing.assert_allclose(X, X_ref, rtol=2e-3, atol=1e-4)


def test_cg_kernel_zeroes_empty_rows():
    # a row without observed entries has b = 0: its exact solution is 0 (as implicit sets it)
    data = _small()
    m = data.matrix.tolil()
    m[[2, 5]] = 0
    m = m.tocsr()
    m.eliminate_zeros()
    assert np.diff(m.indptr)[[2, 5]].tolist() == [0, 0]
    conf = (1.0 + 3.0 * m.data).astype(np.float32)
    rng = np.random.default_rng(0)
    X = rng.random((data.n_users, 5), dtype=np.float32) + 0.5
    Y = rng.random((data.n_items, 5), dtype=np.float32)
    YtY = K.gram(Y, 0.1)
    X_ref = X.astype(np.float64)
    K.als_cg(m.indptr, m.indices, conf, X, Y, YtY, 3)
    K.als_cg_reference(m.indptr, m.indices, conf, X_ref, Y, YtY.astype(np.float64), 3)
    assert not X[[2, 5]].any() and not X_ref[[2, 5]].any()
    assert np.abs(X[[0, 1, 3]]).min() > 0
    np.testing.assert_allclose(X, X_ref, rtol=2e-3, atol=1e-4)


def test_implicit_als_rejects_negative_values():
    from likewise.data.interactions import Interactions
    from likewise.errors import DataError

    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 30, 300), rng.integers(0, 20, 300)
    values = rng.normal(size=300).astype(np.float32)
    data = Interactions.from_arrays(users, items, values)
    with pytest.raises(DataError, match="non-negative"):
        ImplicitALS(factors=4, alpha=40.0, random_state=0).fit(data)
    # log weighting clips at 0, so the same data fits (and stays bounded)
    model = ImplicitALS(factors=4, alpha=40.0, weighting="log", random_state=0).fit(data)
    # the fitted preferences stay near the 0/1 targets (without the check: factors ~1e5)
    assert np.abs(model.user_factors_ @ model.item_factors_.T).max() < 3  # measured 1.45
    with pytest.raises(DataError, match="non-negative"):
        ImplicitALS(factors=4, random_state=0).fit(data.as_implicit()).recommend_from_history(
            data.items.ids[:2], [1.0, -2.0])


def test_alpha_convention_shift():
    # on binary data c = 1 + alpha r with alpha = a - 1 is implicit's c = a r: the kernel sees
    # the same confidences, so the fit equals a direct solve with conf = a
    data = _small().as_implicit()
    m = data.matrix
    model = ImplicitALS(factors=5, iterations=3, alpha=4.0, regularization=0.5,
                        random_state=3, num_threads=1).fit(data)
    rng = np.random.default_rng(3)
    X = rng.random((data.n_users, 5), dtype=np.float32) * 0.01
    Y = rng.random((data.n_items, 5), dtype=np.float32) * 0.01
    ciu = m.T.tocsr()
    for _ in range(3):
        K.als_cg(m.indptr, m.indices, np.full(m.nnz, 5.0, np.float32), X, Y, K.gram(Y, 0.5), 3)
        K.als_cg(ciu.indptr, ciu.indices, np.full(m.nnz, 5.0, np.float32), Y, X, K.gram(X, 0.5), 3)
    np.testing.assert_allclose(model.user_factors_, X, rtol=1e-5, atol=1e-7)


def test_cg_converges_to_exact_solution():
    # with enough CG steps the update equals the exact least-squares solve used by fold-in
    data = _small()
    m = data.matrix
    conf = (1.0 + 2.0 * m.data).astype(np.float64)
    rng = np.random.default_rng(1)
    Y = rng.random((data.n_items, 4), dtype=np.float32)
    YtY = K.gram(Y, 0.5)
    X = np.zeros((data.n_users, 4), np.float32)
    K.als_cg(m.indptr, m.indices, conf.astype(np.float32), X, Y, YtY, 20)
    u = 3
    sl = slice(m.indptr[u], m.indptr[u + 1])
    exact = K.implicit_fold_in(m.indices[sl], conf[sl], Y, YtY.astype(np.float64))
    np.testing.assert_allclose(X[u], exact, rtol=1e-3, atol=1e-4)


def _objective(m, X, Y, alpha, reg):
    # full HKV objective: sum over all cells c_ui (p_ui - x_u.y_i)^2 + reg (|X|^2 + |Y|^2)
    pred = X.astype(np.float64) @ Y.T
    P = m.toarray() > 0
    C = 1.0 + alpha * m.toarray()
    return float((C * (P - pred) ** 2).sum() + reg * ((X ** 2).sum() + (Y ** 2).sum()))


def test_implicit_als_objective_decreases_and_threads_agree():
    data = _small()
    objs = []
    for it in (1, 2, 4, 8):
        model = ImplicitALS(factors=6, iterations=it, alpha=2.0, regularization=0.1,
                            random_state=0, num_threads=1).fit(data)
        objs.append(_objective(data.matrix, model.user_factors_, model.item_factors_, 2.0, 0.1))
    assert all(b <= a * (1 + 1e-4) for a, b in zip(objs, objs[1:])), objs
    threaded = ImplicitALS(factors=6, iterations=8, alpha=2.0, regularization=0.1,
                           random_state=0, num_threads=2).fit(data)
    np.testing.assert_allclose(threaded.user_factors_, model.user_factors_, rtol=1e-5,
                               atol=1e-6)


def test_ridge_kernel_matches_reference():
    data = _small("explicit")
    m = data.matrix
    rng = np.random.default_rng(0)
    F = rng.normal(size=(data.n_items, 5)).astype(np.float32)
    target = (m.data - 3.5).astype(np.float32)
    for weighted in (True, False):
        out = np.empty((data.n_users, 5), np.float32)
        ref = np.empty((data.n_users, 5), np.float64)
        K.ridge_rows(m.indptr, m.indices, target, F, 0.1, weighted, out)
        K.ridge_rows_reference(m.indptr, m.indices, target, F, 0.1, weighted, ref)
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


def test_bm25_weighting():
    m = sp.csr_matrix(np.array([[1, 0, 3], [0, 2, 1]], dtype=np.float32))
    w, norm = bm25_weight(m, k1=100, b=0.8)
    sums = np.array([1, 2, 4.0])
    expected_norm = 0.2 + 0.8 * sums / sums.mean()
    np.testing.assert_allclose(norm, expected_norm, rtol=1e-6)
    idf = np.log(3) - np.log1p(2)
    assert w[0, 2] == pytest.approx(3 * 101 / (100 * expected_norm[2] + 3) * idf, rel=1e-5)


def test_implicit_als_fold_in_matches_training_solve():
    # fold-in of a training user's own history reproduces (approximately) its factors
    data = contract_data("implicit")
    model = ImplicitALS(factors=8, iterations=10, cg_steps=8, random_state=0).fit(data)
    u = 7
    sl = slice(data.matrix.indptr[u], data.matrix.indptr[u + 1])
    scores = model._score_history(data.matrix.indices[sl], data.matrix.data[sl])
    np.testing.assert_allclose(scores, model._score(np.array([u]))[0], rtol=0.05, atol=0.02)


def _ndcg10(model, train, test):
    from likewise.metrics import ndcg_at_k

    users = np.flatnonzero(np.diff(test.matrix.indptr) > 0)
    recs = model.recommend(train.users.ids[users], n=10)
    return ndcg_at_k(recs.item_indices, test.matrix[users], k=10)


@pytest.fixture(scope="module")
def topn_split():
    data = movielens("100k").as_implicit()
    return splits.user_holdout(data, test_size=0.2, random_state=0)


def test_implicit_als_ranking_quality(topn_split):
    # measured NDCG@10 = 0.364 on this split
    train, test = topn_split
    model = ImplicitALS(factors=64, iterations=10, regularization=0.05, alpha=1.0,
                        random_state=0).fit(train)
    assert _ndcg10(model, train, test) > 0.35


def test_explicit_als_accuracy():
    # measured RMSE 0.920 on this split (0.914 with 50 factors)
    train, test = splits.holdout(movielens("100k"), test_size=0.2, random_state=42)
    model = ALS(factors=20, iterations=10, regularization=0.1, random_state=0).fit(train)
    frame = test.to_frame()
    est = model.predict(frame["user"].to_numpy(), frame["item"].to_numpy())
    assert float(np.sqrt(np.mean((est - frame["rating"].to_numpy()) ** 2))) < 0.93
