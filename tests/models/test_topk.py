"""The fused top-N kernel agrees with the NumPy reference (mask with -inf, then top_n)."""

import numpy as np
import pytest
import scipy.sparse as sp

from likewise.models._topk import top_n_masked
from likewise.models.base import top_n, top_n_reference


def _reference(scores, seen, n):
    masked = scores.copy()
    rows = np.repeat(np.arange(seen.shape[0]), np.diff(seen.indptr))
    masked[rows, seen.indices] = -np.inf
    return top_n_reference(masked, n)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n", [1, 5, 40])
def test_kernel_matches_reference(seed, n):
    rng = np.random.default_rng(seed)
    rows, items = 30, 50
    # few distinct values so ties are common; some NaN and -inf
    scores = rng.integers(0, 6, size=(rows, items)).astype(np.float32)
    scores[rng.random(scores.shape) < 0.05] = np.nan
    scores[rng.random(scores.shape) < 0.05] = -np.inf
    seen = sp.random(rows, items, density=0.3, random_state=seed, format="csr")
    seen.sort_indices()
    idx, vals = top_n_masked(scores, seen.indptr, seen.indices, n)
    ref_idx, ref_vals = _reference(scores, seen, n)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(vals, ref_vals)


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
