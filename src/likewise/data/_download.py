"""Downloading data files into the cache: atomic, checksummed, with a progress bar.

A file only ever appears in the cache complete and verified: it is streamed into a
hidden temporary file in the same directory (:func:`likewise._fs.atomic_file`), hashed
on the way, checked against the expected size and checksum, and only then fsynced and
renamed over its final name (atomic on one file system). Any failure, including an
interrupt, removes the temporary file.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .._fs import atomic_file
from .._fs import sha256_file as file_sha256
from ..errors import DataError

__all__ = [
    "default_cache_dir",
    "download",
    "file_sha256",
    "resolve_cache_dir",
]

_CHUNK = 1 << 20


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
        Expected checksums (hex). When both are missing the file is accepted as is and its
        SHA-256 is returned so the caller can record it.
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
    h_sha, h_md5 = hashlib.sha256(), hashlib.md5()
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
        if sha256 is None and md5 is not None and h_md5.hexdigest() != md5.lower():
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
