"""UserKNN / ItemKNN: contract, agreement with the NumPy references, accuracy on ML-100K."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import likewise
from likewise import splits
from likewise.errors import ConfigError
from likewise.models import _knn_kernels as K
from likewise.models.knn import ItemKNN, UserKNN, _csr_parts, _top_k_rows, item_weights
from likewise.testing import RecommenderContract


# ---------------------------------------------------------------------------------------
# conformance
# ---------------------------------------------------------------------------------------
class TestItemKNNExplicit(RecommenderContract):
    kind = "explicit"
    can_predict_ratings = can_fold_in = can_similar_items = can_explain = True
    can_similar_users = True
    invalid_params = [dict(k=0), dict(min_k=0), dict(similarity="euclid"),
                      dict(prediction="median"), dict(shrinkage=-1.0),
                      dict(min_support=0), dict(mode="ratings"), dict(similarity="bm25")]

    def make_model(self, **params):
        return ItemKNN(**{"k": 20, **params})


class TestUserKNNExplicit(RecommenderContract):
    kind = "explicit"
    can_predict_ratings = can_fold_in = can_similar_items = can_explain = True
    can_similar_users = True
    invalid_params = [dict(k=0), dict(min_k=50, similarity="pearson")]

    def make_model(self, **params):
        return UserKNN(**{"similarity": "pearson", "prediction": "zscore", "k": 20, **params})


class TestItemKNNImplicit(RecommenderContract):
    kind = "implicit"
    can_fold_in = can_similar_items = can_explain = can_similar_users = True
    invalid_params = [dict(k=0), dict(similarity="pearson"), dict(prediction="baseline"),
                      dict(mode="explicit"), dict(bm25_b=2.0)]

    def make_model(self, **params):
        return ItemKNN(**{"k": 30, **params})


class TestUserKNNImplicit(RecommenderContract):
    kind = "implicit"
    can_fold_in = can_similar_items = can_explain = can_similar_users = True
    invalid_params = [dict(k=0), dict(similarity="msd"), dict(shrinkage=5.0)]

    def make_model(self, **params):
        return UserKNN(**{"k": 25, **params})


# ---------------------------------------------------------------------------------------
# kernels against the references
# ---------------------------------------------------------------------------------------
def _random_ratings(seed, n_x=40, n_y=30, density=0.3):
    rng = np.random.default_rng(seed)
    mask = rng.random((n_x, n_y)) < density
    values = rng.integers(1, 6, size=(n_x, n_y)).astype(np.float64)
    return np.where(mask, values, 0.0), mask


def _kernel_dense(values, mask, metric, k, min_support=1, shrinkage=0.0):
    x = sp.csr_matrix(np.where(mask, values, 0.0))
    # explicit zeros matter for transformed values: build the pattern from the mask
    rows, cols = np.nonzero(mask)
    x = sp.csr_matrix((values[rows, cols], (rows, cols)), shape=mask.shape)
    x.sort_indices()
    t = sp.csr_matrix(x.T)
    t.sort_indices()
    qi, qx, qv = _csr_parts(x)
    ti, tx, tv = _csr_parts(t)
    idx, s, cnt = _top_k_rows(qi, qx, qv, np.arange(x.shape[0]), ti, tx, tv,
                              np.diff(x.indptr), x.shape[0], metric, k, min_support, shrinkage)
    out = np.zeros((x.shape[0], x.shape[0]))
    for r in range(x.shape[0]):
        out[r, idx[r, :cnt[r]]] = s[r, :cnt[r]]
    return out


@pytest.mark.parametrize("metric", [K.DOT, K.COSINE, K.PEARSON, K.MSD, K.JACCARD,
                                    K.BINARY_COSINE])
@pytest.mark.parametrize("k", [5, 100])
def test_similarity_kernel_matches_reference(metric, k):
    values, mask = _random_ratings(metric * 10 + k)
    if metric == K.COSINE:  # centred values exercise negative similarities
        values = np.where(mask, values - 3.0, 0.0)
    got = _kernel_dense(values, mask, metric, k, min_support=2, shrinkage=3.0)
    want = K.reference_top_k(K.reference_similarity(values, mask, metric, 2, 3.0), k)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rule", [K.WEIGHTED_AVERAGE, K.MEAN_CENTERED, K.ZSCORE, K.BASELINE])
def test_prediction_kernel_matches_reference(rule):
    values, mask = _random_ratings(7, 30, 25, 0.4)
    sim = K.reference_similarity(values, mask, K.PEARSON)
    rng = np.random.default_rng(rule)
    x_mean = rng.normal(3, 0.3, 30)
    x_sigma = rng.uniform(0.5, 1.5, 30)
    x_bias = rng.normal(0, 0.3, 30)
    y_bias = rng.normal(0, 0.3, 25)
    cand = sp.csr_matrix(np.where(mask, values, 0.0).T)  # y -> x that rated y
    cand.sort_indices()
    ci, cx, cv = _csr_parts(cand)
    nbrs = sp.csr_matrix(sim.astype(np.float32))
    ni, nx, nv = _csr_parts(nbrs)
    xs, ys = np.meshgrid(np.arange(30), np.arange(25), indexing="ij")
    xs, ys = xs.ravel(), ys.ravel()
    for dense in (sim.astype(np.float32), np.zeros((0, 0), np.float32)):
        out = np.empty(len(xs))
        out_k = np.empty(len(xs), np.int64)
        K.predict_pairs(K.chunk_bounds(len(xs), 64), xs, ys, ci, cx, cv, ni, nx, nv, dense,
                        4, 2, rule, 3.2, x_mean, x_sigma, x_bias, y_bias, out, out_k,
                        int(np.diff(ci).max()))
        for p in range(len(xs)):
            x, y = xs[p], ys[p]
            lo, hi = cand.indptr[y], cand.indptr[y + 1]
            want, pos, _ = K.reference_predict(
                x, y, cand.indices[lo:hi], cand.data[lo:hi], sim[x].astype(np.float32), 4, 2,
                rule, 3.2, x_mean, x_sigma, x_bias, y_bias[y])
            np.testing.assert_allclose(out[p], want, rtol=1e-6, atol=1e-6, equal_nan=True)
            assert out_k[p] == len(pos)


def test_votes_kernel_matches_reference():
    rng = np.random.default_rng(3)
    liked = rng.random((50, 40)) < 0.2
    sim = K.reference_similarity(liked.astype(float), liked, K.JACCARD)
    ui = sp.csr_matrix(liked.astype(np.float32))
    iu = sp.csr_matrix(ui.T)
    qi, qx, qv = _csr_parts(ui)
    ti, tx, tv = _csr_parts(iu)
    idx, s, cnt = _top_k_rows(qi, qx, qv, np.arange(50), ti, tx, tv, np.diff(ui.indptr), 50,
                              K.JACCARD, 7)
    out = np.zeros((50, 40), np.float32)
    K.neighbor_votes(K.chunk_bounds(50, 8), idx, s, cnt, *(_csr_parts(ui)[:2]), out)
    np.testing.assert_allclose(out, K.reference_votes(sim, liked, 7), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------
# MovieLens 100K: accuracy and agreement with the reference end to end
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ml_split():
    data = likewise.datasets.movielens("100k")
    return splits.holdout(data, test_size=0.2, random_state=0)


def _rmse(model, split):
    frame = split.test.to_frame()
    est = model.predict(frame["user"].to_numpy(), frame["item"].to_numpy())
    return float(np.sqrt(np.mean((est - frame["rating"].to_numpy()) ** 2)))


@pytest.mark.parametrize("cls, params, bound", [
    # Surprise 1.1.5 5-fold CV on ML-100K: KNNBaseline item pearson_baseline ~0.918,
    # KNNWithMeans user msd ~0.951, KNNBasic user cosine ~1.017, item cosine ~1.029
    (ItemKNN, dict(similarity="pearson_baseline", prediction="baseline"), 0.93),
    (UserKNN, dict(similarity="msd", prediction="mean_centered"), 0.96),
    (UserKNN, dict(similarity="cosine", prediction="weighted_average"), 1.03),
    (ItemKNN, dict(similarity="cosine", prediction="weighted_average"), 1.04),
    (UserKNN, dict(similarity="pearson", prediction="zscore"), 0.965),
    (ItemKNN, dict(similarity="adjusted_cosine", prediction="mean_centered"), 0.96),
    (UserKNN, dict(similarity="jaccard", prediction="baseline"), 0.95),
])
def test_movielens_rmse(ml_split, cls, params, bound):
    model = cls(**params).fit(ml_split.train)
    rmse = _rmse(model, ml_split)
    assert 0.85 < rmse < bound, rmse


def test_baseline_prediction_beats_plain_baseline(ml_split):
    knn = _rmse(ItemKNN().fit(ml_split.train), ml_split)
    base = _rmse(likewise.Baseline().fit(ml_split.train), ml_split)
    assert knn < base - 0.01, (knn, base)


def test_explicit_predictions_match_dense_reference(ml_split):
    """End to end on a corner of ML-100K: the fast path equals plain NumPy."""
    data = ml_split.train.filter(top_users=80, top_items=120)
    test = data.take(np.arange(0, data.nnz, 5))
    train = data.take(np.setdiff1d(np.arange(data.nnz), np.arange(0, data.nnz, 5)))
    for cls in (UserKNN, ItemKNN):
        model = cls(similarity="pearson", prediction="mean_centered", k=10, min_k=2).fit(train)
        m = train.matrix.toarray().astype(np.float64)
        mask = train.matrix.toarray() != 0
        if cls is ItemKNN:
            m, mask = m.T, mask.T
        sim = K.reference_similarity(m, mask, K.PEARSON)
        np.testing.assert_allclose(model._neighbors().toarray(), sim, atol=1e-5)
        counts = mask.sum(axis=1)
        means = np.where(counts > 0, m.sum(axis=1) / np.maximum(counts, 1), 0)
        frame = test.to_frame()
        u = model.users_.index(frame["user"].to_numpy())
        i = model.items_.index(frame["item"].to_numpy())
        got = model._predict_idx(u, i)
        for p in range(0, len(u), 7):
            x, y = (u[p], i[p]) if cls is UserKNN else (i[p], u[p])
            cand = np.flatnonzero(mask[:, y])
            want, _, _ = K.reference_predict(x, y, cand, m[cand, y], sim[x], 10, 2,
                                             K.MEAN_CENTERED, 0.0, np.where(counts > 0, means,
                                                                            model.x_mean_),
                                             model.x_sigma_, model.x_mean_, 0.0)
            np.testing.assert_allclose(got[p], want, rtol=1e-5, atol=1e-5)


def test_implicit_item_knn_matches_dense_reference():
    data = likewise.testing.contract_data("implicit")
    for name in ("bm25", "tfidf", "cosine"):
        model = ItemKNN(similarity=name, k=15).fit(data)
        w = sp.csr_matrix((item_weights(data.matrix, name), data.matrix.indices,
                           data.matrix.indptr), shape=data.matrix.shape).toarray()
        sim = K.reference_top_k(K.reference_similarity(w.T, w.T != 0, K.DOT), 15)
        np.testing.assert_allclose(model.neighbors_.toarray(), sim, rtol=1e-4, atol=1e-6)
        users = data.users.ids[:5]
        scores = model._score(data.users.index(users))
        want = data.matrix[data.users.index(users)].toarray() @ sim
        np.testing.assert_allclose(scores, want, rtol=1e-4, atol=1e-5)


def test_implicit_ranking_quality_movielens():
    from likewise.metrics import ndcg_at_k

    data = likewise.testing.contract_data("implicit")
    split = splits.user_holdout(data, test_size=0.2, random_state=0)
    test = split.test.matrix
    users = split.test.users.ids[np.diff(test.indptr) > 0]
    rel = test[split.test.users.index(users)]
    scores = {}
    for name, model in [("bm25", ItemKNN(k=50)), ("user", UserKNN(k=30)),
                        ("pop", likewise.Popularity())]:
        recs = model.fit(split.train).recommend(users, n=10)
        scores[name] = ndcg_at_k(recs.item_indices, rel, 10)
    assert scores["bm25"] > scores["pop"] + 0.02, scores
    assert scores["user"] > scores["pop"] + 0.02, scores


# ---------------------------------------------------------------------------------------
# the "image likes" recommender: string ids from a file of like pairs
# ---------------------------------------------------------------------------------------
def test_user_jaccard_on_string_like_pairs(tmp_path):
    likes = pd.DataFrame({
        "user_id": ["ann", "ann", "ann", "bob", "bob", "bob", "cat", "cat", "dan"],
        "item_id": ["img1", "img2", "img3", "img1", "img2", "img4", "img5", "img3", "img5"],
    })
    path = tmp_path / "likes.csv"
    likes.to_csv(path, index=False)
    frame = pd.read_csv(path)
    data = likewise.Interactions.from_arrays(frame["user_id"].to_numpy(),
                                             frame["item_id"].to_numpy())
    assert data.kind == "implicit"
    model = UserKNN(k=2).fit(data)
    recs = model.recommend(["ann"], n=3)
    # bob shares 2 of 4 liked images (jaccard 0.5), cat 1 of 4 (0.25)
    assert recs.items[0][0] == "img4"
    np.testing.assert_allclose(recs.scores[0][0], 0.5)
    assert recs.items[0][1] == "img5"
    np.testing.assert_allclose(recs.scores[0][1], 0.25)
    sims = model.similar_users(["ann"], n=2)
    assert sims.items[0].tolist() == ["bob", "cat"]
    why = model.explain("ann", "img4")
    assert why["neighbor"].tolist() == ["bob"]
    np.testing.assert_allclose(why["similarity"], [0.5])
    # a new visitor who liked img1 and img4: nearest is bob -> img2
    fresh = model.recommend_from_history(["img1", "img4"], n=1)
    assert fresh.items[0][0] == "img2"


def test_read_csv_like_file(tmp_path):
    path = tmp_path / "likes.csv"
    path.write_text("user,item\nu1,a\nu1,b\nu2,a\nu2,c\nu3,b\n")
    read_csv = getattr(likewise, "read_csv", None)
    data = read_csv(path)
    model = UserKNN().fit(data)
    assert model.recommend(["u1"], n=1).items[0][0] == "c"


# ---------------------------------------------------------------------------------------
# explain, neighbours, parameters
# ---------------------------------------------------------------------------------------
def test_explain_explicit_matches_prediction(ml_split):
    model = ItemKNN(similarity="cosine", prediction="weighted_average", k=10).fit(ml_split.train)
    user, item = ml_split.test.to_frame().iloc[0][["user", "item"]]
    why = model.explain(user, item)
    assert list(why.columns) == ["neighbor", "similarity", "value", "weight"]
    assert 1 <= len(why) <= 10
    np.testing.assert_allclose(why["weight"].sum(), 1.0, rtol=1e-6)
    est = float((why["weight"] * why["value"]).sum())
    np.testing.assert_allclose(why.attrs["score"], np.clip(est, 1, 5), rtol=1e-5)
    # every neighbour is an item the user rated
    rated = set(ml_split.train.to_frame().query("user == @user")["item"].tolist())
    assert set(why["neighbor"].tolist()) <= rated


def test_explain_implicit_item_knn_sums_to_score():
    data = likewise.testing.contract_data("implicit")
    model = ItemKNN(k=20).fit(data)
    user = data.users.ids[4]
    top = model.recommend([user], n=1)
    why = model.explain(user, top.items[0][0])
    np.testing.assert_allclose(why["weight"].sum(), top.scores[0][0], rtol=1e-4)


def test_similar_items_and_users_explicit(ml_split):
    model = ItemKNN(similarity="pearson_baseline").fit(ml_split.train)
    sims = model.similar_items([50, 181], n=5)  # Star Wars, Return of the Jedi
    assert sims.items.shape == (2, 5)
    assert 181 in sims.items[0].tolist() or 172 in sims.items[0].tolist()
    users = UserKNN(similarity="cosine").fit(ml_split.train).similar_users([1, 2], n=4)
    assert users.items.shape == (2, 4)
    assert 1 not in users.items[0].tolist()
    other = model.similar_users([1], n=3)
    assert other.items.shape == (1, 3) and not other.fallback.any()


def test_max_neighbors_bounds_memory(ml_split):
    model = UserKNN(similarity="cosine", max_neighbors=30).fit(ml_split.train)
    assert np.diff(model._neighbors().indptr).max() <= 30
    assert np.isfinite(_rmse(model, ml_split))


def test_forced_modes(ml_split):
    model = ItemKNN(mode="implicit", k=20).fit(ml_split.train)
    assert model.mode_ == "implicit" and not model.estimates_ratings
    implicit = likewise.testing.contract_data("implicit")
    with pytest.raises(ConfigError, match="mode='explicit'"):
        ItemKNN(mode="explicit").fit(implicit)
    with pytest.raises(ConfigError, match="min_k"):
        UserKNN(k=5, min_k=6).fit(ml_split.train)


def test_min_k_falls_back_to_baseline(ml_split):
    big = ItemKNN(similarity="cosine", prediction="weighted_average", k=5, min_k=5)
    model = big.fit(ml_split.train)
    frame = ml_split.test.to_frame().iloc[:200]
    est = model.predict(frame["user"].to_numpy(), frame["item"].to_numpy())
    assert np.all(np.isfinite(est))


@pytest.mark.parametrize("similarity", ["cosine", "pearson", "msd", "jaccard",
                                        "pearson_baseline"])
def test_dense_path_equals_top_k_path(ml_split, similarity):
    """The symmetric dense kernel (small n) and the pruned row kernel agree."""
    data = ml_split.train.filter(top_users=200, top_items=300)
    dense = UserKNN(similarity=similarity).fit(data)
    pruned = UserKNN(similarity=similarity, max_neighbors=data.n_users - 2).fit(data)
    a = dense._neighbors().toarray()
    b = pruned._neighbors().toarray()
    # the pruned model drops each row's weakest neighbour; elsewhere they are identical
    both = b > 0
    np.testing.assert_allclose(a[both], b[both], rtol=1e-6)
    assert ((a > 0) & ~both).sum(axis=1).max() <= 1


def test_sort_by_index_matches_argsort():
    from likewise.models._knn_kernels import sort_by_index

    rng = np.random.default_rng(3)
    for m in (0, 1, 2, 3, 8, 65, 1000):
        idx = rng.permutation(10_000)[:m].astype(np.int64)
        vals = rng.random(m)
        order = np.argsort(idx)
        got_idx, got_vals = np.append(idx, -1), np.append(vals, -1.0)  # a tail it must not touch
        sort_by_index(got_idx, got_vals, m)
        np.testing.assert_array_equal(got_idx[:m], idx[order])
        np.testing.assert_array_equal(got_vals[:m], vals[order])
        assert got_idx[m] == -1 and got_vals[m] == -1.0
