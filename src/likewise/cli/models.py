"""``likewise models``: every model of the registry, and one model's parameters.

Everything printed comes from :mod:`likewise.models.registry` (names, aliases, summaries)
and from each model's parameter rules (type, range, help) and ``__init__`` defaults, so
the listing cannot drift from what ``likewise train --param`` accepts.

Examples
--------
.. code-block:: console

    $ likewise models
    $ likewise models implicit-als
    $ likewise models ContentKNN --format json     # the parameters' JSON Schema
"""

from __future__ import annotations

import json

import click

_DATA_NOTE = ("data: 'ratings' = explicit ratings only; 'any' = ratings or implicit feedback; "
              "'+ metadata' / '+ images' = also item metadata / an image per item; "
              "'sub-models' = what its sub-models fit")


@click.command()
@click.argument("name", required=False, metavar="[NAME]")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True,
              help="json: the list as JSON, or NAME's parameters as a JSON Schema.")
def models(name, fmt):
    """List every model (name, aliases, data, summary), or the parameters of NAME.

    NAME is a model name, alias or class name (implicit-als, ImplicitALS...).
    """
    if name is None:
        _list_models(fmt)
    else:
        _show_model(name, fmt)


def _also(entry) -> str:
    from ..models import registry

    if entry.preset:
        args = ", ".join(f"{k}={v!r}" for k, v in entry.preset)
        return f"= {entry.class_name}({args})"
    return ", ".join(registry.aliases(entry.name))


def _missing_extras(entry) -> list[str]:
    # only requirements that hold whatever the parameters: no model module is imported
    return sorted({r.extra for r in entry.requires if r.param is None and r.missing()})


def _needs(entry) -> list[str]:
    """``likewise[ann] with backend='annoy', 'hnsw' or 'faiss'``: the extras, and when."""
    conditions: dict[str, dict] = {}
    for req in entry.requires:
        by_param = conditions.setdefault(req.extra, {})
        if req.param is None:
            by_param[None] = ()  # always needed: the conditions do not matter
        else:
            by_param.setdefault(req.param, []).extend(req.values)
    out = []
    for extra, by_param in conditions.items():
        if None in by_param:
            out.append(f"likewise[{extra}]")
            continue
        for param, values in by_param.items():
            words = [repr(v) for v in dict.fromkeys(values)]
            alternatives = words[0] if len(words) == 1 else \
                ", ".join(words[:-1]) + " or " + words[-1]
            out.append(f"likewise[{extra}] with {param}={alternatives}")
    return out


def _list_models(fmt: str) -> None:
    from ..models import registry

    all_entries = registry.entries()
    if fmt == "json":
        rows = [{"name": e.name, "class": e.class_name, "aliases": registry.aliases(e.name),
                 "preset": e.params, "data": e.data, "summary": e.summary,
                 "missing_extras": _missing_extras(e)} for e in all_entries]
        click.echo(json.dumps(rows, indent=2))
        return
    rows = [("name", "also", "data", "summary")]
    for e in all_entries:
        missing = _missing_extras(e)
        note = f" (needs likewise[{','.join(missing)}])" if missing else ""
        rows.append((e.name, _also(e), e.data, e.summary + note))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[3])
    click.echo(f"\n{_DATA_NOTE}.\n`likewise models NAME` lists a model's parameters.")


def _show_model(name: str, fmt: str) -> None:
    from ..models import registry

    entry = registry.entry(name)
    if fmt == "json":
        click.echo(json.dumps(registry.json_schema(entry.name), indent=2))
        return
    params = registry.describe(entry.name)
    click.echo(f"{entry.name}: {entry.class_name}")
    click.echo(f"  {entry.summary}")
    if entry.preset:
        click.echo(f"  preset: {_also(entry)[2:]}")
    others = [a for a in registry.aliases(entry.name) if a != entry.class_name]
    if others:
        click.echo(f"  also: {', '.join(others)}")
    click.echo(f"  data: {entry.data}")
    needs = _needs(entry)
    if needs:
        click.echo(f"  needs: {'; '.join(needs)}")
    click.echo("")
    rows = [("parameter", "allowed values", "default", "help")]
    rows += [(p.name, p.text, repr(p.default), p.help) for p in params]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[3])
    example = params[0].name if params else "NAME"
    click.echo(f"\nSet them with: likewise train DATA --model {entry.name} "
               f"--param {example}=VALUE --out MODEL")
