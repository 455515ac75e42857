"""Kernels for building CSR matrices from (user, item) pairs.

``sort_pairs`` is the fast path (numba, O(n) counting sort by user then a short sort
inside each row); ``sort_pairs_reference`` is the readable NumPy version it is tested
against. ``sorted_unique`` tells whether pairs are in CSR order already. Below
``NUMBA_MIN`` pairs the NumPy versions are used: loading a cached numba kernel costs
~0.4 s per process, more than NumPy needs for a million pairs.
"""

from __future__ import annotations

import numpy as np

prange = range  # numba's prange once the kernels are compiled (see _jit)
_JITTED: dict = {}


def _jit(name: str):
    """The numba-compiled version of this module's function ``name`` (imported lazily:
    small inputs never load numba)."""
    fn = _JITTED.get(name)
    if fn is None:
        global prange
        import numba

        prange = numba.prange
        parallel = name == "_sort_rows"
        fn = _JITTED[name] = numba.njit(parallel=parallel, cache=True)(globals()[name])
    return fn

NUMBA_MIN = 1_000_000


def sorted_unique_reference(u: np.ndarray, i: np.ndarray) -> bool:
    """True when (u, i) rows are strictly increasing (readable NumPy version)."""
    if len(u) < 2:
        return True
    du, di = np.diff(u.astype(np.int64)), np.diff(i.astype(np.int64))
    return bool(np.all((du > 0) | ((du == 0) & (di > 0))))


def _sorted_unique_kernel(u, i):
    for k in range(1, u.shape[0]):
        if u[k] < u[k - 1] or (u[k] == u[k - 1] and i[k] <= i[k - 1]):
            return False
    return True


def sorted_unique(u: np.ndarray, i: np.ndarray) -> bool:
    """Fast equivalent of :func:`sorted_unique_reference` (one pass, no temporaries)."""
    if len(u) < NUMBA_MIN:
        return sorted_unique_reference(u, i)
    return bool(_jit("_sorted_unique_kernel")(u, i))


def sort_pairs_reference(users: np.ndarray, items: np.ndarray, n_users: int):
    """Permutation that orders pairs by (user, item), stable, and the CSR ``indptr``."""
    perm = np.lexsort((np.arange(len(users)), items, users))
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(users, minlength=n_users), out=indptr[1:])
    return perm.astype(np.int64), indptr


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


def sort_pairs(users: np.ndarray, items: np.ndarray, n_users: int, *,
               force_numba: bool = False):
    """Fast equivalent of :func:`sort_pairs_reference` (the same result).

    ``force_numba`` uses the kernels even for small inputs (for the agreement test).
    """
    if len(users) < NUMBA_MIN and not force_numba:
        return sort_pairs_reference(users, items, n_users)
    users = np.ascontiguousarray(users, dtype=np.int64)
    items = np.ascontiguousarray(items, dtype=np.int64)
    perm, indptr = _jit("_counting_sort")(users, n_users)
    _jit("_sort_rows")(perm, items, indptr)
    return perm, indptr
