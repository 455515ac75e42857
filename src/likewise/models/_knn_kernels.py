"""Numba kernels for the neighbourhood models, with plain NumPy references beside them.

Vocabulary used throughout: the model computes similarities between *rows* ``x`` of a
sparse matrix ``X`` (users for :class:`~likewise.UserKNN`, items for
:class:`~likewise.ItemKNN`); the columns ``y`` are the other side. ``T`` is the transpose
of ``X`` in CSR form, so ``T[y]`` lists the rows that co-occur on ``y``.

Similarities are computed row by row with a dense accumulator over the rows that share
at least one column with the query row (a "sparse accumulator"), so the work is the
number of co-occurring pairs and the memory is one length-``n`` accumulator per thread
plus the ``k`` best neighbours kept per row: never a dense ``n x n`` matrix.

The ``reference_*`` functions compute the same quantities with dense NumPy algebra and
Python loops; they are for tests on small inputs (and ``explain``), not for speed.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# similarity kernels (the model maps public names onto these)
DOT = 0             # sum of products of (pre-weighted) values: implicit cosine / bm25 / tfidf
COSINE = 1          # cosine over co-rated entries only (Surprise's cosine)
PEARSON = 2         # Pearson correlation over co-rated entries, means over co-rated entries
MSD = 3             # 1 / (mean squared difference over co-rated entries + 1)
JACCARD = 4         # |both| / |either| on the sets of non-zero entries
BINARY_COSINE = 5   # |both| / sqrt(|a| |b|)

# prediction rules
WEIGHTED_AVERAGE = 0
MEAN_CENTERED = 1
ZSCORE = 2
BASELINE = 3


# ---------------------------------------------------------------------------------------
# a bounded min-heap of (value, index) keeping the k largest; ties keep the smaller index
# ---------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _better(va, ia, vb, ib):
    return va > vb or (va == vb and ia < ib)


@njit(cache=True)
def _sift_down(idx, vals, root, end):
    while True:
        child = 2 * root + 1
        if child >= end:
            return
        if child + 1 < end and idx[child] < idx[child + 1]:
            child += 1
        if idx[root] >= idx[child]:
            return
        idx[root], idx[child] = idx[child], idx[root]
        vals[root], vals[child] = vals[child], vals[root]
        root = child


@njit(cache=True)
def sort_by_index(idx, vals, m):
    """Sort the pairs ``idx[:m]`` / ``vals[:m]`` by ``idx``, in place (heapsort).

    Used instead of ``np.argsort`` inside the kernels: no temporary per call, and a
    fraction of the compile time of numba's generic quicksort (first run of a fresh
    install).
    """
    for start in range(m // 2 - 1, -1, -1):
        _sift_down(idx, vals, start, m)
    for end in range(m - 1, 0, -1):
        idx[0], idx[end] = idx[end], idx[0]
        vals[0], vals[end] = vals[end], vals[0]
        _sift_down(idx, vals, 0, end)


@njit(cache=True)
def select_top(vals, idx, m, k):
    """Reorder ``vals[:m]`` / ``idx[:m]`` so the first ``min(k, m)`` are the best.

    Quickselect (expected O(m)) under the order "larger value, then smaller index"; the
    first k come out unsorted. Cheaper than a heap when most candidates qualify.
    """
    lo = 0
    hi = m - 1
    if k >= m:
        return
    while lo < hi:
        mid = (lo + hi) // 2
        vals[mid], vals[hi] = vals[hi], vals[mid]
        idx[mid], idx[hi] = idx[hi], idx[mid]
        pv = vals[hi]
        pi = idx[hi]
        store = lo
        for j in range(lo, hi):
            if _better(vals[j], idx[j], pv, pi):
                vals[j], vals[store] = vals[store], vals[j]
                idx[j], idx[store] = idx[store], idx[j]
                store += 1
        vals[store], vals[hi] = vals[hi], vals[store]
        idx[store], idx[hi] = idx[hi], idx[store]
        if store == k or store == k - 1:
            return
        if store < k:
            lo = store + 1
        else:
            hi = store - 1


@njit(cache=True, inline="always")
def _finish(metric, n, prods, sqi, sqj, si, sj, qsize, osize, min_support, shrinkage):
    """Similarity from the accumulated statistics of one (row, row) pair."""
    if metric == DOT:
        return prods
    if n < min_support:
        return 0.0
    s = 0.0
    if metric == COSINE:
        den = np.sqrt(sqi * sqj)
        if den > 0:
            s = prods / den
    elif metric == PEARSON:
        num = n * prods - si * sj
        den = np.sqrt((n * sqi - si * si) * (n * sqj - sj * sj))
        if den > 0:
            s = num / den
    elif metric == MSD:
        s = 1.0 / (prods / n + 1.0)
    elif metric == JACCARD:
        s = n / (qsize + osize - n)
    elif metric == BINARY_COSINE:
        s = n / np.sqrt(qsize * osize)
    if shrinkage > 0:
        s *= (n - 1.0) / (n - 1.0 + shrinkage)
    return s


# ---------------------------------------------------------------------------------------
# similarities: top-k neighbours of query rows
# ---------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _add_dot(r, lo, hi_, t_indices, t_vals, prods, touched, m, n_rows):
    """Accumulate ``r * value`` over one column's rows; return the new touched count.

    No counts are needed: a zero sum marks an untouched row (a sum that cancels to
    exactly 0 is re-listed, harmless: it scores 0).
    """
    for b in range(lo, hi_):
        x2 = t_indices[b]
        p = prods[x2]
        if p == 0.0 and m < n_rows:
            touched[m] = x2
            m += 1
        prods[x2] = p + r * t_vals[b]
    return m


@njit(cache=True, inline="always")
def _add_squared_differences(r, lo, hi_, t_indices, t_vals, freq, prods, touched, m):
    """MSD statistics (co-rated count, sum of squared differences) over one column."""
    for b in range(lo, hi_):
        x2 = t_indices[b]
        if freq[x2] == 0:
            touched[m] = x2
            m += 1
        freq[x2] += 1
        d = r - t_vals[b]
        prods[x2] += d * d
    return m


@njit(cache=True, inline="always")
def _add_products(r, lo, hi_, t_indices, t_vals, freq, prods, sqi, sqj, si, sj, need_sum,
                  touched, m):
    """Cosine / Pearson statistics (count, products, squares, sums) over one column."""
    for b in range(lo, hi_):
        x2 = t_indices[b]
        if freq[x2] == 0:
            touched[m] = x2
            m += 1
        freq[x2] += 1
        r2 = t_vals[b]
        prods[x2] += r * r2
        sqi[x2] += r * r
        sqj[x2] += r2 * r2
        if need_sum:
            si[x2] += r
            sj[x2] += r2
    return m


@njit(cache=True, inline="always")
def _add_counts(lo, hi_, t_indices, freq, touched, m):
    """Co-occurrence counts only (Jaccard, binary cosine) over one column."""
    for b in range(lo, hi_):
        x2 = t_indices[b]
        if freq[x2] == 0:
            touched[m] = x2
            m += 1
        freq[x2] += 1
    return m


@njit(cache=True, inline="always")
def _accumulate_row(q, q_indptr, q_indices, q_vals, t_indptr, t_indices, t_vals, metric,
                    need_sq, need_sum, freq, prods, sqi, sqj, si, sj, touched, n_rows):
    """Sparse-accumulate query row ``q``'s statistics against every co-occurring row.

    Lists each row touched for the first time in ``touched``; returns how many. One
    specialised inner loop per statistic set (the hot loop of the fit).
    """
    m = 0
    for a in range(q_indptr[q], q_indptr[q + 1]):
        y = q_indices[a]
        r = np.float64(q_vals[a])
        lo = t_indptr[y]
        hi_ = t_indptr[y + 1]
        if metric == DOT:
            m = _add_dot(r, lo, hi_, t_indices, t_vals, prods, touched, m, n_rows)
        elif metric == MSD:
            m = _add_squared_differences(r, lo, hi_, t_indices, t_vals, freq, prods, touched, m)
        elif need_sq:
            m = _add_products(r, lo, hi_, t_indices, t_vals, freq, prods, sqi, sqj, si, sj,
                              need_sum, touched, m)
        else:
            m = _add_counts(lo, hi_, t_indices, freq, touched, m)
    return m


@njit(cache=True, inline="always")
def _forget_row(x2, need_sq, need_sum, freq, prods, sqi, sqj, si, sj):
    """Zero row ``x2``'s accumulators (ready for the next query row)."""
    freq[x2] = 0
    prods[x2] = 0.0
    if need_sq:
        sqi[x2] = 0.0
        sqj[x2] = 0.0
    if need_sum:
        si[x2] = 0.0
        sj[x2] = 0.0


