"""One test suite run against every neighbour-search backend."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from likewise import index
from likewise._artifact import files_dir
from likewise.errors import (
    ConfigError,
    DataError,
    ModelFormatError,
    UnknownIdError,
    UnknownItemError,
    UnsupportedError,
)
from likewise.index.exact import reference_search

# backend -> (build params, minimum recall@10 on the clustered data below)
BACKENDS = {
    "exact": ({}, 1.0),
    "annoy": ({"n_trees": 20, "search_k": 4000, "random_state": 1}, 0.9),
    "hnsw": ({"M": 16, "ef_construction": 100, "ef": 64, "random_state": 1}, 0.95),
    "faiss-flat": ({"kind": "flat"}, 1.0),
    "faiss-hnsw": ({"kind": "hnsw", "M": 16, "ef_construction": 100, "ef": 64}, 0.95),
}
MODULES = {"annoy": "annoy", "hnsw": "hnswlib", "faiss-flat": "faiss", "faiss-hnsw": "faiss"}
METRICS = ["cosine", "dot", "euclidean"]


def _available(name: str) -> bool:
    module = MODULES.get(name)
    return module is None or importlib.util.find_spec(module) is not None


backend_names = [pytest.param(name, marks=pytest.mark.skipif(
    not _available(name), reason=f"{MODULES.get(name)} not installed")) for name in BACKENDS]


def make(vectors, backend_name, metric, ids=None, **extra):
    params, _ = BACKENDS[backend_name]
    backend = backend_name.split("-")[0]
    return index.build(vectors, ids=ids, metric=metric, backend=backend, **{**params, **extra})


@pytest.fixture(scope="module")
def clustered():
    """Factor-like data: clusters of varying norm (norms matter for dot)."""
    rng = np.random.default_rng(42)
    centres = rng.normal(size=(20, 16))
    labels = rng.integers(0, 20, size=2000)
    x = centres[labels] + 0.5 * rng.normal(size=(2000, 16))
    x *= rng.uniform(0.3, 3.0, size=(2000, 1))  # varying norms, like item factors
    q = centres[rng.integers(0, 20, size=200)] + 0.5 * rng.normal(size=(200, 16))
    return x.astype(np.float32), q.astype(np.float32)


@pytest.mark.parametrize("backend", backend_names)
@pytest.mark.parametrize("metric", METRICS)
def test_agrees_with_reference(clustered, backend, metric):
    x, q = clustered
    idx = make(x, backend, metric)
    assert (len(idx), idx.dim, idx.metric) == (2000, 16, metric)
    assert idx.backend == backend.split("-")[0]
    got = idx.query(q, k=10)
    assert got.ids.shape == got.scores.shape == (200, 10)
    assert got.scores.dtype == np.float32
    ref_pos, ref_scores = reference_search(x, q, 10, metric)
    _, min_recall = BACKENDS[backend]
    r = index.recall(got.ids, ref_pos, k=10)
    assert r >= min_recall, f"{backend}/{metric}: recall {r:.3f} < {min_recall}"
    # scores are those of the returned ids, in the documented convention, best first
    true_pos, true_scores = reference_search(x, q, len(x), metric)
    lookup = np.empty_like(true_scores)
    np.put_along_axis(lookup, true_pos, true_scores, axis=1)
    expect = np.take_along_axis(lookup, got.positions, axis=1)
    np.testing.assert_allclose(got.scores, expect, rtol=2e-3, atol=2e-3 * np.abs(expect).max())
    step = np.diff(got.scores, axis=1)
    assert (step <= 1e-5).all() if idx.higher_is_better else (step >= -1e-5).all()
    if min_recall == 1.0:
        # exact search: same neighbours as the oracle except at (near) ties
        same = got.positions == ref_pos
        assert same.mean() > 0.99
        np.testing.assert_allclose(got.scores, ref_scores, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("backend", backend_names)
def test_dot_is_maximum_inner_product_not_cosine(backend):
    """Long vectors must win under dot even when a short one points closer."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 8)).astype(np.float32)
    x *= rng.uniform(0.1, 5, size=(500, 1)).astype(np.float32)
    q = rng.normal(size=(50, 8)).astype(np.float32)
    got = make(x, backend, "dot").query(q, k=5)
    ref, _ = reference_search(x, q, 5, "dot")
    cos_ref, _ = reference_search(x, q, 5, "cosine")
    assert index.recall(cos_ref, ref, k=5) < 0.8  # the data really separates dot from cosine
    assert index.recall(got.ids, ref, k=5) >= BACKENDS[backend][1] - 0.05


