"""compare(), its reports, tune() and MLflow logging, on MovieLens 100K with few folds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import likewise
from likewise.errors import ConfigError, UnsupportedError
from likewise.evaluation.registry import MODELS, available_models, make_model
from likewise.evaluation.tune import parameter_grid, sample_parameters


@pytest.fixture(scope="module")
def ml100k():
    return likewise.datasets.movielens("100k")


@pytest.fixture(scope="module")
def rating_result(ml100k):
    models = {"baseline": likewise.Baseline(), "random": likewise.Random(random_state=0),
              "popularity": likewise.Popularity()}
    return likewise.compare(models, ml100k, protocol="rating_cv", folds=3, progress=False)


def test_compare_summary(rating_result, ml100k):
    frame = rating_result.to_frame()
    assert frame.index.tolist() == ["baseline", "random"]  # sorted by rmse, best first
    assert frame.loc["baseline", "rmse"] < 0.96 < frame.loc["random", "rmse"]
    assert (frame["folds"] == 3).all()
    for col in ("rmse_std", "mae", "fit_time", "predict_time_std"):
        assert col in frame.columns
    assert frame["rmse_std"].gt(0).all()
    assert "popularity" in rating_result.notes  # ranks only: not in a rating table
    assert rating_result.best() == "baseline"
    # the per-fold table matches the summary
    folds = rating_result.folds
    assert len(folds) == 6
    mean = folds[folds["model"] == "baseline"]["rmse"].mean()
    assert frame.loc["baseline", "rmse"] == pytest.approx(mean)
    # same splits for every model: the per-fold test sizes agree
    assert (folds.groupby("fold")["n_test"].nunique() == 1).all()


def test_compare_matches_manual_cv(ml100k):
    result = likewise.compare([likewise.Baseline()], ml100k, protocol="rating_cv", folds=2,
                              random_state=7, progress=False)
    rmses = []
    for train, test in likewise.splits.kfold(ml100k, k=2, random_state=7):
        model = likewise.Baseline().fit(train)
        f = test.to_frame()
        rmses.append(likewise.metrics.rmse(f["rating"], model.predict(f["user"], f["item"])))
    assert result.to_frame().loc["Baseline", "rmse"] == pytest.approx(np.mean(rmses))


def test_compare_does_not_fit_the_given_models(ml100k):
    model = likewise.Baseline()
    likewise.compare({"b": model}, ml100k, protocol="rating_holdout", progress=False)
    assert not getattr(model, "fitted_", False)


def test_compare_topn_and_sorting(ml100k):
    result = likewise.compare([likewise.Random(random_state=0), likewise.Popularity(),
                               likewise.Popularity(method="weighted")], ml100k,
                              protocol="topn_user_holdout", folds=1, k=5,
                              metrics=["precision", "coverage"], progress=False)
    frame = result.to_frame()
    assert frame.index.tolist()[0] == "Popularity"
    assert list(result.metrics) == ["precision@5", "coverage@5"]
    assert "Popularity-2" in frame.index  # duplicate class names are made unique
    by_cov = likewise.compare([likewise.Random(random_state=0), likewise.Popularity()], ml100k,
                              protocol="topn_user_holdout", folds=1, k=5,
                              metrics=["precision", "coverage"], sort_by="coverage",
                              progress=False)
    assert by_cov.to_frame().index[0] == "Random"
    with pytest.raises(ConfigError, match="sort_by"):
        likewise.compare([likewise.Popularity()], ml100k, protocol="topn_user_holdout",
                         metrics=["precision"], sort_by="rmse", progress=False)


def test_compare_input_errors(ml100k):
    with pytest.raises(ConfigError, match="at least one"):
        likewise.compare({}, ml100k)
    with pytest.raises(ConfigError, match="not a likewise"):
        likewise.compare({"x": object()}, ml100k)
    with pytest.raises(likewise.DataError, match="Interactions"):
        likewise.compare([likewise.Baseline()], ml100k.to_frame())


def test_reports_are_written_and_valid(rating_result, tmp_path):
    paths = rating_result.save(tmp_path / "report")
    assert set(paths) == {"markdown", "csv", "json", "png", "html"}
    md = paths["markdown"].read_text()
    assert md.startswith("| model | rmse |") and "± " in md and "popularity" in md
    csv = pd.read_csv(paths["csv"], index_col=0)
    assert csv.index.tolist() == ["baseline", "random"]
    assert csv.loc["baseline", "rmse"] == pytest.approx(
        rating_result.to_frame().loc["baseline", "rmse"], rel=1e-5)
    doc = json.loads(paths["json"].read_text())
    assert doc["summary"]["baseline"]["rmse"] == pytest.approx(
        rating_result.to_frame().loc["baseline", "rmse"])
    assert doc["protocol"]["protocol"] == "rating_cv" and doc["protocol"]["folds"] == 3
    assert len(doc["folds"]) == 6 and doc["dataset"]["users"] == 943
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = paths["html"].read_text()
    assert html.startswith("<!DOCTYPE html>") and "</html>" in html
    assert "<table>" in html and "<td>baseline</td>" in html
    assert "data:image/png;base64," in html
    assert "http://" not in html and "https://" not in html  # self-contained
    assert "Baseline" in html and "numpy" in html  # model classes and versions


def test_tune_grid(ml100k):
    grid = {"reg_user": [2, 15], "reg_item": [2, 10]}
    result = likewise.tune(likewise.Baseline(), grid, ml100k, folds=2, progress=False)
    assert len(result.results) == 4
    assert result.metric == "rmse" and not result.higher_is_better
    best_row = result.results.loc[result.results["rank"] == 1].iloc[0]
    assert best_row["mean_rmse"] == pytest.approx(result.best_score)
    assert result.best_score == pytest.approx(result.results["mean_rmse"].min())
    assert result.best_model.get_params()["reg_user"] == result.best_params["reg_user"]
    assert result.best_model.fitted_ and result.best_model.n_users == 943
    # same folds for every candidate: tune agrees with compare on those folds
    again = likewise.compare({"b": likewise.Baseline(**result.best_params)}, ml100k,
                             protocol="rating_cv", folds=2, progress=False)
    assert again.to_frame().loc["b", "rmse"] == pytest.approx(result.best_score)
    assert "| reg_user |" in result.to_markdown()


def test_tune_random_and_ranking_metric(ml100k):
    from scipy.stats import uniform

    result = likewise.tune(likewise.Popularity(method="weighted"), data=ml100k,
                           param_distributions={"m_quantile": uniform(0.5, 0.45)},
                           search="random", n_iter=3, protocol="topn_user_holdout", folds=1,
                           metric="precision", refit=False, progress=False)
    assert result.metric == "precision@10" and result.higher_is_better
    assert result.best_score == pytest.approx(result.results["mean_precision@10"].max())
    assert result.best_model is None
    assert all(0.5 <= v <= 0.95 for v in result.results["param_m_quantile"])


def test_tune_validation(ml100k):
    with pytest.raises(ConfigError, match="no parameter"):
        likewise.tune(likewise.Baseline(), {"factors": [1]}, ml100k, progress=False)
    with pytest.raises(ConfigError, match="search"):
        likewise.tune(likewise.Baseline(), {"reg_user": [1]}, ml100k, search="bayes")
    with pytest.raises(ConfigError, match="not available"):
        likewise.tune(likewise.Baseline(), {"reg_user": [1]}, ml100k, metric="ndcg")
    with pytest.raises(ConfigError, match="list"):
        parameter_grid({"a": 3})


def test_parameter_sampling_is_seeded():
    a = sample_parameters({"x": [1, 2, 3, 4, 5, 6], "y": ["a", "b"]}, n_iter=4, random_state=1)
    b = sample_parameters({"x": [1, 2, 3, 4, 5, 6], "y": ["a", "b"]}, n_iter=4, random_state=1)
    assert a == b and len(a) == 4 and len({tuple(d.items()) for d in a}) == 4
    assert len(sample_parameters({"x": [1, 2]}, n_iter=10)) == 2  # small grid: whole grid


def test_registry():
    assert make_model("popularity-weighted").method == "weighted"
    assert make_model("baseline", reg_user=3.0).reg_user == 3.0
    ready = available_models()
    assert {"random", "baseline", "popularity"} <= set(ready)
    with pytest.raises(ConfigError, match="unknown model"):
        make_model("nope")
    for name in set(MODELS) - set(ready):
        with pytest.raises(UnsupportedError, match="not available"):
            make_model(name)


def test_mlflow_logging(ml100k, tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    uri = (tmp_path / "mlruns").as_uri()
    result = likewise.compare({"baseline": likewise.Baseline(), "popularity":
                               likewise.Popularity()}, ml100k, protocol="topn_user_holdout",
                              folds=1, metrics=["ndcg", "recall"], progress=False,
                              mlflow_uri=uri, experiment="test-exp")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("test-exp")
    runs = client.search_runs([exp.experiment_id])
    assert {r.info.run_name for r in runs} == {"baseline", "popularity"}
    run = next(r for r in runs if r.info.run_name == "baseline")
    assert run.data.metrics["ndcg_at_10"] == pytest.approx(
        result.to_frame().loc["baseline", "ndcg@10"])
    assert run.data.params["model.class"] == "Baseline"
    assert run.data.tags["likewise.kind"] == "compare"
    # tuning logs one run per candidate, through the environment variable
    monkeypatch.setenv("LIKEWISE_MLFLOW_URI", str(tmp_path / "tune-runs"))
    likewise.tune(likewise.Baseline(), {"reg_user": [5, 15]}, ml100k, folds=2, refit=False,
                  progress=False, experiment="tune-exp")
    client = MlflowClient(tracking_uri=(tmp_path / "tune-runs").as_uri())
    runs = client.search_runs([client.get_experiment_by_name("tune-exp").experiment_id])
    assert len(runs) == 2 and all("rmse" in r.data.metrics for r in runs)
