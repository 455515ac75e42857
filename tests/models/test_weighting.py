"""BM25 weighting: one implementation behind ItemKNN, ImplicitALS and their fold-in."""

import numpy as np
import pytest
import scipy.sparse as sp

from likewise.models._weighting import BM25_B, BM25_K1, bm25_history, bm25_weights
from likewise.models.als import bm25_weight
from likewise.models.knn import item_weights

# users x items: u0 = {i0: 1, i2: 3}, u1 = {i1: 2}, u2 = {i0: 1, i1: 1, i3: 2}
MATRIX = sp.csr_matrix(np.array([[1, 0, 3, 0], [0, 2, 0, 0], [1, 1, 0, 2]], dtype=np.float32))


def test_bm25_by_hand():
    weights, norm = bm25_weights(MATRIX, k1=1.2, b=0.75)
    # item lengths 2, 3, 3, 2 (mean 2.5): norm = 0.25 + 0.75 * len / 2.5
    np.testing.assert_allclose(norm, [0.85, 1.15, 1.15, 0.85])
    # idf = log(4 items) - log1p(n_u): u0 log(4/3), u1 log(4/2), u2 log(4/4) = 0
    expected = [1 * 2.2 / (1.2 * 0.85 + 1) * np.log(4 / 3),   # u0, i0
                3 * 2.2 / (1.2 * 1.15 + 3) * np.log(4 / 3),   # u0, i2
                2 * 2.2 / (1.2 * 1.15 + 2) * np.log(2),       # u1, i1
                0.0, 0.0, 0.0]                                # u2
    np.testing.assert_allclose(weights, expected, rtol=1e-6, atol=1e-7)
    assert weights.dtype == np.float32


def test_defaults_are_implicits_bm25_weight():
    assert (BM25_K1, BM25_B) == (100.0, 0.8)
    weights, _ = bm25_weights(MATRIX)
    np.testing.assert_array_equal(weights, bm25_weights(MATRIX, 100.0, 0.8)[0])


@pytest.mark.parametrize("k1, b", [(1.2, 0.75), (100.0, 0.8)])
def test_models_share_the_weighting(k1, b):
    weights, norm = bm25_weights(MATRIX, k1, b)
    np.testing.assert_array_equal(item_weights(MATRIX, "bm25", k1, b), weights)
    als_matrix, als_norm = bm25_weight(MATRIX, k1, b)
    np.testing.assert_array_equal(als_matrix.data, weights)
    np.testing.assert_array_equal(als_matrix.indices, MATRIX.indices)
    np.testing.assert_allclose(als_norm, norm, rtol=1e-7)


def test_history_is_weighted_like_a_training_row():
    weights, norm = bm25_weights(MATRIX, 1.2, 0.75)
    for u in range(MATRIX.shape[0]):
        row = slice(MATRIX.indptr[u], MATRIX.indptr[u + 1])
        got = bm25_history(MATRIX.data[row], MATRIX.indices[row], norm, 1.2)
        np.testing.assert_array_equal(got, weights[row])
