"""BM25 weighting of interaction values: the one implementation.

``ItemKNN(similarity="bm25")`` weights the user x item matrix before its item-item
similarities, ``ImplicitALS(weighting="bm25")`` before its confidences, and both weight a
new user's history (fold-in) the same way. Items are the documents and users the terms,
as in the ``implicit`` library:

``w_ui = v_ui (k1 + 1) / (k1 * norm_i + v_ui) * idf_u``, with
``norm_i = (1 - b) + b * len_i / mean(len)`` (``len_i``: the sum of item ``i``'s values)
and ``idf_u = log(n_items) - log1p(n_u)`` (``n_u``: the number of items of user ``u``).

The defaults are those of implicit's ``bm25_weight`` (``K1=100``, ``B=0.8``); each model
passes its own (``ItemKNN``: implicit's ``BM25Recommender``, ``K1=1.2``, ``B=0.75``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["BM25_B", "BM25_K1", "bm25_history", "bm25_item_norm", "bm25_weights"]

#: Saturation of repeated interactions (implicit's ``bm25_weight`` default).
BM25_K1 = 100.0
#: Strength of the item length normalisation, in [0, 1] (implicit's default).
BM25_B = 0.8


def bm25_item_norm(matrix: sp.csr_matrix, b: float = BM25_B) -> np.ndarray:
    """``norm_i = (1 - b) + b * len_i / mean(len)`` per item (float64)."""
    lengths = np.bincount(matrix.indices, weights=matrix.data.astype(np.float64),
                          minlength=matrix.shape[1])
    mean = lengths.mean() if len(lengths) else 1.0
    return (1.0 - b) + b * lengths / max(mean, 1e-12)


def _idf(n_items: int, n_per_user: np.ndarray) -> np.ndarray:
    return np.log(max(n_items, 1)) - np.log1p(np.asarray(n_per_user, dtype=np.float64))


def _saturate(values: np.ndarray, norm: np.ndarray, idf: np.ndarray, k1: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return (v * (k1 + 1.0) / (k1 * norm + v) * idf).astype(np.float32)


def bm25_weights(matrix: sp.csr_matrix, k1: float = BM25_K1, b: float = BM25_B
                 ) -> tuple[np.ndarray, np.ndarray]:
    """BM25 weight of every stored entry of a users x items CSR.

    Parameters
    ----------
    matrix : scipy.sparse.csr_matrix
        Users x items interaction values (non-negative).
    k1, b : float
        Saturation and length normalisation (see the module docstring).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The float32 weights aligned with ``matrix.data`` (same index arrays), and the
        per-item ``norm`` (float64) that :func:`bm25_history` needs for a new user.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> w, norm = bm25_weights(sp.csr_matrix(np.array([[1.0, 0.0], [1.0, 1.0]])), 1.0, 0.0)
    >>> norm.tolist(), [round(float(x), 4) for x in w]  # idf: log 2 - log 2, log 2 - log 3
    ([1.0, 1.0], [0.0, -0.4055, -0.4055])
    """
    norm = bm25_item_norm(matrix, b)
    counts = np.diff(matrix.indptr)
    rows = np.repeat(np.arange(matrix.shape[0]), counts)
    idf = _idf(matrix.shape[1], counts)
    return _saturate(matrix.data, norm[matrix.indices], idf[rows], k1), norm


def bm25_history(values: np.ndarray, item_idx: np.ndarray, item_norm: np.ndarray,
                 k1: float = BM25_K1) -> np.ndarray:
    """BM25 weights of one new user's history, with the training items' ``item_norm``."""
    idf = _idf(len(item_norm), np.array([len(values)]))[0]
    return _saturate(values, np.asarray(item_norm)[item_idx], idf, k1)
