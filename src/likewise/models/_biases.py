"""Damped user and item biases: the one routine behind ``Baseline(method="als")`` and the
rating fallback of every explicit model (``Recommender._fit_common``).

It lives in its own module because both ``base`` (the fallback) and ``baseline`` (which
subclasses ``base.Recommender``) need it.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["damped_biases"]


def damped_biases(matrix: sp.csr_matrix, reg_item: float = 10.0, reg_user: float = 15.0,
                  iterations: int = 10) -> tuple[float, np.ndarray, np.ndarray]:
    """Global mean and regularised user / item biases by alternating damped means.

    Koren's (2010) ALS baseline ``r = mu + b_u + b_i`` as Surprise's ``BaselineOnly``
    computes it: each step sets ``b_i = sum(r - mu - b_u) / (reg_item + n_i)`` over the
    item's ratings, then ``b_u`` the same way over the user's, starting from zeros.

    Parameters
    ----------
    matrix : scipy.sparse.csr_matrix
        Users x items ratings.
    reg_item, reg_user : float
        Damping of the item and user means (pseudo-counts of ratings at the mean).
    iterations : int
        Alternations (items, then users).

    Returns
    -------
    (float, numpy.ndarray, numpy.ndarray)
        ``global_mean`` (float64 mean of the ratings, 0 without any), ``user_bias``
        (n_users,) and ``item_bias`` (n_items,), float32.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> mu, bu, bi = damped_biases(sp.csr_matrix(np.array([[5.0, 3.0]])), 0.0, 0.0, 1)
    >>> mu, bi.tolist(), bu.tolist()
    (4.0, [1.0, -1.0], [0.0])
    """
    n_users, n_items = matrix.shape
    rows = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(matrix.indptr))
    cols = matrix.indices.astype(np.int64)
    ratings = matrix.data.astype(np.float64)
    mu = float(ratings.mean()) if len(ratings) else 0.0
    resid = ratings - mu
    n_u = np.bincount(rows, minlength=n_users)
    n_i = np.bincount(cols, minlength=n_items)
    bu = np.zeros(n_users)
    bi = np.zeros(n_items)
    for _ in range(iterations):
        bi = np.bincount(cols, resid - bu[rows], minlength=n_items) / (reg_item + n_i)
        bu = np.bincount(rows, resid - bi[cols], minlength=n_users) / (reg_user + n_u)
    return mu, bu.astype(np.float32), bi.astype(np.float32)
