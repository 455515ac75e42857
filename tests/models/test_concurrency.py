"""Concurrent queries give exactly the serial answers (likewise issue #13).

Every model family is fitted once on the contract data; its answers for ~50 users (and
items, and histories) are computed one call at a time, then the same calls, shuffled and
repeated, run from 8 threads at once and must return identical item indices and scores.
Index-backed queries (``recommend(..., index="hnsw")``, ``similar_items(..., index=...)``)
and fold-in queries (``recommend_from_history``) are included where a model has them.
"""

from __future__ import annotations

import functools
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import likewise
from likewise.errors import UnsupportedError
from likewise.testing import contract_data

THREADS = 8
N_USERS = 50
N_ITEMS = 20
N_HISTORIES = 10
REPEATS = 3

CONTENT = {"class": "ContentKNN", "params": {"list_fields": ["genres"],
                                             "text_fields": ["title"]}}


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


# (name, data kind, factory); small parameters so that the whole file stays fast
FAMILIES = [
    ("Random", "explicit", lambda: likewise.Random(random_state=0)),
    ("Baseline", "explicit", lambda: likewise.Baseline()),
    ("Popularity", "implicit", lambda: likewise.Popularity(method="trending")),
    ("UserKNN explicit", "explicit",
     lambda: likewise.UserKNN(similarity="pearson", prediction="zscore", k=20)),
    ("UserKNN implicit", "implicit", lambda: likewise.UserKNN(k=25)),
    ("ItemKNN explicit", "explicit", lambda: likewise.ItemKNN(k=20)),
    ("ItemKNN implicit", "implicit", lambda: likewise.ItemKNN(k=30)),
    ("SVD", "explicit", lambda: likewise.SVD(factors=8, epochs=5, random_state=0)),
    ("SVDpp", "explicit", lambda: likewise.SVDpp(factors=8, epochs=3, random_state=0)),
    ("NMF", "explicit", lambda: likewise.NMF(factors=6, epochs=10, random_state=0)),
    ("ALS", "explicit", lambda: likewise.ALS(factors=8, iterations=5, random_state=0)),
    ("ImplicitALS", "implicit",
     lambda: likewise.ImplicitALS(factors=8, iterations=5, random_state=0)),
    ("BPR", "implicit", lambda: likewise.BPR(factors=8, epochs=5, random_state=0)),
    ("EASE", "implicit", lambda: likewise.EASE(lambda_=100.0)),
    ("BayesianMF", "explicit", lambda: likewise.BayesianMF(
        factors=8, iterations=12, burn_in=6, samples=3, random_state=0)),
    ("ApproxUserKNN", "explicit", lambda: likewise.ApproxUserKNN(k=10, factors=8)),
    ("ContentKNN", "explicit",
     lambda: likewise.ContentKNN(list_fields=["genres"], text_fields=["title"])),
    ("WeightedHybrid", "explicit", lambda: likewise.WeightedHybrid(
        {"pop": {"class": "Popularity"}, "content": CONTENT},
        weights={"pop": 0.6, "content": 0.4})),
    ("SwitchingHybrid", "explicit", lambda: likewise.SwitchingHybrid(
        warm={"class": "Baseline"}, cold_user=CONTENT, cold_item=CONTENT,
        user_threshold=140)),
]
if _has("hnswlib"):
    FAMILIES.append(("ApproxUserKNN hnsw", "explicit",
                     lambda: likewise.ApproxUserKNN(k=10, factors=8, backend="hnsw")))
if _has("torch"):
    FAMILIES.append(("TorchMF", "explicit", lambda: likewise.TorchMF(
        factors=8, epochs=2, batch_size=2048, learning_rate=0.02, random_state=0)))


@functools.lru_cache(maxsize=2)
def _data(kind: str):
    return contract_data(kind)