@njit(cache=True, inline="always")
def _similarity_of(x2, metric, full, need_sq, need_sum, freq, prods, sqi, sqj, si, sj, qsize,
                   sizes, min_support, shrinkage):
    """Similarity of the query to row ``x2`` (which has a non-zero count) from its statistics."""
    n = np.float64(freq[x2])
    if need_sum:
        return _finish(metric, n, prods[x2], sqi[x2], sqj[x2], si[x2], sj[x2],
                       qsize, 0.0, min_support, shrinkage)
    if need_sq:
        return _finish(metric, n, prods[x2], sqi[x2], sqj[x2], 0.0, 0.0,
                       qsize, 0.0, min_support, shrinkage)
    if full:
        return _finish(metric, n, prods[x2], 0.0, 0.0, 0.0, 0.0,
                       qsize, 0.0, min_support, shrinkage)
    return _finish(metric, n, prods[x2], 0.0, 0.0, 0.0, 0.0, qsize,
                   np.float64(sizes[x2]), min_support, shrinkage)


@njit(cache=True, inline="always")
def _collect_positive(scan, m, touched, n_rows, metric, full, need_sq, need_sum, freq, prods,
                      sqi, sqj, si, sj, qsize, sizes, min_support, shrinkage, hv, hi):
    """Buffer every positive similarity into ``hv`` / ``hi``, clearing the accumulators.

    With ``scan`` (a dense row) all rows are visited in order, so the buffer comes out
    sorted by row index; otherwise only the ``m`` touched rows. Returns the buffer size.
    """
    size = 0
    for t in range(n_rows if scan else m):
        x2 = t if scan else touched[t]
        if metric == DOT:
            s = prods[x2]
            prods[x2] = 0.0
        elif freq[x2] == 0:
            continue
        else:
            s = _similarity_of(x2, metric, full, need_sq, need_sum, freq, prods, sqi, sqj, si,
                               sj, qsize, sizes, min_support, shrinkage)
            _forget_row(x2, need_sq, need_sum, freq, prods, sqi, sqj, si, sj)
        if s > 0:
            hv[size] = s
            hi[size] = x2
            size += 1
    return size


