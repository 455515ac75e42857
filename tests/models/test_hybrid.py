"""WeightedHybrid and SwitchingHybrid: contract, normalisation, routing, weight tuning."""

import numpy as np
import pandas as pd
import pytest

import likewise
from likewise.errors import ConfigError
from likewise.models.hybrid import SwitchingHybrid, WeightedHybrid, normalise_scores
from likewise.testing import RecommenderContract, contract_data

POP = {"class": "Popularity"}
CONTENT = {"class": "ContentKNN", "params": {"list_fields": ["genres"],
                                             "text_fields": ["title"]}}


class TestWeightedHybrid(RecommenderContract):
    kind = "explicit"
    can_fold_in = can_similar_items = True
    invalid_params = [dict(normalisation="softmax"), dict(weights={"pop": -1.0}),
                      dict(models={})]

    def make_model(self, **params):
        params.setdefault("models", {"pop": POP, "content": CONTENT})
        params.setdefault("weights", {"pop": 0.6, "content": 0.4})
        return WeightedHybrid(**params)


class TestWeightedHybridRank(RecommenderContract):
    kind = "implicit"
    can_fold_in = can_similar_items = True
    invalid_params = [dict(refit="yes")]

    def make_model(self, **params):
        return WeightedHybrid({"base": {"class": "Popularity", "params": {"method": "trending"}},
                               "content": CONTENT}, normalisation="rank", **params)


class TestWeightedHybridActivityBins(RecommenderContract):
    kind = "explicit"
    can_fold_in = can_similar_items = True
    invalid_params = [dict(activity_bins=[50, 10]), dict(activity_bins=[]),
                      dict(activity_bins=[1.5]), dict(weights=[{"pop": 1.0}])]

    def make_model(self, **params):
        params.setdefault("models", {"pop": POP, "content": CONTENT})
        params.setdefault("weights", [{"pop": 0.9, "content": 0.1}, {"pop": 0.2, "content": 0.8}])
        params.setdefault("activity_bins", [140])  # ~a third of the contract users below
        return WeightedHybrid(**params)


class TestSwitchingHybrid(RecommenderContract):
    kind = "explicit"
    can_fold_in = True
    invalid_params = [dict(user_threshold=-1), dict(warm=None), dict(cold_item_weight=-2.0)]

    def make_model(self, **params):
        params.setdefault("warm", {"class": "Baseline"})
        params.setdefault("cold_user", CONTENT)
        params.setdefault("cold_item", CONTENT)
        params.setdefault("user_threshold", 140)  # ~a third of the contract users are cold
        return SwitchingHybrid(**params)


def test_normalisations():
    s = np.array([[1.0, 3.0, 2.0, np.nan], [5.0, 5.0, 5.0, 5.0]])
    mm = normalise_scores(s, "minmax")
    np.testing.assert_allclose(mm[0], [0, 1, 0.5, 0])
    np.testing.assert_allclose(mm[1], 0)
    z = normalise_scores(s, "zscore")
    np.testing.assert_allclose(z[0, :3].mean(), 0, atol=1e-6)
    assert z[0, 3] == z[0, :3].min()
    r = normalise_scores(s, "rank")
    assert r[0].argmax() == 1 and r[0, 3] == r[0].min()
    with pytest.raises(ConfigError):
        normalise_scores(s, "softmax")


def test_blend_is_weighted_average_of_normalised_parts():
    data = contract_data("explicit")
    pop = likewise.Popularity().fit(data)
    cont = likewise.ContentKNN().fit(data)
    blend = WeightedHybrid({"p": pop, "c": cont}, weights={"p": 3, "c": 1},
                           refit=False).fit(data)
    assert blend.models_["p"] is pop  # fit-on-fit: the fitted model is used as is
    u = np.arange(5)
    expected = 0.75 * normalise_scores(pop._score(u)) + \
        0.25 * normalise_scores(cont._score(u))[:, :data.n_items]
    np.testing.assert_allclose(blend._score(u)[:, :data.n_items], expected, atol=1e-6)
    only_pop = WeightedHybrid({"p": pop, "c": cont}, weights={"p": 1, "c": 0},
                              refit=False).fit(data)
    users = data.users.ids[:5]
    np.testing.assert_array_equal(only_pop.recommend(users, n=10).items,
                                  pop.recommend(users, n=10).items)


