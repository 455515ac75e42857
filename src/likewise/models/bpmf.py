"""Bayesian probabilistic matrix factorisation trained by Gibbs sampling.

``BayesianMF`` is BPMF (Salakhutdinov & Mnih 2008, "Bayesian probabilistic matrix
factorization using Markov chain Monte Carlo") with the global mean and user / item
biases of libFM's MCMC learner (Rendle 2012):

    r_ui ~ N(mu + b_u + c_i + u_u . v_i, 1 / alpha)

Each user's augmented vector ``[b_u, u_u]`` has a Gaussian prior whose mean and full
precision matrix have a Gaussian-Wishart hyperprior (likewise for the items), and the
noise precision ``alpha`` a Gamma prior (or a fixed value). Nothing is tuned by gradient:
a Gibbs sweep draws the hyperparameters, then every user given the items, then every
item given the users (rows in parallel, numba), then ``alpha``.

Predictions average the predictions of ``samples`` draws kept (evenly thinned) after the
``burn_in`` sweeps. Averaging the factors themselves would be wrong (the posterior is
invariant to rotations and sign flips of the latent space), so the kept draws are stored
side by side: ``user_factors_`` is ``[u^1, ..., u^S] / sqrt(S)`` and ``item_factors_``
``[v^1, ..., v^S] / sqrt(S)``, whose dot product is exactly the average of the S sample
dot products. Scoring, index search and item similarity (cosine of the concatenated
item vectors) therefore work as for any factor model. Memory:
``4 * S * factors * (n_users + n_items)`` bytes for the factors (50 samples x 10 factors
on MovieLens 100K: 5 MB; on MovieLens 20M, 165k users: 0.4 GB, so lower ``samples`` there).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._params import Bool, Float, Int, RandomState, check_random_state
from ..data.interactions import Interactions
from ..errors import ConfigError
from . import _bpmf_kernels as B
from ._factors import FactorScoring
from ._mf_kernels import check_finite
from ._persistence import check_state
from ._progress import fit_steps
from .base import Recommender, numba_threads

__all__ = ["BayesianMF"]


def kept_sweeps(iterations: int, burn_in: int, samples: int) -> np.ndarray:
    """The (0-based) sweeps whose draws are kept: ``samples`` evenly spaced after burn-in,
    the last sweep always included (all post-burn-in sweeps when ``samples`` is larger)."""
    post = iterations - burn_in
    n = min(samples, post)
    return burn_in + (np.arange(1, n + 1) * post) // n - 1


class BayesianMF(FactorScoring, Recommender):
    """Bayesian matrix factorisation of ratings by Gibbs sampling (BPMF with biases).

    Parameters
    ----------
    factors : int
        Number of latent factors (default 10).
    iterations : int
        Gibbs sweeps in all, burn-in included (default 200).
    burn_in : int
        Sweeps discarded before draws are kept (default 50); must be < ``iterations``.
    samples : int
        Draws kept for prediction, evenly thinned over the post-burn-in sweeps (default 50;
        at most ``iterations - burn_in`` are kept). Predictions average the kept draws'
        predictions; memory grows linearly with it (see the module notes).
    precision : float or None
        Noise precision ``alpha`` (1 / variance of a rating around its prediction). None
        (default) samples it every sweep from its Gamma posterior (prior Gamma(1, 1));
        a number fixes it (Salakhutdinov & Mnih used 2).
    prior_strength : float
        ``beta_0`` of the Gaussian-Wishart hyperprior: pseudo-observations pulling the
        prior means of the user and item vectors towards 0 (default 2, as in the paper).
        The Wishart part is ``W_0 = I`` with ``factors (+1)`` degrees of freedom.
    biased : bool
        Learn user and item biases (default True); the global mean is always subtracted.
    init_std : float
        Standard deviation of the random initial factors (default 0.1; biases start at 0).
    num_threads : int
        Threads for the row samplers (0 = all cores). The standard normals are drawn
        beforehand from ``random_state``, so results do not depend on it.
    random_state : None, int or numpy.random.Generator
        Seed of the chain.

    Attributes
    ----------
    user_factors_, item_factors_ : numpy.ndarray
        The kept draws side by side, divided by ``sqrt(n_samples_)`` (n, S * factors).
    user_bias_, item_bias_ : numpy.ndarray
        Biases averaged over the kept draws (zeros when ``biased=False``).
    mu_ : float
        Global mean of the training ratings.
    train_rmse_ : list of float
        Training RMSE of the current draw after every sweep.
    noise_precision_ : numpy.ndarray
        ``alpha`` of every kept draw.

    Examples
    --------
    >>> import likewise
    >>> data = likewise.datasets.movielens("100k")
    >>> model = likewise.BayesianMF(factors=10, iterations=60, burn_in=20,
    ...                             random_state=0).fit(data)
    >>> model.predict([196], [242]).shape
    (1,)
    """

    requires_explicit: ClassVar[bool] = True
    _param_spec: ClassVar[dict] = {
        "factors": Int(1, help="Number of latent factors."),
        "iterations": Int(1, help="Gibbs sweeps in all, burn-in included."),
        "burn_in": Int(0, help="Sweeps discarded before draws are kept (< iterations)."),
        "samples": Int(1, help="Draws kept for prediction, thinned evenly over the "
                               "post-burn-in sweeps."),
        "precision": Float(0, low_open=True, none_ok=True,
                           help="Noise precision alpha; None samples it every sweep from its "
                                "Gamma posterior."),
        "prior_strength": Float(0, low_open=True,
                                help="beta_0 of the Gaussian-Wishart hyperprior (pulls the "
                                     "prior means towards 0)."),
        "biased": Bool(help="Learn user and item biases (the global mean is always "
                            "subtracted)."),
        "init_std": Float(0, help="Standard deviation of the random initial factors."),
        "num_threads": Int(0, help="Threads for the row samplers (0 = all cores); results do "
                                   "not depend on it."),
        "random_state": RandomState(help="Seed of the chain."),
    }

    def __init__(self, factors: int = 10, iterations: int = 200, burn_in: int = 50,
                 samples: int = 50, precision: float | None = None,
                 prior_strength: float = 2.0, biased: bool = True, init_std: float = 0.1,
                 num_threads: int = 0, random_state=None):
        self.factors = factors
        self.iterations = iterations
        self.burn_in = burn_in
        self.samples = samples
        self.precision = precision
        self.prior_strength = prior_strength
        self.biased = biased
        self.init_std = init_std
        self.num_threads = num_threads
        self.random_state = random_state

    def _check_params(self, data: Interactions) -> None:
        if self.burn_in >= self.iterations:
            raise ConfigError(f"BayesianMF: burn_in must be smaller than iterations "
                              f"({self.iterations}) so that draws are kept, got "
                              f"{self.burn_in}")

    # -- fitting ------------------------------------------------------------------------
    def _validate_state(self) -> None:
        super()._validate_state()
        samples = {"item_bias_samples_": ("samples", "items"), "noise_precision_": ("samples",),
                   "user_prior_mean_": ("samples", "prior"),
                   "user_prior_precision_": ("samples", "prior", "prior")}
        check_state(self, samples, finite=samples)

    def _fit(self, data: Interactions) -> None:
        rng = check_random_state(self.random_state)
        m = data.matrix
        mt = m.T.tocsr()
        mt.sort_indices()
        by_user = (m.indptr.astype(np.int64), m.indices.astype(np.int32),
                   m.data.astype(np.float64))
        by_item = (mt.indptr.astype(np.int64), mt.indices.astype(np.int32),
                   mt.data.astype(np.float64))
        n_users, n_items = m.shape
        nnz = m.nnz
        mu = float(by_user[2].mean())
        f = self.factors
        off = 1 if self.biased else 0
        k = f + off
        # augmented vectors [bias, factors] (factors only when unbiased), float64 while sampling
        U = np.zeros((n_users, k))
        V = np.zeros((n_items, k))
        U[:, off:] = rng.normal(0.0, self.init_std, (n_users, f))
        V[:, off:] = rng.normal(0.0, self.init_std, (n_items, f))
        beta0, nu0, W0_inv = float(self.prior_strength), float(k), np.eye(k)
        fixed = self.precision is not None
        alpha = float(self.precision) if fixed else 1.0 / max(float(np.var(by_user[2])), 1e-12)

        keep = kept_sweeps(self.iterations, self.burn_in, self.samples)
        S = len(keep)
        slot = {int(s): i for i, s in enumerate(keep)}
        user_f = np.empty((n_users, S * f), dtype=np.float32)
        item_f = np.empty((n_items, S * f), dtype=np.float32)
        user_b = np.zeros((S, n_users))
        item_b = np.zeros((S, n_items))
        prior_mean = np.empty((S, k))
        prior_prec = np.empty((S, k, k))
        alphas = np.empty(S)
        hint = (f"The sampler overflowed: check init_std (now {self.init_std}) and the ratings' "
                "scale" + (f"; try precision=None (sampled) instead of {self.precision}"
                           if fixed else ""))
        self.train_rmse_ = []
        with numba_threads(self.num_threads):
            for sweep in fit_steps(self, self.iterations, "sweep"):
                m_u, lam_u = self._hyper(rng, U, beta0, nu0, W0_inv, sweep, hint)
                z = rng.standard_normal((n_users, k))
                sse = float(B.sample_rows(*by_user, V, mu, lam_u, lam_u @ m_u, alpha, z,
                                          self.biased, U).sum())
                check_finite(type(self).__name__, sse, sweep, hint)
                m_v, lam_v = self._hyper(rng, V, beta0, nu0, W0_inv, sweep, hint)
                z = rng.standard_normal((n_items, k))
                sse = float(B.sample_rows(*by_item, U, mu, lam_v, lam_v @ m_v, alpha, z,
                                          self.biased, V).sum())
                check_finite(type(self).__name__, [sse, U.sum(), V.sum()], sweep, hint)
                self.train_rmse_.append(float(np.sqrt(sse / nnz)))
                if not fixed:
                    alpha = B.sample_noise_precision(rng, sse, nnz)
                i = slot.get(sweep)
                if i is not None:
                    with np.errstate(over="ignore"):  # float32 overflow is checked below
                        user_f[:, i * f:(i + 1) * f] = U[:, off:]
                        item_f[:, i * f:(i + 1) * f] = V[:, off:]
                    if self.biased:
                        user_b[i], item_b[i] = U[:, 0], V[:, 0]
                    prior_mean[i], prior_prec[i], alphas[i] = m_u, lam_u, alpha
        with np.errstate(invalid="ignore"):
            totals = [user_f.sum(dtype=np.float64), item_f.sum(dtype=np.float64)]
        check_finite(type(self).__name__, totals, self.iterations - 1, hint)
        scale = np.float32(1.0 / np.sqrt(S))
        self.mu_ = mu
        self.n_samples_ = S
        self.user_factors_ = user_f * scale
        self.item_factors_ = item_f * scale
        self.user_bias_ = user_b.mean(axis=0).astype(np.float32)
        self.item_bias_ = item_b.mean(axis=0).astype(np.float32)
        self.item_bias_samples_ = item_b.astype(np.float32)
        self.user_prior_mean_ = prior_mean
        self.user_prior_precision_ = prior_prec
        self.noise_precision_ = alphas

    def _hyper(self, rng, X, beta0, nu0, W0_inv, sweep, hint):
        """Draw one side's prior mean and precision; overflow fails ``fit`` clearly."""
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                mean, precision = B.sample_hyper(rng, X, beta0, nu0, W0_inv)
        except (np.linalg.LinAlgError, ValueError):  # non-finite or not positive definite
            mean, precision = np.full(X.shape[1], np.nan), None
        check_finite(type(self).__name__, [mean.sum(), np.nan if precision is None
                                           else precision.sum()], sweep, hint)
        return mean, precision

    # -- scoring ------------------------------------------------------------------------
    def _bias_terms(self):
        return self._biased_terms()

    def sample_factors(self) -> tuple[np.ndarray, np.ndarray]:
        """The kept draws as ``(user factors (S, n_users, f), item factors (S, n_items, f))``."""
        self._check_fitted()
        S, f = self.n_samples_, self.factors
        root = np.float32(np.sqrt(S))
        users = self.user_factors_.reshape(-1, S, f).transpose(1, 0, 2) * root
        items = self.item_factors_.reshape(-1, S, f).transpose(1, 0, 2) * root
        return users, items

    def _score_history(self, item_idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        # For every kept draw: the new user's conditional mean given that draw's items,
        # prior and alpha (the Gibbs user step without its noise); the scores average
        # the draws' predictions as for a training user.
        S, f = self.n_samples_, self.factors
        v = (self.item_factors_[item_idx].astype(np.float64).reshape(-1, S, f)
             .transpose(1, 0, 2) * np.sqrt(S))                        # (S, n, f)
        target = values.astype(np.float64)[None, :] - self.mu_        # (1, n)
        if self.biased:
            target = target - self.item_bias_samples_[:, item_idx]    # (S, n)
            design = np.concatenate([np.ones(v.shape[:2] + (1,)), v], axis=2)
        else:
            target = np.broadcast_to(target, v.shape[:2])
            design = v
        alpha = self.noise_precision_[:, None, None]
        lam = self.user_prior_precision_
        A = lam + alpha * np.einsum("snk,snl->skl", design, design)
        b = np.einsum("skl,sl->sk", lam, self.user_prior_mean_) \
            + alpha[:, :, 0] * np.einsum("snk,sn->sk", design, target)
        x = np.linalg.solve(A, b[:, :, None])[:, :, 0]                # (S, k)
        off = 1 if self.biased else 0
        user_vec = (x[:, off:].reshape(-1) / np.sqrt(S)).astype(np.float32)
        scores = self.item_factors_ @ user_vec + self.item_bias_ + np.float32(self.mu_)
        if self.biased:
            scores += np.float32(x[:, 0].mean())
        return scores
