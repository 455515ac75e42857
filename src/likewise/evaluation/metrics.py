"""Evaluation metrics as plain, vectorised functions.

Three families:

* **rating error** -- :func:`rmse`, :func:`mae`, :func:`mse` on ``(y_true, y_pred)``;
* **ranking** -- :func:`precision_at_k`, :func:`recall_at_k`, :func:`hit_rate_at_k`,
  :func:`ndcg_at_k`, :func:`map_at_k`, :func:`mrr_at_k` and :func:`auc`, computed for many
  users at once from

  - ``recommended``: a 2-D integer array, one row per user, of internal item indices,
    best first, padded with ``-1`` (exactly ``Recommendations.item_indices``), and
  - ``relevant``: a ``scipy.sparse`` CSR matrix ``n_rows x n_items`` whose row ``r`` holds
    the relevant (test) items of the user in row ``r`` of ``recommended``; values are the
    relevance grades (1 for binary relevance);

* **beyond accuracy** -- :func:`catalogue_coverage`, :func:`novelty`,
  :func:`intra_list_diversity` and :func:`average_recommendation_popularity`.

Per-user metrics return the mean over users, or the per-user array with
``per_user=True``. Users (rows) with no relevant item have no defined ranking quality:
their per-user value is NaN and the mean ignores them (the protocols in
:mod:`likewise.evaluation.protocols` only evaluate users with at least one relevant item).

There is no Python loop over users: membership of recommended items in the relevant
sets is one ``searchsorted`` over the CSR's (row, item) keys. The per-user kernels are
:mod:`likewise._ranking`'s, shared with the models that tune themselves on a validation
split (``WeightedHybrid.fit_weights``, ``ContentKNN``'s ``"auto"`` parameters); this module
checks the inputs and takes the mean.

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> recs = np.array([[3, 1, 2], [0, 4, -1]])
>>> rel = sp.csr_matrix(np.array([[0, 1, 0, 1, 0], [0, 0, 0, 0, 1]], dtype=np.float32))
>>> float(precision_at_k(recs, rel, k=2))
0.75
>>> float(recall_at_k(recs, rel, k=1))
0.25
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from .. import _ranking
from ..errors import ConfigError, DataError

__all__ = [
    "LOWER_IS_BETTER",
    "METRIC_NAMES",
    "auc",
    "auc_from_scores",
    "average_recommendation_popularity",
    "catalogue_coverage",
    "higher_is_better",
    "hit_rate_at_k",
    "hits_matrix",
    "intra_list_diversity",
    "mae",
    "map_at_k",
    "mrr_at_k",
    "mse",
    "ndcg_at_k",
    "novelty",
    "precision_at_k",
    "recall_at_k",
    "rmse",
]

#: Metrics where a smaller value is better (the rest: larger is better). ``arp`` is listed
#: because a lower average popularity means less popularity bias; ``*_time`` are seconds.
LOWER_IS_BETTER = frozenset({"rmse", "mae", "mse", "arp", "fit_time", "predict_time"})

#: Every metric name the protocols understand, with its function.
METRIC_NAMES = ("rmse", "mae", "mse", "precision", "recall", "hit_rate", "ndcg", "map", "mrr",
                "auc", "coverage", "novelty", "diversity", "arp")


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (``False`` for errors and times).

    Accepts names with an ``@k`` suffix (``"ndcg@10"``).

    Examples
    --------
    >>> higher_is_better("rmse"), higher_is_better("ndcg@10")
    (False, True)
    """
    base = str(metric).split("@")[0].lower()
    return base not in LOWER_IS_BETTER


# ---------------------------------------------------------------------------------------
# rating error
# ---------------------------------------------------------------------------------------
def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if len(t) != len(p):
        raise DataError(f"y_true and y_pred have different lengths ({len(t)} vs {len(p)})")
    if len(t) == 0:
        raise DataError("cannot compute an error metric on zero predictions")
    bad = ~np.isfinite(p)
    if bad.any():
        raise DataError(f"{int(bad.sum())} predictions are NaN or infinite (first at position "
                        f"{int(np.flatnonzero(bad)[0])}); the model could not estimate them")
    return t, p


def mse(y_true: Any, y_pred: Any) -> float:
    """Mean squared error.

    Examples
    --------
    >>> mse([1, 2, 3], [1, 2, 5])
    1.3333333333333333
    """
    t, p = _pair(y_true, y_pred)
    return float(np.mean((t - p) ** 2))