def test_fit_weights_picks_the_better_model():
    from likewise.splits import user_holdout

    data = likewise.datasets.movielens("100k")
    train, valid = user_holdout(data, test_size=0.2, random_state=1)
    blend = WeightedHybrid({"pop": likewise.Popularity(), "content": likewise.ContentKNN()}
                           ).fit(train)
    table = blend.fit_weights(valid, metric="ndcg@10", step=0.25)
    assert len(table) == 5 and list(table.columns) == ["w_content", "w_pop", "ndcg@10"]
    assert blend.weights["pop"] >= 0.5  # popularity dominates pure content on ML100K
    assert table["ndcg@10"].iloc[0] == table["ndcg@10"].max()
    # the table's best score equals an evaluation of the chosen blend
    from likewise.metrics import ndcg_at_k

    uidx = np.nonzero(np.diff(valid.matrix.indptr) > 0)[0]
    recs = blend.recommend(train.users.ids[uidx], n=10)
    assert ndcg_at_k(recs.item_indices, valid.matrix[uidx], 10) == \
        pytest.approx(table["ndcg@10"].iloc[0], abs=1e-6)


@pytest.mark.parametrize("metric", ["ndcg@10", "recall@5", "precision@10", "hit_rate@3"])
def test_fit_weights_metric_is_the_evaluation_metric(metric):
    """fit_weights scores a candidate with the evaluation layer's kernels: its table value
    for the model's own weights equals likewise.metrics on the model's recommendations."""
    from likewise import metrics
    from likewise.splits import user_holdout

    train, valid = user_holdout(contract_data("implicit"), test_size=0.2, random_state=3)
    blend = WeightedHybrid({"pop": POP, "content": CONTENT},
                           weights={"pop": 0.7, "content": 0.3}).fit(train)
    table = blend.fit_weights(valid, metric=metric, grid=[{"pop": 0.7, "content": 0.3}])
    kind, k = metric.split("@")
    uidx = np.nonzero(np.diff(valid.matrix.indptr) > 0)[0]
    recs = blend.recommend(train.users.ids[uidx], n=int(k))
    function = getattr(metrics, f"{kind}_at_k")
    expected = function(recs.item_indices, valid.matrix[uidx], int(k))
    assert table[metric].iloc[0] == pytest.approx(expected, rel=1e-12)


def test_switching_routes_cold_users_and_items():
    meta = pd.DataFrame({"title": ["Alien", "Aliens", "Toy Story", "Toy Story 2",
                                   "Alien Resurrection"],
                         "genres": ["Sci-Fi|Horror", "Sci-Fi|Action", "Animation|Comedy",
                                    "Animation|Comedy", "Sci-Fi|Horror"]},
                        index=["a1", "a2", "t1", "t2", "a4"])
    users = ["u1"] * 3 + ["u2"] * 3 + ["u3"]
    items = ["a1", "a2", "t1", "t1", "t2", "a2", "a1"]
    data = likewise.Interactions.from_arrays(users, items, [5, 4, 1, 5, 4, 1, 5],
                                             item_metadata=meta)
    pop = likewise.Popularity()
    content = likewise.ContentKNN(centered=False)
    model = SwitchingHybrid(warm=pop, cold_user=content, cold_item=content,
                            user_threshold=2).fit(data)
    assert model.cold_users_.tolist() == [False, False, True]
    assert "a4" in model.items_ and model.cold_items_[model.items_.index(["a4"])[0]]
    # u3 (one interaction, Alien) is served by content: the unseen Alien film comes first
    assert model.recommend(["u3"], n=1).items[0][0] == "a4"
    # the cold item's neighbours come from the content model
    assert model.similar_items(["a4"], n=1).items[0][0] == "a1"


def test_saved_hybrid_with_instances_round_trips(tmp_path):
    data = contract_data("implicit")
    model = WeightedHybrid({"pop": likewise.Popularity(), "c": likewise.ContentKNN()}).fit(data)
    before = model.recommend(data.users.ids[:3], n=5)
    model.save(tmp_path / "h")
    assert isinstance(model.models["pop"], likewise.Popularity)  # instances kept in memory
    loaded = likewise.load(tmp_path / "h")
    assert loaded.models["pop"]["class"].endswith("Popularity")
    after = loaded.recommend(data.users.ids[:3], n=5)
    np.testing.assert_array_equal(before.item_indices, after.item_indices)


def test_likewise_tune_searches_the_weights():
    data = contract_data("explicit")
    model = WeightedHybrid({"pop": likewise.Popularity(), "content": likewise.ContentKNN()})
    grid = {"weights": [{"pop": 1.0, "content": 0.0}, {"pop": 0.5, "content": 0.5}]}
    result = likewise.tune(model, grid, data, protocol="topn_user_holdout", metric="ndcg",
                           folds=2, progress=False)
    assert result.best_params["weights"] in grid["weights"]
    assert len(result.results) == 2


