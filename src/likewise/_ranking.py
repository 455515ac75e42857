"""Per-row ranking metrics of top-N lists: the one implementation.

The evaluation layer (:mod:`likewise.evaluation.metrics`) and models that tune themselves
on a validation split (``WeightedHybrid.fit_weights``, ``ContentKNN``'s ``"auto"``
parameters) score ranked lists the same way. The kernels live here, at the foundation,
because models may not import the evaluation layer above them.

Every kernel takes arguments that its caller has already checked:

``recs``
    ``(rows, L)`` int64 item indices, best first, ``-1`` padding, ``L <= k``;
``rel``
    a CSR ``(rows, n_items)`` with sorted indices whose stored values are all positive
    (the relevance grades; 1 for binary relevance).

and returns float64 per-row values, NaN for rows without a relevant item (their ranking
quality is undefined). Membership of recommended items in the relevant sets is one
``searchsorted`` over the CSR's ``row * n_items + item`` keys: no loop over rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from .errors import ConfigError

__all__ = [
    "CUTOFF_METRICS",
    "GAINS",
    "average_precision",
    "hit_rate",
    "hits",
    "ndcg",
    "parse_cutoff_metric",
    "per_row",
    "precision",
    "recall",
    "reciprocal_rank",
]

#: The gain functions of :func:`ndcg`.
GAINS = ("binary", "linear", "exponential")


def hits(recs: np.ndarray, rel: sp.csr_matrix) -> np.ndarray:
    """Relevance grade of every listed item (0 where not relevant or padding), float64."""
    n_items = np.int64(rel.shape[1])
    if rel.nnz == 0:
        return np.zeros(recs.shape, dtype=np.float64)
    rows = np.repeat(np.arange(rel.shape[0], dtype=np.int64), np.diff(rel.indptr))
    keys = rows * n_items + rel.indices.astype(np.int64)  # sorted: rows, then items
    query = np.arange(recs.shape[0], dtype=np.int64)[:, None] * n_items + recs
    pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    found = (keys[pos] == query) & (recs >= 0)
    return np.where(found, rel.data[pos].astype(np.float64), 0.0)


def _n_relevant(rel: sp.csr_matrix) -> np.ndarray:
    return np.diff(rel.indptr).astype(np.float64)


def _defined(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    return np.where(valid, values, np.nan)


def precision(recs: np.ndarray, rel: sp.csr_matrix, k: int) -> np.ndarray:
    """Relevant share of the top ``k`` (denominator ``k``: a short list is not rewarded)."""
    found = hits(recs, rel) > 0
    return _defined(found.sum(axis=1) / k, _n_relevant(rel) > 0)


def recall(recs: np.ndarray, rel: sp.csr_matrix, k: int | None = None) -> np.ndarray:
    """Share of each row's relevant items that are listed."""
    found = hits(recs, rel) > 0
    n_rel = _n_relevant(rel)
    return _defined(found.sum(axis=1) / np.maximum(n_rel, 1), n_rel > 0)


def hit_rate(recs: np.ndarray, rel: sp.csr_matrix, k: int | None = None) -> np.ndarray:
    """1 where at least one relevant item is listed, else 0."""
    found = hits(recs, rel) > 0
    return _defined(found.any(axis=1).astype(np.float64), _n_relevant(rel) > 0)


def _gains(values: np.ndarray, gain: str) -> np.ndarray:
    if gain == "binary":
        return (values > 0).astype(np.float64)
    if gain == "linear":
        return values.astype(np.float64)
    if gain == "exponential":
        return np.power(2.0, values.astype(np.float64)) - 1.0
    raise ConfigError(f"gain must be one of 'binary', 'linear', 'exponential'; got {gain!r}")


def ndcg(recs: np.ndarray, rel: sp.csr_matrix, k: int, gain: str = "binary") -> np.ndarray:
    """Normalised discounted cumulative gain at ``k``.

    ``DCG = sum_j gain(rel_j) / log2(j + 1)`` over positions ``j = 1..k``; the ideal DCG
    places the row's ``min(k, n_relevant)`` best grades first.
    """
    discounts = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    grades = hits(recs, rel)
    dcg = (_gains(grades, gain) * (grades > 0) * discounts[: recs.shape[1]]).sum(axis=1)
    # ideal: each row's grades sorted descending, the first min(k, n_rel) discounted
    counts = np.diff(rel.indptr)
    rows = np.repeat(np.arange(rel.shape[0]), counts)
    order = np.lexsort((-rel.data, rows))
    position = np.arange(rel.nnz) - np.repeat(rel.indptr[:-1], counts)
    keep = position < k
    ideal_gain = _gains(rel.data[order], gain)[keep] * discounts[position[keep]]
    idcg = np.bincount(rows[keep], weights=ideal_gain, minlength=rel.shape[0])
    valid = idcg > 0
    return _defined(dcg / np.where(valid, idcg, 1.0), valid)


def average_precision(recs: np.ndarray, rel: sp.csr_matrix, k: int) -> np.ndarray:
    """``AP@k = sum_j P@j * rel_j / min(k, n_relevant)``."""
    found = (hits(recs, rel) > 0).astype(np.float64)
    precision_at = np.cumsum(found, axis=1) / np.arange(1, recs.shape[1] + 1)
    n_rel = _n_relevant(rel)
    ap = (precision_at * found).sum(axis=1) / np.maximum(np.minimum(n_rel, k), 1)
    return _defined(ap, n_rel > 0)


def reciprocal_rank(recs: np.ndarray, rel: sp.csr_matrix, k: int | None = None) -> np.ndarray:
    """``1 / rank`` of the first relevant listed item (0 when none)."""
    found = hits(recs, rel) > 0
    first = np.argmax(found, axis=1)
    rr = np.where(found.any(axis=1), 1.0 / (first + 1), 0.0)
    return _defined(rr, _n_relevant(rel) > 0)


#: The metrics with a cut-off that models tune on, by the name used in ``"ndcg@10"``.
CUTOFF_METRICS: dict[str, Callable[..., np.ndarray]] = {
    "ndcg": ndcg, "recall": recall, "precision": precision, "hit_rate": hit_rate,
}


def per_row(kind: str, recs: np.ndarray, rel: sp.csr_matrix, k: int) -> np.ndarray:
    """The per-row values of metric ``kind`` (a key of :data:`CUTOFF_METRICS`, binary gain).

    ``rel`` may have unsorted indices (a row selection of a CSR): they are sorted on a copy.
    """
    if not rel.has_sorted_indices:
        rel = rel.sorted_indices()
    return CUTOFF_METRICS[kind](recs[:, :k].astype(np.int64, copy=False), rel, k)


def parse_cutoff_metric(metric: str) -> tuple[str, int]:
    """``"ndcg@10"`` -> ``("ndcg", 10)``; a :class:`~likewise.ConfigError` for other names.

    Examples
    --------
    >>> parse_cutoff_metric("recall@20")
    ('recall', 20)
    """
    m = re.fullmatch(r"(ndcg|recall|precision|hit_rate)@(\d+)", str(metric))
    if not m or int(m.group(2)) < 1:
        raise ConfigError(f"metric must look like 'ndcg@10', 'recall@20', 'precision@5' or "
                          f"'hit_rate@10', got {metric!r}")
    return m.group(1), int(m.group(2))
