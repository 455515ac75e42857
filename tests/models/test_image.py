"""ImageSimilarity: contract (with a tiny registered CNN), real photos, folders, errors, and
the reduced (PCA + exact re-rank) search with a recall bound on real embeddings."""

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
from likewise.models import image as image_module
from likewise.models.image import ImageSimilarity, pca_basis
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
    can_fold_in = can_similar_items = True
    invalid_params = [dict(model="vgg"), dict(batch_size=0), dict(backend="kdtree"),
                      dict(search_dim=-1), dict(search_dim="big"), dict(rerank=0)]

    def _data(self):
        return _data_with_images(self.kind)[0]

    def make_model(self, **params):
        params.setdefault("model", "tiny-test")
        root = _data_with_images(self.kind)[1]
        # the embedding cache makes the many contract refits cheap (hash, no CNN)
        return ImageSimilarity(image_root=root, cache_dir=str(Path(root) / ".cache"), **params)


class TestImageSimilarityReduced(TestImageSimilarity):
    """The whole contract again with the two-step search forced on (16-d tiny CNN -> 4-d)."""

    def make_model(self, **params):
        params.setdefault("search_dim", 4)
        params.setdefault("rerank", 3)
        return super().make_model(**params)


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


def test_runtime_parameter(photo_folder, tmp_path):
    import json

    default = ImageSimilarity.from_folder(photo_folder)
    by_torch = ImageSimilarity.from_folder(photo_folder, runtime="torch")
    np.testing.assert_allclose(by_torch.item_vectors_, default.item_vectors_, atol=1e-4)
    query = skdata.coffee()[30:300, ::-1]
    assert by_torch.similar_images(query, n=1).ids[0] == "coffee.png"
    by_torch.save(tmp_path / "t")
    assert likewise.load(tmp_path / "t").runtime == "torch"
    with pytest.raises(ConfigError, match="runtime"):
        ImageSimilarity.from_folder(photo_folder, runtime="tensorrt")
    # a model saved before the parameter existed loads with the default
    manifest = tmp_path / "t" / "manifest.json"
    meta = json.loads(manifest.read_text())
    del meta["params"]["runtime"]
    del meta["manifest_sha256"]  # saves from before the parameter had no manifest digest
    manifest.write_text(json.dumps(meta))
    assert likewise.load(tmp_path / "t").runtime == "auto"


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


# ---------------------------------------------------------------------------------------
# the reduced search: PCA first pass + exact re-rank
# ---------------------------------------------------------------------------------------
def pca_reference(x, dim):
    """Plain SVD of the centred data: the top right singular vectors (signs unfixed)."""
    from threadpoolctl import threadpool_limits

    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)
    with threadpool_limits(1, "blas"):  # multithreaded OpenBLAS LAPACK crawls on a busy box
        _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    return vt[:dim].T, mean


def test_pca_basis_agrees_with_svd():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 12)) @ rng.normal(size=(12, 12)) + 3.0
    comp, mean = pca_basis(x, 5)
    ref, ref_mean = pca_reference(x, 5)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-5)
    # the same axes up to sign, orthonormal
    np.testing.assert_allclose(np.abs(comp.T @ ref), np.eye(5), atol=1e-4)
    np.testing.assert_allclose(comp.T @ comp, np.eye(5), atol=1e-5)
    # a sample of the rows (max_rows) gives nearly the same leading axis
    sub, _ = pca_basis(x, 1, max_rows=300)
    assert abs(float(sub[:, 0] @ ref[:, 0])) > 0.99
    # many features, few components: the randomized subspace iteration path
    scale = np.r_[np.linspace(10, 3, 8), np.full(192, 0.5)]
    x = rng.normal(size=(1500, 200)) * scale @ np.linalg.qr(rng.normal(size=(200, 200)))[0]
    comp, _ = pca_basis(x, 8)
    ref, _ = pca_reference(x, 8)
    np.testing.assert_allclose(np.abs(comp.T @ ref), np.eye(8), atol=2e-3)
    np.testing.assert_array_equal(comp, pca_basis(x, 8)[0])  # seeded: deterministic


