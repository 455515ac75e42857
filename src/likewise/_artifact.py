"""Saved artifacts (models, indexes): ``.npy`` arrays plus a JSON manifest with checksums.

One writer and one reader for every kind of save, so the format rules live once.

Layout (format 2). A saved folder is a stable folder that holds one complete save at a
time::

    model/
      manifest.json          the manifest; "files_dir" names the version subfolder
      v-<time>-<random>/     the arrays (and an index backend's native files)

A save writes a new version subfolder, fsyncs it, then replaces ``manifest.json`` with one
atomic rename (:func:`likewise._fs.atomic_write_text`); only then is the superseded
version removed. So a reader, at any instant and after any crash, finds either the complete
old save or the complete new one. Writers of one folder serialise on a lock of the folder
(:func:`likewise._fs.locked`); readers take no lock. A ``.zip`` save is one file with the
arrays and the manifest side by side, written to a temporary next to it and renamed.
Format 1 folders (arrays and ``manifest.json`` side by side, written before) still load, and
a save over one replaces it the same safe way.

The manifest names the format and its version, holds the SHA-256 of every file under
``"checksums"``, the dtype and shape of every array under ``"npy"`` and its own SHA-256
(``"manifest_sha256"``, over its canonical JSON). Arrays are stored with
``np.save(..., allow_pickle=False)``; nothing is ever pickled.

What reading checks, before any array is used:

- every file name is a plain name inside the save (no ``/``, ``\\``, ``..``, leading dot,
  NUL), checked before any file is opened; files are opened relative to the save's folder
  without following symbolic links, and only regular files are read (a link to
  ``/dev/zero`` or a FIFO is refused, never read);
- every array's ``.npy`` header agrees with the manifest (dtype, shape) and with the
  file's size before its data is read; only plain numeric, boolean and string dtypes load;
- checksums of every file and of the manifest itself (``verify=True``);
- zip members: plain names, stored or deflated only, sizes within limits before anything
  is inflated.

What the manifest says beyond that (model classes, index backends) belongs to the
callers (``models._persistence``, ``index``), which check their own invariants. This module
sits in the foundation so both can use it; it imports nothing else from likewise but
``_fs`` and ``errors``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import math
import os
import re
import stat
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from ._fs import (
    atomic_file,
    atomic_write_text,
    fsync_dir,
    fsync_tree,
    is_version_name,
    locked,
    move_aside,
    new_version_dir,
    remove_path,
    sha256_file,
)
from .errors import ModelFormatError

__all__ = ["ArtifactReader", "LAYOUT_VERSION", "MANIFEST", "check_name", "files_dir",
           "write_artifact"]

#: The manifest's file name inside every saved folder or zip.
MANIFEST = "manifest.json"
#: The first format version with the stable-folder layout; writers save at least this.
LAYOUT_VERSION = 2
#: The largest manifest read (it holds parameters and JSON state, never arrays).
MANIFEST_LIMIT = 256 << 20
#: A zip may inflate to at most this many times its own size (plus ``ZIP_SLACK``).
ZIP_MAX_RATIO = 100
ZIP_SLACK = 64 << 20

_DIGEST = "manifest_sha256"
_HEX64 = re.compile(r"[0-9a-f]{64}")
# a pointer write interrupted by a crash leaves this temporary in the stable folder
_POINTER_TEMP = re.compile(r"\.manifest\.json\.[0-9a-f]{16}\.tmp")
_DTYPE_KINDS = "biufcUS"  # plain numbers, booleans and strings: never objects or records
_CHUNK = 16 << 20
_HASH_CHUNK = 1 << 20
_RETRIES = 20  # pointer re-reads when a concurrent save replaced the version being opened

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_READ_FLAGS = (os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0)
               | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
_DIR_FLAGS = (os.O_RDONLY | _NOFOLLOW | getattr(os, "O_DIRECTORY", 0)
              | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
_AT = os.open in os.supports_dir_fd and os.stat in os.supports_dir_fd


# ---------------------------------------------------------------------------------------
# names
# ---------------------------------------------------------------------------------------
def check_name(name: Any, where: str) -> str:
    """``name`` if it is a plain file name inside a save, else :class:`ModelFormatError`.

    Parameters
    ----------
    name : object
        A file or folder name read from a manifest (or a zip member name).
    where : str
        The save, for the message.

    Returns
    -------
    str
        ``name``.
    """
    if (not isinstance(name, str) or not name or len(name) > 255 or name.startswith(".")
            or any(c in name for c in "/\\:\0") or name != name.strip()):
        raise ModelFormatError(f"{where}: the manifest names the file {name!r}, which is not "
                               "a plain file name inside the save; the save was modified or "
                               "is not a likewise save, refusing to read it")
    return name


def _canonical(manifest: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in manifest.items() if k != _DIGEST}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _sealed(manifest: Mapping[str, Any]) -> dict:
    return {**manifest, _DIGEST: hashlib.sha256(_canonical(manifest)).hexdigest()}


# ---------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------
class _HashingWriter(io.RawIOBase):
    """A write-only stream that hashes what passes through it (zip members)."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self.digest = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.digest.update(data)
        self._out.write(data)
        return len(memoryview(data))


