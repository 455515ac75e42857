"""File-system helpers shared by everything likewise saves (models, indexes)."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from .errors import ModelFormatError

__all__ = ["install_dir", "sha256_file"]


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def install_dir(tmp: Path, path: Path, what: str) -> None:
    """Move the completely written directory ``tmp`` to ``path``.

    A previous likewise save at ``path`` (it has a ``manifest.json``) is replaced: it is
    moved aside first and removed only once the new one is in place, so a failure never
    leaves ``path`` missing or half-written. A non-empty directory that is not a likewise
    save is never touched (``ModelFormatError``).
    """
    if not path.exists():
        os.replace(tmp, path)
        return
    if not (path / "manifest.json").exists() and any(path.iterdir()):
        raise ModelFormatError(f"{path} exists and is not a likewise {what}; refusing to "
                               "overwrite it")
    old = path.with_name(f".{path.name}.old")
    if old.exists():
        shutil.rmtree(old)
    os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old)
