"""The core data type: who interacted with what, as a sparse users x items matrix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import ConfigError, DataError
from .vocabulary import Vocabulary

__all__ = ["Interactions", "DUPLICATE_POLICIES"]

#: How repeated (user, item) rows are merged. ``last``/``first`` order by timestamp when
#: there is one, else by position in the input; ``error`` rejects duplicates.
DUPLICATE_POLICIES = ("last", "first", "mean", "sum", "max", "error")


@dataclass(frozen=True)
class _Entries:
    users: np.ndarray
    items: np.ndarray
    values: np.ndarray
    timestamps: np.ndarray | None


class Interactions:
    """Users x items interactions held as a CSR matrix with id vocabularies.

    Build one with :meth:`from_arrays`, :func:`likewise.read_csv`,
    :func:`likewise.read_parquet` or :func:`likewise.datasets.movielens`.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
        ``n_users x n_items``, float32, canonical (sorted indices, no duplicates).
        Explicit data holds ratings, implicit data holds weights (1 or counts).
    users, items : Vocabulary
        External ids for rows and columns.
    timestamps : numpy.ndarray or None
        int64 seconds aligned with ``matrix.data`` (same CSR order), or None.
    kind : {"explicit", "implicit"}
    rating_scale : tuple of float or None
        ``(lowest, highest)`` rating for explicit data.
    item_metadata, user_metadata : pandas.DataFrame or None
        Tables indexed by external id (not every id needs a row).

    Examples
    --------
    >>> data = Interactions.from_arrays(["u1", "u1", "u2"], [10, 20, 10], [4.0, 3.0, 5.0])
    >>> data.n_users, data.n_items, data.kind
    (2, 2, 'explicit')
    """

    def __init__(self, matrix: sp.csr_matrix, users: Vocabulary, items: Vocabulary, *,
                 kind: str, timestamps: np.ndarray | None = None,
                 rating_scale: tuple[float, float] | None = None,
                 item_metadata=None, user_metadata=None, source: str | None = None):
        if kind not in ("explicit", "implicit"):
            raise ConfigError(f"kind must be 'explicit' or 'implicit', got {kind!r}")
        if matrix.shape != (len(users), len(items)):
            raise DataError(
                f"matrix shape {matrix.shape} does not match vocabularies "
                f"({len(users)} users, {len(items)} items)"
            )
        if timestamps is not None and len(timestamps) != matrix.nnz:
            raise DataError("timestamps must align with the matrix entries")
        self.matrix = matrix
        self.users = users
        self.items = items
        self.kind = kind
        self.timestamps = timestamps
        self.rating_scale = None if rating_scale is None else (float(rating_scale[0]),
                                                               float(rating_scale[1]))
        self.item_metadata = item_metadata
        self.user_metadata = user_metadata
        self.source = source
        self._user_indices: np.ndarray | None = None

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_arrays(cls, users: Any, items: Any, ratings: Any = None, timestamps: Any = None, *,
                    kind: str | None = None, rating_scale: tuple[float, float] | None = None,
                    duplicates: str | None = None, user_vocab: Vocabulary | None = None,
                    item_vocab: Vocabulary | None = None, item_metadata=None,
                    user_metadata=None, source: str | None = None) -> "Interactions":
        """Build interactions from parallel arrays of ids, ratings and timestamps.

        Parameters
        ----------
        users, items : array-like
            External ids (integers or strings), one per row.
        ratings : array-like, optional
            Ratings (explicit) or weights (implicit). Without them the data is implicit
            with weight 1 per row.
        timestamps : array-like, optional
            Integer seconds; used to order duplicates and by temporal splits.
        kind : {"explicit", "implicit"}, optional
            Default: explicit when ``ratings`` are given, implicit otherwise.
        rating_scale : (low, high), optional
            Declared scale of explicit ratings; values outside it are rejected. Default:
            the observed minimum and maximum.
        duplicates : {"last", "first", "mean", "sum", "max", "error"}, optional
            How repeated (user, item) rows are merged. Default ``"last"`` for explicit data
            (the latest rating wins: by timestamp, else by row order) and ``"sum"`` for
            implicit data (repeated clicks add up).
        user_vocab, item_vocab : Vocabulary, optional
            Use these vocabularies (ids outside them raise :class:`DataError`) instead of
            building sorted ones from the data.
        """
        from ..errors import UnknownIdError

        users_arr = np.asarray(users)
        items_arr = np.asarray(items)
        n = len(users_arr)
        if len(items_arr) != n:
            raise DataError(f"users and items have different lengths ({n} vs {len(items_arr)})",
                            path=source)
        kind, duplicates = _kind_and_duplicates(kind, duplicates, ratings is not None)

        try:
            # lists go to the vocabulary as given: NumPy would turn Python ints beyond
            # int64 into floats, and True next to ints into 1
            users_in = users if isinstance(users, (list, tuple)) else users_arr
            items_in = items if isinstance(items, (list, tuple)) else items_arr
            if user_vocab is None:
                user_vocab, u = Vocabulary.from_values(users_in, what="user ids")
            else:
                u = user_vocab.index(users_in, what="user id")
            if item_vocab is None:
                item_vocab, i = Vocabulary.from_values(items_in, what="item ids")
            else:
                i = item_vocab.index(items_in, what="item id")
        except UnknownIdError as exc:
            raise DataError(f"{exc} (not in the given vocabulary)", path=source) from None
        except DataError as exc:
            raise DataError(exc.reason, path=source) from None

        values = _values(ratings, n, source)
        if kind == "explicit" and n:
            rating_scale = _scale(np.ones(n, np.float32) if values is None else values,
                                  rating_scale, source)
        ts = _timestamps(timestamps, n, source)
        # from_codes may keep the arrays it is given: never let the result alias the
        # caller's arrays
        if values is not None and np.may_share_memory(values, ratings):
            values = values.copy()
        if ts is not None and np.may_share_memory(ts, timestamps):
            ts = ts.copy()
        return cls.from_codes(u, i, values, ts, users=user_vocab, items=item_vocab, kind=kind,
                              rating_scale=rating_scale, duplicates=duplicates,
                              item_metadata=item_metadata, user_metadata=user_metadata,
                              source=source)

    @classmethod
    def from_codes(cls, user_idx: Any, item_idx: Any, values: Any = None,
                   timestamps: Any = None, *, users: Vocabulary, items: Vocabulary,
                   kind: str | None = None, rating_scale: tuple[float, float] | None = None,
                   duplicates: str | None = None, item_metadata=None, user_metadata=None,
                   source: str | None = None, assume_sorted: bool = False) -> "Interactions":
        """Build interactions from rows already coded against vocabularies.

        Like :meth:`from_arrays`, but ``user_idx``/``item_idx`` are positions in ``users``
        and ``items`` (no id lookup): the constructor for readers and other code that has
        coded its ids already. Rows sorted by (user, item) without repeats are detected in
        one O(n) pass and need no sort. The arrays may be used without a copy: do not
        modify them afterwards.

        Parameters
        ----------
        user_idx, item_idx : array-like of int
            Row and column of each interaction, in ``[0, len(users))`` / ``[0, len(items))``.
        values, timestamps, kind, rating_scale, duplicates
            As in :meth:`from_arrays` (``values`` are ratings or implicit weights).
        users, items : Vocabulary
            The vocabularies the codes refer to.
        assume_sorted : bool
            The caller knows the rows are sorted by (user, item) without repeats; this is
            verified (one O(n) pass) and a :class:`DataError` is raised when it is wrong.

        Examples
        --------
        >>> from likewise.data import Vocabulary
        >>> users, items = Vocabulary.from_values(["a", "b"])[0], Vocabulary.from_values([7])[0]
        >>> Interactions.from_codes([0, 1], [0, 0], [4.0, 2.0], users=users, items=items).nnz
        2
        """
        from ._kernels import sorted_unique

        u = np.asarray(user_idx)
        i = np.asarray(item_idx)
        n = len(u)
        if len(i) != n:
            raise DataError(f"users and items have different lengths ({n} vs {len(i)})",
                            path=source)
        if u.dtype.kind not in "iu" or i.dtype.kind not in "iu":
            raise DataError("user_idx and item_idx must be integer codes", path=source)
        kind, duplicates = _kind_and_duplicates(kind, duplicates, values is not None)
        ordered = sorted_unique(u, i)
        for what, codes, size in (("user", u, len(users)), ("item", i, len(items))):
            if not n:
                continue
            # sorted user codes have their range at the ends
            low, high = (int(codes[0]), int(codes[-1])) if ordered and what == "user" \
                else (int(codes.min()), int(codes.max()))
            if low < 0 or high >= size:
                raise DataError(f"{what} codes must lie in [0, {size}) (the {what} "
                                f"vocabulary's size); got {low}..{high}", path=source)
        values, rating_scale, ts = _checked_columns(values, timestamps, n, kind, rating_scale,
                                                    source)
        if assume_sorted and not ordered:
            raise DataError("assume_sorted=True but the rows are not sorted by (user, item) "
                            "without repeats", path=source)
        if ordered and n:
            # already CSR order: the row pointer is all that is missing; each row starts
            # where its code first appears (no n-sized pass)
            indptr = np.searchsorted(u, np.arange(len(users) + 1, dtype=u.dtype))
            matrix = _sorted_csr(values, i, indptr, len(users), len(items))
            ts_sorted = ts
        else:
            matrix, ts_sorted = _build_csr(u, i, values, ts, len(users), len(items),
                                           duplicates, source or "input")
        return cls(matrix, users, items, kind=kind, timestamps=ts_sorted,
                   rating_scale=rating_scale if kind == "explicit" else None,
                   item_metadata=item_metadata, user_metadata=user_metadata, source=source)

    @classmethod
    def _from_sorted_rows(cls, row_starts: np.ndarray, item_idx: np.ndarray, values,
                          timestamps, *, users: Vocabulary, items: Vocabulary, kind,
                          rating_scale, duplicates, item_metadata, user_metadata,
                          source) -> "Interactions":
        """:meth:`from_codes` for rows already in CSR order, with the row pointer given.

        For the CSV fast path, which proves while parsing that the rows strictly
        increase by (user, item) and finds ``row_starts`` with the user vocabulary, so
        neither needs a pass here; ``item_idx`` are codes it made against ``items``.
        Values and timestamps are checked as in :meth:`from_codes`.
        """
        n = len(item_idx)
        kind, duplicates = _kind_and_duplicates(kind, duplicates, values is not None)
        if len(row_starts) != len(users) + 1 or int(row_starts[-1]) != n:
            raise DataError("row_starts must have one entry per user plus the row count",
                            path=source)
        values, rating_scale, ts = _checked_columns(values, timestamps, n, kind, rating_scale,
                                                    source)
        return cls(_sorted_csr(values, item_idx, row_starts, len(users), len(items)), users,
                   items, kind=kind, timestamps=ts,
                   rating_scale=rating_scale if kind == "explicit" else None,
                   item_metadata=item_metadata, user_metadata=user_metadata, source=source)

    # -- basic properties -------------------------------------------------------------
    @property
    def n_users(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_items(self) -> int:
        return self.matrix.shape[1]

    @property
    def nnz(self) -> int:
        return int(self.matrix.nnz)

    def __len__(self) -> int:
        return self.nnz

    @property
    def density(self) -> float:
        cells = self.n_users * self.n_items
        return self.nnz / cells if cells else 0.0

    @property
    def is_explicit(self) -> bool:
        return self.kind == "explicit"

    def __repr__(self) -> str:
        scale = f", scale={self.rating_scale[0]:g}-{self.rating_scale[1]:g}" \
            if self.rating_scale else ""
        return (f"Interactions({self.nnz} {self.kind} interactions, {self.n_users} users, "
                f"{self.n_items} items{scale})")

    # -- entry access -----------------------------------------------------------------
    def user_indices(self) -> np.ndarray:
        """Row index of every stored entry, in CSR order (computed once, read-only)."""
        cached = getattr(self, "_user_indices", None)
        if cached is None or len(cached) != self.matrix.nnz:
            cached = np.repeat(np.arange(self.n_users, dtype=np.int64),
                               np.diff(self.matrix.indptr))
            cached.flags.writeable = False
            self._user_indices = cached
        return cached

    def entries(self) -> _Entries:
        """(user index, item index, value, timestamp) of every entry, in CSR order."""
        return _Entries(self.user_indices(), self.matrix.indices.astype(np.int64),
                        self.matrix.data, self.timestamps)

    def to_frame(self, ids: bool = True):
        """A pandas DataFrame with columns user, item, rating (or weight) and timestamp."""
        import pandas as pd

        e = self.entries()
        value_col = "rating" if self.is_explicit else "weight"
        cols = {
            "user": self.users.ids_of(e.users) if ids else e.users,
            "item": self.items.ids_of(e.items) if ids else e.items,
            value_col: e.values,
        }
        if self.timestamps is not None:
            cols["timestamp"] = self.timestamps
        return pd.DataFrame(cols)

    def take(self, entries: np.ndarray) -> "Interactions":
        """The interactions at ``entries`` (indices or a boolean mask in CSR order).

        The id vocabularies are kept whole, so splits built with ``take`` share them.
        """
        entries = np.asarray(entries)
        if entries.dtype == bool:
            if len(entries) != self.nnz:
                raise DataError("mask length must equal the number of interactions")
            mask = entries
        else:
            mask = np.zeros(self.nnz, dtype=bool)
            mask[entries.astype(np.int64)] = True
        m = self.matrix
        rows = self.user_indices()[mask]
        indptr = np.zeros(self.n_users + 1, dtype=m.indptr.dtype)
        np.cumsum(np.bincount(rows, minlength=self.n_users), out=indptr[1:])
        sub = sp.csr_matrix((m.data[mask], m.indices[mask], indptr), shape=m.shape)
        sub.has_sorted_indices = True
        ts = None if self.timestamps is None else self.timestamps[mask]
        return self._replace(matrix=sub, timestamps=ts)

    def _replace(self, **changes) -> "Interactions":
        kw = dict(matrix=self.matrix, users=self.users, items=self.items, kind=self.kind,
                  timestamps=self.timestamps, rating_scale=self.rating_scale,
                  item_metadata=self.item_metadata, user_metadata=self.user_metadata,
                  source=self.source)
        kw.update(changes)
        matrix, users, items = kw.pop("matrix"), kw.pop("users"), kw.pop("items")
        return Interactions(matrix, users, items, **kw)

    def compact(self) -> "Interactions":
        """Drop users and items that have no interactions (vocabularies shrink)."""
        return self._subset(np.diff(self.matrix.indptr) > 0,
                            np.bincount(self.matrix.indices, minlength=self.n_items) > 0)

    def _subset(self, keep_users: np.ndarray, keep_items: np.ndarray) -> "Interactions":
        m = self.matrix
        entry_mask = keep_users[self.user_indices()] & keep_items[m.indices]
        user_map = np.cumsum(keep_users) - 1
        item_map = np.cumsum(keep_items) - 1
        rows = user_map[self.user_indices()[entry_mask]]
        n_users, n_items = int(keep_users.sum()), int(keep_items.sum())
        indptr = np.zeros(n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_users), out=indptr[1:])
        sub = sp.csr_matrix((m.data[entry_mask], item_map[m.indices[entry_mask]].astype(np.int32),
                             indptr), shape=(n_users, n_items))
        sub.has_sorted_indices = True  # item_map is monotone, so order is kept
        ts = None if self.timestamps is None else self.timestamps[entry_mask]
        return self._replace(matrix=sub, users=self.users.take(np.flatnonzero(keep_users)),
                             items=self.items.take(np.flatnonzero(keep_items)), timestamps=ts)

    def as_implicit(self, threshold: float | None = None, *, keep_values: bool = False
                    ) -> "Interactions":
        """An implicit view: each (user, item) becomes a like with weight 1.

        Parameters
        ----------
        threshold : float, optional
            Keep only entries whose rating is at least this (e.g. 4 stars = "liked");
            default keeps every entry. Users and items keep their vocabularies.
        keep_values : bool
            Use the ratings as implicit weights (confidence) instead of 1.

        Examples
        --------
        >>> from likewise.datasets import movielens
        >>> movielens().as_implicit(threshold=4).nnz
        55375
        """
        data = self
        if threshold is not None:
            data = self.take(self.matrix.data >= threshold)
        matrix = data.matrix.copy()
        if not keep_values:
            matrix.data = np.ones_like(matrix.data)
        return data._replace(matrix=matrix, kind="implicit", rating_scale=None)

    # -- filters ----------------------------------------------------------------------
    def filter(self, *, min_user_interactions: int = 1, min_item_interactions: int = 1,
               top_users: int | None = None, top_items: int | None = None,
               iterate: bool = False) -> "Interactions":
        """Keep active users and popular items (the long-tail filter).

        Parameters
        ----------
        min_user_interactions, min_item_interactions : int
            Drop users / items with fewer interactions.
        top_users, top_items : int, optional
            Keep only the N most active users / most interacted items (ties by index).
        iterate : bool
            Repeat the minimum-count filters until stable (dropping items can push users
            below their minimum and vice versa).

        Examples
        --------
        >>> from likewise.datasets import movielens
        >>> movielens("100k").filter(min_item_interactions=20).n_items
        939
        """
        from .._params import Int, Bool, validate

        validate("Interactions.filter", {
            "min_user_interactions": Int(1), "min_item_interactions": Int(1),
            "top_users": Int(1, none_ok=True), "top_items": Int(1, none_ok=True),
            "iterate": Bool()}, locals())
        data = self
        while True:
            user_counts = np.diff(data.matrix.indptr)
            item_counts = np.bincount(data.matrix.indices, minlength=data.n_items)
            keep_u = user_counts >= min_user_interactions
            keep_i = item_counts >= min_item_interactions
            if top_users is not None and top_users < data.n_users:
                keep_u &= _top_mask(user_counts, top_users)
            if top_items is not None and top_items < data.n_items:
                keep_i &= _top_mask(item_counts, top_items)
            new = data._subset(keep_u, keep_i).compact()
            if not iterate or (new.n_users == data.n_users and new.n_items == data.n_items):
                return new
            data, top_users, top_items = new, None, None

    # -- statistics -------------------------------------------------------------------
    def stats(self) -> dict:
        """Counts, density, rating distribution and long-tail summary as a plain dict."""
        user_counts = np.diff(self.matrix.indptr)
        item_counts = np.bincount(self.matrix.indices, minlength=self.n_items)
        out: dict[str, Any] = {
            "kind": self.kind,
            "users": self.n_users,
            "items": self.n_items,
            "interactions": self.nnz,
            "density": self.density,
            "rating_scale": self.rating_scale,
            "interactions_per_user": _summary(user_counts),
            "interactions_per_item": _summary(item_counts),
        }
        if self.nnz:
            values, counts = np.unique(self.matrix.data, return_counts=True)
            if len(values) <= 20:
                out["value_histogram"] = {float(v): int(c) for v, c in zip(values, counts)}
            else:
                hist, edges = np.histogram(self.matrix.data, bins=10)
                out["value_histogram"] = {f"{edges[k]:.3g}-{edges[k + 1]:.3g}": int(hist[k])
                                          for k in range(len(hist))}
            out["mean_value"] = float(self.matrix.data.mean())
            order = np.sort(item_counts)[::-1]
            head = max(1, int(round(0.2 * self.n_items)))
            out["long_tail"] = {
                "share_of_interactions_on_top_20pct_items": float(order[:head].sum() / self.nnz),
                "items_with_fewer_than_5": int((item_counts < 5).sum()),
                "users_with_fewer_than_5": int((user_counts < 5).sum()),
            }
        if self.timestamps is not None and len(self.timestamps):
            out["time_range"] = (int(self.timestamps.min()), int(self.timestamps.max()))
        return out


def _summary(counts: np.ndarray) -> dict:
    if len(counts) == 0:
        return {"min": 0, "median": 0.0, "mean": 0.0, "max": 0}
    return {"min": int(counts.min()), "median": float(np.median(counts)),
            "mean": float(counts.mean()), "max": int(counts.max())}


def _top_mask(counts: np.ndarray, n: int) -> np.ndarray:
    keep = np.zeros(len(counts), dtype=bool)
    keep[np.argsort(-counts, kind="stable")[:n]] = True
    return keep


def _kind_and_duplicates(kind, duplicates, has_values: bool):
    if kind is None:
        kind = "explicit" if has_values else "implicit"
    if kind not in ("explicit", "implicit"):
        raise ConfigError(f"kind must be 'explicit' or 'implicit', got {kind!r}")
    if duplicates is None:
        duplicates = "last" if kind == "explicit" else "sum"
    if duplicates not in DUPLICATE_POLICIES:
        raise ConfigError(
            f"duplicates must be one of {', '.join(map(repr, DUPLICATE_POLICIES))}; "
            f"got {duplicates!r}"
        )
    return kind, duplicates


def _values(ratings, n, source):
    """Ratings / weights as finite float32 (None stays None)."""
    if ratings is None:
        return None
    values = np.asarray(ratings)
    if values.dtype.kind not in "iuf":
        try:
            values = values.astype(np.float64)
        except (TypeError, ValueError):
            raise DataError("ratings must be numbers", path=source) from None
    values = values.astype(np.float32, copy=False)
    if len(values) != n:
        raise DataError("ratings and ids have different lengths", path=source)
    if not np.isfinite(values.sum(dtype=np.float64)):  # one pass; locate only on failure
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(f"rating at row {row} is missing or not finite; "
                            "drop or fill such rows before loading", path=source)
    return values


def _scale(values, rating_scale, source):
    """The declared scale checked against the values, or the observed one."""
    lo, hi = float(values.min()), float(values.max())
    if rating_scale is None:
        return (lo, hi)
    if rating_scale[0] > rating_scale[1]:
        raise ConfigError(f"rating_scale must be (low, high) with low <= high, "
                          f"got {rating_scale!r}")
    if lo < rating_scale[0] or hi > rating_scale[1]:
        out = (values < rating_scale[0]) | (values > rating_scale[1])
        row = int(np.flatnonzero(out)[0])
        raise DataError(
            f"rating {values[row]:g} at row {row} is outside the declared scale "
            f"{rating_scale[0]:g}-{rating_scale[1]:g}; fix the value or the scale",
            path=source)
    return rating_scale


def _timestamps(timestamps, n, source):
    """Timestamps as int64 seconds (None stays None)."""
    if timestamps is None:
        return None
    ts = np.asarray(timestamps)
    if ts.dtype.kind == "f":
        if not np.all(np.isfinite(ts)) or np.any(ts != np.round(ts)):
            raise DataError("timestamps must be whole seconds (integers)", path=source)
        _check_timestamp_range(ts, np.abs(ts) >= 2.0**63, source)
    elif ts.dtype.kind == "M":
        if np.isnat(ts).any():
            row = int(np.flatnonzero(np.isnat(ts))[0])
            raise DataError(f"timestamp at row {row} is missing (NaT); every row needs one, "
                            "or pass no timestamps", path=source)
        ts = ts.astype("datetime64[s]").astype(np.int64)
    elif ts.dtype.kind == "u":
        _check_timestamp_range(ts, ts >= np.uint64(2**63), source)
    elif ts.dtype.kind != "i":
        raise DataError("timestamps must be integers (Unix seconds)", path=source)
    ts = ts.astype(np.int64, copy=False)
    if len(ts) != n:
        raise DataError("timestamps and ids have different lengths", path=source)
    return ts


def _check_timestamp_range(ts: np.ndarray, out: np.ndarray, source) -> None:
    """A DataError naming the first timestamp beyond int64 (it would wrap or become NaT)."""
    if out.any():
        row = int(np.flatnonzero(out)[0])
        raise DataError(f"timestamp {ts[row].item()} at row {row} is beyond the int64 range "
                        "of Unix seconds; fix the value (timestamps must be integer Unix "
                        "seconds)", path=source)


def _checked_columns(values, timestamps, n: int, kind: str, rating_scale, source):
    """Values (ones when absent), the rating scale (checked or observed) and timestamps,
    as the constructors from codes take them."""
    values = _values(values, n, source)
    if values is None:
        values = np.ones(n, dtype=np.float32)
    if kind == "explicit" and n:
        rating_scale = _scale(values, rating_scale, source)
    return values, rating_scale, _timestamps(timestamps, n, source)


def _sorted_csr(values, item_idx, indptr, n_users: int, n_items: int) -> sp.csr_matrix:
    """The CSR matrix of rows already sorted by (user, item) without repeats (no copy of
    the n-sized arrays when the index dtype allows)."""
    n = len(item_idx)
    index_dtype = np.int32 if max(n_items, n) < 2**31 - 1 else np.int64
    matrix = sp.csr_matrix((values, item_idx.astype(index_dtype, copy=False),
                            np.asarray(indptr).astype(index_dtype)), shape=(n_users, n_items))
    matrix.has_sorted_indices = True
    matrix.has_canonical_format = True
    return matrix


def _build_csr(u, i, values, ts, n_users, n_items, duplicates, source):
    """Canonical CSR (sorted, duplicates merged by policy) and timestamps in CSR order."""
    from ._kernels import sort_pairs

    n = len(u)
    if n == 0:
        m = sp.csr_matrix((n_users, n_items), dtype=np.float32)
        return m, (None if ts is None else np.empty(0, dtype=np.int64))
    perm, indptr = sort_pairs(u, i, n_users)
    u_s, i_s = u[perm], i[perm]
    same = (u_s[1:] == u_s[:-1]) & (i_s[1:] == i_s[:-1])
    if same.any():
        if duplicates == "error":
            k = int(np.flatnonzero(same)[0])
            raise DataError(
                f"duplicate (user, item) rows {int(perm[k])} and {int(perm[k + 1])}; choose a "
                "duplicates policy ('last', 'first', 'mean', 'sum' or 'max')", path=source)
        if ts is not None and duplicates in ("last", "first"):
            # order each duplicate group by time, then by input position
            perm = np.lexsort((np.arange(n), ts, i, u))
            u_s, i_s = u[perm], i[perm]
        starts = np.flatnonzero(np.r_[True, (u_s[1:] != u_s[:-1]) | (i_s[1:] != i_s[:-1])])
        ends = np.r_[starts[1:], n]
        v_s = values[perm]
        if duplicates == "last":
            pick = perm[ends - 1]
            vals = values[pick]
            t_out = None if ts is None else ts[pick]
        elif duplicates == "first":
            pick = perm[starts]
            vals = values[pick]
            t_out = None if ts is None else ts[pick]
        else:
            if duplicates == "sum":
                vals = np.add.reduceat(v_s.astype(np.float64), starts)
            elif duplicates == "mean":
                vals = np.add.reduceat(v_s.astype(np.float64), starts) / (ends - starts)
            else:
                vals = np.maximum.reduceat(v_s, starts)
            t_out = None if ts is None else np.maximum.reduceat(ts[perm], starts)
        rows = u_s[starts]
        cols = i_s[starts]
        indptr = np.zeros(n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_users), out=indptr[1:])
    else:
        cols = i_s
        vals = values[perm]
        t_out = None if ts is None else ts[perm]
    index_dtype = np.int32 if max(n_items, len(cols)) < 2**31 - 1 else np.int64
    m = sp.csr_matrix((np.asarray(vals, dtype=np.float32), cols.astype(index_dtype),
                       indptr.astype(index_dtype)), shape=(n_users, n_items))
    m.has_sorted_indices = True
    m.has_canonical_format = True
    return m, t_out
