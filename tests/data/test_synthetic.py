"""The synthetic generator: determinism, shape, heavy tails and a structure a model can learn."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla

import likewise
from likewise.data.synthetic import PRESETS, write_csv

SMALL = dict(n_users=600, n_items=300, n_interactions=24_000)


def test_deterministic_for_a_seed_and_seed_sensitive():
    a = likewise.synthetic(**SMALL, random_state=3)
    b = likewise.synthetic(**SMALL, random_state=3)
    c = likewise.synthetic(**SMALL, random_state=4)
    assert (a.matrix != b.matrix).nnz == 0 and a.items == b.items
    np.testing.assert_array_equal(a.timestamps, b.timestamps)
    assert a.matrix.shape != c.matrix.shape or (a.matrix != c.matrix).nnz > 0


def test_same_result_whatever_the_thread_count():
    import numba

    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = likewise.synthetic(**SMALL, random_state=5)
        numba.set_num_threads(max(1, numba.config.NUMBA_NUM_THREADS))
        many = likewise.synthetic(**SMALL, random_state=5)
    finally:
        numba.set_num_threads(before)
    assert (one.matrix != many.matrix).nnz == 0


def test_shape_scale_and_canonical_csr():
    data = likewise.synthetic(**SMALL, rating_scale=(0.5, 5), rating_step=0.5)
    assert data.n_users == 600 and data.nnz == 24_000 and data.n_items <= 300
    assert data.kind == "explicit" and data.rating_scale == (0.5, 5.0)
    values = np.unique(data.matrix.data)
    assert values.min() >= 0.5 and values.max() <= 5 and np.all((values * 2) % 1 == 0)
    m = data.matrix
    assert m.has_canonical_format
    for u in range(0, data.n_users, 37):  # strictly increasing items in a row: no repeats
        row = m.indices[m.indptr[u]:m.indptr[u + 1]]
        assert np.all(np.diff(row) > 0)
    assert data.timestamps is not None and len(data.timestamps) == data.nnz
    assert likewise.synthetic(**SMALL, timestamps=False).timestamps is None


def test_heavy_tailed_activity_and_popularity():
    data = likewise.synthetic(n_users=3000, n_items=1500, n_interactions=150_000)
    per_user = np.diff(data.matrix.indptr)
    per_item = np.bincount(data.matrix.indices, minlength=data.n_items)
    assert per_user.min() >= 10 and per_user.max() > 8 * np.median(per_user)
    top = np.sort(per_item)[::-1]
    assert top[: len(top) // 5].sum() / top.sum() > 0.4  # the head holds much of the mass


def test_ratings_follow_the_hidden_factors():
    data, truth = likewise.synthetic(**SMALL, return_truth=True, random_state=1)
    e = data.entries()
    expected = truth.expected(e.users, e.items)
    assert np.corrcoef(expected, e.values)[0, 1] > 0.7


def test_a_low_rank_model_learns_it():
    """A rank-k SVD of training residuals beats item means on held-out ratings."""
    data = likewise.synthetic(n_users=800, n_items=300, n_interactions=40_000, factors=4,
                              random_state=2)
    rng = np.random.default_rng(0)
    test_mask = rng.random(data.nnz) < 0.2
    train, test = data.take(~test_mask), data.take(test_mask)
    m = train.matrix.tocsc()
    counts = np.diff(m.indptr)
    item_mean = np.asarray(m.sum(axis=0)).ravel() / np.maximum(counts, 1)
    resid = train.matrix.copy()
    resid.data = resid.data - item_mean[resid.indices]
    u, s, vt = spla.svds(resid.astype(np.float64), k=4, random_state=0)
    def low_rank(entries):
        return np.einsum("ij,j,ji->i", u[entries.users], s, vt[:, entries.items])

    # the sparse SVD shrinks the signal towards zero: scale it by least squares on train
    tr = train.entries()
    d_tr = low_rank(tr)
    alpha = float(d_tr @ (tr.values - item_mean[tr.items]) / (d_tr @ d_tr))
    te = test.entries()
    base_pred = item_mean[te.items]
    rmse_base = np.sqrt(np.mean((base_pred - te.values) ** 2))
    rmse_svd = np.sqrt(np.mean((base_pred + alpha * low_rank(te) - te.values) ** 2))
    assert rmse_svd < 0.95 * rmse_base


def test_implicit_kind_selection_follows_factors():
    data, truth = likewise.synthetic(**SMALL, kind="implicit", return_truth=True)
    assert data.kind == "implicit" and np.all(data.matrix.data == 1.0)
    assert data.rating_scale is None
    e = data.entries()
    chosen = np.einsum("ij,ij->i", truth.user_factors[e.users], truth.item_factors[e.items])
    rng = np.random.default_rng(0)
    ru = rng.integers(0, data.n_users, 20_000)
    ri = rng.integers(0, data.n_items, 20_000)
    random = np.einsum("ij,ij->i", truth.user_factors[ru], truth.item_factors[ri])
    assert chosen.mean() > random.mean() + 0.2


def test_presets_and_validation():
    assert PRESETS["movielens-20m"]["n_interactions"] == 20_000_263
    small = likewise.synthetic(preset="movielens-100k")
    assert small.n_users == 943 and small.nnz == 100_000
    with pytest.raises(likewise.ConfigError, match="n_users"):
        likewise.synthetic(n_users=0)
    with pytest.raises(likewise.ConfigError, match="too many"):
        likewise.synthetic(n_users=10, n_items=10, n_interactions=90)
    with pytest.raises(likewise.ConfigError, match="preset"):
        likewise.synthetic(preset="netflix")
    with pytest.raises(likewise.ConfigError, match="kind"):
        likewise.synthetic(kind="ratings")


def test_write_csv_round_trip(tmp_path):
    data = likewise.synthetic(n_users=100, n_items=80, n_interactions=2000)
    for name in ("r.csv", "r.csv.gz"):
        write_csv(data, tmp_path / name)
        back = likewise.read_csv(tmp_path / name)
        assert (back.matrix != data.matrix).nnz == 0 and back.items == data.items
        np.testing.assert_array_equal(back.timestamps, data.timestamps)
    assert (tmp_path / "r.csv").read_text().startswith("userId,movieId,rating,timestamp\n1,")