def _array_bytes(arr: np.ndarray) -> np.ndarray:
    """The raw bytes ``np.save`` writes after the header of a C-contiguous array."""
    return arr.reshape(-1).view(np.uint8)


def _spec(arr: np.ndarray) -> dict:
    return {"dtype": arr.dtype.str, "shape": list(arr.shape)}


def _write_npy(folder: Path, fname: str, arr: np.ndarray) -> str:
    """Write one array; its SHA-256 is computed from memory, not by reading the file back."""
    with open(folder / fname, "w+b") as fh:
        np.save(fh, arr, allow_pickle=False)
        header_len = fh.tell() - arr.nbytes
        fh.seek(0)
        digest = hashlib.sha256(fh.read(header_len))
    digest.update(_array_bytes(arr))
    return digest.hexdigest()


def _contiguous(arrays: Mapping[str, np.ndarray], where: str) -> dict[str, np.ndarray]:
    out = {}
    for fname, arr in arrays.items():
        check_name(fname, where)
        arr = np.ascontiguousarray(arr)
        if arr.dtype.kind not in _DTYPE_KINDS or arr.dtype.fields is not None:
            raise ValueError(f"{fname}: cannot save an array of dtype {arr.dtype} without "
                             "pickle; store numbers, booleans or strings")
        out[fname] = arr
    return out


def write_artifact(path: str | os.PathLike, manifest: Mapping[str, Any],
                   arrays: Mapping[str, np.ndarray], *, what: str,
                   extra_files: Callable[[Path], Iterable[str]] | None = None,
                   as_zip: bool = False, overwrite: bool = False,
                   owned: Callable[[Mapping[str, Any]], bool] | None = None) -> Path:
    """Write ``arrays`` and ``manifest`` (plus checksums) to ``path`` atomically.

    Parameters
    ----------
    path : path
        The target folder (or ``.zip`` file with ``as_zip``); its parent is created.
    manifest : mapping
        JSON-ready content with ``"format"`` and an int ``"format_version"`` of at least
        :data:`LAYOUT_VERSION`; ``"checksums"``, ``"npy"``, ``"files_dir"`` and
        ``"manifest_sha256"`` are added.
    arrays : mapping of str to ndarray
        File name (``"x.npy"``) -> array, written without pickle (object arrays fail).
    what : str
        What is saved ("model", "index"), for error messages.
    extra_files : callable, optional
        Called with the folder the arrays went to; writes more files there (a backend's
        native index) and returns their names, which get checksums. Folders only.
    as_zip : bool
        Pack everything into one uncompressed zip instead of a folder.
    overwrite : bool
        Replace whatever is at ``path`` even when it is not a likewise save of this
        format (without it, only such a save is ever replaced).
    owned : callable, optional
        Extra test that an existing save's manifest is one this caller may replace (a
        model's class is in the registry); the format and version are always checked.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ModelFormatError
        ``path`` exists and is not a likewise save of this format (and not ``overwrite``).
    """
    path = Path(path)
    version = manifest.get("format_version")
    if not isinstance(version, int) or version < LAYOUT_VERSION:
        raise ValueError(f"write_artifact: format_version must be an int >= {LAYOUT_VERSION}, "
                         f"got {version!r}")
    if as_zip and extra_files is not None:
        raise ValueError("write_artifact: extra_files are only supported for folders")
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = _contiguous(arrays, str(path))
    target = _Target(path, what, str(manifest.get("format")), version, owned, as_zip)
    aside = target.claim(overwrite)
    if as_zip:
        target.write_zip(manifest, arrays)
    else:
        target.write_folder(manifest, arrays, extra_files)
    if aside is not None:
        remove_path(aside)  # what overwrite=True replaced, renamed aside by this process
    return path


