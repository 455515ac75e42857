"""read_csv / read_parquet: column recognition, formats, and located errors on bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import likewise
from likewise import DataError
from likewise.datasets import EMBEDDED_DIR

BAD = Path(__file__).parent / "bad"
ML100K = EMBEDDED_DIR / "ratings.csv"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------------------
# good input
# ---------------------------------------------------------------------------------------
def test_movielens_csv_matches_embedded_loader():
    data = likewise.read_csv(ML100K, rating_scale=(1, 5))
    ref = likewise.datasets.movielens("100k")
    assert (data.n_users, data.n_items, data.nnz) == (943, 1682, 100_000)
    assert data.kind == "explicit" and data.rating_scale == (1.0, 5.0)
    assert data.users == ref.users and data.items == ref.items
    assert (data.matrix != ref.matrix).nnz == 0
    np.testing.assert_array_equal(data.timestamps, ref.timestamps)
    assert data.matrix.has_canonical_format


@pytest.mark.parametrize("header,roles", [
    ("user,item,rating,timestamp", None),
    ("userId,itemId,score,time", None),
    ("user_id,movie_id,rating,timestamp", None),
    ("USERID,MovieId,Rating,Timestamp", None),
])
def test_recognises_usual_column_names(tmp_path, header, roles):
    p = _write(tmp_path / "r.csv", f"{header}\n1,10,4,100\n2,10,3,200\n2,11,5,300\n")
    data = likewise.read_csv(p)
    assert data.kind == "explicit" and data.nnz == 3
    assert data.timestamps is not None and sorted(data.timestamps) == [100, 200, 300]


def test_implicit_without_rating_column_and_explicit_mapping(tmp_path):
    p = _write(tmp_path / "clicks.csv", "visitor,product,when\na,x,5\na,y,6\nb,x,7\na,x,8\n")
    data = likewise.read_csv(p, user="visitor", item="product", timestamp="when")
    assert data.kind == "implicit" and data.nnz == 3
    assert data.users.ids.tolist() == ["a", "b"]
    # repeated clicks add up by default for implicit data
    assert data.matrix[data.users.index(["a"])[0], data.items.index(["x"])[0]] == 2.0


def test_rating_false_ignores_rating_column(tmp_path):
    p = _write(tmp_path / "r.csv", "userId,movieId,rating\n1,10,4\n2,10,3\n")
    assert likewise.read_csv(p, rating=False).kind == "implicit"


def test_tsv_by_extension_and_sniffed_separators(tmp_path):
    rows = [("1", "10", "4", "100"), ("2", "10", "3", "200")]
    for name, sep in [("r.tsv", "\t"), ("r.txt", ";"), ("r.psv", "|"), ("r2.txt", "\t")]:
        text = sep.join(["userId", "movieId", "rating", "timestamp"]) + "\n" + \
            "\n".join(sep.join(r) for r in rows) + "\n"
        assert likewise.read_csv(_write(tmp_path / name, text)).nnz == 2


def test_gzip_and_headerless_with_names(tmp_path):
    p = tmp_path / "u.data.gz"
    with gzip.open(p, "wt") as fh:
        fh.write("196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
    data = likewise.read_csv(p, names=["userId", "movieId", "rating", "timestamp"])
    assert data.nnz == 2 and data.users.ids.tolist() == [186, 196]


def test_string_ids_and_id_type_str(tmp_path):
    p = _write(tmp_path / "r.csv", "user,item,rating\n007,A1,4\n7,A2,3\n")
    as_int = likewise.read_csv(p)
    assert as_int.users.ids.tolist() == [7]  # "007" and "7" are the same integer id
    as_str = likewise.read_csv(p, id_type="str")
    assert as_str.users.ids.tolist() == ["007", "7"]
    assert as_str.items.ids.tolist() == ["A1", "A2"]


def test_duplicates_policy_and_metadata(tmp_path):
    p = _write(tmp_path / "r.csv", "userId,movieId,rating,timestamp\n1,10,2,200\n1,10,5,100\n")
    assert likewise.read_csv(p).matrix[0, 0] == 2.0  # latest by timestamp wins
    assert likewise.read_csv(p, duplicates="mean").matrix[0, 0] == 3.5
    with pytest.raises(DataError, match="duplicate"):
        likewise.read_csv(p, duplicates="error")
    meta = _write(tmp_path / "movies.csv", "movieId,title\n10,Heat\n")
    data = likewise.read_csv(p, item_metadata=meta)
    assert data.item_metadata.loc[10, "title"] == "Heat"


def test_whole_float_timestamps_accepted(tmp_path):
    p = _write(tmp_path / "r.csv", "userId,movieId,rating,timestamp\n1,10,4,1.0e9\n2,10,3,5\n")
    data = likewise.read_csv(p)
    assert sorted(data.timestamps.tolist()) == [5, 1_000_000_000]


def test_latin1_with_encoding(tmp_path):
    p = tmp_path / "r.csv"
    p.write_bytes("user,item,rating\n1,café,4\n".encode("latin-1"))
    assert likewise.read_csv(p, encoding="latin-1").items.ids.tolist() == ["café"]


def test_read_parquet(tmp_path):
    frame = likewise.datasets.movielens("100k").to_frame()
    frame.columns = ["userId", "movieId", "rating", "timestamp"]
    frame.to_parquet(tmp_path / "r.parquet")
    data = likewise.read_parquet(tmp_path / "r.parquet", rating_scale=(1, 5))
    ref = likewise.datasets.movielens("100k")
    assert (data.matrix != ref.matrix).nnz == 0 and data.users == ref.users


# ---------------------------------------------------------------------------------------
# the bad-input corpus: every file is rejected with its exact location
# ---------------------------------------------------------------------------------------
CORPUS = [
    # file, read_csv keywords, line, column, words the message must contain
    ("empty.csv", {}, None, None, ["empty"]),
    ("blank.csv", {}, None, None, ["empty"]),
    ("header_only.csv", {}, None, None, ["no data rows"]),
    ("semicolon.csv", {"sep": ","}, 1, None, ["sep=';'"]),
    ("wrong_delimiter_in_data.csv", {}, 3, None, ["1 field", "sep=';'"]),
    ("ragged.csv", {}, 4, None, ["3 field", "expected 4"]),
    ("misnamed_columns.csv", {}, 1, None, ["no user column", "'uid'", "'product'", "user="]),
    ("rating_not_numeric.csv", {}, 4, "rating", ["'abc'", "not a number"]),
    ("rating_not_numeric.csv.gz", {}, 3, "rating", ["'four'", "not a number"]),
    ("rating_nan.csv", {}, 3, "rating", ["nan", "not a finite number"]),
    ("rating_missing.csv", {}, 5, "rating", ["missing"]),
    ("rating_out_of_scale.csv", {"rating_scale": (1, 5)}, 4, "rating", ["6", "scale 1-5"]),
    ("timestamp_not_integer.csv", {}, 3, "timestamp", ["'2015-03-01'", "integer"]),
    ("timestamp_fraction.csv", {}, 4, "timestamp", ["881250951.5", "whole"]),
    ("mixed_ids.csv", {}, 4, "userId", ["mixed id types", "id_type='str'"]),
    ("missing_user.csv", {}, 3, "userId", ["missing user id"]),
    ("undecodable.csv", {}, 3, "item", ["0xe9", "encoding="]),
    ("blank_lines_then_bad.csv", {}, 5, "rating", ["'x'"]),
    ("truncated.csv.gz", {}, None, None, ["gzip"]),
]


@pytest.mark.parametrize("name,kwargs,line,column,words", CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_corpus(name, kwargs, line, column, words):
    path = BAD / name
    with pytest.raises(DataError) as info:
        likewise.read_csv(path, **kwargs)
    err = info.value
    assert err.path == str(path)
    assert err.line == line
    assert err.column == column
    text = str(err)
    assert text.startswith(str(path))
    for word in words:
        assert word in text, (word, text)


def test_corpus_readme_lists_every_file():
    listed = (BAD / "README.md").read_text()
    for f in BAD.iterdir():
        if f.name != "README.md":
            assert f"| {f.name} |" in listed, f.name


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found") as info:
        likewise.read_csv(tmp_path / "nope.csv")
    assert info.value.path == str(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="directory"):
        likewise.read_csv(tmp_path)


def test_semicolon_file_is_sniffed_when_sep_not_given():
    assert likewise.read_csv(BAD / "semicolon.csv").nnz == 2


def test_misnamed_explicit_column_suggests(tmp_path):
    p = _write(tmp_path / "r.csv", "userId,movieId,rating\n1,10,4\n")
    with pytest.raises(DataError) as info:
        likewise.read_csv(p, user="userid")
    assert info.value.column == "userid" and info.value.line == 1
    assert "Did you mean 'userId'" in str(info.value)
    assert "available columns: 'userId', 'movieId', 'rating'" in str(info.value)


def test_not_parquet_and_bad_parquet_values(tmp_path):
    with pytest.raises(DataError, match="not a readable Parquet file"):
        likewise.read_parquet(BAD / "not_parquet.parquet")
    pd.DataFrame({"user": [1, 2, 3], "item": [1, 1, 2],
                  "rating": [4.0, np.nan, 3.0]}).to_parquet(tmp_path / "nan.parquet")
    with pytest.raises(DataError, match="row 2") as info:
        likewise.read_parquet(tmp_path / "nan.parquet")
    assert info.value.column == "rating"
    pd.DataFrame({"user": [1, 2], "item": ["a", "b"],
                  "rating": ["4", "x"]}).to_parquet(tmp_path / "str.parquet")
    with pytest.raises(DataError, match="row 2: rating is 'x', not a number") as info:
        likewise.read_parquet(tmp_path / "str.parquet")
    pd.DataFrame({"user": [1, 2], "item": [1, 2], "rating": [4, 9]}).to_parquet(
        tmp_path / "scale.parquet")
    with pytest.raises(DataError, match="row 2.*outside the declared scale"):
        likewise.read_parquet(tmp_path / "scale.parquet", rating_scale=(1, 5))
    pd.DataFrame({"uid": [1], "item": [1]}).to_parquet(tmp_path / "cols.parquet")
    with pytest.raises(DataError, match="no user column.*'uid'"):
        likewise.read_parquet(tmp_path / "cols.parquet")


def test_cli_style_single_line_message():
    """Every corpus error is one line (the CLI prints it as is)."""
    for name, kwargs, *_ in CORPUS:
        with pytest.raises(DataError) as info:
            likewise.read_csv(BAD / name, **kwargs)
        assert "\n" not in str(info.value), name


def test_bad_config_values(tmp_path):
    p = _write(tmp_path / "r.csv", "userId,movieId\n1,2\n")
    with pytest.raises(likewise.ConfigError, match="sep"):
        likewise.read_csv(p, sep="::")
    with pytest.raises(likewise.ConfigError, match="id_type"):
        likewise.read_csv(p, id_type="float")


def test_int_codes_kernel_matches_reference():
    from likewise.data.readers import _int_codes, _int_codes_reference

    rng = np.random.default_rng(0)
    for arr in [rng.integers(-50, 50, 1000), rng.integers(0, 10**15, 500),
                np.array([7]), np.array([], dtype=np.int64), rng.integers(1, 3, 100)]:
        got_u, got_c = _int_codes(arr.astype(np.int64))
        ref_u, ref_c = _int_codes_reference(arr.astype(np.int64))
        np.testing.assert_array_equal(got_u, ref_u)
        np.testing.assert_array_equal(got_c, ref_c)


def test_sorted_runs_kernel_matches_reference():
    from likewise.data._reader_kernels import sorted_runs
    from likewise.data.readers import _sorted_runs_reference

    rng = np.random.default_rng(2)
    for arr in [np.sort(rng.integers(-50, 50, 1000)), np.sort(rng.integers(0, 2**31 - 1, 300)),
                np.array([7]), np.array([], dtype=np.int64), np.repeat([3, 9, 10], [1, 5, 2]),
                np.arange(20)]:
        arr = arr.astype(np.int32)
        got_u, got_s = sorted_runs(arr)
        ref_u, ref_s = _sorted_runs_reference(arr)
        np.testing.assert_array_equal(got_u, ref_u)
        np.testing.assert_array_equal(got_s, ref_s)


def test_fast_path_sorted_file_equals_from_arrays(tmp_path, fast_path):
    """A file sorted by (user, item) takes the row-pointer route (no user codes, no
    second check of the order): the result equals building it from the raw columns."""
    rng = np.random.default_rng(3)
    users = np.repeat(np.sort(rng.choice(10**6, 300, replace=False)) + 1,
                      rng.integers(1, 9, 300))
    items = np.concatenate([np.sort(rng.choice(5000, n, replace=False))
                            for n in np.unique(users, return_counts=True)[1]])
    ratings = rng.integers(1, 11, len(users)) / 2
    times = rng.integers(10**9, 2 * 10**9, len(users))
    frame = pd.DataFrame({"userId": users, "movieId": items, "rating": ratings,
                          "timestamp": times})
    frame.to_csv(tmp_path / "sorted.csv", index=False)
    got = likewise.read_csv(tmp_path / "sorted.csv")
    assert fast_path["fast"] == 1
    want = likewise.Interactions.from_arrays(users, items, ratings, times)
    assert got.users == want.users and got.items == want.items
    assert (got.matrix != want.matrix).nnz == 0 and got.matrix.has_canonical_format
    np.testing.assert_array_equal(got.matrix.indptr, want.matrix.indptr)
    np.testing.assert_array_equal(got.timestamps, want.timestamps)
    assert got.rating_scale == want.rating_scale


def test_from_sorted_rows_rejects_a_row_pointer_that_does_not_fit():
    from likewise.data import Vocabulary

    users, _ = Vocabulary.from_values([1, 2])
    items, _ = Vocabulary.from_values([5, 6])
    with pytest.raises(DataError, match="row_starts"):
        likewise.Interactions._from_sorted_rows(
            np.array([0, 1, 3]), np.array([0, 1], np.int32), np.array([4.0, 3.0]), None,
            users=users, items=items, kind=None, rating_scale=None, duplicates=None,
            item_metadata=None, user_metadata=None, source="x.csv")


def test_int_codes_over_chunks_matches_reference():
    import pyarrow as pa

    from likewise.data.readers import _int_codes_chunks, _int_codes_reference

    rng = np.random.default_rng(1)
    parts = [rng.integers(5, 90, n) for n in (10, 0, 33, 1)]
    col = pa.chunked_array([pa.array(p, type=pa.int64()) for p in parts])
    got_u, got_c = _int_codes_chunks(col)
    ref_u, ref_c = _int_codes_reference(np.concatenate(parts))
    np.testing.assert_array_equal(got_u, ref_u)
    np.testing.assert_array_equal(got_c, ref_c)


def test_sorted_pairs_kernel_matches_reference():
    from likewise.data._kernels import _jit, sorted_unique, sorted_unique_reference

    kernel = _jit("_sorted_unique_kernel")
    rng = np.random.default_rng(2)
    cases = [(np.array([0, 0, 1]), np.array([1, 2, 0])), (np.array([0, 0]), np.array([1, 1])),
             (np.array([1, 0]), np.array([0, 5])), (np.array([3]), np.array([3])),
             (np.array([], dtype=np.int64), np.array([], dtype=np.int64))]
    for _ in range(200):
        n = int(rng.integers(0, 12))
        u, i = np.sort(rng.integers(0, 3, n)), rng.integers(0, 4, n)
        cases.append((u, i))
    for u, i in cases:
        ref = sorted_unique_reference(u, i)
        assert kernel(u.astype(np.int32), i.astype(np.int32)) == ref, (u, i)
        assert sorted_unique(u, i) == ref


def test_sort_pairs_numba_matches_numpy_reference():
    from likewise.data._kernels import sort_pairs, sort_pairs_reference

    rng = np.random.default_rng(3)
    for n in (0, 1, 50, 3000):
        users, items = rng.integers(0, 20, n), rng.integers(0, 7, n)  # many repeats
        perm, indptr = sort_pairs(users, items, 20, force_numba=True)
        ref_perm, ref_indptr = sort_pairs_reference(users, items, 20)
        np.testing.assert_array_equal(perm, ref_perm)
        np.testing.assert_array_equal(indptr, ref_indptr)


def test_weight_column_is_read_as_implicit_weights(tmp_path):
    for name in ("weight", "count", "clicks"):
        p = _write(tmp_path / f"{name}.csv",
                   f"user,item,{name},timestamp\n1,10,3,100\n1,11,1,101\n2,10,2.5,102\n")
        data = likewise.read_csv(p)
        assert data.kind == "implicit" and data.rating_scale is None
        assert data.matrix.toarray().tolist() == [[3.0, 1.0], [2.5, 0.0]]
    # a rating column wins, and rating=False ignores weights too
    p = _write(tmp_path / "both.csv", "user,item,rating,weight\n1,10,4,9\n")
    assert likewise.read_csv(p).matrix.data.tolist() == [4.0]
    p = _write(tmp_path / "w.csv", "user,item,weight\n1,10,9\n1,10,2\n")
    assert likewise.read_csv(p).matrix.data.tolist() == [11.0]  # implicit: repeats add up
    data = likewise.read_csv(p, rating=False)
    assert data.kind == "implicit" and data.matrix.data.tolist() == [2.0]
    bad = _write(tmp_path / "bad.csv", "user,item,weight\n1,10,9\n1,11,x\n")
    with pytest.raises(DataError) as info:
        likewise.read_csv(bad)
    assert info.value.line == 3 and info.value.column == "weight"


def test_split_output_of_implicit_data_reads_back_with_weights(tmp_path):
    data = likewise.Interactions.from_arrays([1, 1, 2, 2], [5, 6, 5, 5], [2.0, 1.0, 3.0, 4.0],
                                             kind="implicit")
    frame = data.to_frame().rename(columns={"rating": "weight", "value": "weight"})
    frame.to_csv(tmp_path / "train.csv", index=False)
    back = likewise.read_csv(tmp_path / "train.csv")
    assert back.kind == "implicit" and (back.matrix != data.matrix).nnz == 0


def test_from_codes_matches_from_arrays():
    from likewise.data import Vocabulary

    rng = np.random.default_rng(4)
    users, items = rng.integers(0, 30, 400), rng.integers(100, 140, 400)
    ratings = rng.integers(1, 6, 400).astype(np.float32)
    ts = rng.integers(0, 10**6, 400)
    for duplicates in ("last", "first", "mean", "sum", "max"):
        ref = likewise.Interactions.from_arrays(users, items, ratings, ts,
                                                duplicates=duplicates)
        uv, u = Vocabulary.from_values(users)
        iv, i = Vocabulary.from_values(items)
        got = likewise.Interactions.from_codes(u, i, ratings.copy(), ts.copy(), users=uv,
                                               items=iv, duplicates=duplicates)
        assert (got.matrix != ref.matrix).nnz == 0 and got.rating_scale == ref.rating_scale
        np.testing.assert_array_equal(got.timestamps, ref.timestamps)
    # sorted input takes the no-sort branch and gives the same canonical matrix
    order = np.lexsort((i, u))
    keep = np.r_[True, (np.diff(u[order]) != 0) | (np.diff(i[order]) != 0)]
    su, si = u[order][keep], i[order][keep]
    a = likewise.Interactions.from_codes(su, si, users=uv, items=iv, assume_sorted=True)
    b = likewise.Interactions.from_arrays(uv.ids[su], iv.ids[si])
    assert (a.matrix != b.matrix).nnz == 0 and a.matrix.has_canonical_format
    with pytest.raises(DataError, match="assume_sorted"):
        likewise.Interactions.from_codes(su[::-1], si[::-1], users=uv, items=iv,
                                         assume_sorted=True)
    with pytest.raises(DataError, match="codes must lie"):
        likewise.Interactions.from_codes([0, 99], [0, 0], users=uv, items=iv)


def test_from_arrays_result_does_not_alias_inputs():
    ratings = np.array([4.0, 3.0], dtype=np.float32)
    ts = np.array([1, 2], dtype=np.int64)
    data = likewise.Interactions.from_arrays([1, 2], [5, 5], ratings, ts)
    ratings[:] = 0
    ts[:] = 0
    assert data.matrix.data.tolist() == [4.0, 3.0] and data.timestamps.tolist() == [1, 2]


def test_sorted_and_shuffled_files_load_identically(tmp_path):
    from likewise.data.synthetic import write_csv

    data = likewise.synthetic(n_users=300, n_items=200, n_interactions=6000)
    write_csv(data, tmp_path / "sorted.csv")
    frame = pd.read_csv(tmp_path / "sorted.csv").sample(frac=1.0, random_state=0)
    frame.to_csv(tmp_path / "shuffled.csv", index=False)
    a = likewise.read_csv(tmp_path / "sorted.csv")
    b = likewise.read_csv(tmp_path / "shuffled.csv")
    assert (a.matrix != b.matrix).nnz == 0 and a.users == b.users and a.items == b.items
    np.testing.assert_array_equal(a.timestamps, b.timestamps)
    assert a.matrix.has_canonical_format and b.matrix.has_canonical_format


def test_leading_blank_lines_spaces_and_quotes_in_header(tmp_path):
    p = _write(tmp_path / "r.csv",
               '\n\n"userId", movieId ,rating\n1,10,4\n\n2,10,3\n2,x1,5\n')
    with pytest.raises(DataError) as info:
        likewise.read_csv(p)
    assert info.value.line == 7 and info.value.column == "movieId"  # mixed ids, real line
    p = _write(tmp_path / "ok.csv", '\n\n"userId", movieId ,rating\n1,10,4\n\n2,10,3\n')
    assert likewise.read_csv(p).nnz == 2


def test_type_change_after_the_first_block(tmp_path):
    """Arrow infers types from the first block; a later change is still located exactly."""
    rows = "".join(f"{u},{u % 50},3\n" for u in range(1, 400_001))
    p = _write(tmp_path / "big.csv", "userId,movieId,rating\n" + rows + "abc,1,3\n")
    with pytest.raises(DataError) as info:
        likewise.read_csv(p)
    assert info.value.line == 400_002 and info.value.column == "userId"
    assert "mixed id types" in str(info.value)


# ---------------------------------------------------------------------------------------
# the numba fast path for plain numeric files (forced on small files here)
# ---------------------------------------------------------------------------------------
@pytest.fixture
def fast_path(monkeypatch):
    from likewise.data import readers

    monkeypatch.setattr(readers, "_FAST_MIN_BYTES", 0)
    calls = {"fast": 0}
    real = readers._fast_numeric_table

    def spy(src):
        out = real(src)
        calls["fast"] += out is not None
        return out

    monkeypatch.setattr(readers, "_fast_numeric_table", spy)
    return calls


def test_fast_path_equals_arrow_path(tmp_path, fast_path):
    from likewise.data.synthetic import write_csv

    data = likewise.synthetic(n_users=300, n_items=200, n_interactions=6000,
                              rating_scale=(0.5, 5), rating_step=0.5)
    write_csv(data, tmp_path / "r.csv")
    frame = pd.read_csv(tmp_path / "r.csv").sample(frac=1.0, random_state=1)
    frame["extra"] = 7
    frame.to_csv(tmp_path / "shuffled.csv", index=False, lineterminator="\r\n")
    for name in ("r.csv", "shuffled.csv"):
        got = likewise.read_csv(tmp_path / name)
        assert (got.matrix != data.matrix).nnz == 0 and got.items == data.items
        np.testing.assert_array_equal(got.timestamps, data.timestamps)
    assert fast_path["fast"] == 2
    ref = likewise.read_csv(ML100K, rating_scale=(1, 5))
    assert fast_path["fast"] == 3 and ref.nnz == 100_000
    assert (ref.matrix != likewise.datasets.movielens("100k").matrix).nnz == 0


def test_fast_path_parses_signs_and_decimals(tmp_path, fast_path):
    p = _write(tmp_path / "r.csv", "user,item,rating,timestamp\n-3,+7,-1.25,-5\n2,7,+0.5,6\n"
                                   "2,8,4,7")  # no newline at the end
    data = likewise.read_csv(p)
    assert fast_path["fast"] == 1
    f = data.to_frame().sort_values("user")
    assert f["user"].tolist() == [-3, 2, 2] and f["rating"].tolist() == [-1.25, 0.5, 4.0]
    assert sorted(data.timestamps.tolist()) == [-5, 6, 7]


@pytest.mark.parametrize("body", [
    '1,10,"4",5\n',            # quotes
    "1,10,4e0,5\n",            # exponent
    "1,10,,5\n",               # empty field
    "1,10,4,5\n\n2,10,3,6\n",  # blank line
    "1,a10,4,5\n",             # text id
    "1,10,4,5,9\n",            # extra field
    "1,10,4\n",                # missing field
    "1,10,4.5.1,5\n",          # two dots
    "1,10,NaN,5\n",            # NaN
    "1,10,4, 5\n",             # space
])
def test_fast_path_gives_up_and_arrow_decides(tmp_path, fast_path, body):
    p = _write(tmp_path / "r.csv", "userId,movieId,rating,timestamp\n" + body)
    try:
        likewise.read_csv(p)
    except DataError:
        pass
    assert fast_path["fast"] == 0


def test_fast_path_errors_still_located(tmp_path, fast_path):
    p = _write(tmp_path / "r.csv", "userId,movieId,rating\n1,10,4\n2,10,9\n")
    with pytest.raises(DataError) as info:
        likewise.read_csv(p, rating_scale=(1, 5))
    assert fast_path["fast"] == 1 and info.value.line == 3 and info.value.column == "rating"


def test_fast_path_sorted_file_and_ids_beyond_int32(tmp_path, fast_path):
    p = _write(tmp_path / "r.csv", "userId,movieId,rating\n1,10,4\n1,12,3\n2,10,5\n")
    data = likewise.read_csv(p)
    assert fast_path["fast"] == 1 and data.matrix.toarray().tolist() == [[4, 3], [5, 0]]
    big = 2**31 + 5  # beyond int32: the fast path gives up, the general path reads it
    p = _write(tmp_path / "big.csv", f"userId,movieId,rating\n{big},10,4\n1,10,3\n")
    data = likewise.read_csv(p)
    assert fast_path["fast"] == 1 and data.users.ids.tolist() == [1, big]
    # an unsorted boundary between two sorted halves is noticed
    p = _write(tmp_path / "halves.csv", "userId,movieId,rating\n" + "".join(
        f"{u},{k},3\n" for u in (5, 6, 1, 2) for k in range(200)))
    data = likewise.read_csv(p)
    assert fast_path["fast"] == 2 and data.users.ids.tolist() == [1, 2, 5, 6]
    assert data.matrix.has_canonical_format and data.nnz == 800


@pytest.mark.parametrize("layout", ["uirt", "uir", "ui", "uit", "iurt", "uirx"])
def test_written_out_kernel_agrees_with_the_general_one(layout):
    """parse_numeric's kernel for user,item[,value][,time] == the general kernel, always.

    Random rows mix what the written-out kernel handles (plain digits, decimals such as
    '5.' and '.5', CRLF) with what it leaves to the general kernel (signs, 10-digit ids),
    and a few bad rows; chunk by chunk the status, the parsed columns and the statistics
    must be those of the general kernel alone.
    """
    from likewise.data import _reader_kernels as K

    rng = np.random.default_rng(len(layout) * 7 + ord(layout[0]))
    codes = {"u": (1, 0), "i": (1, 1), "r": (2, 0), "t": (3, 0), "x": (0, 0)}
    kinds = np.array([codes[c][0] for c in layout], np.int8)
    slots = np.array([codes[c][1] for c in layout], np.int64)
    expected = (("r" in layout) * 1, ("t" in layout) * 1) if layout in ("uirt", "uir", "ui",
                                                                         "uit") else (-1, -1)
    assert K.standard_layout(kinds, slots) == expected

    def field(c):
        roll = rng.random()
        if c in "ui":
            if roll < 0.03:
                return str(int(rng.integers(1_000_000_000, 2_000_000_000)))  # 10 digits
            if roll < 0.05:
                return "-" + str(int(rng.integers(1, 99)))
            return str(int(rng.integers(0, 10 ** int(rng.integers(1, 7)))))
        if c == "r":
            return rng.choice(["4", "3.5", "5.", ".5", "0.25", "+2", "-1.5", "10.125"])
        if c == "t":
            return str(int(rng.integers(0, 2_000_000_000))) if roll > 0.02 else "-7"
        return "z9"

    chunks = []
    for k in range(40):
        bad = k % 9 == 8
        rows = []
        for _ in range(int(rng.integers(1, 30))):
            row = ",".join(field(c) for c in layout)
            rows.append(row + ("\r\n" if rng.random() < 0.2 else "\n"))
        if bad:
            rows.insert(int(rng.integers(0, len(rows))), "1,,3\n")
        chunks.append("".join(rows).encode())
    buf = np.frombuffer(b"".join(chunks), np.uint8)
    ends = np.cumsum([len(c) for c in chunks]).astype(np.int64)
    starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
    counts = np.array([c.count(b"\n") for c in chunks])
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    n = int(counts.sum())

    def outputs():
        return (np.full((2, n), -9, np.int32),
                np.full((int("r" in layout), n), -9, np.float32),
                np.full((int("t" in layout), n), -9, np.int64),
                np.full(len(chunks), -5, np.int64), np.zeros((len(chunks), 5), np.int64))

    got = outputs()
    K.parse_numeric(buf, starts, ends, offsets, kinds, slots, 44, *got)
    ref = outputs()
    for k in range(len(chunks)):
        ref[3][k] = K._parse_chunk(buf, starts[k], ends[k], offsets[k], kinds, slots, 44,
                                   ref[0], ref[1], ref[2], ref[4][k])
    np.testing.assert_array_equal(got[3], ref[3])
    ok = ref[3] == -1
    assert ok.sum() > 20 and (~ok).sum() >= 4  # both outcomes exercised
    rows_ok = np.repeat(ok, counts)
    for a, b in zip(got[:3], ref[:3]):
        np.testing.assert_array_equal(a[:, rows_ok], b[:, rows_ok])
    np.testing.assert_array_equal(got[4][ok], ref[4][ok])


def test_kernel_loader_thread_loads_the_specialisations_the_read_uses(tmp_path):
    """The first fast-path read in a process loads its kernels on a thread (overlapping
    numba's set-up with the newline count); the warm-up must load the very
    specialisations the read then calls, or it would only add work. Fresh process, so the
    kernels are not loaded yet."""
    import subprocess
    import sys
    import textwrap

    from likewise.data.synthetic import write_csv

    data = likewise.synthetic(n_users=200, n_items=100, n_interactions=3000,
                              rating_scale=(0.5, 5), rating_step=0.5)
    write_csv(data, tmp_path / "r.csv")
    code = textwrap.dedent(f"""
        import threading
        import numpy as np
        import likewise
        from likewise.data import readers, _reader_kernels as K
        readers._FAST_MIN_BYTES = 0
        assert not readers._KERNELS_LOADED
        started = []
        real_start = threading.Thread.start
        def start(self):
            started.append(self.name)
            real_start(self)
        threading.Thread.start = start
        first = likewise.read_csv({str(tmp_path / "r.csv")!r})
        threading.Thread.start = real_start
        assert started == ["likewise-kernel-loader"], started
        assert readers._KERNELS_LOADED
        for kernel in (K.parse_numeric, K._mark, K._map, K.sorted_runs):
            assert len(kernel.signatures) == 1, (kernel, kernel.signatures)
        again = likewise.read_csv({str(tmp_path / "r.csv")!r})
        assert (first.matrix != again.matrix).nnz == 0
        np.testing.assert_array_equal(first.timestamps, again.timestamps)
        print(first.nnz)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) == data.nnz


def test_float_and_oversized_integer_ids_are_located(tmp_path):
    # Arrow reads these id columns as floats: a fraction, or integers beyond int64
    p = _write(tmp_path / "frac.csv", "user,item,rating\n1.5,10,4\n2.0,11,3\n")
    with pytest.raises(DataError) as info:
        likewise.read_csv(p)
    assert (info.value.line, info.value.column) == (2, "user")
    assert "user id 1.5 is not an integer" in str(info.value)
    p = _write(tmp_path / "huge.csv", "user,item,rating\n1,10,4\n99999999999999999999999,11,3\n")
    with pytest.raises(DataError) as info:
        likewise.read_csv(p)
    assert (info.value.line, info.value.column) == (3, "user")
    assert "too large for an integer id; pass id_type='str'" in str(info.value)
    data = likewise.read_csv(p, id_type="str")
    assert data.users.ids.tolist() == ["1", "99999999999999999999999"]
