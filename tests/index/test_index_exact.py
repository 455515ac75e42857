"""The exact backend's optimised kernel against its plain NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest

from likewise import index
from likewise.index import exact


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
@pytest.mark.parametrize("k", [1, 7, 300])  # 300 takes the argpartition path
def test_blocked_kernel_matches_reference(metric, k):
    rng = np.random.default_rng(k)
    # more rows than one column block (4096) so blocks are merged
    x = rng.normal(size=(5000, 12)).astype(np.float32)
    q = rng.normal(size=(40, 12)).astype(np.float32)
    idx = index.build(x, metric=metric)
    got = idx.query(q, k=k)
    ref_pos, ref_scores = exact.reference_search(x, q, k, metric)
    assert (got.positions == ref_pos).mean() > 0.995
    np.testing.assert_allclose(got.scores, ref_scores, rtol=1e-4, atol=1e-4)


def test_threads_do_not_change_results():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3000, 8)).astype(np.float32)
    q = rng.normal(size=(500, 8)).astype(np.float32)
    idx = index.build(x, metric="dot", num_threads=1)
    one = idx.query(q, k=10)
    many = idx.query(q, k=10, num_threads=4)
    np.testing.assert_array_equal(one.positions, many.positions)
    np.testing.assert_array_equal(one.scores, many.scores)


def test_ties_broken_by_position():
    x = np.ones((10, 4), dtype=np.float32)  # every vector ties
    got = index.build(x, metric="dot").query(np.ones((2, 4)), k=4)
    assert got.positions.tolist() == [[0, 1, 2, 3]] * 2
    pos, _ = exact.reference_search(x, np.ones((2, 4)), 4, "dot")
    assert pos.tolist() == [[0, 1, 2, 3]] * 2


def test_zero_vectors_are_allowed_for_cosine():
    x = np.vstack([np.zeros(3), np.eye(3)]).astype(np.float32)
    got = index.build(x, metric="cosine").query(np.array([[1.0, 0, 0]]), k=4)
    assert got.positions[0, 0] == 1
    assert got.scores[0, -1] == 0.0


def test_mmap_load_is_read_only_and_add_copies(tmp_path):
    x = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
    path = index.build(x, metric="euclidean").save(tmp_path / "i")
    loaded = index.load(path, mmap=True)
    assert isinstance(loaded._data, np.memmap)
    loaded.add(x[:3] + 100)
    assert len(loaded) == 103 and len(index.load(path)) == 100
    assert loaded.query(x[:1] + 100, k=1).ids[0, 0] == 100
