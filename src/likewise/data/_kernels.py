"""Kernels for building CSR matrices from (user, item) pairs.

``sort_pairs`` is the fast path (numba, O(n) counting sort by user then a short sort
inside each row); ``sort_pairs_reference`` is the readable NumPy version it is tested
against.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


def sort_pairs_reference(users: np.ndarray, items: np.ndarray, n_users: int):
    """Permutation that orders pairs by (user, item), stable, and the CSR ``indptr``."""
    perm = np.lexsort((np.arange(len(users)), items, users))
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(users, minlength=n_users), out=indptr[1:])
    return perm.astype(np.int64), indptr


@njit(cache=True)
def _counting_sort(users, n_users):
    n = users.shape[0]
    counts = np.zeros(n_users + 1, dtype=np.int64)
    for k in range(n):
        counts[users[k] + 1] += 1
    for u in range(n_users):
        counts[u + 1] += counts[u]
    indptr = counts.copy()
    pos = counts[:-1].copy()
    perm = np.empty(n, dtype=np.int64)
    for k in range(n):
        u = users[k]
        perm[pos[u]] = k
        pos[u] += 1
    return perm, indptr


@njit(parallel=True, cache=True)
def _sort_rows(perm, items, indptr):
    n_rows = indptr.shape[0] - 1
    for r in prange(n_rows):
        start, end = indptr[r], indptr[r + 1]
        if end - start > 1:
            seg = perm[start:end]
            keys = items[seg]
            # stable so equal (user, item) pairs keep file order (needed by "last"/"first")
            order = np.argsort(keys, kind="mergesort")
            perm[start:end] = seg[order]


def sort_pairs(users: np.ndarray, items: np.ndarray, n_users: int):
    """Fast equivalent of :func:`sort_pairs_reference`."""
    users = np.ascontiguousarray(users, dtype=np.int64)
    items = np.ascontiguousarray(items, dtype=np.int64)
    perm, indptr = _counting_sort(users, n_users)
    _sort_rows(perm, items, indptr)
    return perm, indptr