@njit(cache=True, inline="always")
def _store_top(q, hv, hi, size, k, scan, out_idx, out_sim, out_cnt):
    """Keep the ``k`` best buffered candidates (quickselect), sorted by row index, as row q."""
    heaped = size > k
    select_top(hv, hi, size, k)
    size = min(size, k)
    if not scan or heaped:
        sort_by_index(hi, hv, size)
    for j in range(size):
        out_idx[q, j] = hi[j]
        out_sim[q, j] = hv[j]
    out_cnt[q] = size


@njit(parallel=True, cache=True)
def rows_top_k(chunks, q_indptr, q_indices, q_vals, q_self, t_indptr, t_indices, t_vals,
               sizes, n_rows, metric, min_support, shrinkage, k, out_idx, out_sim, out_cnt):
    """Top-``k`` positive similarities of each query row to the rows of ``X``.

    Query row ``q`` is ``(q_indices, q_vals)[q_indptr[q]:q_indptr[q+1]]`` (columns y and
    values); ``T`` (``t_*``) maps a column to the rows that have it; ``q_self[q]`` is the
    row index of the query itself (excluded) or -1; ``sizes`` are the rows' entry counts.
    Rows are processed in parallel over ``chunks`` (boundaries into the query rows), each
    chunk with its own accumulators. Results land in ``out_idx`` / ``out_sim`` (sorted by
    row index) and ``out_cnt``.
    """
    full = metric == COSINE or metric == PEARSON or metric == MSD
    need_sq = metric == COSINE or metric == PEARSON
    need_sum = metric == PEARSON
    for c in prange(len(chunks) - 1):
        freq = np.zeros(n_rows, np.int32)
        prods = np.zeros(n_rows, np.float64)
        sqi = np.zeros(n_rows if need_sq else 0, np.float64)
        sqj = np.zeros(n_rows if need_sq else 0, np.float64)
        si = np.zeros(n_rows if need_sum else 0, np.float64)
        sj = np.zeros(n_rows if need_sum else 0, np.float64)
        touched = np.empty(n_rows, np.int64)
        hv = np.empty(n_rows, np.float64)
        hi = np.empty(n_rows, np.int64)
        for q in range(chunks[c], chunks[c + 1]):
            m = _accumulate_row(q, q_indptr, q_indices, q_vals, t_indptr, t_indices, t_vals,
                                metric, need_sq, need_sum, freq, prods, sqi, sqj, si, sj,
                                touched, n_rows)
            me = q_self[q]
            if me >= 0:
                # the query itself is never its own neighbour
                _forget_row(me, need_sq, need_sum, freq, prods, sqi, sqj, si, sj)
            qsize = np.float64(q_indptr[q + 1] - q_indptr[q])
            # dense rows: scan all rows in order (sorted output, no argsort needed)
            scan = m * 8 > n_rows
            size = _collect_positive(scan, m, touched, n_rows, metric, full, need_sq, need_sum,
                                     freq, prods, sqi, sqj, si, sj, qsize, sizes, min_support,
                                     shrinkage, hv, hi)
            _store_top(q, hv, hi, size, k, scan, out_idx, out_sim, out_cnt)


