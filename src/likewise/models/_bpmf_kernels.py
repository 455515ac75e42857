"""Gibbs-sampling kernels of :class:`~likewise.models.bpmf.BayesianMF`, beside readable references.

The model (Salakhutdinov & Mnih 2008, with biases as in libFM's MCMC) is

    r_ui ~ N(mu + b_u + c_i + u_u . v_i, 1 / alpha)

with every user's *augmented* vector ``x_u = [b_u, u_u]`` (``[u_u]`` without biases)
drawn from ``N(m_U, Lambda_U^-1)``, and ``(m_U, Lambda_U)`` from a Gaussian-Wishart
hyperprior (the same on the item side). One Gibbs sweep samples the user hyperparameters,
every user's vector given the items, the item hyperparameters, every item's vector given
the users, and the noise precision ``alpha`` when it is not fixed.

Given the other side, the rows are independent, and the conditional of row ``u`` is
Gaussian with precision ``A = Lambda + alpha sum_j d_j d_j^T`` and mean
``A^-1 (Lambda m + alpha sum_j d_j t_j)``, where ``d_j = [1, v_j]`` is the design vector of
rated item ``j`` and ``t_j = r_uj - mu - c_j`` the target. A draw is
``mean + L^-T z`` with ``A = L L^T`` and ``z`` standard normal.

The standard normals ``z`` are drawn in NumPy from the model's generator and passed in,
so :func:`sample_rows` (numba, parallel over rows) and :func:`sample_rows_reference`
(plain NumPy, a Python loop over rows) compute the same numbers, and the results do not
depend on the number of threads. The hyperparameter draws (small K x K matrices) are
NumPy: :func:`sample_hyper` and :func:`sample_wishart`.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from numba import njit, prange

from ._mf_kernels import cholesky_lower, solve_lower, solve_upper_t

__all__ = [
    "sample_hyper",
    "sample_noise_precision",
    "sample_rows",
    "sample_rows_reference",
    "sample_wishart",
]


# ---------------------------------------------------------------------------------------
# row conditionals
# ---------------------------------------------------------------------------------------
@njit(cache=True)
def _sample_row(start, end, indices, ratings, other, mu, prior_prec, prior_lin, alpha, z,
                biased, out_row, A, b, d, w):
    """Draw one row's vector into ``out_row``; returns False when ``A`` is not SPD."""
    k = out_row.shape[0]
    for a in range(k):
        b[a] = prior_lin[a]
        for c in range(a + 1):
            A[a, c] = prior_prec[a, c]
    for e in range(start, end):
        j = indices[e]
        if biased:
            d[0] = 1.0
            for a in range(1, k):
                d[a] = other[j, a]
            t = ratings[e] - mu - other[j, 0]
        else:
            for a in range(k):
                d[a] = other[j, a]
            t = ratings[e] - mu
        at = alpha * t
        for a in range(k):
            da = alpha * d[a]
            b[a] += at * d[a]
            for c in range(a + 1):
                A[a, c] += da * d[c]
    if not cholesky_lower(A, 0.0):
        return False
    # mean: L y = b, then L^T m = y (in b); noise: L^T w = z, so w ~ N(0, A^-1)
    solve_lower(A, b)
    solve_upper_t(A, b, b)
    solve_upper_t(A, z, w)
    for a in range(k):
        out_row[a] = b[a] + w[a]
    return True


@njit(parallel=True, cache=True)
def sample_rows(indptr, indices, ratings, other, mu, prior_prec, prior_lin, alpha, z, biased,
                out):
    """Gibbs step for one side: every row of ``out`` drawn from its conditional.

    Parameters are the CSR arrays of this side (rows = this side, columns = the other),
    ``other`` the other side's augmented vectors (n_other, k), the global mean ``mu``, the
    prior precision ``Lambda`` and ``Lambda @ m``, the noise precision ``alpha``, standard
    normals ``z`` (n_rows, k) and ``biased``. Returns, per row, the sum of squared errors
    of its ratings under the new draw (NaN where the conditional precision was not
    positive definite: the row is then NaN too).
    """
    n_rows, k = out.shape
    sse = np.zeros(n_rows, dtype=np.float64)
    for r in prange(n_rows):
        A = np.empty((k, k), dtype=np.float64)
        b = np.empty(k, dtype=np.float64)
        d = np.empty(k, dtype=np.float64)
        w = np.empty(k, dtype=np.float64)
        start, end = indptr[r], indptr[r + 1]
        ok = _sample_row(start, end, indices, ratings, other, mu, prior_prec, prior_lin, alpha,
                         z[r], biased, out[r], A, b, d, w)
        if not ok:
            for a in range(k):
                out[r, a] = np.nan
            sse[r] = np.nan
            continue
        s = 0.0
        for e in range(start, end):
            j = indices[e]
            if biased:
                est = mu + out[r, 0] + other[j, 0]
                for a in range(1, k):
                    est += out[r, a] * other[j, a]
            else:
                est = mu
                for a in range(k):
                    est += out[r, a] * other[j, a]
            err = ratings[e] - est
            s += err * err
        sse[r] = s
    return sse


