"""Compare several models under one protocol, on identical splits.

Examples
--------
>>> import likewise
>>> data = likewise.datasets.movielens("100k")
>>> result = likewise.compare({"baseline": likewise.Baseline(), "random": likewise.Random()},
...                           data, protocol="rating_cv", folds=3, progress=False)
>>> result.to_frame().index.tolist()
['baseline', 'random']
>>> result.save("report-dir")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._fs import atomic_file, atomic_write_bytes, atomic_write_text
from ..data.interactions import Interactions
from ..errors import ConfigError, DataError, LikewiseError, UnsupportedError
from .metrics import higher_is_better
from .warmup import warm_kernels
from .protocols import (
    PROTOCOLS,
    GivenSplit,
    Protocol,
    evaluate_fold,
    get_protocol,
    share_vocabularies,
)

__all__ = ["ComparisonResult", "compare", "name_models"]


# ---------------------------------------------------------------------------------------
# the result
# ---------------------------------------------------------------------------------------
@dataclass
class ComparisonResult:
    """The outcome of :func:`compare`: per-fold scores and their summary.

    Attributes
    ----------
    folds : pandas.DataFrame
        One row per (model, fold) with every metric, ``fit_time`` and ``predict_time``.
    metrics : list of str
        The quality metric columns, in display order.
    sort_by : str
        Metric the summary is sorted by (best first).
    protocol : dict
        Protocol name and parameters.
    dataset : dict
        Statistics of the data (``Interactions.stats()``).
    models : dict
        Model name -> ``{"class": ..., "params": {...}}``.
    notes : dict
        Model name -> why it was not evaluated (e.g. it cannot estimate ratings).
    versions : dict
        Python, likewise, numpy, scipy versions.
    """

    folds: Any
    metrics: list
    sort_by: str
    protocol: dict
    dataset: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    elapsed: float = 0.0

    # -- tables -----------------------------------------------------------------------
    @property
    def columns(self) -> list[str]:
        return [*self.metrics, "fit_time", "predict_time"]

    def to_frame(self, std: bool = True):
        """Summary DataFrame indexed by model: the mean (and ``<metric>_std``) over folds.

        Sorted by :attr:`sort_by`, best first; models that could not be evaluated are left
        out (see :attr:`notes`).
        """
        import pandas as pd

        cols = [c for c in self.columns if c in self.folds.columns]
        if self.folds.empty:
            return pd.DataFrame(columns=cols)
        grouped = self.folds.groupby("model", sort=False)[cols]
        mean = grouped.mean()
        out = pd.DataFrame(index=mean.index)
        sd = grouped.std(ddof=1) if std else None
        for c in cols:
            out[c] = mean[c]
            if sd is not None:
                out[f"{c}_std"] = sd[c]
        out["folds"] = grouped.size()
        ascending = not higher_is_better(self.sort_by)
        out = out.sort_values(self.sort_by, ascending=ascending, kind="stable")
        out.index.name = "model"
        return out

    def best(self) -> str:
        """Name of the best model by :attr:`sort_by`."""
        frame = self.to_frame(std=False)
        if frame.empty:
            raise LikewiseError("no model was evaluated")
        return str(frame.index[0])

    def to_markdown(self, digits: int = 4, width: int | None = None) -> str:
        """A Markdown table: ``mean ± std`` per metric, times in seconds.

        ``width`` (e.g. 80, a terminal's) wraps the metrics into several aligned tables,
        each repeating the model column, so no line is longer (see :meth:`to_text`).
        """
        from .report import markdown_table

        return markdown_table(self, digits=digits, width=width)

    def to_text(self, width: int | None = 80) -> str:
        """The table for a terminal: aligned Markdown no wider than ``width`` characters
        (default 80; ``None`` uses the current terminal's width)."""
        if width is None:
            import shutil

            width = shutil.get_terminal_size((80, 24)).columns
        return self.to_markdown(width=width)

    def __str__(self) -> str:
        return self.to_markdown()

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write the summary (mean and std columns) as CSV."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path, "w", newline="") as fh:
            self.to_frame().to_csv(fh, float_format="%.6g")
        return path

    def to_dict(self) -> dict:
        """Everything as plain JSON-serialisable Python objects."""
        frame = self.to_frame()
        summary = {}
        for name, row in frame.iterrows():
            summary[str(name)] = {c: _num(row[c]) for c in frame.columns}
        folds = [{k: (_num(v) if not isinstance(v, str) else v) for k, v in rec.items()}
                 for rec in self.folds.to_dict(orient="records")]
        return {"protocol": self.protocol, "sort_by": self.sort_by, "metrics": self.metrics,
                "summary": summary, "folds": folds, "models": self.models,
                "notes": self.notes, "dataset": _jsonable(self.dataset),
                "versions": self.versions, "elapsed_seconds": self.elapsed}

    def to_json(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_dict` as JSON (NaN written as null)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, allow_nan=False))
        return path

    def plot(self, path: str | os.PathLike | None = None,
             metrics: Iterable[str] | None = None):
        """A chart of up to 4 metrics per model (values written on the marks).

        Without ``path`` the matplotlib Figure is returned (a notebook shows it); with
        ``path`` it is written as PNG there and the path is returned.
        """
        from .report import figure, plot_png

        if path is None:
            return figure(self, metrics)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, plot_png(self, metrics))
        return path

    def to_html(self, path: str | os.PathLike, *, links: dict | None = None,
                sections: list | None = None, _png: bytes | None = None) -> Path:
        """Write a self-contained HTML report (inline CSS, the chart embedded as base64).

        ``links`` (text -> relative address) are shown at the top, e.g. the sibling
        report of another task; ``sections`` are extra tables ``(heading, header, rows)``.
        """
        from .report import html_report

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, html_report(self, _png, links=links, sections=sections))
        return path

    def save(self, directory: str | os.PathLike, *, links: dict | None = None,
             sections: list | None = None) -> dict[str, Path]:
        """Write ``results.md``, ``results.csv``, ``results.json``, ``results.png`` and
        ``report.html`` into ``directory``; returns the paths by format. ``links`` and
        ``sections`` go to the HTML report (:meth:`to_html`)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        atomic_write_text(d / "results.md", self.to_markdown() + "\n")
        png = self.plot(d / "results.png")
        return {"markdown": d / "results.md", "csv": self.to_csv(d / "results.csv"),
                "json": self.to_json(d / "results.json"), "png": png,
                "html": self.to_html(d / "report.html", links=links, sections=sections,
                                     _png=png.read_bytes())}


def _num(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if not np.isfinite(v) else float(v)
    return v


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.generic, float)):
        return _num(obj.item() if isinstance(obj, np.generic) else obj)
    return obj


def versions() -> dict:
    """Versions of Python and the numeric stack (for reports)."""
    import platform

    import scipy

    import likewise

    out = {"python": platform.python_version(), "likewise": likewise.__version__,
           "numpy": np.__version__, "scipy": scipy.__version__}
    try:
        import pandas

        out["pandas"] = pandas.__version__
    except ImportError:  # pragma: no cover
        pass
    out["platform"] = platform.platform(terse=True)
    return out


# ---------------------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------------------
def name_models(models) -> dict:
    """``{name: model}`` from a dict, or from a list (names from the class, deduplicated)."""
    from ..models.base import Recommender

    if isinstance(models, dict):
        named = {str(k): v for k, v in models.items()}
    elif isinstance(models, Recommender):
        named = {type(models).__name__: models}
    else:
        try:
            items = list(models)
        except TypeError:
            raise ConfigError("models must be a dict {name: model}, a list of models or a "
                              f"model; got {type(models).__name__}") from None
        named = {}
        for m in items:
            base = type(m).__name__
            name, n = base, 2
            while name in named:
                name, n = f"{base}-{n}", n + 1
            named[name] = m
    if not named:
        raise ConfigError("compare needs at least one model")
    for name, m in named.items():
        if not isinstance(m, Recommender):
            raise ConfigError(f"model {name!r} is a {type(m).__name__}, not a likewise "
                              "Recommender")
    return named


def _progress(total: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    disable = not enabled or not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())
    return tqdm(total=total, desc=desc, disable=disable, leave=False, unit="fit")


def compare(models, data: Interactions | None = None, protocol: str | Protocol = "rating_cv",
            *, train: Interactions | None = None, test: Interactions | None = None,
            k: int = 10, folds: int = 5, metrics: Iterable[str] | None = None,
            sort_by: str | None = None, random_state: Any = 0, progress: bool = True,
            mlflow_uri: str | None = None, experiment: str = "likewise",
            warm_up: bool = True, **protocol_options) -> ComparisonResult:
    """Fit and score several models on the same splits; mean and std over folds.

    Parameters
    ----------
    models : dict of name -> Recommender, or list of Recommender
        Each is cloned for every fold (the objects passed in stay unfitted).
    data : Interactions, optional
        The data the protocol splits. Leave it out when giving ``train`` and ``test``.
    protocol : str or Protocol
        ``"rating_cv"`` (default), ``"rating_holdout"``, ``"topn_user_holdout"``,
        ``"topn_temporal"``, ``"topn_leave_one_out"`` (one random held-out item per user,
        hit rate at ``k``), or a :class:`~likewise.evaluation.protocols.Protocol`. With
        ``train``/``test`` only the task matters: a ``rating_*`` name scores rating
        error, a ``topn_*`` name (or ``"topn"``) scores the top-N metrics.
    train, test : Interactions, optional
        Your own split (e.g. the files ``likewise data split`` writes, read with
        :func:`likewise.read_csv`): every model is fitted on ``train`` and scored on
        ``test``, once. Their vocabularies are unified (the union of the ids), so ids only
        in test are cold: rating pairs with a cold user or item are scored by the model's
        fallback, top-N test items without training data count as misses and cold test
        users are skipped; both counts are reported (``cold_pairs``, ``cold_users``).
    k : int
        List length and cut-off of the top-N metrics.
    folds : int
        Folds of ``rating_cv``; user folds of ``topn_user_holdout`` (1 = a single
        per-user holdout). The holdout and temporal protocols use one split.
    metrics : list of str, optional
        Base metric names (``["rmse", "mae"]``, ``["ndcg", "recall", "auc"]``); default the
        protocol's.
    sort_by : str, optional
        Metric to rank models by (default: ``ndcg@k`` when computed, else the first metric,
        ``rmse`` for the rating protocols).
    random_state : None, int or Generator
        Seed of the splits (every model sees the same splits).
    progress : bool
        Show a progress bar (only when stderr is a terminal).
    mlflow_uri : str, optional
        Log one MLflow run per model to this tracking URI (e.g. ``file:///tmp/mlruns``);
        default ``$LIKEWISE_MLFLOW_URI`` when set. Needs the ``mlflow`` extra.
    experiment : str
        MLflow experiment name.
    warm_up : bool
        Before the timed folds, fit a copy of each model on a small slice of the data and
        query it once (:func:`~likewise.evaluation.warmup.warm_kernels`), so that
        ``fit_time`` and ``predict_time`` never include numba's one-off compiling.
    **protocol_options
        More protocol options (``test_size``, ``relevance_threshold``, ``gain``...).

    Returns
    -------
    ComparisonResult

    Notes
    -----
    A model that cannot be evaluated under the protocol (e.g. :class:`~likewise.Popularity`
    under a rating protocol: it ranks but does not estimate ratings) is listed in
    ``result.notes`` and left out of the table; other errors propagate.
    """
    named = name_models(models)
    if train is not None or test is not None:
        given = _given_split(data, train, test, protocol, k, protocol_options)
        proto: Protocol = given
        data = given.train
    else:
        if not isinstance(data, Interactions):
            raise DataError("compare: data must be likewise Interactions (or give train= and "
                            f"test=), got {type(data).__name__}")
        proto = get_protocol(protocol, k=k, folds=folds, random_state=random_state,
                             **protocol_options)
    proto.check_data(data)
    metric_names = proto.metric_names(metrics)
    base_metrics = proto._check_metrics(metrics)
    if sort_by is None:
        # the protocol's headline ranking metric (NDCG; hit rate for leave-one-out), else
        # the first metric (rmse by default)
        headline = [m for m in metric_names if m.startswith(f"{proto.headline}@")]
        sort_by = headline[0] if headline else metric_names[0]
    elif sort_by not in (*metric_names, "fit_time", "predict_time"):
        matches = [m for m in metric_names if m.split("@")[0] == str(sort_by).split("@")[0]]
        if not matches:
            raise ConfigError(f"sort_by={sort_by!r} is not one of the computed metrics: "
                              f"{', '.join(metric_names)}")
        sort_by = matches[0]
    import pandas as pd

    t_start = time.perf_counter()
    records: list[dict] = []
    notes: dict[str, str] = {}
    n_splits = proto.n_splits()
    if warm_up:  # compiling is a one-off cost, not the model's fit or predict time
        for model in named.values():
            warm_kernels(model, data)
    bar = _progress(n_splits * len(named), progress, f"compare ({proto.name})")
    try:
        for f, split in enumerate(proto.splits(data)):
            for name, model in named.items():
                if name in notes:
                    bar.update(1)
                    continue
                bar.set_postfix_str(f"{name} fold {f + 1}/{n_splits}")
                try:
                    scores = evaluate_fold(model.clone(), split, proto, base_metrics)
                except UnsupportedError as exc:
                    notes[name] = str(exc)
                    bar.update(1)
                    continue
                records.append({"model": name, "fold": f, **scores})
                bar.update(1)
    finally:
        bar.close()
    frame = pd.DataFrame.from_records(records) if records else \
        pd.DataFrame(columns=["model", "fold", *metric_names, "fit_time", "predict_time"])
    result = ComparisonResult(
        folds=frame, metrics=metric_names, sort_by=sort_by, protocol=proto.describe(),
        dataset=data.stats(), models={n: {"class": type(m).__name__,
                                          "params": _params(m)} for n, m in named.items()},
        notes=notes, versions=versions(), elapsed=time.perf_counter() - t_start)
    result.dataset["source"] = data.source
    if isinstance(proto, GivenSplit):
        from ..data.splits import Split

        counts = Split(proto.train, proto.test).summary()
        result.dataset.update({f"split_{key}": value for key, value in counts.items()})
    uri = mlflow_uri or os.environ.get("LIKEWISE_MLFLOW_URI")
    if uri:
        from ._mlflow import log_comparison

        log_comparison(result, uri, experiment)
    return result


def _given_split(data, train, test, protocol, k: int, options: dict) -> GivenSplit:
    """The :class:`GivenSplit` protocol of ``compare(train=..., test=...)``."""
    if data is not None:
        raise ConfigError("compare: give either data (split by the protocol) or train= and "
                          "test= (your own split), not both")
    if train is None or test is None:
        missing = "test" if test is None else "train"
        raise ConfigError(f"compare: train= and test= go together; {missing}= is missing")
    if isinstance(protocol, Protocol):
        task = protocol.task
    elif protocol in ("rating", "topn"):
        task = protocol
    elif protocol in PROTOCOLS:
        task = get_protocol(protocol).task
    else:
        raise ConfigError(f"protocol must be 'rating', 'topn' or one of "
                          f"{', '.join(map(repr, PROTOCOLS))} with train/test; got {protocol!r}")
    split = share_vocabularies(train, test)
    allowed = {"relevance_threshold", "gain", "item_features"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ConfigError(f"compare with train/test has no option {unknown[0]!r}; valid: "
                          f"{', '.join(sorted(allowed))}")
    return GivenSplit(train=split.train, test=split.test, task=task, k=k, **options)


def _params(model) -> dict:
    out = {}
    for k, v in model.get_params(deep=False).items():
        if isinstance(v, np.random.Generator):
            v = "Generator"
        elif not isinstance(v, (bool, int, float, str, type(None))):
            v = repr(v)
        out[k] = _num(v) if isinstance(v, float) else v
    return out
