"""Approximate user-neighbour recommendations: TruncatedSVD user vectors in an ANN index.

The recipe of many tutorials, as a model that follows the likewise contract: the binary
users x items matrix is reduced with TruncatedSVD, the user vectors go into an
approximate neighbour index (Annoy by default, angular distance), and a user is
recommended the items their ``k`` nearest users interacted with, ranked by the sum of
the neighbours' cosine similarities (similarity-weighted votes).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from .._params import Any_, Choice, Int, RandomState, check_random_state, seed_from
from ..data.interactions import Interactions
from ..errors import ConfigError, UnsupportedError
from ._persistence import check_state
from .base import Recommender

__all__ = ["ApproxUserKNN"]


class ApproxUserKNN(Recommender):
    """User kNN on TruncatedSVD vectors with an approximate neighbour index.

    Parameters
    ----------
    k : int
        Neighbours per user.
    factors : int
        TruncatedSVD dimensions of the user vectors (fewer than the number of items).
    backend : {"annoy", "hnsw", "faiss", "exact"}
        Neighbour search backend (:mod:`likewise.index`); ``"exact"`` is the oracle.
    n_trees : int
        Annoy trees (``backend="annoy"``).
    search_k : int, optional
        Annoy nodes inspected per query; default ``5 * n_trees * (k + 1)``, which finds
        about 99% of the exact 10 nearest users on MovieLens 100K with 20 trees (Annoy's
        own default, ``n_trees * (k + 1)``, finds about 91%).
    index_params : dict, optional
        Extra parameters for the other backends, e.g. ``{"M": 16, "ef": 100}`` for hnsw.
    svd_iterations : int
        Power iterations of the randomized SVD.
    random_state : None, int or numpy.random.Generator
        Seeds the SVD and the index build.

    Notes
    -----
    Neighbours with non-positive cosine similarity do not vote. Items no neighbour has
    are ranked after every voted item, by popularity (scores in ``[-1, 0)``). The index
    is rebuilt deterministically from the saved user vectors when a model is loaded.

    Examples
    --------
    >>> import likewise
    >>> data = likewise.datasets.movielens("100k")
    >>> model = likewise.ApproxUserKNN(k=30, factors=40, random_state=0).fit(data)
    >>> model.recommend([196], n=5).items.shape
    (1, 5)
    """

    estimates_ratings: ClassVar[bool] = False
    _param_spec: ClassVar[dict] = {
        "k": Int(low=1, help="Neighbours per user."),
        "factors": Int(low=1, help="TruncatedSVD dimensions of the user vectors (fewer than "
                                   "the number of items)."),
        "backend": Choice(("annoy", "hnsw", "faiss", "exact"),
                          help="Neighbour search backend (likewise.index); 'exact' is the "
                               "oracle."),
        "n_trees": Int(low=1, help="Annoy trees (backend='annoy')."),
        "search_k": Int(low=1, none_ok=True,
                        help="Annoy nodes inspected per query (default 5 * n_trees * (k + 1))."),
        "index_params": Any_("a dict or None",
                             help='Extra parameters for the hnsw and faiss backends, e.g. '
                                  '{"M": 16, "ef": 100}.'),
        "svd_iterations": Int(low=1, help="Power iterations of the randomized SVD."),
        "random_state": RandomState(help="Seeds the SVD and the index build."),
    }

    def __init__(self, k: int = 30, factors: int = 40, backend: str = "annoy",
                 n_trees: int = 20, search_k: int | None = None,
                 index_params: dict | None = None, svd_iterations: int = 7,
                 random_state=None):
        self.k = k
        self.factors = factors
        self.backend = backend
        self.n_trees = n_trees
        self.search_k = search_k
        self.index_params = index_params
        self.svd_iterations = svd_iterations
        self.random_state = random_state

    # -- fitting ----------------------------------------------------------------------
    def _check_params(self, data: Interactions) -> None:
        limit = min(data.n_users, data.n_items) - 1
        if self.factors > limit:
            raise ConfigError(f"ApproxUserKNN: factors must be an integer in [1, {limit}] "
                              f"(fewer than the users and items), got {self.factors!r}")
        if self.index_params is not None and not isinstance(self.index_params, dict):
            raise ConfigError(f"ApproxUserKNN: index_params must be a dict or None, got "
                              f"{self.index_params!r}")
        if self.backend == "annoy" and self.index_params:
            raise ConfigError("ApproxUserKNN: index_params are for the hnsw and faiss "
                              "backends; annoy takes n_trees and search_k")

    def _fit(self, data: Interactions) -> None:
        from sklearn.decomposition import TruncatedSVD

        rng = check_random_state(self.random_state)
        svd_seed, self.index_seed_ = seed_from(rng), seed_from(rng)
        binary = _binary(data.matrix)
        svd = TruncatedSVD(n_components=self.factors, algorithm="randomized",
                           n_iter=self.svd_iterations, random_state=svd_seed)
        self.user_vectors_ = svd.fit_transform(binary).astype(np.float32)
        self.components_ = svd.components_.astype(np.float32)
        self._cache_binary = binary
        self._cache_index = self._build_index()

    def export_index(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the user index as a plain Annoy file (``backend="annoy"`` only).

        ``annoy.AnnoyIndex(model.factors_dim, "angular").load(path)`` opens it; item ``i``
        is user row ``i`` (its vector is ``model.user_vectors_[i]``), and ``<stem>.ids.csv``
        beside it maps each row to the user id.

        Examples
        --------
        >>> model = likewise.ApproxUserKNN(backend="annoy", n_trees=20).fit(likes)  # doctest: +SKIP
        >>> model.export_index("users.ann")  # doctest: +SKIP
        """
        self._check_fitted()
        if self.backend != "annoy":
            raise UnsupportedError(f"export_index writes an Annoy file; this model searches with "
                                   f"backend={self.backend!r} (fit with backend='annoy')")
        return self._cache_index.export(path, ids=self.users_.ids, id_column="user",
                                        overwrite=overwrite)

    def _build_index(self):
        from .. import index

        params: dict = {}
        if self.backend == "annoy":
            # one build thread: Annoy's forest is then a function of the seed, so a
            # loaded model rebuilds exactly the saved one
            params = {"n_trees": self.n_trees, "random_state": self.index_seed_ % (2**31 - 1),
                      "num_threads": 1,
                      "search_k": self.search_k or 5 * self.n_trees * (self.k + 1)}
        elif self.backend == "hnsw":
            params = {"random_state": self.index_seed_, "num_threads": 1, "ef": 100,
                      **(self.index_params or {})}
        elif self.backend == "faiss":
            params = {"kind": "hnsw", "num_threads": 1, "ef": 100, **(self.index_params or {})}
        elif self.index_params:
            params = dict(self.index_params)
        return index.build(self.user_vectors_, metric="cosine", backend=self.backend, **params)

    def _validate_state(self) -> None:
        super()._validate_state()
        # index positions are user rows: one vector per user
        check_state(self, {"user_vectors_": ("users", "dims"),
                           "components_": ("dims", "items")},
                    finite=("user_vectors_", "components_"), required=("user_vectors_",))

    def _after_load(self) -> None:
        self._cache_binary = _binary(self.user_items_)
        self._cache_index = self._build_index()

    # -- scoring ----------------------------------------------------------------------
    def _votes(self, pos: np.ndarray, sims: np.ndarray) -> np.ndarray:
        """Dense ``(rows, n_items)`` similarity-weighted votes of the neighbours ``pos``."""
        rows, k = pos.shape
        # non-positive (or NaN, for all-zero vectors) similarities do not vote
        weights = np.where((pos >= 0) & (sims > 0), sims, 0).astype(np.float32)
        w = sp.csr_matrix((weights.ravel(), np.maximum(pos, 0).ravel(),
                           np.arange(0, rows * k + 1, k)), shape=(rows, len(self.users_)))
        w.eliminate_zeros()
        votes = np.asarray((w @ self._cache_binary).todense(), dtype=np.float32)
        pop = self.item_popularity_
        # unvoted items go last, most popular first: scores in [-1, 0)
        tiebreak = (pop / (pop.max() + 1.0) - 1.0).astype(np.float32)
        return np.where(votes > 0, votes, tiebreak[None, :])

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        from ..index.base import drop_self

        n_users = len(self.users_)
        k = min(self.k, n_users - 1)
        if k <= 0:
            return self._votes(np.full((len(user_idx), 1), -1), np.zeros((len(user_idx), 1)))
        found = self._cache_index.query(self.user_vectors_[user_idx], k=min(k + 1, n_users))
        pos, sims = drop_self(found.positions, found.scores, user_idx, k)
        return self._votes(pos, sims)

    def _score_history(self, item_idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        vector = self.components_[:, np.unique(item_idx)].sum(axis=1)[None, :]
        found = self._cache_index.query(vector, k=min(self.k, len(self.users_)))
        return self._votes(found.positions, found.scores)[0]

    def _item_embeddings(self) -> np.ndarray:
        return np.ascontiguousarray(self.components_.T)

    # -- diagnostics ------------------------------------------------------------------
    def neighbours(self, users, k: int | None = None):
        """The ``k`` nearest users of ``users`` (external ids) in the SVD space.

        Returns
        -------
        likewise.index.Neighbours
            ``ids`` (user ids) and ``scores`` (cosine similarities), best first.
        """
        from ..errors import UnknownUserError

        self._check_fitted()
        idx = self.users_.index(users, "raise", error=UnknownUserError, what="user")
        found = self._cache_index.query_ids(idx, k=k or self.k)
        found.ids = self.users_.ids_of(found.positions)
        return found


def _binary(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """The interaction pattern as a float32 CSR of ones."""
    out = sp.csr_matrix((np.ones(matrix.nnz, dtype=np.float32), matrix.indices.copy(),
                         matrix.indptr.copy()), shape=matrix.shape)
    out.eliminate_zeros()
    return out
