"""Saved artifacts (models, indexes): ``.npy`` arrays plus a JSON manifest with checksums.

One writer and one reader for every kind of save, so the format rules live once:

- arrays are stored with ``np.save(..., allow_pickle=False)``; nothing is ever pickled;
- ``manifest.json`` (``indent=1``, sorted keys) names the format and its version and
  holds the SHA-256 of every file under ``"checksums"``;
- the folder is written to a staging folder and installed atomically
  (:func:`likewise._fs.install_dir`), or packed into one ``.zip`` written atomically;
- reading checks the format and version, verifies checksums and can memory-map arrays
  (folders only).

What the manifest says beyond that (model classes, index backends) belongs to the
callers (``models._persistence``, ``index``). This module sits in the foundation so both
can use it; it imports nothing else from likewise but ``_fs`` and ``errors``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._fs import atomic_file, install_dir, sha256_file, staging_dir
from .errors import ModelFormatError

__all__ = ["ArtifactReader", "MANIFEST", "write_artifact"]

#: The manifest's file name inside every saved folder or zip.
MANIFEST = "manifest.json"


def write_artifact(path: str | os.PathLike, manifest: Mapping[str, Any],
                   arrays: Mapping[str, np.ndarray], *, what: str,
                   extra_files: Callable[[Path], Iterable[str]] | None = None,
                   as_zip: bool = False) -> Path:
    """Write ``arrays`` and ``manifest`` (plus checksums) to ``path`` atomically.

    Parameters
    ----------
    path : path
        The target folder (or ``.zip`` file with ``as_zip``); its parent is created.
    manifest : mapping
        JSON-ready content; a ``"checksums"`` entry (file name -> SHA-256) is added.
    arrays : mapping of str to ndarray
        File name (``"x.npy"``) -> array, written without pickle (object arrays fail).
    what : str
        What is saved ("model", "index"), for error messages.
    extra_files : callable, optional
        Called with the staging folder after the arrays are written; writes more files
        there (a backend's native index) and returns their names, which get checksums.
    as_zip : bool
        Pack everything into one uncompressed zip instead of a folder.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ModelFormatError
        ``path`` is a folder that is not a likewise save of this kind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with staging_dir(path) as tmp:
        for fname, arr in arrays.items():
            with open(tmp / fname, "wb") as fh:
                np.save(fh, np.ascontiguousarray(arr), allow_pickle=False)
        files = [*arrays, *(extra_files(tmp) if extra_files is not None else ())]
        full = {**manifest, "checksums": {f: sha256_file(tmp / f) for f in files}}
        with open(tmp / MANIFEST, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(full, indent=1, sort_keys=True))
        if as_zip:
            with atomic_file(path, "wb") as fh, zipfile.ZipFile(fh, "w",
                                                                zipfile.ZIP_STORED) as zf:
                for member in sorted(tmp.iterdir()):
                    zf.write(member, member.name)
        else:
            install_dir(tmp, path, what)
    return path


class ArtifactReader:
    """An opened save: its checked manifest and checksum-verified arrays.

    Parameters
    ----------
    path : path
        A folder, or (with ``allow_zip``) a ``.zip`` file, written by
        :func:`write_artifact`.
    what : str
        What is loaded ("model", "index"), for error messages.
    format : str
        The manifest's expected ``"format"`` (``"likewise.model"``).
    format_version : int
        The newest ``"format_version"`` this likewise reads.
    allow_zip : bool
        Accept a zip file as well as a folder.

    Raises
    ------
    ModelFormatError
        Missing path or manifest, invalid JSON, another format, a newer version.

    Examples
    --------
    >>> with ArtifactReader(path, what="model", format="likewise.model",
    ...                     format_version=1, allow_zip=True) as saved:  # doctest: +SKIP
    ...     ids = saved.array("users_.npy", mmap=True)
    """

    def __init__(self, path: str | os.PathLike, *, what: str, format: str,
                 format_version: int, allow_zip: bool = False) -> None:
        self.path = Path(path)
        self.what = what
        self._zip: zipfile.ZipFile | None = None
        self._is_zip = self.path.is_file()
        if self._is_zip:
            if not (allow_zip and zipfile.is_zipfile(self.path)):
                expected = "a directory or .zip" if allow_zip else "a directory"
                raise ModelFormatError(f"{self.path}: not a likewise {what} (expected "
                                       f"{expected})")
            self._zip = zipfile.ZipFile(self.path)
        elif not self.path.exists() and allow_zip:
            raise ModelFormatError(f"{self.path}: no such {what} file or directory")
        try:
            self.manifest = self._read_manifest(format, format_version)
        except BaseException:
            self.close()
            raise
        checksums = self.manifest.get("checksums", {})
        self.checksums: dict[str, str] = checksums if isinstance(checksums, dict) else {}
        self._verified: set[str] = set()

    # -- manifest ------------------------------------------------------------------------
    def _read_manifest(self, format: str, format_version: int) -> dict:
        try:
            raw = self._read_bytes(MANIFEST)
        except ModelFormatError:
            if self._is_zip:
                raise
            raise ModelFormatError(f"{self.path}: no likewise {self.what} here (missing "
                                   f"{MANIFEST})") from None
        try:
            manifest = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelFormatError(f"{self.path}/{MANIFEST} is not valid JSON ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != format:
            raise ModelFormatError(f"{self.path}: not a likewise {self.what} manifest")
        version = manifest.get("format_version")
        if not isinstance(version, int) or version > format_version:
            raise ModelFormatError(
                f"{self.path} was written in {self.what} format {version!r}, newer than this "
                f"likewise supports ({format_version}); upgrade likewise")
        return manifest

    # -- members ---------------------------------------------------------------------------
    def _member(self, fname: str) -> str:
        """How messages name a member: ``dir/x.npy`` or ``file.zip:x.npy``."""
        return f"{self.path}:{fname}" if self._is_zip else f"{self.path}/{fname}"

    def _read_bytes(self, fname: str) -> bytes:
        try:
            if self._is_zip:
                if self._zip is None:
                    raise ValueError(f"{self.path} is closed")
                return self._zip.read(fname)
            return (self.path / fname).read_bytes()
        except (KeyError, FileNotFoundError, NotADirectoryError):
            raise ModelFormatError(f"{self.path}: missing {fname}") from None

    def _digest(self, fname: str) -> str:
        if fname not in self.checksums:
            raise ModelFormatError(f"{self.path}: {fname} has no checksum in the manifest")
        return str(self.checksums[fname])

    def _check(self, fname: str, actual: str) -> None:
        if actual != self._digest(fname):
            raise ModelFormatError(f"{self._member(fname)} does not match its checksum: the "
                                   f"{self.what} was modified or corrupted")
        self._verified.add(fname)

    def verify_files(self, *, verify: bool = True) -> None:
        """Check that every file in the manifest's checksums exists (and, with ``verify``,
        matches its SHA-256): for callers that hand the folder to other readers."""
        for fname in self.checksums:
            if not self._is_zip and not (self.path / fname).is_file():
                raise ModelFormatError(f"{self.path}: missing {fname}")
            if verify and fname not in self._verified:
                self._check(fname, self._sha256(fname))

    def _sha256(self, fname: str) -> str:
        if self._is_zip:
            return hashlib.sha256(self._read_bytes(fname)).hexdigest()
        try:
            return sha256_file(self.path / fname)
        except FileNotFoundError:
            raise ModelFormatError(f"{self.path}: missing {fname}") from None

    def array(self, fname: str, *, mmap: bool = False, verify: bool = True) -> np.ndarray:
        """One stored array, checksum-verified unless ``verify=False``.

        Parameters
        ----------
        fname : str
            The member's file name (it must have a checksum in the manifest).
        mmap : bool
            Memory-map it read-only (folders; a zip member is always read).
        verify : bool
            Compare its SHA-256 with the manifest's.

        Returns
        -------
        ndarray
        """
        self._digest(fname)  # every member must be listed, verified or not
        if self._is_zip:
            raw = self._read_bytes(fname)
            if verify and fname not in self._verified:
                self._check(fname, hashlib.sha256(raw).hexdigest())
            source: Any = io.BytesIO(raw)
        else:
            if verify and fname not in self._verified:
                self._check(fname, self._sha256(fname))
            elif not (self.path / fname).is_file():
                raise ModelFormatError(f"{self.path}: missing {fname}")
            source = self.path / fname
        try:
            return np.load(source, allow_pickle=False,
                           mmap_mode="r" if mmap and not self._is_zip else None)
        except (ValueError, OSError) as exc:
            raise ModelFormatError(f"{self._member(fname)} is unreadable ({exc})") from None

    # -- lifetime ----------------------------------------------------------------------------
    def close(self) -> None:
        """Close the zip file (nothing to do for a folder)."""
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __enter__(self) -> ArtifactReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
