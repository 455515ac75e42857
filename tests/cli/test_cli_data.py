"""``likewise data info`` / ``likewise data split``: outputs, files, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import likewise
from likewise.cli import main
from likewise.cli._common import load_data, parse_rating_scale
from likewise.errors import ConfigError, DataError

LIKEWISE = Path(sys.executable).parent / "likewise"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory) -> Path:
    """A small explicit file with string ids and timestamps."""
    path = tmp_path_factory.mktemp("data") / "ratings.csv"
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({
        "userId": [f"u{k}" for k in rng.integers(0, 30, n)],
        "movieId": rng.integers(0, 50, n),
        "rating": rng.integers(1, 6, n).astype(float),
        "timestamp": rng.integers(1_000_000, 2_000_000, n),
    }).drop_duplicates(["userId", "movieId"])
    frame.to_csv(path, index=False)
    return path


def read_split(out: Path, fmt: str = "csv") -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    reader = pd.read_csv if fmt == "csv" else pd.read_parquet
    return (reader(out / f"train.{fmt}"), reader(out / f"test.{fmt}"),
            json.loads((out / "split.json").read_text()))


def as_set(frame: pd.DataFrame) -> set:
    return set(map(tuple, frame[["user", "item"]].astype(str).to_numpy().tolist()))


# -- data info ---------------------------------------------------------------------------

def test_info_movielens_text(capsys):
    code, out, err = run(capsys, "data", "info", "movielens-100k")
    assert code == 0 and err == ""
    assert "movielens-100k: explicit ratings, scale 1-5" in out
    for text in ("users         943", "items         1,682", "interactions  100,000",
                 "density       6.305%", "1997-09-20 .. 1998-04-22"):
        assert text in out
    # histogram: one bar per rating, the longest bar on the most common rating (4)
    bars = {line.split()[0]: line for line in out.splitlines()
            if line.startswith("  ") and "#" in line}
    assert sorted(bars) == ["1", "2", "3", "4", "5"]
    assert "34,174  (34.2%)" in bars["4"] and bars["4"].count("#") == 40
    assert bars["1"].count("#") == round(40 * 6110 / 34174)
    assert "user  min 20, median 65, mean 106.0, max 737" in out
    assert "items with fewer than 5 interactions: 333 (19.8%)" in out


def test_info_json_is_complete_and_parsable(capsys):
    code, out, _ = run(capsys, "data", "info", "movielens-100k", "--json")
    assert code == 0
    stats = json.loads(out)
    assert (stats["users"], stats["items"], stats["interactions"]) == (943, 1682, 100_000)
    assert stats["value_histogram"] == {"1": 6110, "2": 11370, "3": 27145, "4": 34174,
                                        "5": 21201}
    assert stats["rating_scale"] == [1.0, 5.0]
    assert stats["interactions_per_item"]["max"] == 583
    assert 0 < stats["long_tail"]["share_of_interactions_on_top_20pct_items"] < 1


def test_info_file_with_column_options(capsys, tmp_path, small_csv):
    expected = pd.read_csv(small_csv)
    code, out, _ = run(capsys, "data", "info", str(small_csv), "--json")
    assert code == 0
    stats = json.loads(out)
    assert stats["interactions"] == len(expected)
    assert stats["users"] == expected["userId"].nunique()
    assert stats["kind"] == "explicit"
    # same data under other column names, tab-separated, read with explicit mappings
    tsv = tmp_path / "weird.txt"
    expected.rename(columns={"userId": "who", "movieId": "what", "rating": "stars",
                             "timestamp": "when"}).to_csv(tsv, sep="\t", index=False)
    code, out, err = run(capsys, "data", "info", str(tsv), "--json", "--sep", "\\t",
                         "--user-col", "who", "--item-col", "what", "--rating-col", "stars",
                         "--timestamp-col", "when")
    assert code == 0, err
    assert json.loads(out)["interactions"] == len(expected)
    code, out, _ = run(capsys, "data", "info", str(small_csv), "--json", "--implicit")
    assert json.loads(out)["kind"] == "implicit"


def test_info_parquet(capsys, tmp_path):
    path = tmp_path / "ratings.parquet"
    likewise.datasets.movielens("100k").to_frame().to_parquet(path)
    code, out, _ = run(capsys, "data", "info", str(path), "--json")
    assert code == 0 and json.loads(out)["interactions"] == 100_000


def test_info_implicit_dataset(capsys):
    code, out, _ = run(capsys, "data", "info", "movielens-100k", "--implicit")
    assert code == 0 and "implicit feedback" in out and "weights" in out


# -- data split --------------------------------------------------------------------------

@pytest.mark.parametrize("method, extra, n_test", [
    ("holdout", [], 20_000),
    ("user", ["--test-k", "2"], 2 * 943),
    ("user", ["--test-size", "0.1"], None),
    ("temporal", ["--test-size", "0.25"], 25_000),
    ("temporal", ["--cutoff", "1998-03-01"], None),
    ("temporal-user", [], 943),
    ("temporal-user", ["--test-size", "0.3"], None),
])
def test_split_methods_write_complete_disjoint_files(capsys, tmp_path, method, extra, n_test):
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "data", "split", "movielens-100k", "--method", method,
                            "--out", str(out), *extra)
    assert code == 0, err
    train, test, manifest = read_split(out)
    assert list(train.columns) == ["user", "item", "rating", "timestamp"]
    assert len(train) + len(test) == 100_000
    assert not as_set(train) & as_set(test)
    whole = likewise.datasets.movielens("100k").to_frame()
    merged = pd.concat([train, test]).sort_values(["user", "item"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(
        merged, whole.sort_values(["user", "item"]).reset_index(drop=True), check_dtype=False)
    if n_test is not None:
        assert len(test) == n_test
    assert manifest["method"] == method and manifest["test"] == len(test)
    assert manifest["train"] == len(train)
    assert f"({len(test):,} rows" in stdout
    if method == "temporal":
        assert train["timestamp"].max() <= test["timestamp"].min()
    if method == "temporal-user":
        last_train = train.groupby("user")["timestamp"].max()
        first_test = test.groupby("user")["timestamp"].min()
        assert (last_train.loc[first_test.index] <= first_test).all()


@pytest.mark.parametrize("method, extra", [("kfold", ["--folds", "4"]),
                                           ("user-kfold", ["--folds", "3", "--test-k", "2"])])
def test_split_cross_validation_writes_fold_directories(capsys, tmp_path, method, extra):
    out = tmp_path / "cv"
    code, stdout, err = run(capsys, "data", "split", "movielens-100k", "--method", method,
                            "--out", str(out), *extra)
    assert code == 0, err
    manifest = json.loads((out / "split.json").read_text())
    k = int(extra[1])
    assert [f["dir"] for f in manifest["folds"]] == [f"fold-{n}" for n in range(1, k + 1)]
    assert stdout.count("wrote ") == k
    tests = []
    for fold in manifest["folds"]:
        train = pd.read_csv(out / fold["dir"] / "train.csv")
        test = pd.read_csv(out / fold["dir"] / "test.csv")
        assert len(train) + len(test) == 100_000 and not as_set(train) & as_set(test)
        assert (fold["train"], fold["test"]) == (len(train), len(test))
        tests.append(test)
    if method == "kfold":  # every row in exactly one test fold
        assert sum(len(t) for t in tests) == 100_000
        assert len(set().union(*map(as_set, tests))) == 100_000
    else:  # every user a test user in exactly one fold, with 2 test rows there
        users = pd.concat(tests)["user"]
        assert users.nunique() == 943 and (users.value_counts() == 2).all()


def test_split_is_deterministic_for_a_seed(capsys, tmp_path):
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        code, _, _ = run(capsys, "data", "split", "movielens-100k", "--method", "user",
                         "--seed", seed, "--out", str(tmp_path / name))
        assert code == 0
    def read(name):
        return (tmp_path / name / "test.csv").read_bytes()

    assert read("a") == read("b")
    assert read("a") != read("c")
    assert json.loads((tmp_path / "a" / "split.json").read_text())["params"]["random_state"] == 7


def test_split_parquet_and_round_trip_through_read_csv(capsys, tmp_path, small_csv):
    out = tmp_path / "pq"
    code, _, err = run(capsys, "data", "split", str(small_csv), "--out", str(out),
                       "--format", "parquet", "--method", "user", "--test-k", "1")
    assert code == 0, err
    train, test, manifest = read_split(out, "parquet")
    original = pd.read_csv(small_csv)
    assert len(train) + len(test) == len(original)
    assert train["user"].str.startswith("u").all()  # external ids, not indices
    assert manifest["cold_users"] == 0
    # the CSV files read back into the same interactions (string ids kept)
    out = tmp_path / "csv"
    assert main(["data", "split", str(small_csv), "--out", str(out)]) == 0
    capsys.readouterr()
    back = likewise.read_csv(out / "test.csv", rating_scale=(1, 5))
    assert back.nnz == json.loads((out / "split.json").read_text())["test"]
    assert back.users.ids.dtype.kind == "U"


# -- errors ------------------------------------------------------------------------------

@pytest.fixture()
def bad_files(tmp_path) -> dict[str, Path]:
    files = {
        "empty": tmp_path / "empty.csv",
        "columns": tmp_path / "columns.csv",
        "rating": tmp_path / "rating.csv",
        "scale": tmp_path / "scale.csv",
        "parquet": tmp_path / "broken.parquet",
        "notime": tmp_path / "notime.csv",
    }
    files["notime"].write_text("user,item,rating\n1,2,4\n1,3,5\n2,2,1\n")
    files["empty"].write_text("")
    files["columns"].write_text("a,b\n1,2\n")
    files["rating"].write_text("user,item,rating\n1,2,4\n1,3,abc\n")
    files["scale"].write_text("user,item,rating\n1,2,4\n1,3,9\n")
    files["parquet"].write_bytes(b"PAR1 not really parquet")
    return files


@pytest.mark.parametrize("argv, fragment", [
    (["data", "info", "{missing}"], "no such file"),
    (["data", "info", "{empty}"], "empty.csv"),
    (["data", "info", "{columns}"], "columns.csv"),
    (["data", "info", "{rating}"], "line 3"),
    (["data", "info", "{scale}", "--rating-scale", "1,5"], "outside"),
    (["data", "info", "{parquet}"], "broken.parquet"),
    (["data", "info", "{tmp}"], "is a directory"),
    (["data", "info", "{rating}", "--rating-scale", "x"], "--rating-scale must be LOW,HIGH"),
    (["data", "info", "{parquet}", "--sep", ";"], "--sep does not apply to Parquet"),
    (["data", "info", "movielens-100k", "--user-col", "x"], "--user-col applies only to files"),
    (["data", "split", "movielens-100k", "--out", "{tmp}/o", "--test-size", "1.5"],
     "test_size must be a number > 0.0 and < 1.0, got 1.5"),
    (["data", "split", "movielens-100k", "--out", "{tmp}/o", "--test-k", "0",
      "--method", "user"], "test_k must be an integer >= 1"),
    (["data", "split", "movielens-100k", "--out", "{tmp}/o", "--test-k", "3"],
     "--test-k does not apply to --method holdout"),
    (["data", "split", "movielens-100k", "--out", "{tmp}/o", "--method", "temporal",
      "--cutoff", "1990-01-01"], "every interaction in test"),
    (["data", "split", "movielens-100k", "--out", "{tmp}/o", "--method", "temporal",
      "--cutoff", "someday"], "cutoff must be Unix seconds"),
    (["data", "split", "movielens-100k", "--out", "{rating}"], "is not a directory"),
    (["data", "split", "movielens-100k", "--out", "{tmp}/o", "--folds", "3"],
     "--folds does not apply to --method holdout"),
    (["data", "split", "movielens-100k", "--out", "{tmp}/o", "--method", "kfold",
      "--test-size", "0.5"], "--test-size does not apply to --method kfold"),
    (["data", "split", "movielens-100k", "--out", "{tmp}/o", "--method", "user-kfold",
      "--folds", "1"], "k must be an integer >= 2, got 1"),
    (["data", "split", "{notime}", "--out", "{tmp}/o", "--method", "temporal"],
     "needs timestamps"),
])
def test_bad_input_is_one_line_and_status_2(capsys, tmp_path, bad_files, argv, fragment):
    names = {k: str(v) for k, v in bad_files.items()}
    names.update(missing=str(tmp_path / "nope.csv"), tmp=str(tmp_path))
    code, out, err = run(capsys, *[a.format(**names) for a in argv])
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("likewise: error: ")
    assert fragment in lines[0]
    assert "Traceback" not in err and out == ""
    assert not (tmp_path / "o").exists()  # nothing half-written


@pytest.mark.parametrize("argv", [
    ["data", "split", "movielens-100k"],  # --out missing
    ["data", "split", "movielens-100k", "--out", "x", "--method", "bogus"],
    ["data", "split", "movielens-100k", "--out", "x", "--seed", "-1"],
    ["data", "split", "movielens-100k", "--out", "x", "--test-size", "abc"],
    ["data", "info"],
    ["data", "frobnicate"],
])
def test_usage_errors_exit_2_without_traceback(capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "Error:" in err and "Traceback" not in err


def test_load_data_helper(tmp_path, small_csv):
    assert load_data("MovieLens-100K").n_users == 943
    assert load_data(str(small_csv), timestamp=None, sep=None).nnz == len(pd.read_csv(small_csv))
    with pytest.raises(DataError, match="no such file"):
        load_data(str(tmp_path / "missing.csv"))
    with pytest.raises(ConfigError, match="--user-col applies only to files"):
        load_data("movielens-100k", user="x")
    assert parse_rating_scale("1,5") == (1.0, 5.0) == parse_rating_scale("1-5")
    assert parse_rating_scale("0.5:5") == (0.5, 5.0)
    assert parse_rating_scale(None) is None
    with pytest.raises(ConfigError):
        parse_rating_scale("5,1")


def test_dataset_names_dispatch_to_movielens(monkeypatch):
    import likewise.datasets

    asked = []
    small = likewise.datasets.movielens("100k")
    monkeypatch.setattr(likewise.datasets, "movielens",
                        lambda variant="100k", **kw: asked.append(variant) or small)
    for name in ("movielens-1m", "ML-20M", "movielens-latest-small", "ml-32m"):
        assert load_data(name) is small
    assert asked == ["1m", "20m", "latest-small", "32m"]


# -- as a real process -------------------------------------------------------------------

def test_console_script_end_to_end(tmp_path):
    if not LIKEWISE.exists():
        pytest.skip(f"console script not installed at {LIKEWISE}")
    done = subprocess.run([str(LIKEWISE), "data", "split", "movielens-100k", "--method",
                           "temporal-user", "--test-k", "3", "--out", str(tmp_path / "s")],
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "s" / "test.csv").exists()
    assert json.loads((tmp_path / "s" / "split.json").read_text())["test"] == 3 * 943
    done = subprocess.run([str(LIKEWISE), "data", "info", str(tmp_path / "missing.csv")],
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("likewise: error: ")


@pytest.mark.parametrize("argv", [["--help"], ["data", "--help"], ["data", "split", "--help"],
                                  ["data", "info", "--help"]])
def test_help_does_not_import_heavy_modules(argv):
    code = (
        "import sys, json\n"
        "from likewise.cli import main\n"
        f"rc = main({argv!r})\n"
        "heavy = sorted(m for m in ('numpy', 'scipy', 'pandas', 'pyarrow', 'numba', 'torch')"
        " if m in sys.modules)\n"
        "print(json.dumps([rc, heavy]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    rc, heavy = json.loads(done.stdout.strip().splitlines()[-1])
    assert rc == 0
    assert heavy == []


# -- documentation -----------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_docs_cli_examples_run(capsys, tmp_path, monkeypatch):
    """Every `$ likewise data ...` line in docs/cli.md runs; the shown info output is real."""
    import re
    import shlex

    monkeypatch.chdir(tmp_path)
    text = DOC.read_text()
    commands = re.findall(r"^\$ (likewise data .*)$", text, re.MULTILINE)
    assert len(commands) >= 6
    for line in commands:
        argv = shlex.split(line)[1:]
        code, out, err = run(capsys, *argv)
        if "ratings.csv" in argv:  # the documented error example (no such file here)
            assert code == 2 and err.startswith("likewise: error: ")
            continue
        assert code == 0, (line, err)
    shown = re.search(r"## `likewise data info`.*?```text\n(.*?)```", text, re.DOTALL).group(1)
    code, out, _ = run(capsys, "data", "info", "movielens-100k")
    assert out == shown
    assert (tmp_path / "splits" / "last1" / "test.parquet").exists()