class _Target:
    """Where a save goes, and whether what is there now may be replaced."""

    def __init__(self, path: Path, what: str, format: str, version: int,
                 owned: Callable[[Mapping[str, Any]], bool] | None, as_zip: bool) -> None:
        self.path, self.what, self.format, self.version = path, what, format, version
        self.owned, self.as_zip = owned, as_zip

    # -- is it ours? ---------------------------------------------------------------------
    def claim(self, overwrite: bool) -> Path | None:
        """Refuse a target that is not ours; with ``overwrite``, move it aside instead."""
        if not os.path.lexists(self.path):
            return None
        reason, _ = self.inspect()
        if reason is None:
            return None
        if overwrite:
            return move_aside(self.path)
        raise self.refusal(reason)

    def refusal(self, reason: str) -> ModelFormatError:
        return ModelFormatError(
            f"{self.path} exists and is not a likewise {self.what} ({reason}); refusing to "
            "overwrite it. Choose another path, or pass overwrite=True (--force on the "
            "command line) to replace it")

    def inspect(self) -> tuple[str | None, dict | None]:
        """``(None, manifest or None)`` when the target may be replaced, else
        ``(why not, None)``. A missing target or an empty folder may be replaced."""
        if not os.path.lexists(self.path):
            return None, None
        if self.as_zip:
            if not self.path.is_file():
                return "not a file", None
            try:
                with ArtifactReader(self.path, what=self.what, format=self.format,
                                    format_version=self.version, allow_zip=True) as saved:
                    return self._owned(saved.manifest)
            except ModelFormatError as exc:
                return _short(exc, self.path), None
        if not self.path.is_dir():
            return "not a folder", None
        try:
            names = os.listdir(self.path)
        except OSError as exc:
            return f"cannot list it: {exc.strerror}", None
        if MANIFEST not in names:
            foreign = [n for n in names if not _is_debris(n)]
            return (None, None) if not foreign else (f"no {MANIFEST} in it", None)
        try:
            manifest = _read_pointer(self.path, self.what, self.format, self.version)
        except ModelFormatError as exc:
            return _short(exc, self.path), None
        return self._owned(manifest)

    def _owned(self, manifest: dict) -> tuple[str | None, dict | None]:
        if self.owned is not None and not self.owned(manifest):
            return f"its manifest names {manifest.get('class')!r}", None
        return None, manifest

    def _recheck(self) -> dict | None:
        """Under the lock: what is there now (another process may have saved meanwhile)."""
        reason, manifest = self.inspect()
        if reason is not None:
            raise self.refusal(reason)
        return manifest

    # -- folders -----------------------------------------------------------------------
    def write_folder(self, manifest: Mapping[str, Any], arrays: dict[str, np.ndarray],
                     extra_files: Callable[[Path], Iterable[str]] | None) -> None:
        path = self.path
        path.mkdir(exist_ok=True)
        with locked(path):
            previous = self._recheck()
            version = new_version_dir(path)
            try:
                checksums = {f: _write_npy(version, f, a) for f, a in arrays.items()}
                for fname in (extra_files(version) if extra_files is not None else ()):
                    checksums[check_name(fname, str(path))] = sha256_file(version / fname)
                full = _sealed({**manifest, "files_dir": version.name, "checksums": checksums,
                                "npy": {f: _spec(a) for f, a in arrays.items()}})
                fsync_tree(version)
                fsync_dir(path)
                # the switch: one atomic rename of the manifest (fsynced, directory too)
                atomic_write_text(path / MANIFEST, json.dumps(full, indent=1, sort_keys=True))
            except BaseException:
                remove_path(version)
                raise
            _remove_superseded(path, previous, version.name)

    # -- zips --------------------------------------------------------------------------
    def write_zip(self, manifest: Mapping[str, Any], arrays: dict[str, np.ndarray]) -> None:
        with locked(self.path.parent):
            self._recheck()
            with atomic_file(self.path, "wb") as fh, \
                    zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
                checksums = {}
                for fname, arr in sorted(arrays.items()):
                    big = arr.nbytes > (1 << 30)
                    with zf.open(fname, "w", force_zip64=big) as member:
                        out = _HashingWriter(member)
                        np.save(out, arr, allow_pickle=False)
                    checksums[fname] = out.digest.hexdigest()
                full = _sealed({**manifest, "checksums": checksums,
                                "npy": {f: _spec(a) for f, a in arrays.items()}})
                zf.writestr(MANIFEST, json.dumps(full, indent=1, sort_keys=True))


def _short(exc: ModelFormatError, path: Path) -> str:
    """A reader's message without the leading path (the refusal names it already)."""
    text = str(exc)
    for prefix in (f"{path}: ", f"{path}/", f"{path}:"):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


def _is_debris(name: str) -> bool:
    """What an interrupted save leaves inside a stable folder (and only there)."""
    return is_version_name(name) or _POINTER_TEMP.fullmatch(name) is not None


def _remove_superseded(path: Path, previous: dict | None, current: str) -> None:
    """After the switch: remove the replaced save and what interrupted saves left.

    Only inside the stable folder, which is provably a likewise save: the previous save's
    own files (format 1: the names its manifest lists), version folders other than the
    current one and interrupted manifest writes. Anything else in the folder is left.
    """
    if previous is not None and previous.get("format_version") == 1:
        for fname in previous.get("checksums", {}):
            member = path / fname
            if member.is_file() and not member.is_symlink():
                remove_path(member)
    for name in os.listdir(path):
        if name == current or not _is_debris(name):
            continue
        member = path / name
        if is_version_name(name) and not (member.is_dir() and not member.is_symlink()):
            continue
        remove_path(member)


