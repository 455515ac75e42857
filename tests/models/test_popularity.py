import numpy as np
import pytest

import likewise
from likewise.testing import RecommenderContract


class TestPopularityCount(RecommenderContract):
    kind = "implicit"
    can_fold_in = True
    invalid_params = [dict(method="votes"), dict(m_quantile=1.5)]

    def make_model(self, **params):
        return likewise.Popularity(**params)


class TestPopularityWeighted(RecommenderContract):
    kind = "explicit"
    can_fold_in = True
    invalid_params = [dict(m=-1.0)]

    def make_model(self, **params):
        return likewise.Popularity(method="weighted", **params)


class TestPopularityTrending(RecommenderContract):
    kind = "implicit"
    can_fold_in = True
    invalid_params = [dict(half_life_days=0.0)]

    def make_model(self, **params):
        return likewise.Popularity(method="trending", **params)


def _toy():
    # item a: 3 ratings of 5; item b: 1 rating of 5; item c: 4 ratings of 3
    users = [1, 2, 3, 1, 1, 2, 3, 4]
    items = ["a", "a", "a", "b", "c", "c", "c", "c"]
    ratings = [5, 5, 5, 5, 3, 3, 3, 3]
    times = [100, 100, 100, 900, 100, 100, 100, 100]
    return likewise.Interactions.from_arrays(users, items, ratings, times)


def test_count_mean_weighted_by_hand():
    data = _toy()
    count = likewise.Popularity().fit(data)
    np.testing.assert_allclose(count.item_scores_, [3, 1, 4])
    mean = likewise.Popularity(method="mean", min_count=2).fit(data)
    assert mean.item_scores_[0] == 5 and np.isneginf(mean.item_scores_[1])
    weighted = likewise.Popularity(method="weighted", m=2.0).fit(data)
    c = np.mean([5, 5, 5, 5, 3, 3, 3, 3])
    expected = [3 / 5 * 5 + 2 / 5 * c, 1 / 3 * 5 + 2 / 3 * c, 4 / 6 * 3 + 2 / 6 * c]
    np.testing.assert_allclose(weighted.item_scores_, expected, rtol=1e-6)


def test_trending_decay_by_hand():
    data = _toy()
    model = likewise.Popularity(method="trending", half_life_days=1.0,
                                reference_time=100 + 86400).fit(data)
    # every rating at t=100 is one half-life old; item b's rating is newer
    np.testing.assert_allclose(model.item_scores_[[0, 2]], [1.5, 2.0], rtol=1e-6)
    assert model.item_scores_[1] > 0.5


def test_mean_needs_explicit_and_trending_needs_time():
    implicit = likewise.Interactions.from_arrays([1, 2], ["a", "b"])
    with pytest.raises(likewise.ConfigError, match="explicit"):
        likewise.Popularity(method="mean").fit(implicit)
    with pytest.raises(likewise.DataError, match="timestamps"):
        likewise.Popularity(method="trending").fit(implicit)


def test_weighted_ranks_movielens_classics():
    data = likewise.datasets.movielens("100k")
    model = likewise.Popularity(method="weighted").fit(data)
    top = model.recommend([-1], n=10).items[0]
    titles = set(data.item_metadata.loc[top, "title"])
    assert "Star Wars" in titles
