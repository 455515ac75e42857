"""Readers on hostile files (issue 14, points 5 and 6): exact ids, located data errors.

Every file here is small and written by the test. Each case was, before, silently wrong
data (ids merged or rounded, INT64_MIN timestamps) or an internal error ("this is a bug",
exit 1) or a hang; now the data is exact or the error is a DataError naming the file,
line (or row) and column, and the CLI prints one line with exit status 2.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import likewise
from likewise import DataError, Interactions
from likewise.cli import main

BIG = 2**53


def _write(path: Path, text: str | bytes) -> Path:
    data = text.encode() if isinstance(text, str) else text
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def _parquet(path: Path, **columns) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


def _located(info, line=None, column=None, row=None) -> None:
    err = info.value
    if line is not None:
        assert err.line == line, str(err)
    if column is not None:
        assert err.column == column, str(err)
    if row is not None:
        assert f"row {row}:" in str(err), str(err)
    assert str(err.path) in str(err)


def _cli(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the CLI in a fresh process (a hang fails the test instead of the suite)."""
    code = f"import sys; from likewise.cli import main; sys.exit(main({list(argv)!r}))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout)


def _one_error_line(err: str, fragment: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("likewise: error: "), err
    assert fragment in lines[0], err
    assert "Traceback" not in err and "this is a bug" not in err


# -- point 5: ids are exact ----------------------------------------------------------------

@pytest.mark.parametrize("name,sep,role", [
    ("ids.csv", ",", "user"), ("ids.csv", ",", "item"), ("ids.tsv", "\t", "user"),
    ("ids.csv.gz", ",", "user"), ("ids.csv", ",", "both"),
])
def test_ids_beyond_2_53_stay_apart_when_another_id_looks_like_a_float(tmp_path, name, sep,
                                                                       role):
    # '1.0' makes Arrow read the whole column as floats, which merged BIG and BIG + 1
    ids = [str(BIG + 1), str(BIG), "1.0", str(BIG + 3)]
    other = ["10", "11", "12", "13"]
    users, items = (ids, other) if role == "user" else (other, ids) if role == "item" \
        else (ids, ids)
    rows = "".join(f"{u}{sep}{i}{sep}4\n" for u, i in zip(users, items))
    p = _write(tmp_path / name, f"user{sep}item{sep}rating\n" + rows)
    data = likewise.read_csv(p)
    assert data.nnz == 4
    exact = [1, BIG, BIG + 1, BIG + 3]
    if role in ("user", "both"):
        assert data.users.ids.tolist() == exact
    if role in ("item", "both"):
        assert data.items.ids.tolist() == exact


def test_float_ids_that_cannot_be_exact_are_located(tmp_path):
    p = _write(tmp_path / "frac.csv", f"user,item\n{BIG + 1},1\n2.5,2\n")
    with pytest.raises(DataError, match="user id 2.5 is not an integer") as info:
        likewise.read_csv(p)
    _located(info, line=3, column="user")
    # Parquet floats beyond 2**53 were rounded before they were written: refused
    p = _parquet(tmp_path / "f.parquet", user=pa.array([float(BIG), float(BIG + 2)]),
                 item=pa.array([1, 2]))
    with pytest.raises(DataError, match=r"2\*\*53 or more") as info:
        likewise.read_parquet(p)
    _located(info, column="user", row=1)
    p = _parquet(tmp_path / "f32.parquet", user=pa.array([1.0, 2.0**24], pa.float32()),
                 item=pa.array([1, 2]))
    with pytest.raises(DataError, match=r"2\*\*24 or more") as info:
        likewise.read_parquet(p)
    _located(info, column="user", row=2)


def test_a_missing_id_in_a_float_looking_column_is_located(tmp_path):
    p = _write(tmp_path / "gap.csv", "user,item\n1.0,1\n,2\n")
    with pytest.raises(DataError, match="missing user id") as info:
        likewise.read_csv(p)
    _located(info, line=3, column="user")


@pytest.mark.parametrize("ids,line", [
    (["1e3", "1000"], 2),     # 1e3 became 1000 and merged with it
    (["5", "1e3"], 3),
    (["1e3", "2e3"], 2),      # became 1000 and 2000
    (["1E3", "7"], 2),
    (["-1e3", "7"], 2),
])
def test_text_id_1e3_never_becomes_1000(tmp_path, ids, line):
    p = _write(tmp_path / "e.csv", "user,item\n" + "".join(f"{u},{k}\n" for k, u in
                                                         enumerate(ids)))
    with pytest.raises(DataError, match="is not an integer.*id_type='str'") as info:
        likewise.read_csv(p)
    _located(info, line=line, column="user")
    with pytest.raises(DataError):
        likewise.read_csv(p, id_type="int")
    assert sorted(likewise.read_csv(p, id_type="str").users.ids.tolist()) == sorted(ids)


def test_text_ids_that_look_like_floats_stay_text_in_text_columns(tmp_path):
    p = _write(tmp_path / "t.csv", "user,item\n1e3,1\nabc,2\n")
    assert likewise.read_csv(p).users.ids.tolist() == ["1e3", "abc"]


@pytest.mark.parametrize("value,line", [
    ("99999999999999999999", 3), ("1e30", 3), ("-1e19", 3), ("9223372036854775808", 3),
    ("-9223372036854775808", 3),  # INT64_MIN: NaT, the value out-of-range ones became
    ("inf", 3),
])
def test_out_of_range_timestamps_are_located(tmp_path, value, line):
    p = _write(tmp_path / "ts.csv", f"user,item,rating,timestamp\n1,1,4,5\n2,2,3,{value}\n")
    with pytest.raises(DataError, match="timestamp") as info:
        likewise.read_csv(p)
    _located(info, line=line, column="timestamp")
    code, out, err = _in_process(["data", "info", str(p)])
    assert code == 2
    _one_error_line(err, "line 3, column 'timestamp'")


def test_timestamps_at_the_int64_edge_are_kept(tmp_path):
    p = _write(tmp_path / "ts.csv", "user,item,timestamp\n1,1,9223372036854775807\n"
                                    "2,2,-9223372036854775807\n")
    assert likewise.read_csv(p).timestamps.tolist() == [2**63 - 1, -(2**63) + 1]


@pytest.mark.parametrize("timestamps,row", [
    (pa.array([1, 2**64 - 1], pa.uint64()), 2),          # wrapped to -1
    (pa.array([1, 2**63], pa.uint64()), 2),              # wrapped to INT64_MIN
    (pa.array([1.0, 1e30]), 2),                          # became INT64_MIN
    (pa.array([-1e19, 1.0]), 1),
])
def test_out_of_range_parquet_timestamps_are_located(tmp_path, timestamps, row):
    p = _parquet(tmp_path / "ts.parquet", user=pa.array([1, 2]), item=pa.array([1, 2]),
                 timestamp=timestamps)
    with pytest.raises(DataError, match="beyond the int64 range") as info:
        likewise.read_parquet(p)
    _located(info, column="timestamp", row=row)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_parquet_datetimes_with_fractions_of_a_second(tmp_path, unit):
    # a cast to whole seconds refused these ("would lose data", an internal error)
    per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[unit]
    raw = [1_600_000_000 * per_second + per_second // 2, -per_second // 2 if per_second > 1
           else -1]
    p = _parquet(tmp_path / "dt.parquet", user=pa.array([1, 2]), item=pa.array([1, 2]),
                 timestamp=pa.array(raw, pa.timestamp(unit, tz="UTC")))
    assert likewise.read_parquet(p).timestamps.tolist() == [1_600_000_000, -1]


@pytest.mark.parametrize("timestamps", [
    np.array([1e30, 5.0]), np.array([2**64 - 1, 1], dtype=np.uint64),
    np.array(["2020-01-01", "NaT"], dtype="datetime64[ns]"),
])
def test_out_of_range_timestamps_from_arrays(timestamps):
    with pytest.raises(DataError, match="row (0|1)"):
        Interactions.from_arrays([1, 2], [1, 2], [3.0, 4.0], timestamps)


# -- point 6: data errors, not internal errors ----------------------------------------------

@pytest.mark.parametrize("name,sep,column,value", [
    ("big.csv", ",", "user", "99999999999999999999"),
    ("big.csv", ",", "item", "18446744073709551616"),
    ("big.csv", ",", "user", "-9223372036854775809"),
    ("big.tsv", "\t", "item", "9223372036854775808"),
    ("big.csv.gz", ",", "user", "123456789012345678901234567890"),
])
def test_ids_beyond_int64_are_located_data_errors(tmp_path, name, sep, column, value):
    users, items = (["1", value], ["10", "11"]) if column == "user" else \
        (["1", "2"], ["10", value])
    rows = "".join(f"{u}{sep}{i}\n" for u, i in zip(users, items))
    p = _write(tmp_path / name, f"user{sep}item\n" + rows)
    with pytest.raises(DataError, match=f"{column} id {value} is too large.*id_type='str'") \
            as info:
        likewise.read_csv(p)
    _located(info, line=3, column=column)
    data = likewise.read_csv(p, id_type="str")  # the fix the message names
    assert value in getattr(data, column + "s").ids.tolist()


@pytest.mark.parametrize("ids,line", [
    (["1", "inf"], 3), (["-inf", "2"], 2), (["1", "nan"], 3), (["NaN", "1"], 2),
    (["1", "Infinity"], 3),
])
def test_inf_and_nan_ids_are_located(tmp_path, ids, line):
    p = _write(tmp_path / "inf.csv", "user,item\n" + "".join(f"{u},{k}\n" for k, u in
                                                           enumerate(ids)))
    with pytest.raises(DataError, match="user id") as info:
        likewise.read_csv(p)
    _located(info, line=line, column="user")


@pytest.mark.parametrize("values", [[1.0, np.inf], [np.nan, 1.0], [-np.inf, 2.0]])
def test_non_finite_parquet_ids_are_located(tmp_path, values):
    p = _parquet(tmp_path / "inf.parquet", user=pa.array(values), item=pa.array([1, 2]))
    with pytest.raises(DataError, match="is not an integer") as info:
        likewise.read_parquet(p)
    _located(info, column="user")


def test_uint64_parquet_ids(tmp_path):
    small = _parquet(tmp_path / "small.parquet", user=pa.array([1, 2**63 - 1], pa.uint64()),
                     item=pa.array([5, 6], pa.uint64()))
    assert likewise.read_parquet(small).users.ids.tolist() == [1, 2**63 - 1]
    for user, item, column, row in [([1, 2**63 + 5], [5, 6], "user", 2),
                                    ([1, 2], [2**64 - 1, 6], "item", 1)]:
        p = _parquet(tmp_path / f"{column}.parquet", user=pa.array(user, pa.uint64()),
                     item=pa.array(item, pa.uint64()))
        with pytest.raises(DataError, match="too large for an integer id.*id_type='str'") \
                as info:
            likewise.read_parquet(p)
        _located(info, column=column, row=row)
        data = likewise.read_parquet(p, id_type="str")
        assert str(max(user + item)) in data.users.ids.tolist() + data.items.ids.tolist()


@pytest.mark.parametrize("column,array", [
    ("user", pa.array([[1], [2]])),
    ("item", pa.array([{"a": 1}, {"a": 2}])),
    ("rating", pa.array([[4.0], [3.0]])),
    ("timestamp", pa.array([[1, 2], [3]], pa.large_list(pa.int64()))),
    ("item", pa.array([[("k", 1)], [("k", 2)]], pa.map_(pa.string(), pa.int64()))),
])
def test_nested_parquet_columns_are_named(tmp_path, column, array):
    columns = {"user": pa.array([1, 2]), "item": pa.array([1, 2]),
               "rating": pa.array([4.0, 3.0]), "timestamp": pa.array([1, 2])}
    columns[column] = array
    p = _parquet(tmp_path / "nested.parquet", **columns)
    with pytest.raises(DataError, match="nested values") as info:
        likewise.read_parquet(p)
    _located(info, column=column)
    code, _, err = _in_process(["data", "info", str(p)])
    assert code == 2
    _one_error_line(err, f"column '{column}'")


def test_a_nested_column_that_is_not_used_is_fine(tmp_path):
    p = _parquet(tmp_path / "extra.parquet", user=pa.array([1, 2]), item=pa.array([1, 2]),
                 tags=pa.array([["a"], ["b", "c"]]))
    assert likewise.read_parquet(p).nnz == 2


def test_boolean_parquet_ids_are_refused(tmp_path):
    p = _parquet(tmp_path / "b.parquet", user=pa.array([True, False]), item=pa.array([1, 2]))
    with pytest.raises(DataError, match="booleans") as info:
        likewise.read_parquet(p)
    _located(info, column="user")


LF = "user,item,rating,timestamp\n1,a,4,100\n2,\"b,c\",3.5,200\n1,d,5,300\n"


@pytest.mark.parametrize("name,text", [
    ("mac.csv", LF.replace("\n", "\r")),
    ("mac.tsv", LF.replace(",", "\t").replace("\"b\tc\"", "\"b,c\"").replace("\n", "\r")),
    ("mac.csv.gz", LF.replace("\n", "\r")),
    ("blank.csv", "\r\r" + LF.replace("\n", "\r")),
    ("mixed.csv", LF.replace("\n", "\r", 2)),
    ("noend.csv", LF.replace("\n", "\r").rstrip("\r")),
], ids=["csv", "tsv", "gzip", "blank-lines-first", "mixed", "no-final-newline"])
def test_cr_only_line_endings_are_read_like_newlines(tmp_path, name, text):
    want = likewise.read_csv(_write(tmp_path / ("lf" + name[name.index("."):]),
                                    LF if ".tsv" not in name else
                                    LF.replace(",", "\t").replace("\"b\tc\"", "\"b,c\"")))
    got = likewise.read_csv(_write(tmp_path / name, text))
    assert got.users == want.users and got.items == want.items
    assert (got.matrix != want.matrix).nnz == 0
    np.testing.assert_array_equal(got.timestamps, want.timestamps)


@pytest.mark.parametrize("text,line,column", [
    ("user,item,rating\r1,1,4\r2,2,x\r", 3, "rating"),
    ("user,item,rating\r\r1,1,4\r2,2,4\r3,3,4,9\r", 5, None),
    ("user,item,rating\r\n1,1,4\r\n\r\n2,,4\r\n", 4, "item"),
])
def test_errors_in_cr_only_files_name_the_right_line(tmp_path, text, line, column):
    with pytest.raises(DataError) as info:
        likewise.read_csv(_write(tmp_path / "mac.csv", text))
    _located(info, line=line, column=column)


LONG = 200 * 1024  # over the csv module's 128 KiB field limit


@pytest.mark.parametrize("text,line", [
    ("user,item,rating\n1,1,4\n\"2,2,4\n" + "3,3,3\n" * 30000, 3),  # an unclosed quote
    ("user,item,rating\n1,1,4\n2,2," + "4" * LONG + "\n", 3),       # a huge rating
    ("user,item,rating\n1,1,4\n2,\"" + "x" * LONG + "\",4\n3,3,z\n", 3),
    ("user,item,\"" + "r" * LONG + "\"\n1,1,4\n", 1),                # a huge header
])
def test_fields_over_128_kib_are_located(tmp_path, text, line):
    p = _write(tmp_path / "long.csv", text)
    with pytest.raises(DataError) as info:
        likewise.read_csv(p)
    _located(info, line=line)
    code, _, err = _in_process(["data", "info", str(p)])
    assert code == 2
    _one_error_line(err, f"line {line}")


def test_long_fields_that_are_valid_are_read(tmp_path):
    p = _write(tmp_path / "ok.csv", "user,item,rating,notes\nu" + "x" * LONG + ",1,4,a\n"
                                    "v,2,3," + "n" * LONG + "\n")
    data = likewise.read_csv(p)
    assert data.nnz == 2 and data.users.ids.tolist() == ["u" + "x" * LONG, "v"]


@pytest.fixture()
def fifo(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    path = tmp_path / "ratings.csv"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("argv", [
    ["data", "info", "{path}"],
    ["data", "info", "{path}", "--json"],
    ["train", "{path}", "--model", "popularity", "--out", "{tmp}/model"],
    ["data", "split", "{path}", "--out", "{tmp}/split"],
])
def test_cli_refuses_a_fifo_instead_of_hanging(fifo, tmp_path, argv):
    done = _cli(*[a.format(path=fifo, tmp=tmp_path) for a in argv], timeout=30)
    assert done.returncode == 2, done.stderr
    _one_error_line(done.stderr, "is not a regular file")
    assert not (tmp_path / "model").exists() and not (tmp_path / "split").exists()


@pytest.mark.parametrize("target", ["fifo", "/dev/zero", "/dev/null", "dir"])
def test_readers_refuse_non_regular_files(fifo, tmp_path, target):
    path = {"fifo": fifo, "dir": tmp_path}.get(target, Path(target))
    if not path.exists():
        pytest.skip(f"{target} does not exist here")
    for read in (likewise.read_csv, likewise.read_parquet):
        with pytest.raises(DataError, match="not a regular file|is a directory"):
            read(path)
    code, _, err = _in_process(["data", "info", str(path)])
    assert code == 2
    _one_error_line(err, "regular file" if target != "dir" else "directory")


_BLOCKED_IMPORTS = textwrap.dedent("""
    import importlib.abc, sys
    blocked = set(sys.argv[1].split(","))

    class CoreInstall(importlib.abc.MetaPathFinder):
        # as if the image extra were not installed: these modules cannot be imported
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in blocked:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    for name in list(sys.modules):
        if name.split(".")[0] in blocked:
            del sys.modules[name]
    sys.meta_path.insert(0, CoreInstall())
    from likewise.cli import main
    sys.exit(main(sys.argv[2:]))
""")


@pytest.mark.parametrize("blocked", [
    "torch,onnxruntime",
    "torch,torchvision,onnxruntime,onnx",
    "torch,torchvision,onnxruntime,onnx,PIL",
])
def test_images_index_without_the_image_extra_names_it(tmp_path, blocked):
    pytest.importorskip("PIL")
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    for k in range(2):
        Image.fromarray(np.full((8, 8, 3), 40 * k, np.uint8)).save(folder / f"{k}.png")
    env = dict(os.environ, LIKEWISE_DATA_DIR=str(tmp_path / "cache"))  # no exported network
    done = subprocess.run([sys.executable, "-c", _BLOCKED_IMPORTS, blocked, "images", "index",
                           str(folder), "--out", str(tmp_path / "cat"), "--no-progress"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 2, done.stderr
    _one_error_line(done.stderr, "pip install 'likewise[image]'")
    assert not (tmp_path / "cat").exists()


def _in_process(argv: list[str]) -> tuple[int, str, str]:
    """Run the CLI in this process; returns (status, stdout, stderr)."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()
