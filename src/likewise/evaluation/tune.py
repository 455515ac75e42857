"""Hyper-parameter search (grid or random) with cross-validation on a chosen metric.

Every candidate is scored on the **same** splits, so differences come from the
parameters, not from the folds. The best candidate is refitted on all the data.

Examples
--------
>>> import likewise
>>> data = likewise.datasets.movielens("100k")
>>> result = likewise.tune(likewise.Baseline(), {"reg_user": [5, 15], "reg_item": [5, 10]},
...                        data, metric="rmse", folds=3, progress=False)
>>> sorted(result.best_params)
['reg_item', 'reg_user']
>>> result.results.shape[0]
4
"""

from __future__ import annotations

import itertools
import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._params import check_random_state
from ..data.interactions import Interactions
from ..errors import ConfigError, DataError
from .metrics import higher_is_better
from .protocols import Protocol, evaluate_fold, get_protocol
from .warmup import warm_kernels

__all__ = ["TuneResult", "parameter_grid", "sample_parameters", "tune"]


@dataclass
class TuneResult:
    """The outcome of :func:`tune`.

    Attributes
    ----------
    best_params : dict
        Parameters of the best candidate.
    best_score : float
        Its mean cross-validated score on :attr:`metric`.
    best_model : Recommender or None
        A clone with ``best_params``, refitted on all the data (None when ``refit=False``).
    results : pandas.DataFrame
        One row per candidate: ``param_<name>`` columns, ``mean_<metric>`` and
        ``std_<metric>`` for every metric, mean fit / predict times and ``rank`` (1 = best).
    metric : str
        The metric optimised (``rmse``, ``ndcg@10``...).
    higher_is_better : bool
    protocol : dict
    """

    best_params: dict
    best_score: float
    best_model: Any
    results: Any
    metric: str
    higher_is_better: bool
    protocol: dict

    def to_markdown(self, digits: int = 4) -> str:
        """The results table as Markdown (best first)."""
        frame = self.results.sort_values("rank", kind="stable")
        params = [c for c in frame.columns if c.startswith("param_")]
        cols = params + [f"mean_{self.metric}", f"std_{self.metric}", "mean_fit_time", "rank"]
        header = [c.removeprefix("param_") for c in cols]
        lines = ["| " + " | ".join(header) + " |",
                 "|" + "|".join(["---"] * len(params) + ["---:"] * (len(cols) - len(params)))
                 + "|"]
        for _, row in frame.iterrows():
            cells = []
            for c in cols:
                v = row[c]
                if c in params or c == "rank":
                    cells.append(f"{v:.4g}" if isinstance(v, float) else str(v))
                else:
                    cells.append("-" if v is None or (isinstance(v, float) and np.isnan(v))
                                 else f"{v:.{3 if 'time' in c else digits}f}")
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def __str__(self) -> str:
        return (f"best {self.metric} = {self.best_score:.4f} with {self.best_params}\n"
                + self.to_markdown())


def parameter_grid(grid: dict) -> list[dict]:
    """Every combination of a ``{name: [values]}`` grid (in the given order).

    Examples
    --------
    >>> parameter_grid({"a": [1, 2], "b": ["x"]})
    [{'a': 1, 'b': 'x'}, {'a': 2, 'b': 'x'}]
    """
    _check_space(grid, "param_grid")
    names = list(grid)
    values = [_as_list(grid[n], n) for n in names]
    return [dict(zip(names, combo)) for combo in itertools.product(*values)]


