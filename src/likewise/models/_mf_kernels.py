"""Numba kernels for the latent-factor models, each beside a readable reference version.

The ``*_reference`` functions are plain Python/NumPy transcriptions of the textbook
updates; they are slow and only used by the tests, which check on small inputs that the
fast kernels compute the same numbers (SGD: same seed, same visiting order, same
updates; ALS: same solves).

Conventions: factor matrices are C-contiguous ``float32``; CSR arrays are ``int64``
(``indptr``) / ``int32`` or ``int64`` (``indices``) with sorted column indices per row.
Parallel kernels split work into ``n_chunks`` contiguous pieces so that, with one chunk,
they run the exact sequential algorithm (the deterministic single-threaded mode).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..errors import ConfigError

__all__ = [
    "als_cg",
    "als_cg_reference",
    "bpr_epoch",
    "bpr_reference",
    "check_finite",
    "ridge_rows",
    "ridge_rows_reference",
    "rng_seeds",
    "sgd_svd_epoch",
    "sgd_svd_reference",
    "sgd_svdpp_epoch",
    "sgd_svdpp_reference",
]


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------
def check_finite(model: str, what: float | np.ndarray, epoch: int, hint: str) -> None:
    """Fail ``fit`` with a clear message when training diverged (NaN / inf / overflow)."""
    if isinstance(what, float):
        bad = not math.isfinite(what)
    else:
        bad = not np.isfinite(np.asarray(what, dtype=np.float64)).all()
    if bad:
        raise ConfigError(f"{model} diverged at epoch {epoch + 1}: the training error became "
                          f"NaN or infinite. {hint}")


def rng_seeds(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` non-zero 64-bit seeds for the per-thread xorshift streams."""
    seeds = rng.integers(1, 2**63 - 1, size=n, dtype=np.int64).astype(np.uint64)
    return seeds


def _chunks(n: int, n_chunks: int) -> np.ndarray:
    n_chunks = max(1, min(int(n_chunks), max(n, 1)))
    return np.linspace(0, n, n_chunks + 1).astype(np.int64)


# ---------------------------------------------------------------------------------------
# random numbers for the threaded samplers: xorshift64* streams, one per chunk
# ---------------------------------------------------------------------------------------
_M64 = (1 << 64) - 1


@njit(inline="always")
def _xorshift(state, c):
    x = state[c]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    state[c] = x
    return (x * np.uint64(2685821657736338717)) >> np.uint64(11)


def _xorshift_reference(state: list) -> int:
    x = state[0]
    x ^= x >> 12
    x ^= (x << 25) & _M64
    x ^= x >> 27
    state[0] = x
    return ((x * 2685821657736338717) & _M64) >> 11


# ---------------------------------------------------------------------------------------
# SVD (Funk / Koren biased MF) by SGD
# ---------------------------------------------------------------------------------------
@njit(fastmath=True, cache=True)
def _sgd_svd_range(lo, hi, users, items, ratings, mu, bu, bi, pu, qi, lr, reg, biased):
    # users/items/ratings arrive already in visiting order (sequential reads are faster)
    n_factors = pu.shape[1]
    shrink = np.float32(1.0) - lr * reg
    sq = 0.0
    for e in range(lo, hi):
        u = users[e]
        i = items[e]
        # row views let LLVM vectorise the factor loops
        p = pu[u]
        q = qi[i]
        dot = np.float32(0.0)
        for f in range(n_factors):
            dot += p[f] * q[f]
        est = dot
        if biased:
            est += mu + bu[u] + bi[i]
        err = np.float32(ratings[e] - est)
        sq += err * err
        if biased:
            bu[u] += lr * (err - reg * bu[u])
            bi[i] += lr * (err - reg * bi[i])
        step = lr * err
        for f in range(n_factors):
            puf = p[f]
            qif = q[f]
            p[f] = shrink * puf + step * qif
            q[f] = shrink * qif + step * puf
    return sq


