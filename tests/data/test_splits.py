"""Splits: invariants checked by hypothesis on small random data, plus MovieLens 100K."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from likewise import ConfigError, DataError
from likewise.data.interactions import Interactions
from likewise.data.splits import (
    Split,
    holdout,
    kfold,
    temporal,
    temporal_user,
    user_holdout,
    user_kfold,
)
from likewise.datasets import movielens

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


# -- strategies and helpers --------------------------------------------------------------

@st.composite
def interactions(draw, with_timestamps=True):
    """Small explicit data: unique (user, item) pairs, ratings 1-5, many tied timestamps."""
    n_users = draw(st.integers(1, 8))
    n_items = draw(st.integers(1, 8))
    cells = draw(st.lists(st.tuples(st.integers(0, n_users - 1), st.integers(0, n_items - 1)),
                          min_size=1, max_size=40, unique=True))
    n = len(cells)
    users = np.array([f"u{c[0]}" for c in cells])
    items = np.array([100 + c[1] for c in cells])
    ratings = np.array(draw(st.lists(st.integers(1, 5), min_size=n, max_size=n)), dtype=float)
    ts = None
    if with_timestamps:
        ts = np.array(draw(st.lists(st.integers(0, 15), min_size=n, max_size=n)))
    return Interactions.from_arrays(users, items, ratings, ts, rating_scale=(1, 5))


seeds = st.integers(0, 2**32 - 1)


def rows(data: Interactions) -> np.ndarray:
    """Every entry as (user index, item index, value, timestamp), sorted: a multiset."""
    e = data.entries()
    ts = e.timestamps if e.timestamps is not None else np.zeros(len(e.users))
    out = np.column_stack([e.users, e.items, e.values.astype(float), ts.astype(float)])
    return out[np.lexsort(out.T[::-1])]


def assert_partition(data: Interactions, split: Split) -> None:
    """train + test == data as multisets, and no test interaction is in train."""
    train, test = split
    assert isinstance(split, Split)
    assert train.users is data.users and test.users is data.users
    assert train.items is data.items and test.items is data.items
    assert train.nnz + test.nnz == data.nnz
    combined = np.concatenate([rows(train), rows(test)])
    np.testing.assert_array_equal(combined[np.lexsort(combined.T[::-1])], rows(data))
    # (user, item) pairs are unique in data, so overlap of pairs means a leaked row
    overlap = train.matrix.multiply(test.matrix)
    assert overlap.nnz == 0 or not overlap.data.any()
    assert (train.matrix.astype(bool).multiply(test.matrix.astype(bool))).nnz == 0
    for part in split:
        assert part.kind == data.kind and part.rating_scale == data.rating_scale
        assert part.matrix.has_sorted_indices
        if data.timestamps is not None:
            assert len(part.timestamps) == part.nnz


def same_split(a: Split, b: Split) -> bool:
    return all(np.array_equal(rows(x), rows(y)) for x, y in zip(a, b))


def per_user_counts(data: Interactions) -> np.ndarray:
    return np.diff(data.matrix.indptr)


def half_up(x) -> int:
    return int(np.floor(x + 0.5))


# -- holdout -----------------------------------------------------------------------------

@SETTINGS
@given(interactions(), st.floats(0.01, 0.99), seeds)
def test_holdout_partition_size_and_determinism(data, test_size, seed):
    split = holdout(data, test_size=test_size, random_state=seed)
    assert_partition(data, split)
    assert split.test.nnz == half_up(test_size * data.nnz)
    assert same_split(split, holdout(data, test_size=test_size, random_state=seed))
    # a Generator in the same state draws the same split
    gen_split = holdout(data, test_size=test_size, random_state=np.random.default_rng(seed))
    assert same_split(split, gen_split)


# -- per-user holdout ---------------------------------------------------------------------

@SETTINGS
@given(interactions(), st.floats(0.01, 0.99), st.integers(0, 3), seeds)
def test_user_holdout_fraction(data, test_size, min_train, seed):
    split = user_holdout(data, test_size=test_size, min_train=min_train, random_state=seed)
    assert_partition(data, split)
    n = per_user_counts(data)
    n_train, n_test = per_user_counts(split.train), per_user_counts(split.test)
    expected = np.clip(np.floor(test_size * n + 0.5), 0, np.maximum(n - min_train, 0))
    np.testing.assert_array_equal(n_test, expected)
    # every user keeps min_train (or all they have) in train
    assert np.all(n_train >= np.minimum(n, min_train))
    assert np.all(n_test[n <= min_train] == 0)
    assert same_split(split, user_holdout(data, test_size=test_size, min_train=min_train,
                                          random_state=seed))
    if min_train >= 1:
        assert len(split.cold_users()) == 0


@SETTINGS
@given(interactions(), st.integers(1, 4), st.integers(0, 3), seeds)
def test_user_holdout_leave_k_out(data, test_k, min_train, seed):
    split = user_holdout(data, test_k=test_k, min_train=min_train, random_state=seed)
    assert_partition(data, split)
    n = per_user_counts(data)
    eligible = n >= test_k + min_train
    n_test = per_user_counts(split.test)
    assert np.all(n_test[eligible] == test_k)
    assert np.all(n_test[~eligible] == 0)
    assert np.all(per_user_counts(split.train)[eligible] >= min_train)
    assert same_split(split, user_holdout(data, test_k=test_k, min_train=min_train,
                                          random_state=seed))


# -- temporal ----------------------------------------------------------------------------

@SETTINGS
@given(interactions(), st.floats(0.01, 0.99))
def test_temporal_fraction(data, test_size):
    split = temporal(data, test_size=test_size)
    assert_partition(data, split)
    n_test = half_up(test_size * data.nnz)
    assert split.test.nnz == n_test
    # reference: the last n_test of a stable sort by time (ties keep data order)
    reference = np.argsort(data.timestamps, kind="stable")[data.nnz - n_test:]
    np.testing.assert_array_equal(rows(split.test), rows(data.take(reference)))
    if split.train.nnz and split.test.nnz:
        assert split.train.timestamps.max() <= split.test.timestamps.min()
    assert same_split(split, temporal(data, test_size=test_size))


@SETTINGS
@given(interactions(), st.data())
def test_temporal_cutoff(data, draw):
    ts = data.timestamps
    # cutoffs that leave both sides non-empty
    distinct = np.unique(ts)
    if len(distinct) < 2:
        with pytest.raises(ConfigError, match="every interaction"):
            temporal(data, cutoff=int(distinct[0]))
        return
    cutoff = int(draw.draw(st.sampled_from(distinct[1:].tolist())))
    split = temporal(data, cutoff=cutoff)
    assert_partition(data, split)
    assert np.all(split.test.timestamps >= cutoff)
    assert np.all(split.train.timestamps < cutoff)
    assert split.train.timestamps.max() <= split.test.timestamps.min()


@SETTINGS
@given(interactions(), st.integers(1, 3), st.integers(0, 2))
def test_temporal_user_last_k(data, test_k, min_train):
    split = temporal_user(data, test_k=test_k, min_train=min_train)
    assert_partition(data, split)
    n = per_user_counts(data)
    eligible = n >= test_k + min_train
    n_test = per_user_counts(split.test)
    assert np.all(n_test[eligible] == test_k) and np.all(n_test[~eligible] == 0)
    # per user: every test timestamp >= every train timestamp of that user
    tr, te = split.train, split.test
    for u in range(data.n_users):
        a = tr.timestamps[tr.matrix.indptr[u]:tr.matrix.indptr[u + 1]]
        b = te.timestamps[te.matrix.indptr[u]:te.matrix.indptr[u + 1]]
        if len(a) and len(b):
            assert a.max() <= b.min()
    assert same_split(split, temporal_user(data, test_k=test_k, min_train=min_train))


@SETTINGS
@given(interactions(), st.floats(0.01, 0.99))
def test_temporal_user_fraction(data, test_size):
    split = temporal_user(data, test_size=test_size)
    assert_partition(data, split)
    n = per_user_counts(data)
    expected = np.clip(np.floor(test_size * n + 0.5), 0, np.maximum(n - 1, 0))
    np.testing.assert_array_equal(per_user_counts(split.test), expected)


# -- cross-validation --------------------------------------------------------------------

@SETTINGS
@given(interactions(), st.integers(2, 6), seeds)
def test_kfold_partitions_rows(data, k, seed):
    if k > data.nnz:
        with pytest.raises(ConfigError, match="k must be <="):
            kfold(data, k=k, random_state=seed)
        return
    folds = list(kfold(data, k=k, random_state=seed))
    assert len(folds) == k
    for split in folds:
        assert_partition(data, split)
    tests = np.concatenate([rows(s.test) for s in folds])
    # every row in exactly one test fold
    np.testing.assert_array_equal(tests[np.lexsort(tests.T[::-1])], rows(data))
    sizes = [s.test.nnz for s in folds]
    assert max(sizes) - min(sizes) <= 1
    again = list(kfold(data, k=k, random_state=seed))
    assert all(same_split(a, b) for a, b in zip(folds, again))


@SETTINGS
@given(interactions(), st.integers(2, 4), st.floats(0.1, 0.9), seeds)
def test_user_kfold_partitions_users(data, k, test_size, seed):
    n = per_user_counts(data)
    n_eligible = int((np.floor(test_size * n + 0.5).clip(0, np.maximum(n - 1, 0)) > 0).sum())
    if k > n_eligible:
        with pytest.raises(ConfigError, match="k must be <="):
            user_kfold(data, k=k, test_size=test_size, random_state=seed)
        return
    folds = list(user_kfold(data, k=k, test_size=test_size, random_state=seed))
    assert len(folds) == k
    test_users = []
    for split in folds:
        assert_partition(data, split)
        assert len(split.cold_users()) == 0
        users = np.flatnonzero(per_user_counts(split.test) > 0)
        test_users.append(users)
    all_test_users = np.concatenate(test_users)
    # every eligible user is a test user in exactly one fold
    assert len(all_test_users) == len(np.unique(all_test_users)) == n_eligible
    sizes = [len(u) for u in test_users]
    assert max(sizes) - min(sizes) <= 1
    again = list(user_kfold(data, k=k, test_size=test_size, random_state=seed))
    assert all(same_split(a, b) for a, b in zip(folds, again))


# -- errors ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ml100k() -> Interactions:
    return movielens("100k")


@pytest.fixture(scope="module")
def no_time() -> Interactions:
    return Interactions.from_arrays([1, 1, 2, 2, 3], [1, 2, 1, 3, 2], [1, 2, 3, 4, 5])


@pytest.mark.parametrize("call, message", [
    (lambda d: holdout(d, test_size=0),
     r"holdout: test_size must be a number > 0\.0 and < 1\.0, got 0"),
    (lambda d: holdout(d, test_size=1.5), r"test_size .* got 1\.5"),
    (lambda d: holdout(d, random_state=-1), r"random_state must be None, a non-negative"),
    (lambda d: holdout(d, random_state="x"), r"random_state .* got 'x'"),
    (lambda d: user_holdout(d, test_k=0),
     r"user_holdout: test_k must be an integer >= 1 or None, got 0"),
    (lambda d: user_holdout(d, test_size=None), r"give test_size .* or test_k"),
    (lambda d: user_holdout(d, min_train=-1), r"min_train must be an integer >= 0, got -1"),
    (lambda d: temporal(d), r"exactly one of cutoff .* and test_size"),
    (lambda d: temporal(d, cutoff=1, test_size=0.2), r"exactly one of cutoff"),
    (lambda d: temporal(d, test_size=2.0), r"temporal: test_size must be a number"),
    (lambda d: temporal(d, cutoff="not a date"), r"cutoff must be Unix seconds"),
    (lambda d: temporal(d, cutoff=0), r"every interaction in test"),
    (lambda d: temporal(d, cutoff="2030-01-01"), r"every interaction in train; .* from \d+ to \d+"),
    (lambda d: temporal_user(d, test_k=1, test_size=0.5), r"test_k or test_size, not both"),
    (lambda d: temporal_user(d, test_k=0), r"test_k must be an integer >= 1"),
    (lambda d: kfold(d, k=1), r"kfold: k must be an integer >= 2, got 1"),
    (lambda d: kfold(d, k=2.5), r"k must be an integer >= 2, got 2\.5"),
    (lambda d: user_kfold(d, k=10_000), r"k must be <= the number of users .* \(943\)"),
    (lambda d: holdout(d.to_frame()), r"data must be an Interactions object"),
])
def test_bad_parameters_name_parameter_range_and_value(ml100k, call, message):
    with pytest.raises(ConfigError, match=message):
        call(ml100k)


def test_cross_validation_validates_on_call_not_on_iteration(ml100k):
    # a generator would only fail at the first next(); these fail at the call
    with pytest.raises(ConfigError):
        kfold(ml100k, k=0)
    with pytest.raises(ConfigError):
        user_kfold(ml100k, k=3, test_size=0)


@pytest.mark.parametrize("fn", [lambda d: temporal(d, test_size=0.2),
                                lambda d: temporal(d, cutoff=3), temporal_user])
def test_temporal_splits_need_timestamps(no_time, fn):
    with pytest.raises(DataError, match="needs timestamps .* timestamp column"):
        fn(no_time)


def test_random_splits_work_without_timestamps(no_time):
    split = user_holdout(no_time, test_k=1, random_state=0)
    assert split.train.timestamps is None and split.test.timestamps is None
    assert split.test.nnz == 2  # users 1 and 2 have 2 rows; user 3 has 1 and stays in train


# -- MovieLens 100K ----------------------------------------------------------------------

def test_movielens_holdout(ml100k):
    split = holdout(ml100k, test_size=0.2, random_state=42)
    assert (split.train.nnz, split.test.nnz) == (80_000, 20_000)
    assert_partition(ml100k, split)
    assert same_split(split, holdout(ml100k, test_size=0.2, random_state=42))
    assert not same_split(split, holdout(ml100k, test_size=0.2, random_state=43))
    # metadata travels with both halves
    assert split.train.item_metadata is ml100k.item_metadata
    summary = split.summary()
    assert summary["train"] == 80_000 and summary["test_users"] <= 943
    assert summary["cold_items"] == len(split.cold_items())


def test_movielens_leave_one_out_matches_reference(ml100k):
    """temporal_user(test_k=1) holds out each user's latest rating (pandas reference)."""
    split = temporal_user(ml100k, test_k=1)
    assert split.test.nnz == 943
    assert_partition(ml100k, split)
    frame = ml100k.to_frame()
    latest = frame.groupby("user")["timestamp"].max()
    test = split.test.to_frame().set_index("user")
    np.testing.assert_array_equal(test.loc[latest.index, "timestamp"].to_numpy(),
                                  latest.to_numpy())
    # ties in time are broken by item index: the held-out item is the largest latest one
    ref = (frame[frame["timestamp"] == frame["user"].map(latest)]
           .groupby("user")["item"].max())
    np.testing.assert_array_equal(test.loc[ref.index, "item"].to_numpy(), ref.to_numpy())