def sample_parameters(distributions: dict, n_iter: int, random_state: Any = 0) -> list[dict]:
    """``n_iter`` random candidates: each value drawn from a list (uniformly) or from an
    object with an ``rvs(random_state=...)`` method (a ``scipy.stats`` distribution).

    When every entry is a list and the grid has at most ``n_iter`` points, the whole grid is
    returned instead (sampling it would only repeat candidates).

    Examples
    --------
    >>> from scipy.stats import loguniform
    >>> len(sample_parameters({"reg": loguniform(0.01, 1), "k": [10, 20]}, n_iter=5))
    5
    """
    _check_space(distributions, "param_distributions")
    if isinstance(n_iter, bool) or not isinstance(n_iter, (int, np.integer)) or n_iter < 1:
        raise ConfigError(f"n_iter must be an integer >= 1, got {n_iter!r}")
    rng = check_random_state(random_state)
    if all(not hasattr(v, "rvs") for v in distributions.values()):
        grid = parameter_grid(distributions)
        if len(grid) <= n_iter:
            return grid
        picked = rng.choice(len(grid), size=n_iter, replace=False)
        return [grid[i] for i in sorted(picked)]
    out = []
    for _ in range(n_iter):
        cand = {}
        for name, dist in distributions.items():
            if hasattr(dist, "rvs"):
                value = dist.rvs(random_state=rng)
                value = value.item() if isinstance(value, np.generic) else value
            else:
                options = _as_list(dist, name)
                value = options[int(rng.integers(len(options)))]
            cand[name] = value
        out.append(cand)
    return out


def _check_space(space, what: str) -> None:
    if not isinstance(space, dict) or not space:
        raise ConfigError(f"{what} must be a non-empty dict {{parameter name: values}}, got "
                          f"{space!r}")


def _as_list(values, name: str) -> list:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ConfigError(f"values of {name!r} must be a list, got {values!r}")
    values = [v.item() if isinstance(v, np.generic) else v for v in values]
    if not values:
        raise ConfigError(f"values of {name!r} must not be empty")
    return values


