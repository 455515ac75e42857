"""Reports people read: labelled charts, a readable HTML page and an 80-column table."""

from __future__ import annotations

import html
import re

import pytest

import likewise
from likewise.evaluation.report import (
    format_significant,
    glossary,
    human_duration,
    significant,
)


@pytest.fixture(scope="module")
def ml100k():
    return likewise.datasets.movielens("100k")


@pytest.fixture(scope="module")
def rating_one_fold(ml100k):
    models = {"Baseline": likewise.Baseline(), "SVD": likewise.SVD(random_state=0),
              "UserKNN (msd, mean-centred)": likewise.UserKNN(k=40, similarity="msd")}
    return likewise.compare(models, ml100k, protocol="rating_holdout", progress=False)


@pytest.fixture(scope="module")
def topn_two_folds(ml100k):
    models = {"Popularity": likewise.Popularity(), "EASE": likewise.EASE(lambda_=500.0),
              "Random": likewise.Random(random_state=0)}
    return likewise.compare(models, ml100k.as_implicit(), protocol="topn_user_holdout",
                            folds=2, progress=False)


def test_significant_digits():
    assert significant(0.9421337) == "0.9421"
    assert significant(0.0309123) == "0.03091"
    assert significant(352.3947) == "352.4"
    assert significant(0.5) == "0.5000"
    assert significant(float("nan")) == "-"
    assert format_significant(0.0309123, 0.00042) == "0.03091 ± 0.00042"
    assert format_significant(1.5, float("nan")) == "1.500"
    assert human_duration(4.23) == "4.2 s" and human_duration(185) == "3 min 5 s"