@njit(parallel=True, cache=True)
def dense_similarity(order, q_indptr, q_indices, q_vals, t_indptr, t_indices, t_vals, sizes,
                     metric, min_support, shrinkage, out):
    """All positive similarities into a dense ``out`` (n x n, zeros elsewhere).

    For small n only. Every similarity here is symmetric, so each unordered pair is
    computed once (``x2 > x``, found by bisection in the sorted ``T`` rows) and written to
    both cells, halving the work of :func:`rows_top_k`. Rows are visited in ``order``
    (interleaved, so the threads' shares of this triangular work are balanced).
    """
    n_rows = out.shape[0]
    need_sq = metric == COSINE or metric == PEARSON
    need_sum = metric == PEARSON
    n_threads_chunks = 64
    for c in prange(n_threads_chunks):
        freq = np.zeros(n_rows, np.int32)
        prods = np.zeros(n_rows, np.float64)
        sqi = np.zeros(n_rows if need_sq else 0, np.float64)
        sqj = np.zeros(n_rows if need_sq else 0, np.float64)
        si = np.zeros(n_rows if need_sum else 0, np.float64)
        sj = np.zeros(n_rows if need_sum else 0, np.float64)
        for pos in range(c, len(order), n_threads_chunks):
            x = order[pos]
            for a in range(q_indptr[x], q_indptr[x + 1]):
                y = q_indices[a]
                r = np.float64(q_vals[a])
                lo = t_indptr[y]
                hi_ = t_indptr[y + 1]
                lo = lo + np.searchsorted(t_indices[lo:hi_], x + 1)
                for b in range(lo, hi_):
                    x2 = t_indices[b]
                    freq[x2] += 1
                    r2 = np.float64(t_vals[b])
                    if metric == MSD:
                        prods[x2] += (r - r2) * (r - r2)
                    else:
                        prods[x2] += r * r2
                        if need_sq:
                            sqi[x2] += r * r
                            sqj[x2] += r2 * r2
                            if need_sum:
                                si[x2] += r
                                sj[x2] += r2
            qsize = np.float64(q_indptr[x + 1] - q_indptr[x])
            for x2 in range(x + 1, n_rows):
                if freq[x2] == 0:
                    continue
                n = np.float64(freq[x2])
                if need_sum:
                    s = _finish(metric, n, prods[x2], sqi[x2], sqj[x2], si[x2], sj[x2],
                                qsize, 0.0, min_support, shrinkage)
                elif need_sq:
                    s = _finish(metric, n, prods[x2], sqi[x2], sqj[x2], 0.0, 0.0,
                                qsize, 0.0, min_support, shrinkage)
                else:
                    s = _finish(metric, n, prods[x2], 0.0, 0.0, 0.0, 0.0, qsize,
                                np.float64(sizes[x2]), min_support, shrinkage)
                _forget_row(x2, need_sq, need_sum, freq, prods, sqi, sqj, si, sj)
                if s > 0:
                    out[x, x2] = s
                    out[x2, x] = s