def _read_pointer(path: Path, what: str, format: str, version: int) -> dict:
    with ArtifactReader(path, what=what, format=format, format_version=version,
                        open_files=False) as saved:
        return saved.manifest


def files_dir(path: str | os.PathLike) -> Path:
    """The folder that holds a saved folder's files now (format 2: its version folder).

    Parameters
    ----------
    path : path
        A saved folder.

    Returns
    -------
    Path
    """
    path = Path(path)
    manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    sub = manifest.get("files_dir") if manifest.get("format_version", 1) >= 2 else None
    return path / check_name(sub, str(path)) if sub is not None else path


# ---------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------
def _open_at(name: str, dir_fd: int, folder: Path, *, directory: bool = False) -> int:
    """Open ``name`` in a folder without following a symlink; only a regular file (or,
    with ``directory``, a real folder) is accepted. Raises FileNotFoundError or
    :class:`_NotPlain`."""
    if _AT:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    else:
        st = os.lstat(folder / name)
    want = stat.S_ISDIR if directory else stat.S_ISREG
    if not want(st.st_mode):
        raise _NotPlain(name, st.st_mode)
    if directory and not _AT:
        return -1  # no folder descriptors here (Windows): members are opened by path
    flags = _DIR_FLAGS if directory else _READ_FLAGS
    fd = os.open(name, flags, dir_fd=dir_fd) if _AT else os.open(folder / name, flags)
    if not want(os.fstat(fd).st_mode):  # swapped between the stat and the open
        mode = os.fstat(fd).st_mode
        os.close(fd)
        raise _NotPlain(name, mode)
    return fd


class _NotPlain(Exception):
    def __init__(self, name: str, mode: int) -> None:
        super().__init__(name)
        self.name = name
        if stat.S_ISLNK(mode):
            self.kind = "a symbolic link (a saved file must be a regular file inside the save)"
        elif stat.S_ISDIR(mode):
            self.kind = "a folder, not a regular file"
        elif stat.S_ISREG(mode):
            self.kind = "a regular file, not a folder"
        else:
            self.kind = "not a regular file (a device, FIFO or socket)"


def _read_fd(fd: int, limit: int, member: str) -> bytes:
    size = os.fstat(fd).st_size
    if size > limit:
        raise ModelFormatError(f"{member} is {size:,} bytes, more than the {limit:,} a "
                               "manifest may have; refusing to read it")
    with io.FileIO(os.dup(fd), "rb") as fh:
        return fh.read(limit + 1)


@functools.lru_cache(maxsize=4096)
def _expected_header(dtype: str, shape: tuple[int, ...]) -> bytes | None:
    """The exact header ``np.save`` writes for a C-ordered array of this dtype and shape
    (None when the dtype is not one a save may hold)."""
    try:
        parsed = np.dtype(dtype)
    except (TypeError, ValueError):
        return None
    if _dtype_problem(parsed) is not None or parsed.str != dtype:
        return None
    out = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(
            out, {"descr": np.lib.format.dtype_to_descr(parsed), "fortran_order": False,
                  "shape": shape})
    except ValueError:  # a header too long for format 1.0: parse the file's own
        return None
    return out.getvalue()


def _dtype_problem(dtype: np.dtype) -> str | None:
    if (dtype.kind not in _DTYPE_KINDS or dtype.fields is not None or dtype.hasobject
            or dtype.subdtype is not None or dtype.itemsize == 0):
        return (f"holds dtype {dtype}; a likewise save holds only numbers, booleans and "
                "strings")
    return None