def rmse(y_true: Any, y_pred: Any) -> float:
    """Root mean squared error.

    Examples
    --------
    >>> rmse([1, 2, 3], [1, 2, 5])
    1.1547005383792515
    """
    return float(np.sqrt(mse(y_true, y_pred)))


def mae(y_true: Any, y_pred: Any) -> float:
    """Mean absolute error.

    Examples
    --------
    >>> mae([1, 2, 3], [2, 2, 5])
    1.0
    """
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


# ---------------------------------------------------------------------------------------
# ranking: shared plumbing
# ---------------------------------------------------------------------------------------
def _check_ranking(recommended: Any, relevant: Any, k: int | None):
    recs = np.asarray(recommended)
    if recs.ndim == 1:
        recs = recs.reshape(1, -1)
    if recs.ndim != 2:
        raise DataError(f"recommended must be a 2-D array (users x list), got shape {recs.shape}")
    if recs.dtype.kind not in "iu":
        raise DataError("recommended must hold integer item indices (-1 for padding), got "
                        f"dtype {recs.dtype}; use Recommendations.item_indices")
    if not sp.issparse(relevant):
        raise DataError("relevant must be a scipy.sparse matrix (users x items), got "
                        f"{type(relevant).__name__}")
    rel = sp.csr_matrix(relevant, copy=True)  # sorted and cleaned below, never in place
    if rel.shape[0] != recs.shape[0]:
        raise DataError(f"recommended has {recs.shape[0]} rows but relevant has {rel.shape[0]}; "
                        "they must describe the same users in the same order")
    if recs.size and recs.max() >= rel.shape[1]:
        raise DataError(f"recommended holds item index {int(recs.max())} but relevant has only "
                        f"{rel.shape[1]} items")
    if k is None:
        k = recs.shape[1]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"k must be an integer >= 1, got {k!r}")
    recs = recs[:, :k].astype(np.int64, copy=False)
    rel.sort_indices()
    # any positive value is relevant; zeros and negative grades are not
    if rel.nnz and rel.data.min() <= 0:
        rel.data[rel.data <= 0] = 0
        rel.eliminate_zeros()
    return recs, rel, int(k)


def hits_matrix(recommended: Any, relevant: Any, k: int | None = None) -> np.ndarray:
    """Relevance grade of every recommended item (0 where not relevant or padding).

    ``out[r, j]`` is ``relevant[r, recommended[r, j]]``, computed for all rows at once by a
    binary search of the keys ``row * n_items + item`` in the (sorted) CSR.

    Parameters
    ----------
    recommended : array of int, shape (n_rows, list_length)
        Item indices, best first, -1 for padding.
    relevant : scipy.sparse matrix, shape (n_rows, n_items)
    k : int, optional
        Only the first ``k`` columns (default: all).

    Returns
    -------
    numpy.ndarray of float64, shape (n_rows, min(k, list_length))

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> rel = sp.csr_matrix(np.array([[0, 2, 0], [1, 0, 0]], dtype=np.float32))
    >>> hits_matrix(np.array([[1, 0], [2, -1]]), rel).tolist()
    [[2.0, 0.0], [0.0, 0.0]]
    """
    recs, rel, _ = _check_ranking(recommended, relevant, k)
    return _ranking.hits(recs, rel)


def _mean_or_rows(values: np.ndarray, per_user: bool):
    """Per-row values of a shared kernel (NaN: undefined) as rows or their mean."""
    return _finish(values, ~np.isnan(values), per_user)


def _finish(values: np.ndarray, valid: np.ndarray, per_user: bool):
    values = np.where(valid, values, np.nan)
    if per_user:
        return values
    if not valid.any():
        return float("nan")
    return float(np.mean(values[valid]))


# ---------------------------------------------------------------------------------------
# ranking metrics
# ---------------------------------------------------------------------------------------
def precision_at_k(recommended: Any, relevant: Any, k: int | None = None, *,
                   per_user: bool = False):
    """Share of the top-``k`` recommendations that are relevant.

    The denominator is ``k`` even when a list holds fewer than ``k`` items (a short list
    is not rewarded).

    Parameters
    ----------
    recommended : array of int, shape (n_rows, list_length)
        Internal item indices, best first, -1 padding (``Recommendations.item_indices``).
    relevant : scipy.sparse matrix, shape (n_rows, n_items)
        Relevant items per row (any non-zero value counts as relevant).
    k : int, optional
        Cut-off; default the list length.
    per_user : bool
        Return the per-row values (NaN for rows without relevant items) instead of the mean.

    Returns
    -------
    float or numpy.ndarray

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> rel = sp.csr_matrix(np.array([[1, 1, 0, 0]], dtype=np.float32))
    >>> precision_at_k(np.array([[0, 2, 1]]), rel, k=2)
    0.5
    """
    recs, rel, k = _check_ranking(recommended, relevant, k)
    return _mean_or_rows(_ranking.precision(recs, rel, k), per_user)


