"""``likewise images``: a photo catalogue from a folder, and "the N most similar to this one".

``images index`` embeds every image under a folder with a pretrained CNN and saves an
:class:`~likewise.models.image.ImageSimilarity` model (JSON manifest + arrays);
``images similar`` loads it and prints the catalogue images closest to a query photo.
Unreadable files in the folder are skipped and listed on stderr; an unreadable query photo
is one error line and exit status 2.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click

from ._common import emit_frame

_INSTALL = "pip install 'likewise[image]'"


@contextlib.contextmanager
def _image_extra() -> Iterator[None]:
    """Turn a missing optional module (torch, ONNX Runtime, Pillow...) into one error line
    naming the extra to install, however deep in the embedding code the import is."""
    from ..errors import MissingDependencyError

    try:
        yield
    except MissingDependencyError:
        raise
    except ImportError as exc:
        module = exc.name or str(exc)
        raise MissingDependencyError(f"{module!r} is needed to embed images but is not "
                                     f"installed; install it with: {_INSTALL}") from None


@click.group()
def images():
    """Image catalogues: build from a folder, query with a photo."""


def _search_dim(ctx, param, value: str):
    if value == "auto":
        return "auto"
    try:
        dim = int(value)
    except ValueError:
        raise click.BadParameter(f"expected 'auto' or an integer >= 0, got {value!r}") from None
    if dim < 0:
        raise click.BadParameter(f"expected 'auto' or an integer >= 0, got {value!r}")
    return dim


@images.command("index")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out_path", required=True, metavar="PATH",
              help="Where to save the catalogue model (a directory, or a .zip file).")
@click.option("--model", "model_name", default="efficientnet-lite0", show_default=True,
              help="Embedding network (efficientnet-lite0, or resnet50 with its weights file).")
@click.option("--cache-dir", metavar="DIR",
              help="Keep embeddings by file content: a re-run embeds only new or changed files.")
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True)
@click.option("--search-dim", default="auto", show_default=True, metavar="auto|D",
              callback=_search_dim, help="First-pass search dimension (0: exact search over the full vectors).")
@click.option("--runtime", type=click.Choice(["auto", "onnx", "torch"]), default="auto",
              show_default=True, help="Inference engine (auto: ONNX Runtime when installed).")
@click.option("--progress/--no-progress", default=True, show_default=True)
def index_folder(folder, out_path, model_name, cache_dir, batch_size, search_dim, runtime,
                 progress):
    """Embed every image under FOLDER and save a similarity model to --out."""
    import time

    from ..models.image import ImageSimilarity

    started = time.perf_counter()
    with _image_extra():
        model = ImageSimilarity.from_folder(folder, model=model_name, cache_dir=cache_dir,
                                            batch_size=batch_size, progress=progress,
                                            search_dim=search_dim, runtime=runtime)
    elapsed = time.perf_counter() - started
    for path, reason in model.skipped_:
        click.echo(f"skipped {path}: {reason}", err=True)
    path = model.save(out_path)
    n_images = int(model.has_image_.sum())
    click.echo(f"embedded {n_images:,} images from {folder} in {elapsed:.1f} s"
               f"{f' ({len(model.skipped_)} skipped)' if model.skipped_ else ''}; "
               f"saved to {path}")


@images.command("similar")
@click.argument("model_path", metavar="MODEL")
@click.argument("query", metavar="IMAGE")
@click.option("-n", "--n", "n", type=click.IntRange(1), default=5, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
def similar_to_photo(model_path, query, n, fmt):
    """The N catalogue images of MODEL most similar to the photo IMAGE."""
    from ..errors import ConfigError
    from ..models.base import load

    model = load(model_path, mmap=True)
    if not hasattr(model, "similar_images"):
        raise ConfigError(f"{model_path} holds a {type(model).__name__}, not an image "
                          "catalogue; build one with: likewise images index FOLDER --out PATH")
    with _image_extra():
        result = model.similar_images(query, n=n)
    emit_frame(result.to_frame(), fmt)
