"""ContentKNN: contract, item similarity on real MovieLens titles/genres, profiles, new items."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import likewise
from likewise.errors import ConfigError, DataError
from likewise.models.content import (
    PRIOR_GRID,
    SHRINKAGE_GRID,
    ContentKNN,
    _blend_prior,
    prior_grid_ndcg,
    profile_scores,
    profile_scores_reference,
    user_weights,
)
from likewise.testing import RecommenderContract


class TestContentKNNExplicit(RecommenderContract):
    kind = "explicit"
    can_fold_in = can_similar_items = True
    invalid_params = [dict(encoder="word2vec"), dict(min_df=0), dict(list_weight=-1.0),
                      dict(popularity_prior=1.5), dict(text_fields="title"),
                      dict(numeric_weight=-0.5)]

    def make_model(self, **params):
        return ContentKNN(**params)


class TestContentKNNAutoPrior(RecommenderContract):
    kind = "explicit"
    can_fold_in = can_similar_items = True
    invalid_params = [dict(popularity_prior="automatic"), dict(profile_shrinkage=-1.0),
                      dict(numeric_bandwidth=0.0), dict(numeric_fields="year"),
                      dict(random_state=-3)]

    def make_model(self, **params):
        params.setdefault("popularity_prior", "auto")
        params.setdefault("profile_shrinkage", "auto")
        return ContentKNN(centered=False, **params)


class TestContentKNNImplicitWithPrior(RecommenderContract):
    kind = "implicit"
    can_fold_in = can_similar_items = True
    invalid_params = [dict(catalog="everything")]

    def make_model(self, **params):
        return ContentKNN(popularity_prior=0.5, text_fields=["title"], list_fields=["genres"],
                          **params)


@pytest.fixture(scope="module")
def ml100k():
    return likewise.datasets.movielens("100k")


@pytest.fixture(scope="module")
def content(ml100k):
    return ContentKNN().fit(ml100k)


def _genres(meta, item):
    return set(str(meta.loc[item, "genres"]).split("|"))


def test_star_wars_neighbours_are_sci_fi_adventure(ml100k, content):
    meta = ml100k.item_metadata
    star_wars = int(meta.index[meta["title"] == "Star Wars"][0])
    sims = content.similar_items([star_wars], n=10)
    items, scores = sims[0]
    assert len(items) == 10 and np.all(np.diff(scores) <= 1e-6)
    target = {"Sci-Fi", "Adventure"}
    overlap = [len(_genres(meta, i) & target) for i in items.tolist()]
    # every neighbour shares Sci-Fi or Adventure; most share both
    assert min(overlap) >= 1, [meta.loc[i, "title"] for i in items]
    assert np.mean([o == 2 for o in overlap]) >= 0.8
    titles = [meta.loc[i, "title"] for i in items.tolist()]
    assert any(t.startswith(("Return of the Jedi", "Empire Strikes Back", "Star Trek"))
               for t in titles)


def test_vectors_are_unit_length_and_sparse(content):
    v = content.item_vectors_
    assert sp.issparse(v) and v.dtype == np.float32
    norms = np.sqrt(np.asarray(v.multiply(v).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms[content.has_features_], 1.0, atol=1e-5)
    assert any(n.startswith("genres=") for n in content.feature_names_)
    assert any(n.startswith("text:") for n in content.feature_names_)


def test_profile_kernel_matches_reference():
    rng = np.random.default_rng(0)
    vectors = sp.random(30, 12, density=0.3, random_state=1, dtype=np.float32).tocsr()
    # 6 rows take the dense-profile path, 40 the sparse one
    for n_rows in (6, 40):
        ratings = sp.random(n_rows, 30, density=0.2, random_state=2, dtype=np.float32).tocsr()
        ratings.data = rng.integers(1, 6, ratings.nnz).astype(np.float32)
        for centered in (False, True):
            w = user_weights(ratings, centered)
            fast = profile_scores(w, vectors)
            ref = profile_scores_reference(w.toarray(), vectors.toarray())
            np.testing.assert_allclose(fast, ref, atol=1e-5)


def test_centering_and_flat_users():
    m = sp.csr_matrix(np.array([[5, 1, 0], [3, 3, 3]], dtype=np.float32))
    w = user_weights(m, centered=True).toarray()
    np.testing.assert_allclose(w[0], [2, -2, 0])
    np.testing.assert_allclose(w[1], [1, 1, 1])  # no preference signal -> plain average


def _cold_start_data():
    meta = pd.DataFrame({"title": ["Alien", "Aliens", "Toy Story", "Toy Story 2",
                                   "Alien Resurrection"],
                         "genres": ["Sci-Fi|Horror", "Sci-Fi|Action", "Animation|Comedy",
                                    "Animation|Comedy", "Sci-Fi|Horror"]},
                        index=["a1", "a2", "t1", "t2", "a4"])
    # a4 has metadata but no interactions
    data = likewise.Interactions.from_arrays(
        ["u1", "u1", "u2", "u2", "u3"], ["a1", "a2", "t1", "t2", "a1"],
        [5.0, 4.0, 5.0, 4.0, 2.0], item_metadata=meta)
    return data


def test_new_items_with_metadata_are_recommended_and_have_neighbours():
    data = _cold_start_data()
    model = ContentKNN(centered=False).fit(data)
    assert "a4" in model.items_ and model.n_items == 5
    assert model.item_popularity_[model.items_.index(["a4"])[0]] == 0
    sims = model.similar_items(["a4"], n=2)
    assert sims.items[0][0] == "a1"  # same genres, same word
    recs = model.recommend(["u3"], n=1)  # u3 saw a1 only: a4 is the closest unseen item
    assert recs.items[0][0] == "a4"
    only_train = ContentKNN(catalog="train").fit(data)
    assert "a4" not in only_train.items_


def test_recommend_from_history_matches_fitted_user():
    data = _cold_start_data()
    model = ContentKNN().fit(data)
    a = model.recommend(["u1"], n=3)
    b = model.recommend_from_history(["a1", "a2"], [5.0, 4.0], n=3)
    np.testing.assert_array_equal(a.items, b.items)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-6)


def test_missing_metadata_errors():
    data = likewise.Interactions.from_arrays([1, 2], [1, 2], [4.0, 5.0])
    with pytest.raises(DataError, match="item metadata"):
        ContentKNN().fit(data)
    meta = pd.DataFrame({"title": ["x", "y"]}, index=[1, 2])
    data = likewise.Interactions.from_arrays([1, 2], [1, 2], [4.0, 5.0], item_metadata=meta)
    with pytest.raises(DataError, match="plot"):
        ContentKNN(text_fields=["plot"]).fit(data)
    with pytest.raises(ConfigError, match="numeric_weight"):
        ContentKNN(text_weight=0.0, list_weight=0.0, numeric_weight=0.0).fit(data)


def _ndcg10(recs, test, uidx):
    from likewise.metrics import ndcg_at_k

    return ndcg_at_k(recs.item_indices, test.matrix[uidx], 10)


def _simulated_cold(data, seed):
    """Per-user holdout, then 30% of users keep k ~ U{1..10} training ratings (as in
    benchmarks/bench_content.py; ML100K has no user with fewer than 20 ratings)."""
    from likewise.splits import user_holdout

    train, test = user_holdout(data, test_size=0.2, random_state=seed)
    rng = np.random.default_rng(seed)
    cold = rng.random(train.n_users) < 0.3
    keep_k = rng.integers(1, 11, size=train.n_users)
    rows = train.user_indices()
    order = np.lexsort((rng.random(train.nnz), rows))
    rank = np.empty(train.nnz, np.int64)
    rank[order] = np.arange(train.nnz) - train.matrix.indptr[rows[order]]
    train = train.take(np.nonzero(~cold[rows] | (rank < keep_k[rows]))[0])
    counts = np.diff(train.matrix.indptr)
    uidx = np.nonzero((counts <= 10) & (np.diff(test.matrix.indptr) > 0))[0]
    return train, test, uidx


def test_content_profile_beats_popularity_for_cold_users(ml100k):
    """Users with <= 10 training interactions on a per-user holdout (see docs/content.md).

    Measured over 10 splits (benchmarks/bench_content.py), the content profile with year
    bins and the prior chosen on an internal validation split beats popularity on every
    split (+0.010 to +0.037 NDCG@10; split 0: 0.1386 vs 0.1164). The bound below fails if
    the gain on split 0 drops under 0.01.
    """
    train, test, uidx = _simulated_cold(ml100k, 0)
    assert len(uidx) > 200
    users = train.users.ids[uidx]
    pop = likewise.Popularity().fit(train)
    auto = ContentKNN(popularity_prior="auto", profile_shrinkage="auto", centered=False,
                      random_state=0).fit(train)
    pure = ContentKNN(centered=False).fit(train)
    rand = likewise.Random(random_state=0).fit(train)
    ndcg_pop = _ndcg10(pop.recommend(users, n=10), test, uidx)
    ndcg_auto = _ndcg10(auto.recommend(users, n=10), test, uidx)
    ndcg_pure = _ndcg10(pure.recommend(users, n=10), test, uidx)
    ndcg_rand = _ndcg10(rand.recommend(users, n=10), test, uidx)
    assert ndcg_auto > ndcg_pop + 0.01, (ndcg_auto, ndcg_pop)
    assert 0 < auto.popularity_prior_ < 1
    # pure content (no prior) is well above chance, though far below popularity on ML100K
    assert ndcg_pure > 2 * ndcg_rand
    assert ndcg_pure < ndcg_pop


def test_year_bins_carry_the_signal(ml100k):
    """The numeric (year) block is what lifts the profile: with the same prior, dropping it
    costs ~0.04 NDCG@10 on this split (measured 0.1339 with, 0.0949 without)."""
    train, test, uidx = _simulated_cold(ml100k, 0)
    users = train.users.ids[uidx]
    with_year = ContentKNN(popularity_prior=0.6, centered=False).fit(train)
    without = ContentKNN(popularity_prior=0.6, centered=False, numeric_fields=[]).fit(train)
    assert any(n.startswith("year~q") for n in with_year.feature_names_)
    assert not any(n.startswith("year~q") for n in without.feature_names_)
    a = _ndcg10(with_year.recommend(users, n=10), test, uidx)
    b = _ndcg10(without.recommend(users, n=10), test, uidx)
    assert a > b + 0.01, (a, b)


def test_blend_prior_and_shrinkage():
    cos = np.array([[1.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    prior = np.array([0.0, 1.0], dtype=np.float32)
    out = _blend_prior(cos.copy(), prior, np.array([1, 99]), 0.5, 1.0)
    # user with 1 interaction: profile weight 1/2; with 99: 99/100
    np.testing.assert_allclose(out, [[0.25, 0.5], [0.495, 0.5]], atol=1e-6)
    np.testing.assert_array_equal(_blend_prior(cos.copy(), prior, np.array([1, 2]), 0.0, 5.0),
                                  cos)


def test_auto_validation_split_is_the_data_layers_user_holdout():
    from likewise.splits import user_holdout

    data = likewise.testing.contract_data("explicit")
    model = ContentKNN(centered=False).fit(data)
    keep, held = model._validation_split(data, np.random.default_rng(0))
    train, test = user_holdout(data, test_size=0.2, random_state=np.random.default_rng(0))
    # the model's catalogue is the training items followed by metadata-only items
    assert keep[:, data.n_items:].nnz == 0 and held[:, data.n_items:].nnz == 0
    assert (keep[:, :data.n_items] != train.matrix).nnz == 0
    assert (held[:, :data.n_items] != test.matrix).nnz == 0
    n, n_held = np.diff(data.matrix.indptr), np.diff(held.indptr)
    np.testing.assert_array_equal(np.diff(keep.indptr) + n_held, n)
    np.testing.assert_array_equal(n_held, np.floor(0.2 * n + 0.5))


def test_prior_grid_matches_a_plain_evaluation(ml100k):
    """The grid table equals NDCG@10 of the model's own recommendations for the same split."""
    from likewise.metrics import ndcg_at_k

    data = likewise.testing.contract_data("explicit")
    model = ContentKNN(centered=False).fit(data)
    keep, held = model._validation_split(data, np.random.default_rng(1))
    users = np.nonzero(np.diff(held.indptr) > 0)[0]
    table = prior_grid_ndcg(keep, held, users, model.item_vectors_, False, (0.0, 0.7),
                            (0.0, 10.0))
    assert table.shape == (2, 2) and table[0, 0] == table[0, 1]
    part = likewise.Interactions.from_arrays(
        data.users.ids[keep.tocoo().row], data.items.ids[keep.tocoo().col], keep.tocoo().data,
        item_metadata=data.item_metadata)
    for (i, b), (j, k) in [((1, 0.7), (1, 10.0)), ((0, 0.0), (0, 0.0))]:
        m = ContentKNN(centered=False, popularity_prior=b, profile_shrinkage=k).fit(part)
        ids = data.users.ids[users]
        recs = m.recommend(ids, n=10)
        # map to the grid's item indices
        idx = np.where(recs.item_indices >= 0, model.items_.index(
            m.items_.ids_of(np.maximum(recs.item_indices, 0)).ravel(), "ignore").reshape(
            recs.item_indices.shape), -1)
        got = ndcg_at_k(idx, (held[users] > 0).astype(np.float32), 10)
        assert got == pytest.approx(table[i, j], abs=1e-6)


