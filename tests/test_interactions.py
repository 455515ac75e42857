"""Interactions and Vocabulary: construction, duplicates policies, filters, statistics."""

import numpy as np
import pytest

import likewise
from likewise import Interactions, Vocabulary


def test_vocabulary_lookup_and_unknown_policy():
    vocab = Vocabulary([30, 10, 20])
    assert vocab.index([20, 30]).tolist() == [2, 0]
    assert vocab.index([99], on_unknown="ignore").tolist() == [-1]
    assert vocab.index(["10"]).tolist() == [1]  # string digits find integer ids
    with pytest.raises(likewise.UnknownIdError, match="99"):
        vocab.index([99])
    assert vocab.ids_of([1, -1]).tolist() == [10, -1]
    with pytest.raises(likewise.DataError, match="unique"):
        Vocabulary([1, 1])


def test_mixed_id_types_rejected():
    with pytest.raises(likewise.DataError, match="mix types"):
        Interactions.from_arrays(np.array([1, "a"], dtype=object), [1, 2])


@pytest.mark.parametrize("policy,expected", [
    ("last", [2.0]), ("first", [4.0]), ("mean", [3.0]), ("sum", [6.0]), ("max", [4.0])])
def test_duplicate_policies(policy, expected):
    # the rating 4 is older (t=1) than the rating 2 (t=5), although it comes later in the file
    data = Interactions.from_arrays(["u", "u"], ["i", "i"], [2.0, 4.0], [5, 1],
                                    duplicates=policy)
    assert data.matrix.data.tolist() == expected


def test_duplicates_error_policy_names_rows():
    with pytest.raises(likewise.DataError, match="rows 0 and 2"):
        Interactions.from_arrays([1, 2, 1], [5, 5, 5], [1, 2, 3], duplicates="error")


def test_default_duplicate_policy_depends_on_kind():
    explicit = Interactions.from_arrays([1, 1], [2, 2], [5, 3])
    implicit = Interactions.from_arrays([1, 1], [2, 2])
    assert explicit.matrix.data.tolist() == [3.0]
    assert implicit.matrix.data.tolist() == [2.0]


def test_rating_scale_enforced():
    with pytest.raises(likewise.DataError, match="row 1.*outside the declared scale 1-5"):
        Interactions.from_arrays([1, 2], [1, 1], [3, 7], rating_scale=(1, 5))
    with pytest.raises(likewise.DataError, match="row 0"):
        Interactions.from_arrays([1], [1], [np.nan])


def test_filter_long_tail_and_top_n():
    data = likewise.datasets.movielens("100k")
    tail = data.filter(min_item_interactions=20)
    assert tail.n_items == int((np.bincount(data.matrix.indices) >= 20).sum())
    top = data.filter(top_users=10, top_items=50)
    assert top.n_users <= 10 and top.n_items <= 50
    stable = data.filter(min_user_interactions=50, min_item_interactions=50, iterate=True)
    assert np.diff(stable.matrix.indptr).min() >= 50
    assert np.bincount(stable.matrix.indices).min() >= 50
    with pytest.raises(likewise.ConfigError, match="min_user_interactions"):
        data.filter(min_user_interactions=0)


def test_stats_and_frame_round_trip():
    data = likewise.datasets.movielens("100k")
    stats = data.stats()
    assert stats["interactions"] == 100_000 and stats["users"] == 943
    assert sum(stats["value_histogram"].values()) == 100_000
    frame = data.to_frame()
    again = Interactions.from_arrays(frame.user, frame.item, frame.rating, frame.timestamp)
    assert (again.matrix != data.matrix).nnz == 0
    np.testing.assert_array_equal(again.timestamps, data.timestamps)


def test_take_keeps_vocabularies():
    data = likewise.datasets.movielens("100k")
    half = data.take(np.arange(0, data.nnz, 2))
    assert half.users is data.users and half.nnz == 50_000
    assert half.matrix.has_sorted_indices
