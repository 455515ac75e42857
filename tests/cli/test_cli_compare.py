"""``likewise compare`` and ``likewise tune``: tables, report files and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import likewise
from likewise.cli import main
from likewise.cli.tune import parse_param, parse_value
from likewise.errors import ConfigError


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def implicit_csv(tmp_path_factory) -> Path:
    """A small implicit file (no rating column) with string ids."""
    rng = np.random.default_rng(0)
    n = 3000
    users = rng.integers(0, 80, n)
    items = np.minimum(rng.zipf(1.6, n), 120)  # popular items exist, so popularity wins
    frame = pd.DataFrame({"user": [f"u{u}" for u in users], "item": [f"i{i}" for i in items]})
    path = tmp_path_factory.mktemp("data") / "clicks.csv"
    frame.drop_duplicates().to_csv(path, index=False)
    return path


def test_compare_prints_table_and_writes_reports(capsys, tmp_path):
    code, out, err = run(capsys, "compare", "movielens-100k", "--models",
                         "baseline,random,popularity", "--folds", "2", "--out",
                         str(tmp_path / "r"), "--no-progress")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("| model | rmse | mae")
    assert lines[2].startswith("| baseline |") and lines[3].startswith("| random |")
    assert "Not evaluated: popularity" in out
    files = {p.name for p in (tmp_path / "r").iterdir()}
    assert files == {"results.md", "results.csv", "results.json", "results.png", "report.html"}
    doc = json.loads((tmp_path / "r" / "results.json").read_text())
    assert doc["protocol"]["protocol"] == "rating_cv" and doc["protocol"]["folds"] == 2
    assert (tmp_path / "r" / "results.png").read_bytes()[:4] == b"\x89PNG"
    assert "<td>baseline</td>" in (tmp_path / "r" / "report.html").read_text()


def test_compare_auto_protocol_on_implicit_file(capsys, implicit_csv):
    code, out, err = run(capsys, "compare", str(implicit_csv), "--models", "popularity,random",
                         "--folds", "1", "--k", "5", "--metrics", "precision,ndcg,coverage",
                         "--no-progress")
    assert code == 0, err
    assert out.splitlines()[0] == ("| model | precision@5 | ndcg@5 | coverage@5 | fit (s) | "
                                   "predict (s) |")
    assert out.splitlines()[2].startswith("| popularity |")
    assert "topn_user_holdout" in out


def test_compare_sort_metric_and_threshold(capsys):
    code, out, err = run(capsys, "compare", "movielens-100k", "--models", "popularity,random",
                         "--protocol", "topn_user_holdout", "--folds", "1", "--metrics",
                         "precision,coverage", "--metric", "coverage",
                         "--relevance-threshold", "4", "--no-progress")
    assert code == 0, err
    assert out.splitlines()[2].startswith("| random |")
    assert "sorted by coverage@10 (higher is better)" in out


def test_compare_errors_are_one_line(capsys, tmp_path):
    code, out, err = run(capsys, "compare", "movielens-100k", "--models", "nope")
    assert code == 2 and out == "" and err.count("\n") == 1 and "unknown model 'nope'" in err
    code, _, err = run(capsys, "compare", str(tmp_path / "missing.csv"), "--models",
                       "baseline")
    assert code == 2 and "no such file" in err
    code, _, err = run(capsys, "compare", "movielens-100k", "--models", "baseline",
                       "--protocol", "rating_cv", "--test-size", "0.1")
    assert code == 2 and "no option 'test_size'" in err
    code, _, err = run(capsys, "compare", "movielens-100k", "--models", "baseline",
                       "--metrics", "ndcg")
    assert code == 2 and "not available for the rating_cv protocol" in err


def test_compare_list_models(capsys):
    code, out, _ = run(capsys, "compare", "--list-models")
    assert code == 0
    assert any(line.startswith("baseline ") for line in out.splitlines())
    assert "popularity-weighted" in out


def test_unavailable_models_are_skipped(capsys, monkeypatch):
    from likewise.evaluation import registry

    monkeypatch.setitem(registry.MODELS, "ghost", ("NoSuchModel", {}))
    # a name that maps to a class likewise does not have is reported and skipped
    code, out, err = run(capsys, "compare", "movielens-100k", "--models", "ghost,baseline",
                         "--folds", "2", "--no-progress")
    assert code == 0, err
    assert "skipping ghost" in err and "not available" in err
    assert "| baseline |" in out
    code, out, err = run(capsys, "compare", "movielens-100k", "--models", "ghost")
    assert code == 2 and "none of the requested models is available" in err


def test_tune_grid_writes_results_and_model(capsys, tmp_path):
    code, out, err = run(capsys, "tune", "movielens-100k", "--model", "baseline", "--param",
                         "reg_user=5,15", "--param", "reg_item=5,10", "--folds", "2",
                         "--out", str(tmp_path / "t"), "--save-model", str(tmp_path / "m"),
                         "--no-progress")
    assert code == 0, err
    assert out.startswith("best rmse = ")
    frame = pd.read_csv(tmp_path / "t" / "results.csv")
    assert len(frame) == 4 and frame["rank"].tolist() == [1, 2, 3, 4]
    best = json.loads((tmp_path / "t" / "best_params.json").read_text())
    assert best["best_params"] == {"reg_user": int(frame.loc[0, "param_reg_user"]),
                                   "reg_item": int(frame.loc[0, "param_reg_item"])}
    model = likewise.load(tmp_path / "m")
    assert model.reg_user == best["best_params"]["reg_user"] and model.n_users == 943


def test_tune_random_with_distribution(capsys):
    code, out, err = run(capsys, "tune", "movielens-100k", "--model", "baseline-sgd",
                         "--search", "random", "--n-iter", "2", "--folds", "2", "--param",
                         "learning_rate=loguniform(0.001,0.01)", "--no-progress")
    assert code == 0, err
    assert out.count("\n| 0.") == 2  # two sampled candidates


def test_tune_errors(capsys):
    code, _, err = run(capsys, "tune", "movielens-100k", "--model", "baseline", "--param",
                       "reg_user")
    assert code == 2 and "name=v1,v2" in err
    code, _, err = run(capsys, "tune", "movielens-100k", "--model", "baseline", "--param",
                       "reg_user=loguniform(1,5)")
    assert code == 2 and "--search random" in err
    code, _, err = run(capsys, "tune", "movielens-100k", "--model", "baseline", "--param",
                       "factors=1,2")
    assert code == 2 and "no parameter 'factors'" in err


def test_value_parsing():
    assert [parse_value(v) for v in ["3", "-2.5", "1e-3", "false", "None", "als"]] == \
        [3, -2.5, 0.001, False, None, "als"]
    assert parse_param("method=als,sgd") == ("method", ["als", "sgd"])
    name, dist = parse_param("k=randint(5, 10)")
    assert name == "k" and set(dist.rvs(size=200, random_state=0)) <= set(range(5, 11))
    with pytest.raises(ConfigError, match="a < b"):
        parse_param("x=uniform(2,1)")
    with pytest.raises(ConfigError, match="a > 0"):
        parse_param("x=loguniform(0,1)")