def _same(a, b, what: str) -> None:
    """Exactly the same answer: Recommendations (indices and scores) or an array."""
    if isinstance(a, np.ndarray):
        np.testing.assert_array_equal(b, a, err_msg=what)
        return
    np.testing.assert_array_equal(b.item_indices, a.item_indices, err_msg=what)
    np.testing.assert_array_equal(b.scores, a.scores, err_msg=what)
    np.testing.assert_array_equal(b.fallback, a.fallback, err_msg=what)


def _supported(call):
    """``call`` if the model supports it (it answers once), else None."""
    try:
        call()
    except UnsupportedError:
        return None
    return call


def _prepare(model, **indexes) -> bool:
    """Build the model's indexes up front; False when the model has no such index."""
    try:
        if hasattr(model, "prepare"):
            model.prepare(**indexes)
        elif "index" in indexes:
            model.build_index(indexes["index"])
        else:
            return False
    except UnsupportedError:
        return False
    return True


def _query_calls(model, data) -> tuple[list, np.ndarray, np.ndarray]:
    """(label, call) pairs over ~50 users, 20 items and 10 histories (one or a few ids
    each), and the users and items they ask about."""
    rng = np.random.default_rng(0)
    users = rng.choice(data.users.ids, N_USERS, replace=False)
    items = rng.choice(data.items.ids, N_ITEMS, replace=False)
    calls = []
    for u in users:
        picked = rng.choice(data.items.ids, 5, replace=False)
        calls.append((f"recommend {u}", lambda u=u: model.recommend([u], n=10)))
        calls.append((f"predict {u}", lambda u=u, i=picked: model.predict([u] * 5, i)))
    for lo in range(0, N_USERS, 10):
        block = users[lo:lo + 3]
        calls.append((f"recommend {block}", lambda b=block: model.recommend(b, n=5)))
    for i in items:
        call = _supported(lambda i=i: model.similar_items([i], n=10))
        if call is not None:
            calls.append((f"similar_items {i}", call))
    matrix = data.matrix
    for row in rng.choice(data.n_users, N_HISTORIES, replace=False):
        lo, hi = matrix.indptr[row], matrix.indptr[row + 1]
        hist = data.items.ids[matrix.indices[lo:hi][:20]]
        values = matrix.data[lo:hi][:20]
        call = _supported(lambda h=hist, v=values: model.recommend_from_history(h, v, n=10))
        if call is not None:
            calls.append((f"recommend_from_history of user row {row}", call))
    return calls, users, items


def _index_calls(model, users, items) -> list:
    calls = []
    if _has("hnswlib") and _prepare(model, index="hnsw", warm=False):
        calls += [(f"recommend {u} index=hnsw",
                   lambda u=u: model.recommend([u], n=10, index="hnsw")) for u in users]
    if _has("hnswlib") and _prepare(model, similar_index="hnsw", warm=False):
        calls += [(f"similar_items {i} index=hnsw",
                   lambda i=i: model.similar_items([i], n=10, index="hnsw")) for i in items]
    return calls


def _check_concurrent(calls) -> None:
    serial = [call() for _, call in calls]
    order = np.random.default_rng(1).permutation(np.tile(np.arange(len(calls)), REPEATS))
    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(lambda j: (j, calls[j][1]()), order))
    for j, got in answers:
        _same(serial[j], got, calls[j][0])


@pytest.mark.parametrize("name,kind,make", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_threads_get_the_serial_answers(name, kind, make):
    data = _data(kind)
    model = make().fit(data)
    calls, users, items = _query_calls(model, data)
    calls += _index_calls(model, users, items)
    assert len(calls) >= 2 * N_USERS
    _check_concurrent(calls)


# -- ImageSimilarity (image extra) ---------------------------------------------------------
def _tiny_cnn():
    import torch

    from likewise.features import images as im

    class TinyConcurrencyCNN(im.ImageModel):
        """A seeded random conv net: fast, deterministic features."""

        name, dim, image_size = "tiny-concurrency", 16, 32

        def load(self):
            torch.manual_seed(0)
            return torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, stride=2), torch.nn.ReLU(),
                                       torch.nn.Conv2d(16, 16, 3)).eval()

        def features(self, net, x):
            return net(x).mean(dim=(2, 3))

    im.register_model(TinyConcurrencyCNN)
    return TinyConcurrencyCNN