def recall_at_k(recommended: Any, relevant: Any, k: int | None = None, *,
                per_user: bool = False):
    """Share of each user's relevant items found in the top ``k`` (denominator: all relevant).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> rel = sp.csr_matrix(np.array([[1, 1, 0, 1]], dtype=np.float32))
    >>> recall_at_k(np.array([[0, 2, 1]]), rel, k=2)
    0.3333333333333333
    """
    recs, rel, k = _check_ranking(recommended, relevant, k)
    return _mean_or_rows(_ranking.recall(recs, rel, k), per_user)


def hit_rate_at_k(recommended: Any, relevant: Any, k: int | None = None, *,
                  per_user: bool = False):
    """1 when at least one relevant item is in the top ``k``, else 0 (mean: the hit rate).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> rel = sp.csr_matrix(np.array([[0, 0, 1], [1, 0, 0]], dtype=np.float32))
    >>> hit_rate_at_k(np.array([[2, 0], [1, 2]]), rel, k=2)
    0.5
    """
    recs, rel, k = _check_ranking(recommended, relevant, k)
    return _mean_or_rows(_ranking.hit_rate(recs, rel, k), per_user)


def ndcg_at_k(recommended: Any, relevant: Any, k: int | None = None, *,
              gain: str = "binary", per_user: bool = False):
    """Normalised discounted cumulative gain at ``k``.

    ``DCG = sum_j gain(rel_j) / log2(j + 1)`` over positions ``j = 1..k``; the ideal DCG
    places the user's ``min(k, n_relevant)`` best grades first, so a user with 2 relevant
    items who gets both on top scores 1 at any ``k``.

    Parameters
    ----------
    gain : {"binary", "linear", "exponential"}
        ``binary`` (default): every relevant item gains 1; ``linear``: the relevance value;
        ``exponential``: ``2**value - 1`` (graded relevance, e.g. ratings).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> rel = sp.csr_matrix(np.array([[1, 0, 1]], dtype=np.float32))
    >>> round(ndcg_at_k(np.array([[2, 1, 0]]), rel, k=3), 6)  # hits at ranks 1 and 3
    0.919721
    """
    recs, rel, k = _check_ranking(recommended, relevant, k)
    return _mean_or_rows(_ranking.ndcg(recs, rel, k, gain), per_user)  # checks gain


def map_at_k(recommended: Any, relevant: Any, k: int | None = None, *,
             per_user: bool = False):
    """Mean average precision at ``k``.

    ``AP@k = sum_j P@j * rel_j / min(k, n_relevant)``: the precision at each rank holding a
    relevant item, averaged over the best achievable number of hits.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> rel = sp.csr_matrix(np.array([[1, 0, 1, 0]], dtype=np.float32))
    >>> map_at_k(np.array([[0, 1, 2]]), rel, k=3)  # (1/1 + 2/3) / 2
    0.8333333333333333
    """
    recs, rel, k = _check_ranking(recommended, relevant, k)
    return _mean_or_rows(_ranking.average_precision(recs, rel, k), per_user)


def mrr_at_k(recommended: Any, relevant: Any, k: int | None = None, *,
             per_user: bool = False):
    """Mean reciprocal rank of the first relevant item in the top ``k`` (0 when none).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> rel = sp.csr_matrix(np.array([[0, 0, 1], [1, 0, 0]], dtype=np.float32))
    >>> mrr_at_k(np.array([[0, 2], [1, 2]]), rel, k=2)
    0.25
    """
    recs, rel, k = _check_ranking(recommended, relevant, k)
    return _mean_or_rows(_ranking.reciprocal_rank(recs, rel, k), per_user)


