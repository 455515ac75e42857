"""Fused top-N selection for blocks of scores (numba), skipping each row's seen items.

``top_n_masked`` is the fast path used by ``Recommender.recommend``: one parallel pass
per row that keeps an ``n``-long sorted list, skipping the row's seen items (read from
CSR arrays, no mask is materialised) and non-finite scores. The reference it is tested
against is NumPy: mask with -inf, then :func:`likewise.models.base.top_n`.
Ties are broken by the lower item index, as in the reference.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def _top_n_masked(scores, seen_indptr, seen_indices, n, out_idx, out_scores):
    n_rows, n_items = scores.shape
    for r in prange(n_rows):
        best_idx = out_idx[r]
        best_val = out_scores[r]
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


def top_n_masked(scores: np.ndarray, seen_indptr: np.ndarray, seen_indices: np.ndarray,
                 n: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``n`` per row of ``scores`` excluding each row's seen items.

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
    _top_n_masked(scores, seen_indptr.astype(np.int64, copy=False),
                  seen_indices.astype(np.int64, copy=False), n, out_idx, out_scores)
    return out_idx, out_scores
