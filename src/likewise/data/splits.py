"""Train/test splits of :class:`~likewise.data.interactions.Interactions`.

Every function returns :class:`Split` objects whose ``train`` and ``test`` are built with
:meth:`Interactions.take`, so both keep the *whole* id vocabularies of the input: index
``u`` means the same user in ``train``, ``test`` and the original data, and a model fitted
on ``train`` can be scored on ``test`` without any id translation.

Users and items that appear only in test
----------------------------------------
Because the vocabularies are shared, a user (or item) whose every interaction landed in
test is still a *known id* to a model fitted on ``train``: it has an index but no training
data. Models treat such ids as they treat any id without history (their fallback: global
mean, popularity, zero vectors...). Evaluation should count them as cold-start cases;
:meth:`Split.cold_users` and :meth:`Split.cold_items` list them so they can be reported or
excluded. The per-user splits (:func:`user_holdout`, :func:`temporal_user`,
:func:`user_kfold`) never create cold users (every test user keeps at least ``min_train``
training interactions), but any split can create cold items.

Every split is vectorised (random keys or timestamps ranked inside CSR rows; no Python loop
over users) and deterministic for a given ``random_state``.

Examples
--------
>>> from likewise.datasets import movielens
>>> from likewise import splits
>>> data = movielens("100k")
>>> train, test = splits.holdout(data, test_size=0.2, random_state=42)
>>> train.nnz, test.nnz
(80000, 20000)
>>> train.users is data.users
True
"""

from __future__ import annotations

import datetime as _dt
import numbers
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from .._params import Float, Int, RandomState, check_random_state, validate
from ..errors import ConfigError, DataError
from .interactions import Interactions

#: What ``random_state`` accepts: None (fresh entropy), a non-negative int or a Generator.
RandomStateLike = int | np.random.Generator | None

__all__ = [
    "Split",
    "holdout",
    "kfold",
    "temporal",
    "temporal_user",
    "user_holdout",
    "user_kfold",
]


class Split(NamedTuple):
    """A train/test pair sharing the id vocabularies of the data they came from.

    Unpacks like a tuple: ``train, test = holdout(data)``.

    Attributes
    ----------
    train, test : Interactions
        Disjoint subsets of the original interactions; together they hold every one.
    """

    train: Interactions
    test: Interactions

    def cold_users(self, ids: bool = True) -> np.ndarray:
        """Users with test interactions but none in train.

        Parameters
        ----------
        ids : bool
            Return external ids (default) or indices into the shared vocabulary.

        Examples
        --------
        >>> from likewise.datasets import movielens
        >>> from likewise.data.splits import user_holdout
        >>> len(user_holdout(movielens("100k"), random_state=0).cold_users())
        0
        """
        in_train = np.diff(self.train.matrix.indptr) > 0
        in_test = np.diff(self.test.matrix.indptr) > 0
        idx = np.flatnonzero(in_test & ~in_train)
        return self.test.users.ids_of(idx) if ids else idx

    def cold_items(self, ids: bool = True) -> np.ndarray:
        """Items with test interactions but none in train (see :meth:`cold_users`)."""
        n = self.train.n_items
        in_train = np.bincount(self.train.matrix.indices, minlength=n) > 0
        in_test = np.bincount(self.test.matrix.indices, minlength=n) > 0
        idx = np.flatnonzero(in_test & ~in_train)
        return self.test.items.ids_of(idx) if ids else idx

    def summary(self) -> dict:
        """Row counts and cold-start counts as a plain dict (for logs and the CLI)."""
        return {
            "train": self.train.nnz,
            "test": self.test.nnz,
            "test_users": int((np.diff(self.test.matrix.indptr) > 0).sum()),
            "cold_users": len(self.cold_users(ids=False)),
            "cold_items": len(self.cold_items(ids=False)),
        }


# -- helpers -----------------------------------------------------------------------------

def _check_data(owner: str, data: Any) -> None:
    if not isinstance(data, Interactions):
        raise ConfigError(f"{owner}: data must be an Interactions object "
                          f"(see likewise.read_csv), got {type(data).__name__}")


def _require_timestamps(owner: str, data: Interactions) -> np.ndarray:
    if data.timestamps is None:
        raise DataError(f"{owner} needs timestamps but the data has none; load it with a "
                        "timestamp column (read_csv(..., timestamp='col')) or use a random "
                        "split (holdout, user_holdout)", path=data.source)
    return data.timestamps


