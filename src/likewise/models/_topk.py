"""Fused top-N selection for blocks of scores (numba), skipping each row's seen items.

``top_n_masked`` is the fast path used by ``Recommender.recommend``: one pass per row that
keeps an ``n``-long sorted list, skipping the row's seen items (read from CSR arrays, no
mask is materialised) and non-finite scores. The reference it is tested against is NumPy:
mask with -inf, then :func:`likewise.models.base.top_n`.
Ties are broken by the lower item index, as in the reference.

Two compiled loops share the per-row code: a serial one and a ``prange`` one. A parallel
region only pays when the block is large: opening one for a single user costs more than
the selection itself, and on a machine where another process keeps a core busy the
calling thread waits for a descheduled worker (measured 44 ms median for one
``recommend`` call, against 0.018 ms for the kernel alone). ``top_n_masked`` therefore
runs blocks below :data:`PARALLEL_MIN_CELLS` scores serially (measured, see
``benchmarks/bench_latency.py --part threshold`` and benchmarks/results/latency.md).
The serial loop also never enters numba's threading layer, so any number of threads can
run it at once, and it releases the GIL (``nogil``) so they do run side by side.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["PARALLEL_MIN_CELLS", "top_n_masked"]

#: Smallest block (rows x items scores) that the parallel loop selects from. Below it the
#: serial loop takes under ~0.5 ms, so the most a second thread could save is ~0.2 ms,
#: while one wait for a descheduled worker costs 4-12 ms (measured on 2 cores with other
#: work running, benchmarks/results/latency.md). Single-user requests (1 x n_items) are
#: always serial; ``recommend``'s blocks for many users (~1M scores) are parallel.
PARALLEL_MIN_CELLS = 1 << 18


@njit(cache=True, nogil=True)
def _top_n_row(scores, r, seen_indptr, seen_indices, n, best_idx, best_val):
    """Best ``n`` of row ``r`` into ``best_idx`` / ``best_val`` (prefilled -1 / NaN)."""
    n_items = scores.shape[1]
    count = 0
    ptr = seen_indptr[r]
    end = seen_indptr[r + 1]
    for j in range(n_items):
        # seen indices are sorted: advance the pointer alongside j
        while ptr < end and seen_indices[ptr] < j:
            ptr += 1
        if ptr < end and seen_indices[ptr] == j:
            continue
        s = scores[r, j]
        if not (s > -np.inf):
            continue  # NaN and -inf never qualify
        if count == n and s <= best_val[n - 1]:
            continue  # equal score loses to the earlier (lower) index already kept
        # insertion into the sorted list (descending score, ascending index)
        pos = count if count < n else n - 1
        while pos > 0 and best_val[pos - 1] < s:
            if pos < n:
                best_val[pos] = best_val[pos - 1]
                best_idx[pos] = best_idx[pos - 1]
            pos -= 1
        best_val[pos] = s
        best_idx[pos] = j
        if count < n:
            count += 1


@njit(cache=True, nogil=True)
def _top_n_masked_serial(scores, seen_indptr, seen_indices, n, out_idx, out_scores):
    for r in range(scores.shape[0]):
        _top_n_row(scores, r, seen_indptr, seen_indices, n, out_idx[r], out_scores[r])


@njit(parallel=True, cache=True, nogil=True)
def _top_n_masked_parallel(scores, seen_indptr, seen_indices, n, out_idx, out_scores):
    for r in prange(scores.shape[0]):
        _top_n_row(scores, r, seen_indptr, seen_indices, n, out_idx[r], out_scores[r])


def top_n_masked(scores: np.ndarray, seen_indptr: np.ndarray, seen_indices: np.ndarray,
                 n: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``n`` per row of ``scores`` excluding each row's seen items.

    Blocks of fewer than :data:`PARALLEL_MIN_CELLS` scores are selected serially in the
    calling thread; larger ones by a parallel loop over the rows. Both give the same
    answer.

    Parameters
    ----------
    scores : (rows, items) float32 array
    seen_indptr, seen_indices : CSR arrays (sorted indices) of the items to skip per row
    n : int

    Returns
    -------
    (indices, scores)
        ``(rows, n)`` int64 and float32, best first; missing entries are -1 / NaN.
    """
    scores = np.ascontiguousarray(scores, dtype=np.float32)
    n = min(n, scores.shape[1])
    out_idx = np.full((scores.shape[0], n), -1, dtype=np.int64)
    out_scores = np.full((scores.shape[0], n), np.nan, dtype=np.float32)
    if n == 0 or scores.shape[0] == 0:
        return out_idx, out_scores
    kernel = _top_n_masked_parallel if scores.size >= PARALLEL_MIN_CELLS \
        else _top_n_masked_serial
    kernel(scores, seen_indptr.astype(np.int64, copy=False),
           seen_indices.astype(np.int64, copy=False), n, out_idx, out_scores)
    return out_idx, out_scores
