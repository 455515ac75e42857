"""Ids are exact (issue 14, point 5): never rounded, wrapped or coerced onto another id.

Integer ids stay integers only when every value is an exact integer within int64;
anything else is an error when data is built, and an unknown id when a model is queried
(so a query with ``1.7`` or ``True`` falls back instead of answering as user 1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import likewise
from likewise import DataError, Interactions, UnknownItemError, UnknownUserError, Vocabulary

BIG = 2**53  # from here on float64 cannot hold every integer


# -- building ids from data ----------------------------------------------------------------

@pytest.mark.parametrize("users", [
    np.array([BIG, BIG + 2, 7], dtype=np.float64),     # floats already beyond exactness
    np.array([2**24, 2**24 + 2, 3], dtype=np.float32),  # float32 stops at 2**24
    np.array([-(BIG + 1), 5.0]),
    pd.Series([BIG + 1, BIG, None]).to_numpy(dtype=float, na_value=1.0),  # pandas floats
], ids=["float64", "float32", "negative", "pandas"])
def test_float_ids_beyond_exact_range_are_an_error_not_merged(users):
    items = list(range(len(users)))
    with pytest.raises(DataError, match=r"2\*\*(53|24)"):
        Interactions.from_arrays(users, items)
    with pytest.raises(DataError, match=r"cannot hold every integer"):
        Vocabulary.from_values(users)


@pytest.mark.parametrize("users", [
    np.array([BIG + 1, BIG, BIG + 3, 1], dtype=np.int64),
    [BIG + 1, BIG, BIG + 3, 1.0],          # a float among them: NumPy would round them all
    (BIG + 1, BIG, BIG + 3, np.float32(1)),
], ids=["int64", "list-with-a-float", "tuple-with-a-float32"])
def test_exact_ids_beyond_2_53_stay_apart(users):
    data = Interactions.from_arrays(users, [1, 2, 3, 4])
    assert data.n_users == 4
    assert data.users.ids.tolist() == [1, BIG, BIG + 1, BIG + 3]
    # whole floats below 2**53 are still exact integers
    assert Interactions.from_arrays([1.0, 2.0], [3, 4]).users.ids.tolist() == [1, 2]


@pytest.mark.parametrize("users", [
    np.array([2**64 - 1, 1], dtype=np.uint64),        # would wrap to -1
    np.array([2**63, 5], dtype=np.uint64),            # would wrap to -2**63
    [2**63, 1],                                       # NumPy makes these uint64
    np.array([2**70, 1], dtype=object),               # Python ints beyond any C integer
    [-(2**63) - 1, 1],
], ids=["uint64-max", "uint64-2**63", "python-list", "object", "below-int64"])
def test_integer_ids_beyond_int64_are_an_error_not_wrapped(users):
    with pytest.raises(DataError, match="beyond the int64 range"):
        Interactions.from_arrays(users, [1, 2])
    with pytest.raises(DataError, match="pass the ids as strings"):
        Vocabulary(users)


def test_uint_ids_within_int64_are_integers():
    for dtype in (np.uint8, np.uint16, np.uint32, np.uint64):
        vocab = Vocabulary(np.array([3, 1, 2**7], dtype=dtype))
        assert vocab.is_integer and vocab.ids.tolist() == [3, 1, 128]
    assert Vocabulary(np.array([2**63 - 1], dtype=np.uint64)).ids.tolist() == [2**63 - 1]


@pytest.mark.parametrize("users,word", [
    ([1.0, np.inf], "inf"), ([1.0, -np.inf], "-inf"), ([np.nan, 1.0], "NaN"),
    (np.array([np.inf, 2.0], dtype=np.float32), "inf"),
])
def test_non_finite_ids_are_named(users, word):
    with pytest.raises(DataError, match=word):
        Interactions.from_arrays(users, [1, 2])


@pytest.mark.parametrize("users", [
    [True, False], np.array([True, False]), np.array([True, 1], dtype=object),
    [True, 2],  # NumPy would make this [1, 2]
    [1.5, 2.0], np.array([1, 2.5], dtype=object), [1, 2.5],
])
def test_booleans_and_fractions_are_not_ids(users):
    with pytest.raises(DataError):
        Interactions.from_arrays(users, [1, 2])


# -- looking ids up ------------------------------------------------------------------------

INT64_MIN = -(2**63)


@pytest.fixture()
def int_vocab():
    # 0, -1 and INT64_MIN are where a truncated, wrapped or NaN query used to land
    return Vocabulary([0, 1, 2, 3, -1, 1000, BIG + 1, BIG + 2, INT64_MIN])


@pytest.mark.parametrize("query", [
    1.7, 3.9, -0.5, np.float32(2.5), True, False, np.bool_(True), [True], np.array([True]),
    np.nan, np.inf, -np.inf,                       # NumPy casts these to INT64_MIN
    "1e3", "1.0", "1_000", "\u0661", "0x3", "",     # text that is not an integer
    np.uint64(2**64 - 1),          # wraps to the id -1
    2**64 + 1,                     # beyond every C integer
    float(BIG + 2),                # a float this large cannot say which integer it was
    None, b"\xff",
], ids=repr)
def test_inexact_queries_find_no_integer_id(int_vocab, query):
    assert int_vocab.index(query, on_unknown="ignore").tolist() == [-1]
    with pytest.raises(likewise.UnknownIdError):
        int_vocab.index(query)
    assert query not in int_vocab


@pytest.mark.parametrize("query,expected", [
    (1, 1), (np.int8(1), 1), (np.int16(2), 2), (np.int32(3), 3), (np.uint8(3), 3),
    (np.uint64(1000), 5), (-1, 4), (np.int64(BIG + 1), 6), (INT64_MIN, 8), (0, 0),
    (1.0, 1), (np.float32(2.0), 2), (1000.0, 5), (-1.0, 4),  # whole floats below 2**53
    ("1", 1), (" 3 ", 3), ("-1", 4), ("+2", 2), (str(BIG + 1), 6), ("01", 1),
    (str(INT64_MIN), 8),
])
def test_exact_queries_find_their_id(int_vocab, query, expected):
    assert int_vocab.index(query).tolist() == [expected]


def test_mixed_query_lists_are_judged_per_id(int_vocab):
    got = int_vocab.index([True, 2, 1.5, "3", 2**70, None, 1000.0], on_unknown="ignore")
    assert got.tolist() == [-1, 2, -1, 3, -1, -1, 5]
    got = int_vocab.index(np.array([1.0, 1.7, np.nan, 3.0]), on_unknown="ignore")
    assert got.tolist() == [1, -1, -1, 3]
    got = int_vocab.index(np.array([1, 2**64 - 1], dtype=np.uint64), on_unknown="ignore")
    assert got.tolist() == [1, -1]
    got = int_vocab.index([BIG + 1, 2.0], on_unknown="ignore")  # NumPy would round BIG + 1
    assert got.tolist() == [6, 2]


def test_string_vocabulary_never_matches_booleans():
    vocab = Vocabulary(["1", "True", "a"])
    assert vocab.index([1, "a"]).tolist() == [0, 2]  # numbers are compared as their text
    assert vocab.index([True], on_unknown="ignore").tolist() == [-1]
    assert vocab.index(np.array([True, "a"], dtype=object), on_unknown="ignore").tolist() == [-1, 2]


# -- model queries -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    users = rng.integers(1, 40, 1500)
    items = rng.integers(1, 60, 1500)
    data = Interactions.from_arrays(users, items, rng.integers(1, 6, 1500).astype(float),
                                    duplicates="last")
    return {
        "svd": likewise.SVD(factors=4, epochs=2, random_state=0).fit(data),
        "popularity": likewise.Popularity().fit(data),
        "itemknn": likewise.ItemKNN(k=10).fit(data),
    }


BAD_USERS = [1.7, True, np.bool_(True), np.float64(1.5), np.float32(1.25), 2**64 + 1]


@pytest.mark.parametrize("name", ["svd", "popularity", "itemknn"])
@pytest.mark.parametrize("bad", BAD_USERS, ids=repr)
def test_recommend_with_an_inexact_user_falls_back(fitted, name, bad):
    model = fitted[name]
    rec = model.recommend([bad], n=5)
    assert rec.fallback.tolist() == [True]
    as_user_1 = model.recommend([1], n=5)
    assert as_user_1.fallback.tolist() == [False]
    with pytest.raises(UnknownUserError):
        model.recommend([bad], n=5, on_unknown="raise")


@pytest.mark.parametrize("bad", BAD_USERS, ids=repr)
def test_predict_with_an_inexact_id_falls_back(fitted, bad):
    model = fitted["svd"]
    _, fallback = model.predict([bad, 1], [1, bad], return_fallback=True)
    assert fallback.tolist() == [True, True]
    _, fallback = model.predict([1], [1], return_fallback=True)
    assert fallback.tolist() == [False]
    with pytest.raises(UnknownUserError):
        model.predict([bad], [1], on_unknown="raise")
    with pytest.raises(UnknownItemError):
        model.predict([1], [bad], on_unknown="raise")


@pytest.mark.parametrize("name", ["svd", "itemknn"])
@pytest.mark.parametrize("bad", [1.7, True, 2.5, "2.0"], ids=repr)
def test_similar_items_with_an_inexact_item_falls_back(fitted, name, bad):
    model = fitted[name]
    assert model.similar_items([bad], n=3).fallback.tolist() == [True]
    assert model.similar_items([2], n=3).fallback.tolist() == [False]
    with pytest.raises(UnknownItemError):
        model.similar_items([bad], n=3, on_unknown="raise")


def test_whole_float_queries_answer_as_the_integer_id(fitted):
    model = fitted["svd"]
    a, b = model.recommend([1.0], n=5), model.recommend([1], n=5)
    assert a.fallback.tolist() == [False]
    np.testing.assert_array_equal(a.item_indices, b.item_indices)
    np.testing.assert_array_equal(model.predict([1.0], [2.0]), model.predict([1], [2]))
