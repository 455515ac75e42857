"""``likewise index``: build, inspect and query neighbour-search indexes.

Examples
--------
.. code-block:: console

    $ likewise index build vectors.npy my-index --metric cosine --backend hnsw -p M=16 -p ef=100
    $ likewise index info my-index
    $ likewise index query my-index --ids 3,17 -k 5
    $ likewise index query my-index --vectors queries.npy -k 10 --json
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import ConfigError, DataError


@click.group()
def index():
    """Build, inspect and query neighbour-search indexes (likewise.index)."""


def _parse_params(pairs: tuple[str, ...]) -> dict:
    params = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise ConfigError(f"--param expects NAME=VALUE, got {pair!r}")
        try:
            params[name] = json.loads(raw)
        except json.JSONDecodeError:
            params[name] = raw  # a bare word such as kind=hnsw
    return params


def _load_array(path: str, what: str):
    import numpy as np

    p = Path(path)
    if not p.exists():
        raise DataError(f"{what} file not found", path=p)
    if p.suffix == ".npy":
        try:
            return np.load(p, allow_pickle=False)
        except ValueError as exc:
            raise DataError(f"not a numeric .npy array ({exc})", path=p) from None
    try:
        return np.loadtxt(p, delimiter="," if p.suffix == ".csv" else None, ndmin=2,
                          dtype=np.float32)
    except ValueError as exc:
        raise DataError(f"cannot read {what} as numbers ({exc})", path=p) from None


@index.command()
@click.argument("vectors", metavar="VECTORS")
@click.argument("out", metavar="OUT_DIR")
@click.option("--ids", "ids_path", help="File with one id per line (or a .npy array).")
@click.option("--metric", type=click.Choice(["cosine", "dot", "euclidean"]), default="cosine",
              show_default=True)
@click.option("--backend", type=click.Choice(["exact", "annoy", "hnsw", "faiss"]),
              default="exact", show_default=True)
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Backend parameter, repeatable (e.g. -p M=16 -p ef=100).")
@click.option("--force", is_flag=True,
              help="Replace whatever is at OUT_DIR, even if it is not a likewise index "
                   "(a previous likewise index is always replaced).")
def build(vectors: str, out: str, ids_path: str | None, metric: str, backend: str,
          params: tuple[str, ...], force: bool) -> None:
    """Build an index from VECTORS (.npy, .csv or whitespace text, one vector per row).

    OUT_DIR ending in .ann with --backend annoy writes a plain Annoy file that other
    programs open (plus OUT.ids.csv mapping each item position to its id) instead of a
    likewise index folder.
    """
    import numpy as np

    from .. import index as lw_index

    x = _load_array(vectors, "vectors")
    ids = None
    if ids_path:
        p = Path(ids_path)
        if p.suffix == ".npy":
            ids = np.load(p, allow_pickle=False)
        elif p.exists():
            lines = [ln.strip() for ln in p.read_text().splitlines() if ln.strip()]
            ids = np.array(lines)
            if all(ln.lstrip("-").isdigit() for ln in lines):
                ids = ids.astype(np.int64)
        else:
            raise DataError("ids file not found", path=p)
    plain_annoy = Path(out).suffix == ".ann"
    if plain_annoy and backend != "annoy":
        raise click.BadParameter(f"a .ann file is an Annoy index; add --backend annoy (got "
                                 f"{backend!r}) or give a folder", param_hint="OUT_DIR")
    idx = lw_index.build(x, ids=ids, metric=metric, backend=backend, **_parse_params(params))
    path = idx.export(out, overwrite=force) if plain_annoy else idx.save(out, overwrite=force)
    click.echo(f"built {backend} index of {len(idx)} vectors ({idx.dim} dims, {metric}) "
               f"-> {path}")


@index.command()
@click.argument("path", metavar="INDEX_DIR")
def info(path: str) -> None:
    """Backend, metric, size and parameters of a saved index."""
    from .. import index as lw_index

    idx = lw_index.load(path)
    click.echo(json.dumps({"backend": idx.backend, "metric": idx.metric, "n": len(idx),
                           "dim": idx.dim, "params": idx.params}, indent=2))


@index.command()
@click.argument("path", metavar="INDEX_DIR")
@click.option("--ids", "ids", help="Comma-separated ids stored in the index.")
@click.option("--vectors", "vectors", help="Query vectors file (.npy, .csv, text).")
@click.option("-k", default=10, show_default=True, help="Neighbours per query.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of CSV.")
def query(path: str, ids: str | None, vectors: str | None, k: int, as_json: bool) -> None:
    """Nearest neighbours of stored ids (self excluded) or of query vectors."""
    import numpy as np

    from .. import index as lw_index

    if (ids is None) == (vectors is None):
        raise ConfigError("give exactly one of --ids or --vectors")
    idx = lw_index.load(path)
    if ids is not None:
        wanted = [s.strip() for s in ids.split(",") if s.strip()]
        if idx.ids.dtype.kind == "i":
            try:
                wanted = [int(s) for s in wanted]
            except ValueError:
                raise ConfigError(f"this index has integer ids; got {ids!r}") from None
        res = idx.query_ids(wanted, k=k)
        queries = wanted
    else:
        res = idx.query(_load_array(vectors, "query vectors"), k=k)
        queries = list(range(len(res.ids)))
    rows = []
    for q, row_ids, row_scores in zip(queries, res.ids.tolist(), res.scores.tolist()):
        for rank, (nid, score) in enumerate(zip(row_ids, row_scores), start=1):
            if not (isinstance(score, float) and np.isnan(score)):
                rows.append({"query": q, "neighbour": nid, "score": score, "rank": rank})
    if as_json:
        click.echo(json.dumps(rows))
    else:
        click.echo("query,neighbour,score,rank")
        for r in rows:
            click.echo(f"{r['query']},{r['neighbour']},{r['score']:.6g},{r['rank']}")