def _catalogue_with_images():
    import pandas as pd
    from PIL import Image

    data = contract_data("implicit")
    folder = Path(tempfile.mkdtemp(prefix="likewise-concurrency-images-"))
    rng = np.random.default_rng(0)
    paths = {}
    for item in data.items.ids.tolist():
        arr = np.kron(rng.integers(0, 256, (4, 4, 3)), np.ones((10, 10, 1))).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"{item}.png")
        paths[item] = f"{item}.png"
    meta = data.item_metadata.copy()
    meta["image"] = pd.Series(paths)
    return likewise.Interactions(data.matrix, data.users, data.items, kind=data.kind,
                                 timestamps=data.timestamps, item_metadata=meta), folder


@pytest.mark.skipif(not (_has("torch") and _has("PIL")), reason="needs the image extra")
def test_image_similarity_threads_get_the_serial_answers():
    from likewise.features import images as im

    cnn = _tiny_cnn()
    im.prepare_model("tiny-concurrency", runtime="torch")  # loads up front, as a server would
    assert (cnn, cnn().cache_key()) in im._NETS
    data, folder = _catalogue_with_images()
    model = likewise.ImageSimilarity(model="tiny-concurrency", image_root=str(folder),
                                     runtime="torch").fit(data)
    calls, users, items = _query_calls(model, data)
    photos = sorted(folder.glob("*.png"))[:10]
    calls += [(f"similar_images {p.name}", lambda p=p: model.similar_images(p, n=5).scores)
              for p in photos]
    _check_concurrent(calls)


# -- the index layer ---------------------------------------------------------------------------
def test_concurrent_exact_searches_restore_the_blas_limit(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from likewise import index
    from likewise.index import exact

    def blas_threads():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"]

    before = blas_threads()
    monkeypatch.setattr(exact, "SERIAL_MAX_WORK", 0)  # every search takes the BLAS path
    rng = np.random.default_rng(0)
    idx = index.build(rng.normal(size=(5000, 16)).astype(np.float32), metric="dot")
    queries = [rng.normal(size=(40, 16)).astype(np.float32) for _ in range(24)]
    serial = [idx.query(q, k=5).positions for q in queries]
    with ThreadPoolExecutor(THREADS) as pool:
        got = list(pool.map(lambda q: idx.query(q, k=5).positions, queries))
    for a, b in zip(serial, got):
        np.testing.assert_array_equal(b, a)
    assert blas_threads() == before  # overlapping searches put the limit back once


@pytest.mark.skipif(not _has("hnswlib"), reason="needs hnswlib")
def test_hnsw_searches_with_different_ef_do_not_mix():
    from likewise import index

    rng = np.random.default_rng(0)
    idx = index.build(rng.normal(size=(3000, 8)).astype(np.float32), metric="cosine",
                      backend="hnsw", M=4, ef_construction=10, num_threads=1)
    queries = rng.normal(size=(64, 8)).astype(np.float32)
    tasks = [(r, ef) for r in range(len(queries)) for ef in (1, 8, 300)]
    serial = {t: idx.query(queries[t[0]], k=3, ef=t[1]).positions for t in tasks}
    assert any((serial[(r, 1)] != serial[(r, 300)]).any() for r in range(len(queries)))
    order = [tasks[j] for j in np.random.default_rng(2).permutation(len(tasks))]
    with ThreadPoolExecutor(THREADS) as pool:
        got = list(pool.map(lambda t: (t, idx.query(queries[t[0]], k=3, ef=t[1]).positions),
                            order * 2))
    for t, positions in got:
        np.testing.assert_array_equal(positions, serial[t], err_msg=str(t))
