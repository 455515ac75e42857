"""Recommendations.to_frame: the fallback column and item metadata joined in."""

import warnings

import numpy as np
import pandas as pd
import pytest

import likewise
from likewise.testing import contract_data

UNKNOWN = 10**9


@pytest.fixture(scope="module")
def data():
    return contract_data("explicit")


@pytest.fixture(scope="module")
def model(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", likewise.RatingRankingWarning)
        fitted = likewise.Baseline().fit(data)
        fitted.recommend(fitted.users_.ids[:1])
    return fitted


def test_frame_marks_fallback_rows_and_matches_scores(model):
    users = np.array([model.users_.ids[0], UNKNOWN, model.users_.ids[1]])
    recs = model.recommend(users, n=4)
    frame = recs.to_frame()
    assert list(frame.columns) == ["user", "item", "score", "rank", "fallback"]
    assert frame["fallback"].dtype == bool
    assert frame.groupby("user")["fallback"].first().to_dict() == {
        users[0]: False, UNKNOWN: True, users[2]: False}
    np.testing.assert_array_equal(frame["score"].to_numpy(), recs.scores.ravel())
    # fallback rows rank by popularity: their score is the training interaction count
    cold = frame[frame["fallback"]]
    counts = model.item_popularity_[recs.item_indices[1]]
    np.testing.assert_array_equal(cold["score"].to_numpy(), counts)
    low, high = model.rating_scale_
    assert frame.loc[~frame["fallback"], "score"].between(low, high).all()


def test_frame_joins_item_metadata_from_interactions(model, data):
    frame = model.recommend(model.users_.ids[:2], n=3).to_frame(metadata=data)
    assert list(frame.columns) == ["user", "item", "score", "rank", "fallback", "title", "year",
                                   "genres"]
    expected = data.item_metadata.loc[frame["item"], "title"].tolist()
    assert frame["title"].tolist() == expected and all(expected)


def test_frame_joins_a_dataframe_and_leaves_missing_items_nan(model):
    recs = model.recommend(model.users_.ids[:1], n=3)
    first, *rest = recs.items[0].tolist()
    table = pd.DataFrame({"title": ["only this one"]}, index=pd.Index([first], name="id"))
    frame = recs.to_frame(metadata=table)
    assert frame["title"].iloc[0] == "only this one"
    assert frame["title"].iloc[1:].isna().all() and len(rest) == 2


def test_similar_items_frame_has_fallback_and_titles(data):
    model = likewise.ItemKNN(k=10).fit(data.as_implicit())
    frame = model.similar_items(np.array([model.items_.ids[0], UNKNOWN]), n=2) \
        .to_frame(metadata=data)
    assert {"query_item", "item", "fallback", "title"} <= set(frame.columns)
    assert frame.groupby("query_item")["fallback"].first().to_dict()[UNKNOWN]


@pytest.mark.parametrize("bad, error, words", [
    ("titles.csv", likewise.ConfigError, "DataFrame indexed by item id"),
    (pd.DataFrame({"score": [1.0]}), likewise.ConfigError, "overwrite result columns"),
    (pd.DataFrame({"title": ["a", "b"]}, index=[1, 1]), likewise.DataError, "repeated item ids"),
])
def test_bad_metadata_is_named(model, bad, error, words):
    recs = model.recommend(model.users_.ids[:1], n=2)
    with pytest.raises(error, match=words):
        recs.to_frame(metadata=bad)


def test_interactions_without_metadata_say_what_to_pass(model):
    bare = likewise.Interactions.from_arrays([1, 2], [1, 2], [4.0, 5.0])
    with pytest.raises(likewise.DataError, match="no item_metadata"):
        model.recommend(model.users_.ids[:1], n=2).to_frame(metadata=bare)