def _split(data: Interactions, test_mask: np.ndarray) -> Split:
    return Split(data.take(~test_mask), data.take(test_mask))


def _round_half_up(x: np.ndarray | float) -> np.ndarray:
    # np.round rounds half to even (0.5 -> 0, 2.5 -> 2); a split of 2.5 rows should take 3
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5).astype(np.int64)


def _rank_in_rows(data: Interactions, key: np.ndarray) -> np.ndarray:
    """Rank (0-based, ascending integer ``key``, ties by CSR position) of each entry in its row.

    CSR entries are already grouped by row, so sorting by (row, key) keeps every row's
    block in place and the rank is the sorted position minus the row start. The two keys
    are packed into one int64 (``row * span + key``) when that cannot overflow: one stable
    argsort is ~6x faster than ``np.lexsort`` on 10M+ entries.
    :func:`_rank_in_rows_reference` is the plain version this is tested against.
    """
    n = len(key)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    rows = data.user_indices()
    key = np.asarray(key, dtype=np.int64)
    low = int(key.min())
    span = int(key.max()) - low + 1
    if data.n_users * span < 2**62:
        order = np.argsort(rows * span + (key - low), kind="stable")
    else:  # keys too wide to pack (e.g. nanosecond timestamps): two-key sort
        order = np.lexsort((key, rows))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n, dtype=np.int64) - data.matrix.indptr[rows].astype(np.int64)
    return rank


def _rank_in_rows_reference(data: Interactions, key: np.ndarray) -> np.ndarray:
    """Readable reference of :func:`_rank_in_rows`: sort each row's keys on its own."""
    indptr = data.matrix.indptr
    rank = np.empty(len(key), dtype=np.int64)
    for u in range(data.n_users):
        start, end = indptr[u], indptr[u + 1]
        rank[start + np.argsort(key[start:end], kind="stable")] = np.arange(end - start)
    return rank


def _random_keys(rng: np.random.Generator, n: int) -> np.ndarray:
    # 32 random bits per entry: packs with the row index into one int64 (n_users < 2**30)
    return rng.integers(0, 2**32, size=n, dtype=np.int64)


def _per_user_counts(counts: np.ndarray, test_size: float | None, test_k: int | None,
                     min_train: int) -> np.ndarray:
    """Number of test interactions for each user (0 for users left wholly in train)."""
    if test_k is not None:
        # leave-k-out: every test user gets exactly k; users too small to spare k keep all
        return np.where(counts >= test_k + min_train, test_k, 0).astype(np.int64)
    n_test = _round_half_up(test_size * counts)
    return np.clip(n_test, 0, np.maximum(counts - min_train, 0))


def _per_user_mask(data: Interactions, key: np.ndarray, n_test: np.ndarray,
                   last: bool) -> np.ndarray:
    """Entries whose in-row rank by ``key`` falls in the user's first (or last) ``n_test``."""
    rank = _rank_in_rows(data, key)
    rows = data.user_indices()
    if last:
        counts = np.diff(data.matrix.indptr).astype(np.int64)
        return rank >= (counts - n_test)[rows]
    return rank < n_test[rows]


def _validate_per_user(owner: str, test_size, test_k, min_train) -> None:
    validate(owner, {"test_size": Float(0.0, 1.0, low_open=True, high_open=True, none_ok=True),
                     "test_k": Int(1, none_ok=True), "min_train": Int(0)},
             {"test_size": test_size, "test_k": test_k, "min_train": min_train})
    if test_size is None and test_k is None:
        raise ConfigError(f"{owner}: give test_size (a fraction of each user's interactions) "
                          "or test_k (a number per user); both are None")


# -- random splits -----------------------------------------------------------------------

