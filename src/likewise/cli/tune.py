"""``likewise tune``: grid or random search of one model's parameters by cross-validation.

Examples
--------
.. code-block:: console

    $ likewise tune movielens-100k --model baseline --param reg_user=5,10,15 \\
          --param reg_item=5,10 --folds 3
    $ likewise tune movielens-100k --model baseline-sgd --search random --n-iter 8 \\
          --param 'learning_rate=loguniform(0.001,0.02)' --param regularization=0.02,0.1
"""

from __future__ import annotations

import json
import re

import click

from .._fs import atomic_file, atomic_write_text
from ._common import ensure_out_dir, load_data, with_read_options
from .compare import PROTOCOL_CHOICES, choose_protocol

_DIST = re.compile(r"^\s*(loguniform|uniform|randint)\s*\(\s*([^,]+)\s*,\s*([^)]+)\)\s*$")


def parse_value(text: str):
    """``"10"`` -> 10, ``"0.1"`` -> 0.1, ``"true"`` -> True, ``"none"`` -> None, else text.

    Examples
    --------
    >>> [parse_value(v) for v in ["10", "0.1", "1e-3", "True", "none", "als"]]
    [10, 0.1, 0.001, True, None, 'als']
    """
    t = text.strip()
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return t


def parse_param(text: str, rules: dict | None = None, owner: str = "the model"):
    """``"name=v1,v2"`` -> ``("name", [v1, v2])``; ``"name=loguniform(a,b)"`` (also
    ``uniform``, ``randint``) -> ``("name", scipy.stats distribution)`` for random search.

    With ``rules`` (parameter -> rule of the model ``owner``) each value is read and
    checked by its parameter's rule and an unknown name is an error; without, the type is
    guessed by :func:`parse_value`.

    Examples
    --------
    >>> parse_param("reg_user=5,10")
    ('reg_user', [5, 10])
    >>> from likewise._params import Float
    >>> parse_param("reg_user=5,10", {"reg_user": Float(0)}, "Baseline")
    ('reg_user', [5.0, 10.0])
    """
    from ..errors import ConfigError
    from .model import check_param_name, parse_param_value

    name, sep, values = text.partition("=")
    name = name.strip()
    if not sep or not name or not values.strip():
        raise ConfigError(f"--param must look like name=v1,v2 or name=loguniform(a,b); got "
                          f"{text!r}")
    if rules is not None:
        check_param_name(owner, rules, name)
    match = _DIST.match(values)
    if match:
        from scipy import stats

        kind, a, b = match.group(1), parse_value(match.group(2)), parse_value(match.group(3))
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b)) \
                or not a < b:
            raise ConfigError(f"--param {name}: {kind}(a, b) needs numbers with a < b; got "
                              f"{values!r}")
        if kind == "loguniform":
            if a <= 0:
                raise ConfigError(f"--param {name}: loguniform needs a > 0; got {values!r}")
            return name, stats.loguniform(a, b)
        if kind == "uniform":
            return name, stats.uniform(a, b - a)
        return name, stats.randint(int(a), int(b) + 1)  # inclusive upper bound
    if rules is None:
        return name, [parse_value(v) for v in values.split(",")]
    return name, [parse_param_value(owner, rules, name, v) for v in values.split(",")]


@click.command()
@click.argument("source", metavar="PATH|DATASET")
@click.option("--model", "model_name", required=True, metavar="NAME",
              help="Model name, alias or class name (`likewise models` lists them).")
@click.option("--param", "params", multiple=True, required=True, metavar="NAME=VALUES",
              help="Values to try: name=v1,v2,... (repeat for several parameters); for "
                   "random search also name=loguniform(a,b) / uniform(a,b) / randint(a,b).")
@click.option("--search", type=click.Choice(["grid", "random"]), default="grid",
              show_default=True)
@click.option("--n-iter", type=click.IntRange(1), default=10, show_default=True,
              help="Candidates drawn by random search.")
@click.option("--protocol", type=click.Choice(PROTOCOL_CHOICES), default="auto",
              show_default=True,
              help="auto: rating_cv for ratings, topn_user_holdout for implicit data.")
@click.option("--folds", type=click.IntRange(1, 50), default=3, show_default=True)
@click.option("--k", type=click.IntRange(1), default=10, show_default=True,
              help="Cut-off of the top-N metrics.")
@click.option("--metric", metavar="NAME",
              help="Metric to optimise (default rmse for ratings, ndcg for top-N).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the splits, of random search and of the model's random_state "
                   "(unless --param searches it).")
@click.option("--out", "out_dir", metavar="DIR",
              help="Write results.csv, results.md and best_params.json here.")
@click.option("--save-model", metavar="PATH",
              help="Save the best model, refitted on all the data, here.")
@click.option("--mlflow-uri", metavar="URI",
              help="Log every candidate to this MLflow store (needs the mlflow extra).")
@click.option("--progress/--no-progress", default=True, help="Progress bar on a terminal.")
@with_read_options
def tune(source, model_name, params, search, n_iter, protocol, folds, k, metric, seed,
         out_dir, save_model, mlflow_uri, progress, read_kwargs):
    """Search parameters of one model on PATH|DATASET by cross-validation."""
    from ..errors import ConfigError
    from ..evaluation.registry import make_model
    from ..evaluation.tune import tune as run_tune
    from .model import param_rules, seed_model

    owner, rules = param_rules(model_name)
    space = {}
    for text in params:
        name, values = parse_param(text, rules, owner)
        if name in space:
            raise ConfigError(f"--param {name} is given twice")
        space[name] = values
    if search == "grid" and any(not isinstance(v, list) for v in space.values()):
        raise ConfigError("distributions such as loguniform(a,b) need --search random")
    out = ensure_out_dir(out_dir) if out_dir else None
    data = load_data(source, **read_kwargs)
    model = seed_model(make_model(model_name), seed)
    result = run_tune(model, space if search == "grid" else None, data,
                      param_distributions=space if search == "random" else None,
                      protocol=choose_protocol(protocol, data), metric=metric, search=search,
                      n_iter=n_iter, folds=folds, k=k, random_state=seed,
                      refit=save_model is not None, progress=progress, mlflow_uri=mlflow_uri)
    click.echo(str(result))
    if out is not None:
        frame = result.results.drop(columns=["params"]).sort_values("rank", kind="stable")
        with atomic_file(out / "results.csv", "w", newline="") as fh:
            frame.to_csv(fh, index=False, float_format="%.6g")
        atomic_write_text(out / "results.md", result.to_markdown() + "\n")
        best = {"model": model_name, "metric": result.metric, "best_score": result.best_score,
                "best_params": result.best_params, "protocol": result.protocol}
        atomic_write_text(out / "best_params.json", json.dumps(best, indent=2, default=str))
        click.echo(f"\nResults written to {out}/: results.csv, results.md, best_params.json")
    if save_model is not None:
        path = result.best_model.save(save_model)
        click.echo(f"Best model saved to {path}")
