"""numba kernels for the readers (reference versions live in readers.py and are tested)."""

from __future__ import annotations

import numpy as np
from numba import njit


# Serial on purpose: these loops are memory-bound (~20 ms per 20M rows), and a parallel
# region per Arrow chunk costs more in thread wake-ups than it saves, badly so on a busy
# machine.
@njit(cache=True)
def _mark(arr, lo, present):
    for k in range(arr.shape[0]):
        present[arr[k] - lo] = 1


@njit(cache=True)
def _map(arr, lo, lut, codes):
    for k in range(arr.shape[0]):
        codes[k] = lut[arr[k] - lo]


@njit(cache=True)
def _lookup(present):
    n_unique = 0
    lut = np.empty(present.shape[0], dtype=np.int32)
    for v in range(present.shape[0]):
        lut[v] = n_unique
        n_unique += present[v]
    uniques = np.empty(n_unique, dtype=np.int64)
    for v in range(present.shape[0]):
        if present[v]:
            uniques[lut[v]] = v
    return lut, uniques


@njit(cache=True)
def sorted_unique_pairs(u, i):
    """True when (u, i) rows are strictly increasing: sorted by user, then item, no repeats."""
    for k in range(1, u.shape[0]):
        if u[k] < u[k - 1] or (u[k] == u[k - 1] and i[k] <= i[k - 1]):
            return False
    return True


def dense_codes(arr: np.ndarray, lo: int, span: int):
    """Sorted unique ids and int32 codes of int64 ``arr`` with values in [lo, lo + span).

    Callers make sure the number of distinct ids fits in int32 (span < 2**31).
    """
    present = np.zeros(span, dtype=np.uint8)
    _mark(arr, lo, present)
    lut, uniques = _lookup(present)
    codes = np.empty(arr.shape[0], dtype=np.int32)
    _map(arr, lo, lut, codes)
    return uniques + lo, codes


def dense_codes_chunks(chunks: list, lo: int, span: int):
    """:func:`dense_codes` over several arrays (Arrow chunks) as if concatenated."""
    present = np.zeros(span, dtype=np.uint8)
    for arr in chunks:
        _mark(arr, lo, present)
    lut, uniques = _lookup(present)
    codes = np.empty(sum(len(a) for a in chunks), dtype=np.int32)
    start = 0
    for arr in chunks:
        _map(arr, lo, lut, codes[start:start + len(arr)])
        start += len(arr)
    return uniques + lo, codes
