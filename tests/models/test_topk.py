"""Query-time kernels agree with their NumPy references: the fused top-N (mask with -inf,
then top_n), serial and parallel, the small-block factor product; and the kNN scoring
kernels give the same numbers from their serial and parallel loops."""

import numpy as np
import pytest
import scipy.sparse as sp

import likewise
from likewise.models import _factors, _topk
from likewise.models._topk import top_n_masked
from likewise.models.base import top_n, top_n_reference
from likewise.testing import contract_data


def _reference(scores, seen, n):
    masked = scores.copy()
    rows = np.repeat(np.arange(seen.shape[0]), np.diff(seen.indptr))
    masked[rows, seen.indices] = -np.inf
    return top_n_reference(masked, n)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n", [1, 5, 40])
@pytest.mark.parametrize("path", ["serial", "parallel"])
def test_kernel_matches_reference(seed, n, path, monkeypatch):
    # the threshold picks the path: 0 sends every block to the parallel loop
    monkeypatch.setattr(_topk, "PARALLEL_MIN_CELLS", 0 if path == "parallel" else 1 << 62)
    calls = []
    kernel = getattr(_topk, f"_top_n_masked_{path}")
    monkeypatch.setattr(_topk, f"_top_n_masked_{path}",
                        lambda *a: calls.append(path) or kernel(*a))
    rng = np.random.default_rng(seed)
    rows, items = 30, 50
    # few distinct values so ties are common; some NaN and -inf
    scores = rng.integers(0, 6, size=(rows, items)).astype(np.float32)
    scores[rng.random(scores.shape) < 0.05] = np.nan
    scores[rng.random(scores.shape) < 0.05] = -np.inf
    seen = sp.random(rows, items, density=0.3, random_state=seed, format="csr")
    seen.sort_indices()
    idx, vals = top_n_masked(scores, seen.indptr, seen.indices, n)
    assert calls == [path]
    ref_idx, ref_vals = _reference(scores, seen, n)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(vals, ref_vals)


def test_threshold_sends_single_rows_to_the_serial_loop(monkeypatch):
    used = []
    for path in ("serial", "parallel"):
        kernel = getattr(_topk, f"_top_n_masked_{path}")
        monkeypatch.setattr(_topk, f"_top_n_masked_{path}",
                            lambda *a, k=kernel, p=path: used.append(p) or k(*a))
    none = np.zeros(2, np.int64), np.empty(0, np.int64)
    top_n_masked(np.ones((1, 27_000), np.float32), *none, 10)  # one user, 20M-shape items
    rows = -(-_topk.PARALLEL_MIN_CELLS // 1682)
    many = np.arange(rows + 1, dtype=np.int64) * 0
    top_n_masked(np.ones((rows, 1682), np.float32), many, np.empty(0, np.int64), 10)
    assert used == ["serial", "parallel"]


def test_rows_with_nothing_left_are_padding():
    scores = np.full((2, 3), -np.inf, dtype=np.float32)
    scores[1, 2] = 1.0
    idx, vals = top_n_masked(scores, np.zeros(3, np.int64), np.empty(0, np.int64), 2)
    assert idx.tolist() == [[-1, -1], [2, -1]]
    assert np.isnan(vals[0]).all() and vals[1, 0] == 1.0


def test_top_n_is_the_kernel_without_exclusions():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 4, size=(20, 30)).astype(np.float32)
    for n in (1, 7, 30):
        idx, vals = top_n(scores, n)
        ref_idx, ref_vals = top_n_reference(scores, n)
        np.testing.assert_array_equal(idx, ref_idx)
        np.testing.assert_array_equal(vals, ref_vals)


# -- the small-block factor product ----------------------------------------------------------
@pytest.mark.parametrize("n_items", [1, 3, 4, 7, 301])
@pytest.mark.parametrize("rows", [[0], [4, 0, 4], list(range(9))])
def test_serial_product_matches_reference(n_items, rows):
    rng = np.random.default_rng(n_items)
    left = rng.standard_normal((9, 13)).astype(np.float32)
    right = rng.standard_normal((n_items, 13)).astype(np.float32)
    got = _factors.dot_rows(left, np.array(rows), right)
    assert got.dtype == np.float32 and got.shape == (len(rows), n_items)
    np.testing.assert_allclose(got, _factors.dot_rows_reference(left, rows, right),
                               rtol=1e-5, atol=1e-5)


def test_product_threshold_picks_the_blas_for_large_blocks(monkeypatch):
    rng = np.random.default_rng(0)
    left = rng.standard_normal((50, 8)).astype(np.float32)
    right = rng.standard_normal((40, 8)).astype(np.float32)
    rows = np.arange(50)
    serial = _factors.dot_rows(left, rows, right)
    monkeypatch.setattr(_factors, "SERIAL_MAX_WORK", 0)
    monkeypatch.setattr(_factors, "serial_dot", None)  # would fail if called
    blas = _factors.dot_rows(left, rows, right)
    np.testing.assert_allclose(blas, serial, rtol=1e-5, atol=1e-5)
    assert _factors.dot_rows(left, np.array([], np.int64), right).shape == (0, 40)


# -- the kNN query kernels: serial and parallel loops give the same numbers -------------------
@pytest.mark.parametrize("make,kind", [
    (lambda: likewise.ItemKNN(k=20), "explicit"),       # predict_pairs
    (lambda: likewise.UserKNN(k=25), "implicit"),       # neighbor_votes
    (lambda: likewise.ItemKNN(k=30), "implicit"),       # sparse_scores
])
def test_knn_kernels_serial_equals_parallel(make, kind, monkeypatch):
    from likewise.models import _knn_kernels as K

    model = make().fit(contract_data(kind))
    users = np.arange(12, dtype=np.int64)
    out = {}
    for path, limit in (("serial", 1 << 62), ("parallel", 0)):
        monkeypatch.setattr(K, "PARALLEL_MIN_PAIRS", limit)
        monkeypatch.setattr(K, "PARALLEL_MIN_ROWS", limit)
        out[path] = model._score(users)
    np.testing.assert_array_equal(out["parallel"], out["serial"])
    assert np.isfinite(out["serial"]).any()