def auc(recommended: Any, relevant: Any, *, per_user: bool = False):
    """Per-user ROC AUC from complete rankings of the candidate items.

    Each row of ``recommended`` must rank **all** candidate items of its user (for the
    top-N protocols: every item the user has not seen in training, e.g.
    ``model.recommend(users, n=n_items).item_indices``; padding marks the end). The AUC is
    the share of (relevant, non-relevant) candidate pairs the ranking orders correctly.
    Relevant items missing from a row (not candidates) are ignored.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> rel = sp.csr_matrix(np.array([[0, 1, 0, 1]], dtype=np.float32))
    >>> auc(np.array([[1, 0, 3, 2]]), rel)  # 3 of the 4 pairs in order
    0.75
    """
    recs, rel, _ = _check_ranking(recommended, relevant, None)
    hits = _ranking.hits(recs, rel) > 0
    listed = recs >= 0
    n_cand = listed.sum(axis=1).astype(np.float64)
    n_pos = hits.sum(axis=1).astype(np.float64)
    n_neg = n_cand - n_pos
    # negatives ranked above each positive: its position minus the positives before it
    positions = np.arange(recs.shape[1], dtype=np.float64)[None, :]
    pos_before = np.cumsum(hits, axis=1) - hits
    wrong = np.where(hits, positions - pos_before, 0.0).sum(axis=1)
    valid = (n_pos > 0) & (n_neg > 0)
    value = 1.0 - wrong / np.where(valid, n_pos * n_neg, 1.0)
    return _finish(value, valid, per_user)


def auc_from_scores(scores: np.ndarray, relevant: Any, exclude: Any = None, *,
                    per_user: bool = False):
    """Per-user ROC AUC from dense score rows (ties count one half).

    Parameters
    ----------
    scores : numpy.ndarray, shape (n_rows, n_items)
        Model scores of every item for each user (pass a block of users at a time).
    relevant : scipy.sparse matrix, shape (n_rows, n_items)
    exclude : scipy.sparse matrix, optional
        Items that are not candidates (e.g. the training interactions); they are neither
        positives nor negatives.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> rel = sp.csr_matrix(np.array([[0, 1, 0, 1]], dtype=np.float32))
    >>> auc_from_scores(np.array([[0.8, 0.9, 0.1, 0.2]]), rel)
    0.75
    """
    from scipy.stats import rankdata

    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or not sp.issparse(relevant) or scores.shape != relevant.shape:
        raise DataError("scores must be 2-D and relevant a sparse matrix of the same shape")
    pos = np.asarray(sp.csr_matrix(relevant).astype(bool).toarray())
    cand = np.ones(scores.shape, dtype=bool)
    if exclude is not None:
        cand &= ~np.asarray(sp.csr_matrix(exclude).astype(bool).toarray())
    pos &= cand
    masked = np.where(cand, scores, np.nan)
    ranks = rankdata(masked, axis=1, nan_policy="omit")  # ascending, average ties
    n_pos = pos.sum(axis=1).astype(np.float64)
    n_neg = cand.sum(axis=1) - n_pos
    rank_sum = np.where(pos, ranks, 0.0).sum(axis=1)
    valid = (n_pos > 0) & (n_neg > 0)
    u_stat = rank_sum - n_pos * (n_pos + 1) / 2
    return _finish(u_stat / np.where(valid, n_pos * n_neg, 1.0), valid, per_user)


# ---------------------------------------------------------------------------------------
# beyond accuracy
# ---------------------------------------------------------------------------------------
def _check_lists(recommended: Any) -> np.ndarray:
    recs = np.asarray(recommended)
    if recs.ndim == 1:
        recs = recs.reshape(1, -1)
    if recs.ndim != 2 or recs.dtype.kind not in "iu":
        raise DataError("recommended must be a 2-D integer array of item indices (-1 padding)")
    return recs.astype(np.int64, copy=False)


def catalogue_coverage(recommended: Any, n_items: int) -> float:
    """Share of the catalogue that appears in at least one recommendation list.

    Examples
    --------
    >>> catalogue_coverage(np.array([[0, 1], [1, -1]]), n_items=4)
    0.5
    """
    recs = _check_lists(recommended)
    if isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer)) or n_items < 1:
        raise ConfigError(f"n_items must be an integer >= 1, got {n_items!r}")
    listed = recs[recs >= 0]
    if listed.size and listed.max() >= n_items:
        raise DataError(f"recommended holds item index {int(listed.max())} >= n_items={n_items}")
    return float(len(np.unique(listed)) / n_items)


