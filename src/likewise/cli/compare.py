"""``likewise compare``: fit several models on identical splits and report their scores.

Examples
--------
.. code-block:: console

    $ likewise compare movielens-100k --models baseline,random --folds 5 --out report
    $ likewise compare movielens-100k --models popularity,baseline \\
          --protocol topn_user_holdout --k 10 --metric ndcg
    $ likewise data split movielens-100k --method user --out split
    $ likewise compare --train split/train.csv --test split/test.csv --models baseline,svd
"""

from __future__ import annotations

import click

from ._common import ensure_out_dir, load_data, with_read_options
from .model import seed_model

PROTOCOL_CHOICES = ["auto", "rating_cv", "rating_holdout", "topn_user_holdout", "topn_temporal",
                    "topn_leave_one_out"]


def build_models(spec: str) -> dict:
    """``"baseline,popularity"`` -> ``{name: model}``; unavailable models are skipped with a
    message on stderr (an error when none is left)."""
    from ..errors import ConfigError, UnsupportedError
    from ..evaluation.registry import MODELS, make_model

    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise ConfigError(f"--models must list model names separated by commas; known: "
                          f"{', '.join(sorted(MODELS))}")
    models = {}
    for name in names:
        try:
            models[name] = make_model(name)
        except UnsupportedError as exc:
            click.echo(f"likewise: skipping {name}: {exc}", err=True)
    if not models:
        raise ConfigError("none of the requested models is available: " + ", ".join(names))
    return models


def _check_sources(source, train_path, test_path, test_size) -> tuple | None:
    """``(train, test)`` paths of an own split, None for PATH|DATASET; ConfigError when the
    combination makes no sense."""
    from ..errors import ConfigError

    if train_path is None and test_path is None:
        if source is None:
            raise ConfigError("compare needs PATH|DATASET, or --train FILE --test FILE")
        return None
    if source is not None:
        raise ConfigError(f"give either PATH|DATASET ({source!r}) or --train/--test, not both")
    if train_path is None or test_path is None:
        missing = "--test" if test_path is None else "--train"
        raise ConfigError(f"--train and --test go together; {missing} is missing")
    if test_size is not None:
        raise ConfigError("--test-size does not apply to --train/--test (the split is yours)")
    return train_path, test_path


def choose_protocol(protocol: str, data) -> str:
    if protocol != "auto":
        return protocol
    return "rating_cv" if data.is_explicit else "topn_user_holdout"


def parse_metrics(text: str | None):
    if text is None:
        return None
    return [m.strip() for m in text.split(",") if m.strip()]


def _list_models(ctx, _param, value):
    if not value or ctx.resilient_parsing:
        return
    from ..evaluation.registry import MODELS, available_models

    ready = available_models()
    for name, (cls_name, defaults) in MODELS.items():
        args = ", ".join(f"{k}={v!r}" for k, v in defaults.items())
        state = "" if name in ready else "  (not available in this installation)"
        click.echo(f"{name:22s} {cls_name}({args}){state}")
    ctx.exit(0)


@click.command()
@click.argument("source", metavar="[PATH|DATASET]", required=False)
@click.option("--train", "train_path", metavar="FILE",
              help="Your own split: fit on this file (e.g. train.csv of `likewise data split`); "
                   "needs --test and no PATH|DATASET.")
@click.option("--test", "test_path", metavar="FILE",
              help="Your own split: score on this file (ids only here count as cold).")
@click.option("--list-models", is_flag=True, is_eager=True, expose_value=False,
              callback=_list_models, help="List the model names and exit.")
@click.option("--models", "models_spec", required=True, metavar="NAMES",
              help="Comma-separated model names, e.g. baseline,random,popularity "
                   "(see `likewise compare --list-models`).")
@click.option("--protocol", type=click.Choice(PROTOCOL_CHOICES), default="auto",
              show_default=True,
              help="auto: rating_cv for ratings, topn_user_holdout for implicit data; with "
                   "--train/--test only the task (rating_* or topn_*) matters.")
@click.option("--folds", type=click.IntRange(1, 50), default=5, show_default=True,
              help="Folds (rating_cv; user folds for topn_user_holdout, 1 = one holdout).")
@click.option("--k", type=click.IntRange(1), default=10, show_default=True,
              help="List length and cut-off of the top-N metrics.")
@click.option("--metrics", "metrics_spec", metavar="NAMES",
              help="Comma-separated metrics (default: the protocol's), e.g. ndcg,recall,auc.")
@click.option("--metric", "sort_by", metavar="NAME",
              help="Metric to sort by (default: the first one).")
@click.option("--relevance-threshold", type=float,
              help="Top-N on ratings: only held-out ratings >= this are relevant.")
@click.option("--test-size", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="Held-out fraction (holdout and temporal protocols; default 0.2).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the splits and every model's random_state (runs repeat exactly).")
@click.option("--out", "out_dir", metavar="DIR",
              help="Write results.md/.csv/.json/.png and report.html here.")
@click.option("--mlflow-uri", metavar="URI",
              help="Log runs to this MLflow store (e.g. file:///tmp/mlruns; needs the "
                   "mlflow extra). Default: $LIKEWISE_MLFLOW_URI.")
@click.option("--progress/--no-progress", default=True, help="Progress bar on a terminal.")
@with_read_options
def compare(source, train_path, test_path, models_spec, protocol, folds, k, metrics_spec,
            sort_by, relevance_threshold, test_size, seed, out_dir, mlflow_uri, progress,
            read_kwargs):
    """Compare models on PATH|DATASET: mean ± std over folds, times, reports.

    PATH|DATASET is a CSV / TSV / Parquet file or a data set name (movielens-100k). Or give
    your own split with --train FILE --test FILE (as `likewise data split` writes them):
    every model is fitted on train and scored on test once.
    """
    from ..evaluation.compare import compare as run_compare

    split = _check_sources(source, train_path, test_path, test_size)
    out = ensure_out_dir(out_dir) if out_dir else None
    if split:
        data = None
        train, test = (load_data(path, **read_kwargs) for path in split)
        proto = choose_protocol(protocol, train)
        inputs = {"train": train, "test": test}
    else:
        data = load_data(source, **read_kwargs)
        proto = choose_protocol(protocol, data)
        inputs = {}
    models = {name: seed_model(m, seed) for name, m in build_models(models_spec).items()}
    options = {}
    if relevance_threshold is not None:
        options["relevance_threshold"] = relevance_threshold
    if test_size is not None:
        options["test_size"] = test_size
    result = run_compare(models, data, protocol=proto, k=k, folds=folds,
                         metrics=parse_metrics(metrics_spec), sort_by=sort_by,
                         random_state=seed, progress=progress, mlflow_uri=mlflow_uri,
                         **inputs, **options)
    click.echo(result.to_text(width=80))
    if out is not None:
        paths = result.save(out)
        click.echo(f"\nReports written to {out}/: " + ", ".join(p.name for p in paths.values()))