@njit(parallel=True, cache=True)
def _sgd_svd_parallel(bounds, users, items, ratings, mu, bu, bi, pu, qi, lr, reg, biased):
    n_chunks = bounds.shape[0] - 1
    partial = np.zeros(n_chunks, dtype=np.float64)
    for c in prange(n_chunks):
        partial[c] = _sgd_svd_range(bounds[c], bounds[c + 1], users, items, ratings,
                                    mu, bu, bi, pu, qi, lr, reg, biased)
    return partial.sum()


def sgd_svd_epoch(users, items, ratings, order, mu, bu, bi, pu, qi, lr, reg, biased,
                  n_chunks=1) -> float:
    """One SGD epoch over the ratings in ``order``; returns the sum of squared errors.

    ``order=None`` visits the arrays as they are (see :func:`shuffle_together`).
    With ``n_chunks > 1`` the order is split into contiguous pieces processed in parallel
    without locks (Hogwild!); with one chunk it is the exact sequential algorithm.
    """
    if order is not None:
        users, items, ratings = users[order], items[order], ratings[order]
    args = (users, items, ratings, np.float32(mu), bu, bi, pu, qi,
            np.float32(lr), np.float32(reg), bool(biased))
    if n_chunks <= 1:
        return float(_sgd_svd_range(0, len(users), *args))
    return float(_sgd_svd_parallel(_chunks(len(users), n_chunks), *args))


@njit(cache=True)
def shuffle_together(state, users, items, ratings):
    """Fisher-Yates shuffle of three aligned arrays in place (xorshift stream ``state``)."""
    for k in range(users.shape[0] - 1, 0, -1):
        j = np.int64(_xorshift(state, 0) % np.uint64(k + 1))
        users[k], users[j] = users[j], users[k]
        items[k], items[j] = items[j], items[k]
        ratings[k], ratings[j] = ratings[j], ratings[k]


def sgd_svd_reference(users, items, ratings, order, mu, bu, bi, pu, qi, lr, reg,
                      biased) -> float:
    """Readable per-rating SGD (Surprise's ``SVD.sgd`` inner loop); updates in place."""
    sq = 0.0
    for e in order:
        u, i, r = users[e], items[e], ratings[e]
        est = float(pu[u] @ qi[i]) + ((mu + bu[u] + bi[i]) if biased else 0.0)
        err = r - est
        sq += err * err
        if biased:
            bu[u] += lr * (err - reg * bu[u])
            bi[i] += lr * (err - reg * bi[i])
        old_pu = pu[u].copy()
        pu[u] += lr * (err * qi[i] - reg * pu[u])
        qi[i] += lr * (err * old_pu - reg * qi[i])
    return sq


@njit(cache=True)
def sgd_fold_in(items, ratings, mu, bi, qi, epochs, lr, reg, biased, p, bu):
    """SGD on one new user's vector ``p`` and bias ``bu[0]`` with item parameters frozen."""
    n_factors = qi.shape[1]
    for _ in range(epochs):
        for k in range(items.shape[0]):
            i = items[k]
            est = 0.0
            for f in range(n_factors):
                est += p[f] * qi[i, f]
            if biased:
                est += mu + bu[0] + bi[i]
            err = ratings[k] - est
            if biased:
                bu[0] += lr * (err - reg * bu[0])
            for f in range(n_factors):
                p[f] += lr * (err * qi[i, f] - reg * p[f])


