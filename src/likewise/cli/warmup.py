"""``likewise warmup``: compile the models' numba kernels once, into numba's on-disk cache.

A fresh environment (a new virtual environment, a Docker image, a CI runner) compiles
each kernel on its first use, which stalls the first ``fit`` of a model for seconds. Run
this once while building the environment; later processes load the compiled kernels.

Examples
--------
.. code-block:: console

    $ likewise warmup                      # every model, one worker process per core
    $ likewise warmup svd implicit-als     # only these models' kernels
"""

from __future__ import annotations

import time

import click


@click.command()
@click.argument("models", nargs=-1, metavar="[MODEL ...]")
@click.option("--processes", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: one per CPU core).")
def warmup(models: tuple[str, ...], processes: int | None) -> None:
    """Compile the kernels of every model (or of MODEL ...) into numba's cache.

    MODEL is a registry name or alias (see `likewise models`). Each model is fitted on a
    tiny synthetic data set and queried once, in parallel worker processes.
    """
    from likewise.evaluation.warmup import warmup as warm

    started = time.perf_counter()
    results = warm(list(models) or None, processes=processes)
    width = max(len(r.model) for r in results)
    for r in results:
        click.echo(f"{r.model:<{width}}  {r.seconds:6.1f} s  {r.status}")
    ok = sum(r.status == "ok" for r in results)
    click.echo(f"{ok} of {len(results)} models warmed in {time.perf_counter() - started:.1f} s "
               "(kernels are in numba's cache now)")
