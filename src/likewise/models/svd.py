"""SVD and SVD++: biased matrix factorisation of ratings trained by SGD.

``SVD`` is the Funk / Koren model popularised by the Netflix prize and by Surprise,

    r_ui ~ mu + b_u + b_i + p_u . q_i

and ``SVDpp`` adds implicit feedback from the set N(u) of items the user rated,

    r_ui ~ mu + b_u + b_i + q_i . (p_u + |N(u)|^-1/2 sum_{j in N(u)} y_j).

Defaults match Surprise's so results can be compared. The SGD loops are numba kernels
(``_mf_kernels``); SVD++ keeps the implicit sum per user instead of recomputing it per
rating, which gives the same updates as the naive algorithm at O(f) per rating.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._params import Bool, Float, Int, RandomState, check_random_state
from ..data.interactions import Interactions
from . import _mf_kernels as K
from ._factors import FactorScoring, item_scores
from ._persistence import check_state
from ._progress import fit_steps
from .base import Recommender, numba_threads

__all__ = ["SVD", "SVDpp"]


def _entries(matrix):
    users = np.repeat(np.arange(matrix.shape[0], dtype=np.int32), np.diff(matrix.indptr))
    items = matrix.indices.astype(np.int32, copy=False)
    ratings = matrix.data.astype(np.float32, copy=False)
    return users, items, ratings


def _divergence_hint(model) -> str:
    return (f"learning_rate={model.learning_rate} is probably too high for these data; try a "
            f"smaller value (e.g. {model.learning_rate / 10:g}) or a larger regularization "
            f"(now {model.regularization})")


class SVD(FactorScoring, Recommender):
    """Biased matrix factorisation trained by stochastic gradient descent (Funk SVD).

    Parameters
    ----------
    factors : int
        Number of latent factors (default 100, as Surprise).
    epochs : int
        Passes of SGD over the ratings (default 20).
    learning_rate : float
        SGD step size for every parameter (default 0.005).
    regularization : float
        L2 penalty for every parameter (default 0.02).
    init_mean, init_std : float
        Normal initialisation of the factors (defaults 0 and 0.1); biases start at 0.
    biased : bool
        Learn the global mean and user / item biases (default True); False gives plain
        (probabilistic) matrix factorisation.
    shuffle : bool
        Visit the ratings in a new random order every epoch (default True); False visits
        them user by user as Surprise does.
    num_threads : int
        1 (default) runs the exact sequential SGD, deterministic for a ``random_state``;
        more threads (0 = all cores) run lock-free parallel SGD (Hogwild!), which is
        faster on large data but not bit-reproducible.
    random_state : None, int or numpy.random.Generator
        Seed for the initialisation and the visiting order.

    Examples
    --------
    >>> import likewise
    >>> data = likewise.datasets.movielens("100k")
    >>> model = likewise.SVD(factors=50, random_state=0).fit(data)
    >>> model.predict([196], [242]).shape
    (1,)
    """

    requires_explicit: ClassVar[bool] = True
    _param_spec: ClassVar[dict] = {
        "factors": Int(1, help="Number of latent factors."),
        "epochs": Int(1, help="Passes of SGD over the ratings."),
        "learning_rate": Float(0, low_open=True, help="SGD step size for every parameter."),
        "regularization": Float(0, help="L2 penalty for every parameter."),
        "init_mean": Float(help="Mean of the normal initial factors."),
        "init_std": Float(0, help="Standard deviation of the normal initial factors."),
        "biased": Bool(help="Learn the global mean and user / item biases (False: plain "
                            "matrix factorisation)."),
        "shuffle": Bool(help="Visit the ratings in a new random order every epoch (False: "
                             "user by user)."),
        "num_threads": Int(0, help="1: exact sequential SGD; more (0 = all cores): parallel "
                                   "Hogwild! SGD, not bit-reproducible."),
        "random_state": RandomState(help="Seed for the initialisation and the visiting "
                                         "order."),
    }

    def __init__(self, factors: int = 100, epochs: int = 20, learning_rate: float = 0.005,
                 regularization: float = 0.02, init_mean: float = 0.0, init_std: float = 0.1,
                 biased: bool = True, shuffle: bool = True, num_threads: int = 1,
                 random_state=None):
        self.factors = factors
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.init_mean = init_mean
        self.init_std = init_std
        self.biased = biased
        self.shuffle = shuffle
        self.num_threads = num_threads
        self.random_state = random_state

    # -- fitting ------------------------------------------------------------------------
    def _init_factors(self, rng, n_users, n_items):
        f = self.factors
        pu = rng.normal(self.init_mean, self.init_std, (n_users, f)).astype(np.float32)
        qi = rng.normal(self.init_mean, self.init_std, (n_items, f)).astype(np.float32)
        return pu, qi

    def _fit(self, data: Interactions) -> None:
        rng = check_random_state(self.random_state)
        users, items, ratings = (a.copy() for a in _entries(data.matrix))
        pu, qi = self._init_factors(rng, data.n_users, data.n_items)
        bu = np.zeros(data.n_users, dtype=np.float32)
        bi = np.zeros(data.n_items, dtype=np.float32)
        mu = float(ratings.mean()) if self.biased else 0.0
        self.train_rmse_ = []
        state = K.rng_seeds(rng, 1)
        with numba_threads(self.num_threads) as threads:
            for epoch in fit_steps(self, self.epochs):
                if self.shuffle:  # a fresh uniformly random order, in place, in numba
                    K.shuffle_together(state, users, items, ratings)
                sse = K.sgd_svd_epoch(users, items, ratings, None, mu, bu, bi, pu, qi,
                                      self.learning_rate, self.regularization, self.biased,
                                      n_chunks=threads)
                K.check_finite(type(self).__name__, sse, epoch, _divergence_hint(self))
                self.train_rmse_.append(float(np.sqrt(sse / len(ratings))))
        K.check_finite(type(self).__name__, [pu.sum(), qi.sum()], self.epochs - 1,
                       _divergence_hint(self))
        self.mu_ = mu
        self.user_bias_, self.item_bias_ = bu, bi
        self.user_factors_, self.item_factors_ = pu, qi

    # -- scoring ------------------------------------------------------------------------
    def _bias_terms(self):
        return self._biased_terms() if self.biased else (None, None)

    def _score_history(self, item_idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        # a few SGD epochs on the new user's vector and bias, items frozen
        p = np.zeros(self.factors, dtype=np.float32)
        bu = np.zeros(1, dtype=np.float32)
        K.sgd_fold_in(item_idx.astype(np.int64), values.astype(np.float32), np.float32(self.mu_),
                      self.item_bias_, self.item_factors_, self.epochs,
                      np.float32(self.learning_rate), np.float32(self.regularization),
                      self.biased, p, bu)
        scores = item_scores(self.item_factors_, p)
        if self.biased:
            scores += self.mu_ + bu[0] + self.item_bias_
        return scores


class SVDpp(SVD):
    """SVD++: SVD plus implicit feedback from which items each user rated (Koren 2008).

    Same parameters as :class:`SVD` except the defaults follow Surprise's ``SVDpp``
    (20 factors, learning rate 0.007). The implicit sum is kept per user and the item
    vectors y_j are updated once per user (exactly equivalent to the per-rating updates),
    so an epoch costs O(ratings x factors) instead of O(ratings x |N(u)| x factors).

    Examples
    --------
    >>> import likewise
    >>> data = likewise.datasets.movielens("100k")
    >>> model = likewise.SVDpp(random_state=0).fit(data)
    >>> model.recommend([196], n=3).items.shape
    (1, 3)
    """

    _param_spec: ClassVar[dict] = {k: v for k, v in SVD._param_spec.items()
                                   if k not in ("biased", "shuffle")}

    def __init__(self, factors: int = 20, epochs: int = 20, learning_rate: float = 0.007,
                 regularization: float = 0.02, init_mean: float = 0.0, init_std: float = 0.1,
                 num_threads: int = 1, random_state=None):
        self.factors = factors
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.init_mean = init_mean
        self.init_std = init_std
        self.num_threads = num_threads
        self.random_state = random_state

    biased = True  # class constant: SVD++ always has biases

    def _fit(self, data: Interactions) -> None:
        rng = check_random_state(self.random_state)
        m = data.matrix
        indptr = m.indptr.astype(np.int64)
        indices = m.indices.astype(np.int32)
        ratings = m.data.astype(np.float32)
        pu, qi = self._init_factors(rng, data.n_users, data.n_items)
        y = rng.normal(self.init_mean, self.init_std,
                       (data.n_items, self.factors)).astype(np.float32)
        bu = np.zeros(data.n_users, dtype=np.float32)
        bi = np.zeros(data.n_items, dtype=np.float32)
        mu = float(ratings.mean())
        self.train_rmse_ = []
        with numba_threads(self.num_threads) as threads:
            for epoch in fit_steps(self, self.epochs):
                order = rng.permutation(data.n_users).astype(np.int64)
                sse = K.sgd_svdpp_epoch(indptr, indices, ratings, order, mu, bu, bi, pu, qi,
                                        y, self.learning_rate, self.regularization,
                                        n_chunks=threads)
                K.check_finite(type(self).__name__, sse, epoch, _divergence_hint(self))
                self.train_rmse_.append(float(np.sqrt(sse / len(ratings))))
        K.check_finite(type(self).__name__, [pu.sum(), qi.sum(), y.sum()], self.epochs - 1,
                       _divergence_hint(self))
        self.mu_ = mu
        self.user_bias_, self.item_bias_ = bu, bi
        self.user_factors_, self.item_factors_, self.implicit_factors_ = pu, qi, y
        self._after_load()

    def _validate_state(self) -> None:
        super()._validate_state()
        check_state(self, {"item_factors_": ("items", "factors"),
                           "implicit_factors_": ("items", "factors")},
                    finite=("implicit_factors_",), required=("implicit_factors_",))

    def _after_load(self) -> None:
        # effective user vectors p_u + |N(u)|^-1/2 sum y_j, so scoring is one matmul
        m = self.user_items_
        counts = np.diff(m.indptr).astype(np.float32)
        ones = m.copy()
        ones.data = np.ones_like(ones.data, dtype=np.float32)
        z = np.asarray(ones @ self.implicit_factors_, dtype=np.float32)
        z /= np.sqrt(np.maximum(counts, 1))[:, None]
        self._cache_user_vectors = (self.user_factors_ + z).astype(np.float32)

    def _user_vectors(self) -> np.ndarray:
        # p_u + |N(u)|^-1/2 sum y_j, kept per user (see _after_load)
        return self._cache_user_vectors

    def _bias_terms(self):
        return self._biased_terms()

    def _score_history(self, item_idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        p = np.zeros(self.factors, dtype=np.float32)
        bu = np.zeros(1, dtype=np.float32)
        z = K.svdpp_fold_in(item_idx.astype(np.int64), values.astype(np.float32),
                            np.float32(self.mu_), self.item_bias_, self.item_factors_,
                            self.implicit_factors_, self.epochs,
                            np.float32(self.learning_rate), np.float32(self.regularization),
                            p, bu)
        return item_scores(self.item_factors_, p + z) + self.mu_ + bu[0] + self.item_bias_
