"""The ``likewise`` command line.

Subcommands live in their own modules and load only when run, so ``likewise --help`` is
instant. Errors users can fix (bad data, bad options, missing extras) print one line on
stderr and exit with status 2; there is never a traceback for them.
"""

from __future__ import annotations

import importlib
import sys

import click

# command name -> "module:attribute"; a module is imported only when its command runs
COMMANDS = {
    "compare": ("likewise.cli.compare:compare", "Compare models on equal splits; write reports."),
    "data": ("likewise.cli.data:data", "Inspect, filter and split interaction data."),
    "images": ("likewise.cli.images:images",
               "Image catalogues: build from a folder, query with a photo."),
    "index": ("likewise.cli.index:index", "Build, inspect and query neighbour-search indexes."),
    "models": ("likewise.cli.models:models",
               "List the models, or one model's parameters (NAME; --format json: JSON Schema)."),
    "recommend": ("likewise.cli.model:recommend", "Top-N items for users of a saved model."),
    "similar": ("likewise.cli.model:similar", "Items most similar to items, from a saved model."),
    "train": ("likewise.cli.model:train", "Fit a model on data and save it."),
    "quickstart": ("likewise.cli.quickstart:quickstart",
                   "Train and compare models on the embedded MovieLens 100K."),
    "tune": ("likewise.cli.tune:tune", "Grid or random search of a model's parameters by CV."),
    "warmup": ("likewise.cli.warmup:warmup",
               "Compile the models' kernels once into numba's cache (Docker, CI)."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        target = COMMANDS[name][0]
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx, formatter):
        # help text without importing the command modules
        rows = [(name, COMMANDS[name][1]) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="likewise")
def cli():
    """likewise: fast, honest recommendations.

    Data arguments accept a file (CSV, TSV, Parquet, optionally gzipped) or the name of
    an embedded data set (movielens-100k).
    """


def main(argv=None) -> int:
    """Entry point: run the CLI, turning likewise errors into one line and exit status 2."""
    import warnings

    from ..errors import LikewiseError

    previous = warnings.showwarning
    warnings.showwarning = _one_line_warning  # a terminal gets "likewise: warning: ...", not source lines
    try:
        cli.main(args=argv, prog_name="likewise", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("likewise: aborted", err=True)
        return 130
    except click.exceptions.ClickException as exc:
        exc.show()
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except LikewiseError as exc:
        click.echo(f"likewise: error: {exc}", err=True)
        return 2
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        click.echo(f"likewise: error: {exc.filename or ''}: {exc.strerror}", err=True)
        return 2
    except KeyboardInterrupt:
        click.echo("likewise: interrupted", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - last resort: one line, never a traceback
        import os

        if os.environ.get("LIKEWISE_DEBUG"):
            raise
        click.echo(f"likewise: internal error: {type(exc).__name__}: {exc} (this is a bug; "
                   "rerun with LIKEWISE_DEBUG=1 for the traceback and report it)", err=True)
        return 1
    finally:
        warnings.showwarning = previous
    return 0


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    click.echo(f"likewise: warning: {message}", err=True)


def run() -> None:  # pragma: no cover - console script shim
    sys.exit(main())