def test_auto_prior_is_chosen_on_training_data_only_and_reproducible():
    data = likewise.testing.contract_data("explicit")
    a = ContentKNN(popularity_prior="auto", profile_shrinkage="auto", random_state=3).fit(data)
    b = ContentKNN(popularity_prior="auto", profile_shrinkage="auto", random_state=3).fit(data)
    assert a.popularity_prior_ in PRIOR_GRID and a.profile_shrinkage_ in SHRINKAGE_GRID
    assert (a.popularity_prior_, a.profile_shrinkage_) == (b.popularity_prior_,
                                                           b.profile_shrinkage_)
    table = a.prior_validation_
    assert table.shape == (len(PRIOR_GRID), len(SHRINKAGE_GRID))
    i, j = PRIOR_GRID.index(a.popularity_prior_), SHRINKAGE_GRID.index(a.profile_shrinkage_)
    assert table[i, j] == table.max()
    fixed = ContentKNN(popularity_prior=0.3, profile_shrinkage="auto", random_state=3).fit(data)
    assert fixed.popularity_prior_ == 0.3 and fixed.prior_validation_.shape == (1, 6)
    plain = ContentKNN(popularity_prior=0.3).fit(data)
    assert not hasattr(plain, "prior_validation_") and plain.profile_shrinkage_ == 0.0


def test_auto_prior_with_too_little_data_falls_back():
    data = _cold_start_data()  # every user has <= 2 interactions
    model = ContentKNN(popularity_prior="auto", random_state=0).fit(data)
    assert 0.0 <= model.popularity_prior_ <= 1.0
    assert model.recommend(["u3"], n=1).items.shape == (1, 1)
