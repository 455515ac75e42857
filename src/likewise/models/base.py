"""The one contract every likewise model follows.

A model subclasses :class:`Recommender`, lists its parameters in ``__init__`` (stored
as-is) and in ``_param_spec`` (checked in ``fit``), and implements a few hooks:

``_fit(data)``
    learn from an :class:`~likewise.data.Interactions`; learned attributes end with ``_``.
``_score(user_idx)``
    dense scores ``(len(user_idx), n_items)`` for known users (the base class blocks the
    users, so a block is small); used by ``recommend`` and, by default, ``predict``. Return
    a fresh array (retrieval may overwrite it in place) or a read-only one (it is copied).
``_predict_idx(user_idx, item_idx)`` (optional)
    a faster rating estimate for (user, item) index pairs.
``_score_history(item_idx, values)`` (optional)
    scores for a user outside the training data (``recommend_from_history``).
``_similar_items_idx(item_idx, n)`` or ``_item_embeddings()`` (optional)
    item-to-item similarity.

Everything else (id handling, unknown-id policy and fallbacks, exclusions, candidates,
blocked top-N, saving and loading) lives here once.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import os
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from .._params import validate
from ..data.interactions import Interactions
from ..data.vocabulary import Vocabulary, query_array
from ._biases import damped_biases
from ._retrieval import ItemSets, Request, _only_candidates, retrieve
from ..errors import (
    ConfigError,
    DataError,
    ModelFormatError,
    NotFittedError,
    RatingRankingWarning,
    UnknownItemError,
    UnknownUserError,
    UnsupportedError,
)
# the model format lives in _persistence; ``likewise.models.base.load`` stays public and
# hybrid.py imports the JSON helpers from here
from ._persistence import FORMAT_VERSION, _jsonable, _save, _to_json, load  # noqa: F401

__all__ = ["FORMAT_VERSION", "ON_UNKNOWN", "Recommendations", "Recommender", "load"]

#: Unknown-id policies: fall back (and mark the rows), or raise.
ON_UNKNOWN = ("fallback", "raise")
_BLOCK_BYTES = 32 * 2**20  # dense score block budget for recommend
_NO_ITEMS = np.empty(0, dtype=np.int64)


# ---------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------
@dataclass
class Recommendations:
    """Top-N lists for many queries (users, or items for ``similar_items``).

    Attributes
    ----------
    users : numpy.ndarray
        The query ids, one per row (user ids, or item ids for ``similar_items``).
    items : numpy.ndarray
        2-D external item ids, best first. Rows with fewer than ``n`` results are padded
        with the vocabulary's missing id (-1 or "").
    scores : numpy.ndarray
        2-D float32 scores aligned with ``items``; padding is NaN.
    fallback : numpy.ndarray
        Boolean per row: True where the query was unknown and a fallback answered.
    item_indices : numpy.ndarray
        2-D internal item indices (-1 for padding), for fast evaluation.
    """

    users: np.ndarray
    items: np.ndarray
    scores: np.ndarray
    fallback: np.ndarray
    item_indices: np.ndarray
    query_name: str = field(default="user", repr=False)
    #: per row "known", "warm" or "cold" (see :meth:`Recommender.recommend`); None
    #: for queries that are not users
    cases: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.users)

    @property
    def counts(self) -> np.ndarray:
        """Number of real (non-padding) results per row."""
        return (self.item_indices >= 0).sum(axis=1)

    def __getitem__(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """``(items, scores)`` of one row without padding."""
        keep = self.item_indices[row] >= 0
        return self.items[row][keep], self.scores[row][keep]

    def to_frame(self, metadata: Any = None):
        """Long pandas DataFrame with columns ``user, item, score, rank, fallback``.

        ``rank`` counts from 1. ``fallback`` is True on the rows of queries a fallback
        answered (unknown users get the most popular items): their ``score`` is the
        item's number of training interactions (``Popularity``: its own item score), not
        a model score or a predicted rating, so filter or group on ``fallback`` before
        comparing scores across rows.

        Parameters
        ----------
        metadata : likewise.Interactions or pandas.DataFrame, optional
            Item columns to join on ``item`` (as the CLI's ``--titles``): an Interactions
            with ``item_metadata`` (e.g. ``likewise.datasets.movielens("100k")`` gives
            ``title, year, genres``), or a DataFrame indexed by item id. Items missing
            from it get NaN.

        Returns
        -------
        pandas.DataFrame
        """
        import pandas as pd

        keep = self.item_indices >= 0
        rows, ranks = np.nonzero(keep)
        frame = pd.DataFrame({
            self.query_name: self.users[rows],
            "item": self.items[keep],
            "score": self.scores[keep],
            "rank": (ranks + 1).astype(np.int64),
            "fallback": self.fallback[rows],
        })
        if metadata is None:
            return frame
        table = _item_table(metadata)
        joined = table.reindex(pd.Index(frame["item"].to_numpy()))
        for column in table.columns:
            frame[column] = joined[column].to_numpy()
        return frame

    def to_dict(self) -> dict:
        """``{query id: [(item id, score), ...]}`` with Python scalars."""
        out = {}
        for r, q in enumerate(self.users.tolist()):
            items, scores = self[r]
            out[q] = list(zip(items.tolist(), scores.astype(float).tolist()))
        return out


def _item_table(metadata: Any):
    """The item-id-indexed DataFrame behind ``to_frame(metadata=...)``, checked."""
    import pandas as pd

    table = metadata.item_metadata if isinstance(metadata, Interactions) else metadata
    if table is None:
        raise DataError("to_frame(metadata=...): this Interactions has no item_metadata; "
                        "pass a DataFrame indexed by item id instead")
    if not isinstance(table, pd.DataFrame):
        raise ConfigError("to_frame(metadata=...) expects a likewise Interactions with "
                          f"item_metadata or a pandas DataFrame indexed by item id, got "
                          f"{type(metadata).__name__}")
    clash = sorted(set(map(str, table.columns)) & {"user", "item", "query_item", "query_user",
                                                   "score", "rank", "fallback"})
    if clash:
        raise ConfigError(f"to_frame(metadata=...): the metadata column(s) {clash} would "
                          "overwrite result columns; rename or drop them first")
    if not table.index.is_unique:
        raise DataError("to_frame(metadata=...): the metadata index has repeated item ids; "
                        "keep one row per item (e.g. table[~table.index.duplicated()])")
    return table


# ---------------------------------------------------------------------------------------
# the top-N-from-ratings warning
# ---------------------------------------------------------------------------------------
# The model configurations (class and parameters) already warned about in this process:
# once per configuration, not per instance, because compare and tune fit a fresh clone
# per fold (and their warnings.catch_warnings blocks reset Python's own once-per-line
# filter). Kept here, not on the model, so queries leave the instances unchanged; the lock
# makes "once" hold when many threads query at once.
_RATING_WARNED: set[str] = set()
_RATING_WARNED_LOCK = threading.Lock()
# True while prepare() warms a model up: its own queries do not use up the warning
_QUIET_RATING_WARNING: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "likewise_quiet_rating_warning", default=False)


def _ranks_by_rating(model: Recommender) -> bool:
    """Whether ``recommend`` on the fitted ``model`` ranks by predicted ratings."""
    return bool(model.estimates_ratings) and model.kind_ == "explicit"


def _rating_ranking_message(model: Recommender) -> str:
    name = type(model).__name__
    if hasattr(model, "mode"):  # UserKNN / ItemKNN
        better = (f"{name}(mode='implicit') (same data), an implicit model such as "
                  "ImplicitALS or EASE on data.as_implicit(), or a WeightedHybrid")
    else:
        better = ("an implicit model such as ImplicitALS, EASE or ItemKNN on "
                  "data.as_implicit(), or a WeightedHybrid")
    return (f"{name} is fitted for rating prediction, so recommend() ranks by predicted "
            "rating, which puts obscure items with a few high ratings first (on MovieLens "
            f"100K such lists score far below popularity in NDCG@10). For top-N use {better}. "
            "Silence with warnings.filterwarnings('ignore', "
            "category=likewise.RatingRankingWarning).")


def _warn_ranking_by_rating(model: Recommender) -> None:
    """Issue :class:`~likewise.RatingRankingWarning` the first time a model of this class
    and parameters recommends in this process."""
    if not getattr(model, "_cache_ranks_by_rating", False) or _QUIET_RATING_WARNING.get():
        return
    params = {name: getattr(model, name, None) for name in model._param_names()}
    key = f"{type(model).__module__}.{type(model).__qualname__}{sorted(params.items())!r}"
    with _RATING_WARNED_LOCK:
        if key in _RATING_WARNED:
            return
        _RATING_WARNED.add(key)
    # stacklevel 3: the caller of recommend()
    warnings.warn(_rating_ranking_message(model), RatingRankingWarning, stacklevel=3)


# ---------------------------------------------------------------------------------------
# the base class
# ---------------------------------------------------------------------------------------
class Recommender:
    """Base class of every likewise model (see the module docstring for the hooks).

    Class attributes that describe a model:

    ``_param_spec``: parameter name -> rule (from ``likewise._params``), checked in ``fit``.
    ``requires_explicit``: the model needs ratings (``fit`` on implicit data raises).
    ``estimates_ratings``: ``predict`` returns rating estimates on the data's scale (clipped);
    otherwise it returns ranking scores.
    """

    _param_spec: ClassVar[dict] = {}
    requires_explicit: ClassVar[bool] = False
    estimates_ratings: ClassVar[bool] = True
    #: the model sets ``global_mean_`` and ``fallback_*_bias_`` itself (skip the default)
    _sets_own_biases: ClassVar[bool] = False
    #: items without training interactions are still known (scored from content); for
    #: every other model such items are unknown: never recommended, predicted by fallback
    knows_items_without_interactions: ClassVar[bool] = False

    # -- parameters (scikit-learn style) ---------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self, deep: bool = True) -> dict:
        """The constructor parameters as a dict (scikit-learn's contract).

        Parameters
        ----------
        deep : bool, default True
            Also list the parameters of sub-models as ``name__param``: a parameter that
            holds a model (``SwitchingHybrid(warm=...)`` gives ``warm__factors``) or a dict
            of models (``WeightedHybrid(models={"pop": ...})`` gives ``models__pop`` and
            ``models__pop__method``). Sub-models given as specs are not expanded.

        Returns
        -------
        dict
            Parameter name -> value, as stored by ``__init__``.
        """
        params = {name: getattr(self, name) for name in self._param_names()}
        if not deep:
            return params
        out = dict(params)
        for name, value in params.items():
            for prefix, model in _sub_models(name, value):
                if prefix != name:
                    out[prefix] = model
                out.update({f"{prefix}__{k}": v for k, v in model.get_params(deep=True).items()})
        return out

    def set_params(self, **params: Any) -> Recommender:
        """Set constructor parameters (takes effect at the next ``fit``).

        ``name__param`` sets a sub-model's parameter (``warm__factors=32``,
        ``models__pop__method="weighted"``); ``models__pop=model`` replaces one model of a
        dict of models (the dict is copied, so a dict the caller passed in is not changed).

        Returns
        -------
        Recommender
            ``self``.

        Raises
        ------
        ConfigError
            A parameter the model (or the sub-model) does not have; the valid ones are listed.
        """
        valid = set(self._param_names())
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, _, rest = key.partition("__")
            if name not in valid:
                raise ConfigError(f"{type(self).__name__} has no parameter {name!r}; "
                                  f"valid: {', '.join(sorted(valid))}")
            if rest:
                nested.setdefault(name, {})[rest] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            setattr(self, name, _set_nested(getattr(self, name), sub_params,
                                            f"{type(self).__name__}.{name}"))
        return self

    def clone(self) -> Recommender:
        """An unfitted copy with the same parameters (sub-models are shared, not copied;
        ``sklearn.base.clone`` copies them too)."""
        return type(self)(**self.get_params(deep=False))

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        parts = []
        for name, value in self.get_params(deep=False).items():
            default = sig.parameters[name].default
            if default is inspect.Parameter.empty or not _same(value, default):
                parts.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    # -- fitting ----------------------------------------------------------------------
    def fit(self, data: Interactions) -> Recommender:
        """Learn from ``data`` and return ``self``.

        Parameters are validated first (:class:`~likewise.ConfigError` names the
        parameter, its allowed range and the value). Fitting again starts from scratch.
        """
        if not isinstance(data, Interactions):
            raise DataError(f"{type(self).__name__}.fit expects likewise Interactions "
                            f"(from likewise.read_csv or likewise.datasets), got "
                            f"{type(data).__name__}")
        validate(type(self).__name__, self._param_spec, self.get_params())
        self._check_params(data)
        if self.requires_explicit and not data.is_explicit:
            raise DataError(f"{type(self).__name__} needs explicit ratings but the data is "
                            "implicit; load it with a rating column or use an implicit model "
                            "(ItemKNN, ImplicitALS, BPR, EASE)")
        if data.nnz == 0:
            raise DataError(f"{type(self).__name__}.fit got no interactions")
        from ._compile_notice import install as announce_compiles

        announce_compiles()  # a first-use numba compile says so on stderr (issue 19)
        self._reset()
        self._fit_common(data)
        self._fit(data)
        self._adopt_own_biases()
        self._derive_state()
        self.fitted_ = True
        return self

    def _check_params(self, data: Interactions) -> None:
        """Cross-parameter checks beyond ``_param_spec`` (override when needed)."""

    def _learned_names(self) -> list[str]:
        """Attributes set by ``fit`` (trailing underscore, not a constructor parameter)."""
        params = set(self._param_names())
        return [k for k in vars(self)
                if k.endswith("_") and not k.startswith("_") and k not in params]

    def _reset(self) -> None:
        for name in self._learned_names():
            delattr(self, name)
        for name in [k for k in vars(self) if k.startswith("_cache")]:
            delattr(self, name)

    def _fit_common(self, data: Interactions) -> None:
        self.users_ = data.users
        self.items_ = data.items
        self.kind_ = data.kind
        self.rating_scale_ = data.rating_scale
        self.user_items_ = data.matrix
        # fallbacks: popularity for rankings, a damped baseline for ratings
        self.item_popularity_ = np.bincount(data.matrix.indices,
                                            minlength=data.n_items).astype(np.float32)
        if data.is_explicit and self._sets_own_biases:
            self.global_mean_ = None  # set by _fit
        elif data.is_explicit:
            mu, bu, bi = damped_biases(data.matrix, iterations=2)
            self.global_mean_ = mu
            self.fallback_user_bias_ = bu
            self.fallback_item_bias_ = bi
        else:
            self.global_mean_ = None

    def _fit(self, data: Interactions) -> None:
        raise NotImplementedError

    def _own_biases(self):
        """The model's learned ``(global mean, user biases, item biases)``, or None."""
        mu = getattr(self, "mu_", getattr(self, "bias_mean_", None))
        bu, bi = getattr(self, "user_bias_", None), getattr(self, "item_bias_", None)
        if mu is None or bu is None or bi is None or \
                len(bu) != len(self.users_) or len(bi) != len(self.items_):
            return None
        return float(mu), np.asarray(bu, np.float32), np.asarray(bi, np.float32)

    def _adopt_own_biases(self) -> None:
        """Fallback estimates for partly unknown pairs use the model's own learned biases
        (global mean + the known side's bias) when it has them; otherwise the damped
        baseline computed in ``_fit_common``."""
        own = self._own_biases() if self.global_mean_ is not None else None
        if own is not None:
            self.global_mean_, self.fallback_user_bias_, self.fallback_item_bias_ = own

    def _extend_items(self, items: Vocabulary) -> None:
        """Grow the item vocabulary to ``items`` (this one followed by new ids).

        For models that know items without interactions (content, images, hybrids): the
        per-item state set by ``fit`` gets empty entries for the new items (no interactions,
        zero popularity and bias), so they can be scored and recommended.
        """
        extra = len(items) - len(self.items_)
        if extra <= 0:
            return
        m = self.user_items_
        self.user_items_ = sp.csr_matrix((m.data, m.indices, m.indptr),
                                         shape=(m.shape[0], len(items)))
        self.item_popularity_ = np.r_[self.item_popularity_,
                                      np.zeros(extra, np.float32)].astype(np.float32)
        if getattr(self, "fallback_item_bias_", None) is not None:
            self.fallback_item_bias_ = np.r_[self.fallback_item_bias_,
                                             np.zeros(extra, np.float32)].astype(np.float32)
        self.items_ = items

    def _check_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(data) "
                                 "first")

    @property
    def n_users(self) -> int:
        self._check_fitted()
        return len(self.users_)

    @property
    def n_items(self) -> int:
        self._check_fitted()
        return len(self.items_)

    # -- hooks with defaults ----------------------------------------------------------
    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        raise UnsupportedError(f"{type(self).__name__} cannot score users")

    def _predict_idx(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        """Default: score each distinct user once (in blocks) and gather the pairs."""
        out = np.empty(len(user_idx), dtype=np.float32)
        order = np.argsort(user_idx, kind="stable")
        sorted_users = user_idx[order]
        uniq, starts = np.unique(sorted_users, return_index=True)
        ends = np.r_[starts[1:], len(order)]
        for lo, hi in _blocks(len(uniq), self._block_rows()):
            scores = self._score(uniq[lo:hi])
            a, b = starts[lo], ends[hi - 1]
            rows = np.searchsorted(uniq[lo:hi], sorted_users[a:b])
            out[order[a:b]] = scores[rows, item_idx[order[a:b]]]
        return out

    def _score_history(self, item_idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        raise UnsupportedError(f"{type(self).__name__} cannot recommend for users outside the "
                               "training data; refit with the new user's interactions")

    def _item_embeddings(self) -> np.ndarray | None:
        """Item vectors whose cosine is the model's item similarity (None: no such vectors)."""
        return None

    def _dot_factors(self):
        """``(user_vectors, item_vectors, user_offset)`` with, for every user u,
        ``_score([u]) == user_vectors[u] @ item_vectors.T + user_offset[u]``
        (``user_offset`` may be None), or None when the model is not a dot-product model.
        Factor models implement it so ``recommend(index=...)`` can search an index."""
        return

    # -- neighbour indexes and preparation --------------------------------------------
    def build_index(self, backend: str = "hnsw", **params):
        """Build (and keep) a maximum-inner-product index over the item factors.

        ``recommend(users, index=...)`` then answers through it instead of scoring every
        item: the exact path stays the default and the oracle. Only dot-product (factor)
        models support it. Parameters go to :func:`likewise.index.build`.

        Examples
        --------
        >>> model = likewise.ImplicitALS(factors=64).fit(likes)  # doctest: +SKIP
        >>> model.build_index("hnsw", M=16, ef=200)  # doctest: +SKIP
        >>> model.recommend(users, n=10, index="hnsw")  # doctest: +SKIP
        """
        self._check_fitted()
        factors = self._dot_factors()
        if factors is None:
            raise UnsupportedError(f"{type(self).__name__} is not a factor model; index search "
                                   "needs user and item factors (SVD, ALS, ImplicitALS, BPR...)")
        from ..index import build

        index = build(np.asarray(factors[1], dtype=np.float32), metric="dot", backend=backend,
                      **params)
        self._cache_item_index = index
        return index

    def build_similarity_index(self, backend: str = "hnsw", **params):
        """Build (and keep) a cosine index over the item vectors for
        ``similar_items(items, index=...)``. Parameters go to :func:`likewise.index.build`."""
        self._check_fitted()
        vectors = self._item_embeddings()
        if vectors is None:
            raise UnsupportedError(f"{type(self).__name__} has no item vectors to index")
        from ..index import build

        index = build(np.asarray(vectors, dtype=np.float32), metric="cosine", backend=backend,
                      **params)
        self._cache_similarity_index = index
        return index

    def prepare(self, index: Any = None, *, similar_index: Any = None,
                warm: bool = True) -> Recommender:
        """Do every one-off cost now, so the first query is as fast as the thousandth.

        Queries never build, cache or compile anything themselves (so they are safe to
        run from many threads at once); this method does that work up front. Call it once
        after ``fit`` or ``load``, before serving, and not while queries run.

        Parameters
        ----------
        index : str or likewise.index.Index, optional
            Build (or adopt) the item-factor index that ``recommend(..., index=...)`` uses:
            a backend name (``"hnsw"``, ``"annoy"``, ``"faiss"``, ``"exact"``) with default
            settings, or a ready Index. Factor models only.
        similar_index : str or likewise.index.Index, optional
            The same for the cosine index that ``similar_items(..., index=...)`` uses.
        warm : bool
            Run one query through every entry point the model supports (``recommend``
            for one and for many users, with the index when given, ``predict``,
            ``similar_items``, ``recommend_from_history``) so that the compiled kernels are
            loaded before the first real request.

        Returns
        -------
        self
        """
        from ..index.base import Index
        from ._compile_notice import install as announce_compiles

        announce_compiles()  # a loaded model's first compile says so too (issue 19)
        self._check_fitted()
        self._derive_state()
        self._prepare_queries()
        if isinstance(index, Index):
            self._cache_item_index = index
        elif index is not None:
            _check_backend(index)
            self.build_index(index)
        if isinstance(similar_index, Index):
            self._cache_similarity_index = similar_index
        elif similar_index is not None:
            _check_backend(similar_index)
            self.build_similarity_index(similar_index)
        if warm:
            self._warm_up(index is not None, similar_index is not None)
        return self

    def _validate_state(self) -> None:
        """Check the state a load restored before anything uses it (runs before
        :meth:`_after_load`).

        The base checks what every family has (vocabularies, the training matrix, rating
        scale, global mean, and the factors, biases and popularity of
        ``_persistence.COMMON_AXES``: shapes against the vocabularies, finite values); a
        family with more arrays extends it (``super()._validate_state()`` then
        ``_persistence.check_state`` / ``check_indices``), above all for arrays whose
        values index something: kernels read those unchecked. Raises
        :class:`~likewise.ModelFormatError`.
        """
        from ._persistence import check_common_state

        check_common_state(self)

    def _derive_state(self) -> None:
        """Build the derived state every query reads; runs at the end of ``fit`` and after
        ``load``, never inside a query (models extend :meth:`_derive`, not this)."""
        # a user or item without training interactions is unknown to the model: its
        # factors (or neighbours) were never trained, so it must not be scored as known
        self._cache_trained_users = np.diff(self.user_items_.indptr) > 0
        self._cache_trained_items = np.ones(len(self.items_), dtype=bool) \
            if self.knows_items_without_interactions else self.item_popularity_ > 0
        self._cache_untrained_items = np.nonzero(~self._cache_trained_items)[0].astype(np.int64)
        vectors = self._item_embeddings()
        self._cache_unit_items = None if vectors is None else unit_rows(vectors)
        self.users_.prepare_lookups()
        self.items_.prepare_lookups()
        self._cache_ranks_by_rating = _ranks_by_rating(self)
        self._derive()

    def _derive(self) -> None:
        """Model-specific derived state (lookup tables, a search index); override."""

    def _prepare_queries(self) -> None:
        """Optional query caches built only by :meth:`prepare` (queries compute the same
        answers without them, just slower); override when a model has some."""

    def _warm_up(self, with_index: bool, with_similar_index: bool) -> None:
        """One query per entry point, results discarded (loads the compiled kernels)."""
        known = np.nonzero(np.diff(self.user_items_.indptr) > 0)[0]
        if len(known) == 0 or self.n_items == 0:
            return
        user = self.users_.ids_of(known[:1])
        many = self.users_.ids_of(known[:self._block_rows()])
        item = self.items_.ids_of(self.user_items_.indices[:1])
        quiet = _QUIET_RATING_WARNING.set(True)  # the user's first recommend still warns
        try:
            self.recommend(user, n=10)
            self.recommend(many, n=10)
            if with_index:
                self.recommend(user, n=10, index=self._cache_item_index)
        finally:
            _QUIET_RATING_WARNING.reset(quiet)
        self.predict(user, item)
        for call in (lambda: self.similar_items(item, n=10),
                     lambda: self.recommend_from_history(item, n=10)):
            with contextlib.suppress(UnsupportedError):
                call()
        if with_similar_index:
            self.similar_items(item, n=10, index=self._cache_similarity_index)

    def _resolve_index(self, index, kind: str):
        """The prepared index a query asked for (never built here: see :meth:`prepare`)."""
        from ..index.base import Index

        if isinstance(index, Index):
            return index
        _check_backend(index)
        if kind == "dot" and self._dot_factors() is None:
            raise UnsupportedError(f"{type(self).__name__} is not a factor model; index search "
                                   "needs user and item factors (SVD, ALS, ImplicitALS, BPR...)")
        if kind != "dot" and self._item_embeddings() is None:
            raise UnsupportedError(f"{type(self).__name__} has no item vectors to index")
        attr = "_cache_item_index" if kind == "dot" else "_cache_similarity_index"
        cached = getattr(self, attr, None)
        if cached is not None and cached.backend == index:
            return cached
        how = (f"model.prepare(index={index!r})" if kind == "dot"
               else f"model.prepare(similar_index={index!r})")
        raise ConfigError(f"{type(self).__name__} has no {index!r} index prepared; call {how} "
                          "once before querying (queries never build indexes themselves)")

    def _similar_items_idx(self, item_idx: np.ndarray, n: int):
        unit = self._cache_unit_items
        if unit is None:
            raise UnsupportedError(f"{type(self).__name__} has no notion of item similarity")
        return cosine_top_n(unit, item_idx, n, normalised=True)

    # -- predict ----------------------------------------------------------------------
    def predict(self, users: Any, items: Any, *, on_unknown: str = "fallback",
                return_fallback: bool = False):
        """Estimate ratings (or scores) for (user, item) pairs given as external ids.

        Parameters
        ----------
        users, items : array-like
            Equal-length arrays of external ids (pairs).
        on_unknown : {"fallback", "raise"}
            Unknown users or items get the baseline estimate (global mean + known biases;
            NaN for implicit models), or raise :class:`~likewise.UnknownUserError` /
            :class:`~likewise.UnknownItemError`.
        return_fallback : bool
            Also return a boolean array marking the pairs that used the fallback.

        Returns
        -------
        numpy.ndarray
            float32 estimates, clipped to the rating scale for rating models.

        Examples
        --------
        >>> model.predict([196, 186], [242, 302])  # doctest: +SKIP
        array([3.9, 3.6], dtype=float32)
        """
        self._check_fitted()
        users, u = self._lookup(self.users_, users, on_unknown, "user")
        items, i = self._lookup(self.items_, items, on_unknown, "item")
        if len(users) != len(items):
            raise ConfigError(f"users and items must have the same length "
                              f"({len(users)} vs {len(items)})")
        known = (u >= 0) & (i >= 0)
        out = np.empty(len(users), dtype=np.float32)
        if known.any():
            out[known] = self._predict_idx(u[known], i[known])
        if (~known).any():
            out[~known] = self._fallback_predict(u[~known], i[~known])
        if self.estimates_ratings and self.rating_scale_ is not None:
            np.clip(out, self.rating_scale_[0], self.rating_scale_[1], out=out)
        return (out, ~known) if return_fallback else out

    def _fallback_predict(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        if self.global_mean_ is None:
            return np.full(len(u), np.nan, dtype=np.float32)
        est = np.full(len(u), self.global_mean_, dtype=np.float32)
        est[u >= 0] += self.fallback_user_bias_[u[u >= 0]]
        est[i >= 0] += self.fallback_item_bias_[i[i >= 0]]
        return est

    # -- recommend --------------------------------------------------------------------
    def recommend(self, users: Any, n: int = 10, *, exclude_seen: bool = True,
                  candidates: Any = None, exclude: Any = None,
                  on_unknown: str = "fallback", index: Any = None,
                  histories: Any = None) -> Recommendations:
        """Top-``n`` items for many users at once.

        Every user is one of three cases (``Recommendations.cases``): **known** (in the
        training data: scored by the model), **warm** (not in the model, but ``histories``
        gives their interactions: folded in like :meth:`recommend_from_history`, on models
        that can) and **cold** (neither: the most popular items, marked in ``fallback``).

        Parameters
        ----------
        users : array-like
            External user ids (a scalar is one user).
        n : int
            List length; rows are padded when fewer items qualify.
        exclude_seen : bool
            Leave out items the user interacted with (training data, or their history).
        candidates : array-like or list of array-like, optional
            Only rank these items: one array for every user, or one array per user.
        exclude : array-like or list of array-like, optional
            Never return these items: one array for every user, or one array per user.
        on_unknown : {"fallback", "raise"}
            Cold users get the most popular items (marked in ``fallback``), or raise
            :class:`~likewise.UnknownUserError`.
        index : str or likewise.index.Index, optional
            Factor models only: answer known users through a maximum-inner-product index
            over the item factors, prepared once with :meth:`prepare` (``"hnsw"``,
            ``"annoy"``, ``"faiss"``, ``"exact"``) or given as an Index, instead of scoring
            every item. Approximate backends trade a little recall for speed on large
            catalogues. With ``candidates`` the exact path is used.
        histories : mapping, optional
            ``{user id: items}`` or ``{user id: (items, ratings)}`` for users the model was
            not trained on (e.g. read from the service's store); ignored for known users.

        Returns
        -------
        Recommendations

        Warns
        -----
        RatingRankingWarning
            When the model was fitted for rating prediction (``estimates_ratings`` on
            explicit data: SVD, ALS, Baseline, explicit-mode kNN...): such lists rank by
            predicted rating, and the message names the better choice for top-N. Once
            per model configuration (class and parameters) in a process, so the clones
            ``compare`` and ``tune`` fit per fold warn once. Whether a model warns is set
            at ``fit``/``load``; warming up in :meth:`prepare` does not use the warning
            up, and results never depend on it.

        Examples
        --------
        >>> recs = model.recommend([1, 2, 3], n=5)  # doctest: +SKIP
        >>> recs.to_frame().head()  # doctest: +SKIP
        """
        self._check_fitted()
        _check_n(n)
        _check_choice("on_unknown", on_unknown, ON_UNKNOWN)
        _warn_ranking_by_rating(self)
        users, u = self._lookup(self.users_, users, "fallback", "user")
        warm_rows, warm_scores = self._warm_rows(users, u, histories)
        cold = u < 0
        cold[warm_rows] = False
        if on_unknown == "raise" and cold.any():
            self._lookup(self.users_, users[cold], "raise", "user")
        cand = self._item_sets(candidates, len(users), "candidates", on_unknown)
        excl = self._item_sets(exclude, len(users), "exclude", on_unknown)
        n_eff = min(n, self.n_items)
        top_idx = np.full((len(users), n_eff), -1, dtype=np.int64)
        top_scores = np.full((len(users), n_eff), np.nan, dtype=np.float32)
        item_index = None
        if index is not None and cand is None:
            item_index = self._resolve_index(index, "dot")
        rows = np.arange(len(users))
        for lo, hi in _blocks(int((u >= 0).sum()), self._block_rows()):
            block = rows[u >= 0][lo:hi]
            seen = ItemSets.rows_of(self.user_items_, u[block]) if exclude_seen else None
            request = self._request(n_eff, block, seen, cand, excl)
            if item_index is not None:
                user_vecs, _, offset = self._dot_factors()
                top_idx[block], top_scores[block] = retrieve(
                    request, index=item_index, vectors=user_vecs[u[block]],
                    offset=None if offset is None else offset[u[block]])
            else:
                top_idx[block], top_scores[block] = retrieve(request,
                                                             scores=self._score(u[block]))
        for row, (item_idx, scores) in zip(warm_rows, warm_scores):
            seen = ItemSets.from_lists([item_idx]) if exclude_seen else None
            request = self._request(n_eff, np.array([row]), seen, cand, excl)
            ti, ts = retrieve(request, scores=scores)
            top_idx[row], top_scores[row] = ti[0], ts[0]
        for lo, hi in _blocks(int(cold.sum()), self._block_rows()):
            block = rows[cold][lo:hi]
            request = self._request(n_eff, block, None, cand, excl)
            pop = np.broadcast_to(self._fallback_scores()[None, :], (len(block), self.n_items))
            top_idx[block], top_scores[block] = retrieve(request, scores=pop)
        cases = np.where(u >= 0, "known", "cold").astype(object)
        cases[warm_rows] = "warm"
        return self._result(users, top_idx, top_scores, cold, cases=cases)

    def _fallback_scores(self) -> np.ndarray:
        return self.item_popularity_

    def _warm_rows(self, users, u, histories):
        """Rows of users outside the model whose history in ``histories`` the model can
        fold in, with (history item indices, fold-in scores) for each."""
        if histories is None:
            return np.empty(0, np.int64), []
        if not hasattr(histories, "get"):
            raise ConfigError("histories must be a mapping {user id: items or (items, "
                              f"ratings)}}, got {type(histories).__name__}")
        rows, found = [], []
        for row in np.nonzero(u < 0)[0].tolist():
            history = histories.get(users[row].item() if hasattr(users[row], "item")
                                    else users[row])
            if history is None:
                continue
            items, ratings = history if isinstance(history, tuple) and len(history) == 2 \
                else (history, None)
            item_idx, values = self._history_arrays(items, ratings)
            if not len(item_idx):
                continue
            try:
                scores = self._history_scores(item_idx, values)
            except UnsupportedError:
                continue  # this model (or this history, for hybrids) cannot fold in: cold
            rows.append(row)
            found.append((item_idx, scores))
        return np.asarray(rows, dtype=np.int64), found

    @property
    def can_fold_in(self) -> bool:
        """Whether the model scores users outside its training data from a history."""
        return type(self)._score_history is not Recommender._score_history

    def _history_arrays(self, items: Any, ratings: Any):
        """A history's known item indices and values (ratings, or a default per item)."""
        items, idx = self._lookup(self.items_, items, "fallback", "item")
        if ratings is None:
            scale = self.rating_scale_
            values = np.full(len(items), 1.0 if self.global_mean_ is None or scale is None
                             else float(scale[1]), dtype=np.float32)
        else:
            values = np.asarray(ratings, dtype=np.float32).reshape(-1)
            if len(values) != len(items):
                raise ConfigError(f"items and ratings must have the same length "
                                  f"({len(items)} vs {len(values)})")
        keep = idx >= 0
        return idx[keep], values[keep]

    def _history_scores(self, item_idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        return np.asarray(self._score_history(item_idx, values), dtype=np.float32)[None, :]

    def recommend_from_history(self, items: Any, ratings: Any = None, n: int = 10, *,
                               exclude_seen: bool = True, candidates: Any = None,
                               exclude: Any = None) -> Recommendations:
        """Top-``n`` for someone outside the training data, from the items they used.

        Unknown items in the history are ignored. Models that cannot fold in a new user
        raise :class:`~likewise.UnsupportedError`.

        Parameters
        ----------
        items : array-like
            External ids of the items the person interacted with.
        ratings : array-like, optional
            Their ratings (explicit models) or weights; default 1 each (or the global mean
            for explicit models).
        """
        self._check_fitted()
        _check_n(n)
        idx, values = self._history_arrays(items, ratings)
        if len(idx):
            scores = self._history_scores(idx, values)
        else:
            scores = self._fallback_scores()[None, :]
        seen = ItemSets.from_lists([idx]) if exclude_seen and len(idx) else None
        request = self._request(min(n, self.n_items), np.array([0]), seen,
                                self._item_sets(candidates, 1, "candidates", "fallback"),
                                self._item_sets(exclude, 1, "exclude", "fallback"))
        top_idx, top_scores = retrieve(request, scores=scores)
        return self._result(np.array([None], dtype=object), top_idx, top_scores,
                            np.array([len(idx) == 0]))

    # -- similar items ----------------------------------------------------------------
    def similar_items(self, items: Any, n: int = 10, *, on_unknown: str = "fallback",
                      index: Any = None) -> Recommendations:
        """The ``n`` items most similar to each of ``items`` (the item itself excluded).

        Unknown items get the most popular items (``fallback`` marks them) or raise
        :class:`~likewise.UnknownItemError` with ``on_unknown="raise"``. Models with item
        vectors accept ``index="hnsw"`` (or another backend prepared with
        ``prepare(similar_index=...)``, or an Index) to search a cosine index over them
        instead of comparing with every item.
        """
        self._check_fitted()
        _check_n(n)
        items, idx = self._lookup(self.items_, items, on_unknown, "item")
        n_eff = min(n, max(self.n_items - 1, 1))
        top_idx = np.full((len(items), n_eff), -1, dtype=np.int64)
        top_scores = np.full((len(items), n_eff), np.nan, dtype=np.float32)
        known = idx >= 0
        request = Request(n_eff, self.n_items, ItemSets.one_each(idx[known]),
                          allowed=self._recommendable())
        if known.any() and index is not None:
            sim_index = self._resolve_index(index, "cosine")
            vectors = np.asarray(self._item_embeddings(), dtype=np.float32)
            top_idx[known], top_scores[known] = retrieve(request, index=sim_index,
                                                         vectors=vectors[idx[known]])
        elif known.any():
            top_idx[known], top_scores[known] = retrieve(
                request, ranked=self._similar_items_idx(idx[known], n_eff))
        if (~known).any():
            request = Request(n_eff, self.n_items, ItemSets.empty(1),
                              allowed=self._recommendable())
            pi, ps = retrieve(request, scores=self._fallback_scores()[None, :])
            top_idx[~known], top_scores[~known] = pi, ps
        return self._result(items, top_idx, top_scores, ~known, query_name="query_item")

    # -- helpers ----------------------------------------------------------------------
    def _block_rows(self) -> int:
        return max(1, min(4096, _BLOCK_BYTES // (4 * max(1, len(self.items_)))))

    def _lookup(self, vocab: Vocabulary, ids: Any, on_unknown: str, what: str):
        """The query preamble of every entry point: ids as a 1-D array and their indices
        (-1 unknown), or :class:`UnknownUserError` / :class:`UnknownItemError` under
        ``on_unknown="raise"``."""
        _check_choice("on_unknown", on_unknown, ON_UNKNOWN)
        ids = query_array(ids)  # 1-D; True in [True, 2] stays True, not the id 1
        error = UnknownUserError if what == "user" else UnknownItemError
        idx = vocab.index(ids, "raise" if on_unknown == "raise" else "ignore", error=error,
                          what=what)
        untrained = self._untrained(vocab, idx)
        if untrained is not None and untrained.any():
            if on_unknown == "raise":
                raise error(f"{what} {ids[untrained][0]!r} has no interactions in the training "
                            "data, so the model knows nothing about it; use "
                            "on_unknown='fallback' or refit with its interactions")
            idx = np.where(untrained, -1, idx)
        return ids, idx

    def _untrained(self, vocab: Vocabulary, idx: np.ndarray) -> np.ndarray | None:
        """Mask of looked-up ids that are in the vocabulary but have no training data."""
        if vocab is self.users_:
            trained = self._cache_trained_users
        elif vocab is self.items_ and len(self._cache_untrained_items):
            trained = self._cache_trained_items
        else:
            return None
        return (idx >= 0) & ~trained[np.maximum(idx, 0)]

    def _item_sets(self, spec: Any, n_rows: int, name: str, on_unknown: str):
        """Normalise candidates / exclude to ('shared', idx) or ('per_row', ItemSets) or None."""
        if spec is None:
            return None

        def lookup(values):
            idx = self._lookup(self.items_, values, on_unknown, f"item in {name}")[1]
            return idx[idx >= 0]

        if isinstance(spec, (list, tuple)) and len(spec) and \
                isinstance(spec[0], (list, tuple, np.ndarray)):
            if len(spec) != n_rows:
                raise ConfigError(f"{name} has {len(spec)} lists but there are {n_rows} users; "
                                  "give one list per user or one shared list")
            return ("per_row", ItemSets.from_lists([lookup(s) for s in spec]))
        return ("shared", lookup(np.asarray(spec).reshape(-1)))

    def _request(self, n: int, rows: np.ndarray, seen: ItemSets | None, cand, excl) -> Request:
        """The :class:`Request` for query ``rows``: skip = seen items + exclusions."""
        skip = seen if seen is not None else ItemSets.empty(len(rows))
        return Request(n, self.n_items, skip.union(_rows_of_sets(excl, rows)),
                       _rows_of_sets(cand, rows), self._recommendable())

    def _recommendable(self) -> np.ndarray | None:
        """Mask of the items results may hold (None: all): never one the model was not
        trained on."""
        return self._cache_trained_items if len(self._cache_untrained_items) else None

    def _mask(self, scores: np.ndarray, seen_users, rows: np.ndarray, cand, excl) -> None:
        """Set excluded entries of a score block to -inf, in place (for callers that need
        the masked block itself rather than its top-N)."""
        np.putmask(scores, np.isnan(scores), -np.inf)
        skip = ItemSets.rows_of(self.user_items_, seen_users) if seen_users is not None \
            else ItemSets.empty(len(rows))
        skip = skip.union(_rows_of_sets(excl, rows))
        scores[np.repeat(np.arange(len(rows)), skip.lengths), skip.indices] = -np.inf
        allowed = _rows_of_sets(cand, rows)
        if allowed is not None:
            scores[...] = _only_candidates(scores, allowed)

    def _result(self, queries, top_idx, top_scores, fallback, query_name="user", cases=None):
        top_scores = top_scores.astype(np.float32, copy=False)
        top_idx = np.where(np.isfinite(top_scores), top_idx, -1)
        top_scores = np.where(top_idx >= 0, top_scores, np.nan).astype(np.float32)
        return Recommendations(users=np.asarray(queries), items=self.items_.ids_of(top_idx),
                               scores=top_scores, fallback=np.asarray(fallback, dtype=bool),
                               item_indices=top_idx, query_name=query_name, cases=cases)

    # -- persistence ------------------------------------------------------------------
    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Save to a directory (or a single ``.zip`` file) as a JSON manifest plus arrays.

        Atomic and durable: readers of ``path`` see the complete old model or the complete
        new one, at any instant and after any crash; concurrent saves to one path take
        turns. No pickle is used; loading verifies every file's SHA-256. Only a previous
        likewise model (or an empty folder) is ever replaced: anything else at ``path``
        raises :class:`~likewise.ModelFormatError` unless ``overwrite=True``. See
        docs/models.md, "Saving and loading: what is guaranteed".

        Parameters
        ----------
        path : path
            The folder, or a file name ending in ``.zip``.
        overwrite : bool
            Replace whatever is at ``path``, even if it is not a likewise model.

        Returns
        -------
        Path
            ``path``.
        """
        self._check_fitted()
        return _save(self, Path(path), overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike, *, mmap: bool = False,
             verify: bool = True) -> Recommender:
        """Load a model saved with :meth:`save` (see :func:`likewise.load`)."""
        model = load(path, mmap=mmap, verify=verify)
        if not isinstance(model, cls):
            raise ModelFormatError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}")
        return model

    def _extra_state(self) -> dict:
        """Learned state that is not arrays/scalars; override with ``_restore_extra``."""
        return {}

    def _after_load(self) -> None:
        """Rebuild derived caches after loading (override when needed)."""


# ---------------------------------------------------------------------------------------
# shared numeric helpers
# ---------------------------------------------------------------------------------------
def top_n(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``n`` largest entries per row, best first.

    Ties go to the lower index; NaN and -inf never qualify (their places are padding:
    index -1, value NaN). Runs the fused numba kernel; :func:`top_n_reference` is the
    plain NumPy version it is tested against.
    """
    from ._topk import top_n_masked

    return top_n_masked(scores, np.zeros(scores.shape[0] + 1, np.int64), _NO_ITEMS, n)


def top_n_reference(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Readable :func:`top_n`: a full stable sort of every row (slow, exact)."""
    scores = np.asarray(scores, dtype=np.float32)
    n = min(n, scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :n]  # NaN sorts last
    vals = np.take_along_axis(scores, order, axis=1)
    valid = vals > -np.inf
    return (np.where(valid, order, -1).astype(np.int64),
            np.where(valid, vals, np.nan).astype(np.float32))


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` scaled to unit length per row (zero rows stay zero), C-ordered float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1)
    return np.ascontiguousarray(vectors / np.where(norms > 0, norms, 1)[:, None],
                                dtype=np.float32)


def cosine_top_n(vectors: np.ndarray, query_idx: np.ndarray, n: int,
                 block: int = 1024, *, normalised: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Top-``n`` cosine neighbours of rows ``query_idx`` among all rows (self excluded);
    ``normalised=True`` says the rows are unit length already (see :func:`unit_rows`)."""
    from ._factors import dot_rows

    unit = np.asarray(vectors, dtype=np.float32) if normalised else unit_rows(vectors)
    out_i = np.empty((len(query_idx), n), dtype=np.int64)
    out_s = np.empty((len(query_idx), n), dtype=np.float32)
    for lo, hi in _blocks(len(query_idx), block):
        q = query_idx[lo:hi]
        sims = dot_rows(unit, q, unit)
        sims[np.arange(len(q)), q] = -np.inf
        out_i[lo:hi], out_s[lo:hi] = top_n(sims, n)
    return out_i, out_s


def dot_factors(user_factors, item_factors, item_bias=None, user_offset=None):
    """The ``_dot_factors`` triple of a factor model: an item bias becomes one more
    coordinate (user side 1), a per-user constant (global mean + user bias) an offset."""
    user_factors = np.asarray(user_factors, dtype=np.float32)
    item_factors = np.asarray(item_factors, dtype=np.float32)
    if item_bias is not None:
        user_factors = np.hstack([user_factors, np.ones((len(user_factors), 1), np.float32)])
        item_factors = np.hstack([item_factors,
                                  np.asarray(item_bias, np.float32).reshape(-1, 1)])
    offset = None if user_offset is None else np.asarray(user_offset, dtype=np.float32)
    return user_factors, item_factors, offset


def _blocks(n: int, size: int):
    for lo in range(0, n, size):
        yield lo, min(n, lo + size)


def _check_n(n) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"n must be an integer >= 1, got {n!r}")


def _check_choice(name, value, options) -> None:
    if value not in options:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, options))}; got {value!r}")


def _check_backend(name: Any) -> None:
    from ..index import BACKENDS

    if not isinstance(name, str) or name not in BACKENDS:
        raise ConfigError(f"index must be a backend name ({', '.join(map(repr, BACKENDS))}) "
                          f"or a likewise.index.Index, got {name!r}")


def _rows_of_sets(spec, rows: np.ndarray) -> ItemSets | None:
    """The per-row item sets of query ``rows`` from an ``_item_sets`` spec (None: none)."""
    if spec is None:
        return None
    kind, sets = spec
    return ItemSets.shared(sets, len(rows)) if kind == "shared" else sets.take(rows)


def _sub_models(name: str, value: Any) -> list[tuple[str, Recommender]]:
    """``(prefix, model)`` for a parameter holding a model or a dict name -> model."""
    if isinstance(value, Recommender):
        return [(name, value)]
    if isinstance(value, dict):
        return [(f"{name}__{k}", v) for k, v in value.items() if isinstance(v, Recommender)]
    return []


def _set_nested(target: Any, params: dict[str, Any], owner: str) -> Any:
    """``target`` (a model, or a dict of models) with ``name__param`` values set."""
    if isinstance(target, Recommender):
        return target.set_params(**params)
    if not isinstance(target, dict):
        raise ConfigError(f"{owner} is {target!r}, not a model: set it to a model before "
                          f"setting its parameters {sorted(params)}")
    out = dict(target)
    nested: dict[str, dict[str, Any]] = {}
    for key, value in params.items():
        name, _, rest = key.partition("__")
        if rest:
            nested.setdefault(name, {})[rest] = value
        else:
            out[name] = value
    for name, sub_params in nested.items():
        if name not in out:
            raise ConfigError(f"{owner} has no model {name!r}; models: "
                              f"{', '.join(map(str, sorted(out)))}")
        out[name] = _set_nested(out[name], sub_params, f"{owner}[{name!r}]")
    return out


def _same(a, b) -> bool:
    try:
        return bool(a == b) if not isinstance(a, np.ndarray) else False
    except Exception:  # noqa: BLE001 - comparison of arbitrary parameter objects
        return False


@contextlib.contextmanager
def numba_threads(num_threads: int):
    """Run numba parallel kernels with ``num_threads`` threads (0 = all cores)."""
    import numba

    previous = numba.get_num_threads()
    wanted = numba.config.NUMBA_NUM_THREADS if num_threads in (0, None) else \
        min(int(num_threads), numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        numba.set_num_threads(previous)