def holdout(data: Interactions, test_size: float = 0.2,
            random_state: RandomStateLike = None) -> Split:
    """Random holdout over interactions (rows), ignoring who the user is.

    Exactly ``round(test_size * n)`` interactions (half rounded up) go to test, drawn
    uniformly without replacement.

    Parameters
    ----------
    data : Interactions
    test_size : float
        Fraction of interactions in test, in (0, 1).
    random_state : None, int or numpy.random.Generator
        Seed for a reproducible split.

    Returns
    -------
    Split
        ``train`` and ``test`` sharing ``data``'s vocabularies. Users and items whose
        every interaction was drawn into test have no training data (cold start; see
        :meth:`Split.cold_users`); with MovieLens-like data that is rare for users but
        common for items in the long tail.

    Examples
    --------
    >>> from likewise.datasets import movielens
    >>> train, test = holdout(movielens("100k"), test_size=0.1, random_state=0)
    >>> test.nnz
    10000
    """
    _check_data("holdout", data)
    validate("holdout", {"test_size": Float(0.0, 1.0, low_open=True, high_open=True),
                         "random_state": RandomState()},
             {"test_size": test_size, "random_state": random_state})
    rng = check_random_state(random_state)
    n = data.nnz
    n_test = int(_round_half_up(test_size * n))
    mask = np.zeros(n, dtype=bool)
    mask[rng.permutation(n)[:n_test]] = True
    return _split(data, mask)


def user_holdout(data: Interactions, test_size: float | None = 0.2, test_k: int | None = None,
                 min_train: int = 1, random_state: RandomStateLike = None) -> Split:
    """Per-user random holdout: a fraction, or exactly ``test_k``, of each user's interactions.

    Parameters
    ----------
    data : Interactions
    test_size : float, optional
        Fraction of each user's interactions in test, in (0, 1): ``round(test_size * n_u)``
        (half rounded up), capped so that ``min_train`` stay in train. Ignored when
        ``test_k`` is given.
    test_k : int, optional
        Leave-k-out: exactly ``test_k`` random interactions per user go to test.
    min_train : int
        Interactions every user keeps in train. Users with too few interactions to spare
        any (fraction mode: ``n_u <= min_train``; leave-k-out: ``n_u < test_k + min_train``)
        keep **all** of theirs in train and have no test interactions, so every test user
        has training history and (in leave-k-out) exactly ``test_k`` test interactions.
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    Split
        No user is cold (with ``min_train >= 1``); items can be (an item whose only
        interactions were drawn into test).

    Examples
    --------
    >>> from likewise.datasets import movielens
    >>> train, test = user_holdout(movielens("100k"), test_k=1, random_state=0)
    >>> test.nnz  # every MovieLens 100K user has at least 20 ratings
    943
    """
    _check_data("user_holdout", data)
    if test_k is not None:
        test_size = None  # documented: ignored in leave-k-out mode
    _validate_per_user("user_holdout", test_size, test_k, min_train)
    validate("user_holdout", {"random_state": RandomState()}, {"random_state": random_state})
    rng = check_random_state(random_state)
    counts = np.diff(data.matrix.indptr).astype(np.int64)
    n_test = _per_user_counts(counts, test_size, test_k, min_train)
    return _split(data, _per_user_mask(data, _random_keys(rng, data.nnz), n_test, last=False))


# -- temporal splits ---------------------------------------------------------------------

def _cutoff_seconds(cutoff: Any) -> int:
    """Unix seconds from an int/float, a datetime, a numpy datetime64 or an ISO string."""
    if isinstance(cutoff, bool):
        raise ConfigError(f"temporal: cutoff must be Unix seconds, a datetime or an ISO-8601 "
                          f"string, got {cutoff!r}")
    if isinstance(cutoff, numbers.Real):
        if not np.isfinite(cutoff):
            raise ConfigError(f"temporal: cutoff must be finite, got {cutoff!r}")
        return int(np.ceil(cutoff))  # entries at t >= cutoff go to test
    if isinstance(cutoff, _dt.datetime):
        if cutoff.tzinfo is None:
            cutoff = cutoff.replace(tzinfo=_dt.UTC)
        return int(np.ceil(cutoff.timestamp()))
    if isinstance(cutoff, (str, np.datetime64)):
        try:
            return int(np.datetime64(cutoff, "s").astype(np.int64))
        except ValueError:
            pass
    raise ConfigError(f"temporal: cutoff must be Unix seconds, a datetime or an ISO-8601 "
                      f"string such as '1998-01-01', got {cutoff!r}")


def _latest(ts: np.ndarray, n_test: int) -> np.ndarray:
    """Mask of the ``n_test`` latest entries; ties at the boundary go to the later position.

    Equal to taking the last ``n_test`` of ``np.argsort(ts, kind="stable")`` (the
    reference the tests use) but O(n): one selection finds the boundary timestamp.
    """
    n = len(ts)
    mask = np.zeros(n, dtype=bool)
    if n_test <= 0:
        return mask
    if n_test >= n:
        mask[:] = True
        return mask
    boundary = np.partition(ts, n - n_test)[n - n_test]  # the earliest test timestamp
    mask = ts > boundary
    tied = np.flatnonzero(ts == boundary)
    need = n_test - int(mask.sum())
    mask[tied[len(tied) - need:]] = True
    return mask