# ---------------------------------------------------------------------------------------
# SVD++ by SGD, ratings grouped by user
# ---------------------------------------------------------------------------------------
# Surprise recomputes the implicit term z_u = |N(u)|^-1/2 sum_j y_j for every rating and
# updates every y_j for every rating: O(|N(u)| f) per rating. Ratings are visited grouped by
# user (as Surprise does), and the per-rating y update is the same for every j in N(u):
#     y_j <- (1 - lr reg) y_j + lr err q_i / sqrt|N(u)|
# so after the user's ratings y_j = d y_j + c with a scalar decay d and one vector c, and
# z_u follows exactly z <- (1 - lr reg) z + lr err q_i. The kernel keeps z, d and c per
# user and touches each y_j once: O(f) per rating plus O(|N(u)| f) per user, with the same
# numbers as the naive algorithm.
@njit(parallel=True, fastmath=True, cache=True)
def _sgd_svdpp_epoch(indptr, indices, data, user_order, bounds, mu, bu, bi, pu, qi, y, lr,
                     reg):
    n_factors = pu.shape[1]
    n_chunks = bounds.shape[0] - 1
    partial = np.zeros(n_chunks, dtype=np.float64)
    for c in prange(n_chunks):
        sq = 0.0
        z = np.empty(n_factors, dtype=np.float32)
        acc = np.empty(n_factors, dtype=np.float32)
        for k in range(bounds[c], bounds[c + 1]):
            u = user_order[k]
            start, end = indptr[u], indptr[u + 1]
            n_u = end - start
            if n_u == 0:
                continue
            norm = np.float32(1.0 / np.sqrt(n_u))
            for f in range(n_factors):
                z[f] = 0.0
                acc[f] = 0.0
            for e in range(start, end):
                j = indices[e]
                for f in range(n_factors):
                    z[f] += y[j, f]
            for f in range(n_factors):
                z[f] *= norm
            shrink = np.float32(1.0 - lr * reg)
            decay = np.float32(1.0)
            for e in range(start, end):
                i = indices[e]
                dot = np.float32(0.0)
                for f in range(n_factors):
                    dot += qi[i, f] * (pu[u, f] + z[f])
                err = data[e] - (mu + bu[u] + bi[i] + dot)
                sq += err * err
                bu[u] += lr * (err - reg * bu[u])
                bi[i] += lr * (err - reg * bi[i])
                for f in range(n_factors):
                    puf = pu[u, f]
                    qif = qi[i, f]
                    pu[u, f] += lr * (err * qif - reg * puf)
                    qi[i, f] += lr * (err * (puf + z[f]) - reg * qif)
                    acc[f] = shrink * acc[f] + lr * err * qif * norm
                    z[f] = shrink * z[f] + lr * err * qif
                decay *= shrink
            for e in range(start, end):
                j = indices[e]
                for f in range(n_factors):
                    y[j, f] = decay * y[j, f] + acc[f]
        partial[c] = sq
    return partial.sum()


def sgd_svdpp_epoch(indptr, indices, data, user_order, mu, bu, bi, pu, qi, y, lr, reg,
                    n_chunks=1) -> float:
    """One SVD++ epoch visiting users in ``user_order``; returns the sum of squared errors."""
    bounds = _chunks(len(user_order), n_chunks)
    return float(_sgd_svdpp_epoch(indptr, indices, data, user_order, bounds, np.float32(mu),
                                  bu, bi, pu, qi, y, np.float32(lr), np.float32(reg)))


def sgd_svdpp_reference(indptr, indices, data, user_order, mu, bu, bi, pu, qi, y, lr,
                        reg) -> float:
    """Naive SVD++ SGD (Surprise's ``SVDpp.sgd``): recompute z_u and update every y_j per rating."""
    sq = 0.0
    for u in user_order:
        rated = indices[indptr[u]:indptr[u + 1]]
        if len(rated) == 0:
            continue
        norm = 1.0 / np.sqrt(len(rated))
        for e in range(indptr[u], indptr[u + 1]):
            i, r = indices[e], data[e]
            z = y[rated].sum(axis=0) * norm
            err = r - (mu + bu[u] + bi[i] + float(qi[i] @ (pu[u] + z)))
            sq += err * err
            bu[u] += lr * (err - reg * bu[u])
            bi[i] += lr * (err - reg * bi[i])
            old_pu, old_qi = pu[u].copy(), qi[i].copy()
            pu[u] += lr * (err * old_qi - reg * old_pu)
            qi[i] += lr * (err * (old_pu + z) - reg * old_qi)
            y[rated] += lr * (err * old_qi * norm - reg * y[rated])
    return sq


@njit(cache=True)
def svdpp_fold_in(items, ratings, mu, bi, qi, y, epochs, lr, reg, p, bu):
    """SGD on a new user's ``p`` and ``bu[0]`` with item parameters (q, y, b_i) frozen."""
    n_factors = qi.shape[1]
    n = items.shape[0]
    z = np.zeros(n_factors, dtype=np.float32)
    norm = 1.0 / np.sqrt(n)
    for k in range(n):
        for f in range(n_factors):
            z[f] += y[items[k], f] * norm
    for _ in range(epochs):
        for k in range(n):
            i = items[k]
            est = mu + bu[0] + bi[i]
            for f in range(n_factors):
                est += qi[i, f] * (p[f] + z[f])
            err = ratings[k] - est
            bu[0] += lr * (err - reg * bu[0])
            for f in range(n_factors):
                p[f] += lr * (err * qi[i, f] - reg * p[f])
    return z


