"""ImageSimilarity: contract (with a tiny registered CNN), real photos, folders, errors."""

import functools
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")
pytest.importorskip("PIL")
skdata = pytest.importorskip("skimage.data")

import torch
from PIL import Image

import likewise
from likewise.errors import ConfigError, DataError
from likewise.features import images as im
from likewise.models.image import ImageSimilarity
from likewise.testing import RecommenderContract, contract_data


class TinyCNN(im.ImageModel):
    """A seeded random conv net: fast, deterministic features for plumbing tests."""

    name, dim, image_size = "tiny-test", 16, 32

    def load(self):
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, stride=2), torch.nn.ReLU(),
                                   torch.nn.Conv2d(16, 16, 3)).eval()

    def features(self, net, x):
        return net(x).mean(dim=(2, 3))


im.register_model(TinyCNN)


@functools.lru_cache(maxsize=2)
def _data_with_images(kind):
    """The contract data with a small generated image per item (one colour pattern each)."""
    data = contract_data(kind)
    folder = Path(tempfile.mkdtemp(prefix="likewise-test-images-"))
    rng = np.random.default_rng(0)
    paths = {}
    for item in data.items.ids.tolist():
        arr = np.kron(rng.integers(0, 256, (4, 4, 3)), np.ones((10, 10, 1))).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"{item}.png")
        paths[item] = f"{item}.png"
    meta = data.item_metadata.copy()
    meta["image"] = pd.Series(paths)
    return likewise.Interactions(data.matrix, data.users, data.items, kind=data.kind,
                                 timestamps=data.timestamps, rating_scale=data.rating_scale,
                                 item_metadata=meta), str(folder)


class TestImageSimilarity(RecommenderContract):
    kind = "implicit"
    invalid_params = [dict(model="vgg"), dict(batch_size=0), dict(backend="kdtree")]

    def _data(self):
        return _data_with_images(self.kind)[0]

    def make_model(self, **params):
        params.setdefault("model", "tiny-test")
        root = _data_with_images(self.kind)[1]
        # the embedding cache makes the many contract refits cheap (hash, no CNN)
        return ImageSimilarity(image_root=root, cache_dir=str(Path(root) / ".cache"), **params)


def test_fit_requires_an_image_column():
    data = contract_data("implicit")
    with pytest.raises(DataError, match="image"):
        ImageSimilarity(model="tiny-test").fit(data)


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("catalogue")
    for name in ("astronaut", "coffee", "chelsea", "rocket", "moon", "coins"):
        Image.fromarray(getattr(skdata, name)()).save(d / f"{name}.png")
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    return d


def test_from_folder_similar_images_real_photos(photo_folder, tmp_path):
    model = ImageSimilarity.from_folder(photo_folder)
    assert model.n_items == 7 and not model.has_image_[model.items_.index(["broken.jpg"])[0]]
    assert [p.endswith("broken.jpg") for p, _ in model.skipped_] == [True]
    # a flipped, cropped copy of the rocket photo finds the rocket first
    query = skdata.rocket()[40:380, ::-1]
    found = model.similar_images(query, n=3)
    assert found.ids[0] == "rocket.png" and found.paths[0].endswith("rocket.png")
    assert len(found) == 3 and np.all(np.diff(found.scores) <= 1e-6)
    assert list(found.to_frame().columns) == ["item", "path", "score", "rank"]
    sims = model.similar_items(["coffee.png", "broken.jpg"], n=2)
    assert "coffee.png" not in sims.items[0].tolist()
    assert (sims.item_indices[1] < 0).all()  # no image, no neighbours
    with pytest.raises(DataError, match="broken.jpg"):
        model.similar_images(photo_folder / "broken.jpg")
    model.save(tmp_path / "m")
    again = likewise.load(tmp_path / "m").similar_images(query, n=3)
    np.testing.assert_array_equal(again.ids, found.ids)


def test_profile_recommends_visually_similar_items():
    data, root = _data_with_images("implicit")
    model = ImageSimilarity(model="tiny-test", image_root=root).fit(data)
    u = 0
    row = model.user_weights_[u]
    profile = np.asarray(row @ model.item_vectors_).ravel()
    profile /= np.linalg.norm(profile)
    np.testing.assert_allclose(model._score(np.array([u]))[0], model.item_vectors_ @ profile,
                               atol=1e-5)


def test_bad_model_name():
    with pytest.raises(ConfigError, match="model"):
        ImageSimilarity.from_folder(".", model="vgg")
