"""recommend() on a model fitted for rating prediction says so, once per model."""

import threading
import warnings

import numpy as np
import pytest

import likewise
from likewise.models import base
from likewise.testing import contract_data


@pytest.fixture(scope="module")
def explicit():
    return contract_data("explicit")


@pytest.fixture(autouse=True)
def _fresh_process(monkeypatch):
    """Each test starts as a new process would: no configuration warned about yet."""
    monkeypatch.setattr(base, "_RATING_WARNED", set())


def _rating_warnings(call):
    """The RatingRankingWarnings ``call()`` issues (every one, not Python's once-per-line)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return [w for w in caught if issubclass(w.category, likewise.RatingRankingWarning)]


def test_the_warning_is_a_filterable_user_warning():
    assert issubclass(likewise.RatingRankingWarning, UserWarning)
    assert "RatingRankingWarning" in likewise.__all__
    assert likewise.RatingRankingWarning is likewise.errors.RatingRankingWarning


@pytest.mark.parametrize("make", [
    lambda: likewise.SVD(factors=4, epochs=2, random_state=0),
    lambda: likewise.Baseline(),
    lambda: likewise.ALS(factors=4, iterations=2, random_state=0),
])
def test_rating_models_warn_once_per_configuration_naming_implicit_models(explicit, make):
    model = make().fit(explicit)
    users = model.users_.ids[:3]
    first = _rating_warnings(lambda: [model.recommend(users, n=5) for _ in range(3)])
    assert len(first) == 1
    message = str(first[0].message)
    assert type(model).__name__ in message and "predicted rating" in message
    assert "ImplicitALS" in message and "as_implicit()" in message
    assert first[0].filename == __file__  # points at the caller's line, not likewise's
    assert _rating_warnings(lambda: model.fit(explicit).recommend(users)) == []
    assert _rating_warnings(lambda: make().fit(explicit).recommend(users)) == []  # same config
    other = make().set_params(random_state=1) if "random_state" in model.get_params() \
        else make().set_params(reg_user=1.0)
    assert len(_rating_warnings(lambda: other.fit(explicit).recommend(users))) == 1


def test_compare_folds_warn_once_per_model(explicit):
    models = {"baseline": likewise.Baseline(), "svd": likewise.SVD(factors=4, epochs=2)}
    caught = _rating_warnings(lambda: likewise.compare(
        models, explicit, protocol="topn_user_holdout", folds=3, progress=False))
    assert sorted(str(w.message).split()[0] for w in caught) == ["Baseline", "SVD"]


def test_explicit_knn_names_implicit_mode(explicit):
    model = likewise.UserKNN(k=20).fit(explicit)
    caught = _rating_warnings(lambda: model.recommend(model.users_.ids[:2]))
    assert len(caught) == 1 and "UserKNN(mode='implicit')" in str(caught[0].message)


@pytest.mark.parametrize("make, kind", [
    (lambda: likewise.UserKNN(k=20, mode="implicit"), "explicit"),
    (lambda: likewise.ItemKNN(k=20), "implicit"),
    (lambda: likewise.Popularity(), "explicit"),
    (lambda: likewise.ImplicitALS(factors=4, iterations=2, random_state=0), "implicit"),
    (lambda: likewise.Random(random_state=0), "implicit"),
])
def test_top_n_models_do_not_warn(make, kind):
    model = make().fit(contract_data(kind))
    assert _rating_warnings(lambda: model.recommend(model.users_.ids[:3])) == []


def test_warning_does_not_change_results_and_can_be_filtered(explicit):
    model = likewise.Baseline().fit(explicit)
    users = model.users_.ids[:4]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # anything else (or the warning unfiltered) fails
        warnings.filterwarnings("ignore", category=likewise.RatingRankingWarning)
        warned = model.recommend(users, n=7)
    again = model.recommend(users, n=7)
    np.testing.assert_array_equal(warned.item_indices, again.item_indices)
    np.testing.assert_array_equal(warned.scores, again.scores)


def test_prepare_does_not_use_up_the_warning(explicit):
    model = likewise.Baseline().fit(explicit)
    assert _rating_warnings(model.prepare) == []
    assert len(_rating_warnings(lambda: model.recommend(model.users_.ids[:1]))) == 1


def test_loaded_model_warns_once(explicit, tmp_path):
    likewise.Baseline().fit(explicit).save(tmp_path / "m")
    loaded = likewise.load(tmp_path / "m")
    users = loaded.users_.ids[:2]
    assert len(_rating_warnings(lambda: [loaded.recommend(users) for _ in range(2)])) == 1


def test_once_per_instance_across_threads(explicit):
    model = likewise.Baseline().fit(explicit)
    users = model.users_.ids[:5]
    start = threading.Barrier(8)
    results = []

    def query():
        start.wait()
        results.append(model.recommend(users, n=5).item_indices)

    def run_all():
        threads = [threading.Thread(target=query) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    assert len(_rating_warnings(run_all)) == 1
    assert len(results) == 8 and all(np.array_equal(r, results[0]) for r in results)