# ---------------------------------------------------------------------------------------
# BPR: SGD on sampled (user, positive, negative) triples
# ---------------------------------------------------------------------------------------
@njit(inline="always")
def _contains(indices, start, end, j):
    lo, hi = start, end
    while lo < hi:
        mid = (lo + hi) >> 1
        if indices[mid] < j:
            lo = mid + 1
        else:
            hi = mid
    return lo < end and indices[lo] == j


@njit(parallel=True, fastmath=True, cache=True)
def _bpr_epoch(indptr, indices, entry_user, pu, qi, bi, lr, reg, samples_per_chunk, states,
               verify):
    n_items = qi.shape[0]
    n_factors = pu.shape[1]
    nnz = indices.shape[0]
    n_chunks = states.shape[0]
    correct = np.zeros(n_chunks, dtype=np.int64)
    skipped = np.zeros(n_chunks, dtype=np.int64)
    for c in prange(n_chunks):
        for _ in range(samples_per_chunk):
            e = np.int64(_xorshift(states, c) % np.uint64(nnz))
            j = np.int64(_xorshift(states, c) % np.uint64(n_items))
            u = entry_user[e]
            i = indices[e]
            if verify and _contains(indices, indptr[u], indptr[u + 1], j):
                skipped[c] += 1
                continue
            # row views let LLVM vectorise the factor loops
            p = pu[u]
            qa = qi[i]
            qb = qi[j]
            x = bi[i] - bi[j]
            for f in range(n_factors):
                x += p[f] * (qa[f] - qb[f])
            # clamp: fastmath assumes no infinities, and z saturates long before +-30
            z = np.float32(1.0 / (1.0 + np.exp(min(max(x, -30.0), 30.0))))
            if x > 0:
                correct[c] += 1
            bi[i] += lr * (z - reg * bi[i])
            bi[j] += lr * (-z - reg * bi[j])
            shrink = np.float32(1.0) - lr * reg
            step = lr * z
            for f in range(n_factors):
                puf = p[f]
                qif = qa[f]
                qjf = qb[f]
                p[f] = shrink * puf + step * (qif - qjf)
                qa[f] = shrink * qif + step * puf
                qb[f] = shrink * qjf - step * puf
    return correct.sum(), skipped.sum()


def bpr_epoch(indptr, indices, entry_user, pu, qi, bi, lr, reg, n_samples, states,
              verify=True) -> tuple[int, int]:
    """``n_samples`` BPR updates split over ``len(states)`` parallel streams.

    Returns ``(correctly ordered, skipped)`` counts: the fraction of sampled pairs already
    ranked right is the training AUC estimate; skipped are negatives the user had seen.
    """
    per_chunk = int(np.ceil(n_samples / len(states)))
    correct, skipped = _bpr_epoch(indptr, indices, entry_user, pu, qi, bi, np.float32(lr),
                                  np.float32(reg), per_chunk, states, bool(verify))
    return int(correct), int(skipped)


def bpr_reference(indptr, indices, entry_user, pu, qi, bi, lr, reg, n_samples, seed,
                  verify=True) -> tuple[int, int]:
    """Readable single-stream BPR epoch drawing the same random numbers as the kernel."""
    state = [int(seed)]
    nnz, n_items = len(indices), qi.shape[0]
    correct = skipped = 0
    for _ in range(n_samples):
        e = _xorshift_reference(state) % nnz
        j = _xorshift_reference(state) % n_items
        u, i = entry_user[e], indices[e]
        if verify and j in set(indices[indptr[u]:indptr[u + 1]].tolist()):
            skipped += 1
            continue
        x = float(bi[i] - bi[j] + pu[u] @ (qi[i] - qi[j]))
        z = 1.0 / (1.0 + np.exp(min(max(x, -30.0), 30.0)))
        correct += x > 0
        bi[i] += lr * (z - reg * bi[i])
        bi[j] += lr * (-z - reg * bi[j])
        p, a, b = pu[u].copy(), qi[i].copy(), qi[j].copy()
        pu[u] += lr * (z * (a - b) - reg * p)
        qi[i] += lr * (z * p - reg * a)
        qi[j] += lr * (-z * p - reg * b)
    return correct, skipped