@pytest.mark.parametrize("fixture", ["rating_one_fold", "topn_two_folds"])
def test_terminal_table_fits_80_columns(fixture, request):
    result = request.getfixturevalue(fixture)
    text = result.to_text(width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    headers = [line for line in text.splitlines() if line.startswith("| model |")]
    shown = {cell.strip() for line in headers for cell in line.strip("|").split("|")}
    # every metric and both times are still there, wrapped into several tables
    assert {*result.metrics, "fit (s)", "predict (s)"} <= shown
    names = list(result.to_frame().index)
    for header in headers:  # each table repeats the models, best first
        block = text.split(header)[1].splitlines()[2:2 + len(names)]
        assert [row.split("|")[1].strip() for row in block] == names
    assert result.to_markdown().splitlines()[0].count("|") == len(result.columns) + 2


def test_plot_returns_a_labelled_figure(topn_two_folds):
    from matplotlib.figure import Figure

    fig = topn_two_folds.plot()
    assert isinstance(fig, Figure)
    axes = fig.get_axes()
    assert len(axes) == 4
    frame = topn_two_folds.to_frame()
    for ax in axes:
        metric = ax.get_ylabel().split(" (")[0]
        assert metric in topn_two_folds.metrics
        texts = {t.get_text() for t in ax.texts}
        # every model's value is written on the chart
        assert {significant(v) for v in frame[metric]} <= texts
        # two folds: the error bars are drawn
        assert any(getattr(c, "has_yerr", False) or c.__class__.__name__ == "ErrorbarContainer"
                   for c in ax.containers)


def test_rating_errors_are_dots_on_a_zoomed_axis_without_empty_error_bars(rating_one_fold):
    fig = rating_one_fold.plot(metrics=["rmse"])
    (ax,) = fig.get_axes()
    rmse = rating_one_fold.to_frame()["rmse"]
    low, high = ax.get_ylim()
    assert 0 < low < rmse.min() and rmse.max() < high < 2 * rmse.max()
    assert "not from 0" in ax.get_ylabel() and ax.get_ylabel().startswith("rmse")
    assert not ax.containers  # one fold: no bars and no empty error bars
    assert {significant(v) for v in rmse} <= {t.get_text() for t in ax.texts}


def test_a_model_far_behind_is_marked_off_the_axis(ml100k):
    models = {"Baseline": likewise.Baseline(), "SVD": likewise.SVD(random_state=0),
              "Random": likewise.Random(random_state=0)}
    result = likewise.compare(models, ml100k, protocol="rating_cv", folds=2, progress=False)
    (ax,) = result.plot(metrics=["rmse"]).get_axes()
    rmse = result.to_frame()["rmse"]
    low, high = ax.get_ylim()
    # the close models spread over the axis; Random (about 1.5) is not stretching it
    close = rmse[["SVD", "Baseline"]]
    assert low < close.min() <= close.max() < high < rmse["Random"]
    assert high - low < 4 * (close.max() - close.min()) + 0.05
    texts = [t.get_text() for t in ax.texts]
    assert f"{significant(rmse['Random'])}\n(off axis)" in texts
    assert significant(rmse["SVD"]) in texts and significant(rmse["Baseline"]) in texts


def test_spread_out_values_are_bars_from_zero(topn_two_folds):
    (ax,) = topn_two_folds.plot(metrics=["ndcg@10"]).get_axes()
    assert ax.get_ylim()[0] == 0 and "zoomed" not in ax.get_ylabel()


def test_plot_to_a_path_writes_png(rating_one_fold, tmp_path):
    path = rating_one_fold.plot(tmp_path / "chart.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_html_report_is_readable(rating_one_fold, tmp_path):
    section = ("Top-10 for user 1", ["rank", "title"], [[1, "Star Wars (1977)"]], "a note")
    paths = rating_one_fold.save(tmp_path / "rating",
                                 links={"Top-N report": "../topn/report.html"},
                                 sections=[section])
    page = paths["html"].read_text()
    assert "<a href='../topn/report.html'>Top-N report</a>" in page
    assert "<h2>Top-10 for user 1</h2>" in page and "<td>Star Wars (1977)</td>" in page
    assert re.search(r"Generated \w+day \d{1,2} \w+ \d{4}, \d\d:\d\d UTC", page)
    rmse = rating_one_fold.to_frame().loc["SVD", "rmse"]
    assert f"<td>{significant(rmse)}</td>" in page
    assert "±" not in page.split("<h2>Results</h2>")[1].split("</table>")[0]  # one fold
    assert "<dt>rmse</dt>" in page and "<dt>fit (s)</dt>" in page
    assert "http://" not in page and "https://" not in page


def test_glossary_covers_every_metric_shown(topn_two_folds):
    names = dict(glossary(topn_two_folds.columns))
    assert set(names) == {*topn_two_folds.metrics, "fit (s)", "predict (s)"}
    assert "popularity" in names["arp@10"] and "k = 10" in names["arp@10"]
    page = likewise.evaluation.report.html_report(topn_two_folds)
    assert "<dt>arp@10</dt>" in page and "<dt>novelty@10</dt>" in page
    assert " ± " in page  # two folds: mean ± std


def test_quickstart_fits_80_columns_and_reports_the_example_user(tmp_path, capsys):
    from likewise.cli import main

    out = tmp_path / "qs"
    assert main(["quickstart", "--out", str(out), "--no-progress", "--user", "1"]) == 0
    text = capsys.readouterr().out
    # every line but those naming the (long, temporary) report paths
    assert max(len(line) for line in text.splitlines() if str(out) not in line) <= 80
    topn = (out / "topn" / "report.html").read_text()
    rating = (out / "rating" / "report.html").read_text()
    assert "<a href='../rating/report.html'>" in topn
    assert "<a href='../topn/report.html'>" in rating
    assert "<h2>Top-10 for user 1 by " in topn
    section = topn.split("<h2>Top-10 for user 1 by ")[1].split("</table>")[0]
    assert section.count("<tr>") == 11  # the header and ten movies, with titles
    first = re.search(r"^\s*1\. (.+) \((\d{4})\)  score", text, re.M)
    assert f"<td>1</td><td>{html.escape(first.group(1))}</td><td>{first.group(2)}</td>" in section
