"""The conformance suite every likewise model passes (a pytest mixin).

Add one small class to a model's tests and it inherits every contract test:

>>> from likewise.testing import RecommenderContract  # doctest: +SKIP
>>> class TestMyModel(RecommenderContract):  # doctest: +SKIP
...     kind = "implicit"                      # the data the model is tested on
...     invalid_params = [dict(factors=0)]     # each must make fit raise ConfigError
...     can_fold_in = can_similar_items = True  # what it supports beyond recommend
...     def make_model(self, **params):
...         return MyModel(factors=8, **params)

The data is a small, dense corner of MovieLens 100K (explicit ratings, or ratings >= 4 as
implicit likes), so the suite runs in seconds. Every test gets a freshly fitted model.

Capabilities
------------
Beyond ``fit`` / ``recommend`` / ``save``, what a model supports is declared by the test
class (class attributes, see :data:`CAPABILITIES`) and checked both ways: a declared
capability has its own test, in which an :class:`~likewise.UnsupportedError` fails; an
undeclared one skips that test with its reason, and
``test_undeclared_capabilities_are_unsupported`` checks that the model really raises
:class:`~likewise.UnsupportedError` for it (or, for ``can_explain`` / ``can_similar_users``,
has no such method), so a declaration can never be silently wrong.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from .data.interactions import Interactions
from .errors import (
    ConfigError,
    ModelFormatError,
    NotFittedError,
    UnknownItemError,
    UnknownUserError,
    UnsupportedError,
)

__all__ = ["CAPABILITIES", "RecommenderContract", "contract_data"]

#: Capability attribute of a contract class -> what it means.
CAPABILITIES = {
    "can_predict": "predict scores (or ratings) for (user, item) pairs",
    "can_predict_ratings": "predict ratings on the data's rating scale (estimates_ratings)",
    "can_fold_in": "recommend_from_history for users outside the training data",
    "can_similar_items": "similar_items",
    "has_item_vectors": "item vectors for a similar_items index (prepare(similar_index=...))",
    "can_index": "recommend through an index over its factors (prepare(index=...))",
    "can_explain": "explain(user, item)",
    "can_similar_users": "similar_users",
}


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


def _needs(capability: str) -> Callable:
    """Mark a contract test as the test of ``capability`` (skipped when not declared)."""
    def mark(test):
        test._likewise_capability = capability
        return test
    return mark


def _assert_same_recs(a, b, msg=""):
    np.testing.assert_array_equal(a.item_indices, b.item_indices, err_msg=msg)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, atol=1e-6, equal_nan=True,
                               err_msg=msg)


class RecommenderContract:
    """Mixin of contract tests; subclasses define ``make_model``, the knobs and the
    capabilities they support (see :data:`CAPABILITIES`; all but ``can_predict`` default
    to False)."""

    #: "explicit" or "implicit": the kind of data the model is fitted on.
    kind: str = "explicit"
    #: parameter sets that must make ``fit`` raise ConfigError naming the parameter.
    invalid_params: list = []
    #: whether two fits with the same parameters give identical results.
    deterministic: bool = True
    #: absolute tolerance when comparing scores across fits (threaded float sums).
    score_atol: float = 1e-5

    # -- capabilities (see CAPABILITIES) ---------------------------------------------
    can_predict: bool = True
    can_predict_ratings: bool = False
    can_fold_in: bool = False
    can_similar_items: bool = False
    has_item_vectors: bool = False
    can_index: bool = False
    can_explain: bool = False
    can_similar_users: bool = False

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

    @pytest.fixture
    def fitted(self, request):
        """A freshly fitted model for every test (nothing is shared between tests); the
        test of an undeclared capability is skipped before anything is fitted."""
        capability = getattr(request.function, "_likewise_capability", None)
        if capability is not None and not getattr(self, capability):
            pytest.skip(f"{self._model_name()} does not support {CAPABILITIES[capability]} "
                        f"({capability} is not declared)")
        return self._model().fit(self._data())

    def _model_name(self) -> str:
        return type(self.make_model()).__name__

    @contextmanager
    def _claimed(self, capability: str) -> Iterator[None]:
        """Inside: an UnsupportedError fails the test, naming the declared capability."""
        try:
            yield
        except UnsupportedError as exc:
            pytest.fail(f"{self._model_name()} declares {capability} but raised "
                        f"UnsupportedError: {exc}")

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
        if not self.invalid_params:
            pytest.skip(f"no invalid_params declared for {self._model_name()}")
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
    def test_recommend_shape_ids_and_order(self, fitted):
        model = fitted
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
        assert list(frame.columns) == ["user", "item", "score", "rank", "fallback"]
        assert not frame["fallback"].any()

    def test_batch_equals_single(self, fitted):
        model = fitted
        users = self._some_users(4)
        batch = model.recommend(users, n=7)
        for row, user in enumerate(users):
            single = model.recommend([user], n=7)
            np.testing.assert_array_equal(single.item_indices[0], batch.item_indices[row])
            np.testing.assert_allclose(single.scores[0], batch.scores[row], rtol=1e-5,
                                       atol=self.score_atol, equal_nan=True)

    def test_exclude_seen(self, fitted):
        model = fitted
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

    def test_exclude_and_candidates(self, fitted):
        model = fitted
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

    def test_n_larger_than_catalogue_pads(self, fitted):
        model = fitted
        recs = model.recommend(self._some_users(2), n=model.n_items + 5)
        assert recs.items.shape[1] == model.n_items
        pad = recs.item_indices < 0
        assert np.all(np.isnan(recs.scores[pad]))

    def test_unknown_user_policy(self, fitted):
        model = fitted
        known = self._some_users(1)[0]
        unknown = "no-such-user" if not model.users_.is_integer else -987654
        recs = model.recommend([known, unknown], n=5)
        assert recs.fallback.tolist() == [False, True]
        assert (recs.item_indices[1] >= 0).all()
        with np.testing.assert_raises(UnknownUserError):
            model.recommend([known, unknown], n=5, on_unknown="raise")

    # -- predict --------------------------------------------------------------------
    def _pairs(self, n: int = 50):
        """External ids of the first ``n`` training (user, item) pairs."""
        data = self._data()
        return (data.users.ids_of(data.user_indices()[:n]),
                data.items.ids_of(data.matrix.indices[:n]))

    @_needs("can_predict")
    def test_predict_vectorised_and_policy(self, fitted):
        model = fitted
        data = self._data()
        users, items = self._pairs()
        with self._claimed("can_predict"):
            est = model.predict(users, items)
        assert est.shape == (50,) and est.dtype == np.float32
        assert np.all(np.isfinite(est))
        single = np.array([model.predict([u], [i])[0] for u, i in zip(users[:5], items[:5])])
        np.testing.assert_allclose(single, est[:5], rtol=1e-5, atol=self.score_atol)
        unknown_item = "no-such-item" if not model.items_.is_integer else -424242
        out, fb = model.predict([users[0], users[1]], [items[0], unknown_item],
                                return_fallback=True)
        assert fb.tolist() == [False, True]
        if data.is_explicit:
            assert np.isfinite(out[1])
        with np.testing.assert_raises(UnknownItemError):
            model.predict([users[0]], [unknown_item], on_unknown="raise")

    @_needs("can_predict_ratings")
    def test_predict_ratings_on_the_scale(self, fitted):
        model = fitted
        data = self._data()
        assert model.estimates_ratings and data.rating_scale is not None, (
            f"{self._model_name()} declares can_predict_ratings but its estimates_ratings is "
            f"{model.estimates_ratings} on data with rating scale {data.rating_scale}")
        users, items = self._pairs()
        with self._claimed("can_predict_ratings"):
            est = model.predict(users, items)
        lo, hi = data.rating_scale
        assert est.min() >= lo - 1e-6 and est.max() <= hi + 1e-6
        assert len(np.unique(est)) > 1, "rating estimates that do not vary are not ratings"

    # -- similar items / users / history -------------------------------------------------
    @staticmethod
    def _assert_neighbour_lists(result, queries, name: str = "item") -> None:
        assert result.items.shape[0] == len(queries)
        for row, query in enumerate(queries):
            got = result.items[row][result.item_indices[row] >= 0]
            assert len(got) > 0, f"no neighbours for {name} {query!r}"
            assert query not in set(got.tolist()), f"an {name} is not its own neighbour"
        valid = result.item_indices >= 0
        diffs = np.diff(np.where(valid, result.scores, -np.inf), axis=1)
        assert np.all((diffs <= 1e-6) | ~valid[:, 1:]), "similarities must be non-increasing"

    @_needs("can_similar_items")
    def test_similar_items(self, fitted):
        items = fitted.items_.ids[:4]
        with self._claimed("can_similar_items"):
            sims = fitted.similar_items(items, n=5)
        self._assert_neighbour_lists(sims, items)

    @_needs("has_item_vectors")
    def test_similar_items_through_an_item_vector_index(self, fitted):
        items = fitted.items_.ids[:6]
        with self._claimed("has_item_vectors"):
            fitted.prepare(similar_index="exact", warm=False)
            through_index = fitted.similar_items(items, n=5, index="exact")
        self._assert_neighbour_lists(through_index, items)
        # the exact index is the cosine of the same vectors: the same lists
        exact = fitted.similar_items(items, n=5)
        np.testing.assert_allclose(through_index.scores, exact.scores, rtol=1e-4, atol=1e-5,
                                   equal_nan=True)

    @_needs("can_index")
    def test_recommend_through_an_index_equals_the_exact_path(self, fitted):
        users = self._some_users()
        with self._claimed("can_index"):
            fitted.prepare(index="exact", warm=False)
            through_index = fitted.recommend(users, n=10, index="exact")
        exact = fitted.recommend(users, n=10)
        np.testing.assert_allclose(through_index.scores, exact.scores, rtol=1e-4,
                                   atol=max(self.score_atol, 1e-5), equal_nan=True)
        overlap = np.mean([len(set(a) & set(b)) / max(len(set(b)), 1) for a, b in
                           zip(through_index.item_indices.tolist(), exact.item_indices.tolist())])
        assert overlap >= 0.9, f"index search found {overlap:.0%} of the exact top 10"

    @_needs("can_fold_in")
    def test_recommend_from_history(self, fitted):
        data = self._data()
        u = 3
        history = data.items.ids_of(
            data.matrix.indices[data.matrix.indptr[u]:data.matrix.indptr[u + 1]])
        ratings = data.matrix.data[data.matrix.indptr[u]:data.matrix.indptr[u + 1]]
        with self._claimed("can_fold_in"):
            recs = fitted.recommend_from_history(history, ratings, n=10)
        got = recs.items[0][recs.item_indices[0] >= 0]
        assert len(got) > 0
        assert not set(got.tolist()) & set(history.tolist())

    @_needs("can_similar_users")
    def test_similar_users(self, fitted):
        users = self._some_users(4)
        with self._claimed("can_similar_users"):
            sims = fitted.similar_users(users, n=5)
        self._assert_neighbour_lists(sims, users, "user")
        assert set(sims.items[sims.item_indices >= 0].tolist()) <= set(fitted.users_.ids.tolist())

    @_needs("can_explain")
    def test_explain(self, fitted):
        user = self._some_users(1)[0]
        item = fitted.recommend([user], n=1).items[0][0]
        with self._claimed("can_explain"):
            why = fitted.explain(user, item)
        assert len(why) > 0, "a recommended item has at least one reason"
        score = why.attrs["score"]
        scale = self._data().rating_scale
        if fitted.estimates_ratings and scale is not None:
            score = min(max(score, scale[0]), scale[1])  # predict clips to the scale
        assert score == pytest.approx(float(fitted.predict([user], [item])[0]), rel=1e-5,
                                      abs=self.score_atol)

    # -- capabilities, the other way ------------------------------------------------------
    def _capability_calls(self, model) -> dict:
        """For each capability: a call that must raise UnsupportedError without it."""
        data = self._data()
        users, items = self._pairs(5)
        history = data.items.ids_of(data.matrix.indices[data.matrix.indptr[3]:
                                                        data.matrix.indptr[4]])
        return {
            "can_predict": lambda: model.predict(users, items),
            "can_fold_in": lambda: model.recommend_from_history(history, n=5),
            "can_similar_items": lambda: model.similar_items(items[:2], n=5),
            "has_item_vectors": lambda: model.prepare(similar_index="exact", warm=False),
            "can_index": lambda: model.prepare(index="exact", warm=False),
            "can_explain": lambda: model.explain(users[0], items[0]),
            "can_similar_users": lambda: model.similar_users(users[:2], n=5),
        }

    def test_undeclared_capabilities_are_unsupported(self, fitted):
        undeclared = [c for c in CAPABILITIES if not getattr(self, c)]
        if not undeclared:
            pytest.skip(f"{self._model_name()} declares every capability")
        data = self._data()
        if "can_predict_ratings" in undeclared:
            assert not (fitted.estimates_ratings and data.rating_scale is not None), (
                f"{self._model_name()} estimates ratings on this data: declare "
                "can_predict_ratings = True")
        calls = self._capability_calls(fitted)
        wrong = []
        for capability in undeclared:
            if capability in ("can_explain", "can_similar_users") and \
                    not hasattr(fitted, capability.removeprefix("can_")):
                continue  # no such method at all
            if capability not in calls:
                continue
            try:
                calls[capability]()
            except UnsupportedError:
                continue
            wrong.append(capability)
        assert not wrong, (f"{self._model_name()} supports {wrong} but does not declare it: "
                           "set them to True in the test class")

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
            pytest.skip(f"{self._model_name()} is declared non-deterministic")
        data = self._data()
        users = self._some_users()
        a = self._model().fit(data).recommend(users, n=10)
        b = self._model().fit(data).recommend(users, n=10)
        _assert_same_recs(a, b, "same parameters and seed must give the same results")

    # -- persistence ----------------------------------------------------------------
    def test_save_load_round_trip(self, fitted, tmp_path):
        from .models.base import load

        model = fitted
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

    def test_load_rejects_tampering(self, fitted, tmp_path):
        from .models.base import load

        model = fitted
        target = model.save(tmp_path / "m")
        # the arrays live in the save's current version folder (rglob finds them there)
        victim = sorted(Path(target).rglob("*.npy"), key=lambda p: p.stat().st_size)[-1]
        raw = bytearray(victim.read_bytes())
        raw[-1] ^= 0xFF
        victim.write_bytes(bytes(raw))
        with np.testing.assert_raises(ModelFormatError):
            load(target)
        shutil.rmtree(target)