def test_activity_bins_blend_each_bucket_with_its_weights():
    data = contract_data("explicit")
    pop = likewise.Popularity().fit(data)
    cont = likewise.ContentKNN().fit(data)
    blend = WeightedHybrid({"p": pop, "c": cont}, weights=[{"p": 3, "c": 1}, {"p": 1, "c": 1}],
                           activity_bins=[140], refit=False).fit(data)
    np.testing.assert_allclose(blend.weights_, [[0.25, 0.75], [0.5, 0.5]])  # sorted: c, p
    counts = np.diff(data.matrix.indptr)
    low, high = np.nonzero(counts <= 140)[0][:3], np.nonzero(counts > 140)[0][:3]
    assert len(low) and len(high)
    u = np.r_[low, high]
    n = data.n_items
    pn, cn = normalise_scores(pop._score(u)), normalise_scores(cont._score(u))[:, :n]
    w_pop = np.where(counts[u] <= 140, 0.75, 0.5)[:, None]
    np.testing.assert_allclose(blend._score(u)[:, :n], w_pop * pn + (1 - w_pop) * cn, atol=1e-6)
    # a history is bucketed by its length: 2 items -> the first bucket
    items = data.items.ids[:2]
    h = blend.recommend_from_history(items, [5.0, 4.0], n=5)
    alone = WeightedHybrid({"p": pop, "c": cont}, weights={"p": 3, "c": 1},
                           refit=False).fit(data).recommend_from_history(items, [5.0, 4.0], n=5)
    np.testing.assert_array_equal(h.items, alone.items)
    with pytest.raises(ConfigError, match="one dict per activity bucket"):
        WeightedHybrid({"p": pop, "c": cont}, weights=[{"p": 1}], activity_bins=[60],
                       refit=False).fit(data)


def test_fit_weights_per_activity_bucket():
    """Each bucket gets the candidate that is best on its own validation users."""
    from likewise.splits import user_holdout

    data = likewise.datasets.movielens("100k")
    train, valid = user_holdout(data, test_size=0.2, random_state=1)
    blend = WeightedHybrid({"pop": likewise.Popularity(), "content": likewise.ContentKNN()},
                           activity_bins=[60]).fit(train)
    table = blend.fit_weights(valid, metric="ndcg@10", step=0.25)
    assert list(table.columns) == ["bucket", "w_content", "w_pop", "users", "ndcg@10"]
    assert list(table["bucket"].unique()) == ["<=60", ">60"] and len(table) == 10
    assert isinstance(blend.weights, list) and len(blend.weights) == 2
    assert table["users"].sum() // 5 == len(np.nonzero(np.diff(valid.matrix.indptr) > 0)[0])
    from likewise.metrics import ndcg_at_k

    counts = np.diff(train.matrix.indptr)
    for b, (label, part) in enumerate(table.groupby("bucket", sort=False)):
        best = part.iloc[0]
        assert best["ndcg@10"] == part["ndcg@10"].max()
        assert blend.weights[b]["content"] == pytest.approx(best["w_content"])
        mask = (counts <= 60) if label == "<=60" else (counts > 60)
        uidx = np.nonzero(mask & (np.diff(valid.matrix.indptr) > 0))[0]
        recs = blend.recommend(train.users.ids[uidx], n=10)
        assert ndcg_at_k(recs.item_indices, valid.matrix[uidx], 10) == \
            pytest.approx(best["ndcg@10"], abs=1e-6)


def _ml_split(seed):
    from likewise.splits import user_holdout

    return user_holdout(likewise.datasets.movielens("100k"), test_size=0.2, random_state=seed)


