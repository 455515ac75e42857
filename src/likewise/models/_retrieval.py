"""Top-N retrieval: the one place where scores, neighbour lists or an index become ranked lists.

Every query of the model contract (``recommend``, ``recommend_from_history``,
``similar_items``, ``similar_users``) ends here, through :func:`retrieve`. A query block
is described by a :class:`Request`: the list length ``n``, the items each row must skip
(seen items, ``exclude=``, the query item itself: all one :class:`ItemSets`) and the
items each row may return (``candidates=``, or all). The scores come from one of three
sources:

``scores``
    a dense ``(rows, n_items)`` block (exact path): one fused numba pass keeps the best
    ``n`` per row while skipping the row's skip set read from CSR arrays, no mask built;
``ranked``
    lists already in best-first order (a model's own neighbour lists);
``index``
    an approximate or exact :class:`~likewise.index.Index` searched with one query vector
    per row; it over-fetches by the largest skip set in the block so that dropping the
    skipped items still leaves ``n``, and adds an optional per-row score offset.

``ranked`` and ``index`` results are filtered by the same code (:func:`_filter_ranked`),
so the over-fetch logic exists once. Output is always ``(rows, n)`` int64 item indices
(-1 padding) and float32 scores (NaN padding), best first, ties to the lower index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["ItemSets", "Request", "retrieve"]

_INT = np.int64


@dataclass(frozen=True)
class ItemSets:
    """Per-row sets of item indices as CSR parts (indices sorted and unique within a row).

    Attributes
    ----------
    indptr : numpy.ndarray
        ``(rows + 1,)`` int64 row pointer.
    indices : numpy.ndarray
        int64 item indices of all rows, concatenated.
    """

    indptr: np.ndarray
    indices: np.ndarray

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    @property
    def is_empty(self) -> bool:
        return len(self.indices) == 0

    @classmethod
    def empty(cls, n_rows: int) -> ItemSets:
        """No items for any of ``n_rows`` rows."""
        return cls(np.zeros(n_rows + 1, _INT), np.empty(0, _INT))

    @classmethod
    def shared(cls, items: np.ndarray, n_rows: int) -> ItemSets:
        """The same item set for each of ``n_rows`` rows."""
        items = np.unique(np.asarray(items, dtype=_INT))
        return cls(np.arange(n_rows + 1, dtype=_INT) * len(items), np.tile(items, n_rows))

    @classmethod
    def one_each(cls, items: np.ndarray) -> ItemSets:
        """Row ``r`` holds the single item ``items[r]`` (a negative item means none)."""
        items = np.asarray(items, dtype=_INT)
        has = items >= 0
        return cls(_row_pointer(has), items[has])

    @classmethod
    def rows_of(cls, matrix: sp.csr_matrix, rows: np.ndarray) -> ItemSets:
        """The column indices of ``rows`` of a CSR matrix with sorted, unique indices.

        One row (a request) is sliced directly: microseconds, not the tens of
        microseconds of building a sparse matrix; blocks use SciPy's row gather.
        """
        rows = np.asarray(rows, dtype=_INT)
        if len(rows) == 1:  # one user: plain slicing
            lo, hi = int(matrix.indptr[rows[0]]), int(matrix.indptr[rows[0] + 1])
            return cls(np.array([0, hi - lo], dtype=_INT), matrix.indices[lo:hi].astype(_INT))
        sub = matrix[rows]  # SciPy's one-pass row gather (C++), the fastest for blocks
        return cls(sub.indptr.astype(_INT), sub.indices.astype(_INT))

    @classmethod
    def from_lists(cls, lists: list[np.ndarray]) -> ItemSets:
        """One (unsorted, possibly repeated) array of item indices per row."""
        return cls._from_pairs(np.repeat(np.arange(len(lists), dtype=_INT),
                                         [len(x) for x in lists]),
                               np.concatenate([np.asarray(x, _INT) for x in lists])
                               if lists else np.empty(0, _INT), len(lists))

    def take(self, rows: np.ndarray) -> ItemSets:
        """The sets of ``rows`` (positions into this object's rows)."""
        rows = np.asarray(rows, dtype=_INT)
        starts = self.indptr[rows]
        lengths = self.indptr[rows + 1] - starts
        indptr = _row_pointer(lengths)
        offsets = np.arange(int(indptr[-1]), dtype=_INT) - np.repeat(indptr[:-1], lengths)
        return ItemSets(indptr, self.indices[np.repeat(starts, lengths) + offsets])

    def union(self, other: ItemSets | None) -> ItemSets:
        """Row-wise union with ``other`` (same number of rows)."""
        if other is None or other.is_empty:
            return self
        if self.is_empty:
            return other
        rows = np.concatenate([np.repeat(np.arange(self.n_rows, dtype=_INT), self.lengths),
                               np.repeat(np.arange(other.n_rows, dtype=_INT), other.lengths)])
        return ItemSets._from_pairs(rows, np.concatenate([self.indices, other.indices]),
                                    self.n_rows)

    def keys(self, n_items: int) -> np.ndarray:
        """``row * n_items + item`` for every entry (sorted), for membership tests."""
        return np.repeat(np.arange(self.n_rows, dtype=_INT), self.lengths) * n_items + self.indices

    @classmethod
    def _from_pairs(cls, rows: np.ndarray, items: np.ndarray, n_rows: int) -> ItemSets:
        width = int(items.max()) + 1 if len(items) else 1
        keys = np.unique(rows * width + items)
        rows, items = np.divmod(keys, width)
        return cls(np.searchsorted(rows, np.arange(n_rows + 1)).astype(_INT), items.astype(_INT))


@dataclass(frozen=True)
class Request:
    """What a block of queries asks for.

    Attributes
    ----------
    n : int
        Results per row (already clamped to the number of items).
    n_items : int
        Size of the item space the indices refer to.
    skip : ItemSets
        Items each row must not return (seen items, exclusions, the query item).
    candidates : ItemSets or None
        Items each row may return; None means every item.
    allowed : (n_items,) bool array or None
        Items any row may return at all (a model's trained items); None means every
        item. A mask, not a skip set, because it is the same for every row.
    """

    n: int
    n_items: int
    skip: ItemSets
    candidates: ItemSets | None = None
    allowed: np.ndarray | None = None


def retrieve(request: Request, *, scores: np.ndarray | None = None,
             ranked: tuple[np.ndarray, np.ndarray] | None = None,
             index=None, vectors: np.ndarray | None = None,
             offset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The best ``request.n`` items per row from exactly one source (see the module docstring).

    Parameters
    ----------
    request : Request
    scores : (rows, n_items) array, optional
        Dense scores; NaN and -inf never qualify.
    ranked : (indices, scores), optional
        Best-first lists per row (index -1 = padding), longer than ``n`` when they may
        contain skipped items.
    index : likewise.index.Index, optional
        Searched with ``vectors`` (one per row); its positions are item indices and its
        scores are higher-is-better (``dot`` or ``cosine``).
    offset : (rows,) array, optional
        Added to every index score of a row (a factor model's per-user constant).

    Returns
    -------
    (indices, scores)
        ``(rows, n)`` int64 and float32, best first; padding is -1 / NaN.
    """
    if sum(x is not None for x in (scores, ranked, index)) != 1:
        raise ValueError("retrieve takes exactly one of scores=, ranked=, index=")
    if scores is not None:
        return _top_of_scores(request, scores)
    if index is not None:
        k = int(min(request.n_items, request.n + request.skip.lengths.max(initial=0)))
        found = index.query(np.asarray(vectors, dtype=np.float32), k)
        pos, vals = found.positions, found.scores.astype(np.float32)
        if offset is not None:
            vals = vals + np.asarray(offset, dtype=np.float32)[:, None]
        ranked = (pos, vals)
    return _filter_ranked(request, *ranked)


def _top_of_scores(request: Request, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from ._topk import top_n_masked

    scores = np.asarray(scores, dtype=np.float32)
    if request.allowed is not None:
        # in place on a block the caller handed over (a model's _score returns a fresh
        # array, as the contract says): a second (rows x items) copy per block doubles the
        # memory in flight, and glibc then returns it to the OS after every call, so each
        # block pays its page faults again (recommend for all MovieLens 100K users: 20 vs
        # 6 ms)
        if not (scores.flags.writeable and scores.flags.owndata):
            scores = scores.copy()
        scores[:, np.flatnonzero(~request.allowed)] = -np.inf
    if request.candidates is not None:
        scores = _only_candidates(scores, request.candidates)
    return top_n_masked(scores, request.skip.indptr, request.skip.indices, request.n)


def _only_candidates(scores: np.ndarray, candidates: ItemSets) -> np.ndarray:
    """A copy of ``scores`` with -inf wherever the row's candidate set has no entry."""
    allowed = np.zeros(scores.shape, dtype=bool)
    rows = np.repeat(np.arange(candidates.n_rows), candidates.lengths)
    allowed[rows, candidates.indices] = True
    return np.where(allowed, scores, np.float32(-np.inf))


def _filter_ranked(request: Request, pos: np.ndarray,
                   vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep, per row and in order, the first ``n`` entries that are real, finite, not
    skipped and (when given) candidates."""
    pos = np.asarray(pos, dtype=_INT)
    vals = np.asarray(vals, dtype=np.float32)
    n, n_items = request.n, request.n_items
    keep = (pos >= 0) & np.isfinite(vals)
    if request.allowed is not None:
        keep &= request.allowed[np.maximum(pos, 0)]
    keys = np.arange(len(pos), dtype=_INT)[:, None] * n_items + np.maximum(pos, 0)
    if not request.skip.is_empty:
        keep &= ~_sorted_member(keys, request.skip.keys(n_items))
    if request.candidates is not None:
        keep &= _sorted_member(keys, request.candidates.keys(n_items))
    rank = np.cumsum(keep, axis=1) - 1
    take = keep & (rank < n)
    out_idx = np.full((len(pos), n), -1, dtype=_INT)
    out_vals = np.full((len(pos), n), np.nan, dtype=np.float32)
    r, c = np.nonzero(take)
    out_idx[r, rank[r, c]] = pos[r, c]
    out_vals[r, rank[r, c]] = vals[r, c]
    return out_idx, out_vals


def _row_pointer(lengths: np.ndarray) -> np.ndarray:
    """CSR row pointer ``[0, cumsum(lengths)]`` as int64 (``np.r_`` costs ~10 us a call)."""
    indptr = np.zeros(len(lengths) + 1, dtype=_INT)
    np.cumsum(lengths, out=indptr[1:])
    return indptr


def _sorted_member(values: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """Element-wise ``values in sorted_keys`` by binary search (keys sorted ascending)."""
    if len(sorted_keys) == 0:
        return np.zeros(values.shape, dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, values), len(sorted_keys) - 1)
    return sorted_keys[at] == values
