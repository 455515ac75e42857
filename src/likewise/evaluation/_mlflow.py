"""Optional experiment logging to a local MLflow tracking store (the ``mlflow`` extra).

No account or server is needed: a ``file://`` URI (or a plain directory path) keeps the
runs on disk, browsable with ``mlflow ui --backend-store-uri URI``. Any other tracking URI
MLflow understands works too. Recent MLflow releases keep the file store in maintenance
mode behind ``MLFLOW_ALLOW_FILE_STORE``; for file stores likewise sets that variable for
the duration of the logging call only.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from ..errors import require

__all__ = ["log_comparison", "log_tuning", "normalise_uri"]


def normalise_uri(uri: str) -> str:
    """A plain directory path becomes a ``file://`` URI; URIs are returned unchanged.

    Examples
    --------
    >>> normalise_uri("file:///tmp/runs")
    'file:///tmp/runs'
    """
    if "://" in uri or uri.startswith(("file:", "sqlite:", "databricks")):
        return uri
    return Path(uri).expanduser().resolve().as_uri()


@contextlib.contextmanager
def _client(uri: str):
    require("mlflow", "mlflow", "experiment logging")
    from mlflow.tracking import MlflowClient

    uri = normalise_uri(uri)
    previous = os.environ.get("MLFLOW_ALLOW_FILE_STORE")
    if uri.startswith("file:"):
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        yield MlflowClient(tracking_uri=uri)
    finally:
        if uri.startswith("file:"):
            if previous is None:
                os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)
            else:
                os.environ["MLFLOW_ALLOW_FILE_STORE"] = previous


def _experiment_id(client, name: str) -> str:
    exp = client.get_experiment_by_name(name)
    return exp.experiment_id if exp is not None else client.create_experiment(name)


def _metric_key(name: str) -> str:
    # MLflow keys allow letters, digits, _ - . space / ; "ndcg@10" becomes "ndcg_at_10"
    return name.replace("@", "_at_")


def _log_run(client, exp_id: str, run_name: str, params: dict, metrics: dict, tags: dict,
             text: dict | None = None) -> str:
    import time

    from mlflow.entities import Metric, Param, RunTag

    run = client.create_run(exp_id, run_name=run_name)
    run_id = run.info.run_id
    now = int(time.time() * 1000)
    metric_objs = [Metric(_metric_key(k), float(v), now, 0) for k, v in metrics.items()
                   if v is not None and np.isfinite(v)]
    param_objs = [Param(str(k), str(v)[:500]) for k, v in params.items()]
    tag_objs = [RunTag(str(k), str(v)) for k, v in tags.items()]
    client.log_batch(run_id, metrics=metric_objs, params=param_objs, tags=tag_objs)
    for fname, content in (text or {}).items():
        client.log_text(run_id, content, fname)
    client.set_terminated(run_id)
    return run_id


def log_comparison(result, uri: str, experiment: str = "likewise") -> list[str]:
    """One run per compared model: its parameters, mean and std of each metric, times;
    the comparison's Markdown table is attached to each run as ``comparison.md``."""
    frame = result.to_frame()
    table = result.to_markdown()
    run_ids = []
    with _client(uri) as client:
        exp_id = _experiment_id(client, experiment)
        for name, row in frame.iterrows():
            info = result.models.get(name, {})
            params = {f"model.{k}": v for k, v in info.get("params", {}).items()}
            params.update({f"protocol.{k}": v for k, v in result.protocol.items()})
            params["model.class"] = info.get("class", "")
            metrics = {c: row[c] for c in frame.columns if c != "folds"}
            tags = {"likewise.kind": "compare", "likewise.model": name,
                    "likewise.version": result.versions.get("likewise", ""),
                    "likewise.data": str(result.dataset.get("source"))}
            run_ids.append(_log_run(client, exp_id, str(name), params, metrics, tags,
                                    {"comparison.md": table}))
    return run_ids


def log_tuning(result, model_name: str, uri: str, experiment: str = "likewise-tune") -> list[str]:
    """One run per tuning candidate (parameters and mean/std of every metric)."""
    run_ids = []
    with _client(uri) as client:
        exp_id = _experiment_id(client, experiment)
        for _, row in result.results.iterrows():
            params = {k.removeprefix("param_"): v for k, v in row.items()
                      if k.startswith("param_")}
            params.update({f"protocol.{k}": v for k, v in result.protocol.items()})
            metrics = {k.removeprefix("mean_") if k.startswith("mean_") else k: v
                       for k, v in row.items()
                       if k.startswith(("mean_", "std_")) and isinstance(v, (int, float))}
            metrics["rank"] = float(row["rank"])
            tags = {"likewise.kind": "tune", "likewise.model": model_name,
                    "likewise.best": str(int(row["rank"]) == 1).lower()}
            run_ids.append(_log_run(client, exp_id, f"{model_name} #{int(row['rank'])}",
                                    params, metrics, tags))
    return run_ids