def _list_mean(values: np.ndarray, recs: np.ndarray, per_user: bool):
    listed = recs >= 0
    picked = np.where(listed, values[np.where(listed, recs, 0)], 0.0)
    counts = listed.sum(axis=1)
    per = picked.sum(axis=1) / np.maximum(counts, 1)
    return _finish(per, counts > 0, per_user)


def novelty(recommended: Any, item_counts: Any, n_users: int, *, per_user: bool = False):
    """Mean self-information ``-log2 p(i)`` of the recommended items.

    ``p(i)`` is the share of (training) users who interacted with item ``i``; an item
    nobody interacted with gets ``p = 1 / n_users`` (the rarest observable), so the value
    stays finite. Higher means less popular, more novel recommendations.

    Parameters
    ----------
    item_counts : array of int, shape (n_items,)
        Number of users who interacted with each item (``model.item_popularity_``).
    n_users : int
        Number of users those counts come from.

    Examples
    --------
    >>> novelty(np.array([[0, 1]]), np.array([4, 1]), n_users=4)  # (0 + 2) / 2
    1.0
    """
    recs = _check_lists(recommended)
    counts = np.asarray(item_counts, dtype=np.float64)
    if isinstance(n_users, bool) or not isinstance(n_users, (int, np.integer)) or n_users < 1:
        raise ConfigError(f"n_users must be an integer >= 1, got {n_users!r}")
    info = -np.log2(np.maximum(counts, 1.0) / n_users)
    return _list_mean(info, recs, per_user)


def average_recommendation_popularity(recommended: Any, item_counts: Any, *,
                                      per_user: bool = False):
    """Mean (training) popularity count of the recommended items (lower: less pop bias).

    Examples
    --------
    >>> average_recommendation_popularity(np.array([[0, 1], [1, -1]]), np.array([10, 2]))
    4.0
    """
    recs = _check_lists(recommended)
    return _list_mean(np.asarray(item_counts, dtype=np.float64), recs, per_user)


def intra_list_diversity(recommended: Any, item_vectors: Any, *, per_user: bool = False):
    """1 - mean pairwise cosine similarity of the items within each list.

    Parameters
    ----------
    recommended : array of int, shape (n_rows, list_length)
    item_vectors : numpy.ndarray or scipy.sparse matrix, shape (n_items, n_features)
        One vector per item (genres, embeddings, or interaction columns). Items with an
        all-zero vector have cosine 0 with everything.

    Notes
    -----
    The sum of pairwise cosines of a list is ``(||sum_j u_j||^2 - sum_j ||u_j||^2) / 2``
    for unit vectors ``u_j``, so each list costs one sparse product, not ``k^2`` dot
    products. Lists with fewer than two items get NaN.

    Examples
    --------
    >>> vecs = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    >>> intra_list_diversity(np.array([[0, 1, 2]]), vecs)  # cosines 0, 1, 0
    0.6666666666666667
    """
    recs = _check_lists(recommended)
    n_items = item_vectors.shape[0]
    listed = recs >= 0
    if listed.any() and recs[listed].max() >= n_items:
        raise DataError(f"recommended holds item index {int(recs[listed].max())} but only "
                        f"{n_items} item vectors were given")
    if sp.issparse(item_vectors):
        v = sp.csr_matrix(item_vectors, dtype=np.float64)
        norms = np.sqrt(np.asarray(v.multiply(v).sum(axis=1)).ravel())
        unit = sp.diags(np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1), 0.0)) @ v
    else:
        v = np.asarray(item_vectors, dtype=np.float64)
        norms = np.linalg.norm(v, axis=1)
        unit = v / np.where(norms > 0, norms, 1.0)[:, None]
    rows = np.repeat(np.arange(recs.shape[0]), listed.sum(axis=1))
    indicator = sp.csr_matrix((np.ones(len(rows)), (rows, recs[listed])),
                              shape=(recs.shape[0], n_items))
    summed = indicator @ unit
    if sp.issparse(summed):
        sq = np.asarray(summed.multiply(summed).sum(axis=1)).ravel()
    else:
        sq = np.einsum("ij,ij->i", summed, summed)
    self_sim = indicator @ (norms > 0).astype(np.float64)
    m = listed.sum(axis=1).astype(np.float64)
    pairs = m * (m - 1) / 2
    mean_cos = (sq - self_sim) / 2 / np.where(pairs > 0, pairs, 1.0)
    return _finish(1.0 - mean_cos, pairs > 0, per_user)
