"""Scoring shared by the dot-product (latent-factor) models.

A factor model scores ``user_vector . item_factor + item_bias + user_offset`` (the offset
being the global mean plus the user's bias where the model has them). The mixin
implements the base-class hooks from two small methods a model overrides:
``_user_vectors()`` (default ``user_factors_``) and ``_bias_terms()`` (default none).

The product ``user_vectors[rows] @ item_factors.T`` is computed by :func:`dot_rows`:
small blocks (a request for one or a few users) in a serial numba loop in the calling
thread (:func:`likewise.index.exact.serial_dot`), larger ones by the BLAS. OpenBLAS
splits a single-user product over its threads once ``factors x items`` passes a few
hundred thousand (the MovieLens 20M shape does), and a thread pool woken for a 50
microsecond product turns into milliseconds whenever another process holds a core; the
limit is measured (``benchmarks/bench_latency.py --part
threshold``, benchmarks/results/latency.md). Limiting the BLAS with threadpoolctl instead
would change a process-wide setting on every request, which concurrent requests race on.
"""

from __future__ import annotations

import numpy as np

from ..index.exact import SERIAL_MAX_WORK, serial_dot
from .base import dot_factors

__all__ = ["FactorScoring", "dot_rows", "dot_rows_reference"]


def dot_rows(left: np.ndarray, rows: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``left[rows] @ right.T`` as a float32 ``(len(rows), len(right))`` array.

    Blocks below :data:`~likewise.index.exact.SERIAL_MAX_WORK` multiply-adds run serially
    in the calling thread (:func:`~likewise.index.exact.serial_dot`: no thread pool is
    woken, safe from any number of threads); larger ones use the BLAS.

    Parameters
    ----------
    left : (n, k) array
        Row vectors (e.g. user factors).
    rows : (m,) int array
        Rows of ``left`` to multiply.
    right : (n_items, k) array
        Column vectors (e.g. item factors).
    """
    block = left[np.asarray(rows, dtype=np.int64)]
    work = block.shape[0] * right.shape[0] * right.shape[1]
    if work >= SERIAL_MAX_WORK or block.dtype != np.float32 or right.dtype != np.float32:
        return np.asarray(block @ right.T, dtype=np.float32)
    return serial_dot(block, right)


def item_scores(item_factors: np.ndarray, user_vector: np.ndarray) -> np.ndarray:
    """``item_factors @ user_vector`` (one folded-in user) as float32, through
    :func:`dot_rows`: serial in the calling thread for request-sized products."""
    vec = np.ascontiguousarray(user_vector, dtype=np.float32).reshape(1, -1)
    return dot_rows(vec, np.zeros(1, np.int64),
                    np.ascontiguousarray(item_factors, dtype=np.float32))[0]


def dot_rows_reference(left: np.ndarray, rows: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Plain NumPy ``left[rows] @ right.T`` in float64, for tests of :func:`dot_rows`."""
    return np.asarray(left, np.float64)[np.asarray(rows, np.int64)] @ \
        np.asarray(right, np.float64).T


class FactorScoring:
    """Mixin for :class:`~likewise.models.base.Recommender` subclasses with factors."""

    def _user_vectors(self) -> np.ndarray:
        return self.user_factors_

    def _bias_terms(self):
        """``(item_bias or None, per-user offset or None)`` added to the dot product."""
        return None, None

    def _biased_terms(self):
        """The usual biased form: item biases, and global mean + user biases."""
        return self.item_bias_, self.mu_ + self.user_bias_

    def _dot_factors(self):
        return dot_factors(self._user_vectors(), self.item_factors_, *self._bias_terms())

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        scores = dot_rows(self._user_vectors(), user_idx, self.item_factors_)
        item_bias, offset = self._bias_terms()
        if item_bias is not None:
            scores += item_bias[None, :]
        if offset is not None:
            scores += offset[user_idx, None]
        return scores.astype(np.float32, copy=False)

    def _predict_idx(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        est = np.einsum("ij,ij->i", self._user_vectors()[user_idx], self.item_factors_[item_idx])
        item_bias, offset = self._bias_terms()
        if item_bias is not None:
            est += item_bias[item_idx]
        if offset is not None:
            est += offset[user_idx]
        return est.astype(np.float32)

    def _item_embeddings(self) -> np.ndarray:
        return self.item_factors_
