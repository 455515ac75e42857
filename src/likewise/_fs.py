"""The one place likewise puts a file or a folder on disk (models, indexes, caches, reports).

Every write follows the same route, so a crash or an exception never leaves a target
half-written: the content goes to a hidden temporary next to the target (same directory,
so the final rename stays on one file system; ``.NAME.<random>.tmp``), is flushed and
fsynced, then ``os.replace``-d over the target, and the directory is fsynced so the rename
itself is durable. On any exception the temporary is removed and the target is untouched.

Files: :func:`atomic_file` (streaming writers: ``np.save``, zip, PNG, CSV),
:func:`atomic_write_bytes`, :func:`atomic_write_text`. Folders: write into
:func:`staging_dir`, then :func:`install_dir` (replaces a previous likewise save, refuses
anything else) or :func:`publish_dir` (the first complete copy wins; caches). Saved models
and indexes use a stable folder with versioned subfolders instead (:mod:`likewise._artifact`):
:func:`new_version_dir` names them, :func:`locked` serialises their writers and
:func:`move_aside` takes away what ``overwrite=True`` replaces.

Nothing here deletes anything by its name alone: a temporary or a moved-aside original is
named with a random suffix drawn by the process that created it, and only that process
removes it.

No NumPy here: the CLI imports this module for commands that must start fast.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .errors import ModelFormatError

__all__ = [
    "atomic_file",
    "atomic_write_bytes",
    "atomic_write_text",
    "fsync_dir",
    "fsync_file",
    "fsync_tree",
    "install_dir",
    "is_version_name",
    "locked",
    "move_aside",
    "new_version_dir",
    "publish_dir",
    "remove_path",
    "sha256_file",
    "staging_dir",
]

_CHUNK = 1 << 20
_MODES = ("wb", "w")


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks.

    Parameters
    ----------
    path : path
        The file to hash.

    Returns
    -------
    str
        64 lowercase hex digits.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------
# durability
# ---------------------------------------------------------------------------------------
def fsync_file(path: str | os.PathLike) -> None:
    """Flush a closed file's data to the disk.

    Parameters
    ----------
    path : path
        A regular file (opened read-write: Windows refuses to commit a read-only handle).
    """
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike) -> None:
    """Make the entries of a directory (a rename into it) durable.

    Parameters
    ----------
    path : path
        The directory. Windows cannot open a directory for this and makes renames durable
        on its own, so there it does nothing.
    """
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """fsync every file and directory under ``root`` (the staging folder before install)."""
    for folder, _, files in os.walk(root):
        for name in files:
            fsync_file(Path(folder) / name)
        fsync_dir(folder)


# ---------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------
def _temp_path(path: Path, suffix: str = "tmp") -> Path:
    # hidden, next to the target (same file system for os.replace), unique per writer
    return path.with_name(f".{path.name}.{secrets.token_hex(8)}.{suffix}")


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb", *, encoding: str | None = None,
                newline: str | None = None) -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` only when the block ends without error.

    Parameters
    ----------
    path : path
        The target. Its directory must exist.
    mode : {"wb", "w"}
        Binary or text.
    encoding, newline : str, optional
        As for :func:`open` (text mode only; ``encoding`` defaults to UTF-8 there).

    Yields
    ------
    file object
        Write the whole content to it. A writer may close it itself.

    Examples
    --------
    >>> with atomic_file("arr.npy") as fh:  # doctest: +SKIP
    ...     np.save(fh, arr, allow_pickle=False)
    """
    if mode not in _MODES:
        raise ValueError(f"atomic_file: mode must be one of {_MODES}, got {mode!r}")
    path = Path(path)
    tmp = _temp_path(path)
    fh: IO
    if mode == "w":
        fh = open(tmp, "x", encoding=encoding or "utf-8", newline=newline)
    else:
        fh = open(tmp, "xb")
    try:
        with fh:
            yield fh
        fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (see :func:`atomic_file`).

    Parameters
    ----------
    path : path
        The target; its directory must exist.
    data : bytes
        The complete new content.
    """
    with atomic_file(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``text`` atomically (see :func:`atomic_file`).

    Parameters
    ----------
    path : path
        The target; its directory must exist.
    text : str
        The complete new content.
    encoding : str
        Text encoding.
    """
    with atomic_file(path, "w", encoding=encoding) as fh:
        fh.write(text)


