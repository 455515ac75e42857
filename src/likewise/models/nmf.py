"""NMF: non-negative matrix factorisation of ratings (Luo et al. 2014, as in Surprise).

    r_ui ~ p_u . q_i  with p_u, q_i >= 0,

fitted by regularised multiplicative updates: every epoch computes, with the current
factors,

    p_uf <- p_uf * sum_i q_if r_ui / (sum_i q_if est_ui + |I_u| reg p_uf)
    q_if <- q_if * sum_u p_uf r_ui / (sum_u p_uf est_ui + |U_i| reg q_if)

The sums are sparse-times-dense products (scipy), so an epoch costs O(ratings x factors)
without a Python loop; factors stay non-negative by construction. Defaults follow
Surprise's ``NMF`` (15 factors, 50 epochs, reg 0.06, initial factors uniform in [0, 1]).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from .._params import Float, Int, RandomState, check_random_state
from ..data.interactions import Interactions
from ..errors import ConfigError
from . import _mf_kernels as K
from ._factors import FactorScoring, item_scores
from ._progress import fit_steps
from .base import Recommender

__all__ = ["NMF", "nmf_epoch", "nmf_epoch_reference"]


def _rowwise_dot(rows, cols, P, Q, block: int = 1 << 18) -> np.ndarray:
    out = np.empty(len(rows), dtype=np.float32)
    for lo in range(0, len(rows), block):
        hi = min(lo + block, len(rows))
        out[lo:hi] = np.einsum("ij,ij->i", P[rows[lo:hi]], Q[cols[lo:hi]])
    return out


def nmf_epoch(R: sp.csr_matrix, rows: np.ndarray, P: np.ndarray, Q: np.ndarray,
              reg: float) -> float:
    """One multiplicative-update epoch in place; returns the squared error before it."""
    est = _rowwise_dot(rows, R.indices, P, Q)
    E = sp.csr_matrix((est, R.indices, R.indptr), shape=R.shape)
    n_u = np.diff(R.indptr).astype(np.float32)[:, None]
    n_i = np.bincount(R.indices, minlength=R.shape[1]).astype(np.float32)[:, None]
    user_num, user_den = R @ Q, E @ Q + reg * n_u * P
    item_num, item_den = R.T @ P, E.T @ P + reg * n_i * Q
    # rows without ratings have 0/0: keep their factors (they are never used)
    np.divide(user_num, user_den, out=user_num, where=user_den > 0)
    user_num[~(user_den > 0)] = 1.0
    np.divide(item_num, item_den, out=item_num, where=item_den > 0)
    item_num[~(item_den > 0)] = 1.0
    P *= user_num
    Q *= item_num
    return float(((R.data - est) ** 2).sum())


def nmf_epoch_reference(users, items, ratings, P, Q, reg) -> None:
    """Surprise's ``NMF.sgd`` epoch, transcribed as loops (slow; for the tests)."""
    user_num = np.zeros_like(P)
    user_den = np.zeros_like(P)
    item_num = np.zeros_like(Q)
    item_den = np.zeros_like(Q)
    for u, i, r in zip(users, items, ratings):
        est = P[u] @ Q[i]
        user_num[u] += Q[i] * r
        user_den[u] += Q[i] * est
        item_num[i] += P[u] * r
        item_den[i] += P[u] * est
    for u in np.unique(users):
        n = (users == u).sum()
        P[u] *= user_num[u] / (user_den[u] + n * reg * P[u])
    for i in np.unique(items):
        n = (items == i).sum()
        Q[i] *= item_num[i] / (item_den[i] + n * reg * Q[i])


class NMF(FactorScoring, Recommender):
    """Non-negative matrix factorisation of ratings by multiplicative updates.

    Parameters
    ----------
    factors : int
        Number of latent factors (default 15).
    epochs : int
        Multiplicative-update epochs (default 50).
    regularization : float
        Penalty on user and item factors, per rating (default 0.06).
    init_low, init_high : float
        The initial factors are uniform in [init_low, init_high) (defaults 0 and 1).
    random_state : None, int or numpy.random.Generator
        Seed for the initial factors.

    Examples
    --------
    >>> import likewise
    >>> data = likewise.datasets.movielens("100k")
    >>> model = likewise.NMF(random_state=0).fit(data)
    >>> bool((model.item_factors_ >= 0).all())
    True
    """

    requires_explicit: ClassVar[bool] = True
    _param_spec: ClassVar[dict] = {
        "factors": Int(1, help="Number of latent factors."),
        "epochs": Int(1, help="Multiplicative-update epochs."),
        "regularization": Float(0, help="Penalty on user and item factors, per rating."),
        "init_low": Float(0, help="Lower end of the uniform initial factors."),
        "init_high": Float(0, low_open=True, help="Upper end (excluded) of the uniform "
                                                  "initial factors."),
        "random_state": RandomState(help="Seed for the initial factors."),
    }

    def __init__(self, factors: int = 15, epochs: int = 50, regularization: float = 0.06,
                 init_low: float = 0.0, init_high: float = 1.0, random_state=None):
        self.factors = factors
        self.epochs = epochs
        self.regularization = regularization
        self.init_low = init_low
        self.init_high = init_high
        self.random_state = random_state

    def _check_params(self, data: Interactions) -> None:
        if self.init_low >= self.init_high:
            raise ConfigError(f"NMF: init_low must be < init_high, got init_low="
                              f"{self.init_low} and init_high={self.init_high}")

    def _fit(self, data: Interactions) -> None:
        rng = check_random_state(self.random_state)
        R = data.matrix.astype(np.float32)
        if R.data.min() < 0:
            from ..errors import DataError

            raise DataError("NMF needs non-negative ratings; shift the rating scale first")
        rows = np.repeat(np.arange(R.shape[0]), np.diff(R.indptr))
        shape = (self.factors,)
        P = rng.uniform(self.init_low, self.init_high, (R.shape[0],) + shape).astype(np.float32)
        Q = rng.uniform(self.init_low, self.init_high, (R.shape[1],) + shape).astype(np.float32)
        self.train_rmse_ = []
        for epoch in fit_steps(self, self.epochs):
            sse = nmf_epoch(R, rows, P, Q, self.regularization)
            K.check_finite("NMF", [sse, P.sum(), Q.sum()], epoch,
                           f"try a larger regularization (now {self.regularization})")
            self.train_rmse_.append(float(np.sqrt(sse / R.nnz)))
        self.user_factors_, self.item_factors_ = P, Q

    def _score_history(self, item_idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        # the user half of the multiplicative updates, items fixed, from a constant start
        Q = self.item_factors_[item_idx].astype(np.float64)
        r = values.astype(np.float64)
        p = np.full(self.factors, (self.init_low + self.init_high) / 2 or 0.5)
        num = r @ Q
        for _ in range(self.epochs):
            den = (Q @ p) @ Q + len(r) * self.regularization * p
            p *= np.divide(num, den, out=np.ones_like(num), where=den > 0)
        return item_scores(self.item_factors_, p)