@njit(parallel=True, cache=True)
def dense_to_csr(dense):
    """CSR parts (indptr, indices, data) of the positive entries of a dense matrix.

    Several times faster than ``scipy.sparse.csr_matrix(dense)`` (which goes through
    ``nonzero`` and COO) on the few-million-cell similarity matrices of small models.
    """
    n, m = dense.shape
    counts = np.zeros(n, np.int64)
    for i in prange(n):
        c = 0
        for j in range(m):
            if dense[i, j] > 0:
                c += 1
        counts[i] = c
    indptr = np.zeros(n + 1, np.int64)
    indptr[1:] = np.cumsum(counts)
    indices = np.empty(indptr[n], np.int32)
    data = np.empty(indptr[n], np.float32)
    for i in prange(n):
        pos = indptr[i]
        for j in range(m):
            v = dense[i, j]
            if v > 0:
                indices[pos] = j
                data[pos] = v
                pos += 1
    return indptr, indices, data


def reference_similarity(values: np.ndarray, mask: np.ndarray, metric: int,
                         min_support: int = 1, shrinkage: float = 0.0) -> np.ndarray:
    """Dense all-pairs similarity between the rows of a small dense matrix (for tests).

    ``values`` holds the (transformed) values and ``mask`` marks the observed entries.
    The diagonal and non-positive similarities are set to 0, as the kernel drops them.
    """
    v = np.where(mask, values, 0.0).astype(np.float64)
    b = mask.astype(np.float64)
    freq = b @ b.T
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == DOT:
            sim = v @ v.T
        elif metric == COSINE:
            sim = (v @ v.T) / np.sqrt((v * v) @ b.T * (b @ (v * v).T))
        elif metric == PEARSON:
            n = freq
            si, sj = v @ b.T, b @ v.T
            num = n * (v @ v.T) - si * sj
            den = np.sqrt((n * ((v * v) @ b.T) - si ** 2) * (n * (b @ (v * v).T) - sj ** 2))
            sim = np.where(den > 0, num / den, 0.0)
        elif metric == MSD:
            sq = (v * v) @ b.T + b @ (v * v).T - 2 * (v @ v.T)
            sim = 1.0 / (sq / freq + 1.0)
        elif metric == JACCARD:
            size = b.sum(axis=1)
            sim = freq / (size[:, None] + size[None, :] - freq)
        elif metric == BINARY_COSINE:
            size = b.sum(axis=1)
            sim = freq / np.sqrt(size[:, None] * size[None, :])
        else:
            raise ValueError(f"unknown metric {metric}")
        if metric != DOT:
            sim = np.where(freq >= min_support, sim, 0.0)
            if shrinkage > 0:
                sim = sim * ((freq - 1) / (freq - 1 + shrinkage))
    sim = np.nan_to_num(sim, nan=0.0, posinf=0.0, neginf=0.0)
    sim[(freq == 0) | (sim <= 0)] = 0.0
    np.fill_diagonal(sim, 0.0)
    return sim


def reference_top_k(sim: np.ndarray, k: int) -> np.ndarray:
    """Keep each row's ``k`` largest positive entries (ties: smaller index), zero the rest."""
    out = np.zeros_like(sim)
    for row in range(sim.shape[0]):
        cols = np.flatnonzero(sim[row] > 0)
        order = np.lexsort((cols, -sim[row, cols]))[:k]
        out[row, cols[order]] = sim[row, cols[order]]
    return out


