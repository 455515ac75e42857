"""Hybrids: blend several recommenders (``WeightedHybrid``) or route users and items to the
model that suits them (``SwitchingHybrid``).

Sub-models are given as fitted or unfitted recommenders, or as JSON specs
``{"class": "ContentKNN", "params": {...}}`` (the form a saved hybrid keeps). With
``refit=True`` (default) each one is cloned and fitted on the hybrid's data; with
``refit=False`` already fitted models are used as they are (fit-on-fit), so an expensive
collaborative model can be trained once and blended with several content models.

The hybrid's catalogue is the training items followed by any extra items a sub-model
knows (e.g. metadata-only items of :class:`~likewise.ContentKNN`), so new items can be
recommended. Scores are mapped by id, so sub-models need not share vocabularies.
"""

from __future__ import annotations

import itertools
import re
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from .. import _ranking
from .._params import Any_, Bool, Choice, Float, Int, Str, params_from_json, params_to_json
from ..data.interactions import Interactions
from ..errors import ConfigError, DataError, ModelFormatError, UnsupportedError
from . import registry
from ._persistence import check_state
from .base import Recommender, _blocks, top_n

__all__ = ["NORMALISATIONS", "SwitchingHybrid", "WeightedHybrid", "normalise_scores"]

#: Per-user score normalisations of :class:`WeightedHybrid`.
NORMALISATIONS = ("minmax", "zscore", "rank")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
_SUB = "sub__"


def normalise_scores(scores: np.ndarray, method: str = "minmax") -> np.ndarray:
    """Normalise each row of a score block; non-finite entries (missing) map to the row minimum.

    ``minmax`` -> [0, 1]; ``zscore`` -> mean 0, std 1; ``rank`` -> rank / (n - 1) in [0, 1]
    (ties share their average rank). A constant row becomes all zeros.

    Examples
    --------
    >>> normalise_scores(np.array([[1.0, 3.0, 2.0]]), "minmax").tolist()
    [[0.0, 1.0, 0.5]]
    """
    s = np.array(scores, dtype=np.float64, copy=True)
    finite = np.isfinite(s)
    if method == "rank":
        from scipy.stats import rankdata

        s[~finite] = -np.inf
        r = rankdata(s, axis=1, method="average") - 1.0
        out = r / max(s.shape[1] - 1, 1)
        lowest = np.where(finite, out, np.inf).min(axis=1, keepdims=True)
        out = np.where(finite, out, np.where(np.isfinite(lowest), lowest, 0.0))
        return out.astype(np.float32)
    n = finite.sum(axis=1, keepdims=True)
    filled = np.where(finite, s, 0.0)
    if method == "minmax":
        lo = np.where(finite, s, np.inf).min(axis=1, keepdims=True)
        hi = np.where(finite, s, -np.inf).max(axis=1, keepdims=True)
        span = hi - lo
        ok = np.isfinite(span) & (span > 0)
        out = np.where(ok, (filled - np.where(ok, lo, 0)) / np.where(ok, span, 1), 0.0)
        out = np.where(finite, out, 0.0)
    elif method == "zscore":
        mean = filled.sum(axis=1, keepdims=True) / np.maximum(n, 1)
        var = (np.where(finite, s - mean, 0.0) ** 2).sum(axis=1, keepdims=True) / np.maximum(n, 1)
        std = np.sqrt(var)
        ok = std > 0
        out = np.where(ok, (filled - mean) / np.where(ok, std, 1), 0.0)
        low = np.where(finite, out, np.inf).min(axis=1, keepdims=True)
        out = np.where(finite, out, np.where(np.isfinite(low), low, 0.0))
    else:
        raise ConfigError(f"normalisation must be one of {', '.join(map(repr, NORMALISATIONS))}; "
                          f"got {method!r}")
    return out.astype(np.float32)


def _build(spec: Any, what: str) -> Recommender:
    """A Recommender from an instance or a ``{"class": ..., "params": ...}`` spec.

    ``class`` is any name of the model registry (``"ContentKNN"``, ``"item-knn"``, a
    preset such as ``"popularity-weighted"``) or a class path as saved hybrids keep them
    (``"likewise.models.content.ContentKNN"``).
    """
    if isinstance(spec, Recommender):
        return spec
    if isinstance(spec, dict) and "class" in spec:
        name = str(spec["class"])
        params = spec.get("params") or {}
        if not isinstance(params, dict):
            raise ConfigError(f"{what}: params must be a dict, got {params!r}")
        try:
            if "." not in name:
                return registry.make(name, **params)
            cls = registry.class_for_manifest(name)
            return cls(**params_from_json(cls._param_spec, params))
        except (ConfigError, ModelFormatError, UnsupportedError) as exc:
            raise ConfigError(f"{what}: {exc}") from None
        except TypeError as exc:
            raise ConfigError(f"{what}: bad parameters for {name} ({exc})") from None
    raise ConfigError(f"{what} must be a likewise recommender or a spec "
                      f"{{'class': 'ContentKNN', 'params': {{...}}}}, got {spec!r}")


def _spec_of(model: Recommender, what: str) -> dict:
    """``{"class": path, "params": ...}`` with each parameter through its rule's JSON form
    (sub-models of a nested hybrid become specs too)."""
    params = {}
    for name, value in model.get_params().items():
        if isinstance(value, Recommender) or (isinstance(value, dict) and any(
                isinstance(v, Recommender) for v in value.values())):
            value = _to_json_models(value, f"{what}.{name}")
        params[name] = value
    cls = type(model)
    return {"class": f"{cls.__module__}.{cls.__qualname__}",
            "params": params_to_json(cls._param_spec, params, owner=what)}