def test_fit_weights_one_se_rule_leans_on_prefer_within_noise(monkeypatch):
    """One-SE rule: the chosen candidate is within one (independently recomputed) standard
    error of the best and, among those, has the most weight on ``prefer``."""
    from likewise.metrics import ndcg_at_k

    monkeypatch.setattr(WeightedHybrid, "_block_rows", lambda self: 97)  # several blocks

    train, valid = _ml_split(1)
    pop, cont = likewise.Popularity().fit(train), likewise.ContentKNN().fit(train)
    blend = WeightedHybrid({"pop": pop, "content": cont}, refit=False).fit(train)
    best_table = blend.fit_weights(valid, step=0.05)
    table = blend.fit_weights(valid, step=0.05, selection="one_se", prefer="pop")
    assert list(table.columns) == ["w_content", "w_pop", "ndcg@10", "se", "chosen"]
    assert table["chosen"].sum() == 1
    pd.testing.assert_series_equal(best_table["ndcg@10"], table["ndcg@10"])  # same curve
    best, pick = table.iloc[0], table[table["chosen"]].iloc[0]
    assert blend.weights["content"] == pytest.approx(pick["w_content"])
    assert pick["w_pop"] > best["w_pop"]  # the curve is flat near the best here
    within = table[table["ndcg@10"] >= best["ndcg@10"] - table["se"]]
    assert pick["w_pop"] == within["w_pop"].max()
    outside = table.drop(within.index)
    assert (outside["ndcg@10"] < best["ndcg@10"] - outside["se"]).all()
    # the standard error of the paired per-user difference, recomputed from recommendations
    uidx = np.nonzero(np.diff(valid.matrix.indptr) > 0)[0]
    per_user = []
    for row in (best, pick):
        model = WeightedHybrid({"pop": pop, "content": cont}, refit=False,
                               weights={"pop": row["w_pop"], "content": row["w_content"]}).fit(train)
        recs = model.recommend(train.users.ids[uidx], n=10)
        per_user.append(ndcg_at_k(recs.item_indices, valid.matrix[uidx], 10, per_user=True))
    diff = per_user[1] - per_user[0]
    assert diff.mean() == pytest.approx(pick["ndcg@10"] - best["ndcg@10"], abs=1e-6)
    assert pick["se"] == pytest.approx(diff.std(ddof=1) / np.sqrt(len(diff)), rel=1e-6)
    # leaning the other way never picks less content than the plain best
    blend.fit_weights(valid, step=0.05, selection="one_se", prefer="content")
    assert blend.weights["content"] >= best["w_content"]


def test_fit_weights_pools_validation_folds_per_bucket(monkeypatch):
    """With (fit, validation) pairs, each bucket's curve is the user-weighted mean of the
    folds' curves, users bucketed by their interactions in the fold's fit part."""
    monkeypatch.setattr(WeightedHybrid, "_block_rows", lambda self: 97)  # several blocks
    folds = [_ml_split(s) for s in (1, 2)]
    models = {"pop": likewise.Popularity(), "content": likewise.ContentKNN()}
    train, _ = _ml_split(3)
    blend = WeightedHybrid(models, activity_bins=[60]).fit(train)
    pooled = blend.fit_weights(folds, step=0.25)
    per_fold = []
    for fit, valid in folds:
        alone = WeightedHybrid(models, activity_bins=[60]).fit(fit)
        per_fold.append(alone.fit_weights(valid, step=0.25).sort_values(
            ["bucket", "w_content"]).reset_index(drop=True))
    pooled = pooled.sort_values(["bucket", "w_content"]).reset_index(drop=True)
    n = [t["users"] for t in per_fold]
    assert (pooled["users"] == n[0] + n[1]).all()
    expect = (per_fold[0]["ndcg@10"] * n[0] + per_fold[1]["ndcg@10"] * n[1]) / (n[0] + n[1])
    np.testing.assert_allclose(pooled["ndcg@10"], expect, atol=1e-9)
    for b, label in enumerate(["<=60", ">60"]):
        part = pooled[pooled["bucket"] == label]
        top = part.loc[part["ndcg@10"].idxmax()]
        assert blend.weights[b]["content"] == pytest.approx(top["w_content"])
    # the hybrid's own sub-models are untouched (the folds use clones)
    assert blend.models_["pop"].n_users == train.n_users


def test_fit_weights_rejects_bad_selection_prefer_and_folds():
    from likewise.errors import DataError

    train, valid = _ml_split(1)
    blend = WeightedHybrid({"pop": likewise.Popularity(), "content": likewise.ContentKNN()}
                           ).fit(train)
    with pytest.raises(ConfigError, match="selection must be one of"):
        blend.fit_weights(valid, selection="median")
    with pytest.raises(ConfigError, match="prefer must name one of the models"):
        blend.fit_weights(valid, selection="one_se")
    with pytest.raises(ConfigError, match="prefer must be one of"):
        blend.fit_weights(valid, prefer="ease")
    with pytest.raises(DataError, match="list of \\(fit, validation\\)"):
        blend.fit_weights([valid])
    with pytest.raises(DataError, match="list of \\(fit, validation\\)"):
        blend.fit_weights([])