# ---------------------------------------------------------------------------------------
# rating prediction for (x, y) pairs: the k most similar rows of x among those that rated y
# ---------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _lookup(dense, nb_indptr, nb_indices, nb_sims, x, x2):
    if dense.shape[0] > 0:
        return np.float64(dense[x, x2])
    lo = nb_indptr[x]
    hi = nb_indptr[x + 1]
    pos = lo + np.searchsorted(nb_indices[lo:hi], x2)
    if pos < hi and nb_indices[pos] == x2:
        return np.float64(nb_sims[pos])
    return 0.0


#: Pairs from which :func:`predict_pairs` runs its parallel loop, and query rows from which
#: :func:`neighbor_votes` / :func:`sparse_scores` do. Below them a call runs serially in
#: the calling thread: no parallel region is opened (none is safe to open from many
#: threads under numba's workqueue layer) and none waits for a descheduled worker. One
#: user's explicit kNN scores (~1,700 pairs on MovieLens 100K) gained only 1.1-1.4x from
#: two threads, which concurrent requests take from each other anyway, four users'
#: 1.1-1.2x; the two voting kernels gained nothing below 256 rows, and sparse_scores lost
#: 8 ms per call to waits at 16-256 rows on a loaded machine
#: (``benchmarks/bench_latency.py --part threshold``, benchmarks/results/latency.md).
PARALLEL_MIN_PAIRS = 1 << 12
PARALLEL_MIN_ROWS = 512


@njit(cache=True, nogil=True)
def _predict_range(lo, hi_, xs, ys, c_indptr, c_indices, c_vals, nb_indptr, nb_indices,
                   nb_sims, dense, k, min_k, rule, mu, x_mean, x_sigma, x_bias, y_bias, out,
                   out_k, hv, hi):
    """Pairs ``lo:hi_`` of :func:`predict_pairs` (``hv``/``hi``: ``max_cand`` scratch)."""
    for p in range(lo, hi_):
        x = xs[p]
        y = ys[p]
        size = 0
        for b in range(c_indptr[y], c_indptr[y + 1]):
            s = _lookup(dense, nb_indptr, nb_indices, nb_sims, x, c_indices[b])
            if s > 0:
                hv[size] = s
                hi[size] = b
                size += 1
        # ties go to the smaller position, i.e. the smaller neighbour index
        select_top(hv, hi, size, k)
        size = min(size, k)
        sum_s = 0.0
        sum_r = 0.0
        for h in range(size):
            b = hi[h]
            s = hv[h]
            x2 = c_indices[b]
            r = np.float64(c_vals[b])
            if rule == WEIGHTED_AVERAGE:
                sum_r += s * r
            elif rule == MEAN_CENTERED:
                sum_r += s * (r - x_mean[x2])
            elif rule == ZSCORE:
                sum_r += s * (r - x_mean[x2]) / x_sigma[x2]
            else:
                sum_r += s * (r - (mu + x_bias[x2] + y_bias[y]))
            sum_s += s
        ok = size >= min_k and sum_s > 0
        if rule == WEIGHTED_AVERAGE:
            est = sum_r / sum_s if ok else np.nan
        elif rule == MEAN_CENTERED:
            est = x_mean[x] + (sum_r / sum_s if ok else 0.0)
        elif rule == ZSCORE:
            est = x_mean[x] + (sum_r / sum_s * x_sigma[x] if ok else 0.0)
        else:
            est = mu + x_bias[x] + y_bias[y] + (sum_r / sum_s if ok else 0.0)
        out[p] = est
        out_k[p] = size


@njit(cache=True, nogil=True)
def _predict_pairs_serial(chunks, xs, ys, c_indptr, c_indices, c_vals, nb_indptr, nb_indices,
                          nb_sims, dense, k, min_k, rule, mu, x_mean, x_sigma, x_bias, y_bias,
                          out, out_k, max_cand):
    hv = np.empty(max_cand, np.float64)
    hi = np.empty(max_cand, np.int64)
    _predict_range(chunks[0], chunks[-1], xs, ys, c_indptr, c_indices, c_vals, nb_indptr,
                   nb_indices, nb_sims, dense, k, min_k, rule, mu, x_mean, x_sigma, x_bias,
                   y_bias, out, out_k, hv, hi)