@njit(cache=True)
def bpr_fold_in(items, qi, bi, n_samples, lr, reg, seed, p):
    """BPR SGD on one new user's vector ``p`` (sorted history ``items``; items frozen)."""
    n_items, n_factors = qi.shape
    n = items.shape[0]
    state = np.empty(1, dtype=np.uint64)
    state[0] = seed
    for _ in range(n_samples):
        i = items[np.int64(_xorshift(state, 0) % np.uint64(n))]
        j = np.int64(_xorshift(state, 0) % np.uint64(n_items))
        if _contains(items, 0, n, j):
            continue
        x = bi[i] - bi[j]
        for f in range(n_factors):
            x += p[f] * (qi[i, f] - qi[j, f])
        z = 1.0 / (1.0 + np.exp(min(max(x, -30.0), 30.0)))
        for f in range(n_factors):
            p[f] += lr * (z * (qi[i, f] - qi[j, f]) - reg * p[f])


# ---------------------------------------------------------------------------------------
# implicit ALS (Hu, Koren & Volinsky 2008) with conjugate gradient (Takacs et al. 2011)
# ---------------------------------------------------------------------------------------
@njit(fastmath=True, cache=True, inline="always")
def _gram_times(YtY, v, out):
    """``out = YtY @ v`` (f x f, float32 sums)."""
    n_factors = v.shape[0]
    for a in range(n_factors):
        s = np.float32(0.0)
        for b in range(n_factors):
            s += YtY[a, b] * v[b]
        out[a] = s


@njit(fastmath=True, cache=True, inline="always")
def _row_dot(Y, i, v):
    """``Y[i] @ v`` (float32 sum)."""
    d = np.float32(0.0)
    for f in range(v.shape[0]):
        d += Y[i, f] * v[f]
    return d


@njit(fastmath=True, cache=True, inline="always")
def _add_row(out, w, Y, i):
    """``out += w * Y[i]``."""
    for f in range(out.shape[0]):
        out[f] += w * Y[i, f]


@njit(fastmath=True, cache=True, inline="always")
def _cg_residual(lo, hi, indices, conf, Y, YtY, x, r):
    """``r = b - A x`` for one user (observed entries ``lo:hi``), where
    ``A = YtY + Y^T (C_u - I) Y`` and ``b = Y^T C_u p_u``."""
    _gram_times(YtY, x, r)
    for f in range(r.shape[0]):
        r[f] = -r[f]
    for e in range(lo, hi):
        i = indices[e]
        c = conf[e]
        _add_row(r, c - (c - 1.0) * _row_dot(Y, i, x), Y, i)


@njit(fastmath=True, cache=True, inline="always")
def _cg_system_times(lo, hi, indices, conf, Y, YtY, p, ap):
    """``ap = A p`` for one user, ``A`` as in :func:`_cg_residual`."""
    _gram_times(YtY, p, ap)
    for e in range(lo, hi):
        i = indices[e]
        _add_row(ap, (conf[e] - 1.0) * _row_dot(Y, i, p), Y, i)


@njit(fastmath=True, cache=True, inline="always")
def _cg_iterate(lo, hi, indices, conf, Y, YtY, x, r, p, ap, rsold, cg_steps):
    """Up to ``cg_steps`` conjugate-gradient steps on one user's system, from residual
    ``r`` and direction ``p = r`` with ``rsold = r @ r``; updates ``x`` in place."""
    n_factors = x.shape[0]
    for _ in range(cg_steps):
        _cg_system_times(lo, hi, indices, conf, Y, YtY, p, ap)
        pap = np.float32(0.0)
        for f in range(n_factors):
            pap += p[f] * ap[f]
        if pap <= 0:
            break
        step = rsold / pap
        rsnew = np.float32(0.0)
        for f in range(n_factors):
            x[f] += step * p[f]
            r[f] -= step * ap[f]
            rsnew += r[f] * r[f]
        if rsnew < 1e-20:
            break
        beta = rsnew / rsold
        for f in range(n_factors):
            p[f] = r[f] + beta * p[f]
        rsold = rsnew


