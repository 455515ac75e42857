"""Neighbourhood collaborative filtering: :class:`UserKNN` and :class:`ItemKNN`.

Two semantics, picked from the data (``mode="auto"``) or forced with ``mode``:

``explicit`` (ratings)
    Rating prediction as in Surprise's KNN family. For a pair (user u, item i) the
    estimate uses the ``k`` rows most similar to u (UserKNN) *among the users who rated
    i* (or the ``k`` items most similar to i among the items u rated, ItemKNN), keeping
    only positive similarities. Similarities are computed over co-rated entries.
``implicit`` (likes, clicks, purchases)
    Top-N ranking. ItemKNN weights the user x item matrix (cosine, TF-IDF or BM25, as the
    ``implicit`` library does), keeps the ``k`` most similar items per item and scores
    ``user_items @ similarity``. UserKNN finds the ``k`` users most similar to the query
    user (Jaccard or cosine on liked sets) and ranks items by similarity-weighted votes.

Similarities are computed row by row in parallel numba kernels (``_knn_kernels``), with
only the top neighbours of each row kept, so memory is O(n * neighbours).
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from .._params import Choice, Float, Int
from ..errors import ConfigError, UnknownItemError, UnknownUserError
from . import _knn_kernels as K
from ._persistence import check_state
from ._progress import fit_steps, progress_enabled
from ._retrieval import ItemSets, Request, retrieve
from ._weighting import bm25_weights
from .base import Recommendations, Recommender, _check_n, numba_threads

__all__ = ["ItemKNN", "UserKNN"]

EXPLICIT_SIMILARITIES = ("cosine", "adjusted_cosine", "pearson", "pearson_baseline", "msd",
                         "jaccard")
PREDICTIONS = ("weighted_average", "mean_centered", "zscore", "baseline")
_RULES = {"weighted_average": K.WEIGHTED_AVERAGE, "mean_centered": K.MEAN_CENTERED,
          "zscore": K.ZSCORE, "baseline": K.BASELINE}
_EXPLICIT_METRIC = {"cosine": K.COSINE, "adjusted_cosine": K.COSINE, "pearson": K.PEARSON,
                    "pearson_baseline": K.COSINE, "msd": K.MSD, "jaccard": K.JACCARD}
#: entity count up to which every positive similarity is kept (and a dense cache is used)
DENSE_LIMIT = 4096
_PAIR_CHUNK = 2048


def _transpose(m: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """``m.T`` as CSR plus the permutation with ``m.T.data == m.data[perm]``."""
    pos = sp.csr_matrix((np.arange(m.nnz, dtype=np.int64), m.indices, m.indptr), shape=m.shape)
    t = pos.T.tocsr()
    del pos
    t.sort_indices()
    perm = t.data
    out = sp.csr_matrix((m.data[perm], t.indices, t.indptr), shape=(m.shape[1], m.shape[0]))
    return out, perm


def _threads(n_tasks: int, small: int = 8):
    """One numba thread for tiny batches (a single query): waking the pool costs more than
    it saves, badly so on a busy machine (measured 40 ms -> 14 ms per 20M-scale query)."""
    return numba_threads(1) if n_tasks <= small else contextlib.nullcontext()


def _canonical(m: sp.csr_matrix) -> sp.csr_matrix:
    """float32 CSR with sorted indices, copying only when needed (never sorts in place:
    the caller's timestamps are aligned with its entries)."""
    if m.dtype != np.float32:
        m = m.astype(np.float32)
    if not m.has_sorted_indices:
        m = m.copy()
        m.sort_indices()
    return m


def _csr_parts(m: sp.csr_matrix, values: np.ndarray | None = None):
    vals = m.data if values is None else values
    return (m.indptr.astype(np.int64, copy=False), m.indices.astype(np.int32, copy=False),
            np.ascontiguousarray(vals))


def _top_k_rows(q_indptr, q_indices, q_vals, q_self, t_indptr, t_indices, t_vals, sizes,
                n_rows: int, metric: int, k: int, min_support: int = 1,
                shrinkage: float = 0.0, owner: object = None):
    """Run the similarity kernel; returns (idx, sim, cnt), rows sorted by neighbour index.

    With progress on (``likewise.set_progress``) and an ``owner`` (the fitting model), the
    rows go through the kernel in slices so the bar can move; rows are independent, so
    the result is the same."""
    q_indptr = np.asarray(q_indptr, dtype=np.int64)
    q_indices = np.asarray(q_indices, dtype=np.int32)
    t_indptr = np.asarray(t_indptr, dtype=np.int64)
    t_indices = np.asarray(t_indices, dtype=np.int32)
    # one dtype per argument keeps numba to a single compiled signature
    q_vals = np.asarray(q_vals, dtype=np.float64)
    t_vals = np.asarray(t_vals, dtype=np.float64)
    nq = len(q_indptr) - 1
    k = max(1, min(k, max(n_rows, 1)))
    out_idx = np.full((nq, k), -1, dtype=np.int32)
    out_sim = np.zeros((nq, k), dtype=np.float32)
    out_cnt = np.zeros(nq, dtype=np.int64)
    if not nq:
        return out_idx, out_sim, out_cnt
    q_self = np.asarray(q_self, dtype=np.int64)
    sizes = np.asarray(sizes, dtype=np.int64)
    slices = _PROGRESS_SLICES if owner is not None and nq >= 4 * _PROGRESS_SLICES \
        and progress_enabled() else 1
    bounds = np.linspace(0, nq, slices + 1).astype(np.int64)
    steps = fit_steps(owner, slices, unit="slice") if slices > 1 else range(1)
    with _threads(nq):
        for step in steps:
            lo, hi = int(bounds[step]), int(bounds[step + 1])
            # q_indptr keeps absolute offsets into q_indices, so a slice needs no rebasing
            K.rows_top_k(K.chunk_bounds(hi - lo, 32), q_indptr[lo:hi + 1], q_indices, q_vals,
                         q_self[lo:hi], t_indptr, t_indices, t_vals, sizes, n_rows, metric,
                         int(min_support), float(shrinkage), k, out_idx[lo:hi],
                         out_sim[lo:hi], out_cnt[lo:hi])
    return out_idx, out_sim, out_cnt


#: slices of a kNN fit's rows when a progress bar is shown
_PROGRESS_SLICES = 20


def _to_csr(idx, sim, cnt, n_cols: int) -> sp.csr_matrix:
    keep = np.arange(idx.shape[1])[None, :] < cnt[:, None]
    indptr = np.r_[0, np.cumsum(cnt)].astype(np.int64)
    return sp.csr_matrix((sim[keep], idx[keep], indptr), shape=(len(cnt), n_cols))


def _best_first(rows: sp.csr_matrix, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``n`` largest entries, best first (ties: smaller index); pads -1 / NaN."""
    out_i = np.full((rows.shape[0], n), -1, dtype=np.int64)
    out_s = np.full((rows.shape[0], n), np.nan, dtype=np.float32)
    for r in range(rows.shape[0]):  # query rows only (a handful), not a hot path
        lo, hi = rows.indptr[r], rows.indptr[r + 1]
        cols, vals = rows.indices[lo:hi], rows.data[lo:hi]
        order = np.lexsort((cols, -vals))[:n]
        out_i[r, :len(order)] = cols[order]
        out_s[r, :len(order)] = vals[order]
    return out_i, out_s


def _row_means(m: sp.csr_matrix, fill: float) -> tuple[np.ndarray, np.ndarray]:
    counts = np.diff(m.indptr)
    rows = np.repeat(np.arange(m.shape[0]), counts)
    sums = np.bincount(rows, weights=m.data, minlength=m.shape[0])
    means = np.where(counts > 0, sums / np.maximum(counts, 1), fill)
    return means, rows


#: cache attribute of the unit-length rows of the side a model does not index
_OTHER_SIDE = {True: "_cache_users_cosine", False: "_cache_items_cosine"}

class _Neighborhood(Recommender):
    """Shared machinery of UserKNN and ItemKNN (``_user_based`` picks the orientation)."""

    _user_based: ClassVar[bool] = True
    _implicit_similarities: ClassVar[tuple] = ()
    _default_implicit: ClassVar[str] = ""

    @property
    def estimates_ratings(self) -> bool:  # type: ignore[override]
        """True in explicit mode (``predict`` gives ratings), False for ranking scores."""
        return getattr(self, "mode_", "explicit") == "explicit"

    # -- parameters ---------------------------------------------------------------------
    def _resolve(self, data) -> tuple[str, str, str | None, float]:
        mode = self.mode
        if mode == "auto":
            mode = "explicit" if data.is_explicit else "implicit"
        name = type(self).__name__
        if mode == "explicit" and not data.is_explicit:
            raise ConfigError(f"{name}: mode='explicit' needs ratings but the data is implicit; "
                            "use mode='auto' (top-N ranking) or load a rating column")
        if mode == "explicit":
            similarity = self.similarity or "pearson_baseline"
            if similarity not in EXPLICIT_SIMILARITIES:
                raise ConfigError(f"{name}: similarity={similarity!r} is for implicit top-N; "
                                  f"with ratings use one of {', '.join(EXPLICIT_SIMILARITIES)} "
                                  "(or mode='implicit')")
            prediction = self.prediction or "baseline"
            shrinkage = self.shrinkage if self.shrinkage is not None else \
                (100.0 if similarity == "pearson_baseline" else 0.0)
        else:
            similarity = self.similarity or self._default_implicit
            if similarity not in self._implicit_similarities:
                raise ConfigError(f"{name}: similarity={similarity!r} is not available for "
                                  f"implicit top-N; use one of "
                                  f"{', '.join(self._implicit_similarities)} (or "
                                  "mode='explicit' with ratings)")
            if self.prediction is not None:
                raise ConfigError(f"{name}: prediction={self.prediction!r} applies to rating "
                                  "prediction (explicit mode) only; leave it None")
            if self.shrinkage:
                raise ConfigError(f"{name}: shrinkage={self.shrinkage!r} applies to explicit "
                                  "similarities only; leave it None or 0")
            prediction, shrinkage = None, 0.0
        return mode, similarity, prediction, float(shrinkage)

    def _check_params(self, data) -> None:
        self._resolve(data)
        if self.min_k > self.k:
            raise ConfigError(f"{type(self).__name__}: min_k must be <= k, got min_k="
                              f"{self.min_k} and k={self.k}")

    # -- fitting ------------------------------------------------------------------------
    def _fit(self, data) -> None:
        mode, similarity, prediction, shrinkage = self._resolve(data)
        self.mode_ = mode
        self.similarity_ = similarity
        self.prediction_ = prediction
        self.shrinkage_ = shrinkage
        if mode == "explicit":
            self._fit_explicit(data.matrix)
        else:
            self._fit_implicit(data.matrix)

    def _n_x(self) -> int:
        return len(self.users_) if self._user_based else len(self.items_)

    def _orient(self, matrix: sp.csr_matrix):
        """(X, T, perm): rows x of the model, the transpose, and T.data == X.data[perm]."""
        if self._user_based:
            t, perm = _transpose(matrix)
            return matrix, t, perm
        t = matrix
        x, perm_x = _transpose(matrix)
        # T.data == X.data[perm] where X.data == t.data[perm_x]: invert perm_x
        perm = np.empty_like(perm_x)
        perm[perm_x] = np.arange(len(perm_x))
        return x, t, perm

    def _fit_explicit(self, matrix: sp.csr_matrix) -> None:
        from .baseline import fit_biases

        matrix = _canonical(matrix)
        mu, bu, bi = fit_biases(matrix, "als")
        self.bias_mean_ = float(mu)
        self.user_bias_ = np.asarray(bu, dtype=np.float64)
        self.item_bias_ = np.asarray(bi, dtype=np.float64)
        x_mat, t_mat, perm = self._orient(matrix)
        n_x = x_mat.shape[0]
        bx, by = (self.user_bias_, self.item_bias_) if self._user_based else \
            (self.item_bias_, self.user_bias_)
        means, rows = _row_means(x_mat, mu)
        cols = x_mat.indices
        sq = np.bincount(rows, weights=(x_mat.data - means[rows]) ** 2, minlength=n_x)
        counts = np.diff(x_mat.indptr)
        sigma = np.sqrt(np.where(counts > 0, sq / np.maximum(counts, 1), 0.0))
        overall = float(np.std(matrix.data)) or 1.0
        self.x_mean_ = means
        self.x_sigma_ = np.where(sigma > 0, sigma, overall)

        sim = self.similarity_
        vals = x_mat.data.astype(np.float64)
        if sim == "adjusted_cosine":
            y_means, _ = _row_means(t_mat, mu)
            vals = vals - y_means[cols]
        elif sim == "pearson_baseline":
            vals = vals - (mu + bx[rows] + by[cols])
        min_support = max(2, self.min_support) if sim == "pearson_baseline" else self.min_support
        keep = self.max_neighbors if self.max_neighbors is not None else \
            (n_x - 1 if n_x <= DENSE_LIMIT else max(5 * self.k, 200))
        qi, qx, qv = _csr_parts(x_mat, vals)
        ti, tx, tv = _csr_parts(t_mat, vals[perm])
        if keep >= n_x - 1 and n_x <= DENSE_LIMIT:
            # small n, nothing pruned: each symmetric pair once, into the dense cache
            dense = np.zeros((n_x, n_x), dtype=np.float32)
            order = np.arange(n_x, dtype=np.int64)
            K.dense_similarity(order, qi, qx, np.asarray(qv, np.float64), ti, tx,
                               np.asarray(tv, np.float64), counts.astype(np.int64),
                               _EXPLICIT_METRIC[sim], int(min_support), float(self.shrinkage_),
                               dense)
            # stored dense (n <= 4096); the CSR view is built only if asked for
            self.dense_similarity_ = dense
            self.neighbors_ = None
            return
        self.dense_similarity_ = None
        idx, s, cnt = _top_k_rows(qi, qx, qv, np.arange(n_x), ti, tx, tv, counts, n_x,
                                  _EXPLICIT_METRIC[sim], keep, min_support, self.shrinkage_,
                                  owner=self)
        self.neighbors_ = _to_csr(idx, s, cnt, n_x)

    def _fit_implicit(self, matrix: sp.csr_matrix) -> None:
        raise NotImplementedError

    def _validate_state(self) -> None:
        super()._validate_state()
        # the neighbour CSR's column indices address rows of the same side (checked in
        # range by the loader): its shape must be that side's size
        side = "users" if self._user_based else "items"
        check_state(self, {"neighbors_": (side, side), "dense_similarity_": (side, side),
                           "x_mean_": (side,), "x_sigma_": (side,),
                           "user_sizes_": ("users",)},
                    finite=("neighbors_", "dense_similarity_", "x_mean_", "x_sigma_"))

    # -- derived views (built by _derive at fit / load, read by queries) ------------
    def _derive(self) -> None:
        # only what this mode's queries read: explicit predictions read the item -> users
        # view and the dense similarity; implicit UserKNN the item -> users view
        explicit = self.mode_ == "explicit"
        self._cache_item_users = _transpose(self.user_items_.astype(np.float32))[0] \
            if explicit or self._user_based else None
        self._cache_neighbors = None
        if getattr(self, "neighbors_", None) is None and \
                getattr(self, "dense_similarity_", None) is not None:
            dense = np.ascontiguousarray(self.dense_similarity_, dtype=np.float32)
            indptr, indices, data = K.dense_to_csr(dense)
            self._cache_neighbors = sp.csr_matrix((data, indices, indptr), shape=dense.shape)
        self._cache_dense = None
        if explicit and getattr(self, "dense_similarity_", None) is None and \
                getattr(self, "neighbors_", None) is not None:
            n = self.neighbors_.shape[0]
            self._cache_dense = self.neighbors_.toarray().astype(np.float32) \
                if n <= DENSE_LIMIT else np.zeros((0, 0), dtype=np.float32)

    def _item_users(self) -> sp.csr_matrix:
        cached = self._cache_item_users
        # built per call (not kept: queries have no side effects) where the mode's
        # scoring does not need it, e.g. ItemKNN.explain in implicit mode
        return cached if cached is not None else \
            _transpose(self.user_items_.astype(np.float32))[0]

    def _candidates(self) -> sp.csr_matrix:
        """Row y -> the rows x2 that have y, with ratings (the other side's view)."""
        if self._user_based:
            return self._item_users()
        m = self.user_items_
        return m if m.dtype == np.float32 else m.astype(np.float32)

    def _dense(self) -> np.ndarray:
        """Dense similarity for O(1) lookups when n is small, else an empty array."""
        if getattr(self, "dense_similarity_", None) is not None:
            return self.dense_similarity_
        cached = self._cache_dense
        return cached if cached is not None else np.zeros((0, 0), dtype=np.float32)

    def _neighbors(self) -> sp.csr_matrix:
        """Each row's neighbours as CSR (indices sorted), from the dense store if needed."""
        if getattr(self, "neighbors_", None) is not None:
            return self.neighbors_
        return self._cache_neighbors

    # -- explicit prediction ----------------------------------------------------------------
    def _predict_xy(self, xs, ys, cand: sp.csr_matrix, y_bias: np.ndarray, nbrs=None,
                    x_mean=None, x_sigma=None, x_bias=None, dense=None) -> np.ndarray:
        x_bias = (self.user_bias_ if self._user_based else self.item_bias_) \
            if x_bias is None else x_bias
        x_mean = self.x_mean_ if x_mean is None else x_mean
        x_sigma = self.x_sigma_ if x_sigma is None else x_sigma
        dense = np.asarray(self._dense() if dense is None else dense, dtype=np.float32)
        if nbrs is None:
            # with a dense store the CSR is never read
            nbrs = sp.csr_matrix((1, 1), dtype=np.float32) if dense.shape[0] else \
                self._neighbors()
        # pairs grouped by x keep x's similarity row in cache across its pairs
        order = np.argsort(np.asarray(xs, dtype=np.int64), kind="stable")
        xs = np.asarray(xs, dtype=np.int64)[order]
        ys = np.asarray(ys, dtype=np.int64)[order]
        sorted_out = np.empty(len(xs), dtype=np.float64)
        out_k = np.empty(len(xs), dtype=np.int64)
        ci, cx, cv = _csr_parts(cand)
        ni, nx, nv = _csr_parts(nbrs)
        with _threads(len(xs), 512):
            K.predict_pairs(K.chunk_bounds(len(xs), _PAIR_CHUNK), xs, ys, ci, cx, cv, ni, nx,
                            nv, dense, self.k, self.min_k, _RULES[self.prediction_],
                            self.bias_mean_, np.asarray(x_mean, np.float64),
                            np.asarray(x_sigma, np.float64), np.asarray(x_bias, np.float64),
                            np.asarray(y_bias, np.float64), sorted_out, out_k,
                            max(1, int(np.diff(ci).max())) if len(ci) > 1 else 1)
        out = np.empty_like(sorted_out)
        out[order] = sorted_out
        xs, ys = xs[np.argsort(order)], ys[np.argsort(order)]
        missing = np.isnan(out)
        if missing.any():
            # too few neighbours: the regularised baseline mu + b_x + b_y
            out[missing] = self.bias_mean_ + x_bias[xs[missing]] + y_bias[ys[missing]]
        return out

    def _pairs_to_xy(self, user_idx, item_idx):
        return (user_idx, item_idx) if self._user_based else (item_idx, user_idx)

    def _y_bias(self) -> np.ndarray:
        return self.item_bias_ if self._user_based else self.user_bias_

    # -- hooks ----------------------------------------------------------------------------
    def _predict_idx(self, user_idx, item_idx):
        if self.mode_ != "explicit":
            return super()._predict_idx(user_idx, item_idx)
        xs, ys = self._pairs_to_xy(user_idx, item_idx)
        return self._predict_xy(xs, ys, self._candidates(), self._y_bias()).astype(np.float32)

    def _score(self, user_idx):
        user_idx = np.asarray(user_idx, dtype=np.int64)
        if self.mode_ == "explicit":
            # every (user, item) pair of the block, a bounded number of pairs at a time
            n_items = len(self.items_)
            out = np.empty((len(user_idx), n_items), dtype=np.float32)
            step = max(1, 2**20 // max(n_items, 1))
            for lo in range(0, len(user_idx), step):
                block = user_idx[lo:lo + step]
                users = np.repeat(block, n_items)
                items = np.tile(np.arange(n_items, dtype=np.int64), len(block))
                out[lo:lo + len(block)] = self._predict_idx(users, items).reshape(
                    len(block), n_items)
            if self.rating_scale_ is not None:
                np.clip(out, self.rating_scale_[0], self.rating_scale_[1], out=out)
            return out
        return self._score_implicit(user_idx)

    def _score_implicit(self, user_idx):
        raise NotImplementedError

    # -- neighbours -----------------------------------------------------------------------
    def _unit_rows(self, users: bool):
        """Unit-length user (or item) rows and their transpose, for on-the-fly cosine."""
        m = self.user_items_.astype(np.float64)
        x_mat = m if users else _transpose(m)[0]
        norms = np.sqrt(np.asarray(x_mat.multiply(x_mat).sum(axis=1)).ravel())
        x_mat = sp.csr_matrix(sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ x_mat)
        return x_mat, _transpose(x_mat)[0]

    def _prepare_queries(self) -> None:
        # the side the model does not index (similar_users of ItemKNN, similar_items of
        # UserKNN in implicit mode) is computed per query unless prepared: a copy of the
        # data, so only on request
        users = not self._user_based
        setattr(self, _OTHER_SIDE[users], self._unit_rows(users))

    def _other_side_neighbors(self, query_rows: np.ndarray, n: int, users: bool):
        """Cosine neighbours computed on the fly for the side the model does not index."""
        cached = getattr(self, _OTHER_SIDE[users], None)
        x_mat, t_mat = cached if cached is not None else self._unit_rows(users)
        sub = x_mat[query_rows]
        qi, qx, qv = _csr_parts(sub)
        ti, tx, tv = _csr_parts(t_mat)
        idx, s, cnt = _top_k_rows(qi, qx, qv, query_rows, ti, tx, tv,
                                  np.diff(x_mat.indptr), x_mat.shape[0], K.DOT, n)
        return _best_first(_to_csr(idx, s, cnt, x_mat.shape[0]), n)

    def _query_neighbors(self, query_rows: np.ndarray, n: int):
        """Top-n neighbours (idx, sims), best first, of rows of the model's own side."""
        if self.mode_ == "explicit" or not self._user_based:
            return _best_first(self._neighbors()[query_rows], n)
        return self._implicit_user_neighbors(query_rows, n)

    def _implicit_user_neighbors(self, query_rows, n):
        raise NotImplementedError

    def similar_users(self, users: Any, n: int = 10, *,
                      on_unknown: str = "fallback") -> Recommendations:
        """The ``n`` users most similar to each of ``users`` (the user itself excluded).

        UserKNN answers from its similarity; ItemKNN computes cosine similarity of the
        users' rating vectors on the fly. In the result, ``items`` holds the neighbours'
        user ids (and ``to_frame`` names the query column ``query_user``). Unknown users
        get an empty row marked in ``fallback`` (or raise with ``on_unknown="raise"``).

        Examples
        --------
        >>> import likewise
        >>> model = likewise.UserKNN(similarity="cosine").fit(likewise.datasets.movielens())
        >>> model.similar_users([1], n=3).items.shape
        (1, 3)
        """
        self._check_fitted()
        _check_n(n)
        users, u = self._lookup(self.users_, users, on_unknown, "user")
        n_eff = min(n, max(len(self.users_) - 1, 1))
        idx = np.full((len(users), n_eff), -1, dtype=np.int64)
        sims = np.full((len(users), n_eff), np.nan, dtype=np.float32)
        known = u >= 0
        if known.any():
            if self._user_based:
                ranked = self._query_neighbors(u[known], n_eff)
            else:
                ranked = self._other_side_neighbors(u[known], n_eff, users=True)
            request = Request(n_eff, len(self.users_), ItemSets.one_each(u[known]))
            idx[known], sims[known] = retrieve(request, ranked=ranked)
        return Recommendations(users=users, items=self.users_.ids_of(idx), scores=sims,
                               fallback=~known, item_indices=idx, query_name="query_user")

    def _similar_items_idx(self, item_idx, n):
        item_idx = np.asarray(item_idx, dtype=np.int64)
        if self._user_based:
            return self._other_side_neighbors(item_idx, n, users=False)
        return self._query_neighbors(item_idx, n)

    # -- explanations -----------------------------------------------------------------------
    def explain(self, user: Any, item: Any):
        """The neighbours behind the score of ``item`` for ``user``, so a UI can say why.

        Returns
        -------
        pandas.DataFrame
            One row per contributing neighbour, most influential first, with columns
            ``neighbor`` (a user id for UserKNN, an item id of the user's history for
            ItemKNN), ``similarity``, ``value`` (the neighbour's rating of the item, or the
            user's rating of the neighbour item; the like weight in implicit mode) and
            ``weight`` (share of the prediction: ``sim / sum(sim)`` in explicit mode; the
            contribution ``value * sim`` to the ranking score in implicit mode).
            ``frame.attrs["score"]`` holds the model's score for the pair.

        Examples
        --------
        >>> import likewise
        >>> data = likewise.datasets.movielens()
        >>> model = likewise.ItemKNN(similarity="cosine").fit(data)
        >>> why = model.explain(196, 242)
        >>> list(why.columns)
        ['neighbor', 'similarity', 'value', 'weight']
        """
        import pandas as pd

        self._check_fitted()
        u = int(self.users_.index([user], error=UnknownUserError, what="user")[0])
        i = int(self.items_.index([item], error=UnknownItemError, what="item")[0])
        nbr, sim, value, weight = self._explain_idx(u, i)
        order = np.lexsort((nbr, -np.abs(weight)))
        vocab = self.users_ if self._user_based else self.items_
        frame = pd.DataFrame({"neighbor": vocab.ids_of(nbr[order]),
                              "similarity": sim[order].astype(np.float64),
                              "value": value[order].astype(np.float64),
                              "weight": weight[order].astype(np.float64)})
        frame.attrs["score"] = float(self._predict_idx(np.array([u]), np.array([i]))[0])
        return frame

    def _explain_idx(self, u: int, i: int):
        if self.mode_ == "explicit":
            x, y = self._pairs_to_xy(u, i)
            cand = self._candidates()
            lo, hi = cand.indptr[y], cand.indptr[y + 1]
            cand_x, cand_r = cand.indices[lo:hi], cand.data[lo:hi]
            nbrs = self._neighbors()
            row = np.zeros(nbrs.shape[1])
            a, b = nbrs.indptr[x], nbrs.indptr[x + 1]
            row[nbrs.indices[a:b]] = nbrs.data[a:b]
            _, pos, weights = K.reference_predict(
                x, y, cand_x, cand_r, row, self.k, self.min_k, _RULES[self.prediction_],
                self.bias_mean_, self.x_mean_, self.x_sigma_,
                self.user_bias_ if self._user_based else self.item_bias_,
                float(self._y_bias()[y]))
            return cand_x[pos], row[cand_x[pos]], cand_r[pos], weights
        return self._explain_implicit(u, i)

    def _explain_implicit(self, u: int, i: int):
        raise NotImplementedError


#: parameters UserKNN and ItemKNN describe the same way
_SHARED_SPEC: dict = {
        "min_k": Int(1, help="Fewest positive-similarity neighbours a rating estimate needs "
                          "(else the base term)."),
        "shrinkage": Float(0.0, none_ok=True,
                           help="Shrink similarities by support n: sim * (n - 1) / (n - 1 + "
                                "shrinkage) (default 100 for pearson_baseline, else 0)."),
        "min_support": Int(1, help="Similarities of rows with fewer common items (or likes) are 0."),
        "prediction": Choice((None,) + PREDICTIONS,
                             help="Rating prediction rule (default baseline); explicit mode "
                                  "only."),
        "mode": Choice(("auto", "explicit", "implicit"),
                       help="'auto' follows the data's kind; 'implicit' forces top-N on "
                            "rated data."),
}


class UserKNN(_Neighborhood):
    """User-based k-nearest-neighbours ("users who agree with you liked...").

    Parameters
    ----------
    k : int
        Neighbours used per prediction (explicit) or per user (implicit votes).
    min_k : int
        Fewest positive-similarity neighbours a rating estimate needs; below it the
        estimate falls back to the prediction rule's base term (the baseline
        ``mu + b_u + b_i`` for ``weighted_average``, the user mean for ``mean_centered``
        and ``zscore``, the baseline for ``baseline``).
    similarity : str, optional
        Explicit: ``"cosine"``, ``"adjusted_cosine"``, ``"pearson"``,
        ``"pearson_baseline"`` (default), ``"msd"``, ``"jaccard"`` (all over co-rated
        entries, as in Surprise). Implicit: ``"jaccard"`` (default) or ``"cosine"`` on the
        users' liked sets.
    shrinkage : float, optional
        Shrink similarities by support ``n``: ``sim * (n - 1) / (n - 1 + shrinkage)``.
        Default 100 for ``pearson_baseline`` (as Surprise), else 0.
    min_support : int
        Similarities of rows with fewer common items are 0 (``pearson_baseline``: at
        least 2). In implicit mode it applies to the liked-set similarities (users must
        share at least this many likes).
    prediction : str, optional
        ``"weighted_average"`` (``sum sim*r / sum sim``), ``"mean_centered"``,
        ``"zscore"`` or ``"baseline"`` (KNNBaseline, default). Explicit mode only.
    mode : {"auto", "explicit", "implicit"}
        ``auto`` follows the data's kind: rating prediction for ratings, top-N for
        implicit feedback. ``implicit`` forces top-N on rated data (any rating is a like).
    max_neighbors : int, optional
        Neighbours stored per user in explicit mode (the candidate pool for the per-pair
        top-k). Default: all positive similarities up to 4,096 users, else
        ``max(5 * k, 200)``.

    Examples
    --------
    >>> import likewise
    >>> data = likewise.datasets.movielens()
    >>> model = likewise.UserKNN(similarity="msd", prediction="mean_centered").fit(data)
    >>> model.predict([196], [242]).shape
    (1,)
    """

    _user_based = True
    _implicit_similarities = ("jaccard", "cosine")
    _default_implicit = "jaccard"
    _param_spec: ClassVar[dict] = {
        "k": Int(1, help="Neighbours used per prediction (explicit) or per user (implicit "
                         "votes)."),
        **_SHARED_SPEC,
        "similarity": Choice((None,) + EXPLICIT_SIMILARITIES,
                             help="Default: pearson_baseline for ratings, jaccard for implicit "
                                  "data."),
        "max_neighbors": Int(1, none_ok=True,
                             help="Neighbours stored per user in explicit mode (default: all "
                                  "up to 4,096 users, else max(5k, 200))."),
    }

    def __init__(self, *, k: int = 40, min_k: int = 1, similarity: str | None = None,
                 shrinkage: float | None = None, min_support: int = 1,
                 prediction: str | None = None, mode: str = "auto",
                 max_neighbors: int | None = None):
        self.k = k
        self.min_k = min_k
        self.similarity = similarity
        self.shrinkage = shrinkage
        self.min_support = min_support
        self.prediction = prediction
        self.mode = mode
        self.max_neighbors = max_neighbors

    # -- implicit: neighbours found at query time -------------------------------------------
    def _fit_implicit(self, matrix: sp.csr_matrix) -> None:
        # Nothing to precompute: all-pairs user similarity is quadratic in popular items,
        # while one query touches only the users sharing its items.
        self.user_sizes_ = np.diff(matrix.indptr).astype(np.int64)

    def _derive(self) -> None:
        super()._derive()
        if self.mode_ == "explicit":
            return
        # the item -> users index, float64 / int64 / int32 exactly as the kernels take
        # them: no per-query casts
        ones = np.ones(self.user_items_.nnz, dtype=np.float64)
        t = self._item_users()
        self._cache_binary = (self.user_items_.indptr.astype(np.int64),
                              self.user_items_.indices.astype(np.int32), ones,
                              t.indptr.astype(np.int64), t.indices.astype(np.int32), ones)

    def _binary(self):
        return self._cache_binary

    def _metric(self) -> int:
        return K.JACCARD if self.similarity_ == "jaccard" else K.BINARY_COSINE

    def _neighbors_of_rows(self, q_indptr, q_indices, q_self, k):
        _, _, _, ti, tx, tv = self._binary()
        ones = np.ones(len(q_indices), dtype=np.float64)
        return _top_k_rows(q_indptr, q_indices, ones, q_self, ti, tx, tv, self.user_sizes_,
                           len(self.users_), self._metric(), k, self.min_support)

    def _implicit_user_neighbors(self, query_rows, n):
        sub = self.user_items_[query_rows]
        idx, s, cnt = self._neighbors_of_rows(sub.indptr.astype(np.int64),
                                              sub.indices.astype(np.int32), query_rows, n)
        return _best_first(_to_csr(idx, s, cnt, len(self.users_)), n)

    def _votes(self, idx, s, cnt) -> np.ndarray:
        ui, ux, _, _, _, _ = self._binary()
        out = np.zeros((len(cnt), len(self.items_)), dtype=np.float32)
        with _threads(len(cnt)):
            K.neighbor_votes(K.chunk_bounds(len(cnt), 8), idx, s, cnt, ui, ux, out)
        return out

    def _score_implicit(self, user_idx):
        sub = self.user_items_[user_idx]
        idx, s, cnt = self._neighbors_of_rows(sub.indptr.astype(np.int64),
                                              sub.indices.astype(np.int32), user_idx, self.k)
        return self._votes(idx, s, cnt)

    def _score_history(self, item_idx, values):
        items = np.unique(np.asarray(item_idx, dtype=np.int64))
        if self.mode_ == "implicit":
            idx, s, cnt = self._neighbors_of_rows(np.array([0, len(items)], np.int64),
                                                  items.astype(np.int32), [-1], self.k)
            return self._votes(idx, s, cnt)[0]
        return self._history_explicit(np.asarray(item_idx, np.int64),
                                      np.asarray(values, np.float64))

    def _history_explicit(self, item_idx, values):
        """Rate every item for a new user: similarities to all users on the fly."""
        order = np.argsort(item_idx, kind="stable")
        item_idx, values = item_idx[order], values[order]
        mu, bi = self.bias_mean_, self.item_bias_
        bu_new = float(np.sum(values - mu - bi[item_idx]) / (15.0 + len(values)))
        mean_new = float(values.mean())
        sigma_new = float(values.std()) or float(np.median(self.x_sigma_))
        vals = values.copy()
        if self.similarity_ == "adjusted_cosine":
            vals = vals - _row_means(self._item_users(), mu)[0][item_idx]
        elif self.similarity_ == "pearson_baseline":
            vals = vals - (mu + bu_new + bi[item_idx])
        sim_vals = self.user_items_.data.astype(np.float64)
        m = self.user_items_
        rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
        if self.similarity_ == "adjusted_cosine":
            sim_vals = sim_vals - _row_means(self._item_users(), mu)[0][m.indices]
        elif self.similarity_ == "pearson_baseline":
            sim_vals = sim_vals - (mu + self.user_bias_[rows] + bi[m.indices])
        t, _ = _transpose(sp.csr_matrix((sim_vals, m.indices, m.indptr), shape=m.shape))
        ti, tx, tv = _csr_parts(t)
        ms = max(2, self.min_support) if self.similarity_ == "pearson_baseline" else \
            self.min_support
        n_users = len(self.users_)
        idx, s, cnt = _top_k_rows(np.array([0, len(item_idx)], np.int64),
                                  item_idx.astype(np.int32), vals, [-1], ti, tx, tv,
                                  np.diff(m.indptr), n_users,
                                  _EXPLICIT_METRIC[self.similarity_], n_users, ms,
                                  self.shrinkage_)
        new_row = _to_csr(idx, s, cnt, n_users + 1)
        old = self._neighbors()
        nbrs = sp.csr_matrix((np.r_[old.data, new_row.data], np.r_[old.indices, new_row.indices],
                              np.r_[old.indptr, old.indptr[-1] + new_row.indptr[1:]]),
                             shape=(n_users + 1, n_users + 1))
        xs = np.full(len(self.items_), n_users, dtype=np.int64)
        ys = np.arange(len(self.items_), dtype=np.int64)
        return self._predict_xy(xs, ys, self._candidates(), self.item_bias_, nbrs=nbrs,
                                x_mean=np.r_[self.x_mean_, mean_new],
                                x_sigma=np.r_[self.x_sigma_, sigma_new],
                                x_bias=np.r_[self.user_bias_, bu_new],
                                dense=np.zeros((0, 0), np.float32)).astype(np.float32)

    def _explain_implicit(self, u, i):
        idx, s, cnt = self._neighbors_of_rows(
            np.array([0, self.user_items_.indptr[u + 1] - self.user_items_.indptr[u]]),
            self.user_items_.indices[self.user_items_.indptr[u]:
                                     self.user_items_.indptr[u + 1]].astype(np.int32),
            [u], self.k)
        nbr, sim = idx[0, :cnt[0]].astype(np.int64), s[0, :cnt[0]].astype(np.float64)
        col = self._item_users()
        raters = col.indices[col.indptr[i]:col.indptr[i + 1]]
        liked = np.isin(nbr, raters)
        return nbr[liked], sim[liked], np.ones(liked.sum()), sim[liked]


class ItemKNN(_Neighborhood):
    """Item-based k-nearest-neighbours ("people who liked this also liked...").

    Parameters
    ----------
    k : int
        Explicit: neighbours used per prediction (the ``k`` items most similar to the
        target among those the user rated). Implicit: neighbours kept per item.
    min_k : int
        Fewest positive-similarity neighbours a rating estimate needs (see UserKNN).
    similarity : str, optional
        Explicit: as UserKNN (default ``"pearson_baseline"``). Implicit: ``"bm25"``
        (default), ``"tfidf"``, ``"cosine"`` (the ``implicit`` library's weightings of the
        user x item matrix, similarity = dot products of item columns) or ``"jaccard"``.
    shrinkage, min_support, prediction, mode, max_neighbors
        As in :class:`UserKNN` (per item instead of per user).
    bm25_k1, bm25_b : float
        BM25 saturation and length normalisation (``implicit``'s BM25Recommender
        defaults).

    Examples
    --------
    >>> import likewise
    >>> data = likewise.datasets.movielens()
    >>> model = likewise.ItemKNN().fit(data)          # KNNBaseline, pearson_baseline
    >>> model.similar_items([50], n=3).items.shape
    (1, 3)
    """

    _user_based = False
    _implicit_similarities = ("bm25", "tfidf", "cosine", "jaccard")
    _default_implicit = "bm25"
    _param_spec: ClassVar[dict] = {
        "k": Int(1, help="Explicit: neighbours per prediction; implicit: neighbours kept per "
                         "item."),
        **_SHARED_SPEC,
        "similarity": Choice((None,) + EXPLICIT_SIMILARITIES + ("bm25", "tfidf"),
                             help="Default: pearson_baseline for ratings, bm25 for implicit "
                                  "data."),
        "max_neighbors": Int(1, none_ok=True,
                             help="Neighbours stored per item in explicit mode (default: all "
                                  "up to 4,096 items, else max(5k, 200))."),
        "bm25_k1": Float(0.0, help="BM25 saturation (implicit's BM25Recommender default)."),
        "bm25_b": Float(0.0, 1.0, help="BM25 length normalisation."),
    }

    def __init__(self, *, k: int = 40, min_k: int = 1, similarity: str | None = None,
                 shrinkage: float | None = None, min_support: int = 1,
                 prediction: str | None = None, mode: str = "auto",
                 max_neighbors: int | None = None, bm25_k1: float = 1.2,
                 bm25_b: float = 0.75):
        self.k = k
        self.min_k = min_k
        self.similarity = similarity
        self.shrinkage = shrinkage
        self.min_support = min_support
        self.prediction = prediction
        self.mode = mode
        self.max_neighbors = max_neighbors
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b

    def _fit_implicit(self, matrix: sp.csr_matrix) -> None:
        matrix = _canonical(matrix)
        n_items = matrix.shape[1]
        weights = item_weights(matrix, self.similarity_, self.bm25_k1, self.bm25_b)
        x_mat, _ = _transpose(sp.csr_matrix((weights, matrix.indices, matrix.indptr),
                                               shape=matrix.shape))
        qi, qx, qv = _csr_parts(x_mat)
        ti, tx, tv = _csr_parts(matrix, weights)
        metric = K.JACCARD if self.similarity_ == "jaccard" else K.DOT
        idx, s, cnt = _top_k_rows(qi, qx, qv, np.arange(n_items), ti, tx, tv,
                                  np.diff(x_mat.indptr), n_items, metric, self.k,
                                  self.min_support, owner=self)
        self.neighbors_ = _to_csr(idx, s, cnt, n_items)

    def _score_implicit(self, user_idx):
        ui = self.user_items_
        out = np.zeros((len(user_idx), ui.shape[1]), dtype=np.float32)
        si, sx, sv = _csr_parts(self.neighbors_)
        with _threads(len(user_idx)):
            K.sparse_scores(K.chunk_bounds(len(user_idx), 16), np.asarray(user_idx, np.int64),
                            ui.indptr.astype(np.int64, copy=False),
                            ui.indices.astype(np.int32, copy=False),
                            ui.data.astype(np.float32, copy=False), si, sx,
                            sv.astype(np.float32, copy=False), out)
        return out

    def _score_history(self, item_idx, values):
        if self.mode_ == "implicit":
            row = sp.csr_matrix((np.asarray(values, np.float32),
                                 np.asarray(item_idx, np.int64),
                                 np.array([0, len(item_idx)])), shape=(1, len(self.items_)))
            return np.asarray((row @ self.neighbors_).toarray()[0], dtype=np.float32)
        item_idx = np.asarray(item_idx, dtype=np.int64)
        values = np.asarray(values, dtype=np.float64)
        order = np.argsort(item_idx, kind="stable")
        item_idx, values = item_idx[order], values[order]
        hist = sp.csr_matrix((values.astype(np.float32), item_idx.astype(np.int32),
                              np.array([0, len(item_idx)])), shape=(1, len(self.items_)))
        bu_new = float(np.sum(values - self.bias_mean_ - self.item_bias_[item_idx])
                       / (15.0 + len(values)))
        xs = np.arange(len(self.items_), dtype=np.int64)
        ys = np.zeros(len(self.items_), dtype=np.int64)
        return self._predict_xy(xs, ys, hist, np.array([bu_new])).astype(np.float32)

    def _explain_implicit(self, u, i):
        m = self.user_items_
        hist = m.indices[m.indptr[u]:m.indptr[u + 1]]
        vals = m.data[m.indptr[u]:m.indptr[u + 1]].astype(np.float64)
        col = self.neighbors_[:, i].toarray().ravel()
        sim = col[hist]
        keep = sim > 0
        return hist[keep].astype(np.int64), sim[keep], vals[keep], (vals * sim)[keep]


def item_weights(matrix: sp.csr_matrix, similarity: str, k1: float = 1.2,
                 b: float = 0.75) -> np.ndarray:
    """Entry weights of a users x items CSR for implicit item-item similarity.

    Mirrors the ``implicit`` library: items are the "documents" and users the "terms".
    ``bm25``: :func:`likewise.models._weighting.bm25_weights`,
    ``v (k1 + 1) / (k1 * norm_i + v) * idf_u`` with
    ``idf_u = log(n_items) - log1p(n_u)`` and ``norm_i = 1 - b + b * len_i / mean len``
    (``k1``, ``b`` default to ItemKNN's, those of implicit's ``BM25Recommender``);
    ``tfidf``: ``sqrt(v) * idf_u``, each item column L2-normalised; ``cosine``: ``v / ||item column||``; ``jaccard``: 1.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> item_weights(sp.csr_matrix([[1.0, 0.0], [1.0, 1.0]]), "cosine").round(3)
    array([0.707, 0.707, 1.   ])
    """
    n_users, n_items = matrix.shape
    v = matrix.data.astype(np.float64)
    cols = matrix.indices
    rows = np.repeat(np.arange(n_users), np.diff(matrix.indptr))
    if similarity == "jaccard":
        return np.ones(matrix.nnz, dtype=np.float32)
    if similarity == "bm25":
        return bm25_weights(matrix, k1, b)[0]
    if similarity == "cosine":
        norms = np.sqrt(np.bincount(cols, weights=v * v, minlength=n_items))
        return (v / np.where(norms > 0, norms, 1.0)[cols]).astype(np.float32)
    idf = np.log(float(n_items)) - np.log1p(np.diff(matrix.indptr).astype(np.float64))
    if similarity == "tfidf":
        w = np.sqrt(v) * idf[rows]
        norms = np.sqrt(np.bincount(cols, weights=w * w, minlength=n_items))
        return (w / np.where(norms > 0, norms, 1.0)[cols]).astype(np.float32)
    raise ConfigError(f"unknown implicit similarity {similarity!r}")
