"""Exact (brute-force) search: blocked float32 BLAS products and a parallel top-k merge.

Scores for a block of queries against a block of stored vectors come from one ``sgemm``
(``numpy @``, multithreaded by the BLAS); a numba kernel then keeps the ``k`` best per
query in a small buffer, touching each score once and rejecting almost all of them with
one comparison against the current k-th best. That beats ``argpartition`` (several
passes over each row) and matches or beats faiss' ``IndexFlatIP``. :func:`reference_search`
is the plain NumPy version the kernel is tested against.

Small searches (one user's or one item's query: fewer than :data:`SERIAL_MAX_WORK`
multiply-adds) compute their products with :func:`serial_dot` in the calling thread
instead: no BLAS thread pool is woken (on a busy machine each wake-up can cost
milliseconds) and no process-wide thread limit is touched, so any number of threads can
search at once. Larger searches limit the BLAS to one thread while their own threads run
blocks; the limit is counted, so concurrent searches set it once and the last one out
restores it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np

from .._params import Int
from .base import Index, sort_rows

__all__ = ["SERIAL_MAX_WORK", "ExactIndex", "reference_dot", "reference_search", "serial_dot"]

#: bytes of one block of scores (queries x stored vectors)
_BLOCK_BYTES = 4 * 2**20
#: above this k the merge buffer scan gets slow; use argpartition instead
_KERNEL_MAX_K = 256
#: searches with fewer multiply-adds (queries x stored x dim) than this run serially in the
#: calling thread (one 27k x 32 item-factor query is 0.9M): the serial product costs under
#: ~1 ms there, while a BLAS call that wakes its threads waited 8-16 ms whenever another
#: process held a core (benchmarks/results/latency.md)
SERIAL_MAX_WORK = 1 << 23


def _kernel():
    """Compile (once, cached on disk) the top-k merge kernel (serial; threads run blocks)."""
    global _MERGE
    if _MERGE is not None:
        return _MERGE
    import numba

    @numba.njit(cache=True, nogil=True)
    def merge(block, alpha, bias, offset, top_s, top_i):
        nq, nb = block.shape
        k = top_s.shape[1]
        for r in range(nq):
            ts = top_s[r]
            ti = top_i[r]
            # the slot to replace: lowest score, and among equals the highest position,
            # so ties keep the lower positions (columns arrive in increasing order)
            w = 0
            for a in range(1, k):
                if ts[a] < ts[w] or (ts[a] == ts[w] and ti[a] > ti[w]):
                    w = a
            thr = ts[w]
            row = block[r]
            # most chunks hold nothing better than the k-th best: find that with a
            # branch-free (vectorised) max, and only then look at single entries
            for j0 in range(0, nb, 32):
                j1 = min(nb, j0 + 32)
                best = -np.inf
                for j in range(j0, j1):
                    best = max(best, alpha * row[j] - bias[j])
                if best <= thr:
                    continue
                for j in range(j0, j1):
                    s = alpha * row[j] - bias[j]
                    if s > thr:
                        ts[w] = s
                        ti[w] = j + offset
                        w = 0
                        for a in range(1, k):
                            if ts[a] < ts[w] or (ts[a] == ts[w] and ti[a] > ti[w]):
                                w = a
                        thr = ts[w]

    _MERGE = merge
    return merge


_MERGE = None


def _product():
    """Compile (once, cached on disk) :func:`serial_dot`'s kernel."""
    global _PRODUCT
    if _PRODUCT is not None:
        return _PRODUCT
    import numba

    @numba.njit(fastmath=True, cache=True, nogil=True)
    def product(left, right, out):
        # four stored vectors per pass: each is read once for every query row of the
        # block and four sums run side by side (1.5-1.8x one at a time); fastmath lets
        # LLVM vectorise and reorder the sums over the dimensions, as a BLAS does
        n, dim = right.shape
        head = n - n % 4
        for j in range(0, head, 4):
            for r in range(left.shape[0]):
                s0 = s1 = s2 = s3 = np.float32(0.0)
                for f in range(dim):
                    u = left[r, f]
                    s0 += u * right[j, f]
                    s1 += u * right[j + 1, f]
                    s2 += u * right[j + 2, f]
                    s3 += u * right[j + 3, f]
                out[r, j], out[r, j + 1], out[r, j + 2], out[r, j + 3] = s0, s1, s2, s3
        for j in range(head, n):
            for r in range(left.shape[0]):
                s = np.float32(0.0)
                for f in range(dim):
                    s += left[r, f] * right[j, f]
                out[r, j] = s

    _PRODUCT = product
    return product