def _shots(img, rng, n):
    """n augmented shots of one image: crop, flip, rotation, colour, downscale, JPEG."""
    import io

    from PIL import ImageEnhance

    out = []
    for _ in range(n):
        w, h = img.size
        s = np.sqrt(rng.uniform(0.6, 1.0))
        cw, ch = int(w * s), int(h * s)
        x, y = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
        shot = img.crop((x, y, x + cw, y + ch))
        if rng.random() < 0.5:
            shot = shot.transpose(Image.FLIP_LEFT_RIGHT)
        shot = shot.rotate(rng.uniform(-20, 20), resample=Image.BILINEAR, fillcolor=(128,) * 3)
        shot = ImageEnhance.Brightness(shot).enhance(rng.uniform(0.7, 1.3))
        shot = ImageEnhance.Color(shot).enhance(rng.uniform(0.7, 1.3))
        f = rng.uniform(0.5, 1.0)
        shot = shot.resize((int(shot.size[0] * f), int(shot.size[1] * f)), Image.BILINEAR)
        buf = io.BytesIO()
        shot.save(buf, format="JPEG", quality=int(rng.integers(40, 95)))
        out.append(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return out


@pytest.fixture(scope="module")
def real_shots():
    """Real EfficientNet-Lite0 embeddings: 16 'products' (regions of 8 scikit-image photos)
    x 3 augmented shots each; returns (vectors, product)."""
    rng = np.random.default_rng(0)
    photos = [Image.fromarray(getattr(skdata, name)()).convert("RGB")
              for name in ("astronaut", "coffee", "chelsea", "rocket", "moon", "coins",
                           "camera", "immunohistochemistry")]
    images, product = [], []
    for p, photo in enumerate(photos):
        w, h = photo.size
        for half in range(2):  # two different regions of each photo
            box = (0, 0, w * 3 // 5, h) if half == 0 else (w * 2 // 5, 0, w, h)
            for shot in _shots(photo.crop(box), rng, 3):
                images.append(im.preprocess(shot))
                product.append(2 * p + half)
    spec = im.get_model("efficientnet-lite0")
    vectors = np.concatenate([im._run(spec, im._network(spec), np.stack(images[i:i + 16]), True)
                              for i in range(0, len(images), 16)])
    return vectors, np.asarray(product)


def grow(vectors, product, n_total, seed=0):
    """The benchmark's corpus growth (benchmarks/bench_images.py grow_corpus): product mean +
    Gaussian noise with the pooled within-product covariance of the real shots, unit length."""
    rng = np.random.default_rng(seed)
    ids, inv, counts = np.unique(product, return_inverse=True, return_counts=True)
    means = np.zeros((len(ids), vectors.shape[1]))
    np.add.at(means, inv, vectors)
    means /= counts[:, None]
    resid = (vectors - means[inv]) * np.sqrt(counts / (counts - 1))[inv, None]
    owner = rng.integers(0, len(ids), n_total - len(vectors))
    synth = means[owner] + rng.standard_normal((len(owner), len(resid))) @ resid / np.sqrt(len(resid))
    synth /= np.linalg.norm(synth, axis=1, keepdims=True)
    return np.r_[vectors, synth].astype(np.float32), np.r_[product, ids[owner]]


def _catalogue(vectors, **params):
    emb = im.ImageEmbeddings(ids=np.array([f"img{i}" for i in range(len(vectors))]),
                             paths=np.array([f"/photos/{i}.jpg" for i in range(len(vectors))]),
                             vectors=vectors, model=im.get_model("efficientnet-lite0").cache_key())
    return ImageSimilarity.from_embeddings(emb, **params)


def _recall(model, exact, queries, k=5):
    hits = [len(set(model.similar_to_vector(q, n=k).ids) & set(e.similar_to_vector(q, n=k).ids))
            for q, e in zip(queries, [exact] * len(queries))]
    return np.sum(hits) / (k * len(queries))


def test_reduced_search_recall_on_real_embeddings(real_shots):
    """Held-out real shots as queries against a catalogue grown from the other real shots:
    the default two-step search (PCA 128 above the size threshold) keeps recall@5 >= 0.95."""
    vectors, product = real_shots
    shot = np.arange(len(vectors)) % 3
    catalogue, _ = grow(vectors[shot < 2], product[shot < 2], 25_000)
    queries = vectors[shot == 2]
    model = _catalogue(catalogue)  # search_dim="auto": 25,000 images >= the threshold
    assert model.search_components_.shape == (1280, image_module.AUTO_SEARCH_DIM)
    exact = _catalogue(catalogue, search_dim=0)
    assert exact.search_components_ is None
    assert _recall(model, exact, queries) >= 0.95
    # the scores are exact cosines of the returned rows
    found = model.similar_to_vector(queries[0], n=5)
    rows = model.items_.index(found.ids)
    np.testing.assert_allclose(found.scores, catalogue[rows] @ queries[0], atol=1e-5)
    # a much weaker first pass (4 components, no spare candidates) loses neighbours: the
    # bound above is not met by any search whatsoever
    weak = _catalogue(catalogue, search_dim=4, rerank=1)
    assert _recall(weak, exact, queries) < 0.9


def test_reduced_similar_items_and_save_load(real_shots, tmp_path):
    vectors, product = real_shots
    catalogue, cat_product = grow(vectors, product, 3000, seed=1)
    model = _catalogue(catalogue, search_dim=32, rerank=10)
    exact = _catalogue(catalogue, search_dim=0)
    some = model.items_.ids[:40]
    got, ref = model.similar_items(some, n=5), exact.similar_items(some, n=5)
    assert not (got.items == some[:, None]).any()  # never the query item itself
    overlap = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(got.items, ref.items)])
    assert overlap >= 0.95
    # neighbours are images of the same product
    rows = model.items_.index(got.items.ravel())
    assert np.mean(cat_product[rows] == np.repeat(cat_product[:40], 5)) > 0.95
    model.save(tmp_path / "m")
    again = likewise.load(tmp_path / "m")
    np.testing.assert_array_equal(again.search_components_, model.search_components_)
    np.testing.assert_array_equal(again.similar_items(some, n=5).items, got.items)
    q = vectors[0]
    np.testing.assert_array_equal(again.similar_to_vector(q).ids, model.similar_to_vector(q).ids)