def _design(other: np.ndarray, cols: np.ndarray, biased: bool) -> tuple[np.ndarray, np.ndarray]:
    """Design vectors of the rated columns and the offset their bias takes off the target."""
    rows = np.asarray(other[cols], dtype=np.float64)
    if not biased:
        return rows, np.zeros(len(cols))
    design = rows.copy()
    design[:, 0] = 1.0
    return design, rows[:, 0]


def sample_rows_reference(indptr, indices, ratings, other, mu, prior_prec, prior_lin, alpha, z,
                          biased, out) -> np.ndarray:
    """Readable :func:`sample_rows`: the textbook Gaussian conditional, one row at a time."""
    sse = np.zeros(out.shape[0])
    for r in range(out.shape[0]):
        sl = slice(indptr[r], indptr[r + 1])
        D, offset = _design(other, indices[sl], biased)
        target = ratings[sl] - mu - offset
        precision = prior_prec + alpha * D.T @ D
        L = np.linalg.cholesky(precision)
        mean = np.linalg.solve(precision, prior_lin + alpha * D.T @ target)
        out[r] = mean + scipy.linalg.solve_triangular(L.T, z[r], lower=False)
        sse[r] = np.sum((target - D @ out[r]) ** 2) if not biased else \
            np.sum((target - out[r, 0] - D[:, 1:] @ out[r, 1:]) ** 2)
    return sse


# ---------------------------------------------------------------------------------------
# hyperparameters (NumPy: K x K matrices)
# ---------------------------------------------------------------------------------------
@njit(cache=True)
def _mean_scatter(X):
    """Column means and scatter matrix ``sum_r (x_r - xbar)(x_r - xbar)^T`` of ``X``.

    A plain loop: for these tall, thin matrices a threaded BLAS call costs more in thread
    wake-ups than the arithmetic (noticeable on a loaded machine).
    """
    n, k = X.shape
    xbar = np.zeros(k)
    for r in range(n):
        for a in range(k):
            xbar[a] += X[r, a]
    xbar /= max(n, 1)
    scatter = np.zeros((k, k))
    c = np.empty(k)
    for r in range(n):
        for a in range(k):
            c[a] = X[r, a] - xbar[a]
        for a in range(k):
            for b in range(a + 1):
                scatter[a, b] += c[a] * c[b]
    for a in range(k):
        for b in range(a + 1, k):
            scatter[a, b] = scatter[b, a]
    return xbar, scatter


def sample_wishart(rng: np.random.Generator, scale: np.ndarray, dof: float) -> np.ndarray:
    """One draw from Wishart(``scale``, ``dof``) (mean ``dof * scale``), Bartlett's method."""
    k = scale.shape[0]
    chol = np.linalg.cholesky(scale)
    bartlett = np.zeros((k, k))
    bartlett[np.diag_indices(k)] = np.sqrt(rng.chisquare(dof - np.arange(k)))
    low = np.tril_indices(k, -1)
    bartlett[low] = rng.standard_normal(len(low[0]))
    factor = chol @ bartlett
    return factor @ factor.T


def sample_hyper(rng: np.random.Generator, X: np.ndarray, beta0: float, nu0: float,
                 W0_inv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``(m, Lambda)`` from the Gaussian-Wishart posterior given the rows of ``X``.

    Prior: ``Lambda ~ Wishart(W0, nu0)``, ``m | Lambda ~ N(0, (beta0 Lambda)^-1)``.
    Posterior (Bishop 2006, eq. 2.154-2.157 with ``m0 = 0``): ``beta0 + N``,
    ``nu0 + N``, mean ``N xbar / (beta0 + N)`` and
    ``W^-1 = W0^-1 + N S + beta0 N / (beta0 + N) xbar xbar^T``.
    """
    n, k = X.shape
    xbar, scatter = _mean_scatter(X)
    beta_n = beta0 + n
    W_inv = W0_inv + scatter + (beta0 * n / beta_n) * np.outer(xbar, xbar)
    W_inv = (W_inv + W_inv.T) / 2
    precision = sample_wishart(rng, np.linalg.inv(W_inv), nu0 + n)
    precision = (precision + precision.T) / 2
    mean_n = n * xbar / beta_n
    chol = np.linalg.cholesky(beta_n * precision)
    mean = mean_n + scipy.linalg.solve_triangular(chol.T, rng.standard_normal(k), lower=False)
    return mean, precision


def sample_noise_precision(rng: np.random.Generator, sse: float, n: int, shape0: float = 1.0,
                           rate0: float = 1.0) -> float:
    """Draw ``alpha`` from its Gamma posterior: shape ``shape0 + n/2``, rate ``rate0 + sse/2``."""
    return float(rng.gamma(shape0 + n / 2.0, 1.0 / (rate0 + sse / 2.0)))