@njit(parallel=True, fastmath=True, cache=True)
def als_cg(indptr, indices, conf, X, Y, YtY, cg_steps):
    """Update every row x_u of ``X`` by ``cg_steps`` CG steps on
    ``(YtY + Y^T (C_u - I) Y) x_u = Y^T C_u p_u`` starting from the current x_u.

    ``YtY`` already includes ``regularization * I``; ``conf`` holds c_ui (> 0) for the
    observed entries (p_ui = 1); unobserved entries have c = 1, p = 0. A row with no
    observed entries has b = 0, so its exact solution, x_u = 0, is set directly.
    """
    n_rows, n_factors = X.shape
    for u in prange(n_rows):
        x = X[u]
        lo, hi = indptr[u], indptr[u + 1]
        if lo == hi:
            x[:] = 0.0
            continue
        r = np.empty(n_factors, dtype=np.float32)
        p = np.empty(n_factors, dtype=np.float32)
        ap = np.empty(n_factors, dtype=np.float32)
        _cg_residual(lo, hi, indices, conf, Y, YtY, x, r)
        rsold = np.float32(0.0)
        for f in range(n_factors):
            p[f] = r[f]
            rsold += r[f] * r[f]
        if rsold < 1e-20:
            continue
        _cg_iterate(lo, hi, indices, conf, Y, YtY, x, r, p, ap, rsold, cg_steps)


@njit(fastmath=True, cache=True)
def _gram_rows(Y, lo, hi, out):
    # float32 products over blocks of 256 rows (vectorised full rows), float64 totals
    f = Y.shape[1]
    acc = np.zeros((f, f), dtype=np.float32)
    for start in range(lo, hi, 256):
        acc[:] = 0
        for r in range(start, min(hi, start + 256)):
            y = Y[r]
            for a in range(f):
                ya = y[a]
                row = acc[a]
                for b in range(f):
                    row[b] += ya * y[b]
        out += acc


def gram(Y: np.ndarray, regularization: float) -> np.ndarray:
    """``Y^T Y + regularization * I`` as float32, computed serially in numba.

    Not BLAS: alternating BLAS calls with numba's OpenMP regions makes the two thread pools
    fight; and not a parallel region either: on a busy machine waking the pool costs more
    than the O(n f^2) product (about 40 ms for 138k x 64 on one core).
    """
    out = np.zeros((Y.shape[1], Y.shape[1]), dtype=np.float64)
    _gram_rows(Y, 0, Y.shape[0], out)
    out[np.diag_indices_from(out)] += regularization
    return out.astype(np.float32)


def als_cg_reference(indptr, indices, conf, X, Y, YtY, cg_steps) -> None:
    """Readable CG update of every row of ``X`` (dense per-user system, NumPy)."""
    for u in range(X.shape[0]):
        items, c = indices[indptr[u]:indptr[u + 1]], conf[indptr[u]:indptr[u + 1]]
        if len(items) == 0:  # b = 0: the exact solution is 0
            X[u] = 0
            continue
        Yu = Y[items].astype(np.float64)
        A = YtY + (Yu.T * (c - 1.0)) @ Yu
        b = Yu.T @ c
        x = X[u].astype(np.float64)
        r = b - A @ x
        p = r.copy()
        rsold = r @ r
        if rsold < 1e-20:
            continue
        for _ in range(cg_steps):
            ap = A @ p
            pap = p @ ap
            if pap <= 0:
                break
            step = rsold / pap
            x += step * p
            r -= step * ap
            rsnew = r @ r
            if rsnew < 1e-20:
                break
            p = r + rsnew / rsold * p
            rsold = rsnew
        X[u] = x


