"""``likewise data``: inspect and split interaction data.

Examples
--------
.. code-block:: console

    $ likewise data info movielens-100k
    $ likewise data split movielens-100k --method user --test-k 5 --out splits/ml100k
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .._fs import atomic_file, atomic_write_text
from ..errors import ConfigError
from ._common import ensure_out_dir, load_data, with_read_options

DATA_HELP = "A CSV / TSV / Parquet file, or a data set name such as movielens-100k."
_BAR_WIDTH = 40


@click.group()
def data():
    """Inspect and split interaction data."""


# -- info --------------------------------------------------------------------------------

@data.command()
@click.argument("source", metavar="PATH|DATASET")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@with_read_options
def info(source: str, as_json: bool, read_kwargs: dict) -> None:
    """Counts, density, rating histogram and long-tail summary of a data set.

    PATH|DATASET is a CSV / TSV (optionally gzipped) or Parquet file, or a data set name
    such as movielens-100k.
    """
    interactions = load_data(source, **read_kwargs)
    stats = _jsonable(interactions.stats())
    stats = {"source": source, **stats}
    if as_json:
        click.echo(json.dumps(stats, indent=2))
    else:
        click.echo(format_info(stats))


def _jsonable(value: Any) -> Any:
    """Plain JSON types: tuples to lists, numpy scalars to Python, histogram keys to text."""
    import numpy as np

    if isinstance(value, dict):
        return {_key(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _key(k: Any) -> str:
    if isinstance(k, float):
        return f"{k:g}"
    return str(k)


def _num(n: float) -> str:
    return f"{n:,}" if isinstance(n, int) else f"{n:,.1f}"


def format_info(stats: dict) -> str:
    """Human-readable report of :meth:`Interactions.stats` (after :func:`_jsonable`)."""
    lines = []
    kind = stats["kind"]
    scale = stats.get("rating_scale")
    what = (f"explicit ratings, scale {scale[0]:g}-{scale[1]:g}" if kind == "explicit" and scale
            else f"{kind} feedback")
    lines.append(f"{stats['source']}: {what}")
    rows = [("users", _num(stats["users"])), ("items", _num(stats["items"])),
            ("interactions", _num(stats["interactions"])),
            ("density", f"{100 * stats['density']:.4g}%")]
    if "mean_value" in stats:
        rows.append(("mean " + ("rating" if kind == "explicit" else "weight"),
                     f"{stats['mean_value']:.3f}"))
    if "time_range" in stats:
        lo, hi = stats["time_range"]
        rows.append(("time range", f"{_date(lo)} .. {_date(hi)}"))
    width = max(len(r[0]) for r in rows)
    lines += [f"  {name:<{width}}  {value}" for name, value in rows]

    hist = stats.get("value_histogram")
    if hist:
        lines.append("")
        lines.append("ratings" if kind == "explicit" else "weights")
        total = sum(hist.values()) or 1
        peak = max(hist.values()) or 1
        label_w = max(len(k) for k in hist)
        count_w = max(len(f"{c:,}") for c in hist.values())
        for label, count in hist.items():
            bar = "#" * max(1 if count else 0, round(_BAR_WIDTH * count / peak))
            lines.append(f"  {label:>{label_w}}  {bar:<{_BAR_WIDTH}}  {count:>{count_w},}  "
                         f"({100 * count / total:.1f}%)")

    lines.append("")
    lines.append("interactions per")
    for who in ("user", "item"):
        s = stats[f"interactions_per_{who}"]
        lines.append(f"  {who:<4}  min {_num(s['min'])}, median {s['median']:g}, "
                     f"mean {s['mean']:.1f}, max {_num(s['max'])}")
    tail = stats.get("long_tail")
    if tail:
        lines.append("")
        lines.append("long tail")
        lines.append(f"  the 20% most popular items hold "
                     f"{100 * tail['share_of_interactions_on_top_20pct_items']:.1f}% "
                     "of interactions")
        lines.append(f"  items with fewer than 5 interactions: "
                     f"{_num(tail['items_with_fewer_than_5'])} "
                     f"({_pct(tail['items_with_fewer_than_5'], stats['items'])})")
        lines.append(f"  users with fewer than 5 interactions: "
                     f"{_num(tail['users_with_fewer_than_5'])} "
                     f"({_pct(tail['users_with_fewer_than_5'], stats['users'])})")
    return "\n".join(lines)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _date(seconds: int) -> str:
    import datetime as dt

    try:
        return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):  # not Unix seconds after all
        return str(seconds)


# -- split -------------------------------------------------------------------------------

METHODS = ("holdout", "user", "temporal", "temporal-user", "kfold", "user-kfold")
_CV_METHODS = ("kfold", "user-kfold")


@data.command()
@click.argument("source", metavar="PATH|DATASET")
@click.option("--method", type=click.Choice(METHODS), default="holdout", show_default=True,
              help="holdout: random rows; user: per-user random (fraction or --test-k); "
                   "temporal: global time cutoff; temporal-user: each user's latest; "
                   "kfold / user-kfold: --folds cross-validation folds over rows / users.")
@click.option("--test-size", type=float, default=None,
              help="Fraction in test, in (0, 1). [default: 0.2, except with --test-k or "
                   "--cutoff]")
@click.option("--test-k", type=int, default=None,
              help="Interactions per user in test (methods user, temporal-user and "
                   "user-kfold; temporal-user defaults to 1).")
@click.option("--min-train", type=int, default=1, show_default=True,
              help="Interactions each user keeps in train (per-user methods).")
@click.option("--cutoff", default=None, metavar="TIME",
              help="temporal: Unix seconds or an ISO date; interactions from then on are test.")
@click.option("--folds", type=int, default=None,
              help="Number of folds for kfold and user-kfold.  [default: 5]")
@click.option("--seed", type=click.IntRange(min=0), default=42, show_default=True,
              help="Random seed (random methods).")
@click.option("--out", "out_dir", required=True, metavar="DIR",
              help="Directory for train and test files (created if missing).")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv",
              show_default=True, help="File format of train and test.")
@with_read_options
def split(source: str, method: str, test_size: float | None, test_k: int | None,
          min_train: int, cutoff: str | None, folds: int | None, seed: int, out_dir: str,
          fmt: str, read_kwargs: dict) -> None:
    """Split data into train and test files.

    Writes DIR/train.FORMAT and DIR/test.FORMAT (columns user, item, rating or weight,
    timestamp, with the original ids) and DIR/split.json (the parameters and counts);
    kfold and user-kfold write DIR/fold-1/ ... DIR/fold-K/ with a train and test file
    each. Users and items of a test file may be absent from its train file (cold start):
    split.json counts them.
    """
    params = _split_params(method, test_size, test_k, min_train, cutoff, folds, seed)
    if Path(out_dir).exists() and not Path(out_dir).is_dir():  # fail before the slow part
        raise ConfigError(f"--out {out_dir!r} exists and is not a directory")
    interactions = load_data(source, **read_kwargs)

    from ..data import splits

    func = {"holdout": splits.holdout, "user": splits.user_holdout,
            "temporal": splits.temporal, "temporal-user": splits.temporal_user,
            "kfold": splits.kfold, "user-kfold": splits.user_kfold}[method]
    result = func(interactions, **params)  # validates before anything is written
    out = ensure_out_dir(out_dir)
    manifest = {"source": source, "method": method, "params": dict(params),
                "kind": interactions.kind, "rating_scale": interactions.rating_scale}

    if method in _CV_METHODS:
        manifest["folds"] = []
        for number, fold in enumerate(result, start=1):
            fold_dir = ensure_out_dir(str(out / f"fold-{number}"))
            files = _write_split(fold, fold_dir, fmt)
            manifest["folds"].append({"dir": fold_dir.name, "files": files, **fold.summary()})
            s = manifest["folds"][-1]
            click.echo(f"wrote {fold_dir} (train {s['train']:,} rows, test {s['test']:,} "
                       f"rows, {s['test_users']:,} users; cold in test: "
                       f"{s['cold_users']:,} users, {s['cold_items']:,} items)")
        atomic_write_text(out / "split.json", json.dumps(manifest, indent=2) + "\n")
        return

    files = _write_split(result, out, fmt)
    summary = result.summary()
    manifest.update(files=files, **summary)
    atomic_write_text(out / "split.json", json.dumps(manifest, indent=2) + "\n")
    click.echo(
        f"wrote {out / files['train']} ({summary['train']:,} rows) and "
        f"{out / files['test']} ({summary['test']:,} rows, {summary['test_users']:,} users); "
        f"cold in test: {summary['cold_users']:,} users, {summary['cold_items']:,} items")


def _write_split(result, out: Path, fmt: str) -> dict:
    files = {}
    for name, part in zip(("train", "test"), result):
        path = out / f"{name}.{fmt}"
        _write(part, path, fmt)
        files[name] = path.name
    return files


def _reject(option: str, value, method: str) -> None:
    """ConfigError when an option that does not apply to ``method`` was given."""
    if value is not None:
        raise ConfigError(f"{option} does not apply to --method {method}")


def _size_or_k(test_size, test_k, default_size: float | None, default_k: int | None) -> dict:
    """The split's test_size / test_k keywords: the one given (never both), else defaults."""
    if test_k is not None and test_size is not None:
        raise ConfigError("give --test-size or --test-k, not both")
    if test_k is not None:
        return {"test_size": None, "test_k": test_k}
    if test_size is not None:
        return {"test_size": test_size, "test_k": None}
    return {"test_size": default_size, "test_k": default_k}


