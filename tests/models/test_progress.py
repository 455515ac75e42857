"""Progress of long fits: tqdm bar on request, the "likewise" logger, silence by default."""

import logging

import numpy as np
import pytest

import likewise
from likewise.models._progress import fit_steps, progress_enabled
from likewise.testing import contract_data

FACTOR_MODELS = [
    lambda: likewise.SVD(factors=4, epochs=3, random_state=0),
    lambda: likewise.SVDpp(factors=4, epochs=2, random_state=0),
    lambda: likewise.NMF(factors=4, epochs=3, random_state=0),
    lambda: likewise.ALS(factors=4, iterations=2, random_state=0),
    lambda: likewise.ImplicitALS(factors=4, iterations=2, random_state=0),
    lambda: likewise.BPR(factors=4, epochs=2, random_state=0),
    lambda: likewise.BayesianMF(factors=4, iterations=3, burn_in=1, random_state=0),
]


@pytest.fixture(autouse=True)
def _progress_from_environment(monkeypatch):
    monkeypatch.delenv("LIKEWISE_PROGRESS", raising=False)
    likewise.set_progress(None)
    yield
    likewise.set_progress(None)


@pytest.mark.parametrize("make", FACTOR_MODELS, ids=lambda f: type(f()).__name__)
def test_fit_is_silent_by_default_and_shows_a_bar_on_request(make, capsys):
    data = contract_data("explicit")
    make().fit(data)  # a first fit may announce the kernels' compilation (not progress)
    capsys.readouterr()
    quiet = make().fit(data)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    with likewise.progress(True):
        shown = make().fit(data)
    captured = capsys.readouterr()
    name = type(shown).__name__
    assert captured.out == "" and f"{name} fit" in captured.err
    # the bar does not change what is learned
    np.testing.assert_array_equal(quiet.item_factors_, shown.item_factors_)


def test_fit_logs_on_the_likewise_logger(caplog):
    with caplog.at_level(logging.DEBUG, logger="likewise"):
        likewise.SVD(factors=4, epochs=3, random_state=0).fit(contract_data("explicit"))
    messages = [r.getMessage() for r in caplog.records if r.name == "likewise"]
    assert "SVD: fitting, 3 epochs" in messages
    assert sum("epoch" in m and "/3 done" in m for m in messages) == 3
    assert any(m.startswith("SVD: 3 epochs in ") for m in messages)


def test_torch_mf_epochs_report_progress(capsys):
    pytest.importorskip("torch")
    with likewise.progress(True):
        likewise.TorchMF(factors=4, epochs=2, random_state=0).fit(contract_data("explicit"))
    assert "TorchMF fit" in capsys.readouterr().err


def test_settings_order_block_process_environment(monkeypatch):
    assert not progress_enabled()
    monkeypatch.setenv("LIKEWISE_PROGRESS", "1")
    assert progress_enabled()
    likewise.set_progress(False)
    assert not progress_enabled()
    with likewise.progress(True):
        assert progress_enabled()
        with likewise.progress(False):
            assert not progress_enabled()
        assert progress_enabled()
    assert not progress_enabled()
    likewise.set_progress(None)
    assert progress_enabled()


def test_fit_steps_is_a_range_and_counts_an_early_stop(caplog):
    class Owner:
        pass

    assert list(fit_steps(Owner(), 4, start=1)) == [1, 2, 3]
    with caplog.at_level(logging.INFO, logger="likewise"):
        for step in fit_steps(Owner(), 10, "iteration"):
            if step == 2:
                break
    assert any(r.getMessage().startswith("Owner: 3 iterations in ") for r in caplog.records)


@pytest.mark.parametrize("make", [
    lambda: likewise.ItemKNN(k=20, similarity="bm25"),
    lambda: likewise.ItemKNN(k=20, similarity="cosine"),
], ids=["bm25", "cosine"])
def test_knn_fit_reports_progress_in_slices_with_the_same_neighbours(make, capsys, caplog):
    data = likewise.datasets.movielens("100k").as_implicit()
    plain = make().fit(data).neighbors_
    with caplog.at_level(logging.DEBUG, logger="likewise"), likewise.progress(True):
        shown = make().fit(data).neighbors_
    assert "ItemKNN fit" in capsys.readouterr().err  # the tqdm bar
    assert sum("slice" in r.getMessage() for r in caplog.records) >= 20
    assert (plain != shown).nnz == 0
    np.testing.assert_array_equal(plain.indptr, shown.indptr)
    np.testing.assert_array_equal(plain.indices, shown.indices)
