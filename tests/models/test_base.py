"""The model base class: results, unknown ids, and safe persistence."""

import json

import numpy as np
import pytest

import likewise
from likewise.models.base import FORMAT_VERSION, load, top_n
from likewise.testing import contract_data


@pytest.fixture(scope="module")
def model():
    return likewise.Baseline().fit(contract_data("explicit"))


def test_top_n_orders_and_breaks_ties_by_index():
    scores = np.array([[0.1, 0.5, 0.5, -np.inf, 0.3]], dtype=np.float32)
    idx, vals = top_n(scores, 3)
    assert idx.tolist() == [[1, 2, 4]]
    np.testing.assert_allclose(vals, [[0.5, 0.5, 0.3]])
    idx, vals = top_n(scores, 5)
    assert idx.tolist() == [[1, 2, 4, 0, -1]] and np.isnan(vals[0, -1])


def test_recommendations_frame_and_dict(model):
    users = model.users_.ids[:2]
    recs = model.recommend(users, n=3)
    frame = recs.to_frame()
    assert len(frame) == 6 and frame["rank"].tolist() == [1, 2, 3, 1, 2, 3]
    as_dict = recs.to_dict()
    assert list(as_dict) == users.tolist() and len(as_dict[users[0]]) == 3
    items, scores = recs[0]
    assert len(items) == 3 and scores[0] >= scores[-1]


def test_string_ids_round_trip(tmp_path):
    data = likewise.Interactions.from_arrays(
        ["ann", "ann", "bob", "bob", "cy"], ["x", "y", "x", "z", "y"], [5, 3, 4, 2, 1])
    model = likewise.Baseline().fit(data)
    recs = model.recommend(["cy", "nobody"], n=2)
    assert recs.items.dtype.kind == "U" and recs.fallback.tolist() == [False, True]
    model.save(tmp_path / "m")
    again = load(tmp_path / "m")
    np.testing.assert_array_equal(again.recommend(["cy"], n=2).items, recs.items[:1])


def test_predict_fallback_uses_known_bias(model):
    data = contract_data("explicit")
    user, item = data.users.ids[0], data.items.ids[0]
    est, fb = model.predict([user, -5, -5], [-7, item, -9], return_fallback=True)
    assert fb.all()
    np.testing.assert_allclose(est, [model.global_mean_ + model.user_bias_[0],
                                     model.global_mean_ + model.item_bias_[0],
                                     model.global_mean_], rtol=1e-5)


def test_n_and_policy_validated(model):
    with pytest.raises(likewise.ConfigError, match="n must be"):
        model.recommend(model.users_.ids[:1], n=0)
    with pytest.raises(likewise.ConfigError, match="on_unknown"):
        model.recommend(model.users_.ids[:1], on_unknown="ignore")
    with pytest.raises(likewise.ConfigError, match="same length"):
        model.predict([1, 2], [1])


def test_fit_rejects_non_interactions():
    with pytest.raises(likewise.DataError, match="Interactions"):
        likewise.Baseline().fit(np.ones((3, 3)))


def test_set_params_and_repr():
    model = likewise.Baseline(method="sgd")
    assert "method='sgd'" in repr(model)
    with pytest.raises(likewise.ConfigError, match="no parameter"):
        model.set_params(factors=3)


def _rewrite_manifest(path, **changes):
    manifest = json.loads((path / "manifest.json").read_text())
    manifest.update(changes)
    (path / "manifest.json").write_text(json.dumps(manifest))


def test_load_rejects_newer_format_and_foreign_classes(model, tmp_path):
    target = model.save(tmp_path / "m")
    _rewrite_manifest(target, format_version=FORMAT_VERSION + 1)
    with pytest.raises(likewise.ModelFormatError, match="newer"):
        load(target)
    # neither a newer format nor a class outside the registry is provably a model this
    # likewise may replace (issue #14): replacing them takes overwrite=True
    model.save(target, overwrite=True)
    _rewrite_manifest(target, **{"class": "os.system"})
    with pytest.raises(likewise.ModelFormatError, match="outside likewise"):
        load(target)
    model.save(target, overwrite=True)
    (target / "manifest.json").write_text("{not json")
    with pytest.raises(likewise.ModelFormatError, match="not valid JSON"):
        load(target)


def test_saved_arrays_need_no_pickle(model, tmp_path):
    target = model.save(tmp_path / "m")
    arrays = list(target.rglob("*.npy"))  # in the save's version folder
    assert arrays
    for f in arrays:
        np.load(f, allow_pickle=False)
    assert not list(target.glob("*.pkl"))


def test_save_never_clobbers_foreign_directory(model, tmp_path):
    victim = tmp_path / "photos"
    victim.mkdir()
    (victim / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(likewise.ModelFormatError, match="refusing"):
        model.save(victim)
    assert (victim / "holiday.jpg").read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["photos"]


def test_failed_save_keeps_previous_model(model, tmp_path, monkeypatch):
    target = model.save(tmp_path / "m")
    before = sorted(p.name for p in target.iterdir())

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", boom)
    with pytest.raises(OSError):
        model.save(target)
    monkeypatch.undo()
    assert sorted(p.name for p in target.iterdir()) == before
    load(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_load_class_method_checks_type(model, tmp_path):
    target = model.save(tmp_path / "m")
    assert isinstance(likewise.Baseline.load(target), likewise.Baseline)
    with pytest.raises(likewise.ModelFormatError, match="not a Popularity"):
        likewise.Popularity.load(target)
