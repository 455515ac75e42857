"""Non-personalised rating baselines: :class:`Random` and :class:`Baseline`."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit

from .._params import Choice, Float, Int, RandomState, check_random_state, seed_from
from ..errors import UnsupportedError
from ._biases import damped_biases
from .base import Recommender

__all__ = ["Random", "Baseline", "fit_biases", "sgd_biases_reference"]


# ---------------------------------------------------------------------------------------
# bias estimation
# ---------------------------------------------------------------------------------------
def fit_biases(matrix: sp.csr_matrix, method: str = "als", *, epochs: int | None = None,
               reg_user: float = 15.0, reg_item: float = 10.0, learning_rate: float = 0.005,
               regularization: float = 0.02):
    """Global mean and user / item biases of Koren's baseline ``r = mu + b_u + b_i``.

    ``method="als"`` alternates closed-form damped means (items, then users), as
    Surprise's ``BaselineOnly`` does (default 10 epochs, ``reg_user=15``, ``reg_item=10``;
    :func:`~likewise.models._biases.damped_biases`, also every explicit model's fallback).
    ``method="sgd"`` runs stochastic gradient descent over the ratings in CSR order
    (default 20 epochs, ``learning_rate=0.005``, ``regularization=0.02``).

    Returns
    -------
    (float, numpy.ndarray, numpy.ndarray)
        ``global_mean``, ``user_bias`` (n_users,) and ``item_bias`` (n_items,), float32.

    Examples
    --------
    >>> from likewise.datasets import movielens
    >>> mu, bu, bi = fit_biases(movielens().matrix)
    >>> round(mu, 3)
    3.53
    """
    if method == "als":
        return damped_biases(matrix, reg_item, reg_user, 10 if epochs is None else epochs)
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
    ratings = matrix.data.astype(np.float64)
    mu = float(ratings.mean()) if len(ratings) else 0.0
    bu, bi = _sgd_biases(rows, matrix.indices.astype(np.int64), ratings, mu, matrix.shape[0],
                         matrix.shape[1], 20 if epochs is None else epochs, learning_rate,
                         regularization)
    return mu, bu.astype(np.float32), bi.astype(np.float32)


@njit(cache=True)
def _sgd_biases(rows, cols, ratings, mu, n_users, n_items, epochs, lr, reg):
    bu = np.zeros(n_users)
    bi = np.zeros(n_items)
    for _ in range(epochs):
        for k in range(ratings.shape[0]):
            u, i = rows[k], cols[k]
            err = ratings[k] - (mu + bu[u] + bi[i])
            bu[u] += lr * (err - reg * bu[u])
            bi[i] += lr * (err - reg * bi[i])
    return bu, bi


def sgd_biases_reference(matrix: sp.csr_matrix, epochs: int = 20, learning_rate: float = 0.005,
                         regularization: float = 0.02):
    """Plain-Python SGD for the biases: the readable version the numba kernel is tested against."""
    coo = matrix.tocoo()
    mu = float(coo.data.mean())
    bu = np.zeros(matrix.shape[0])
    bi = np.zeros(matrix.shape[1])
    order = np.lexsort((coo.col, coo.row))
    for _ in range(epochs):
        for u, i, r in zip(coo.row[order], coo.col[order], coo.data[order]):
            err = r - (mu + bu[u] + bi[i])
            bu[u] += learning_rate * (err - regularization * bu[u])
            bi[i] += learning_rate * (err - regularization * bi[i])
    return mu, bu, bi


# ---------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------
class Baseline(Recommender):
    """Global mean plus regularised user and item biases (Koren 2010).

    The fallback estimate of every explicit model and a strong, fast reference point.

    Parameters
    ----------
    method : {"als", "sgd"}
        Alternating damped means (Surprise's default) or stochastic gradient descent.
    epochs : int, optional
        Default 10 for ALS, 20 for SGD.
    reg_user, reg_item : float
        ALS regularisation of user and item biases.
    learning_rate, regularization : float
        SGD step size and L2 penalty.

    Examples
    --------
    >>> import likewise
    >>> model = likewise.Baseline().fit(likewise.datasets.movielens("100k"))
    >>> model.predict([196], [242]).round(2)
    array([4.01], dtype=float32)
    """

    requires_explicit = True
    _sets_own_biases = True
    _param_spec = {
        "method": Choice(("als", "sgd"), help="Alternating damped means (Surprise's default) "
                                               "or stochastic gradient descent."),
        "epochs": Int(1, none_ok=True, help="Epochs (None: 10 for ALS, 20 for SGD)."),
        "reg_user": Float(0.0, help="ALS regularisation of the user biases."),
        "reg_item": Float(0.0, help="ALS regularisation of the item biases."),
        "learning_rate": Float(0.0, low_open=True, help="SGD step size."),
        "regularization": Float(0.0, help="SGD L2 penalty."),
    }

    def __init__(self, *, method: str = "als", epochs: int | None = None,
                 reg_user: float = 15.0, reg_item: float = 10.0,
                 learning_rate: float = 0.005, regularization: float = 0.02):
        self.method = method
        self.epochs = epochs
        self.reg_user = reg_user
        self.reg_item = reg_item
        self.learning_rate = learning_rate
        self.regularization = regularization

    def _fit(self, data) -> None:
        mu, bu, bi = fit_biases(data.matrix, self.method, epochs=self.epochs,
                                reg_user=self.reg_user, reg_item=self.reg_item,
                                learning_rate=self.learning_rate,
                                regularization=self.regularization)
        self.global_mean_ = mu
        self.user_bias_ = bu
        self.item_bias_ = bi
        # the model's own biases are the best fallback for partly known pairs
        self.fallback_user_bias_ = bu
        self.fallback_item_bias_ = bi

    def _predict_idx(self, user_idx, item_idx):
        return (self.global_mean_ + self.user_bias_[user_idx]
                + self.item_bias_[item_idx]).astype(np.float32)

    def _score(self, user_idx):
        return (self.global_mean_ + self.user_bias_[user_idx, None]
                + self.item_bias_[None, :]).astype(np.float32)

    def _score_history(self, item_idx, values):
        resid = values - self.global_mean_ - self.item_bias_[item_idx]
        user_bias = resid.sum() / (self.reg_user + len(item_idx))
        return (self.global_mean_ + user_bias + self.item_bias_).astype(np.float32)


class Random(Recommender):
    """Random ratings from a normal distribution fitted to the training ratings.

    Like Surprise's ``NormalPredictor``: ``N(mean, std)`` of the ratings, clipped to the
    scale. Each (user, item) pair gets a reproducible draw (a hash of the seed and the
    pair), so batch and single calls agree and a seed fixes every result. On implicit data
    the scores are uniform random numbers: a random ranking, the floor any model must beat.

    Examples
    --------
    >>> import likewise
    >>> model = likewise.Random(random_state=0).fit(likewise.datasets.movielens())
    >>> model.predict([196, 196], [242, 302]).shape
    (2,)
    """

    _param_spec = {"random_state": RandomState(help="Seed of the draws (each pair's draw is a "
                                                    "hash of it and the pair).")}

    def __init__(self, *, random_state=None):
        self.random_state = random_state

    def _fit(self, data) -> None:
        rng = check_random_state(self.random_state)
        self.seed_ = seed_from(rng)
        values = data.matrix.data.astype(np.float64)
        self.mean_ = float(values.mean())
        self.std_ = float(values.std())

    def _draw(self, user_idx, item_idx):
        u1 = _hash_uniform(self.seed_, user_idx, item_idx, 0)
        if self.kind_ != "explicit":
            return u1.astype(np.float32)
        u2 = _hash_uniform(self.seed_, user_idx, item_idx, 1)
        normal = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
        return (self.mean_ + self.std_ * normal).astype(np.float32)

    @property
    def estimates_ratings(self) -> bool:  # type: ignore[override]
        return getattr(self, "kind_", "explicit") == "explicit"

    def _predict_idx(self, user_idx, item_idx):
        return self._draw(np.asarray(user_idx, np.int64), np.asarray(item_idx, np.int64))

    def _score(self, user_idx):
        users = np.repeat(np.asarray(user_idx, np.int64), self.n_items)
        items = np.tile(np.arange(self.n_items, dtype=np.int64), len(user_idx))
        return self._draw(users, items).reshape(len(user_idx), self.n_items)

    def _score_history(self, item_idx, values):
        users = np.full(self.n_items, -1, dtype=np.int64)
        return self._draw(users, np.arange(self.n_items, dtype=np.int64))

    def _similar_items_idx(self, item_idx, n):
        raise UnsupportedError("Random has no notion of item similarity")


def _hash_uniform(seed: int, a: np.ndarray, b: np.ndarray, stream: int) -> np.ndarray:
    """Uniform (0, 1) numbers from a splitmix64 hash of (seed, a, b, stream)."""
    with np.errstate(over="ignore"):
        x = (np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
             + a.astype(np.uint64) * np.uint64(0xBF58476D1CE4E5B9)
             + b.astype(np.uint64) * np.uint64(0x94D049BB133111EB)
             + np.uint64(stream) * np.uint64(0xD6E8FEB86659FD93))
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return ((x >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)
