"""Issue 14, class 8: no interactions in training means unknown to the model, in every family.

Splits share one vocabulary, so a user or item can be in the vocabulary with no training
interaction. Before, such ids counted as known: SVD, SVD++ and NMF scored them with their
random initial factors (fallback=False) and NMF filled top-10 lists with never-rated
items. Now they are unknown: predictions fall back (global mean + the model's own bias of
the known side), recommendations for such users are the popular items (marked), and
collaborative models never recommend such items. Models that know items from content
(ContentKNN, hybrids) still score items without interactions.
"""

import importlib.util

import numpy as np
import pytest

import likewise
from likewise.testing import contract_data

EXPLICIT = {
    "Random": lambda: likewise.Random(random_state=0),
    "Baseline": lambda: likewise.Baseline(),
    "UserKNN": lambda: likewise.UserKNN(k=10, prediction="baseline"),
    "ItemKNN": lambda: likewise.ItemKNN(k=10, prediction="baseline"),
    "SVD": lambda: likewise.SVD(factors=4, epochs=3, random_state=0),
    "SVDpp": lambda: likewise.SVDpp(factors=4, epochs=2, random_state=0),
    "NMF": lambda: likewise.NMF(factors=4, epochs=5, random_state=0),
    "ALS": lambda: likewise.ALS(factors=4, iterations=2, random_state=0),
    "BayesianMF": lambda: likewise.BayesianMF(factors=4, iterations=12, burn_in=4,
                                              random_state=0),
    "ContentKNN": lambda: likewise.ContentKNN(),
}
IMPLICIT = {
    "Popularity": lambda: likewise.Popularity(),
    "ItemKNN-implicit": lambda: likewise.ItemKNN(k=10),
    "UserKNN-implicit": lambda: likewise.UserKNN(k=10),
    "ImplicitALS": lambda: likewise.ImplicitALS(factors=4, iterations=2, random_state=0),
    "BPR": lambda: likewise.BPR(factors=4, epochs=3, random_state=0),
    "EASE": lambda: likewise.EASE(lambda_=50.0),
    "ApproxUserKNN": lambda: likewise.ApproxUserKNN(k=10, factors=4, backend="exact"),
    "WeightedHybrid": lambda: likewise.WeightedHybrid(
        {"cf": likewise.ItemKNN(k=10), "pop": likewise.Popularity()}),
    "SwitchingHybrid": lambda: likewise.SwitchingHybrid(warm=likewise.EASE(lambda_=50.0)),
}
CONTENT = {"ContentKNN", "WeightedHybrid", "SwitchingHybrid"}
NO_SIMILAR_ITEMS = {"Popularity", "Random", "Baseline", "SwitchingHybrid"}


def _without(data, user_row: int, item_col: int):
    """``data`` minus every interaction of one user and one item, vocabulary kept whole."""
    m = data.matrix
    rows = np.repeat(np.arange(data.n_users), np.diff(m.indptr))
    return data.take((rows != user_row) & (m.indices != item_col))


def _case(kind: str):
    data = contract_data(kind)
    counts = np.bincount(data.matrix.indices, minlength=data.n_items)
    item_col = int(np.argsort(counts)[len(counts) // 2])  # a mid-popular item
    user_row = 3
    return data, _without(data, user_row, item_col), user_row, item_col


def _models():
    for name, make in EXPLICIT.items():
        yield pytest.param("explicit", name, make, id=name)
    for name, make in IMPLICIT.items():
        yield pytest.param("implicit", name, make, id=name)
    yield pytest.param("explicit", "TorchMF",
                       lambda: likewise.TorchMF(factors=4, epochs=2, random_state=0),
                       id="TorchMF", marks=pytest.mark.skipif(
                           importlib.util.find_spec("torch") is None,
                           reason="torch extra not installed"))


@pytest.mark.parametrize("kind,name,make", list(_models()))
def test_untrained_user_is_unknown(kind, name, make):
    data, train, user_row, _ = _case(kind)
    model = make().fit(train)
    user = data.users.ids[user_row]
    known_user = data.users.ids[0]
    item = data.items.ids[train.matrix.indices[0]]
    est, fallback = model.predict([user, known_user], [item, item], return_fallback=True)
    assert fallback.tolist() == [True, False]
    if model.global_mean_ is not None:
        i = model.items_.index([item])[0]
        want = np.float32(model.global_mean_) + model.fallback_item_bias_[i]
        lo, hi = model.rating_scale_
        assert est[0] == pytest.approx(float(np.clip(want, lo, hi)), abs=1e-5)
    recs = model.recommend([user, known_user], n=5)
    assert recs.fallback.tolist() == [True, False]
    assert recs.cases.tolist() == ["cold", "known"]
    with pytest.raises(likewise.UnknownUserError, match="no interactions in the training"):
        model.recommend([user], on_unknown="raise")


@pytest.mark.parametrize("kind,name,make", list(_models()))
def test_untrained_item_is_unknown_to_collaborative_models(kind, name, make):
    data, train, _, item_col = _case(kind)
    model = make().fit(train)
    item = data.items.ids[item_col]
    users = train.users.ids[np.diff(train.matrix.indptr) > 0]
    recs = model.recommend(users, n=20)
    returned = np.isin(recs.item_indices, model.items_.index([item]))
    _, fallback = model.predict(users[:1], [item], return_fallback=True)
    if name in CONTENT:
        assert not fallback[0]  # known from its content
        return
    assert fallback[0]
    assert not returned.any(), f"{name} recommended an item it was never trained on"
    if model.global_mean_ is not None:
        u = model.users_.index(users[:1])[0]
        est = model.predict(users[:1], [item])[0]
        want = np.float32(model.global_mean_) + model.fallback_user_bias_[u]
        lo, hi = model.rating_scale_
        assert est == pytest.approx(float(np.clip(want, lo, hi)), abs=1e-5)
    # its similar items are the popular fallback, and it is nobody's neighbour
    if name not in NO_SIMILAR_ITEMS:
        sim = model.similar_items([item, data.items.ids[train.matrix.indices[0]]], n=5)
        assert sim.fallback.tolist() == [True, False]
        assert item not in sim.items[1].tolist()


@pytest.mark.parametrize("make", [
    lambda: likewise.SVD(factors=4, epochs=5, random_state=0),
    lambda: likewise.SVDpp(factors=4, epochs=2, random_state=0),
    lambda: likewise.ItemKNN(k=10, prediction="baseline"),
    lambda: likewise.ALS(factors=4, iterations=2, random_state=0),
], ids=["SVD", "SVDpp", "KNNBaseline", "ALS"])
def test_fallback_uses_the_models_own_biases(make):
    """A pair with one unknown side is the model's global mean + the known side's bias,
    the same terms the model itself learned (not a separately fitted baseline)."""
    data = contract_data("explicit")
    model = make().fit(data)
    mu, bu, bi = model._own_biases()
    est = model.predict([data.users.ids[5], -1], [-1, data.items.ids[7]])
    lo, hi = model.rating_scale_
    np.testing.assert_allclose(est, np.clip([mu + bu[5], mu + bi[7]], lo, hi), atol=1e-5)
