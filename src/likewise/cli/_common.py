"""Helpers shared by CLI commands: resolving data arguments and the options that read them.

Nothing heavy is imported at module level so that ``likewise <command> --help`` stays
instant; numpy, pandas and pyarrow load only when a command actually reads data.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import ConfigError, DataError

if TYPE_CHECKING:  # pragma: no cover
    from ..data.interactions import Interactions

__all__ = [
    "DATASETS",
    "ensure_out_dir",
    "load_data",
    "parse_rating_scale",
    "read_options",
    "read_options_from",
    "with_read_options",
]

#: Data set names a data argument may give instead of a path -> MovieLens variant.
DATASETS: dict[str, str] = {
    "movielens-100k": "100k", "ml-100k": "100k",
    "movielens-1m": "1m", "ml-1m": "1m",
    "movielens-10m": "10m", "ml-10m": "10m",
    "movielens-20m": "20m", "ml-20m": "20m",
    "movielens-25m": "25m", "ml-25m": "25m",
    "movielens-32m": "32m", "ml-32m": "32m",
    "movielens-latest-small": "latest-small", "ml-latest-small": "latest-small",
}

_PARQUET_SUFFIXES = (".parquet", ".pq")
# options that pick columns of a file; meaningless for a named data set
_COLUMN_OPTIONS = ("user", "item", "rating", "timestamp", "sep")


def load_data(spec: str, **read_options: Any) -> Interactions:
    """Load a data argument: a data set name (``movielens-100k``...) or a file path.

    Parameters
    ----------
    spec : str
        A name from :data:`DATASETS` (case-insensitive), or a CSV / TSV (optionally
        gzipped) or Parquet (``.parquet``/``.pq``) file. A name wins over a file of the
        same name in the current directory; write ``./movielens-100k`` for the file.
    **read_options
        Keyword arguments for :func:`likewise.read_csv` / :func:`likewise.read_parquet`
        (``user``, ``item``, ``rating``, ``timestamp``, ``sep``, ``kind``,
        ``rating_scale``, ``duplicates``...); ``None`` values are dropped. For a named
        data set only ``kind="implicit"`` applies (ratings become weights).

    Returns
    -------
    Interactions

    Raises
    ------
    DataError
        The file is missing, unreadable or malformed (the message names where).
    ConfigError
        An option does not apply (column options for a named data set, ``sep`` for
        Parquet).

    Examples
    --------
    >>> from likewise.cli._common import load_data
    >>> load_data("movielens-100k").n_users
    943
    """
    options = {k: v for k, v in read_options.items() if v is not None}
    name = spec.strip().lower()
    if name in DATASETS:
        return _load_dataset(spec, DATASETS[name], options)

    path = Path(spec)
    if not path.exists():
        known = ", ".join(n for n in DATASETS if n.startswith("movielens-"))
        raise DataError(f"no such file, and not a data set name; give a CSV, TSV or Parquet "
                        f"file, or one of: {known}", path=spec)
    if path.is_dir():
        raise DataError("is a directory; give the ratings file inside it (CSV, TSV or "
                        "Parquet)", path=spec)
    if not path.is_file():  # opening a FIFO would wait for a writer forever
        raise DataError("is not a regular file (a pipe, socket or device); save the data "
                        "to a CSV, TSV or Parquet file and give its path", path=spec)
    import likewise

    if _is_parquet(path):
        if "sep" in options:
            raise ConfigError(f"--sep does not apply to Parquet files ({spec})")
        return likewise.read_parquet(path, **options)
    return likewise.read_csv(path, **options)


def _is_parquet(path: Path) -> bool:
    if path.name.lower().endswith(_PARQUET_SUFFIXES):
        return True
    try:  # a Parquet file without the usual suffix still starts with its magic bytes
        with open(path, "rb") as fh:
            return fh.read(4) == b"PAR1"
    except OSError:
        return False


def _load_dataset(spec: str, variant: str, options: dict) -> Interactions:
    from ..datasets import movielens

    given = [k for k in _COLUMN_OPTIONS if k in options]
    if given:
        flags = ", ".join(f"--{k}-col" if k != "sep" else "--sep" for k in given)
        verb = "applies" if len(given) == 1 else "apply"
        raise ConfigError(f"{flags} {verb} only to files; the data set {spec!r} has fixed "
                          "columns")
    data = movielens(variant)
    kind = options.pop("kind", None)
    extra = sorted(set(options) - {"kind"})
    if extra:
        flags = ", ".join("--" + k.replace("_", "-") for k in extra)
        raise ConfigError(f"{flags}: only for files, not for the data set {spec!r}")
    if kind not in (None, data.kind):
        if kind != "implicit":
            raise ConfigError(f"data set {spec!r} is {data.kind}; it cannot be read as {kind}")
        data = data.as_implicit(keep_values=True)  # ratings become weights, as read_csv does
    return data


def parse_rating_scale(text: str | None) -> tuple[float, float] | None:
    """``"1,5"`` or ``"1-5"`` or ``"0.5:5"`` -> ``(1.0, 5.0)``; None stays None."""
    if text is None:
        return None
    import re

    parts = [p for p in re.split(r"[,:]|(?<=\d)-", text.strip()) if p.strip()]
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise ConfigError(f"--rating-scale must be LOW,HIGH (e.g. 1,5), got {text!r}") from None
    if not low <= high:
        raise ConfigError(f"--rating-scale must have LOW <= HIGH, got {text!r}")
    return (low, high)


def read_options(command: Callable) -> Callable:
    """Decorator adding the options that say how to read a data file.

    The command receives them as keyword arguments; pass ``read_options_from(kwargs)`` to
    :func:`load_data`.
    """
    options = [
        click.option("--user-col", metavar="NAME",
                     help="Column of user ids (default: user / userId / user_id)."),
        click.option("--item-col", metavar="NAME",
                     help="Column of item ids (default: item / itemId / item_id / movieId)."),
        click.option("--rating-col", metavar="NAME",
                     help="Column of ratings (default: rating / score; none: implicit)."),
        click.option("--timestamp-col", metavar="NAME",
                     help="Column of Unix-second timestamps (default: timestamp / time)."),
        click.option("--sep", metavar="CHAR",
                     help=r"Delimiter (default: sniffed from the header; '\t' for tab)."),
        click.option("--implicit", is_flag=True,
                     help="Treat the data as implicit feedback (ratings become weights)."),
        click.option("--rating-scale", metavar="LOW,HIGH",
                     help="Declared rating scale; ratings outside it are an error."),
        click.option("--duplicates",
                     type=click.Choice(["last", "first", "mean", "sum", "max", "error"]),
                     help="How repeated (user, item) rows merge (default: last for "
                          "ratings, sum for implicit)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def read_options_from(kwargs: dict) -> dict:
    """Pop the :func:`read_options` values out of ``kwargs`` as :func:`load_data` keywords."""
    sep = kwargs.pop("sep", None)
    if sep is not None:
        sep = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(sep, sep)
    return {
        "user": kwargs.pop("user_col", None),
        "item": kwargs.pop("item_col", None),
        "rating": kwargs.pop("rating_col", None),
        "timestamp": kwargs.pop("timestamp_col", None),
        "sep": sep,
        "kind": "implicit" if kwargs.pop("implicit", False) else None,
        "rating_scale": parse_rating_scale(kwargs.pop("rating_scale", None)),
        "duplicates": kwargs.pop("duplicates", None),
    }


def with_read_options(func: Callable) -> Callable:
    """Like :func:`read_options`, and hands the command a ready ``read_kwargs`` dict."""
    @functools.wraps(func)
    def wrapper(**kwargs):
        kwargs["read_kwargs"] = read_options_from(kwargs)
        return func(**kwargs)

    return read_options(wrapper)


def ensure_out_dir(path: str) -> Path:
    """Create an output directory (and parents); a file in the way is a clear error."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"--out {path!r} exists and is not a directory")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output directory {path!r}: {exc.strerror}") from None
    if not os.access(p, os.W_OK):
        raise ConfigError(f"output directory {path!r} is not writable")
    return p


def emit_frame(frame, fmt: str) -> None:
    """Print a result DataFrame as an aligned table, CSV or JSON lines (``--format``)."""
    import sys

    if fmt == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        click.echo(frame.to_json(orient="records", lines=True), nl=False)
    else:
        click.echo(frame.to_string(index=False) if len(frame) else "(no results)")
