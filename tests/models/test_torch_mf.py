import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import likewise
from likewise import splits
from likewise.datasets import movielens
from likewise.models.torch_mf import TorchMF
from likewise.testing import RecommenderContract, contract_data

FAST = {"factors": 8, "epochs": 3, "batch_size": 2048, "learning_rate": 0.02,
        "num_threads": 1}


class TestTorchMF(RecommenderContract):
    kind = "explicit"
    can_predict_ratings = can_fold_in = can_similar_items = has_item_vectors = True
    can_index = True
    invalid_params = [dict(factors=0), dict(loss="hinge"), dict(validation_fraction=0.95),
                      dict(device="tpu"), dict(resume=True)]

    def make_model(self, **params):
        return TorchMF(**{**FAST, **params})


class TestTorchMFBPR(RecommenderContract):
    kind = "implicit"
    can_fold_in = can_similar_items = has_item_vectors = can_index = True

    def make_model(self, **params):
        return TorchMF(**{**FAST, "loss": "bpr", **params})


def test_mse_needs_explicit_data():
    with pytest.raises(likewise.DataError, match="loss='bpr'"):
        TorchMF(**FAST).fit(contract_data("implicit"))


def test_early_stopping_keeps_best_epoch():
    data = contract_data("explicit")
    # a large learning rate overfits quickly; training stops `patience` epochs after the best
    model = TorchMF(factors=32, epochs=40, learning_rate=0.05, regularization=0.0,
                    patience=2, num_threads=1, random_state=0).fit(data)
    vals = [h["val_loss"] for h in model.history_]
    assert len(vals) < 40
    assert model.best_epoch_ == int(np.argmin(vals)) + 1
    assert len(vals) == model.best_epoch_ + 2


def test_checkpoint_resume_equals_uninterrupted(tmp_path):
    data = contract_data("explicit")
    params = dict(factors=8, batch_size=1024, learning_rate=0.01, validation_fraction=0.0,
                  num_threads=1, random_state=3)
    full = TorchMF(epochs=4, **params).fit(data)
    ckpt = tmp_path / "ckpt"
    TorchMF(epochs=2, checkpoint_dir=str(ckpt), **params).fit(data)
    meta = json.loads((ckpt / "checkpoint.json").read_text())
    assert meta["epoch"] == 1 and not list(ckpt.glob("*.pkl"))
    resumed = TorchMF(epochs=4, checkpoint_dir=str(ckpt), resume=True, **params).fit(data)
    assert [h["epoch"] for h in resumed.history_] == [1, 2, 3, 4]
    np.testing.assert_allclose(resumed.item_factors_, full.item_factors_, rtol=1e-5,
                               atol=1e-6)
    # a checkpoint from other data is refused
    with pytest.raises(likewise.ModelFormatError, match="other data"):
        TorchMF(epochs=4, checkpoint_dir=str(ckpt), resume=True, **params).fit(
            data.take(np.arange(0, data.nnz, 2)))


def test_failed_checkpoint_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    data = contract_data("explicit")
    params = dict(factors=8, batch_size=1024, learning_rate=0.01, validation_fraction=0.0,
                  num_threads=1, random_state=3)
    ckpt = tmp_path / "ckpt"
    TorchMF(epochs=2, checkpoint_dir=str(ckpt), **params).fit(data)
    before = {p.name: p.read_bytes() for p in ckpt.iterdir()}
    real_save, calls = np.save, []

    def save_then_fail(*args, **kwargs):  # the disk fills up halfway through the arrays
        calls.append(1)
        if len(calls) > 2:
            raise OSError("disk full")
        return real_save(*args, **kwargs)

    monkeypatch.setattr(np, "save", save_then_fail)
    with pytest.raises(OSError, match="disk full"):
        TorchMF(epochs=3, checkpoint_dir=str(ckpt), resume=True, **params).fit(data)
    monkeypatch.undo()
    assert len(calls) == 3
    assert {p.name: p.read_bytes() for p in ckpt.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]  # no staging folder left
    resumed = TorchMF(epochs=3, checkpoint_dir=str(ckpt), resume=True, **params).fit(data)
    assert [h["epoch"] for h in resumed.history_] == [1, 2, 3]


def test_checkpoint_never_overwrites_a_foreign_directory(tmp_path):
    victim = tmp_path / "photos"
    victim.mkdir()
    (victim / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(likewise.ModelFormatError, match="refusing"):
        TorchMF(epochs=1, checkpoint_dir=str(victim), factors=8, num_threads=1,
                random_state=0).fit(contract_data("explicit"))
    assert [p.name for p in victim.iterdir()] == ["holiday.jpg"]
    assert (victim / "holiday.jpg").read_bytes() == b"precious"


def test_divergence_fails_fit():
    with pytest.raises(likewise.ConfigError, match="diverged"):
        TorchMF(factors=8, epochs=3, learning_rate=1e9, num_threads=1,
                random_state=0).fit(contract_data("explicit"))


def test_saved_model_is_plain_numpy(tmp_path):
    model = TorchMF(**FAST, random_state=0).fit(contract_data("explicit"))
    path = model.save(tmp_path / "m")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["state"]["device_"] == "cpu"
    assert all(name.endswith(".npy") for name in manifest["checksums"])


@pytest.mark.slow
def test_accuracy_close_to_svd():
    # measured RMSE 0.923 with these large batches (0.921 with the default 1024, 3x slower);
    # the issue asks for SVD's RMSE (0.935 on this split) within 0.01
    train, test = splits.holdout(movielens("100k"), test_size=0.2, random_state=42)
    model = TorchMF(batch_size=16384, learning_rate=0.05, num_threads=2,
                    random_state=0).fit(train)
    frame = test.to_frame()
    est = model.predict(frame["user"].to_numpy(), frame["item"].to_numpy())
    assert float(np.sqrt(np.mean((est - frame["rating"].to_numpy()) ** 2))) < 0.945