class _Header:
    """A ``.npy`` file's header, checked: dtype, shape, order and where the data starts.

    ``raw`` is the header's bytes (they are part of the file's checksum). When the manifest
    describes the array, the header ``np.save`` writes for that description is compared
    byte for byte first (no parsing); anything else is parsed by NumPy and checked.
    """

    def __init__(self, fh: IO[bytes], spec: Mapping[str, Any] | None, member: str) -> None:
        expected = None if spec is None else _expected_header(spec["dtype"],
                                                              tuple(spec["shape"]))
        if expected is not None:
            raw = fh.read(len(expected))
            if raw == expected:
                self._set(np.dtype(spec["dtype"]), tuple(spec["shape"]), False, raw)
                return
            fh.seek(0)
        self._parse(fh, member)
        problem = _dtype_problem(self.dtype)
        if problem is not None:
            raise ModelFormatError(f"{member} {problem}")
        if spec is not None and (spec["dtype"] != self.dtype.str
                                 or list(spec["shape"]) != list(self.shape)
                                 or self.fortran):
            raise ModelFormatError(
                f"{member} holds a {self.dtype.str} array of shape {self.shape}, but the "
                f"manifest says {spec['dtype']} of shape {tuple(spec['shape'])}; the save was "
                "modified or corrupted")

    def _parse(self, fh: IO[bytes], member: str) -> None:
        try:
            major, minor = np.lib.format.read_magic(fh)
            if (major, minor) == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            elif (major, minor) == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ValueError(f"unsupported .npy version {major}.{minor}")
            offset = fh.tell()
            fh.seek(0)
            raw = fh.read(offset)
        except Exception as exc:  # noqa: BLE001 - NumPy parses the header text; any
            # failure of that parse (ValueError, SyntaxError, tokenize.TokenError...) means
            # the file is not an array this loader reads
            raise ModelFormatError(f"{member} is not a readable .npy array "
                                   f"({type(exc).__name__}: {exc})") from None
        self._set(dtype, tuple(shape), bool(fortran), raw)

    def _set(self, dtype: np.dtype, shape: tuple, fortran: bool, raw: bytes) -> None:
        self.dtype, self.shape, self.fortran, self.raw = dtype, shape, fortran, raw
        self.count = math.prod(shape)
        self.nbytes = self.count * dtype.itemsize
        self.offset = len(raw)

    def check_size(self, size: int, member: str) -> None:
        if size != self.offset + self.nbytes:
            raise ModelFormatError(
                f"{member} is {size:,} bytes, but its header describes {self.nbytes:,} bytes "
                f"of data after a {self.offset}-byte header: the file is truncated or was "
                "modified")

    def fill(self, read_into: Callable[[memoryview], int | None], digest) -> np.ndarray:
        """Read the data (after the header) into a new array, hashing it on the way."""
        flat = np.empty(self.count, dtype=self.dtype)
        view = memoryview(flat.view(np.uint8))
        done = 0
        while done < self.nbytes:
            got = read_into(view[done:done + _CHUNK])
            if not got:
                raise ModelFormatError("unexpected end of data")
            if digest is not None:
                digest.update(view[done:done + got])
            done += got
        if self.fortran and len(self.shape) > 1:
            return flat.reshape(self.shape[::-1]).transpose()
        return flat.reshape(self.shape)


def _hash_stream(fh: IO[bytes], digest) -> None:
    """Feed a whole stream to ``digest`` through one reused buffer (no allocation per read)."""
    buffer = bytearray(_HASH_CHUNK)
    view = memoryview(buffer)
    while True:
        got = fh.readinto(view)
        if not got:
            return
        digest.update(view[:got])


