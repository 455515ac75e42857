"""Cold start (issue 19): the compile notice, warm-up before timed folds, likewise.warmup."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest

import likewise
from likewise.evaluation import compare as compare_module
from likewise.evaluation import tune as tune_module
from likewise.evaluation.tune import _kernel_choices
from likewise.evaluation.warmup import data_slice, warm_kernels, warmup
from likewise.models import _compile_notice
from likewise.models._topk import PARALLEL_MIN_CELLS


@pytest.fixture(scope="module")
def ml100k():
    return likewise.datasets.movielens("100k")


def _notices(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "likewise" and "compiling numba kernels" in r.getMessage()]


def test_first_compile_names_the_model_once_per_process(caplog):
    _compile_notice.install()
    _compile_notice._announced.discard("Popularity")
    first = numba.njit(lambda x: x + 1)  # fresh and uncached: compiles on its first call
    second = numba.njit(lambda x: x * 2)

    def fit_like(self, kernel):
        return kernel(1)

    model = likewise.Popularity()
    with caplog.at_level(logging.WARNING, logger="likewise"):
        fit_like(model, first)
        fit_like(model, second)  # another compile for the same model: no second line
        fit_like(model, first)  # already compiled: no event at all
    lines = _notices(caplog)
    assert len(lines) == 1
    assert "for Popularity" in lines[0] and "first use only" in lines[0]


def test_the_notice_can_be_filtered(caplog):
    _compile_notice._announced.discard("Popularity")
    logger = logging.getLogger("likewise")
    old = logger.level
    logger.setLevel(logging.ERROR)
    try:
        _compile_notice.announce("Popularity")
    finally:
        logger.setLevel(old)
    assert _notices(caplog) == []


def test_data_slice_keeps_vocabularies_and_dtypes(ml100k):
    sample = data_slice(ml100k, n_users=40)
    assert 0 < sample.nnz <= 40 * 100
    assert sample.users is ml100k.users and sample.items is ml100k.items
    assert sample.matrix.dtype == ml100k.matrix.dtype
    counts = np.diff(ml100k.matrix.indptr)
    assert set(np.unique(sample.user_indices())) <= set(np.argsort(-counts, kind="stable")[:40])
    # by default: enough users for a many-user recommend block of the parallel size
    users = np.unique(data_slice(ml100k).user_indices())
    assert len(users) * ml100k.n_items >= PARALLEL_MIN_CELLS and len(users) >= 512


def test_warm_kernels_leaves_the_model_unfitted(ml100k):
    model = likewise.Baseline()
    assert warm_kernels(model, ml100k) is True
    assert not getattr(model, "fitted_", False)


def test_compare_and_tune_warm_each_model_before_the_timed_folds(ml100k, monkeypatch):
    calls = []
    monkeypatch.setattr(compare_module, "warm_kernels",
                        lambda model, data: calls.append(("compare", type(model).__name__)))
    monkeypatch.setattr(tune_module, "warm_kernels",
                        lambda model, data: calls.append(("tune", model.get_params())))
    small = ml100k.filter(min_user_interactions=200)
    likewise.compare({"b": likewise.Baseline(), "r": likewise.Random(random_state=0)}, small,
                     protocol="rating_holdout", progress=False)
    assert calls == [("compare", "Baseline"), ("compare", "Random")]
    calls.clear()
    likewise.compare([likewise.Baseline()], small, protocol="rating_holdout", progress=False,
                     warm_up=False)
    assert calls == []
    likewise.tune(likewise.Baseline(), {"method": ["als", "sgd"], "reg_item": [5.0, 10.0]}, small,
                  folds=2, refit=False, progress=False)
    assert sorted(c[1]["method"] for c in calls) == ["als", "sgd"]


def test_kernel_choices_one_candidate_per_non_numeric_choice():
    grid = [{"k": 10, "similarity": "cosine"}, {"k": 20, "similarity": "cosine"},
            {"k": 10, "similarity": "pearson"}, {"k": 10, "similarity": "pearson", "x": True}]
    assert _kernel_choices(grid) == [grid[0], grid[2], grid[3]]


_COLD_SCRIPT = textwrap.dedent("""
    import json
    import likewise
    data = likewise.synthetic(n_users=300, n_items=200, n_interactions=6000, random_state=0)
    model = likewise.SVD(factors=8, epochs=5, random_state=0)
    runs = [likewise.compare({"svd": model}, data, protocol="rating_holdout",
                             progress=False).folds["fit_time"].iloc[0] for _ in range(2)]
    print(json.dumps(runs))
""")


def _run_cold(cache_dir) -> tuple[list[float], str]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir)}
    proc = subprocess.run([sys.executable, "-c", _COLD_SCRIPT], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_a_cold_process_times_the_fit_not_the_compile(tmp_path):
    """Empty numba cache: the first compare's timed fit is as fast as the second's, the
    compile announces itself; with the cache filled, a new process is silent."""
    (cold, warm), stderr = _run_cold(tmp_path)
    assert "compiling numba kernels for SVD, first use only" in stderr
    assert cold <= 5 * warm + 0.1, (cold, warm)  # compiling SVD alone takes ~0.5 s
    (cold, warm), stderr = _run_cold(tmp_path)
    assert "compiling numba kernels" not in stderr


def test_warmup_fits_the_named_models(tmp_path):
    results = warmup(["Baseline", "popularity", "baseline"], processes=1)
    assert [r.model for r in results] == ["baseline", "popularity"]
    assert all(r.status == "ok" and r.seconds >= 0 for r in results)
    skipped = warmup(["weighted-hybrid"], processes=1)[0]
    assert skipped.status.startswith("skipped")


def test_warmup_in_worker_processes():
    results = warmup(["random", "popularity"], processes=2)
    assert [(r.model, r.status) for r in results] == [("random", "ok"), ("popularity", "ok")]


@pytest.mark.parametrize("kwargs", [{"models": ["no-such-model"]}, {"processes": 0},
                                    {"processes": True}])
def test_warmup_rejects_bad_arguments(kwargs):
    with pytest.raises(likewise.ConfigError, match="no-such-model|processes"):
        warmup(**{"models": ["random"], **kwargs})


def test_a_model_that_cannot_fit_the_slice_does_not_stop_compare(ml100k, monkeypatch):
    from likewise.models.baseline import Baseline

    class FailsOnSmallData(Baseline):
        def _fit(self, data):
            if data.nnz < 50_000:
                raise np.linalg.LinAlgError("singular on the slice")
            super()._fit(data)

    model = FailsOnSmallData()
    assert warm_kernels(model, ml100k) is False
    result = likewise.compare([model], ml100k, protocol="rating_holdout", progress=False)
    assert len(result.folds) == 1
