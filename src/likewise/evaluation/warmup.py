"""Compile numba kernels before anything is timed, or once ahead of time into numba's cache.

numba compiles a kernel on its first call in a process unless its on-disk cache holds
it. Two tools keep that one-off cost out of the way:

- :func:`warm_kernels` fits a copy of a model on a small slice of the data and queries
  it once, untimed; :func:`~likewise.compare` and :func:`~likewise.tune` call it before
  their timed folds, so their ``fit_time`` / ``predict_time`` never include compiling and
  a run in a fresh environment gives the same timing table as a warm one.
- :func:`warmup` (``likewise warmup``) fits every registry model (or the named ones) on a
  tiny synthetic data set in parallel worker processes, so the kernels land in numba's
  on-disk cache: run it once when building a Docker image or a CI cache.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from ..data.interactions import Interactions
from ..errors import ConfigError, LikewiseError

__all__ = ["WarmupResult", "warm_kernels", "warmup"]

# The most active users of the data on its most popular items. Kernels switch from a
# serial to a parallel loop above a size (kNN: 512 query rows or 4,096 pairs; top-N: 2**18
# scores in a block), and each loop compiles on its own, so the slice is large enough for
# the parallel ones that the folds' many-user calls take: 600 users x 100 items at most.
_SLICE_USERS = 600
_SLICE_ITEMS = 100


def data_slice(data: Interactions, n_users: int | None = None,
               n_items: int = _SLICE_ITEMS) -> Interactions:
    """The interactions of the most active users on the most popular items.

    The slice keeps ``data``'s vocabularies and dtypes, so a model fitted on it calls its
    kernels with the same argument types as on the full data. By default it has enough
    users that recommending for all of them scores a block as large as the evaluation's
    (kernels switch from serial to parallel loops above a block size).
    """
    if n_users is None:
        from ..models._topk import PARALLEL_MIN_CELLS

        n_users = max(_SLICE_USERS, -(-PARALLEL_MIN_CELLS // max(1, data.n_items)) + 1)
    n_users = min(n_users, data.n_users)
    users = data.user_indices()
    items = data.matrix.indices
    user_counts = np.bincount(users, minlength=data.n_users)
    item_counts = np.bincount(items, minlength=data.n_items)
    top_users = np.argsort(-user_counts, kind="stable")[:n_users]
    top_items = np.argsort(-item_counts, kind="stable")[:n_items]
    keep = np.isin(users, top_users) & np.isin(items, top_items)
    return data.take(keep)


def warm_kernels(model, data: Interactions) -> bool:
    """Fit a clone of ``model`` on a slice of ``data`` and run its query entry points once.

    Compiles (or loads from numba's cache) the kernels that fitting and querying
    ``model`` on ``data`` use, without timing anything; ``model`` itself is not touched.

    Parameters
    ----------
    model : Recommender
    data : Interactions

    Returns
    -------
    bool
        True when the warm-up ran; False when the model cannot fit the slice (too few
        interactions, a singular system...): the real fit then reports its own errors.
    """
    sample = data_slice(data)
    if sample.nnz == 0:
        return False
    try:
        fitted = model.clone().fit(sample).prepare(warm=True)
        # every pair of the slice: the many-pair (parallel) predict path of the folds
        fitted.predict(sample.users.ids_of(sample.user_indices()),
                       sample.items.ids_of(sample.matrix.indices))
    except (LikewiseError, ValueError, ArithmeticError):
        # a slice the model cannot fit (too few interactions, a singular system) must not
        # change the comparison: the real fit reports its own errors
        return False
    return True


@dataclass(frozen=True)
class WarmupResult:
    """What :func:`warmup` did for one registry model.

    Attributes
    ----------
    model : str
        The registry name.
    seconds : float
        Wall time of its fits and queries in its worker (compiling included).
    status : str
        ``"ok"``, or ``"skipped: <why>"`` (a missing extra, data it cannot be fitted on
        alone).
    """

    model: str
    seconds: float
    status: str


def _selected_names(models) -> list[str]:
    from ..models import registry

    if models is None:
        return registry.names()
    if isinstance(models, str):
        models = [models]
    names = []
    for name in models:
        found = registry.entry(name).name  # ConfigError names the unknown model
        if found not in names:
            names.append(found)
    return names


def _tiny_data(kind: str) -> Interactions:
    from ..data.synthetic import synthetic

    # big enough for every model's defaults (ApproxUserKNN's 40 factors need more users
    # and items than that), small enough to fit in well under a second once compiled
    return synthetic(n_users=150, n_items=100, n_interactions=3000, kind=kind, random_state=0)


def _warm_entry(name: str) -> WarmupResult:
    """Worker: fit registry model ``name`` on tiny synthetic data and query it."""
    from ..models import registry

    found = registry.entry(name)
    started = time.perf_counter()
    if not found.standalone or found.data == registry.METADATA:
        return WarmupResult(name, 0.0, f"skipped: it fits on {found.data}, not on "
                                       "interactions alone")
    extra = registry.missing_extra(name)
    if extra is not None:
        return WarmupResult(name, 0.0, f"skipped: the {extra!r} extra is not installed")
    kinds = ["explicit"] if found.data == registry.RATINGS else ["explicit", "implicit"]
    errors = []
    for kind in kinds:  # a model whose defaults take one kind only (TorchMF) warms on it
        try:
            registry.make(name).fit(_tiny_data(kind)).prepare(warm=True)
        except LikewiseError as exc:
            errors.append(str(exc))
    status = "ok" if len(errors) < len(kinds) else f"failed: {errors[0]}"
    return WarmupResult(name, time.perf_counter() - started, status)


def warmup(models=None, processes: int | None = None) -> list[WarmupResult]:
    """Compile the numba kernels of every model (or of ``models``) into numba's cache.

    Each registry model is fitted on a tiny synthetic data set (ratings, and implicit
    feedback for models that take both) and queried through every entry point, in
    ``processes`` worker processes at once. The compiled kernels are written to numba's
    on-disk cache (next to likewise's sources, or ``$NUMBA_CACHE_DIR``), so later
    processes load them instead of compiling: run this once when building a Docker image
    or a CI cache.

    Parameters
    ----------
    models : str or list of str, optional
        Registry names or aliases (``"svd"``, ``"ImplicitALS"``); default every model.
    processes : int, optional
        Worker processes (default: the number of CPU cores, at most one per model).

    Returns
    -------
    list of WarmupResult
        One per model, in the order asked.

    Raises
    ------
    ConfigError
        An unknown model name, or ``processes`` not an integer >= 1.
    """
    names = _selected_names(models)
    if processes is not None and (isinstance(processes, bool)
                                  or not isinstance(processes, (int, np.integer))
                                  or processes < 1):
        raise ConfigError(f"warmup: processes must be an integer >= 1, got {processes!r}")
    workers = min(len(names), int(processes or os.cpu_count() or 1))
    if workers <= 1:
        return [_warm_entry(name) for name in names]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn: a fresh interpreter per worker (forking a process whose numba thread pool
    # is running is unsafe)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(_warm_entry, names))
