"""compare(train=..., test=...) and ``likewise compare --train --test``: your own split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import likewise
from likewise.cli import main
from likewise.data import splits
from likewise.errors import ConfigError, DataError
from likewise.evaluation.protocols import share_vocabularies


@pytest.fixture(scope="module")
def ml100k():
    return likewise.datasets.movielens("100k")


def _own_vocabulary(part: likewise.Interactions) -> likewise.Interactions:
    """The same interactions with a vocabulary of their own (as two files read apart)."""
    frame = part.to_frame()
    return likewise.Interactions.from_arrays(frame["user"].to_numpy(), frame["item"].to_numpy(),
                                             frame["rating"].to_numpy(),
                                             frame["timestamp"].to_numpy())


def test_own_split_scores_as_the_protocol_does(ml100k):
    train, test = splits.holdout(ml100k, test_size=0.2, random_state=3)
    a, b = _own_vocabulary(train), _own_vocabulary(test)
    assert a.users != b.users or a.items != b.items  # the case that needs unifying
    models = {"baseline": likewise.Baseline(), "svd": likewise.SVD(random_state=0)}
    own = likewise.compare(models, train=a, test=b, progress=False).to_frame()
    ref = likewise.compare(models, ml100k, protocol="rating_holdout", test_size=0.2,
                           random_state=3, progress=False).to_frame()
    for name in models:
        assert own.loc[name, "rmse"] == pytest.approx(ref.loc[name, "rmse"], rel=1e-6)
        assert own.loc[name, "mae"] == pytest.approx(ref.loc[name, "mae"], rel=1e-6)


def test_cold_rating_pairs_use_the_fallback_and_are_reported():
    train = likewise.Interactions.from_arrays(["a", "a", "b", "b"], [1, 2, 1, 2],
                                              [4.0, 2.0, 4.0, 2.0])
    test = likewise.Interactions.from_arrays(["a", "new", "b"], [1, 1, 99], [5.0, 3.0, 1.0])
    result = likewise.compare({"baseline": likewise.Baseline()}, train=train, test=test,
                              progress=False)
    fold = result.folds.iloc[0]
    assert fold["n_test"] == 3 and fold["cold_pairs"] == 2
    # the same model fitted on the unified train predicts the same three pairs
    split = share_vocabularies(train, test)
    model = likewise.Baseline().fit(split.train)
    pred = model.predict(["a", "new", "b"], [1, 1, 99])
    expected = np.sqrt(np.mean((np.array([5.0, 3.0, 1.0]) - pred) ** 2))
    assert fold["rmse"] == pytest.approx(expected, rel=1e-5)
    text = result.to_text()
    assert "Cold pairs: 2 of 3 test ratings" in text
    assert result.dataset["split_cold_users"] == 1 and result.dataset["split_cold_items"] == 1


def test_cold_topn_items_are_misses_and_cold_users_skipped():
    # u1's held-out item exists only in test (no model can rank it): a miss; u2 holds out
    # item 3, the only item u2 has not seen: a hit; "ghost" has no training data: skipped
    train = likewise.Interactions.from_arrays(["u1", "u1", "u2", "u2", "u3"], [1, 2, 1, 2, 3])
    test = likewise.Interactions.from_arrays(["u1", "u2", "ghost"], [77, 3, 1])
    result = likewise.compare({"pop": likewise.Popularity()}, train=train, test=test,
                              protocol="topn", k=2, metrics=["hit_rate", "recall"],
                              progress=False)
    fold = result.folds.iloc[0]
    assert fold["hit_rate@2"] == pytest.approx(0.5) and fold["recall@2"] == pytest.approx(0.5)
    assert fold["n_users"] == 2 and fold["cold_users"] == 1
    assert "Cold users: 1 test users had no training data" in result.to_markdown()
    assert result.protocol["protocol"] == "given_split" and result.protocol["task"] == "topn"


def test_shared_vocabularies_are_kept(ml100k):
    train, test = splits.holdout(ml100k, test_size=0.2, random_state=0)
    split = share_vocabularies(train, test)
    assert split.train is train and split.test is test


def test_input_errors(ml100k):
    train, test = splits.holdout(ml100k, test_size=0.2, random_state=0)
    model = {"baseline": likewise.Baseline()}
    with pytest.raises(ConfigError, match="not both"):
        likewise.compare(model, ml100k, train=train, test=test)
    with pytest.raises(ConfigError, match="test= is missing"):
        likewise.compare(model, train=train)
    with pytest.raises(ConfigError, match="no option 'folds_x'"):
        likewise.compare(model, train=train, test=test, folds_x=3)
    with pytest.raises(ConfigError, match="protocol must be"):
        likewise.compare(model, train=train, test=test, protocol="nonsense")
    with pytest.raises(DataError, match="train is explicit but test is implicit"):
        likewise.compare(model, train=train, test=test.as_implicit())
    with pytest.raises(DataError, match="test must be likewise Interactions"):
        likewise.compare(model, train=train, test=test.to_frame())
    with pytest.raises(DataError, match="or give train= and test="):
        likewise.compare(model)


def test_cli_compare_on_the_files_of_data_split(tmp_path, capsys):
    split_dir = tmp_path / "split"
    assert main(["data", "split", "movielens-100k", "--method", "user", "--test-k", "5",
                 "--out", str(split_dir)]) == 0
    capsys.readouterr()
    code = main(["compare", "--train", str(split_dir / "train.csv"), "--test",
                 str(split_dir / "test.csv"), "--models", "popularity",
                 "--protocol", "topn_user_holdout", "--no-progress", "--out",
                 str(tmp_path / "r")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Protocol: given_split" in out and "| popularity |" in out
    table = out.split("Reports written to")[0]  # the table and notes; then a long path
    assert max(len(line) for line in table.splitlines()) <= 80
    summary = pd.read_csv(tmp_path / "r" / "results.csv", index_col=0)
    assert 0 < summary.loc["popularity", "ndcg@10"] < 1


def test_cli_own_split_errors(tmp_path, capsys):
    path = str(tmp_path / "none.csv")
    for argv, message in ((["--train", path], "--test is missing"),
                          (["movielens-100k", "--train", path, "--test", path], "not both"),
                          ([], "PATH|DATASET, or --train"),
                          (["--train", path, "--test", path, "--test-size", "0.3"],
                           "--test-size does not apply")):
        code = main(["compare", *argv, "--models", "baseline"])
        err = capsys.readouterr().err
        assert code != 0 and message in err and len(err.strip().splitlines()) == 1
