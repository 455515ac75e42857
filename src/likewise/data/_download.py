"""The data cache: atomic, checksummed downloads and verified extracted folders.

A download only ever appears in the cache complete and verified: it is streamed into a
hidden temporary file in the same directory (:func:`likewise._fs.atomic_file`), hashed
on the way, checked against the expected size and checksums, and only then fsynced and
renamed over its final name (atomic on one file system). Any failure, including an
interrupt, removes the temporary file.

A file that is already in the cache (downloaded earlier, or put there by hand) is checked
again with :func:`verify_file` before it is used. A folder extracted from an archive
carries a stamp (:func:`write_stamp`: the archive's SHA-256 and each file's size, mtime
and SHA-256) and is trusted only while :func:`stamp_problem` finds nothing wrong.
:func:`cache_lock` lets one process at a time repair or fill one cache entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import re
import stat
import sys
import urllib.error
import urllib.request
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

from .._fs import atomic_file, atomic_write_text
from .._fs import sha256_file as file_sha256
from ..errors import DataError

__all__ = [
    "STAMP_NAME",
    "cache_lock",
    "default_cache_dir",
    "download",
    "file_sha256",
    "resolve_cache_dir",
    "stamp_problem",
    "verify_file",
    "write_stamp",
]

_CHUNK = 1 << 20
STAMP_NAME = ".likewise-extracted.json"
_STAMP_FORMAT = "likewise.extracted-folder"
_STAMP_VERSION = 1
_STAMP_MAX_BYTES = 1 << 20
# Files up to this size are re-hashed every time their folder is used (at most ~10 ms:
# metadata, READMEs, the small releases' ratings); larger ones (MovieLens 25M's
# ratings.csv is ~650 MB, about a second to hash, as long as parsing it) were hashed once,
# while being extracted, and later count as unchanged while their size and mtime match
# the stamp; a changed mtime with the same size makes them be hashed again.
_REHASH_UP_TO = 8 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}")


def default_cache_dir() -> Path:
    """The per-user cache directory for likewise data.

    ``$LIKEWISE_DATA_DIR`` when set; otherwise the platform's user cache directory:
    ``$XDG_CACHE_HOME/likewise`` (default ``~/.cache/likewise``) on Linux,
    ``~/Library/Caches/likewise`` on macOS, ``%LOCALAPPDATA%\\likewise\\Cache`` on Windows.
    """
    env = os.environ.get("LIKEWISE_DATA_DIR")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "likewise" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "likewise"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "likewise"


def resolve_cache_dir(cache_dir: str | os.PathLike | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def download(url: str, dest: Path, *, sha256: str | None = None, md5: str | None = None,
             size: int | None = None, progress: bool = True, timeout: float = 60.0) -> str:
    """Download ``url`` to ``dest`` atomically and return the file's SHA-256.

    Parameters
    ----------
    url : str
        Source address (http, https or file).
    dest : Path
        Final path; its directory is created. It is written only once the download is
        complete and verified.
    sha256, md5 : str, optional
        Expected checksums (hex); each one given is checked. When both are missing the
        file is accepted as is and its SHA-256 is returned so the caller can record it.
    size : int, optional
        Expected size in bytes (checked in addition to the server's Content-Length).
    progress : bool
        Show a tqdm progress bar on stderr.

    Raises
    ------
    DataError
        Network failure, incomplete transfer, size or checksum mismatch. The cache is
        left without the file.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    h_sha, h_md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    received = 0
    # the file replaces dest only if the block below ends without an error, i.e. after
    # the size and checksum checks; any exception removes the temporary file
    with atomic_file(dest, "wb") as out:
        request = urllib.request.Request(url, headers={"User-Agent": "likewise"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else size
                bar = _progress_bar(total, dest.name, progress)
                try:
                    while True:
                        chunk = resp.read(_CHUNK)
                        if not chunk:
                            break
                        out.write(chunk)
                        h_sha.update(chunk)
                        h_md5.update(chunk)
                        received += len(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
                finally:
                    if bar is not None:
                        bar.close()
        except urllib.error.HTTPError as exc:
            raise DataError(f"download of {url} failed: HTTP {exc.code} {exc.reason}; "
                            "check the address (or LIKEWISE_MOVIELENS_URL) and try again",
                            path=dest) from None
        except http.client.IncompleteRead as exc:
            received += len(exc.partial)
            raise DataError(f"download of {url} was interrupted after {received} bytes "
                            f"(connection closed early); nothing was cached, run again "
                            "to retry", path=dest) from None
        except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DataError(f"download of {url} failed ({reason}); check the network "
                            "connection or use a mirror (LIKEWISE_MOVIELENS_URL), then "
                            "try again", path=dest) from None
        expected = int(length) if length and length.isdigit() else None
        for want in (expected, size):
            if want is not None and received != want:
                raise DataError(f"download of {url} is incomplete: received {received} of "
                                f"{want} bytes; nothing was cached, run again to retry",
                                path=dest)
        digest = h_sha.hexdigest()
        if sha256 is not None and digest != sha256.lower():
            raise DataError(f"checksum mismatch for {url}: expected SHA-256 {sha256}, got "
                            f"{digest}; the download is corrupt (or the file changed "
                            "upstream) and was discarded; try again", path=dest)
        if md5 is not None and h_md5.hexdigest() != md5.lower():
            raise DataError(f"checksum mismatch for {url}: expected MD5 {md5}, got "
                            f"{h_md5.hexdigest()}; the download is corrupt and was "
                            "discarded; try again", path=dest)
    return digest


def _progress_bar(total, name: str, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                desc=f"downloading {name}", file=sys.stderr, leave=False)


# ---------------------------------------------------------------------------------------
# files already in the cache
# ---------------------------------------------------------------------------------------
def _digests(path: Path, *, follow_symlinks: bool) -> tuple[str, str]:
    """SHA-256 and MD5 of a file in one read; only a regular file is opened."""
    info = os.stat(path) if follow_symlinks else os.lstat(path)
    if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block or never end
        raise DataError("is not a regular file; delete it and run again", path=path)
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    h_sha, h_md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with os.fdopen(os.open(path, flags), "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h_sha.update(chunk)
            h_md5.update(chunk)
    return h_sha.hexdigest(), h_md5.hexdigest()


def verify_file(path: Path, *, sha256: str | None = None, md5: str | None = None,
                size: int | None = None, what: str = "the expected file") -> str:
    """Check a file that is already in the cache against its published size and checksums.

    A file placed by hand (or one that changed on disk) is checked exactly like a fresh
    download before anything reads it. It is never deleted or replaced here: a mismatch
    raises, and the message says how to fix it.

    Parameters
    ----------
    path : Path
        The file (a symbolic link to a regular file is followed; anything else is refused).
    sha256, md5 : str, optional
        Published checksums (hex); each one given must match.
    size : int, optional
        Published size in bytes.
    what : str
        What the file should be, for the message ("the MovieLens 1M archive").

    Returns
    -------
    str
        The file's SHA-256.

    Raises
    ------
    DataError
        The file is not a regular file, or its size or a checksum differs; the message
        gives the expected and the actual values.
    """
    path = Path(path)
    actual_sha, actual_md5 = _digests(path, follow_symlinks=True)
    actual_size = os.stat(path).st_size
    wrong = []
    if size is not None and actual_size != size:
        wrong.append(f"it is {actual_size} bytes, expected {size}")
    if sha256 is not None and actual_sha != sha256.lower():
        wrong.append(f"its SHA-256 is {actual_sha}, expected {sha256.lower()}")
    if md5 is not None and actual_md5 != md5.lower():
        wrong.append(f"its MD5 is {actual_md5}, expected {md5.lower()}")
    if wrong:
        raise DataError(f"this is not {what}: {'; '.join(wrong)}. It is another file or an "
                        "incomplete copy and was not used; delete it and run again to "
                        f"download the official {path.name}, or put the official file there",
                        path=path)
    return actual_sha


@contextlib.contextmanager
def cache_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the lock file ``path`` while the block runs.

    Processes and threads that fill or repair the same cache entry take turns, so an
    archive is downloaded once and a folder is replaced by one writer at a time. The lock
    file is created when missing and left in place: removing it would let a waiting
    writer and a new one both hold "the" lock. Where the file system cannot lock, the
    block runs unlocked; every write stays atomic, so the cache is still never corrupt.

    Parameters
    ----------
    path : Path
        The lock file; its directory must exist.

    Raises
    ------
    DataError
        The lock file cannot be created (a read-only cache).
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as exc:
        raise DataError(f"cannot create this lock file ({exc.strerror}); downloading or "
                        "extracting needs a writable cache: choose one with cache_dir= or "
                        "$LIKEWISE_DATA_DIR", path=path) from None
    try:
        _lock(fd)
        yield
    finally:
        os.close(fd)  # releases the lock


def _lock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                return
            except OSError:  # LK_LOCK gives up after about 10 s; keep waiting
                continue
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:  # e.g. ENOLCK on some network file systems: run unlocked
        pass


# ---------------------------------------------------------------------------------------
# stamps of extracted folders
# ---------------------------------------------------------------------------------------
def write_stamp(folder: Path, digests: Mapping[str, str], *, archive: str,
                archive_sha256: str) -> None:
    """Record, inside a completely extracted folder, what it holds and where it came from.

    Call it on the staging folder once every file is written and closed, before the
    folder is moved into place, so the folder and its stamp appear together.

    Parameters
    ----------
    folder : Path
        The extracted folder.
    digests : mapping
        File name -> SHA-256, computed while the file was written.
    archive : str
        The archive's file name.
    archive_sha256 : str
        The verified archive's SHA-256.
    """
    files = {}
    for name, digest in sorted(digests.items()):
        info = os.lstat(folder / name)
        files[name] = {"size": info.st_size, "mtime_ns": info.st_mtime_ns, "sha256": digest}
    _write_stamp(folder, {"format": _STAMP_FORMAT, "version": _STAMP_VERSION,
                          "archive": archive, "archive_sha256": archive_sha256,
                          "files": files})


def _write_stamp(folder: Path, record: dict) -> None:
    atomic_write_text(folder / STAMP_NAME, json.dumps(record, indent=1) + "\n")


def stamp_problem(folder: Path, *, archive: str, archive_sha256: str | None,
                  required: Collection[str], readable: Collection[str]) -> str | None:
    """Why ``folder`` cannot be trusted as a complete extraction of ``archive``, or None.

    The folder must be a real directory with a valid stamp naming ``archive`` (and
    ``archive_sha256`` when it is known), every ``required`` file, and exactly those of
    the ``readable`` files (the ones a reader may open) that are present. Each stamped
    file must be a regular file of the stamped size whose content matches its SHA-256:
    files up to 8 MiB are hashed on every call, larger ones only when their mtime
    differs from the stamp (a copied cache); the stamp then gets the new mtime.

    Parameters
    ----------
    folder : Path
        The extracted folder.
    archive : str
        The archive's file name.
    archive_sha256 : str or None
        The archive's verified SHA-256, when known.
    required, readable : collection of str
        File names the folder must hold, and every file name a reader may open.

    Returns
    -------
    str or None
        A short reason, or None when the folder matches its stamp.
    """
    if folder.is_symlink() or not folder.is_dir():
        return "it is not a folder" if os.path.lexists(folder) else "it does not exist"
    stamp = _read_stamp(folder)
    if isinstance(stamp, str):
        return stamp
    problem = _stamp_record_problem(stamp, archive, archive_sha256, required, readable)
    if problem is not None:
        return problem
    files = stamp["files"]
    unstamped = sorted(n for n in readable if n not in files and os.path.lexists(folder / n))
    if unstamped:
        return f"{unstamped[0]} is not in its stamp"
    refreshed = False
    for name, entry in files.items():
        problem, moved = _file_problem(folder / name, entry)
        if problem is not None:
            return f"{name} {problem}"
        refreshed |= moved
    if refreshed:
        with contextlib.suppress(OSError):  # a read-only cache stays valid, just slower
            _write_stamp(folder, stamp)
    return None


def _read_stamp(folder: Path) -> dict | str:
    path = folder / STAMP_NAME
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return f"it has no {STAMP_NAME} stamp"
    if not stat.S_ISREG(info.st_mode) or info.st_size > _STAMP_MAX_BYTES:
        return f"its {STAMP_NAME} stamp is not a small regular file"
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        with os.fdopen(os.open(path, flags), "rb") as fh:
            record = json.loads(fh.read(_STAMP_MAX_BYTES).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return f"its {STAMP_NAME} stamp cannot be read"
    return record if isinstance(record, dict) else f"its {STAMP_NAME} stamp is not a record"


def _stamp_record_problem(stamp: dict, archive: str, archive_sha256: str | None,
                          required: Collection[str], readable: Collection[str]) -> str | None:
    if stamp.get("format") != _STAMP_FORMAT or stamp.get("version") != _STAMP_VERSION:
        return "its stamp is of an unknown format"
    if stamp.get("archive") != archive:
        return f"its stamp names {stamp.get('archive')!r}, not {archive}"
    recorded = stamp.get("archive_sha256")
    if not isinstance(recorded, str) or not _HEX64.fullmatch(recorded):
        return "its stamp has no valid archive SHA-256"
    if archive_sha256 is not None and recorded != archive_sha256.lower():
        return f"it was extracted from another {archive} (SHA-256 {recorded})"
    files = stamp.get("files")
    if not isinstance(files, dict) or any(not _valid_entry(name, entry, readable)
                                          for name, entry in files.items()):
        return "its stamp's file list is not valid"
    missing = sorted(set(required) - set(files))
    return f"its stamp does not list {missing[0]}" if missing else None


def _valid_entry(name, entry, readable: Collection[str]) -> bool:
    # names are only ever ones a reader opens: plain file names, never a path
    return (name in readable and isinstance(entry, dict)
            and all(type(entry.get(k)) is int for k in ("size", "mtime_ns"))
            and entry["size"] >= 0 and isinstance(entry.get("sha256"), str)
            and _HEX64.fullmatch(entry["sha256"]) is not None)


def _file_problem(path: Path, entry: dict) -> tuple[str | None, bool]:
    """(why the file does not match its stamp entry or None, whether its mtime moved)."""
    try:
        info = os.lstat(path)
    except OSError:
        return "is missing", False
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file", False
    if info.st_size != entry["size"]:
        return f"is {info.st_size} bytes, its stamp says {entry['size']}", False
    if info.st_size > _REHASH_UP_TO and info.st_mtime_ns == entry["mtime_ns"]:
        return None, False
    try:
        digest, _ = _digests(path, follow_symlinks=False)
    except (OSError, DataError):
        return "cannot be read", False
    if digest != entry["sha256"]:
        return f"was changed (SHA-256 {digest}, its stamp says {entry['sha256']})", False
    moved = info.st_mtime_ns != entry["mtime_ns"]
    entry["mtime_ns"] = info.st_mtime_ns
    return None, moved