_PRODUCT = None


def serial_dot(left: np.ndarray, right: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``left @ right.T`` in float32, computed serially in the calling thread (numba).

    For small blocks (a handful of query rows), where waking a BLAS thread pool costs more
    than the product; ``reference_dot`` is the NumPy version it is tested against.

    Parameters
    ----------
    left : (m, d) float32 array
    right : (n, d) float32 array
    out : (m, n) float32 array, optional
        Written in place when given (C-contiguous).
    """
    left = np.ascontiguousarray(left, dtype=np.float32)
    right = np.ascontiguousarray(right, dtype=np.float32)
    if out is None:
        out = np.empty((left.shape[0], right.shape[0]), dtype=np.float32)
    if out.size:
        _product()(left, right, out)
    return out


def reference_dot(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Plain NumPy ``left @ right.T`` in float64 (the oracle of :func:`serial_dot`)."""
    return np.asarray(left, np.float64) @ np.asarray(right, np.float64).T


class _BlasOneThread:
    """Limits the BLAS to one thread while any search inside it runs (counted, thread-safe).

    Our own threads each run one block's product; a multithreaded BLAS inside them would
    oversubscribe the cores, and OpenBLAS' spinning threads are very slow on busy machines.
    The limit is process-wide state, so the first search in sets it and the last one out
    restores it (a plain ``threadpoolctl`` context per search would let overlapping
    searches restore each other's limit in the wrong order). A no-op without threadpoolctl.
    """

    _lock = threading.Lock()
    _depth = 0
    _limiter = None
    _controller = None

    def __enter__(self):
        cls = type(self)
        with cls._lock:
            if cls._depth == 0:
                cls._limiter = self._limit()
            cls._depth += 1
        return self

    def __exit__(self, *exc):
        cls = type(self)
        with cls._lock:
            cls._depth -= 1
            if cls._depth == 0 and cls._limiter is not None:
                cls._limiter.restore_original_limits()
                cls._limiter = None

    @classmethod
    def _limit(cls):
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            return None
        if cls._controller is None:
            cls._controller = ThreadpoolController()
        return cls._controller.limit(limits=1, user_api="blas")


def _blas_single_thread() -> _BlasOneThread:
    """The counted one-thread BLAS limit (for callers that run their own blocked products)."""
    return _BlasOneThread()


def _search_blocks(data: np.ndarray, sqnorms: np.ndarray | None, q: np.ndarray, k: int,
                   num_threads: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Top-k by ``q . x`` (``sqnorms is None``) or by ``2 q . x - |x|^2`` (euclidean).

    Query blocks are spread over ``num_threads`` threads (0: all cores); each computes its
    block against every block of stored vectors and merges it into its running top-k.
    Searches below :data:`SERIAL_MAX_WORK` run in the calling thread with
    :func:`serial_dot`.
    """
    n, nq = data.shape[0], q.shape[0]
    if k > _KERNEL_MAX_K:
        return _search_argpartition(data, sqnorms, q, k)
    merge = _kernel()
    serial = nq * n * data.shape[1] < SERIAL_MAX_WORK
    workers = 1 if serial else max(1, num_threads or os.cpu_count() or 1)
    cols = min(n, 4096)
    # the block shape must not depend on the thread count: BLAS rounding depends on it
    rows = max(16, min(nq, _BLOCK_BYTES // (4 * cols)))
    alpha = np.float32(1.0 if sqnorms is None else 2.0)
    zeros = np.zeros(cols, dtype=np.float32)
    top_s = np.full((nq, k), -np.inf, dtype=np.float32)
    top_i = np.full((nq, k), -1, dtype=np.int64)

    def run(r0: int) -> None:
        r1 = min(nq, r0 + rows)
        qb = q[r0:r1]
        buf = np.empty((r1 - r0) * cols, dtype=np.float32)
        for c0 in range(0, n, cols):
            c1 = min(n, c0 + cols)
            out = buf[: (r1 - r0) * (c1 - c0)].reshape(r1 - r0, c1 - c0)
            if serial:
                serial_dot(qb, data[c0:c1], out=out)
            else:
                np.matmul(qb, data[c0:c1].T, out=out)
            bias = zeros[: c1 - c0] if sqnorms is None else sqnorms[c0:c1]
            merge(out, alpha, bias, c0, top_s[r0:r1], top_i[r0:r1])

    starts = list(range(0, nq, rows))
    with contextlib.nullcontext() if serial else _BlasOneThread():
        if len(starts) == 1 or workers == 1:
            for r0 in starts:
                run(r0)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(workers, len(starts))) as pool:
                list(pool.map(run, starts))
    return top_i, top_s


def _search_argpartition(data, sqnorms, q, k):
    n, nq = data.shape[0], q.shape[0]
    rows = max(1, min(nq, _BLOCK_BYTES // (4 * n)))
    top_i = np.empty((nq, k), dtype=np.int64)
    top_s = np.empty((nq, k), dtype=np.float32)
    for r0 in range(0, nq, rows):
        r1 = min(nq, r0 + rows)
        s = q[r0:r1] @ data.T
        if sqnorms is not None:
            s *= 2
            s -= sqnorms
        if k < n:
            part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        else:
            part = np.broadcast_to(np.arange(n), s.shape).copy()
        top_i[r0:r1] = part
        top_s[r0:r1] = np.take_along_axis(s, part, axis=1)
    return top_i, top_s


def reference_search(data: np.ndarray, queries: np.ndarray, k: int,
                     metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Plain NumPy exact search (the test oracle): ``(positions, scores)`` best first.

    ``scores`` follow the index convention: cosine similarity, inner product, or
    Euclidean distance. Ties are broken by position.
    """
    data = np.asarray(data, dtype=np.float64)
    queries = np.asarray(queries, dtype=np.float64)
    if metric == "cosine":
        def unit(x):
            norms = np.linalg.norm(x, axis=1, keepdims=True)
            return x / np.where(norms > 0, norms, 1)
        scores = unit(queries) @ unit(data).T
        key = -scores
    elif metric == "dot":
        scores = queries @ data.T
        key = -scores
    else:
        diff = queries[:, None, :] - data[None, :, :]
        scores = np.sqrt((diff ** 2).sum(axis=2))
        key = scores
    pos = np.broadcast_to(np.arange(data.shape[0]), key.shape)
    order = np.lexsort((pos, key), axis=1)[:, :k]
    return order.astype(np.int64), np.take_along_axis(scores, order, axis=1).astype(np.float32)


class ExactIndex(Index):
    """Brute-force search; the reference for the approximate backends.

    Parameters: ``num_threads`` (0: all cores), also accepted by ``query``.
    """

    backend = "exact"
    _search_spec: ClassVar[dict] = {"num_threads": (0, Int(low=0))}

    def _build(self, stored: np.ndarray, raw: np.ndarray) -> None:
        self._data = np.ascontiguousarray(stored, dtype=np.float32)
        self._sqnorms = self._norms_of(self._data)

    def _norms_of(self, x: np.ndarray) -> np.ndarray | None:
        if self.metric != "euclidean":
            return None
        return np.einsum("ij,ij->i", x, x).astype(np.float32)

    def _search(self, q, raw, k, settings):
        pos, s = _search_blocks(self._data, self._sqnorms, q, k, settings["num_threads"])
        if self.metric == "euclidean":
            # |q - x|^2 = |q|^2 - (2 q.x - |x|^2); clip rounding below zero
            qn = np.einsum("ij,ij->i", q, q)[:, None]
            s = np.sqrt(np.maximum(qn - s, 0.0)).astype(np.float32)
        return sort_rows(pos, s, self.higher_is_better)

    def _add(self, stored, raw, start):
        self._data = np.concatenate([np.asarray(self._data), stored]) if start else stored
        self._sqnorms = self._norms_of(self._data)

    def _get_vectors(self, pos):
        return np.array(self._data[pos], dtype=np.float32)

    def _save_files(self, directory: Path) -> list[str]:
        with open(directory / "vectors.npy", "wb") as fh:
            np.save(fh, np.ascontiguousarray(self._data), allow_pickle=False)
        return ["vectors.npy"]

    def _load_files(self, saved, mmap: bool) -> None:
        data = saved.array("vectors.npy", mmap=mmap)  # verified as load() asked
        if data.dtype.kind != "f" or data.shape != (len(self), self.dim):
            raise ValueError(f"vectors.npy holds a {data.dtype} array of shape {data.shape}, "
                             f"not ({len(self)}, {self.dim}) floats")
        self._data = data
        self._sqnorms = self._norms_of(self._data)