@njit(parallel=True, cache=True)
def _predict_pairs_parallel(chunks, xs, ys, c_indptr, c_indices, c_vals, nb_indptr,
                            nb_indices, nb_sims, dense, k, min_k, rule, mu, x_mean, x_sigma,
                            x_bias, y_bias, out, out_k, max_cand):
    for c in prange(len(chunks) - 1):
        hv = np.empty(max_cand, np.float64)
        hi = np.empty(max_cand, np.int64)
        _predict_range(chunks[c], chunks[c + 1], xs, ys, c_indptr, c_indices, c_vals,
                       nb_indptr, nb_indices, nb_sims, dense, k, min_k, rule, mu, x_mean,
                       x_sigma, x_bias, y_bias, out, out_k, hv, hi)


def predict_pairs(chunks, xs, ys, c_indptr, c_indices, c_vals, nb_indptr, nb_indices, nb_sims,
                  dense, k, min_k, rule, mu, x_mean, x_sigma, x_bias, y_bias, out, out_k,
                  max_cand) -> None:
    """Estimate each pair (xs[p], ys[p]) from the ``k`` most similar rows that rated ``y``.

    ``c_*`` is the candidate CSR: row ``y`` lists the rows ``x2`` that rated ``y`` and
    their ratings (``max_cand``: the longest such row). Similarities come from ``dense``
    (when it is non-empty) or from the
    neighbour CSR ``nb_*`` (indices sorted per row). Only positive similarities count, as
    in Surprise. A weighted average with fewer than ``min_k`` neighbours gives NaN (the
    caller substitutes its fallback); the other rules fall back to their base term.

    Fewer than :data:`PARALLEL_MIN_PAIRS` pairs run serially (same results).
    """
    kernel = _predict_pairs_parallel if len(xs) >= PARALLEL_MIN_PAIRS \
        else _predict_pairs_serial
    kernel(chunks, xs, ys, c_indptr, c_indices, c_vals, nb_indptr, nb_indices, nb_sims, dense,
           k, min_k, rule, mu, x_mean, x_sigma, x_bias, y_bias, out, out_k, max_cand)


def reference_neighbors(sim_row: np.ndarray, cand_x: np.ndarray, k: int) -> np.ndarray:
    """Positions in ``cand_x`` of the ``k`` most similar positive candidates, best first."""
    s = sim_row[cand_x]
    keep = np.flatnonzero(s > 0)
    order = np.lexsort((keep, -s[keep]))[:k]
    return keep[order]


def reference_predict(x: int, y: int, cand_x: np.ndarray, cand_r: np.ndarray,
                      sim_row: np.ndarray, k: int, min_k: int, rule: int, mu: float,
                      x_mean: np.ndarray, x_sigma: np.ndarray, x_bias: np.ndarray,
                      y_bias_y: float) -> tuple[float, np.ndarray, np.ndarray]:
    """Plain NumPy estimate for one pair; also the chosen neighbours and their weights.

    ``cand_x`` / ``cand_r`` are the rows that rated ``y`` and their ratings, ``sim_row``
    the similarities of ``x`` to every row. Returns ``(estimate, positions, weights)``
    with positions into ``cand_x``, best first, and ``weights = sim / sum(sim)``.
    """
    pos = reference_neighbors(sim_row, cand_x, k)
    s = sim_row[cand_x[pos]].astype(np.float64)
    r = cand_r[pos].astype(np.float64)
    nbr = cand_x[pos]
    ok = len(pos) >= min_k and s.sum() > 0
    weights = s / s.sum() if s.sum() > 0 else s
    if rule == WEIGHTED_AVERAGE:
        est = float(weights @ r) if ok else float("nan")
    elif rule == MEAN_CENTERED:
        est = x_mean[x] + (float(weights @ (r - x_mean[nbr])) if ok else 0.0)
    elif rule == ZSCORE:
        est = x_mean[x] + (float(weights @ ((r - x_mean[nbr]) / x_sigma[nbr])) * x_sigma[x]
                           if ok else 0.0)
    else:
        base = mu + x_bias[nbr] + y_bias_y
        est = mu + x_bias[x] + y_bias_y + (float(weights @ (r - base)) if ok else 0.0)
    return float(est), pos, weights


