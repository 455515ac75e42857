"""The conformance suite every likewise model passes (a pytest mixin).

Add one small class to a model's tests and it inherits every contract test:

>>> from likewise.testing import RecommenderContract  # doctest: +SKIP
>>> class TestMyModel(RecommenderContract):  # doctest: +SKIP
...     kind = "implicit"                      # the data the model is tested on
...     invalid_params = [dict(factors=0)]     # each must make fit raise ConfigError
...     def make_model(self, **params):
...         return MyModel(factors=8, **params)

The data is a small, dense corner of MovieLens 100K (explicit ratings, or ratings >= 4 as
implicit likes), so the suite runs in seconds. Models that cannot recommend for a new
user or have no item similarity must raise :class:`~likewise.UnsupportedError`.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import numpy as np

from .data.interactions import Interactions
from .errors import (
    ConfigError,
    ModelFormatError,
    NotFittedError,
    UnknownItemError,
    UnknownUserError,
    UnsupportedError,
)

__all__ = ["RecommenderContract", "contract_data"]


@functools.lru_cache(maxsize=4)
def contract_data(kind: str = "explicit") -> Interactions:
    """The data the conformance suite uses: the 150 most active users x 300 most rated items."""
    from .datasets import movielens

    data = movielens("100k").filter(top_users=300, top_items=300).filter(top_users=150)
    if kind == "explicit":
        return data
    frame = data.to_frame()
    liked = frame[frame["rating"] >= 4]
    return Interactions.from_arrays(liked["user"].to_numpy(), liked["item"].to_numpy(),
                                    timestamps=liked["timestamp"].to_numpy(),
                                    item_metadata=data.item_metadata,
                                    user_metadata=data.user_metadata)


def _assert_same_recs(a, b, msg=""):
    np.testing.assert_array_equal(a.item_indices, b.item_indices, err_msg=msg)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, atol=1e-6, equal_nan=True,
                               err_msg=msg)


class RecommenderContract:
    """Mixin of contract tests; subclasses define ``make_model`` and optionally the knobs."""

    #: "explicit" or "implicit": the kind of data the model is fitted on.
    kind: str = "explicit"
    #: parameter sets that must make ``fit`` raise ConfigError naming the parameter.
    invalid_params: list = []
    #: whether two fits with the same parameters give identical results.
    deterministic: bool = True
    #: absolute tolerance when comparing scores across fits (threaded float sums).
    score_atol: float = 1e-5

    # -- to be provided -------------------------------------------------------------
    def make_model(self, **params):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- helpers --------------------------------------------------------------------
    def _model(self, **params):
        model = self.make_model(**params)
        if "random_state" in model._param_names() and "random_state" not in params \
                and model.get_params()["random_state"] is None:
            model.set_params(random_state=42)
        return model

    def _data(self) -> Interactions:
        return contract_data(self.kind)

    def _fitted(self):
        key = "_likewise_contract_fitted"
        cached = getattr(type(self), key, None)
        if cached is None:
            cached = self._model().fit(self._data())
            setattr(type(self), key, cached)
        return cached

    def _some_users(self, n=5):
        data = self._data()
        return data.users.ids[np.linspace(0, data.n_users - 1, n).astype(int)]

    # -- lifecycle ------------------------------------------------------------------
    def test_fit_returns_self(self):
        model = self._model()
        assert model.fit(self._data()) is model

    def test_constructor_only_stores_params(self):
        model = self._model()
        params = model.get_params()
        clone = model.clone()
        assert clone.get_params().keys() == params.keys()
        assert not [k for k in vars(model) if k.endswith("_") and k not in params]

    def test_not_fitted_raises(self):
        model = self._model()
        with np.testing.assert_raises(NotFittedError):
            model.recommend(self._some_users(1))

    def test_invalid_params_raise_config_error(self):
        for bad in self.invalid_params:
            model = self._model(**bad)
            try:
                model.fit(self._data())
            except ConfigError as exc:
                name = next(iter(bad))
                assert name in str(exc), f"message should name {name!r}: {exc}"
            else:
                raise AssertionError(f"fit accepted invalid parameters {bad}")

    # -- recommend ------------------------------------------------------------------
    def test_recommend_shape_ids_and_order(self):
        model = self._fitted()
        users = self._some_users()
        recs = model.recommend(users, n=10)
        assert recs.items.shape == (len(users), 10)
        assert recs.scores.shape == (len(users), 10)
        assert not recs.fallback.any()
        valid = recs.item_indices >= 0
        assert valid.any()
        diffs = np.diff(np.where(valid, recs.scores, -np.inf), axis=1)
        assert np.all((diffs <= 1e-6) | ~valid[:, 1:]), "scores must be non-increasing"
        for row in range(len(users)):
            got = recs.item_indices[row][valid[row]]
            assert len(set(got.tolist())) == len(got), "duplicate items in one list"
        assert set(np.unique(recs.items[valid])) <= set(model.items_.ids.tolist())
        frame = recs.to_frame()
        assert list(frame.columns) == ["user", "item", "score", "rank"]

    def test_batch_equals_single(self):
        model = self._fitted()
        users = self._some_users(4)
        batch = model.recommend(users, n=7)
        for row, user in enumerate(users):
            single = model.recommend([user], n=7)
            np.testing.assert_array_equal(single.item_indices[0], batch.item_indices[row])
            np.testing.assert_allclose(single.scores[0], batch.scores[row], rtol=1e-5,
                                       atol=self.score_atol, equal_nan=True)

    def test_exclude_seen(self):
        model = self._fitted()
        data = self._data()
        users = self._some_users()
        recs = model.recommend(users, n=20)
        uidx = data.users.index(users)
        for row, u in enumerate(uidx):
            seen = set(data.matrix.indices[data.matrix.indptr[u]:data.matrix.indptr[u + 1]])
            assert not seen & set(recs.item_indices[row][recs.item_indices[row] >= 0].tolist())
        # with exclude_seen=False seen items are allowed back
        everything = model.recommend(users, n=model.n_items, exclude_seen=False)
        assert (everything.item_indices >= 0).sum() >= (recs.item_indices >= 0).sum()

    def test_exclude_and_candidates(self):
        model = self._fitted()
        users = self._some_users(3)
        first = model.recommend(users, n=5)
        banned = first.items[0][:3]
        again = model.recommend(users, n=5, exclude=banned)
        assert not set(banned.tolist()) & set(again.items[again.item_indices >= 0].tolist())
        pool = model.items_.ids[::7][:40]
        limited = model.recommend(users, n=5, candidates=pool)
        assert set(limited.items[limited.item_indices >= 0].tolist()) <= set(pool.tolist())
        per_user = [pool[:10], pool[10:20], pool[20:30]]
        limited = model.recommend(users, n=5, candidates=per_user)
        for row in range(3):
            got = limited.items[row][limited.item_indices[row] >= 0]
            assert set(got.tolist()) <= set(per_user[row].tolist())

    def test_n_larger_than_catalogue_pads(self):
        model = self._fitted()
        recs = model.recommend(self._some_users(2), n=model.n_items + 5)
        assert recs.items.shape[1] == model.n_items
        pad = recs.item_indices < 0
        assert np.all(np.isnan(recs.scores[pad]))

    def test_unknown_user_policy(self):
        model = self._fitted()
        known = self._some_users(1)[0]
        unknown = "no-such-user" if not model.users_.is_integer else -987654
        recs = model.recommend([known, unknown], n=5)
        assert recs.fallback.tolist() == [False, True]
        assert (recs.item_indices[1] >= 0).all()
        with np.testing.assert_raises(UnknownUserError):
            model.recommend([known, unknown], n=5, on_unknown="raise")

    # -- predict --------------------------------------------------------------------
    def test_predict_vectorised_and_policy(self):
        model = self._fitted()
        data = self._data()
        users = data.users.ids_of(data.user_indices()[:50])
        items = data.items.ids_of(data.matrix.indices[:50])
        try:
            est = model.predict(users, items)
        except UnsupportedError:
            return
        assert est.shape == (50,) and est.dtype == np.float32
        assert np.all(np.isfinite(est))
        single = np.array([model.predict([u], [i])[0] for u, i in zip(users[:5], items[:5])])
        np.testing.assert_allclose(single, est[:5], rtol=1e-5, atol=self.score_atol)
        if model.estimates_ratings and data.rating_scale is not None:
            lo, hi = data.rating_scale
            assert est.min() >= lo - 1e-6 and est.max() <= hi + 1e-6
        unknown_item = "no-such-item" if not model.items_.is_integer else -424242
        out, fb = model.predict([users[0], users[1]], [items[0], unknown_item],
                                return_fallback=True)
        assert fb.tolist() == [False, True]
        if data.is_explicit:
            assert np.isfinite(out[1])
        with np.testing.assert_raises(UnknownItemError):
            model.predict([users[0]], [unknown_item], on_unknown="raise")

    # -- similar items / history ------------------------------------------------------
    def test_similar_items(self):
        model = self._fitted()
        items = model.items_.ids[:4]
        try:
            sims = model.similar_items(items, n=5)
        except UnsupportedError:
            return
        assert sims.items.shape[0] == 4
        for row, item in enumerate(items):
            got = sims.items[row][sims.item_indices[row] >= 0]
            assert item not in set(got.tolist()), "an item is not its own neighbour"
        valid = sims.item_indices >= 0
        diffs = np.diff(np.where(valid, sims.scores, -np.inf), axis=1)
        assert np.all((diffs <= 1e-6) | ~valid[:, 1:])

    def test_recommend_from_history(self):
        model = self._fitted()
        data = self._data()
        u = 3
        history = data.items.ids_of(
            data.matrix.indices[data.matrix.indptr[u]:data.matrix.indptr[u + 1]])
        ratings = data.matrix.data[data.matrix.indptr[u]:data.matrix.indptr[u + 1]]
        try:
            recs = model.recommend_from_history(history, ratings, n=10)
        except UnsupportedError:
            return
        got = recs.items[0][recs.item_indices[0] >= 0]
        assert len(got) > 0
        assert not set(got.tolist()) & set(history.tolist())

    # -- reproducibility ------------------------------------------------------------
    def test_refit_equals_fresh_fit(self):
        data = self._data()
        other = data.take(np.arange(0, data.nnz, 2))
        users = self._some_users()
        refit = self._model().fit(other).fit(data)
        fresh = self._model().fit(data)
        if self.deterministic:
            _assert_same_recs(refit.recommend(users, n=10), fresh.recommend(users, n=10),
                              "refit must equal a fresh fit")
        assert set(vars(refit)) == set(vars(fresh)), "refit left stale attributes"

    def test_deterministic_for_seed(self):
        if not self.deterministic:
            return
        data = self._data()
        users = self._some_users()
        a = self._model().fit(data).recommend(users, n=10)
        b = self._model().fit(data).recommend(users, n=10)
        _assert_same_recs(a, b, "same parameters and seed must give the same results")

    # -- persistence ----------------------------------------------------------------
    def test_save_load_round_trip(self, tmp_path):
        from .models.base import load

        model = self._fitted()
        users = self._some_users()
        before = model.recommend(users, n=10)
        for target in (tmp_path / "model", tmp_path / "model.zip"):
            model.save(target)
            loaded = load(target)
            assert type(loaded) is type(model)
            assert loaded.get_params() == {k: (None if isinstance(v, np.random.Generator)
                                               else v) for k, v in model.get_params().items()}
            _assert_same_recs(before, loaded.recommend(users, n=10), "after load")
        loaded = load(tmp_path / "model", mmap=True)
        _assert_same_recs(before, loaded.recommend(users, n=10), "after mmap load")
        # saving over an existing model replaces it atomically
        model.save(tmp_path / "model")
        _assert_same_recs(before, load(tmp_path / "model").recommend(users, n=10))

    def test_load_rejects_tampering(self, tmp_path):
        from .models.base import load

        model = self._fitted()
        target = model.save(tmp_path / "m")
        victim = sorted(Path(target).glob("*.npy"), key=lambda p: p.stat().st_size)[-1]
        raw = bytearray(victim.read_bytes())
        raw[-1] ^= 0xFF
        victim.write_bytes(bytes(raw))
        with np.testing.assert_raises(ModelFormatError):
            load(target)
        shutil.rmtree(target)
