"""``likewise models`` and the model names / ``--param`` values of ``train`` and ``tune``."""

from __future__ import annotations

import json

import pytest

import likewise
from likewise.cli import main
from likewise.models import registry


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_models_lists_every_model_with_aliases_data_and_summary(capsys):
    code, out, err = run(capsys, "models")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["name", "also", "data", "summary"]
    for e in registry.entries():
        row = next(line for line in lines if line.startswith(e.name + " "))
        assert e.summary in row and e.data in row
        assert e.class_name in row
    assert "popularity-weighted  = Popularity(method='weighted')" in out
    assert "svdpp" in out and "svd++" in out


def test_models_json_list(capsys):
    code, out, _ = run(capsys, "models", "--format", "json")
    rows = json.loads(out)
    assert code == 0 and [r["name"] for r in rows] == registry.names()
    implicit = next(r for r in rows if r["name"] == "implicit-als")
    assert implicit["class"] == "ImplicitALS" and implicit["data"] == registry.ANY


@pytest.mark.parametrize("spelling", ["implicit-als", "ImplicitALS", "implicit_als"])
def test_models_name_prints_the_parameters(capsys, spelling):
    code, out, err = run(capsys, "models", spelling)
    assert code == 0, err
    assert out.startswith("implicit-als: ImplicitALS\n")
    for p in registry.describe("implicit-als"):
        row = next(line for line in out.splitlines() if line.startswith(p.name + " "))
        assert p.text in row and repr(p.default) in row and p.help in row
    assert "factors         an integer >= 1" in out


def test_models_name_json_is_the_json_schema(capsys):
    code, out, _ = run(capsys, "models", "ContentKNN", "--format", "json")
    assert code == 0
    schema = json.loads(out)
    assert schema == registry.json_schema("content-knn")
    assert schema["properties"]["popularity_prior"]["anyOf"][0] == {"enum": ["auto"]}


def test_models_unknown_name_is_one_line(capsys):
    code, _, err = run(capsys, "models", "item-kn")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "did you mean 'item-knn'" in lines[0]


def test_models_is_listed_in_the_help(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "models" in out and "List the models" in out


@pytest.mark.parametrize("args,needle", [
    (["--model", "svd", "--param", "factors=abc"],
     "SVD: factors must be an integer >= 1, got 'abc'"),
    (["--model", "svd", "--param", "factors=0"], "SVD: factors must be an integer >= 1, got 0"),
    (["--model", "svd", "--param", "factrs=3"],
     "SVD has no parameter 'factrs'; valid: factors, epochs, learning_rate"),
    (["--model", "ContentKNN", "--param", "popularity_prior=often"],
     "ContentKNN: popularity_prior must be 'auto' or a number >= 0.0 and <= 1.0, got 'often'"),
    (["--model", "svd", "--param", "factors=8", "--param", "factors=9"], "given twice"),
    (["--model", "TorchMF", "--param", "device=tpu"], "device must be one of 'auto', 'cpu'"),
])
def test_train_param_errors_are_one_line_without_data(tmp_path, monkeypatch, capsys, args,
                                                      needle):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "train", "no-such-file.csv", *args, "--out", "m")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err and not (tmp_path / "m").exists()


@pytest.mark.parametrize("model,params,check", [
    ("ContentKNN", ["--param", "popularity_prior=auto", "--param", "list_fields=[\"genres\"]"],
     lambda m: m.popularity_prior == "auto" and m.list_fields == ["genres"]),
    ("item-knn", ["--param", "k=20", "--param", "similarity=none"],
     lambda m: m.k == 20 and m.similarity is None),
    ("Popularity", ["--param", "method=weighted", "--param", "m=none"],
     lambda m: m.method == "weighted" and m.m is None),
])
def test_train_accepts_class_names_and_typed_params(tmp_path, capsys, model, params, check):
    out_dir = tmp_path / "m"
    code, out, err = run(capsys, "train", "movielens-100k", "--model", model, *params,
                         "--out", str(out_dir))
    assert code == 0, err
    assert check(likewise.load(out_dir))


def test_tune_reads_values_through_the_rules(capsys):
    code, _, err = run(capsys, "tune", "movielens-100k", "--model", "baseline", "--param",
                       "reg_user=5,abc")
    assert code == 2 and "Baseline: reg_user must be a number >= 0.0, got 'abc'" in err
    code, _, err = run(capsys, "tune", "movielens-100k", "--model", "Baseline", "--param",
                       "factors=loguniform(1,5)", "--search", "random")
    assert code == 2 and "Baseline has no parameter 'factors'" in err