def _temporal_params(test_size, cutoff) -> dict:
    """A global cut-off (a date, or Unix seconds) or a test fraction, not both."""
    if cutoff is None:
        return {"test_size": 0.2 if test_size is None else test_size}
    if test_size is not None:
        raise ConfigError("give --test-size or --cutoff, not both")
    text = cutoff.strip()
    return {"cutoff": int(text) if text.lstrip("-").isdigit() else text}


def _split_params(method: str, test_size, test_k, min_train, cutoff, folds, seed) -> dict:
    """Map CLI options onto the split function's keywords; reject ones that do not apply."""
    if method not in _CV_METHODS:
        _reject("--folds", folds, method)
    if method not in ("temporal",):
        _reject("--cutoff", cutoff, method)
    if method == "holdout":
        _reject("--test-k", test_k, method)
        return {"test_size": 0.2 if test_size is None else test_size, "random_state": seed}
    if method == "user":
        return {**_size_or_k(test_size, test_k, 0.2, None), "min_train": min_train,
                "random_state": seed}
    if method == "temporal":
        _reject("--test-k", test_k, method)
        return _temporal_params(test_size, cutoff)
    if method == "temporal-user":
        return {**_size_or_k(test_size, test_k, None, 1), "min_train": min_train}
    k = 5 if folds is None else folds
    if method == "kfold":
        _reject("--test-k", test_k, method)
        _reject("--test-size", test_size, method)
        return {"k": k, "random_state": seed}
    # user-kfold
    return {"k": k, **_size_or_k(test_size, test_k, 0.2, None), "min_train": min_train,
            "random_state": seed}


def _write(part, path: Path, fmt: str) -> None:
    """Write one half with external ids; a temporary file is renamed into place."""
    import pyarrow as pa

    table = pa.Table.from_pandas(part.to_frame(ids=True), preserve_index=False)
    with atomic_file(path, "wb") as fh:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, fh)
        else:
            import pyarrow.csv as pacsv

            try:  # plain CSV unless some value needs quotes (ids containing commas...)
                pacsv.write_csv(table, fh, _csv_options(pacsv, "none"))
            except pa.ArrowInvalid:
                fh.seek(0)  # drop the rows written before the value that needs quotes
                fh.truncate()
                pacsv.write_csv(table, fh, _csv_options(pacsv, "needed"))


def _csv_options(pacsv, quoting: str):
    try:  # our column names never need quotes; quoting_header is new in pyarrow 19
        return pacsv.WriteOptions(quoting_style=quoting, quoting_header="none")
    except TypeError:
        return pacsv.WriteOptions(quoting_style=quoting)