def test_search_dim_auto_threshold(monkeypatch):
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(300, 1280)).astype(np.float32)
    assert _catalogue(vecs).search_components_ is None  # small: full search
    monkeypatch.setattr(image_module, "AUTO_SEARCH_MIN_IMAGES", 300)
    assert _catalogue(vecs).search_components_.shape == (1280, image_module.AUTO_SEARCH_DIM)
    assert _catalogue(vecs, search_dim=0).search_components_ is None  # overridden
    assert _catalogue(vecs, search_dim=1280).search_components_ is None  # no reduction
    assert _catalogue(vecs, search_dim=16).search_components_.shape == (1280, 16)


def test_from_embeddings_checks():
    spec = im.get_model("efficientnet-lite0")
    with pytest.raises(ConfigError, match="same model"):
        ImageSimilarity.from_embeddings(im.ImageEmbeddings(
            ids=np.array(["a"]), paths=np.array(["a"]), vectors=np.ones((1, 16)),
            model="tiny-test-32-crop-v1"))
    with pytest.raises(DataError, match="dimensions"):
        ImageSimilarity.from_embeddings(im.ImageEmbeddings(
            ids=np.array(["a"]), paths=np.array(["a"]), vectors=np.ones((1, 16)),
            model=spec.cache_key()))
    with pytest.raises(DataError, match="ImageEmbeddings"):
        ImageSimilarity.from_embeddings(np.ones((3, 1280)))
    model = _catalogue(np.eye(1280, dtype=np.float32)[:3] + 0.1)
    with pytest.raises(DataError, match="1-D"):
        model.similar_to_vector(np.ones((2, 1280)))