def test_movielens_user_holdout_matches_reference_counts(ml100k):
    split = user_holdout(ml100k, test_size=0.25, random_state=7)
    n = ml100k.to_frame().groupby("user").size()
    expected = np.floor(0.25 * n + 0.5).astype(int)
    got = split.test.to_frame().groupby("user").size()
    pd.testing.assert_series_equal(got.loc[n.index], expected, check_names=False)
    assert len(split.cold_users()) == 0


def test_movielens_temporal_cutoff_forms(ml100k):
    a = temporal(ml100k, cutoff="1998-03-01")
    b = temporal(ml100k, cutoff=dt.datetime(1998, 3, 1))
    c = temporal(ml100k, cutoff=int(dt.datetime(1998, 3, 1, tzinfo=dt.UTC).timestamp()))
    d = temporal(ml100k, cutoff=np.datetime64("1998-03-01"))
    assert same_split(a, b) and same_split(a, c) and same_split(a, d)
    assert a.train.timestamps.max() < a.test.timestamps.min()
    # users who first rated after the cutoff are cold: in the vocabulary, no train rows
    cold = a.cold_users(ids=False)
    assert len(cold) > 0
    assert np.all(per_user_counts(a.train)[cold] == 0)
    assert set(a.cold_users().tolist()) == set(ml100k.users.ids_of(cold).tolist())


