import numpy as np
import pytest

import likewise
from likewise.datasets import movielens
from likewise.models.baseline import fit_biases, sgd_biases_reference
from likewise.testing import RecommenderContract, contract_data


class TestBaselineALS(RecommenderContract):
    kind = "explicit"
    can_predict_ratings = can_fold_in = True
    invalid_params = [dict(method="gd"), dict(epochs=0), dict(reg_user=-1.0)]

    def make_model(self, **params):
        return likewise.Baseline(**params)


class TestBaselineSGD(RecommenderContract):
    kind = "explicit"
    can_predict_ratings = can_fold_in = True
    invalid_params = [dict(learning_rate=0.0)]

    def make_model(self, **params):
        return likewise.Baseline(method="sgd", **params)


class TestRandomExplicit(RecommenderContract):
    kind = "explicit"
    can_predict_ratings = can_fold_in = True
    invalid_params = [dict(random_state=-1), dict(random_state="x")]

    def make_model(self, **params):
        return likewise.Random(**params)


class TestRandomImplicit(RecommenderContract):
    kind = "implicit"
    can_fold_in = True

    def make_model(self, **params):
        return likewise.Random(**params)


def test_baseline_rejects_implicit_data():
    with pytest.raises(likewise.DataError, match="explicit"):
        likewise.Baseline().fit(contract_data("implicit"))


def test_sgd_kernel_matches_reference():
    data = contract_data("explicit").filter(top_users=30, top_items=40)
    mu, bu, bi = fit_biases(data.matrix, "sgd", epochs=3)
    mu_r, bu_r, bi_r = sgd_biases_reference(data.matrix, epochs=3)
    assert mu == pytest.approx(mu_r)
    np.testing.assert_allclose(bu, bu_r, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bi, bi_r, rtol=1e-5, atol=1e-6)


def test_als_biases_hand_computed():
    # two users, two items; one epoch by hand: mu = 3, bi = sum(r - mu) / (reg_i + n_i)
    data = likewise.Interactions.from_arrays([1, 1, 2], [10, 20, 10], [4.0, 2.0, 3.0])
    mu, bu, bi = fit_biases(data.matrix, "als", epochs=1, reg_user=1.0, reg_item=1.0)
    assert mu == pytest.approx(3.0)
    np.testing.assert_allclose(bi, [(1 + 0) / 3, (-1) / 2], rtol=1e-6)
    np.testing.assert_allclose(bu, [((4 - 3 - 1 / 3) + (2 - 3 + 0.5)) / 3,
                                    (3 - 3 - 1 / 3) / 2], rtol=1e-6)


def test_rating_fallback_is_the_baseline_with_two_epochs():
    # one damped-biases routine: every explicit model's fallback is Baseline's ALS biases
    data = contract_data("explicit")
    model = likewise.Popularity().fit(data)
    mu, bu, bi = fit_biases(data.matrix, "als", epochs=2)
    assert model.global_mean_ == mu
    np.testing.assert_array_equal(model.fallback_user_bias_, bu)
    np.testing.assert_array_equal(model.fallback_item_bias_, bi)
    assert not np.array_equal(bi, fit_biases(data.matrix, "als")[2])  # 2 epochs, not 10


def test_baseline_rmse_on_movielens_holdout():
    data = movielens("100k")
    rng = np.random.default_rng(0)
    test_mask = rng.random(data.nnz) < 0.2
    train, test = data.take(~test_mask), data.take(test_mask)
    model = likewise.Baseline().fit(train)
    frame = test.to_frame()
    est = model.predict(frame["user"].to_numpy(), frame["item"].to_numpy())
    rmse = float(np.sqrt(np.mean((est - frame["rating"].to_numpy()) ** 2)))
    # Surprise's BaselineOnly reaches about 0.944 on 5-fold CV of this data
    assert rmse < 0.95
    random_rmse = likewise.Random(random_state=0).fit(train)
    est_r = random_rmse.predict(frame["user"].to_numpy(), frame["item"].to_numpy())
    assert np.sqrt(np.mean((est_r - frame["rating"].to_numpy()) ** 2)) > 1.3


def test_random_matches_normal_distribution():
    data = movielens("100k")
    model = likewise.Random(random_state=1).fit(data)
    users = np.repeat(data.users.ids[:200], 50)
    items = np.tile(data.items.ids[:50], 200)
    est = model.predict(users, items)
    ratings = data.matrix.data
    assert model.mean_ == pytest.approx(ratings.mean(), rel=1e-6)
    assert model.std_ == pytest.approx(ratings.std(), rel=1e-5)
    # the draws follow N(mean, std) clipped to the 1-5 scale
    reference = np.clip(np.random.default_rng(0).normal(model.mean_, model.std_, 200_000), 1, 5)
    assert abs(est.mean() - reference.mean()) < 0.03
    assert abs(est.std() - reference.std()) < 0.03
