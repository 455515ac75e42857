"""``likewise train``, ``likewise recommend`` and ``likewise similar``: a model's life cycle.

``train`` fits a registry model on a data argument and saves it (JSON manifest + arrays);
each ``--param NAME=VALUE`` is read and checked by the model's own parameter rule before
any data is loaded. ``recommend`` and ``similar`` load a saved model and print top-N lists
as a table, CSV or JSON lines.
"""

from __future__ import annotations

from typing import Any

import click

from ._common import emit_frame, load_data, with_read_options


def _emit(recs, fmt: str, titles=None) -> None:
    frame = recs.to_frame()
    if titles is not None:
        frame["title"] = [titles.get(i, "") for i in frame["item"].tolist()]
    emit_frame(frame, fmt)
    if recs.fallback.any():
        query = recs.query_name.replace("_", " ")
        unknown = ", ".join(map(str, recs.users[recs.fallback].tolist()))
        click.echo(f"note: unknown {query} {unknown}: popular items shown instead", err=True)


def _parse_ids(values, vocab_is_int: bool):
    if not vocab_is_int:
        return list(values)
    out = []
    for v in values:
        try:
            out.append(int(v))
        except ValueError:
            out.append(v)
    return out


def param_rules(model_name: str) -> tuple[str, dict]:
    """``(class name, {parameter: rule})`` of a registry model, for reading ``--param``."""
    from ..models import registry

    cls, _ = registry.resolve(model_name)
    return cls.__name__, {p.name: p.rule for p in registry.describe(model_name)}


def check_param_name(owner: str, rules: dict, name: str) -> None:
    """Raise :class:`~likewise.ConfigError` listing the valid names if ``name`` is not one."""
    from ..errors import ConfigError

    if name not in rules:
        raise ConfigError(f"{owner} has no parameter {name!r}; valid: {', '.join(rules)} "
                          f"(see `likewise models {owner}`)")


def parse_param_value(owner: str, rules: dict, name: str, text: str) -> Any:
    """The typed value of ``--param name=text``, parsed and range-checked by its rule.

    Raises
    ------
    ConfigError
        Unknown parameter (the valid ones are listed), or a value the rule refuses (the
        message names the parameter and what it must be).
    """
    from ..errors import ConfigError

    check_param_name(owner, rules, name)
    rule = rules[name]
    try:
        value = rule.parse(text, name)
        rule.check(name, value)
    except ConfigError as exc:
        raise ConfigError(f"{owner}: {exc}") from None
    return value


def parse_model_params(model_name: str, texts: tuple[str, ...]) -> dict:
    """``("factors=64", ...)`` -> ``{"factors": 64, ...}`` through the model's rules."""
    from ..errors import ConfigError

    owner, rules = param_rules(model_name)
    out: dict[str, Any] = {}
    for text in texts:
        name, sep, value = text.partition("=")
        name = name.strip()
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {text!r}", param_hint="--param")
        if name in out:
            raise ConfigError(f"--param {name} is given twice")
        out[name] = parse_param_value(owner, rules, name, value)
    return out


def seed_model(model, seed: int | None):
    """``model`` with ``random_state=seed`` wherever it (or a sub-model) leaves it None.

    Parameters
    ----------
    model : Recommender
        The model; sub-models are reached through ``get_params(deep=True)``.
    seed : int or None
        None leaves the model as it is.

    Returns
    -------
    Recommender
        ``model`` itself.
    """
    if seed is None:
        return model
    unset = {name: seed for name, value in model.get_params(deep=True).items()
             if value is None and (name == "random_state" or name.endswith("__random_state"))}
    return model.set_params(**unset)


@click.command()
@click.argument("source", metavar="PATH|DATASET")
@click.option("--model", "model_name", required=True, metavar="NAME",
              help="Model name, alias or class name (`likewise models` lists them).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A model parameter, repeatable (e.g. --param factors=64; "
                   "`likewise models NAME` lists them).")
@click.option("--out", "out_path", required=True, metavar="PATH",
              help="Where to save the model (a directory, or a .zip file).")
@click.option("--force", is_flag=True,
              help="Replace whatever is at --out, even if it is not a likewise model "
                   "(a previous likewise model is always replaced).")
@click.option("--seed", type=int, metavar="INT",
              help="random_state of the model (and its sub-models) where it is not set by "
                   "--param: the same seed gives the same model every run.")
@with_read_options
def train(source, model_name, params, out_path, force, seed, read_kwargs):
    """Fit a model on PATH|DATASET and save it to --out."""
    import time

    from ..models import registry

    model = seed_model(registry.make(model_name, **parse_model_params(model_name, params)),
                       seed)
    data = load_data(source, **read_kwargs)
    started = time.perf_counter()
    model.fit(data)
    elapsed = time.perf_counter() - started
    path = model.save(out_path, overwrite=force)
    click.echo(f"trained {model!r} on {data.nnz:,} interactions ({data.n_users:,} users, "
               f"{data.n_items:,} items) in {elapsed:.2f} s; saved to {path}")


@click.command()
@click.argument("model_path", metavar="MODEL")
@click.option("--user", "users", multiple=True, required=True, metavar="ID",
              help="User id (repeatable).")
@click.option("-n", "--n", "n", type=click.IntRange(1), default=10, show_default=True)
@click.option("--include-seen", is_flag=True, help="Allow items the user already has.")
@click.option("--strict", is_flag=True, help="Fail on unknown users instead of falling back.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@click.option("--titles", "titles_source", metavar="DATASET",
              help="Add a title column from a data set's item metadata (movielens-100k).")
def recommend(model_path, users, n, include_seen, strict, fmt, titles_source):
    """Top-N items for users of a saved MODEL."""
    from ..models.base import load

    model = load(model_path, mmap=True)
    recs = model.recommend(_parse_ids(users, model.users_.is_integer), n=n,
                           exclude_seen=not include_seen,
                           on_unknown="raise" if strict else "fallback")
    _emit(recs, fmt, _titles(titles_source))


@click.command()
@click.argument("model_path", metavar="MODEL")
@click.option("--item", "items", multiple=True, required=True, metavar="ID",
              help="Item id (repeatable).")
@click.option("-n", "--n", "n", type=click.IntRange(1), default=10, show_default=True)
@click.option("--strict", is_flag=True, help="Fail on unknown items instead of falling back.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@click.option("--titles", "titles_source", metavar="DATASET",
              help="Add a title column from a data set's item metadata (movielens-100k).")
def similar(model_path, items, n, strict, fmt, titles_source):
    """Items most similar to the given items of a saved MODEL."""
    from ..models.base import load

    model = load(model_path, mmap=True)
    recs = model.similar_items(_parse_ids(items, model.items_.is_integer), n=n,
                               on_unknown="raise" if strict else "fallback")
    _emit(recs, fmt, _titles(titles_source))


def _titles(source):
    if not source:
        return None
    data = load_data(source)
    meta = data.item_metadata
    if meta is None or "title" not in meta.columns:
        raise click.BadParameter(f"{source} has no item titles", param_hint="--titles")
    return meta["title"].to_dict()
