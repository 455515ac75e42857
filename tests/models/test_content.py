"""ContentKNN: contract, item similarity on real MovieLens titles/genres, profiles, new items."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import likewise
from likewise.errors import ConfigError, DataError
from likewise.models.content import (
    ContentKNN,
    profile_scores,
    profile_scores_reference,
    user_weights,
)
from likewise.testing import RecommenderContract


class TestContentKNNExplicit(RecommenderContract):
    kind = "explicit"
    invalid_params = [dict(encoder="word2vec"), dict(min_df=0), dict(list_weight=-1.0),
                      dict(popularity_prior=1.5), dict(text_fields="title")]

    def make_model(self, **params):
        return ContentKNN(**params)


class TestContentKNNImplicitWithPrior(RecommenderContract):
    kind = "implicit"
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
    ratings = sp.random(6, 30, density=0.2, random_state=2, dtype=np.float32).tocsr()
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


def test_content_profile_vs_popularity_for_cold_users(ml100k):
    """Users with <= 10 training interactions on a per-user holdout (see docs/content.md).

    Measured (3 splits, benchmarks/bench_content.py): content with the popularity prior
    is on par with popularity (0.1234 vs 0.1216 mean NDCG@10; it wins 2 of 3 splits), pure
    content profiles are far below popularity but well above chance. The issue's target
    (content strictly beats popularity) is therefore NOT asserted; parity is.
    """
    from likewise.splits import user_holdout

    train, test = user_holdout(ml100k, test_size=0.2, random_state=0)
    rng = np.random.default_rng(0)
    cold = rng.random(train.n_users) < 0.3
    keep_k = rng.integers(1, 11, size=train.n_users)
    rows = train.user_indices()
    order = np.lexsort((rng.random(train.nnz), rows))
    rank = np.empty(train.nnz, np.int64)
    rank[order] = np.arange(train.nnz) - train.matrix.indptr[rows[order]]
    train = train.take(np.nonzero(~cold[rows] | (rank < keep_k[rows]))[0])
    counts = np.diff(train.matrix.indptr)
    uidx = np.nonzero((counts <= 10) & (np.diff(test.matrix.indptr) > 0))[0]
    assert len(uidx) > 200
    users = train.users.ids[uidx]
    pop = likewise.Popularity().fit(train)
    cont = ContentKNN(popularity_prior=0.9, centered=False).fit(train)
    pure = ContentKNN(centered=False).fit(train)
    rand = likewise.Random(random_state=0).fit(train)
    ndcg_pop = _ndcg10(pop.recommend(users, n=10), test, uidx)
    ndcg_content = _ndcg10(cont.recommend(users, n=10), test, uidx)
    ndcg_pure = _ndcg10(pure.recommend(users, n=10), test, uidx)
    ndcg_rand = _ndcg10(rand.recommend(users, n=10), test, uidx)
    assert ndcg_content >= ndcg_pop - 0.005, (ndcg_content, ndcg_pop)
    assert ndcg_content > ndcg_pure
    # pure content (no prior) is well above chance, though below popularity on ML100K
    assert ndcg_pure > 2 * ndcg_rand