@pytest.mark.parametrize("backend", backend_names)
def test_ids_query_ids_and_clamping(clustered, backend):
    x, q = clustered
    x, q = x[:300], q[:5]
    ids = np.array([f"v{i}" for i in range(300)])
    idx = make(x, backend, "cosine", ids=ids)
    res = idx.query_ids(["v3", "v10"], k=5)
    assert res.ids.shape == (2, 5)
    assert "v3" not in res.ids[0] and "v10" not in res.ids[1]
    with_self = idx.query_ids(["v3"], k=5, exclude_self=False)
    assert with_self.ids[0, 0] == "v3"
    np.testing.assert_allclose(with_self.scores[0, 0], 1.0, atol=1e-3)
    # k larger than the index is clamped to len(index) (len - 1 without self)
    assert idx.query(q, k=1000).ids.shape[1] <= 300
    small = make(x[:7], backend, "euclidean")
    full = small.query(q, k=50)
    assert full.ids.shape == (5, 7)
    if backend in ("exact", "faiss-flat"):
        assert sorted(full.ids[0].tolist()) == list(range(7))
    assert small.query_ids([0], k=50).ids.shape == (1, 6)
    with pytest.raises(UnknownItemError, match="v999"):
        idx.query_ids(["v1", "v999"], k=3)
    with pytest.raises(UnknownIdError):
        idx.get_vectors(["nope"])
    np.testing.assert_allclose(idx.get_vectors(["v0"])[0],
                               x[0] / np.linalg.norm(x[0]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", backend_names)
def test_bad_input(clustered, backend):
    x, _ = clustered
    x = x[:100]
    idx = make(x, backend, "euclidean")
    with pytest.raises(DataError, match="16"):
        idx.query(np.ones((2, 15)), k=3)
    bad = x[:3].copy()
    bad[1, 2] = np.nan
    with pytest.raises(DataError, match="row 1"):
        idx.query(bad, k=3)
    with pytest.raises(DataError, match="NaN"):
        make(np.vstack([x, [np.inf] * 16]), backend, "cosine")
    with pytest.raises(DataError, match="0 vectors"):
        make(np.empty((0, 16)), backend, "cosine")
    with pytest.raises(ConfigError, match="k must be"):
        idx.query(x[:1], k=0)
    with pytest.raises(ConfigError, match="metric"):
        index.build(x, metric="manhattan")
    with pytest.raises(ConfigError, match="backend"):
        index.build(x, backend="scann")
    with pytest.raises(ConfigError, match="no parameter 'bogus'"):
        make(x, backend, "cosine", bogus=3)
    with pytest.raises(DataError, match="ids"):
        make(x, backend, "cosine", ids=np.arange(99))
    with pytest.raises(DataError, match="unique"):
        make(x, backend, "cosine", ids=np.zeros(100, dtype=int))
    with pytest.raises(DataError, match="2-D"):
        make(x[0], backend, "cosine")


@pytest.mark.parametrize("backend", backend_names)
@pytest.mark.parametrize("metric", METRICS)
def test_save_load_round_trip(clustered, backend, metric, tmp_path):
    x, q = clustered
    x = x[:500]
    idx = make(x, backend, metric, ids=np.arange(1000, 1500))
    before = idx.query(q, k=10)
    path = idx.save(tmp_path / "idx")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["backend"] == idx.backend and manifest["n"] == 500
    for mmap in (True, False):
        loaded = index.load(path, mmap=mmap)
        assert (type(loaded), len(loaded), loaded.dim, loaded.metric) == \
            (type(idx), 500, 16, metric)
        after = loaded.query(q, k=10)
        np.testing.assert_array_equal(after.ids, before.ids)
        np.testing.assert_allclose(after.scores, before.scores, rtol=1e-5, atol=1e-5)
    # overwriting keeps a valid index
    idx.save(path)
    assert len(index.load(path)) == 500


def test_load_detects_corruption(clustered, tmp_path):
    x, _ = clustered
    path = index.build(x[:50]).save(tmp_path / "idx")
    with open(files_dir(path) / "vectors.npy", "r+b") as fh:  # the current version's file
        fh.seek(-4, 2)
        fh.write(b"\x00\x01\x02\x03")
    with pytest.raises(ModelFormatError, match="checksum"):
        index.load(path)
    with pytest.raises(ModelFormatError, match="manifest"):
        index.load(tmp_path / "nothing")
    good = index.build(x[:50]).save(tmp_path / "good")
    manifest = json.loads((good / "manifest.json").read_text())
    del manifest["dim"]
    (good / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFormatError, match="incomplete"):
        index.load(good)
    manifest["dim"], manifest["format_version"] = 16, 99
    (good / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFormatError, match="newer"):
        index.load(good)


@pytest.mark.parametrize("backend", backend_names)
def test_add(clustered, backend):
    x, q = clustered
    idx = make(x[:1000], backend, "euclidean")
    if not idx.supports_add:
        with pytest.raises(UnsupportedError, match="cannot add"):
            idx.add(x[1000:])
        return
    idx.add(x[1000:])
    assert len(idx) == 2000
    ref, _ = reference_search(x, q, 10, "euclidean")
    assert index.recall(idx.query(q, k=10).ids, ref, k=10) >= BACKENDS[backend][1] - 0.02
    with pytest.raises(DataError, match="dimensions"):
        idx.add(np.ones((2, 3)))
    named = make(x[:10], backend, "cosine", ids=list("abcdefghij"))
    with pytest.raises(ConfigError, match="give ids"):
        named.add(x[10:12])
    with pytest.raises(DataError, match="already"):
        named.add(x[10:12], ids=["a", "z"])
    named.add(x[10:12], ids=["y", "z"])
    assert named.query_ids(["z"], k=1, exclude_self=False).ids[0, 0] == "z"


@pytest.mark.parametrize("backend", [b for b in backend_names if b.values[0] != "exact"
                                     and b.values[0] != "faiss-flat"])
def test_dot_add_beyond_max_norm(clustered, backend):
    x, _ = clustered
    idx = make(x[:100], backend, "dot")
    if not idx.supports_add:
        pytest.skip("backend cannot add")
    with pytest.raises(ConfigError, match="max_norm"):
        idx.add(x[:1] * 100, ids=[10_000])
    roomy = make(x[:100], backend, "dot", max_norm=1e4)
    roomy.add(x[:1] * 100, ids=[10_000])
    assert roomy.query(x[:1], k=1).ids[0, 0] == 10_000


def test_recall_helper():
    exact_ids = np.array([[1, 2, 3], [4, 5, 6]])
    assert index.recall(np.array([[3, 2, 1], [4, 9, 8]]), exact_ids, k=3) == pytest.approx(
        (1 + 1 / 3) / 2)
    with pytest.raises(ConfigError, match="queries"):
        index.recall(index.build(np.eye(3)), exact_ids, k=2)
    with pytest.raises(DataError, match="rows"):
        index.recall(exact_ids[:1], exact_ids)