def implicit_fold_in(items, conf, Y, YtY) -> np.ndarray:
    """Exact least-squares user vector for a new user (item factors fixed)."""
    Yh = Y[items].astype(np.float64)
    A = YtY.astype(np.float64) + (Yh.T * (conf - 1.0)) @ Yh
    b = Yh.T @ conf.astype(np.float64)
    return np.linalg.solve(A, b).astype(np.float32)


# ---------------------------------------------------------------------------------------
# explicit ALS: one ridge regression per row (weighted-lambda regularisation)
# ---------------------------------------------------------------------------------------
@njit(inline="always")
def cholesky_lower(A, floor):
    """Factor SPD ``A = L L^T`` in place (L in the lower triangle); False if not SPD.

    A pivot below ``floor`` is clamped to it when ``floor > 0`` (ridge systems: rounding
    may leave a tiny negative pivot); with ``floor == 0`` a non-positive or non-finite
    pivot returns False (the caller reports it). Shared by the ALS ridge solves and the
    BayesianMF row samplers.
    """
    n = A.shape[0]
    for j in range(n):
        s = A[j, j]
        for k in range(j):
            s -= A[j, k] * A[j, k]
        if floor > 0.0:
            s = max(s, floor)
        elif not (s > 0.0) or not np.isfinite(s):
            return False
        s = np.sqrt(s)
        A[j, j] = s
        for i in range(j + 1, n):
            t = A[i, j]
            for k in range(j):
                t -= A[i, k] * A[j, k]
            A[i, j] = t / s
    return True


@njit(inline="always")
def solve_lower(L, b):
    """``L y = b`` in place (``y`` in ``b``), L lower-triangular."""
    for i in range(L.shape[0]):
        t = b[i]
        for k in range(i):
            t -= L[i, k] * b[k]
        b[i] = t / L[i, i]


@njit(inline="always")
def solve_upper_t(L, b, out):
    """``L^T x = b`` into ``out`` (``out`` may be ``b``), L lower-triangular."""
    n = L.shape[0]
    for i in range(n - 1, -1, -1):
        t = b[i]
        for k in range(i + 1, n):
            t -= L[k, i] * out[k]
        out[i] = t / L[i, i]


@njit(inline="always")
def _cholesky_solve(A, b):
    """Solve A x = b for SPD A in place (A becomes its Cholesky factor); returns x in b."""
    cholesky_lower(A, 1e-12)
    solve_lower(A, b)
    solve_upper_t(A, b, b)


@njit(parallel=True, fastmath=True, cache=True)
def ridge_rows(indptr, indices, target, F, reg, weighted, out):
    """For every row u: ``out[u] = argmin_x sum_e (target_e - F[j_e] . x)^2 + lam |x|^2``
    with ``lam = reg * n_u`` (weighted-lambda, Zhou et al. 2008) or ``reg``."""
    n_rows = out.shape[0]
    k = F.shape[1]
    for u in prange(n_rows):
        start, end = indptr[u], indptr[u + 1]
        n_u = end - start
        if n_u == 0:
            for a in range(k):
                out[u, a] = 0.0
            continue
        A = np.zeros((k, k), dtype=np.float64)
        b = np.zeros(k, dtype=np.float64)
        for e in range(start, end):
            j = indices[e]
            t = target[e]
            for a in range(k):
                fa = F[j, a]
                b[a] += t * fa
                for c in range(a + 1):
                    A[a, c] += fa * F[j, c]
        lam = reg * n_u if weighted else reg
        for a in range(k):
            A[a, a] += lam
            for c in range(a + 1, k):
                A[a, c] = A[c, a]
        _cholesky_solve(A, b)
        for a in range(k):
            out[u, a] = b[a]


def ridge_rows_reference(indptr, indices, target, F, reg, weighted, out) -> None:
    """Readable version of :func:`ridge_rows` using ``numpy.linalg.solve``."""
    k = F.shape[1]
    for u in range(out.shape[0]):
        sl = slice(indptr[u], indptr[u + 1])
        if indptr[u + 1] == indptr[u]:
            out[u] = 0
            continue
        Fu = F[indices[sl]].astype(np.float64)
        lam = reg * (indptr[u + 1] - indptr[u]) if weighted else reg
        out[u] = np.linalg.solve(Fu.T @ Fu + lam * np.eye(k), Fu.T @ target[sl])