def tune(model, param_grid: dict | None = None, data: Interactions | None = None, *,
         param_distributions: dict | None = None, protocol: str | Protocol = "rating_cv",
         metric: str | None = None, search: str = "grid", n_iter: int = 10, folds: int = 3,
         k: int = 10, random_state: Any = 0, refit: bool = True, progress: bool = True,
         mlflow_uri: str | None = None, experiment: str = "likewise-tune",
         warm_up: bool = True, **protocol_options) -> TuneResult:
    """Search parameters of ``model`` by cross-validation on ``metric``.

    Parameters
    ----------
    model : Recommender
        The estimator; its other parameters stay as they are.
    param_grid : dict of name -> list
        Grid search: every combination. For ``search="random"`` it may be passed here too
        (lists or ``scipy.stats`` distributions).
    data : Interactions
    param_distributions : dict, optional
        Random search space (lists or objects with ``rvs``).
    protocol : str or Protocol
        Default ``"rating_cv"``; top-N protocols tune ranking metrics.
    metric : str, optional
        Metric to optimise: ``rmse`` (default for rating protocols), ``ndcg`` (default for
        top-N; ``@k`` is added), ``mae``, ``recall``... Error metrics are minimised, the
        others maximised.
    search : {"grid", "random"}
    n_iter : int
        Candidates drawn by random search.
    folds : int
        Cross-validation folds (``rating_cv``; user folds for ``topn_user_holdout``).
    k : int
        Cut-off of the top-N metrics.
    random_state : None, int or Generator
        Seed of the splits and of random search.
    refit : bool
        Refit the best candidate on all of ``data`` (``best_model``).
    progress : bool
        Progress bar on a terminal.
    mlflow_uri : str, optional
        Log each candidate as an MLflow run (default ``$LIKEWISE_MLFLOW_URI``).
    warm_up : bool
        Before the timed folds, fit a copy of the model on a small slice of the data and
        query it once for each distinct choice of its non-numeric parameters (they can pick
        other kernels), so the times never include numba's one-off compiling.

    Returns
    -------
    TuneResult
    """
    from ..models.base import Recommender

    if not isinstance(model, Recommender):
        raise ConfigError(f"tune needs a likewise model, got {type(model).__name__}")
    if not isinstance(data, Interactions):
        raise DataError(f"tune: data must be likewise Interactions, got {type(data).__name__}")
    if search not in ("grid", "random"):
        raise ConfigError(f"search must be 'grid' or 'random'; got {search!r}")
    if search == "grid":
        if param_grid is None:
            raise ConfigError("grid search needs param_grid={name: [values]}")
        candidates = parameter_grid(param_grid)
    else:
        space = param_distributions if param_distributions is not None else param_grid
        if space is None:
            raise ConfigError("random search needs param_distributions={name: values or "
                              "distribution}")
        candidates = sample_parameters(space, n_iter, random_state)
    valid = set(model._param_names())
    for name in candidates[0]:
        if name not in valid:
            raise ConfigError(f"{type(model).__name__} has no parameter {name!r}; valid: "
                              f"{', '.join(sorted(valid))}")
    proto = get_protocol(protocol, k=k, folds=folds, random_state=random_state,
                         **protocol_options)
    proto.check_data(data)
    if metric is None:
        metric = "rmse" if proto.task == "rating" else "ndcg"
    base = str(metric).split("@")[0].lower()
    all_metrics = list(proto._check_metrics(None))
    if base not in all_metrics:
        all_metrics = [base, *all_metrics]
    proto._check_metrics([metric])  # validates the name (and any @k) for this protocol
    names = proto.metric_names(all_metrics)
    target = names[all_metrics.index(base)]
    higher = higher_is_better(target)

    import pandas as pd
    from tqdm.auto import tqdm

    splits = list(proto.splits(data))  # identical splits for every candidate
    _warm_candidates(model, candidates, data, enabled=warm_up)
    total = len(candidates) * len(splits)
    bar = tqdm(total=total, desc=f"tune {type(model).__name__}", leave=False, unit="fit",
               disable=not progress or not (hasattr(sys.stderr, "isatty")
                                            and sys.stderr.isatty()))
    rows = []
    try:
        for params in candidates:
            fold_scores = []
            for split in splits:
                candidate = model.clone().set_params(**params)
                fold_scores.append(evaluate_fold(candidate, split, proto, all_metrics))
                bar.update(1)
            row = {f"param_{n}": _display(v) for n, v in params.items()}
            for key in [*names, "fit_time", "predict_time"]:
                vals = np.array([s[key] for s in fold_scores], dtype=float)
                row[f"mean_{key}"] = float(vals.mean())
                row[f"std_{key}"] = float(vals.std(ddof=1)) if len(vals) > 1 else float("nan")
            row["params"] = params
            rows.append(row)
    finally:
        bar.close()
    frame = pd.DataFrame(rows)
    score = frame[f"mean_{target}"].to_numpy(dtype=float)
    # NaN scores rank last whatever the direction
    key = np.where(np.isnan(score), np.inf, -score if higher else score)
    order = np.argsort(key, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    frame["rank"] = rank
    best = int(order[0])
    best_params = dict(candidates[best])
    best_model = model.clone().set_params(**best_params).fit(data) if refit else None
    result = TuneResult(best_params=best_params, best_score=float(score[best]),
                        best_model=best_model, results=frame, metric=target,
                        higher_is_better=higher, protocol=proto.describe())
    uri = mlflow_uri or os.environ.get("LIKEWISE_MLFLOW_URI")
    if uri:
        from ._mlflow import log_tuning

        log_tuning(result, type(model).__name__, uri, experiment)
    return result


def _warm_candidates(model, candidates: list[dict], data: Interactions, *,
                     enabled: bool) -> None:
    """Compile the kernels the candidates use, untimed (see ``warm_up`` in :func:`tune`)."""
    if not enabled:
        return
    for params in _kernel_choices(candidates):
        warm_kernels(model.clone().set_params(**params), data)


def _kernel_choices(candidates: list[dict]) -> list[dict]:
    """One candidate per distinct set of non-numeric values (strings, booleans, None...):
    numbers change a kernel's inputs, but a choice such as ``similarity`` or ``dtype`` can
    select another kernel or argument type, compiled separately."""
    chosen: dict[tuple, dict] = {}
    for params in candidates:
        key = tuple(sorted((name, repr(value)) for name, value in params.items()
                           if isinstance(value, bool)
                           or not isinstance(value, (int, float, np.integer, np.floating))))
        chosen.setdefault(key, params)
    return list(chosen.values())


def _display(value):
    """Parameter values as table cells (objects as their repr)."""
    if isinstance(value, (bool, int, float, str, type(None))):
        return value
    return repr(value)