# ---------------------------------------------------------------------------------------
# implicit user-based scoring: votes of the k nearest users
# ---------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _votes_rows(lo, hi_, nb_idx, nb_sim, nb_cnt, ui_indptr, ui_indices, out):
    for q in range(lo, hi_):
        for j in range(nb_cnt[q]):
            v = nb_idx[q, j]
            s = nb_sim[q, j]
            for a in range(ui_indptr[v], ui_indptr[v + 1]):
                out[q, ui_indices[a]] += s


@njit(parallel=True, cache=True)
def _neighbor_votes_parallel(chunks, nb_idx, nb_sim, nb_cnt, ui_indptr, ui_indices, out):
    for c in prange(len(chunks) - 1):
        _votes_rows(chunks[c], chunks[c + 1], nb_idx, nb_sim, nb_cnt, ui_indptr, ui_indices,
                    out)


def neighbor_votes(chunks, nb_idx, nb_sim, nb_cnt, ui_indptr, ui_indices, out) -> None:
    """``out[q, i] = sum of sim(q, v)`` over the neighbours ``v`` of query ``q`` with ``i``.

    Fewer than :data:`PARALLEL_MIN_ROWS` queries run serially (same results).
    """
    if len(nb_cnt) >= PARALLEL_MIN_ROWS:
        _neighbor_votes_parallel(chunks, nb_idx, nb_sim, nb_cnt, ui_indptr, ui_indices, out)
    else:
        _votes_rows(0, len(nb_cnt), nb_idx, nb_sim, nb_cnt, ui_indptr, ui_indices, out)


@njit(cache=True, nogil=True)
def _sparse_score_rows(lo, hi_, rows, a_indptr, a_indices, a_data, s_indptr, s_indices,
                       s_data, out):
    for q in range(lo, hi_):
        u = rows[q]
        for a in range(a_indptr[u], a_indptr[u + 1]):
            i = a_indices[a]
            r = a_data[a]
            for b in range(s_indptr[i], s_indptr[i + 1]):
                out[q, s_indices[b]] += r * s_data[b]


@njit(parallel=True, cache=True)
def _sparse_scores_parallel(chunks, rows, a_indptr, a_indices, a_data, s_indptr, s_indices,
                            s_data, out):
    # the row loop is written out, not a call to _sparse_score_rows: numba does not inline
    # that call, and the out-of-line version runs ~2x slower here (recommend for all 943
    # users of MovieLens 100K: 14 vs 6 ms)
    for c in prange(len(chunks) - 1):
        for q in range(chunks[c], chunks[c + 1]):
            u = rows[q]
            for a in range(a_indptr[u], a_indptr[u + 1]):
                i = a_indices[a]
                r = a_data[a]
                for b in range(s_indptr[i], s_indptr[i + 1]):
                    out[q, s_indices[b]] += r * s_data[b]


def sparse_scores(chunks, rows, a_indptr, a_indices, a_data, s_indptr, s_indices, s_data,
                  out) -> None:
    """``out[q] = A[rows[q]] @ S`` for sparse A and S, written into a dense block.

    The implicit item-item score: a user's weights times the item neighbour lists. Fewer
    than :data:`PARALLEL_MIN_ROWS` rows run serially (same results).
    """
    if len(rows) >= PARALLEL_MIN_ROWS:
        _sparse_scores_parallel(chunks, rows, a_indptr, a_indices, a_data, s_indptr,
                                s_indices, s_data, out)
    else:
        _sparse_score_rows(0, len(rows), rows, a_indptr, a_indices, a_data, s_indptr,
                           s_indices, s_data, out)


def reference_votes(sim: np.ndarray, liked: np.ndarray, k: int) -> np.ndarray:
    """Dense reference of user-based voting: ``top_k(sim) @ liked`` (for tests)."""
    return reference_top_k(sim, k) @ liked.astype(np.float64)


def chunk_bounds(n: int, rows_per_chunk: int = 64) -> np.ndarray:
    """Chunk boundaries for the parallel loops (many small chunks balance skewed rows)."""
    n_chunks = max(1, -(-n // rows_per_chunk))
    return np.linspace(0, n, n_chunks + 1).astype(np.int64) if n else np.zeros(1, np.int64)
