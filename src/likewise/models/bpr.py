"""BPR: Bayesian personalised ranking (Rendle et al. 2009) for implicit feedback.

Matrix factorisation with an item bias, trained by SGD on sampled triples (user u, item i
the user used, item j drawn uniformly from the catalogue) to rank i above j:

    maximise  sum ln sigmoid(x_uij) - reg ||theta||^2,   x_uij = p_u . (q_i - q_j) + b_i - b_j.

The sampler runs in parallel numba threads, each with its own xorshift stream seeded from
``random_state`` (lock-free shared updates, as in implicit and LightFM). Those racing
updates make a threaded fit differ run to run, so with a ``random_state`` the default
(``num_threads=None``) is one exact sequential stream: bit-reproducible, at the cost of the
threads' speed-up (measured in the README's reproducibility section).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._params import Bool, Float, Int, RandomState, check_random_state, seed_from
from ..data.interactions import Interactions
from . import _mf_kernels as K
from ._factors import FactorScoring, item_scores
from ._progress import fit_steps
from .base import Recommender, numba_threads

__all__ = ["BPR"]


class BPR(FactorScoring, Recommender):
    """Bayesian personalised ranking matrix factorisation with uniform negative sampling.

    Parameters
    ----------
    factors : int
        Number of latent factors (default 100).
    epochs : int
        Passes; each draws as many triples as there are interactions (default 100).
    learning_rate : float
        SGD step size (default 0.01).
    regularization : float
        L2 penalty on the updated parameters (default 0.01).
    verify_negative_samples : bool
        Skip sampled negatives the user actually used (default True).
    num_threads : int or None
        Sampler threads (0 = all cores). None (default): 1 when ``random_state`` is set
        (bit-reproducible fits), all cores otherwise. More than one thread is faster but
        not reproducible (lock-free shared updates).
    random_state : None, int or numpy.random.Generator
        Seed for the initial factors and the samplers.

    Examples
    --------
    >>> import likewise
    >>> data = likewise.datasets.movielens("100k").as_implicit()
    >>> model = likewise.BPR(factors=32, epochs=20, random_state=0).fit(data)
    >>> model.recommend([196], n=5).items.shape
    (1, 5)
    """

    estimates_ratings: ClassVar[bool] = False
    _param_spec: ClassVar[dict] = {
        "factors": Int(1, help="Number of latent factors."),
        "epochs": Int(1, help="Passes; each draws as many triples as there are interactions."),
        "learning_rate": Float(0, low_open=True, help="SGD step size."),
        "regularization": Float(0, help="L2 penalty on the updated parameters."),
        "verify_negative_samples": Bool(help="Skip sampled negatives the user actually used."),
        "num_threads": Int(0, none_ok=True,
                           help="Sampler threads (0 = all cores); None: 1 (bit-reproducible) "
                                "when random_state is set, else all cores."),
        "random_state": RandomState(help="Seed for the initial factors and the samplers."),
    }

    def __init__(self, factors: int = 100, epochs: int = 100, learning_rate: float = 0.01,
                 regularization: float = 0.01, verify_negative_samples: bool = True,
                 num_threads: int | None = None, random_state=None):
        self.factors = factors
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.verify_negative_samples = verify_negative_samples
        self.num_threads = num_threads
        self.random_state = random_state

    def _fit(self, data: Interactions) -> None:
        rng = check_random_state(self.random_state)
        m = data.matrix
        indptr = m.indptr.astype(np.int64)
        indices = m.indices.astype(np.int32)
        entry_user = np.repeat(np.arange(data.n_users, dtype=np.int32), np.diff(indptr))
        f = self.factors
        pu = ((rng.random((data.n_users, f), dtype=np.float32) - 0.5) / f).astype(np.float32)
        qi = ((rng.random((data.n_items, f), dtype=np.float32) - 0.5) / f).astype(np.float32)
        bi = np.zeros(data.n_items, dtype=np.float32)
        self.train_auc_ = []
        hint = (f"learning_rate={self.learning_rate} is probably too high; try "
                f"{self.learning_rate / 10:g}")
        with numba_threads(self._sampler_threads()) as threads:
            states = K.rng_seeds(rng, threads)
            for epoch in fit_steps(self, self.epochs):
                correct, skipped = K.bpr_epoch(indptr, indices, entry_user, pu, qi, bi,
                                               self.learning_rate, self.regularization,
                                               len(indices), states,
                                               self.verify_negative_samples)
                K.check_finite(type(self).__name__, [pu[:64].sum(), qi.sum(), bi.sum()],
                               epoch, hint)
                used = max(len(indices) - skipped, 1)
                self.train_auc_.append(correct / used)
        K.check_finite(type(self).__name__, pu.sum(), self.epochs - 1, hint)
        self.user_factors_, self.item_factors_, self.item_bias_ = pu, qi, bi
        self.fold_in_seed_ = seed_from(rng)

    def _sampler_threads(self) -> int:
        """The thread count to use: a seeded fit defaults to the exact sequential sampler."""
        if self.num_threads is not None:
            return self.num_threads
        return 1 if self.random_state is not None else 0

    def _bias_terms(self):
        return self.item_bias_, None

    def _score_history(self, item_idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        # SGD on the new user only, with the training run's number of samples per item used
        items = np.unique(item_idx).astype(np.int64)
        p = np.zeros(self.factors, dtype=np.float32)
        K.bpr_fold_in(items, self.item_factors_, self.item_bias_,
                      int(self.epochs * len(items)), np.float32(self.learning_rate),
                      np.float32(self.regularization), np.uint64(self.fold_in_seed_ + 1), p)
        return item_scores(self.item_factors_, p) + self.item_bias_