# ---------------------------------------------------------------------------------------
# folders
# ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def staging_dir(path: str | os.PathLike) -> Iterator[Path]:
    """A fresh hidden folder next to ``path`` to write a folder's content into.

    Hand it to :func:`install_dir` or :func:`publish_dir` inside the block; whatever is
    left of it when the block ends (an exception, or a copy that lost a race) is removed.

    Parameters
    ----------
    path : path
        The folder that will be written; its parent must exist.

    Yields
    ------
    Path
        The empty staging folder.
    """
    tmp = _temp_path(Path(path))
    tmp.mkdir()
    try:
        yield tmp
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def install_dir(tmp: Path, path: Path, what: str, *, marker: str = "manifest.json") -> None:
    """Move the completely written folder ``tmp`` to ``path``, durably.

    A previous likewise save at ``path`` (it has a ``marker`` file) is replaced: it is
    moved aside first, moved back if the new one cannot be put in place, and removed only
    once the new one is there. A file, or a non-empty folder that is not a likewise save,
    is never touched (``ModelFormatError``).

    Parameters
    ----------
    tmp : Path
        The staging folder (see :func:`staging_dir`), on the same file system as ``path``.
    path : Path
        The target folder.
    what : str
        What is saved ("model", "index", ...), for the error message.
    marker : str
        The file every save of this kind contains.
    """
    tmp, path = Path(tmp), Path(path)
    _fsync_tree(tmp)
    if not path.exists():
        os.replace(tmp, path)
        fsync_dir(path.parent)
        return
    if not path.is_dir() or (not (path / marker).exists() and any(path.iterdir())):
        raise ModelFormatError(f"{path} exists and is not a likewise {what}; refusing to "
                               "overwrite it")
    # a random name drawn here: a user's folder called like a backup is never touched
    old = _temp_path(path, "old")
    os.replace(path, old)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.replace(old, path)
        raise
    fsync_dir(path.parent)
    shutil.rmtree(old)


def publish_dir(tmp: Path, path: Path) -> bool:
    """Move the completely written folder ``tmp`` to ``path`` unless one is already there.

    For caches that many processes may fill at once: the first complete copy wins and
    later ones are dropped (the caller's :func:`staging_dir` removes them).

    Parameters
    ----------
    tmp : Path
        The staging folder, on the same file system as ``path``.
    path : Path
        The target folder.

    Returns
    -------
    bool
        True when ``tmp`` became ``path``; False when another copy was already in place.
    """
    tmp, path = Path(tmp), Path(path)
    _fsync_tree(tmp)
    try:
        os.replace(tmp, path)
    except OSError:
        if path.is_dir():
            return False
        raise
    fsync_dir(path.parent)
    return True


# ---------------------------------------------------------------------------------------
# stable folders with versioned content (saved models and indexes)
# ---------------------------------------------------------------------------------------
#: ``v-<UTC time>-<16 random hex digits>``: one complete save inside a stable folder.
_VERSION_NAME = re.compile(r"v-\d{8}T\d{6}Z-[0-9a-f]{16}")


def is_version_name(name: str) -> bool:
    """Whether ``name`` is a version subfolder name made by :func:`new_version_dir`."""
    return isinstance(name, str) and _VERSION_NAME.fullmatch(name) is not None


def new_version_dir(root: str | os.PathLike) -> Path:
    """Create an empty, uniquely named version subfolder in the stable folder ``root``.

    Parameters
    ----------
    root : path
        The stable folder (it must exist).

    Returns
    -------
    Path
        ``root/v-<UTC time>-<random>``; the time keeps a listing readable, the random part
        makes the name unguessable and unique per writer.
    """
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = Path(root) / f"v-{stamp}-{secrets.token_hex(8)}"
    path.mkdir()
    return path


def fsync_tree(root: str | os.PathLike) -> None:
    """fsync every file and directory under ``root`` (a folder about to be published)."""
    _fsync_tree(Path(root))


@contextlib.contextmanager
def locked(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on the existing folder ``path`` while the block runs.

    The lock is ``flock`` on the folder itself, so it leaves no lock file behind and the
    kernel releases it when the holder dies (``kill -9`` included). If ``path`` was
    replaced by another folder while this process waited, the new one is locked instead.

    Parameters
    ----------
    path : path
        A directory that stays in place while writers use it (a stable model folder, or
        the folder a ``.zip`` model is written into). On Windows, which cannot lock a
        folder, writers are not serialised.
    """
    try:
        import fcntl
    except ImportError:  # Windows has neither flock nor folder descriptors
        yield
        return
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
    while True:
        fd = os.open(path, flags)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held, now = os.fstat(fd), os.stat(path)
        except BaseException:
            os.close(fd)
            raise
        if (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino):
            break
        os.close(fd)  # the folder was swapped while we waited: lock the one now there
    try:
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the flock


def move_aside(path: str | os.PathLike) -> Path:
    """Rename ``path`` to a hidden, randomly named sibling (what ``overwrite=True`` replaces).

    The caller removes the returned path with :func:`remove_path` once the replacement is
    in place; after a crash it stays, with the user's data in it.

    Parameters
    ----------
    path : path
        A file or folder.

    Returns
    -------
    Path
        ``.NAME.<random>.replaced`` next to ``path``.
    """
    path = Path(path)
    aside = _temp_path(path, "replaced")
    os.replace(path, aside)
    fsync_dir(path.parent)
    return aside


def remove_path(path: str | os.PathLike) -> None:
    """Remove a file, a symlink or a whole folder (symlinks are removed, never followed)."""
    path = Path(path)
    with contextlib.suppress(FileNotFoundError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()