def temporal(data: Interactions, cutoff: Any = None, test_size: float | None = None) -> Split:
    """Global temporal split: everything from a point in time on is test.

    Parameters
    ----------
    data : Interactions
        Must have timestamps (else :class:`~likewise.DataError`).
    cutoff : int, float, datetime, numpy.datetime64 or str, optional
        Interactions with ``timestamp >= cutoff`` (Unix seconds; a naive datetime or an
        ISO-8601 string is read as UTC) go to test. A cutoff that puts every interaction
        on one side raises :class:`~likewise.ConfigError` (usually a units mistake, e.g.
        milliseconds).
    test_size : float, optional
        Instead of ``cutoff``: the latest ``round(test_size * n)`` interactions go to test
        (ties in time broken by position in the data). Give exactly one of the two.

    Returns
    -------
    Split
        Every test timestamp is >= every train timestamp. Users who only became active
        after the cutoff, and items first seen after it, are cold in test: they are in the
        shared vocabularies but have no training data (:meth:`Split.cold_users`). This is
        the realistic setting, so expect many of them.

    Examples
    --------
    >>> from likewise.datasets import movielens
    >>> train, test = temporal(movielens("100k"), cutoff="1998-03-01")
    >>> int(train.timestamps.max()) < int(test.timestamps.min())
    True
    """
    _check_data("temporal", data)
    if (cutoff is None) == (test_size is None):
        raise ConfigError("temporal: give exactly one of cutoff (a point in time) and "
                          f"test_size (a fraction); got cutoff={cutoff!r}, "
                          f"test_size={test_size!r}")
    ts = _require_timestamps("temporal", data)
    if test_size is not None:
        validate("temporal", {"test_size": Float(0.0, 1.0, low_open=True, high_open=True)},
                 {"test_size": test_size})
        return _split(data, _latest(ts, int(_round_half_up(test_size * data.nnz))))
    seconds = _cutoff_seconds(cutoff)
    mask = ts >= seconds
    if data.nnz and (mask.all() or not mask.any()):
        side = "test" if mask.all() else "train"
        raise ConfigError(
            f"temporal: cutoff {cutoff!r} ({seconds} s) puts every interaction in {side}; "
            f"the data's timestamps run from {int(ts.min())} to {int(ts.max())} "
            "(Unix seconds)")
    return _split(data, mask)


def temporal_user(data: Interactions, test_k: int | None = None,
                  test_size: float | None = None, min_train: int = 1) -> Split:
    """Per-user temporal split: each user's latest interactions go to test.

    Parameters
    ----------
    data : Interactions
        Must have timestamps (else :class:`~likewise.DataError`).
    test_k : int, optional
        Leave-last-k-out: each user's ``test_k`` most recent interactions go to test.
        Default 1 (leave-last-one-out) unless ``test_size`` is given.
    test_size : float, optional
        Instead of ``test_k``: each user's most recent fraction (``round(test_size * n_u)``,
        half rounded up).
    min_train : int
        Interactions every user keeps in train; users too small to spare any keep all of
        theirs in train (as in :func:`user_holdout`).

    Returns
    -------
    Split
        For every user, each test timestamp is >= each of that user's train timestamps.
        Ties in time are broken by item index (deterministic). No user is cold (with
        ``min_train >= 1``); items can be (an item only ever rated as someone's latest).
        Note that test interactions of one user can predate train interactions of
        another: use :func:`temporal` when a global "no future data" guarantee is needed.

    Examples
    --------
    >>> from likewise.datasets import movielens
    >>> train, test = temporal_user(movielens("100k"), test_k=5)
    >>> test.nnz
    4715
    """
    _check_data("temporal_user", data)
    if test_k is not None and test_size is not None:
        raise ConfigError("temporal_user: give test_k or test_size, not both; got "
                          f"test_k={test_k!r}, test_size={test_size!r}")
    if test_k is None and test_size is None:
        test_k = 1
    _validate_per_user("temporal_user", test_size, test_k, min_train)
    ts = _require_timestamps("temporal_user", data)
    counts = np.diff(data.matrix.indptr).astype(np.int64)
    n_test = _per_user_counts(counts, test_size, test_k, min_train)
    return _split(data, _per_user_mask(data, ts, n_test, last=True))


