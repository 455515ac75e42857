"""The one contract every likewise model follows.

A model subclasses :class:`Recommender`, lists its parameters in ``__init__`` (stored
as-is) and in ``_param_spec`` (checked in ``fit``), and implements a few hooks:

``_fit(data)``
    learn from an :class:`~likewise.data.Interactions`; learned attributes end with ``_``.
``_score(user_idx)``
    dense scores ``(len(user_idx), n_items)`` for known users (the base class blocks the
    users, so a block is small); used by ``recommend`` and, by default, ``predict``.
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
import hashlib
import inspect
import io
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from .._fs import install_dir, sha256_file
from .._params import validate
from ..data.interactions import Interactions
from ..data.vocabulary import Vocabulary
from ..errors import (
    ConfigError,
    DataError,
    ModelFormatError,
    NotFittedError,
    UnknownItemError,
    UnknownUserError,
    UnsupportedError,
)

__all__ = ["FORMAT_VERSION", "ON_UNKNOWN", "Recommendations", "Recommender", "load"]

#: Version of the on-disk model format written by :meth:`Recommender.save`.
FORMAT_VERSION = 1
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

    def to_frame(self):
        """Long pandas DataFrame with columns ``user, item, score, rank`` (rank from 1)."""
        import pandas as pd

        keep = self.item_indices >= 0
        rows, ranks = np.nonzero(keep)
        return pd.DataFrame({
            self.query_name: self.users[rows],
            "item": self.items[keep],
            "score": self.scores[keep],
            "rank": (ranks + 1).astype(np.int64),
        })

    def to_dict(self) -> dict:
        """``{query id: [(item id, score), ...]}`` with Python scalars."""
        out = {}
        for r, q in enumerate(self.users.tolist()):
            items, scores = self[r]
            out[q] = list(zip(items.tolist(), scores.astype(float).tolist()))
        return out


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

    # -- parameters (scikit-learn style) ---------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self) -> dict:
        """The constructor parameters as a dict."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> Recommender:
        """Set constructor parameters (takes effect at the next ``fit``)."""
        valid = set(self._param_names())
        for name, value in params.items():
            if name not in valid:
                raise ConfigError(f"{type(self).__name__} has no parameter {name!r}; "
                                  f"valid: {', '.join(sorted(valid))}")
            setattr(self, name, value)
        return self

    def clone(self) -> Recommender:
        """An unfitted copy with the same parameters."""
        return type(self)(**self.get_params())

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        parts = []
        for name, value in self.get_params().items():
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
        self._reset()
        self._fit_common(data)
        self._fit(data)
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
            mu, bu, bi = damped_biases(data.matrix)
            self.global_mean_ = mu
            self.fallback_user_bias_ = bu
            self.fallback_item_bias_ = bi
        else:
            self.global_mean_ = None

    def _fit(self, data: Interactions) -> None:
        raise NotImplementedError

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

    # -- neighbour indexes ------------------------------------------------------------
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

    def _resolve_index(self, index, kind: str):
        from ..index.base import Index

        if isinstance(index, Index):
            return index
        if not isinstance(index, str):
            raise ConfigError(f"index must be a backend name ('exact', 'hnsw', 'annoy', "
                              f"'faiss') or a likewise.index.Index, got {index!r}")
        attr = "_cache_item_index" if kind == "dot" else "_cache_similarity_index"
        cached = getattr(self, attr, None)
        if cached is not None and cached.backend == index:
            return cached
        if kind == "dot":
            return self.build_index(index)
        vectors = self._item_embeddings()
        if vectors is None:
            raise UnsupportedError(f"{type(self).__name__} has no item vectors to index")
        from ..index import build

        built = build(np.asarray(vectors, dtype=np.float32), metric="cosine", backend=index)
        setattr(self, attr, built)
        return built

    def _recommend_block_index(self, index, factors, user_idx, n, exclude_seen, excl, rows):
        """Top-n for known users through an item index: over-fetch, then drop exclusions."""
        user_vecs, _, offset = factors
        seen_counts = np.diff(self.user_items_.indptr)[user_idx] if exclude_seen else \
            np.zeros(len(user_idx), np.int64)
        extra = 0 if excl is None else (len(excl[1]) if excl[0] == "shared"
                                        else int(np.diff(excl[1][rows].indptr).max(initial=0)))
        k = int(min(self.n_items, n + seen_counts.max(initial=0) + extra))
        found = index.query(np.asarray(user_vecs[user_idx], dtype=np.float32), k)
        pos, scores = found.positions, found.scores.astype(np.float32)
        keep = pos >= 0
        n_items = self.n_items
        keys = np.arange(len(user_idx))[:, None] * n_items + np.maximum(pos, 0)
        if exclude_seen:
            sub = self.user_items_[user_idx]
            seen_keys = np.repeat(np.arange(len(user_idx)), np.diff(sub.indptr)) * n_items \
                + sub.indices
            keep &= ~np.isin(keys, seen_keys)
        if excl is not None:
            if excl[0] == "shared":
                keep &= ~np.isin(pos, excl[1])
            else:
                sub = excl[1][rows]
                ex_keys = np.repeat(np.arange(len(rows)), np.diff(sub.indptr)) * n_items \
                    + sub.indices
                keep &= ~np.isin(keys, ex_keys)
        rank = np.cumsum(keep, axis=1) - 1
        take = keep & (rank < n)
        out_idx = np.full((len(user_idx), n), -1, dtype=np.int64)
        out_scores = np.full((len(user_idx), n), np.nan, dtype=np.float32)
        r, c = np.nonzero(take)
        out_idx[r, rank[r, c]] = pos[r, c]
        vals = scores[r, c]
        if offset is not None:
            vals = vals + np.asarray(offset, dtype=np.float32)[user_idx[r]]
        out_scores[r, rank[r, c]] = vals
        return out_idx, out_scores

    def _similar_items_idx(self, item_idx: np.ndarray, n: int):
        vectors = self._item_embeddings()
        if vectors is None:
            raise UnsupportedError(f"{type(self).__name__} has no notion of item similarity")
        return cosine_top_n(vectors, item_idx, n)

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
        _check_choice("on_unknown", on_unknown, ON_UNKNOWN)
        users = np.asarray(users).reshape(-1)
        items = np.asarray(items).reshape(-1)
        if len(users) != len(items):
            raise ConfigError(f"users and items must have the same length "
                              f"({len(users)} vs {len(items)})")
        raise_ = on_unknown == "raise"
        u = self.users_.index(users, "raise" if raise_ else "ignore", error=UnknownUserError,
                              what="user")
        i = self.items_.index(items, "raise" if raise_ else "ignore", error=UnknownItemError,
                              what="item")
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
                  on_unknown: str = "fallback", index: Any = None) -> Recommendations:
        """Top-``n`` items for many users at once.

        Parameters
        ----------
        users : array-like
            External user ids (a scalar is one user).
        n : int
            List length; rows are padded when fewer items qualify.
        exclude_seen : bool
            Leave out items the user interacted with in the training data.
        candidates : array-like or list of array-like, optional
            Only rank these items: one array for every user, or one array per user.
        exclude : array-like or list of array-like, optional
            Never return these items: one array for every user, or one array per user.
        on_unknown : {"fallback", "raise"}
            Unknown users get the most popular items (marked in ``fallback``), or raise
            :class:`~likewise.UnknownUserError`.
        index : str or likewise.index.Index, optional
            Factor models only: answer through a maximum-inner-product index over the item
            factors (``"hnsw"``, ``"annoy"``, ``"faiss"``, ``"exact"``; built once by
            :meth:`build_index` and kept) instead of scoring every item. Approximate
            backends trade a little recall for speed on large catalogues. With
            ``candidates`` the exact path is used.

        Returns
        -------
        Recommendations

        Examples
        --------
        >>> recs = model.recommend([1, 2, 3], n=5)  # doctest: +SKIP
        >>> recs.to_frame().head()  # doctest: +SKIP
        """
        self._check_fitted()
        _check_n(n)
        _check_choice("on_unknown", on_unknown, ON_UNKNOWN)
        users = np.asarray(users)
        if users.ndim == 0:
            users = users.reshape(1)
        u = self.users_.index(users, "raise" if on_unknown == "raise" else "ignore",
                              error=UnknownUserError, what="user")
        cand = self._item_sets(candidates, len(users), "candidates", on_unknown)
        excl = self._item_sets(exclude, len(users), "exclude", on_unknown)
        n_eff = min(n, self.n_items)
        top_idx = np.full((len(users), n_eff), -1, dtype=np.int64)
        top_scores = np.full((len(users), n_eff), np.nan, dtype=np.float32)
        rows = np.arange(len(users))
        known_rows, unknown_rows = rows[u >= 0], rows[u < 0]
        from ._topk import top_n_masked

        item_index = None
        if index is not None and cand is None:
            item_index = self._resolve_index(index, "dot")
            factors = self._dot_factors()
        for lo, hi in _blocks(len(known_rows), self._block_rows()):
            block_rows = known_rows[lo:hi]
            if item_index is not None:
                top_idx[block_rows], top_scores[block_rows] = self._recommend_block_index(
                    item_index, factors, u[block_rows], n_eff, exclude_seen, excl, block_rows)
                continue
            scores = np.asarray(self._score(u[block_rows]), dtype=np.float32)
            if cand is None and excl is None:
                # fast path: one fused pass skips seen items without building a mask
                if exclude_seen:
                    seen = self.user_items_[u[block_rows]]
                    if not seen.has_sorted_indices:
                        seen.sort_indices()
                    indptr, indices = seen.indptr, seen.indices
                else:
                    indptr, indices = np.zeros(len(block_rows) + 1, np.int64), _NO_ITEMS
                top_idx[block_rows], top_scores[block_rows] = top_n_masked(
                    scores, indptr, indices, n_eff)
                continue
            if not scores.flags.writeable or not scores.flags.owndata:
                scores = scores.copy()
            self._mask(scores, u[block_rows] if exclude_seen else None, block_rows, cand, excl)
            top_idx[block_rows], top_scores[block_rows] = top_n_masked(
                scores, np.zeros(len(block_rows) + 1, np.int64), _NO_ITEMS, n_eff)
        for lo, hi in _blocks(len(unknown_rows), self._block_rows()):
            block_rows = unknown_rows[lo:hi]
            scores = np.repeat(self._fallback_scores()[None, :], len(block_rows), axis=0)
            self._mask(scores, None, block_rows, cand, excl)
            top_idx[block_rows], top_scores[block_rows] = top_n_masked(
                scores, np.zeros(len(block_rows) + 1, np.int64), _NO_ITEMS, n_eff)
        return self._result(users, top_idx, top_scores, u < 0)

    def _fallback_scores(self) -> np.ndarray:
        return self.item_popularity_

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
        items = np.asarray(items).reshape(-1)
        idx = self.items_.index(items, "ignore")
        if ratings is None:
            values = np.full(len(items), 1.0 if self.global_mean_ is None
                             else float(self.rating_scale_[1]), dtype=np.float32)
        else:
            values = np.asarray(ratings, dtype=np.float32).reshape(-1)
            if len(values) != len(items):
                raise ConfigError("items and ratings must have the same length")
        keep = idx >= 0
        idx, values = idx[keep], values[keep]
        if len(idx):
            scores = np.asarray(self._score_history(idx, values), dtype=np.float32)[None, :]
            fallback = np.array([False])
        else:
            scores = self._fallback_scores()[None, :].astype(np.float32)
            fallback = np.array([True])
        scores = scores.copy()
        if exclude_seen and len(idx):
            scores[0, idx] = -np.inf
        cand = self._item_sets(candidates, 1, "candidates", "fallback")
        excl = self._item_sets(exclude, 1, "exclude", "fallback")
        self._mask(scores, None, np.array([0]), cand, excl)
        n_eff = min(n, self.n_items)
        top_idx, top_scores = top_n(scores, n_eff)
        return self._result(np.array([None], dtype=object), top_idx, top_scores, fallback)

    # -- similar items ----------------------------------------------------------------
    def similar_items(self, items: Any, n: int = 10, *, on_unknown: str = "fallback",
                      index: Any = None) -> Recommendations:
        """The ``n`` items most similar to each of ``items`` (the item itself excluded).

        Unknown items get the most popular items (``fallback`` marks them) or raise
        :class:`~likewise.UnknownItemError` with ``on_unknown="raise"``. Models with item
        vectors accept ``index="hnsw"`` (or another backend, or an Index) to search a
        cosine index over them instead of comparing with every item.
        """
        self._check_fitted()
        _check_n(n)
        _check_choice("on_unknown", on_unknown, ON_UNKNOWN)
        items = np.asarray(items)
        if items.ndim == 0:
            items = items.reshape(1)
        idx = self.items_.index(items, "raise" if on_unknown == "raise" else "ignore",
                                error=UnknownItemError, what="item")
        n_eff = min(n, max(self.n_items - 1, 1))
        top_idx = np.full((len(items), n_eff), -1, dtype=np.int64)
        top_scores = np.full((len(items), n_eff), np.nan, dtype=np.float32)
        known = idx >= 0
        if known.any() and index is not None:
            sim_index = self._resolve_index(index, "cosine")
            vectors = np.asarray(self._item_embeddings(), dtype=np.float32)
            found = sim_index.query(vectors[idx[known]], min(n_eff + 1, self.n_items))
            pos = found.positions
            keep = (pos >= 0) & (pos != idx[known][:, None])
            rank = np.cumsum(keep, axis=1) - 1
            take = keep & (rank < n_eff)
            ki = np.full((int(known.sum()), n_eff), -1, dtype=np.int64)
            ks = np.full((int(known.sum()), n_eff), np.nan, dtype=np.float32)
            r, c = np.nonzero(take)
            ki[r, rank[r, c]] = pos[r, c]
            ks[r, rank[r, c]] = found.scores[r, c]
            top_idx[known], top_scores[known] = ki, ks
        elif known.any():
            ki, ks = self._similar_items_idx(idx[known], n_eff)
            top_idx[known], top_scores[known] = ki[:, :n_eff], ks[:, :n_eff]
        if (~known).any():
            pop = self._fallback_scores()[None, :].astype(np.float32)
            pi, ps = top_n(pop.copy(), n_eff)
            top_idx[~known], top_scores[~known] = pi, ps
        return self._result(items, top_idx, top_scores, ~known, query_name="query_item")

    # -- helpers ----------------------------------------------------------------------
    def _block_rows(self) -> int:
        return max(1, min(4096, _BLOCK_BYTES // (4 * max(1, len(self.items_)))))

    def _item_sets(self, spec: Any, n_rows: int, name: str, on_unknown: str):
        """Normalise candidates / exclude to ('shared', idx) or ('per_row', csr) or None."""
        if spec is None:
            return None
        raise_ = on_unknown == "raise"

        def lookup(values):
            idx = self.items_.index(values, "raise" if raise_ else "ignore",
                                    error=UnknownItemError, what=f"item in {name}")
            return idx[idx >= 0]

        if isinstance(spec, (list, tuple)) and len(spec) and \
                isinstance(spec[0], (list, tuple, np.ndarray)):
            if len(spec) != n_rows:
                raise ConfigError(f"{name} has {len(spec)} lists but there are {n_rows} users; "
                                  "give one list per user or one shared list")
            per_row = [lookup(s) for s in spec]
            lengths = np.array([len(s) for s in per_row])
            indptr = np.r_[0, np.cumsum(lengths)]
            cols = np.concatenate(per_row) if len(per_row) else np.empty(0, np.int64)
            mat = sp.csr_matrix((np.ones(len(cols), dtype=bool), cols, indptr),
                                shape=(n_rows, self.n_items))
            return ("per_row", mat)
        return ("shared", lookup(np.asarray(spec).reshape(-1)))

    def _mask(self, scores: np.ndarray, seen_users, rows: np.ndarray, cand, excl) -> None:
        """Set excluded entries of a score block to -inf, in place."""
        np.putmask(scores, np.isnan(scores), -np.inf)
        if seen_users is not None:
            sub = self.user_items_[seen_users]
            r = np.repeat(np.arange(len(seen_users)), np.diff(sub.indptr))
            scores[r, sub.indices] = -np.inf
        if excl is not None:
            if excl[0] == "shared":
                scores[:, excl[1]] = -np.inf
            else:
                sub = excl[1][rows]
                r = np.repeat(np.arange(len(rows)), np.diff(sub.indptr))
                scores[r, sub.indices] = -np.inf
        if cand is not None:
            if cand[0] == "shared":
                allowed = np.zeros(scores.shape[1], dtype=bool)
                allowed[cand[1]] = True
                scores[:, ~allowed] = -np.inf
            else:
                sub = cand[1][rows]
                allowed = np.zeros(scores.shape, dtype=bool)
                r = np.repeat(np.arange(len(rows)), np.diff(sub.indptr))
                allowed[r, sub.indices] = True
                scores[~allowed] = -np.inf

    def _result(self, queries, top_idx, top_scores, fallback, query_name="user"):
        top_scores = top_scores.astype(np.float32, copy=False)
        top_idx = np.where(np.isfinite(top_scores), top_idx, -1)
        top_scores = np.where(top_idx >= 0, top_scores, np.nan).astype(np.float32)
        return Recommendations(users=np.asarray(queries), items=self.items_.ids_of(top_idx),
                               scores=top_scores, fallback=np.asarray(fallback, dtype=bool),
                               item_indices=top_idx, query_name=query_name)

    # -- persistence ------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Save to a directory (or a single ``.zip`` file) as a JSON manifest plus arrays.

        The write is atomic: a model already at ``path`` stays intact until the new one is
        complete. No pickle is used; loading verifies every array's SHA-256.
        """
        self._check_fitted()
        return _save(self, Path(path))

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
def damped_biases(matrix: sp.csr_matrix, reg_item: float = 10.0, reg_user: float = 15.0,
                  iterations: int = 2):
    """Global mean and regularised user/item biases by alternating damped means.

    This is the ALS baseline of Koren (2010) as used by Surprise's ``BaselineOnly``.
    """
    mu = float(matrix.data.mean()) if matrix.nnz else 0.0
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    cols = matrix.indices
    resid = matrix.data.astype(np.float64) - mu
    n_u = np.bincount(rows, minlength=matrix.shape[0])
    n_i = np.bincount(cols, minlength=matrix.shape[1])
    bu = np.zeros(matrix.shape[0])
    bi = np.zeros(matrix.shape[1])
    for _ in range(iterations):
        bi = np.bincount(cols, resid - bu[rows], minlength=matrix.shape[1]) / (reg_item + n_i)
        bu = np.bincount(rows, resid - bi[cols], minlength=matrix.shape[0]) / (reg_user + n_u)
    return mu, bu.astype(np.float32), bi.astype(np.float32)


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


def cosine_top_n(vectors: np.ndarray, query_idx: np.ndarray, n: int,
                 block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Top-``n`` cosine neighbours of rows ``query_idx`` among all rows (self excluded)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1)
    unit = vectors / np.where(norms > 0, norms, 1)[:, None]
    out_i = np.empty((len(query_idx), n), dtype=np.int64)
    out_s = np.empty((len(query_idx), n), dtype=np.float32)
    for lo, hi in _blocks(len(query_idx), block):
        q = query_idx[lo:hi]
        sims = unit[q] @ unit.T
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


# ---------------------------------------------------------------------------------------
# save / load
# ---------------------------------------------------------------------------------------
_JSON_SCALARS = (bool, int, float, str, type(None))


def _jsonable(value) -> bool:
    if isinstance(value, _JSON_SCALARS):
        return not (isinstance(value, float) and not np.isfinite(value))
    if isinstance(value, (list, tuple)):
        return all(_jsonable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _jsonable(v) for k, v in value.items())
    return False


def _to_json(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    return value


def _save(model: Recommender, path: Path) -> Path:
    import likewise

    params = {}
    for name, value in model.get_params().items():
        value = _to_json(value)
        if isinstance(value, np.random.Generator):
            value = None  # a Generator's state is not a parameter worth persisting
        if not _jsonable(value):
            raise ModelFormatError(f"parameter {name}={value!r} cannot be saved as JSON")
        params[name] = value
    manifest: dict[str, Any] = {
        "format": "likewise.model",
        "format_version": FORMAT_VERSION,
        "likewise_version": likewise.__version__,
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "params": params,
        "state": {},
        "arrays": {},
        "sparse": {},
        "vocabularies": {},
    }
    arrays: dict[str, np.ndarray] = {}
    state = {k: getattr(model, k) for k in model._learned_names()}
    state.update(model._extra_state())
    for name, value in state.items():
        if isinstance(value, Vocabulary):
            manifest["vocabularies"][name] = f"{name}.npy"
            arrays[f"{name}.npy"] = value.ids
        elif sp.issparse(value):
            csr = value.tocsr()
            manifest["sparse"][name] = {"format": "csr", "shape": list(csr.shape)}
            for part in ("data", "indices", "indptr"):
                arrays[f"{name}.{part}.npy"] = getattr(csr, part)
        elif isinstance(value, np.ndarray):
            if value.dtype.kind == "O":
                raise ModelFormatError(f"attribute {name} is an object array; store numbers "
                                       "or strings only")
            manifest["arrays"][name] = f"{name}.npy"
            arrays[f"{name}.npy"] = value
        else:
            value = _to_json(value)
            if not _jsonable(value):
                raise ModelFormatError(f"{type(model).__name__}.{name} ({type(value).__name__}) "
                                       "cannot be saved; override _extra_state")
            manifest["state"][name] = value
    checksums = {}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        for fname, arr in arrays.items():
            with open(tmp / fname, "wb") as fh:
                np.save(fh, np.ascontiguousarray(arr), allow_pickle=False)
            checksums[fname] = sha256_file(tmp / fname)
        manifest["checksums"] = checksums
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
        if path.suffix == ".zip":
            tmp_zip = tmp.with_suffix(".zip.part")
            with zipfile.ZipFile(tmp_zip, "w", zipfile.ZIP_STORED) as zf:
                for f in sorted(tmp.iterdir()):
                    zf.write(f, f.name)
            os.replace(tmp_zip, path)
            shutil.rmtree(tmp)
        else:
            install_dir(tmp, path, "model")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def load(path: str | os.PathLike, *, mmap: bool = False, verify: bool = True) -> Recommender:
    """Load any likewise model saved with ``save``.

    Parameters
    ----------
    path : path
        The directory (or ``.zip`` file) written by :meth:`Recommender.save`.
    mmap : bool
        Memory-map the arrays read-only instead of reading them (directories only).
    verify : bool
        Check every array's SHA-256 against the manifest (tampering or corruption raises
        :class:`~likewise.ModelFormatError`).

    Examples
    --------
    >>> model.save("my-model")  # doctest: +SKIP
    >>> likewise.load("my-model").recommend([1])  # doctest: +SKIP
    """
    import importlib

    path = Path(path)
    if not path.exists():
        raise ModelFormatError(f"{path}: no such model file or directory")
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise ModelFormatError(f"{path}: not a likewise model (expected a directory or .zip)")
        zf = zipfile.ZipFile(path)

        def read_bytes(name: str) -> bytes:
            try:
                return zf.read(name)
            except KeyError:
                raise ModelFormatError(f"{path}: missing {name}") from None
    else:
        zf = None

        def read_bytes(name: str) -> bytes:
            try:
                return (path / name).read_bytes()
            except FileNotFoundError:
                raise ModelFormatError(f"{path}: missing {name}") from None
    try:
        manifest = json.loads(read_bytes("manifest.json"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{path}/manifest.json is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != "likewise.model":
        raise ModelFormatError(f"{path}: not a likewise model manifest")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFormatError(f"{path} was written in model format {version!r}, newer than "
                               f"this likewise supports ({FORMAT_VERSION}); upgrade likewise")
    cls_path = manifest.get("class", "")
    module_name, _, cls_name = str(cls_path).rpartition(".")
    if not module_name.startswith("likewise."):
        raise ModelFormatError(f"{path}: refusing to load class {cls_path!r} from outside "
                               "likewise")
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError):
        raise ModelFormatError(f"{path}: unknown model class {cls_path!r}") from None
    if not (isinstance(cls, type) and issubclass(cls, Recommender)):
        raise ModelFormatError(f"{path}: {cls_path!r} is not a likewise model")
    try:
        model = cls(**manifest.get("params", {}))
    except TypeError as exc:
        raise ModelFormatError(f"{path}: parameters do not match {cls_name} ({exc})") from None
    checksums = manifest.get("checksums", {})

    def array(fname: str) -> np.ndarray:
        if fname not in checksums:
            raise ModelFormatError(f"{path}: {fname} has no checksum in the manifest")
        if zf is None:
            fpath = path / fname
            if verify and sha256_file(fpath) != checksums[fname]:
                raise ModelFormatError(f"{path}/{fname} does not match its checksum: the model "
                                       "was modified or corrupted")
            try:
                return np.load(fpath, allow_pickle=False, mmap_mode="r" if mmap else None)
            except (ValueError, OSError) as exc:
                raise ModelFormatError(f"{path}/{fname} is unreadable ({exc})") from None
        raw = read_bytes(fname)
        if verify and hashlib.sha256(raw).hexdigest() != checksums[fname]:
            raise ModelFormatError(f"{path}:{fname} does not match its checksum: the model was "
                                   "modified or corrupted")
        try:
            return np.load(io.BytesIO(raw), allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ModelFormatError(f"{path}:{fname} is unreadable ({exc})") from None

    try:
        for name, value in manifest.get("state", {}).items():
            setattr(model, name, tuple(value) if name == "rating_scale_" and value else value)
        for name, fname in manifest.get("arrays", {}).items():
            setattr(model, name, array(fname))
        for name, fname in manifest.get("vocabularies", {}).items():
            setattr(model, name, Vocabulary(np.asarray(array(fname))))
        for name, info in manifest.get("sparse", {}).items():
            parts = [array(f"{name}.{p}.npy") for p in ("data", "indices", "indptr")]
            setattr(model, name, sp.csr_matrix(tuple(parts), shape=tuple(info["shape"])))
    finally:
        if zf is not None:
            zf.close()
    model._after_load()
    return model