class ArtifactReader:
    """An opened save: its checked manifest and checksum-verified arrays.

    Opening a folder reads ``manifest.json``, checks every file name it lists and opens
    them all (relative to the folder, no symlinks, regular files only) before anything is
    read, so a concurrent save that replaces the folder's content cannot pull a file away
    half-way: when that happens the manifest is read again.

    Parameters
    ----------
    path : path
        A folder, or (with ``allow_zip``) a ``.zip`` file, written by
        :func:`write_artifact` (or a format 1 folder).
    what : str
        What is loaded ("model", "index"), for error messages.
    format : str
        The manifest's expected ``"format"`` (``"likewise.model"``).
    format_version : int
        The newest ``"format_version"`` this likewise reads.
    allow_zip : bool
        Accept a zip file as well as a folder.
    open_files : bool
        Open the listed files too (False: only read and check the manifest).
    verify : bool
        Whether :meth:`array`, :meth:`verify_files` and :meth:`check_manifest_digest`
        compare checksums when not told otherwise.

    Raises
    ------
    ModelFormatError
        Missing path or manifest, invalid JSON, another format, a newer version, a file
        name that is not a plain name, a symlink or non-regular file, a zip that is too
        large or uses another compression.

    Examples
    --------
    >>> with ArtifactReader(path, what="model", format="likewise.model",
    ...                     format_version=2, allow_zip=True) as saved:  # doctest: +SKIP
    ...     ids = saved.array("users_.npy", mmap=True)
    """

    def __init__(self, path: str | os.PathLike, *, what: str, format: str,
                 format_version: int, allow_zip: bool = False,
                 open_files: bool = True, verify: bool = True) -> None:
        self.path = Path(path)
        self.what = what
        self.verify = verify
        self._zip: zipfile.ZipFile | None = None
        self._fds: dict[str, int] = {}
        self._is_zip = self.path.is_file()
        try:
            if self._is_zip:
                self._open_zip(allow_zip, format, format_version)
            elif not os.path.lexists(self.path) and allow_zip:
                raise ModelFormatError(f"{self.path}: no such {what} file or directory")
            else:
                self._open_folder(format, format_version, open_files)
        except BaseException:
            self.close()
            raise
        self._verified: set[str] = set()

    # -- opening -------------------------------------------------------------------------
    def _open_folder(self, format: str, format_version: int, open_files: bool) -> None:
        try:
            if _AT:
                root = os.open(self.path, _DIR_FLAGS & ~_NOFOLLOW)  # the path may be a link
            elif os.path.isdir(self.path):
                root = -1  # no folder descriptors here (Windows): members opened by path
            else:
                raise (NotADirectoryError if os.path.lexists(self.path) else
                       FileNotFoundError)(2, "not a folder", str(self.path))
        except (FileNotFoundError, NotADirectoryError) as exc:
            if os.path.lexists(self.path) and not isinstance(exc, FileNotFoundError):
                raise ModelFormatError(f"{self.path}: not a likewise {self.what} (not a "
                                       "directory or a regular file)") from None
            raise ModelFormatError(f"{self.path}: no likewise {self.what} here (missing "
                                   f"{MANIFEST})") from None
        self._root = root
        for attempt in range(_RETRIES):
            raw = self._pointer_bytes()
            self.manifest = self._parse(raw, format, format_version)
            if not open_files:
                return
            try:
                self._open_members()
                return
            except FileNotFoundError as exc:
                self._close_members()
                if attempt + 1 < _RETRIES and self._pointer_bytes(missing_ok=True) != raw:
                    continue  # a save replaced the content meanwhile: read the new one
                raise ModelFormatError(f"{self.path}: missing {exc.filename}") from None

    def _pointer_bytes(self, missing_ok: bool = False) -> bytes | None:
        try:
            fd = _open_at(MANIFEST, self._root, self.path)
        except FileNotFoundError:
            if missing_ok:
                return None
            raise ModelFormatError(f"{self.path}: no likewise {self.what} here (missing "
                                   f"{MANIFEST})") from None
        except _NotPlain as exc:
            raise ModelFormatError(f"{self.path}/{MANIFEST} is {exc.kind}") from None
        try:
            return _read_fd(fd, MANIFEST_LIMIT, f"{self.path}/{MANIFEST}")
        finally:
            os.close(fd)

    def _open_members(self) -> None:
        sub = self._files_dir
        if sub is None:
            files, folder = (os.dup(self._root) if self._root >= 0 else -1), self.path
        else:
            folder = self.path / sub
            try:
                files = _open_at(sub, self._root, self.path, directory=True)
            except FileNotFoundError:
                raise FileNotFoundError(2, "missing", sub) from None
            except _NotPlain as exc:
                raise ModelFormatError(f"{folder} is {exc.kind}") from None
        self._fds["."] = files
        for fname in self.checksums:
            try:
                self._fds[fname] = _open_at(fname, files, folder)
            except FileNotFoundError:
                raise FileNotFoundError(2, "missing", fname) from None
            except _NotPlain as exc:
                raise ModelFormatError(f"{self._member(fname)} is {exc.kind}; refusing to "
                                       "read it") from None
        self._folder = folder

    def _open_zip(self, allow_zip: bool, format: str, format_version: int) -> None:
        expected = "a directory or .zip" if allow_zip else "a directory"
        fd = os.open(self.path, _READ_FLAGS & ~_NOFOLLOW)
        fh = io.FileIO(fd, "rb")
        if not (allow_zip and stat.S_ISREG(os.fstat(fd).st_mode) and zipfile.is_zipfile(fh)):
            fh.close()
            raise ModelFormatError(f"{self.path}: not a likewise {self.what} (expected "
                                   f"{expected})")
        try:
            self._zip = zipfile.ZipFile(fh)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            fh.close()
            raise ModelFormatError(f"{self.path}: not a readable zip ({exc})") from None
        self._members = self._zip_members(self._zip, os.fstat(fd).st_size)
        try:
            raw = self._zip.read(MANIFEST)
        except KeyError:
            raise ModelFormatError(f"{self.path}: missing {MANIFEST}") from None
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise ModelFormatError(f"{self._member(MANIFEST)} is unreadable ({exc})") from None
        self.manifest = self._parse(raw, format, format_version)
        missing = [f for f in self.checksums if f not in self._members]
        if missing:
            raise ModelFormatError(f"{self.path}: missing {missing[0]}")

    def _zip_members(self, zf: zipfile.ZipFile, archive_size: int) -> dict[str, zipfile.ZipInfo]:
        """Names, compression and sizes of every member, checked before anything is inflated."""
        members: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in zf.infolist():
            name = check_name(info.filename, str(self.path))
            if name in members:
                raise ModelFormatError(f"{self.path}: the zip holds {name} twice")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) \
                    or info.flag_bits & 0x1:
                raise ModelFormatError(
                    f"{self._member(name)} is encrypted or compressed with method "
                    f"{info.compress_type}; a likewise zip holds stored or deflated members "
                    "only (re-pack it with `zip -0`)")
            if info.compress_type == zipfile.ZIP_STORED and info.compress_size != \
                    info.file_size or info.header_offset + info.compress_size > archive_size:
                raise ModelFormatError(f"{self._member(name)}: its sizes do not fit the zip "
                                       "file; the zip is truncated or was modified")
            if name == MANIFEST and info.file_size > MANIFEST_LIMIT:
                raise ModelFormatError(f"{self._member(name)} is {info.file_size:,} bytes, "
                                       f"more than the {MANIFEST_LIMIT:,} a manifest may have")
            total += info.file_size
            members[name] = info
        limit = max(ZIP_SLACK, ZIP_MAX_RATIO * archive_size)
        if total > limit:
            raise ModelFormatError(
                f"{self.path}: its members would inflate to {total:,} bytes from a "
                f"{archive_size:,}-byte zip (more than {ZIP_MAX_RATIO}x); refusing to inflate "
                "it. A likewise zip is stored uncompressed: re-pack it with `zip -0`, or "
                "unpack it and load the folder")
        return members

    # -- manifest ------------------------------------------------------------------------
    def _parse(self, raw: bytes | None, format: str, format_version: int) -> dict:
        where = self._member(MANIFEST)
        if raw is None or len(raw) > MANIFEST_LIMIT:
            raise ModelFormatError(f"{where} is missing or larger than {MANIFEST_LIMIT:,} bytes")
        try:
            manifest = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ModelFormatError(f"{where} is not valid JSON ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != format:
            raise ModelFormatError(f"{self.path}: not a likewise {self.what} manifest")
        version = manifest.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ModelFormatError(f"{where}: format_version is {version!r}, not a version")
        if version > format_version:
            raise ModelFormatError(
                f"{self.path} was written in {self.what} format {version!r}, newer than this "
                f"likewise supports ({format_version}); upgrade likewise")
        checksums = manifest.get("checksums", {})
        if not isinstance(checksums, dict) or not all(
                isinstance(v, str) and _HEX64.fullmatch(v) for v in checksums.values()):
            raise ModelFormatError(f"{where}: \"checksums\" is not a map of file names to "
                                   "SHA-256 digests")
        for fname in checksums:
            check_name(fname, str(self.path))
            if fname == MANIFEST:
                raise ModelFormatError(f"{where} lists itself among its files")
        self.checksums: dict[str, str] = checksums
        self._specs = self._array_specs(manifest.get("npy"), where)
        self._files_dir = None
        if version >= 2 and not self._is_zip:
            self._files_dir = check_name(manifest.get("files_dir"), str(self.path))
        return manifest

    def _array_specs(self, specs: Any, where: str) -> dict[str, dict]:
        if specs is None:
            return {}
        if not isinstance(specs, dict):
            raise ModelFormatError(f"{where}: \"npy\" is not a map of file names")
        for fname, spec in specs.items():
            if (fname not in self.checksums or not isinstance(spec, dict)
                    or not isinstance(spec.get("dtype"), str)
                    or not isinstance(spec.get("shape"), list)
                    or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                               for n in spec["shape"])):
                raise ModelFormatError(f"{where}: the array description of {fname!r} is "
                                       "malformed")
        return specs

    def check_manifest_digest(self, *, verify: bool | None = None) -> None:
        """Compare the manifest with its own SHA-256 (saves written before it had one pass).

        Loaders call it once the manifest's content was checked for meaning, so a
        hand-edited manifest gets the most specific message first.
        """
        digest = self.manifest.get(_DIGEST)
        if not (self.verify if verify is None else verify) or digest is None:
            return
        if hashlib.sha256(_canonical(self.manifest)).hexdigest() != digest:
            raise ModelFormatError(f"{self._member(MANIFEST)} does not match its checksum: "
                                   f"the {self.what} was modified or corrupted")

    # -- members ---------------------------------------------------------------------------
    def _member(self, fname: str) -> str:
        """How messages name a member: ``dir/x.npy`` or ``file.zip:x.npy``."""
        if self._is_zip:
            return f"{self.path}:{fname}"
        sub = getattr(self, "_files_dir", None)
        if fname != MANIFEST and sub is not None:
            return f"{self.path}/{sub}/{fname}"
        return f"{self.path}/{fname}"

    def _digest(self, fname: str) -> str:
        if fname not in self.checksums:
            raise ModelFormatError(f"{self.path}: {fname} has no checksum in the manifest")
        return str(self.checksums[fname])

    def _check(self, fname: str, actual: str) -> None:
        if actual != self._digest(fname):
            raise ModelFormatError(f"{self._member(fname)} does not match its checksum: the "
                                   f"{self.what} was modified or corrupted")
        self._verified.add(fname)

    def _stream(self, fname: str) -> IO[bytes]:
        """A fresh binary stream over one member, from its start."""
        if self._is_zip:
            if self._zip is None:
                raise ValueError(f"{self.path} is closed")
            return self._zip.open(self._members[fname])
        fh = io.FileIO(self._fds[fname], "rb", closefd=False)
        fh.seek(0)
        return fh

    def _size(self, fname: str) -> int:
        if self._is_zip:
            return self._members[fname].file_size
        return os.fstat(self._fds[fname]).st_size

    def _sha256(self, fname: str) -> str:
        digest = hashlib.sha256()
        try:
            with self._stream(fname) as fh:
                _hash_stream(fh, digest)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ModelFormatError(f"{self._member(fname)} is unreadable ({exc})") from None
        return digest.hexdigest()

    def verify_files(self, *, verify: bool | None = None, arrays: bool = True) -> None:
        """Check the SHA-256 of every file in the manifest's checksums: for callers that
        hand files to other readers (an index backend's native file).

        Parameters
        ----------
        verify : bool, optional
            False: check nothing (every listed file exists: the reader opened it). The
            default is the reader's ``verify``.
        arrays : bool
            False: skip the ``.npy`` files, which :meth:`array` verifies as it reads them
            (in the same pass).
        """
        if not (self.verify if verify is None else verify):
            return
        for fname in self.checksums:
            if fname not in self._verified and (arrays or not fname.endswith(".npy")):
                self._check(fname, self._sha256(fname))

    def native_path(self, fname: str) -> str:
        """A path a native library can open to read the member ``fname`` (folders only).

        On Linux it is the ``/proc/self/fd`` entry of the file this reader opened and
        checked, so the library reads exactly that file, even if the folder changes.
        """
        self._digest(fname)
        if self._is_zip:
            raise ValueError(f"{self.path}: a zip member has no path")
        proc = f"/proc/self/fd/{self._fds[fname]}"
        return proc if os.path.exists(proc) else str(self._folder / fname)

    def array(self, fname: str, *, mmap: bool = False,
              verify: bool | None = None) -> np.ndarray:
        """One stored array, checked against its header and the manifest, and
        checksum-verified unless ``verify=False``.

        Parameters
        ----------
        fname : str
            The member's file name (it must have a checksum in the manifest).
        mmap : bool
            Memory-map it read-only (folders; a zip member is always read).
        verify : bool, optional
            Compare its SHA-256 with the manifest's (default: the reader's ``verify``).

        Returns
        -------
        ndarray
        """
        self._digest(fname)  # every member must be listed, verified or not
        member = self._member(fname)
        verify = (self.verify if verify is None else verify) and fname not in self._verified
        try:
            with self._stream(fname) as fh:
                header = _Header(fh, self._specs.get(fname), member)
                header.check_size(self._size(fname), member)
                if mmap and not self._is_zip:
                    arr = self._mapped(fname, fh, header, verify)
                else:
                    arr = self._read(fname, fh, header, verify)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ModelFormatError(f"{member} is unreadable ({exc})") from None
        return arr

    def _read(self, fname: str, fh: IO[bytes], header: _Header, verify: bool) -> np.ndarray:
        digest = hashlib.sha256(header.raw) if verify else None
        arr = header.fill(fh.readinto, digest)
        if digest is not None:
            self._check(fname, digest.hexdigest())
        return arr

    def _mapped(self, fname: str, fh: IO[bytes], header: _Header, verify: bool) -> np.ndarray:
        if verify:
            self._check(fname, self._sha256(fname))
        if header.count == 0:
            empty = np.empty(header.shape, dtype=header.dtype)
            empty.flags.writeable = False
            return empty
        return np.memmap(fh, dtype=header.dtype, mode="r", offset=header.offset,
                         shape=header.shape, order="F" if header.fortran else "C")

    # -- lifetime ----------------------------------------------------------------------------
    def _close_members(self) -> None:
        for fd in self._fds.values():
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fds = {}

    def close(self) -> None:
        """Close the files this reader opened (memory-mapped arrays stay valid)."""
        self._close_members()
        root = getattr(self, "_root", None)
        if root is not None and root >= 0:
            with contextlib.suppress(OSError):
                os.close(root)
            self._root = None
        if self._zip is not None:
            fp = self._zip.fp
            self._zip.close()
            if fp is not None:
                fp.close()
            self._zip = None

    def __enter__(self) -> ArtifactReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