def test_movielens_kfold_and_user_kfold(ml100k):
    sizes = [test.nnz for _, test in kfold(ml100k, k=5, random_state=0)]
    assert sizes == [20_000] * 5
    folds = list(user_kfold(ml100k, k=5, test_size=0.2, random_state=0))
    users = [set(np.flatnonzero(per_user_counts(t)).tolist()) for _, t in folds]
    assert sum(len(u) for u in users) == 943 and len(set().union(*users)) == 943
    assert same_split(folds[0], next(iter(user_kfold(ml100k, k=5, random_state=0))))


def test_docs_examples_run():
    """The Python examples in docs/splits.md run as written."""
    import re
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "splits.md"
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), re.DOTALL)
    assert len(blocks) >= 2
    for block in blocks:
        # running our own documentation is the point of this test
        exec(compile(block, str(doc), "exec"), {"print": lambda *a, **k: None})  # noqa: S102


@SETTINGS
@given(interactions(with_timestamps=False), st.data())
def test_rank_in_rows_matches_reference(data, draw):
    """The packed-key argsort agrees with the per-row reference, ties and wide keys included."""
    from likewise.data.splits import _rank_in_rows, _rank_in_rows_reference

    wide = draw.draw(st.booleans())  # keys too wide to pack exercise the lexsort fallback
    bound = 2**62 if wide else 4  # small bound: many ties, broken by position
    key = np.array(draw.draw(st.lists(st.integers(-bound, bound), min_size=data.nnz,
                                      max_size=data.nnz)), dtype=np.int64)
    np.testing.assert_array_equal(_rank_in_rows(data, key), _rank_in_rows_reference(data, key))
