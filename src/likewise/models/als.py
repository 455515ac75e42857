"""Alternating least squares: ``ALS`` for ratings and ``ImplicitALS`` for implicit feedback.

``ImplicitALS`` is Hu, Koren & Volinsky (2008): every (user, item) cell is a preference
p_ui (1 if observed, else 0) with confidence c_ui = 1 + alpha * r_ui, and the weighted
least-squares problem is solved alternately for users and items with a few conjugate
gradient steps per row (Takacs, Pilaszy & Tikk 2011), warm-started from the previous
iteration, in a parallel numba kernel.

``ALS`` factorises explicit ratings with biases, r_ui ~ mu + b_u + b_i + p_u . q_i, by
exact ridge solves per user and per item with weighted-lambda regularisation (the penalty
of a row grows with its number of ratings, Zhou et al. 2008).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from .._params import Bool, Choice, Float, Int, RandomState, check_random_state
from ..data.interactions import Interactions
from ..errors import DataError
from . import _mf_kernels as K
from ._factors import FactorScoring, item_scores
from ._weighting import BM25_B, BM25_K1, bm25_history, bm25_weights
from ._progress import fit_steps
from .base import Recommender, numba_threads

__all__ = ["ALS", "ImplicitALS", "bm25_weight"]


def bm25_weight(matrix: sp.csr_matrix, k1: float = BM25_K1, b: float = BM25_B):
    """BM25-weight a user x item matrix, items as documents and users as terms.

    This is the weighting of implicit's ``bm25_weight`` applied to the item x user matrix
    (as in its last.fm example), computed by :func:`likewise.models._weighting.bm25_weights`.
    Returns the weighted CSR matrix and the per-item length normalisation (float32, needed
    to weight a new user's history the same way).
    """
    m = matrix.tocsr()
    weights, norm = bm25_weights(m, k1, b)
    return sp.csr_matrix((weights, m.indices, m.indptr), shape=m.shape), \
        norm.astype(np.float32)


def _check_non_negative(values: np.ndarray, weighting: str | None) -> None:
    # c = 1 + alpha * r < 1 would make the per-row systems indefinite for large alpha
    # (the factors then grow without bound instead of failing)
    if weighting != "log" and len(values) and float(np.min(values)) < 0:
        raise DataError(f"ImplicitALS needs non-negative interaction values (confidence "
                        f"1 + alpha * r), got a minimum of {float(np.min(values)):g}; "
                        f"shift or clip them, or use weighting='log'")


class ImplicitALS(FactorScoring, Recommender):
    """Confidence-weighted matrix factorisation for implicit feedback (Hu, Koren & Volinsky).

    The interaction values r_ui must be non-negative (``weighting="log"`` clips them at
    0); every stored cell counts as observed (p_ui = 1).

    Parameters
    ----------
    factors : int
        Number of latent factors (default 100).
    iterations : int
        ALS sweeps (users then items) (default 15).
    regularization : float
        L2 penalty lambda (default 0.01).
    alpha : float
        Confidence slope: c_ui = 1 + alpha * r_ui (default 1.0). The ``implicit`` library
        uses c_ui = alpha * r_ui instead, so on binary data likewise's ``alpha=a - 1`` is
        implicit's ``alpha=a`` (the same objective and, from the same seed, the same
        factors up to float rounding).
    weighting : {None, "bm25", "log"}
        Transform of the interaction values before the confidence: BM25 (items as
        documents, k1=100, b=0.8 as in implicit's examples) or log(1 + r).
    cg_steps : int
        Conjugate gradient steps per row and iteration (default 3, as implicit).
    num_threads : int
        Threads for the solver (0 = all cores); results do not depend on it.
    random_state : None, int or numpy.random.Generator
        Seed for the initial factors (uniform in [0, 0.01) as implicit).

    Examples
    --------
    >>> import likewise
    >>> data = likewise.datasets.movielens("100k")
    >>> model = likewise.ImplicitALS(factors=32, random_state=0).fit(data)
    >>> model.recommend([196], n=5).items.shape
    (1, 5)
    """

    estimates_ratings: ClassVar[bool] = False
    _param_spec: ClassVar[dict] = {
        "factors": Int(1, help="Number of latent factors."),
        "iterations": Int(1, help="ALS sweeps (users then items)."),
        "regularization": Float(0, help="L2 penalty lambda."),
        "alpha": Float(0, help="Confidence slope: c_ui = 1 + alpha * r_ui."),
        "weighting": Choice((None, "bm25", "log"),
                            help="Transform of the values before the confidence: BM25 or "
                                 "log(1 + r)."),
        "cg_steps": Int(1, help="Conjugate gradient steps per row and iteration."),
        "num_threads": Int(0, help="Threads for the solver (0 = all cores); results do not depend on it."),
        "random_state": RandomState(help="Seed for the initial factors."),
    }
    _bm25_k1 = 100.0
    _bm25_b = 0.8

    def __init__(self, factors: int = 100, iterations: int = 15, regularization: float = 0.01,
                 alpha: float = 1.0, weighting: str | None = None, cg_steps: int = 3,
                 num_threads: int = 0, random_state=None):
        self.factors = factors
        self.iterations = iterations
        self.regularization = regularization
        self.alpha = alpha
        self.weighting = weighting
        self.cg_steps = cg_steps
        self.num_threads = num_threads
        self.random_state = random_state

    def _confidence(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        """c_ui = 1 + alpha * weighted r_ui, sharing the index arrays of ``matrix``."""
        _check_non_negative(matrix.data, self.weighting)
        if self.weighting == "bm25":
            values, norm = bm25_weights(matrix, self._bm25_k1, self._bm25_b)
            self.bm25_length_norm_ = norm.astype(np.float32)
        elif self.weighting == "log":
            values = np.log1p(np.maximum(matrix.data, 0))
        else:
            values = matrix.data
        conf = np.asarray(values, dtype=np.float32) * np.float32(self.alpha)
        conf += np.float32(1.0)
        # only the values are new: the (large) index arrays are the training matrix's own
        return sp.csr_matrix((conf, matrix.indices, matrix.indptr), shape=matrix.shape,
                             copy=False)

    def _fit(self, data: Interactions) -> None:
        rng = check_random_state(self.random_state)
        cui = self._confidence(data.matrix)
        ciu = cui.T.tocsr()
        n_users, n_items = cui.shape
        X = (rng.random((n_users, self.factors), dtype=np.float32) * 0.01)
        Y = (rng.random((n_items, self.factors), dtype=np.float32) * 0.01)
        hint = (f"check the interaction values (alpha={self.alpha} times the largest value "
                f"{float(data.matrix.data.max()):g}) and try weighting='log' or a larger "
                f"regularization (now {self.regularization})")
        reg = self.regularization
        with numba_threads(self.num_threads):
            for it in fit_steps(self, self.iterations, "iteration"):
                K.als_cg(cui.indptr, cui.indices, cui.data, X, Y, K.gram(Y, reg),
                         self.cg_steps)
                K.als_cg(ciu.indptr, ciu.indices, ciu.data, Y, X, K.gram(X, reg),
                         self.cg_steps)
                K.check_finite(type(self).__name__, [X.sum(), Y.sum()], it, hint)
        self.user_factors_, self.item_factors_ = X, Y

    def _score_history(self, item_idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        _check_non_negative(values, self.weighting)
        values = values.astype(np.float32)
        if self.weighting == "bm25":
            values = bm25_history(values, item_idx, self.bm25_length_norm_, self._bm25_k1)
        elif self.weighting == "log":
            values = np.log1p(np.maximum(values, 0))
        conf = 1.0 + self.alpha * values.astype(np.float64)
        x = K.implicit_fold_in(item_idx, conf, self.item_factors_, self._cache_yty)
        return item_scores(self.item_factors_, x)

    def _derive(self) -> None:
        # the fold-in's Y^T Y + lambda I, once per fit / load instead of once per request
        Y = np.asarray(self.item_factors_, dtype=np.float64)  # one dtype: a BLAS product
        self._cache_yty = Y.T @ Y + self.regularization * np.eye(self.factors)


class ALS(FactorScoring, Recommender):
    """Biased matrix factorisation of explicit ratings by alternating least squares.

    Each step solves, for every user (then every item), the ridge regression of its
    ratings minus the other side's bias on the other side's factors, with penalty
    ``regularization * n_ratings`` (weighted-lambda) on the factors and the bias.

    Parameters
    ----------
    factors : int
        Number of latent factors (default 50).
    iterations : int
        ALS sweeps (default 15).
    regularization : float
        Penalty per rating (weighted-lambda) (default 0.1).
    weighted_lambda : bool
        Scale the penalty by the row's number of ratings (default True).
    init_std : float
        Standard deviation of the initial item factors (default 0.1).
    num_threads : int
        Threads for the solver (0 = all cores); results do not depend on it.
    random_state : None, int or numpy.random.Generator
        Seed for the initial item factors.

    Examples
    --------
    >>> import likewise
    >>> data = likewise.datasets.movielens("100k")
    >>> model = likewise.ALS(factors=20, random_state=0).fit(data)
    >>> float(model.predict([196], [242])[0]) > 0
    True
    """

    requires_explicit: ClassVar[bool] = True
    _param_spec: ClassVar[dict] = {
        "factors": Int(1, help="Number of latent factors."),
        "iterations": Int(1, help="ALS sweeps."),
        "regularization": Float(0, low_open=True, help="Penalty per rating (weighted-lambda)."),
        "weighted_lambda": Bool(help="Scale the penalty by the row's number of ratings."),
        "init_std": Float(0, help="Standard deviation of the initial item factors."),
        "num_threads": Int(0, help="Threads for the solver (0 = all cores); results do not depend on it."),
        "random_state": RandomState(help="Seed for the initial item factors."),
    }

    def __init__(self, factors: int = 50, iterations: int = 15, regularization: float = 0.1,
                 weighted_lambda: bool = True, init_std: float = 0.1, num_threads: int = 0,
                 random_state=None):
        self.factors = factors
        self.iterations = iterations
        self.regularization = regularization
        self.weighted_lambda = weighted_lambda
        self.init_std = init_std
        self.num_threads = num_threads
        self.random_state = random_state

    def _fit(self, data: Interactions) -> None:
        rng = check_random_state(self.random_state)
        m = data.matrix
        mt = m.T.tocsr()
        mu = float(m.data.mean())
        n_users, n_items = m.shape
        f = self.factors
        # columns: [bias, factors...]; the other side's bias enters the target
        U = np.zeros((n_users, f + 1), dtype=np.float32)
        V = np.zeros((n_items, f + 1), dtype=np.float32)
        V[:, 1:] = rng.normal(0, self.init_std, (n_items, f))
        feats_u = np.empty_like(V)
        feats_v = np.empty_like(U)
        hint = f"try a larger regularization (now {self.regularization})"
        with numba_threads(self.num_threads):
            for it in fit_steps(self, self.iterations, "iteration"):
                feats_u[:, 0] = 1.0
                feats_u[:, 1:] = V[:, 1:]
                target = (m.data - mu - V[m.indices, 0]).astype(np.float32)
                K.ridge_rows(m.indptr, m.indices, target, feats_u,
                             float(self.regularization), self.weighted_lambda, U)
                feats_v[:, 0] = 1.0
                feats_v[:, 1:] = U[:, 1:]
                target = (mt.data - mu - U[mt.indices, 0]).astype(np.float32)
                K.ridge_rows(mt.indptr, mt.indices, target, feats_v,
                             float(self.regularization), self.weighted_lambda, V)
                K.check_finite(type(self).__name__, [U.sum(), V.sum()], it, hint)
        self.mu_ = mu
        self.user_bias_ = np.ascontiguousarray(U[:, 0])
        self.item_bias_ = np.ascontiguousarray(V[:, 0])
        self.user_factors_ = np.ascontiguousarray(U[:, 1:])
        self.item_factors_ = np.ascontiguousarray(V[:, 1:])

    def _bias_terms(self):
        return self._biased_terms()

    def _score_history(self, item_idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        # the exact ridge solve of the user step, items fixed
        feats = np.hstack([np.ones((len(item_idx), 1)),
                           self.item_factors_[item_idx].astype(np.float64)])
        target = values.astype(np.float64) - self.mu_ - self.item_bias_[item_idx]
        lam = self.regularization * (len(item_idx) if self.weighted_lambda else 1)
        sol = np.linalg.solve(feats.T @ feats + lam * np.eye(feats.shape[1]), feats.T @ target)
        return (item_scores(self.item_factors_, sol[1:])
                + self.mu_ + sol[0] + self.item_bias_)