# -- cross-validation --------------------------------------------------------------------

def kfold(data: Interactions, k: int = 5, random_state: RandomStateLike = None) -> Iterator[Split]:
    """K-fold cross-validation over interactions (rows).

    The interactions are shuffled and cut into ``k`` folds whose sizes differ by at most
    one; fold ``f``'s split has fold ``f`` as test and the other folds as train, so every
    interaction is in exactly one test fold.

    Parameters
    ----------
    data : Interactions
    k : int
        Number of folds, >= 2 (and at most the number of interactions).
    random_state : None, int or numpy.random.Generator

    Yields
    ------
    Split
        ``k`` splits, built one at a time. As with :func:`holdout`, users and items can be
        cold in a fold's test.

    Examples
    --------
    >>> from likewise.datasets import movielens
    >>> [test.nnz for _, test in kfold(movielens("100k"), k=4, random_state=0)]
    [25000, 25000, 25000, 25000]
    """
    _check_data("kfold", data)
    validate("kfold", {"k": Int(2), "random_state": RandomState()},
             {"k": k, "random_state": random_state})
    if k > data.nnz:
        raise ConfigError(f"kfold: k must be <= the number of interactions ({data.nnz}), "
                          f"got {k}")
    rng = check_random_state(random_state)
    n = data.nnz
    fold = np.empty(n, dtype=np.int64)
    fold[rng.permutation(n)] = (np.arange(n, dtype=np.int64) * k) // n
    return _folds(data, fold, k)


def _folds(data: Interactions, fold: np.ndarray, k: int) -> Iterator[Split]:
    # a generator of its own so that kfold/user_kfold validate eagerly, on call
    for f in range(k):
        yield _split(data, fold == f)


def user_kfold(data: Interactions, k: int = 5, test_size: float | None = 0.2,
               test_k: int | None = None, min_train: int = 1,
               random_state: RandomStateLike = None) -> Iterator[Split]:
    """K-fold cross-validation over users.

    Users who can spare test interactions (see :func:`user_holdout`) are shuffled and cut
    into ``k`` folds of near-equal size. In fold ``f``'s split, each user of fold ``f``
    puts ``test_size`` of their interactions (or exactly ``test_k``), drawn at random, into
    test; every other user's interactions are all in train. Every eligible user is a test
    user in exactly one fold.

    Parameters
    ----------
    data : Interactions
    k : int
        Number of folds, >= 2 (and at most the number of eligible users).
    test_size, test_k, min_train
        As in :func:`user_holdout`.
    random_state : None, int or numpy.random.Generator

    Yields
    ------
    Split
        ``k`` splits. No user is cold; items can be.

    Examples
    --------
    >>> from likewise.datasets import movielens
    >>> folds = list(user_kfold(movielens("100k"), k=5, test_k=1, random_state=0))
    >>> sorted({test.nnz for _, test in folds})
    [188, 189]
    """
    _check_data("user_kfold", data)
    validate("user_kfold", {"k": Int(2), "random_state": RandomState()},
             {"k": k, "random_state": random_state})
    _validate_per_user("user_kfold", None if test_k is not None else test_size, test_k,
                       min_train)
    rng = check_random_state(random_state)
    counts = np.diff(data.matrix.indptr).astype(np.int64)
    n_test = _per_user_counts(counts, None if test_k is not None else test_size, test_k,
                              min_train)
    eligible = np.flatnonzero(n_test > 0)
    if k > len(eligible):
        raise ConfigError(f"user_kfold: k must be <= the number of users that can spare test "
                          f"interactions ({len(eligible)}), got {k}")
    # one key per entry, drawn once: a user's test rows are the same whichever fold they are in
    key = _random_keys(rng, data.nnz)
    user_fold = np.full(data.n_users, -1, dtype=np.int64)
    m = len(eligible)
    user_fold[eligible[rng.permutation(m)]] = (np.arange(m, dtype=np.int64) * k) // m
    in_test = _per_user_mask(data, key, n_test, last=False)
    entry_fold = np.where(in_test, user_fold[data.user_indices()], -1)
    return _folds(data, entry_fold, k)
