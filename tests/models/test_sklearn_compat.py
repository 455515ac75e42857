"""scikit-learn's parameter contract: get_params(deep)/set_params, sklearn's clone, ParameterGrid."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import ParameterGrid

import likewise
from likewise.errors import ConfigError, MissingDependencyError
from likewise.models import registry
from likewise.testing import contract_data


def _registry_models():
    for found in registry.entries():
        try:
            yield pytest.param(registry.make(found.name), id=found.name)
        except MissingDependencyError:
            continue


@pytest.mark.parametrize("model", list(_registry_models()))
def test_sklearn_clone_every_registry_model(model):
    copy = clone(model)  # raises when __init__ does not store its parameters unchanged
    assert type(copy) is type(model) and copy is not model
    assert copy.get_params(deep=False).keys() == model.get_params(deep=False).keys()
    assert repr(copy) == repr(model)


def test_clone_copies_sub_models_and_keeps_values():
    svd = likewise.SVD(factors=8, random_state=3)
    hybrid = likewise.WeightedHybrid({"svd": svd, "pop": likewise.Popularity()},
                                     weights={"svd": 0.7, "pop": 0.3})
    copy = clone(hybrid)
    assert copy.models["svd"] is not svd
    assert copy.models["svd"].get_params() == svd.get_params()
    assert copy.weights == {"svd": 0.7, "pop": 0.3}


def test_deep_params_of_hybrids():
    svd = likewise.SVD(factors=8)
    weighted = likewise.WeightedHybrid({"svd": svd, "spec": {"class": "Popularity"}})
    deep = weighted.get_params(deep=True)
    assert deep["models__svd"] is svd
    assert deep["models__svd__factors"] == 8
    assert not [k for k in deep if k.startswith("models__spec")]  # specs are not models
    assert weighted.get_params(deep=False).keys() == set(weighted._param_names())
    switching = likewise.SwitchingHybrid(warm=likewise.Baseline(), cold_user=None)
    deep = switching.get_params()
    assert deep["warm__method"] == likewise.Baseline().method
    assert not [k for k in deep if k.startswith("cold_user__")]


def test_set_params_nested():
    svd = likewise.SVD(factors=8)
    models = {"svd": svd, "pop": likewise.Popularity()}
    hybrid = likewise.WeightedHybrid(models)
    assert hybrid.set_params(models__svd__factors=16, normalisation="rank") is hybrid
    assert svd.factors == 16 and hybrid.normalisation == "rank"
    knn = likewise.ItemKNN()
    hybrid.set_params(models__pop=knn)
    assert hybrid.models["pop"] is knn
    assert models["pop"] is not knn  # the caller's dict is not changed
    switching = likewise.SwitchingHybrid(warm=likewise.SVD()).set_params(warm__factors=4)
    assert switching.warm.factors == 4


@pytest.mark.parametrize("params, match", [
    (dict(factorz=3), "no parameter 'factorz'"),
    (dict(models__nope__k=3), "no model 'nope'"),
    (dict(similarity_model__k=3), "not a model"),
    (dict(models__pop__nope=1), "Popularity has no parameter 'nope'"),
])
def test_set_params_errors_name_the_parameter(params, match):
    hybrid = likewise.WeightedHybrid({"pop": likewise.Popularity()})
    with pytest.raises(ConfigError, match=match):
        hybrid.set_params(**params)


def test_parameter_grid_loop_fits_each_candidate():
    data = contract_data("explicit")
    base = likewise.SVD(epochs=2, random_state=0)
    grid = ParameterGrid({"factors": [2, 4], "regularization": [0.02, 0.1]})
    fitted = [clone(base).set_params(**params).fit(data) for params in grid]
    assert sorted((m.factors, m.regularization) for m in fitted) == sorted(
        (p["factors"], p["regularization"]) for p in grid)
    assert {m.item_factors_.shape[1] for m in fitted} == {2, 4}
    assert base.get_params()["factors"] == likewise.SVD().factors  # the template is untouched


def test_parameter_grid_over_a_sub_model():
    data = contract_data("explicit")
    hybrid = likewise.SwitchingHybrid(warm=likewise.SVD(epochs=2, random_state=0))
    scores = []
    for params in ParameterGrid({"warm__factors": [2, 4]}):
        model = clone(hybrid).set_params(**params).fit(data)
        assert model.warm.factors == params["warm__factors"]
        scores.append(model.predict(data.users.ids[:3], data.items.ids[:3]))
    assert not np.allclose(scores[0], scores[1])
