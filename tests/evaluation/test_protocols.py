"""Protocols on real MovieLens 100K: rating error, top-N over all unseen items, unrated batch."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import likewise
from likewise.errors import ConfigError, DataError, UnsupportedError
from likewise.evaluation import metrics as M
from likewise.evaluation.protocols import (
    RatingCV,
    RatingHoldout,
    TopNTemporal,
    TopNUserHoldout,
    evaluate,
    evaluate_fold,
    get_protocol,
    predict_all_unrated,
)


@pytest.fixture(scope="module")
def ml100k():
    return likewise.datasets.movielens("100k")


def test_rating_holdout_matches_manual_computation(ml100k):
    proto = RatingHoldout(test_size=0.2, random_state=3)
    split = next(proto.splits(ml100k))
    scores = evaluate_fold(likewise.Baseline(), split, proto)
    # the same numbers by hand, through the public API only
    model = likewise.Baseline().fit(split.train)
    frame = split.test.to_frame()
    pred = model.predict(frame["user"].to_numpy(), frame["item"].to_numpy())
    err = frame["rating"].to_numpy() - pred
    assert scores["rmse"] == pytest.approx(np.sqrt(np.mean(err ** 2)), rel=1e-6)
    assert scores["mae"] == pytest.approx(np.mean(np.abs(err)), rel=1e-6)
    assert scores["n_test"] == split.test.nnz == 20000
    assert scores["fit_time"] > 0 and scores["predict_time"] > 0


def test_rating_cv_baseline_quality(ml100k):
    out = evaluate(likewise.Baseline(), ml100k, "rating_cv", folds=3)
    assert 0.93 < out["rmse"] < 0.96  # Surprise's BaselineOnly: about 0.944 on 5 folds
    rnd = evaluate(likewise.Random(random_state=0), ml100k, RatingCV(folds=3))
    assert rnd["rmse"] > 1.4  # NormalPredictor-like: about 1.52


def test_rating_protocol_rejects_ranking_only_models_and_implicit_data(ml100k):
    proto = RatingHoldout()
    split = next(proto.splits(ml100k))
    with pytest.raises(UnsupportedError, match="does not estimate ratings"):
        evaluate_fold(likewise.Popularity(), split, proto)
    with pytest.raises(ConfigError, match="implicit"):
        evaluate(likewise.Popularity(), ml100k.as_implicit(), "rating_holdout")


def _manual_topn(model, split, k):
    """Reference: per-user Python loop over the public API."""
    train, test = split
    precisions, recalls = [], []
    tf = test.to_frame()
    trf = train.to_frame()
    seen_users = set(trf["user"].unique())
    for user, group in tf.groupby("user"):
        if user not in seen_users:
            continue
        items, _ = model.recommend([user], n=k)[0]
        relevant = set(group["item"])
        hits = len(relevant & set(items.tolist()))
        precisions.append(hits / k)
        recalls.append(hits / len(relevant))
    return np.mean(precisions), np.mean(recalls)


def test_topn_user_holdout_equals_per_user_reference(ml100k):
    proto = TopNUserHoldout(k=10, random_state=1)
    split = next(proto.splits(ml100k))
    model = likewise.Popularity()
    scores = evaluate_fold(model, split, proto, ["precision", "recall", "ndcg", "coverage"])
    prec, rec = _manual_topn(model, split, 10)
    assert scores["precision@10"] == pytest.approx(prec)
    assert scores["recall@10"] == pytest.approx(rec)
    assert scores["n_users"] == 943 and scores["cold_users"] == 0
    # popularity beats random by a wide margin on MovieLens
    rnd = evaluate_fold(likewise.Random(random_state=0), split, proto, ["precision"])
    assert scores["precision@10"] > 5 * rnd["precision@10"]


def test_topn_never_recommends_training_items(ml100k):
    proto = TopNUserHoldout(k=20, random_state=0)
    train, _ = next(proto.splits(ml100k))
    model = likewise.Popularity().fit(train)
    users = train.users.ids[:50]
    recs = model.recommend(users, n=20)
    seen = M.hits_matrix(recs.item_indices, train.matrix[:50])
    assert not seen.any()


def test_relevance_threshold_and_graded_gain(ml100k):
    base = TopNUserHoldout(k=10, random_state=0)
    strict = TopNUserHoldout(k=10, random_state=0, relevance_threshold=4)
    split = next(base.splits(ml100k))
    model = likewise.Popularity().fit(split.train)
    a = evaluate_fold(model, split, base, ["precision"], fit=False)
    b = evaluate_fold(model, split, strict, ["precision"], fit=False)
    assert b["precision@10"] < a["precision@10"]
    assert b["n_users"] < a["n_users"]  # users without a held-out 4 or 5 are not evaluated
    graded = TopNUserHoldout(k=10, random_state=0, gain="exponential")
    g = evaluate_fold(model, split, graded, ["ndcg"], fit=False)
    assert 0 < g["ndcg@10"] < 1
    with pytest.raises(ConfigError, match="implicit"):
        implicit_split = next(base.splits(ml100k.as_implicit()))
        evaluate_fold(likewise.Popularity(), implicit_split, strict, ["precision"])


def test_auc_protocol_agrees_with_dense_scores(ml100k):
    proto = TopNUserHoldout(k=10, random_state=0)
    train, test = next(proto.splits(ml100k))
    model = likewise.Baseline().fit(train)
    out = evaluate_fold(model, (train, test), proto, ["auc"], fit=False)
    # reference: AUC from the dense score matrix (small data), training items excluded
    scores = (model.global_mean_ + model.user_bias_[:, None] + model.item_bias_[None, :])
    ref = M.auc_from_scores(scores, test.matrix, train.matrix)
    assert out["auc"] == pytest.approx(ref, abs=2e-3)  # ties broken by index vs averaged


def test_temporal_protocols(ml100k):
    glob = evaluate(likewise.Popularity(), ml100k, TopNTemporal(k=10, test_size=0.2))
    assert glob["cold_users"] > 0  # users who arrive after the cutoff are skipped
    per_user = evaluate(likewise.Popularity(), ml100k,
                        TopNTemporal(k=10, per_user=True, test_k=1))
    assert per_user["n_users"] == 943
    assert per_user["hit_rate@10"] == pytest.approx(per_user["recall@10"])  # one item each


def test_topn_user_kfold(ml100k):
    proto = get_protocol("topn_user_holdout", folds=2, k=5)
    splits = list(proto.splits(ml100k))
    assert len(splits) == 2
    a = evaluate_fold(likewise.Popularity(), splits[0], proto, ["recall"])
    b = evaluate_fold(likewise.Popularity(), splits[1], proto, ["recall"])
    assert a["n_users"] + b["n_users"] == 943


def test_protocol_validation(ml100k):
    with pytest.raises(ConfigError, match="protocol must be one of"):
        get_protocol("sampled_negatives")
    with pytest.raises(ConfigError, match="no option"):
        get_protocol("rating_cv", test_size=0.1)
    with pytest.raises(ConfigError, match="folds"):
        list(RatingCV(folds=1).splits(ml100k))
    with pytest.raises(ConfigError, match="not available"):
        RatingCV().metric_names(["ndcg"])
    with pytest.raises(ConfigError, match="cut-off"):
        TopNUserHoldout(k=10).metric_names(["ndcg@5"])
    with pytest.raises(ConfigError, match="k must be"):
        list(TopNUserHoldout(k=0).splits(ml100k))
    assert TopNUserHoldout(k=5).metric_names(["ndcg", "auc"]) == ["ndcg@5", "auc"]


def test_diversity_uses_genres_when_available(ml100k):
    proto = TopNUserHoldout(k=10, random_state=0)
    split = next(proto.splits(ml100k))
    genres = evaluate_fold(likewise.Popularity(), split, proto, ["diversity"])
    cols = TopNUserHoldout(k=10, random_state=0, item_features="interactions")
    inter = evaluate_fold(likewise.Popularity(), split, cols, ["diversity"])
    assert 0 < genres["diversity@10"] < 1 and 0 < inter["diversity@10"] < 1
    assert genres["diversity@10"] != pytest.approx(inter["diversity@10"])
    with pytest.raises(DataError, match="rows"):
        evaluate_fold(likewise.Popularity(), split,
                      TopNUserHoldout(item_features=sp.eye(3, format="csr")), ["diversity"])


def test_predict_all_unrated(ml100k):
    model = likewise.Baseline().fit(ml100k)
    users = [1, 5, 943]
    frame = predict_all_unrated(model, ml100k, users=users, block=2)
    u_idx = ml100k.users.index(users)
    assert len(frame) == 3 * ml100k.n_items - ml100k.matrix[u_idx].nnz
    # no rated pair is predicted, every unrated pair is
    full = ml100k.to_frame()
    full = full[full["user"].isin(users)]
    rated = set(zip(full["user"], full["item"]))
    pairs = set(zip(frame["user"], frame["item"]))
    assert not rated & pairs
    assert len(pairs) == len(frame)
    assert np.allclose(frame["prediction"], model.predict(frame["user"], frame["item"]))
    blocks = list(predict_all_unrated(model, ml100k, users=users, block=2, blocks=True))
    assert len(blocks) == 2 and sum(len(b) for b in blocks) == len(frame)
    with pytest.raises(likewise.UnknownUserError):
        predict_all_unrated(model, ml100k, users=[99999])


def test_cold_pairs_are_counted_not_dropped(ml100k):
    proto = RatingHoldout(test_size=0.2, random_state=0)
    split = next(proto.splits(ml100k))
    out = evaluate_fold(likewise.Baseline(), split, proto)
    cold_items = set(split.cold_items().tolist())
    expected = split.test.to_frame()["item"].isin(cold_items).sum()
    assert split.summary()["cold_users"] == 0
    assert out["cold_pairs"] == expected > 0
    assert out["n_test"] == split.test.nnz
