import numpy as np
import pytest

import likewise
from likewise import splits
from likewise.datasets import movielens
from likewise.models.nmf import NMF, nmf_epoch, nmf_epoch_reference
from likewise.testing import RecommenderContract, contract_data


class TestNMF(RecommenderContract):
    kind = "explicit"
    can_predict_ratings = can_fold_in = can_similar_items = has_item_vectors = True
    can_index = True
    invalid_params = [dict(factors=0), dict(epochs=0), dict(regularization=-1.0),
                      dict(init_high=0.0)]

    def make_model(self, **params):
        return NMF(**{"factors": 6, "epochs": 10, **params})


def test_epoch_matches_surprise_loops():
    data = contract_data("explicit").filter(top_users=30, top_items=50)
    R = data.matrix.astype(np.float32)
    rows = np.repeat(np.arange(R.shape[0]), np.diff(R.indptr))
    rng = np.random.default_rng(0)
    P = rng.uniform(0, 1, (R.shape[0], 4)).astype(np.float32)
    Q = rng.uniform(0, 1, (R.shape[1], 4)).astype(np.float32)
    P_ref, Q_ref = P.astype(np.float64), Q.astype(np.float64)
    for _ in range(3):
        nmf_epoch(R, rows, P, Q, 0.06)
        nmf_epoch_reference(rows, R.indices, R.data, P_ref, Q_ref, 0.06)
    np.testing.assert_allclose(P, P_ref, rtol=1e-4)
    np.testing.assert_allclose(Q, Q_ref, rtol=1e-4)


def test_factors_non_negative_and_error_decreases():
    model = NMF(factors=8, epochs=30, random_state=0).fit(contract_data("explicit"))
    assert (model.user_factors_ >= 0).all() and (model.item_factors_ >= 0).all()
    assert model.train_rmse_[-1] < model.train_rmse_[0]


def test_init_range_checked():
    with pytest.raises(likewise.ConfigError, match="init_low"):
        NMF(init_low=2.0, init_high=1.0).fit(contract_data("explicit"))


def test_nmf_accuracy_movielens():
    # measured RMSE 0.963 (Surprise's NMF on ML-100K: ~0.963)
    train, test = splits.holdout(movielens("100k"), test_size=0.2, random_state=42)
    model = NMF(random_state=0).fit(train)
    frame = test.to_frame()
    est = model.predict(frame["user"].to_numpy(), frame["item"].to_numpy())
    assert float(np.sqrt(np.mean((est - frame["rating"].to_numpy()) ** 2))) < 0.975