def _to_json_models(value, what):
    if isinstance(value, Recommender):
        return _spec_of(value, what)
    if isinstance(value, dict):
        return {k: _to_json_models(v, f"{what}.{k}") for k, v in value.items()}
    return value


class _Hybrid(Recommender):
    """Shared machinery: sub-model building/fitting, id mapping and persistence."""

    estimates_ratings = False
    knows_items_without_interactions = True  # through a content sub-model

    # subclasses: name -> spec/instance of the sub-models (None entries are absent)
    def _model_params(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _set_model_params(self, specs: dict[str, Any]) -> None:  # pragma: no cover
        raise NotImplementedError

    def _fit_submodels(self, data: Interactions) -> None:
        subs = {}
        for name, spec in self._model_params().items():
            if spec is None:
                continue
            model = _build(spec, f"{type(self).__name__} model {name!r}")
            if self.refit or not getattr(model, "fitted_", False):
                model = model.clone().fit(data)
            subs[name] = model
        if not subs:
            raise ConfigError(f"{type(self).__name__}: no models given")
        self._cache_models = subs
        # the catalogue: training items, then items only a sub-model knows
        items = self.items_
        for model in subs.values():
            if model.items_.is_integer == items.is_integer:
                items = items.union(model.items_.ids)
        self._extend_items(items)
        self.model_names_ = sorted(subs)

    @property
    def models_(self) -> dict[str, Recommender]:
        """The fitted sub-models by name."""
        self._check_fitted()
        return dict(self._cache_models)

    def _maps(self):
        """Per sub-model: (user rows for our users, item columns for our items), -1 = unknown."""
        return self._cache_maps

    def _derive(self) -> None:
        maps = {}
        for name, model in self._cache_models.items():
            urows = model.users_.index(self.users_.ids, "ignore") if len(self.users_) and \
                model.users_.is_integer == self.users_.is_integer else \
                np.full(len(self.users_), -1, np.int64)
            icols = model.items_.index(self.items_.ids, "ignore") \
                if model.items_.is_integer == self.items_.is_integer else \
                np.full(len(self.items_), -1, np.int64)
            # what the sub-model was not trained on it does not know (see Recommender._lookup)
            urows = np.where(model._untrained(model.users_, urows), -1, urows) \
                if len(urows) else urows
            untrained_items = model._untrained(model.items_, icols)
            if untrained_items is not None:
                icols = np.where(untrained_items, -1, icols)
            maps[name] = (urows, icols)
        self._cache_maps = maps

    def _prepare_queries(self) -> None:
        for model in self._cache_models.values():
            model.prepare(warm=False)

    def _sub_scores(self, name: str, user_idx: np.ndarray) -> np.ndarray:
        """Sub-model scores for our users x our items; NaN where it knows neither."""
        model = self._cache_models[name]
        urows, icols = self._maps()[name]
        rows = urows[user_idx]
        out = np.full((len(user_idx), self.n_items), np.nan, dtype=np.float32)
        known_u = rows >= 0
        known_i = icols >= 0
        if known_u.any():
            s = np.asarray(model._score(rows[known_u]), dtype=np.float32)
            block = out[known_u]
            block[:, known_i] = s[:, icols[known_i]]
            out[known_u] = block
        return out

    def _sub_history(self, name: str, item_idx: np.ndarray, values: np.ndarray):
        model = self._cache_models[name]
        _, icols = self._maps()[name]
        sub_idx = icols[item_idx]
        keep = sub_idx >= 0
        if not keep.any():
            return None
        s = np.asarray(model._score_history(sub_idx[keep], values[keep]), dtype=np.float32)
        out = np.full(self.n_items, np.nan, dtype=np.float32)
        known = icols >= 0
        out[known] = s[icols[known]]
        return out

    # -- persistence: sub-models are flattened into the hybrid's own manifest ------------
    def save(self, path, *, overwrite: bool = False):
        """Save the hybrid and its fitted sub-models in one model directory (or .zip).

        Sub-models given as instances are stored as JSON specs, so after loading the
        ``models`` parameter(s) hold ``{"class": ..., "params": ...}`` dicts. ``overwrite``
        as for :meth:`Recommender.save`.
        """
        self._check_fitted()
        original = self._model_params()
        self._set_model_params({k: None if v is None else (
            v if isinstance(v, dict) else _spec_of(v, f"model {k!r}"))
            for k, v in original.items()})
        try:
            return super().save(path, overwrite=overwrite)
        finally:
            self._set_model_params(original)

    def _extra_state(self) -> dict:
        state: dict[str, Any] = {}
        specs = {}
        for name, model in self._cache_models.items():
            specs[name] = _spec_of(model, f"model {name!r}")
            sub = {k: getattr(model, k) for k in model._learned_names()}
            sub.update(model._extra_state())
            for key, value in sub.items():
                state[f"{_SUB}{name}__{key}"] = value
        state["submodels_"] = specs
        return state

    def _validate_state(self) -> None:
        super()._validate_state()  # the sub-models are checked as _after_load builds them
        names = getattr(self, "model_names_", None)
        if names is not None and not (isinstance(names, list)
                                      and all(isinstance(n, str) for n in names)):
            raise ModelFormatError(f"{type(self).__name__}.model_names_ is not a list of "
                                   "names; the model was modified or corrupted")
        check_state(self, {"weights_": (None, len(names or ())), "cold_users_": ("users",),
                           "cold_items_": ("items",)}, finite=("weights_",))

    def _after_load(self) -> None:
        specs = getattr(self, "submodels_", None) or {}
        flat = {k: v for k, v in vars(self).items() if k.startswith(_SUB)}
        subs = {}
        for name, spec in specs.items():
            model = _build(spec, f"saved model {name!r}")
            prefix = f"{_SUB}{name}__"
            for key, value in flat.items():
                if key.startswith(prefix):
                    attr = key[len(prefix):]
                    if attr == "rating_scale_" and isinstance(value, list):
                        value = tuple(value)
                    setattr(model, attr, value)
            model._validate_state()  # a sub-model's state is checked like a model's
            model._after_load()
            model._derive_state()
            subs[name] = model
        for key in flat:
            delattr(self, key)
        if hasattr(self, "submodels_"):
            del self.submodels_
        self._cache_models = subs

    def _learned_names(self) -> list[str]:
        return [k for k in super()._learned_names() if not k.startswith(_SUB)
                and k != "submodels_"]

    def _check_name(self, name: str) -> None:
        if not isinstance(name, str) or not _NAME.match(name) or "__" in name:
            raise ConfigError(f"{type(self).__name__}: model names must be letters, digits, - "
                              f"or _ (no '__'), got {name!r}")


# ---------------------------------------------------------------------------------------
class WeightedHybrid(_Hybrid):
    """Blend recommenders: ``score = sum_m w_m * normalise(score_m)`` per user.

    Parameters
    ----------
    models : dict
        Name -> recommender (fitted or not) or spec ``{"class": ..., "params": ...}``.
    weights : dict or list of dict, optional
        Name -> non-negative weight (default: equal). With ``activity_bins``, a list of
        such dicts, one per activity bucket (a single dict applies to every bucket). Tune
        them with :meth:`fit_weights` on a validation split, or with
        :func:`likewise.tune` over ``weights``.
    activity_bins : list of int, optional
        Ascending upper edges of user-activity buckets: ``[10, 50]`` makes three buckets,
        users with <= 10 training interactions, 11-50, and more (a history passed to
        ``recommend_from_history`` is bucketed by its length). Each bucket has its own
        weights, so a user with three ratings can lean on content and popularity while a
        user with three hundred leans on the collaborative model (weights as a function
        of the number of interactions); :meth:`fit_weights` tunes every bucket on its own
        validation users.
    normalisation : {"minmax", "zscore", "rank"}
        Per-user normalisation of each model's scores before blending, so models on
        different scales (ratings, cosines, counts) are comparable. A model that cannot
        score a user or an item (unknown to it) contributes that row's lowest value.
    refit : bool
        Clone and fit every sub-model on the hybrid's data (True), or use already fitted
        ones as they are (False; unfitted ones are still fitted).
    similarity_model : str, optional
        Which sub-model answers ``similar_items`` (default: the highest-weighted one that
        supports it).

    Examples
    --------
    >>> import likewise
    >>> data = likewise.datasets.movielens("100k")
    >>> blend = likewise.WeightedHybrid(
    ...     models={"pop": likewise.Popularity(), "content": likewise.ContentKNN()},
    ...     weights={"pop": 0.7, "content": 0.3}).fit(data)
    >>> blend.recommend([1], n=5).items.shape
    (1, 5)

    Weights per user-activity bucket (users with <= 10 ratings, and the others):

    >>> by_activity = likewise.WeightedHybrid(
    ...     models={"pop": likewise.Popularity(), "content": likewise.ContentKNN()},
    ...     weights=[{"pop": 0.8, "content": 0.2}, {"pop": 0.4, "content": 0.6}],
    ...     activity_bins=[10]).fit(data)
    >>> by_activity.weights_.shape  # (buckets, models in sorted name order)
    (2, 2)
    """

    _param_spec: ClassVar[dict] = {
        "models": Any_("a dict name -> model or spec",
                       help="The sub-models: name -> recommender (fitted or not) or "
                            "{'class': ..., 'params': ...}."),
        "weights": Any_("a dict name -> weight, a list of such dicts, or None",
                        help="Non-negative weight per model (default equal); a list has one "
                             "dict per activity bucket."),
        "normalisation": Choice(NORMALISATIONS, help="Per-user normalisation of each model's "
                                                     "scores before blending."),
        "refit": Bool(help="Clone and fit every sub-model on the hybrid's data (False: use "
                           "fitted ones as they are)."),
        "similarity_model": Str(none_ok=True, help="The sub-model that answers similar_items "
                                                   "(default: the highest-weighted able one)."),
        "activity_bins": Any_("a strictly increasing list of integers >= 0, or None",
                              help="Upper edges of user-activity buckets, each with its own "
                                   "weights."),
    }

    def __init__(self, models: dict | None = None, *, weights: dict | list | None = None,
                 normalisation: str = "minmax", refit: bool = True,
                 similarity_model: str | None = None, activity_bins: list[int] | None = None):
        self.models = models
        self.weights = weights
        self.normalisation = normalisation
        self.refit = refit
        self.similarity_model = similarity_model
        self.activity_bins = activity_bins

    def _model_params(self):
        return dict(self.models or {})

    def _set_model_params(self, specs):
        self.models = specs

    def _check_params(self, data) -> None:
        if not isinstance(self.models, dict) or not self.models:
            raise ConfigError("WeightedHybrid: models must be a non-empty dict name -> model, "
                              f"got {self.models!r}")
        for name in self.models:
            self._check_name(name)
        self._bins()
        self._weight_matrix(sorted(self.models))
        if self.similarity_model is not None and self.similarity_model not in self.models:
            raise ConfigError(f"WeightedHybrid: similarity_model must be one of "
                              f"{sorted(self.models)}, got {self.similarity_model!r}")

    def _bins(self) -> np.ndarray:
        """The activity bucket edges as an int array (empty: one bucket)."""
        bins = self.activity_bins
        if bins is None:
            return np.zeros(0, dtype=np.int64)
        ok = isinstance(bins, (list, tuple, np.ndarray)) and len(bins) > 0 and all(
            isinstance(b, (int, np.integer)) and not isinstance(b, bool) and b >= 0 for b in bins)
        if not ok or any(a >= b for a, b in zip(bins[:-1], bins[1:])):
            raise ConfigError("WeightedHybrid: activity_bins must be None or a non-empty "
                              f"strictly increasing list of integers >= 0, got {bins!r}")
        return np.asarray(bins, dtype=np.int64)

    def _weight_vector(self, names: list[str], weights: Any = None) -> np.ndarray:
        weights = self.weights if weights is None else weights
        if weights is None:
            return np.full(len(names), 1.0 / len(names))
        if not isinstance(weights, dict):
            raise ConfigError(f"WeightedHybrid: weights must be a dict name -> weight, got "
                              f"{weights!r}")
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise ConfigError(f"WeightedHybrid: weights names {unknown} are not models "
                              f"({names})")
        w = []
        for name in names:
            v = weights.get(name, 0.0)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or \
                    not np.isfinite(v) or v < 0:
                raise ConfigError(f"WeightedHybrid: weights[{name!r}] must be a number >= 0, "
                                  f"got {v!r}")
            w.append(float(v))
        w = np.asarray(w)
        if w.sum() <= 0:
            raise ConfigError("WeightedHybrid: weights must not all be 0")
        return w / w.sum()

    def _weight_matrix(self, names: list[str]) -> np.ndarray:
        """(buckets, models) normalised weights from the ``weights`` parameter."""
        n_buckets = len(self._bins()) + 1
        if isinstance(self.weights, (list, tuple)):
            if len(self.weights) != n_buckets:
                raise ConfigError(f"WeightedHybrid: weights as a list needs one dict per "
                                  f"activity bucket ({n_buckets} for activity_bins="
                                  f"{self.activity_bins!r}), got {len(self.weights)}")
            return np.stack([self._weight_vector(names, w if w is not None else {
                nm: 1.0 for nm in names}) for w in self.weights])
        return np.tile(self._weight_vector(names), (n_buckets, 1))

    def _fit(self, data: Interactions) -> None:
        self._fit_submodels(data)
        self.weights_ = self._weight_matrix(self.model_names_).astype(np.float64)

    def _bucket_of(self, n_interactions: np.ndarray) -> np.ndarray:
        """Activity bucket of users with these training interaction counts."""
        bins = self._bins()
        return np.searchsorted(bins, np.asarray(n_interactions), side="left")

    def _row_weights(self, user_idx: np.ndarray) -> np.ndarray:
        """(rows, models) weights of these users (by their activity bucket)."""
        w = np.atleast_2d(self.weights_)
        if w.shape[0] == 1:
            return np.broadcast_to(w, (len(user_idx), w.shape[1]))
        return w[self._bucket_of(np.diff(self.user_items_.indptr)[user_idx])]

    def _blend(self, parts: list[np.ndarray | None], weights: np.ndarray) -> np.ndarray:
        """Weighted mean of the normalised parts; ``weights`` is (models,) or (rows, models)."""
        total = None
        wsum = None
        for m, part in enumerate(parts):
            w = weights[..., m]
            if part is None or not np.any(w > 0):
                continue
            w = np.reshape(w, (-1, 1)) if np.ndim(w) else np.float64(w)
            has = np.isfinite(part).any(axis=1, keepdims=True)  # user known to this model
            contrib = normalise_scores(part, self.normalisation) * np.asarray(w, np.float32)
            contrib = np.where(has, contrib, 0.0)
            wk = np.where(has, w, 0.0)
            total = contrib if total is None else total + contrib
            wsum = wk if wsum is None else wsum + wk
        if total is None:
            raise UnsupportedError("no sub-model could score this request")
        return (total / np.where(wsum > 0, wsum, 1.0)).astype(np.float32)

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        weights = self._row_weights(user_idx)
        parts = [self._sub_scores(name, user_idx) if (weights[:, m] > 0).any() else None
                 for m, name in enumerate(self.model_names_)]
        return self._blend(parts, weights)

    def _score_history(self, item_idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        w_all = np.atleast_2d(self.weights_)
        weights = w_all[min(int(self._bucket_of(len(np.unique(item_idx)))), len(w_all) - 1)]
        parts = []
        for name, w in zip(self.model_names_, weights):
            try:
                s = self._sub_history(name, item_idx, values) if w > 0 else None
            except UnsupportedError:
                s = None
            parts.append(None if s is None else s[None, :])
        if all(p is None for p in parts):
            raise UnsupportedError("none of the blended models can recommend from a history")
        return self._blend(parts, weights)[0]

    def _similar_items_idx(self, item_idx: np.ndarray, n: int):
        names = [self.similarity_model] if self.similarity_model else \
            [self.model_names_[i] for i in np.argsort(-np.atleast_2d(self.weights_).mean(axis=0),
                                                      kind="stable")]
        for name in names:
            model = self._cache_models[name]
            _, icols = self._maps()[name]
            sub_idx = icols[item_idx]
            try:
                if (sub_idx < 0).any():
                    continue
                sub_n = min(n, model.n_items - 1)
                si, ss = model._similar_items_idx(sub_idx, sub_n)
            except UnsupportedError:
                continue
            # map the sub-model's item indices back to ours
            back = self.items_.index(model.items_.ids_of(np.where(si >= 0, si, 0)).ravel(),
                                    "ignore").reshape(si.shape)
            back = np.where(si >= 0, back, -1)
            out_i = np.full((len(item_idx), n), -1, dtype=np.int64)
            out_s = np.full((len(item_idx), n), np.nan, dtype=np.float32)
            out_i[:, : back.shape[1]] = back
            out_s[:, : back.shape[1]] = np.where(back >= 0, ss, np.nan)
            return out_i, out_s
        raise UnsupportedError("no blended model supports similar_items for these items")

    # -- weight tuning ------------------------------------------------------------------
    def _candidate_metrics(self, rel: sp.csr_matrix, uidx: np.ndarray, candidates: np.ndarray,
                           kind: str, k: int) -> np.ndarray:
        """(users, candidates) per-user metric of every candidate weight vector."""
        out = np.zeros((len(uidx), len(candidates)))
        for lo, hi in _blocks(len(uidx), self._block_rows()):
            block = uidx[lo:hi]
            norm = []
            for name in self.model_names_:
                part = self._sub_scores(name, block)
                has = np.isfinite(part).any(axis=1, keepdims=True)
                norm.append((normalise_scores(part, self.normalisation), has))
            rel_block = rel[block]
            for c, w in enumerate(candidates):
                total = np.zeros((len(block), self.n_items), dtype=np.float32)
                wsum = np.zeros((len(block), 1))
                for (p, has), wi in zip(norm, w):
                    if wi > 0:
                        total += np.where(has, p * np.float32(wi), 0.0).astype(np.float32)
                        wsum += np.where(has, wi, 0.0)
                total /= np.where(wsum > 0, wsum, 1.0).astype(np.float32)
                self._mask(total, block, np.arange(len(block)), None, None)
                top, _ = top_n(total, k)
                out[lo:hi, c] = _ranking.per_row(kind, top, rel_block, k)
        return out

    def fit_weights(self, validation: Interactions | list, *, metric: str = "ndcg@10",
                    step: float = 0.1, grid: list[dict] | None = None,
                    users: Any = None, selection: str = "best", prefer: str | None = None):
        """Choose the weights that maximise a ranking metric on validation data.

        Every candidate is scored on the same users from the sub-models' scores computed
        once per block of users (the blends are cheap), so a fine grid costs little more
        than one evaluation. Sets ``weights`` (the parameter, so a refit reproduces it)
        and the fitted weights, and returns the table of candidates. The per-user metric
        is the evaluation layer's (:mod:`likewise._ranking`, as in
        :func:`likewise.metrics.ndcg_at_k`).

        The metric of nearby weights differs by less than its noise on a few hundred
        validation users, so the plain arg-max can land anywhere on a flat stretch of the
        curve (on MovieLens 100K the chosen weight of one bucket ranged 0.0-0.6 over
        splits). Two remedies, best combined: pool several validation folds (give a list
        of ``(fit, validation)`` pairs), and ``selection="one_se"``, which takes, among
        the candidates whose mean is within one standard error of the best, the one that
        leans most on ``prefer``.

        Parameters
        ----------
        validation : Interactions or list of (Interactions, Interactions)
            Held-out interactions sharing the training data's ids (e.g. the test part of
            ``likewise.splits.user_holdout`` applied to the training data), scored with
            the fitted sub-models. Or validation folds: ``(fit, validation)`` pairs; for
            each, the sub-models are cloned and fitted on ``fit`` (users are bucketed by
            their interactions in ``fit``) and scored on ``validation``, and every
            candidate's per-user metrics are pooled over the folds. Any positive value
            counts as relevant.
        metric : str
            ``ndcg@K``, ``recall@K``, ``precision@K`` or ``hit_rate@K``.
        step : float
            Grid step on the simplex of weights (0.1 -> 11 candidates for two models).
        grid : list of dict, optional
            Explicit candidates instead of the simplex grid.
        users : array-like, optional
            Only these validation users (default: every user with validation items).
        selection : {"best", "one_se"}
            ``"best"``: the candidate with the highest mean. ``"one_se"``: the one-
            standard-error rule; per bucket, a candidate is within noise of the best when
            its mean is at least the best mean minus the standard error of the per-user
            difference between the two (paired, over every validation user and fold);
            among those, the one with the largest weight on ``prefer`` (ties: the higher
            mean) is chosen.
        prefer : str, optional
            The model to lean on when candidates are within noise (required with
            ``selection="one_se"``), typically the model that is strongest overall.

        Returns
        -------
        pandas.DataFrame
            One row per candidate: the weights and the metric, best first. With
            ``activity_bins``, one block of rows per bucket (columns ``bucket`` and
            ``users``, the bucket's validation users, summed over folds), each tuned on
            its own users, and ``weights`` becomes one dict per bucket. With
            ``selection="one_se"``, columns ``se`` (standard error of the difference to
            the bucket's best) and ``chosen`` are added.

        Examples
        --------
        >>> table = blend.fit_weights(validation, metric="ndcg@10")  # doctest: +SKIP
        >>> blend.weights  # doctest: +SKIP
        {'content': 0.2, 'pop': 0.8}

        Three validation folds and the one-standard-error rule, leaning on ``cf``:

        >>> folds = [likewise.splits.user_holdout(train, test_size=0.2, random_state=s)
        ...          for s in range(3)]  # doctest: +SKIP
        >>> blend.fit_weights(folds, selection="one_se", prefer="cf")  # doctest: +SKIP
        """
        self._check_fitted()
        kind, k = _ranking.parse_cutoff_metric(metric)
        names = self.model_names_
        _check_selection(names, selection, prefer)
        candidates = _weight_candidates(names, step, grid)
        sums = _MetricSums(len(self._bins()) + 1, len(candidates))
        for model, valid in self._validation_folds(validation):
            model._add_fold_metrics(sums, valid, users, candidates, kind, k)
        if not sums.counts.sum():
            raise DataError("the validation data has no interactions for users the model knows")
        prefer_col = None if selection == "best" else names.index(prefer)
        best, ses, means = sums.choose(candidates, prefer_col)
        chosen = [{nm: float(round(v, 6)) for nm, v in zip(names, candidates[i])} for i in best]
        self.weights = chosen[0] if self.activity_bins is None else chosen
        self.weights_ = candidates[best].astype(np.float64)
        return self._weights_table(candidates, metric, sums.counts, means,
                                   ses if selection == "one_se" else None, best)

    def _validation_folds(self, validation) -> list[tuple[WeightedHybrid, Interactions]]:
        """``(fitted hybrid, validation data)`` pairs: this model, or one clone per fold."""
        if isinstance(validation, Interactions):
            return [(self, validation)]
        if not isinstance(validation, (list, tuple)) or not validation or not all(
                isinstance(f, (list, tuple)) and len(f) == 2 and
                all(isinstance(x, Interactions) for x in f) for f in validation):
            raise DataError("validation must be likewise Interactions or a non-empty list of "
                            "(fit, validation) Interactions pairs")
        return [(WeightedHybrid(dict(self._cache_models), normalisation=self.normalisation,
                                activity_bins=self.activity_bins, refit=True).fit(fit), valid)
                for fit, valid in validation]

    def _add_fold_metrics(self, sums: _MetricSums, valid: Interactions, users: Any,
                          candidates: np.ndarray, kind: str, k: int) -> None:
        """Add every candidate's per-user metrics on ``valid`` to ``sums``, by bucket."""
        rel = _relevance_in(self, valid)  # validation relevance in this model's id space
        uidx = np.nonzero(np.diff(rel.indptr) > 0)[0]
        if users is not None:
            wanted = self.users_.index(np.asarray(users).reshape(-1), "ignore")
            uidx = np.intersect1d(uidx, wanted[wanted >= 0])
        buckets = self._bucket_of(np.diff(self.user_items_.indptr)[uidx])
        for lo, hi in _blocks(len(uidx), self._block_rows()):
            per_user = self._candidate_metrics(rel, uidx[lo:hi], candidates, kind, k)
            sums.add(per_user, buckets[lo:hi])

    def _weights_table(self, candidates: np.ndarray, metric: str, counts: np.ndarray,
                       means: np.ndarray, ses: list | None, best: list[int]):
        """The candidates with their metric per bucket, best first (see fit_weights)."""
        import pandas as pd

        table = pd.DataFrame(candidates, columns=[f"w_{nm}" for nm in self.model_names_])
        frames = []
        for b, label in enumerate(_bucket_labels(self._bins())):
            part = table.copy()
            if self.activity_bins is not None:
                part.insert(0, "bucket", label)
                part["users"] = int(counts[b])
            part[metric] = means[b]
            if ses is not None:
                part["se"] = ses[b]
                part["chosen"] = np.arange(len(candidates)) == best[b]
            frames.append(part.sort_values(metric, ascending=False, kind="stable"))
        return pd.concat(frames, ignore_index=True)


class _MetricSums:
    """Per bucket: user count, sum and cross-products of the candidates' per-user metrics.

    Enough for every candidate's mean and the variance of any paired difference, pooled
    over folds, without keeping a users x candidates matrix.
    """

    def __init__(self, n_buckets: int, n_candidates: int):
        self.counts = np.zeros(n_buckets, dtype=np.int64)
        self.s1 = np.zeros((n_buckets, n_candidates))
        self.s2 = np.zeros((n_buckets, n_candidates, n_candidates))

    def add(self, per_user: np.ndarray, buckets: np.ndarray) -> None:
        for b in np.unique(buckets):
            rows = per_user[buckets == b]
            self.counts[b] += len(rows)
            self.s1[b] += rows.sum(axis=0)
            self.s2[b] += rows.T @ rows

    def choose(self, candidates: np.ndarray, prefer_col: int | None):
        """Per bucket: the chosen candidate, the standard errors and the means (NaN for a
        bucket without users, which takes the choice made on all of them)."""
        n_c = len(candidates)
        best, ses, means = [], [], np.full((len(self.counts), n_c), np.nan)
        for b in range(len(self.counts)):
            n, t1, t2 = (self.counts[b], self.s1[b], self.s2[b]) if self.counts[b] else \
                (self.counts.sum(), self.s1.sum(axis=0), self.s2.sum(axis=0))
            mean = t1 / n
            if self.counts[b]:
                means[b] = mean
            top = int(np.argmax(mean))  # first of equals: candidates are in grid order
            se = _paired_se(n, mean, t2, top)
            if prefer_col is not None:  # one standard error rule, leaning on prefer
                within = np.nonzero(mean >= mean[top] - se)[0]
                lean = candidates[within, prefer_col]
                top = int(within[np.lexsort((-mean[within], -lean))[0]])
            best.append(top)
            ses.append(se)
        return best, ses, means


def _paired_se(n: int, mean: np.ndarray, t2: np.ndarray, top: int) -> np.ndarray:
    """Standard error of each candidate's per-user difference to candidate ``top``, from the
    sums (``t2``: cross-products), with ddof=1; zeros for a single user."""
    if n <= 1:
        return np.zeros(len(mean))
    sq = np.diag(t2) - 2 * t2[:, top] + t2[top, top]
    var = (sq - n * (mean - mean[top]) ** 2) / (n - 1)
    return np.sqrt(np.maximum(var, 0.0) / n)


def _check_selection(names: list[str], selection: str, prefer: str | None) -> None:
    Choice(("best", "one_se")).check("selection", selection)
    if selection == "one_se" and prefer not in names:
        raise ConfigError(f"prefer must name one of the models {names} with "
                          f"selection='one_se', got {prefer!r}")
    if prefer is not None and prefer not in names:
        raise ConfigError(f"prefer must be one of {names} or None, got {prefer!r}")


def _weight_candidates(names: list[str], step: float, grid: list[dict] | None) -> np.ndarray:
    """(candidates, models) weight vectors summing to 1: the simplex grid or ``grid``."""
    if grid is None:
        if not (isinstance(step, (int, float)) and 0 < step <= 1):
            raise ConfigError(f"step must be a number in (0, 1], got {step!r}")
        ticks = round(1 / step)
        cands = [c for c in itertools.product(range(ticks + 1), repeat=len(names))
                 if sum(c) == ticks]
        return np.asarray(cands, dtype=np.float64) / ticks
    candidates = np.asarray([[float(g.get(nm, 0.0)) for nm in names] for g in grid])
    if (candidates < 0).any() or (candidates.sum(axis=1) <= 0).any():
        raise ConfigError("every grid entry needs non-negative weights, not all 0")
    return candidates / candidates.sum(axis=1, keepdims=True)


def _bucket_labels(bins: np.ndarray) -> list[str]:
    """``["<=10", "11-50", ">50"]`` for bins ``[10, 50]``."""
    labels, lo = [], 0
    for edge in bins:
        labels.append(f"<={edge}" if lo == 0 else f"{lo}-{edge}")
        lo = int(edge) + 1
    return [*labels, f">{bins[-1]}" if len(bins) else "all"]


def _relevance_in(model: Recommender, data: Interactions) -> sp.csr_matrix:
    """``data`` as a (model users x model items) 0/1 CSR, matched by id."""
    if not isinstance(data, Interactions):
        raise DataError(f"validation must be likewise Interactions, got {type(data).__name__}")
    coo = data.matrix.tocoo()
    u = model.users_.index(data.users.ids, "ignore")[coo.row]
    i = model.items_.index(data.items.ids, "ignore")[coo.col]
    keep = (u >= 0) & (i >= 0) & (coo.data > 0)
    rel = sp.csr_matrix((np.ones(keep.sum(), np.float32), (u[keep], i[keep])),
                        shape=(model.n_users, model.n_items))
    rel.sum_duplicates()
    rel.data[:] = 1.0
    return rel


# ---------------------------------------------------------------------------------------
class SwitchingHybrid(_Hybrid):
    """Route each user (and item) to the model that can serve it.

    Users with fewer than ``user_threshold`` training interactions are served by
    ``cold_user`` (content or popularity), the others by ``warm`` (collaborative). Items
    with fewer than ``item_threshold`` interactions (default 1: items nobody touched,
    e.g. metadata-only items of a content model) are scored by ``cold_item`` instead of
    the warm model. Per user, warm items get the warm model's scores min-max normalised
    over the warm items, cold items get the cold-item model's scores min-max normalised
    over all its items, times ``cold_item_weight``, so both compete in one list.

    Parameters
    ----------
    warm : recommender or spec
        The collaborative model for warm users and items.
    cold_user : recommender or spec, optional
        Serves cold users (default: the warm model).
    cold_item : recommender or spec, optional
        Scores cold items (default: none; cold items then rank last).
    user_threshold : int
        Users with fewer training interactions than this are cold.
    item_threshold : int
        Items with fewer training interactions than this are cold.
    cold_item_weight : float
        Scale of cold items' normalised scores relative to warm items' (in [0, 1] each).
    refit : bool
        See :class:`WeightedHybrid`.

    Examples
    --------
    >>> import likewise
    >>> data = likewise.datasets.movielens("100k")
    >>> model = likewise.SwitchingHybrid(warm=likewise.Baseline(),
    ...                                  cold_user=likewise.ContentKNN(popularity_prior="auto"),
    ...                                  user_threshold=10).fit(data)
    >>> model.recommend([1], n=3).items.shape
    (1, 3)
    """

    _param_spec: ClassVar[dict] = {
        "warm": Any_("a recommender or a spec {'class': ..., 'params': ...}",
                     help="The collaborative model for warm users and items."),
        "cold_user": Any_("a recommender, a spec {'class': ..., 'params': ...} or None",
                          help="Serves cold users (default: the warm model)."),
        "cold_item": Any_("a recommender, a spec {'class': ..., 'params': ...} or None",
                          help="Scores cold items (default: none; cold items rank last)."),
        "user_threshold": Int(0, help="Users with fewer training interactions than this are "
                                      "cold."),
        "item_threshold": Int(0, help="Items with fewer training interactions than this are "
                                      "cold."),
        "cold_item_weight": Float(0.0, help="Scale of cold items' normalised scores relative "
                                            "to warm items'."),
        "refit": Bool(help="Clone and fit every sub-model on the hybrid's data (False: use "
                           "fitted ones as they are)."),
    }

    def __init__(self, warm: Any = None, cold_user: Any = None, cold_item: Any = None, *,
                 user_threshold: int = 5, item_threshold: int = 1,
                 cold_item_weight: float = 1.0, refit: bool = True):
        self.warm = warm
        self.cold_user = cold_user
        self.cold_item = cold_item
        self.user_threshold = user_threshold
        self.item_threshold = item_threshold
        self.cold_item_weight = cold_item_weight
        self.refit = refit

    def _model_params(self):
        return {"warm": self.warm, "cold_user": self.cold_user, "cold_item": self.cold_item}

    def _set_model_params(self, specs):
        self.warm, self.cold_user, self.cold_item = (specs["warm"], specs["cold_user"],
                                                     specs["cold_item"])

    def _check_params(self, data) -> None:
        if self.warm is None:
            raise ConfigError("SwitchingHybrid: warm must be a recommender (the collaborative "
                              "model), got None")

    def _fit(self, data: Interactions) -> None:
        self._fit_submodels(data)
        counts = np.diff(data.matrix.indptr)
        self.cold_users_ = np.asarray(counts < self.user_threshold)
        item_counts = np.zeros(len(self.items_), dtype=np.int64)
        item_counts[: data.n_items] = np.bincount(data.matrix.indices, minlength=data.n_items)
        self.cold_items_ = np.asarray(item_counts < self.item_threshold)

    def _combine(self, warm: np.ndarray, cold: np.ndarray | None) -> np.ndarray:
        """Warm scores on warm items, cold-item scores on cold items, one scale."""
        ci = self.cold_items_
        out = np.full(warm.shape, np.nan, dtype=np.float32)
        if (~ci).any():
            out[:, ~ci] = normalise_scores(warm[:, ~ci], "minmax")
        if ci.any() and cold is not None:
            # normalised over all of the cold-item model's items, so a cold item's value
            # says how it compares with everything that model knows (not only other cold
            # items, which may be just one)
            out[:, ci] = normalise_scores(cold, "minmax")[:, ci] * \
                np.float32(self.cold_item_weight)
        return out

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        has_cold_item = "cold_item" in self._cache_models and self.cold_items_.any()
        out = np.empty((len(user_idx), self.n_items), dtype=np.float32)
        cold_u = self.cold_users_[user_idx] & ("cold_user" in self._cache_models)
        for mask, name in ((~cold_u, "warm"), (cold_u, "cold_user")):
            if not mask.any():
                continue
            users = user_idx[mask]
            main = self._sub_scores(name, users)
            cold = self._sub_scores("cold_item", users) if has_cold_item else None
            out[mask] = self._combine(main, cold)
        return out

    def _score_history(self, item_idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        name = "cold_user" if len(item_idx) < self.user_threshold and \
            "cold_user" in self._cache_models else "warm"
        main = self._sub_history(name, item_idx, values)
        if main is None:
            raise UnsupportedError("the history has no item the serving model knows")
        cold = None
        if "cold_item" in self._cache_models and self.cold_items_.any():
            try:
                cold = self._sub_history("cold_item", item_idx, values)
            except UnsupportedError:
                cold = None
        return self._combine(main[None, :], None if cold is None else cold[None, :])[0]

    def _similar_items_idx(self, item_idx: np.ndarray, n: int):
        # cold items have no collaborative neighbours: ask the cold-item model for them
        out_i = np.full((len(item_idx), n), -1, dtype=np.int64)
        out_s = np.full((len(item_idx), n), np.nan, dtype=np.float32)
        cold = self.cold_items_[item_idx]
        for mask, name in ((~cold, "warm"), (cold, "cold_item")):
            if not mask.any():
                continue
            if name not in self._cache_models:
                name = "warm"
            model = self._cache_models[name]
            _, icols = self._maps()[name]
            sub_idx = icols[item_idx[mask]]
            ok = sub_idx >= 0
            if not ok.any():
                continue
            si, ss = model._similar_items_idx(sub_idx[ok], min(n, model.n_items - 1))
            back = self.items_.index(model.items_.ids_of(np.where(si >= 0, si, 0)).ravel(),
                                    "ignore").reshape(si.shape)
            back = np.where(si >= 0, back, -1)
            rows = np.nonzero(mask)[0][ok]
            out_i[rows, : back.shape[1]] = back
            out_s[rows, : back.shape[1]] = np.where(back >= 0, ss, np.nan)
        return out_i, out_s
