"""Data sets: MovieLens 100K embedded in the package; larger releases download on demand.

Every variant returns :class:`~likewise.data.Interactions` with explicit ratings,
timestamps and item metadata (a DataFrame indexed by ``movieId`` with ``title``,
``year`` and pipe-separated ``genres``); 100K and 1M also carry user metadata.

Downloads come from the official GroupLens addresses (override the base address with
``base_url=`` or ``$LIKEWISE_MOVIELENS_URL``), are verified (size, SHA-256 and MD5, see
:data:`RELEASES`), and land in the cache directory (``cache_dir=``,
``$LIKEWISE_DATA_DIR``, else the user cache directory such as ``~/.cache/likewise``)
under ``movielens/``. Only complete, verified files ever appear there.

Nothing found in the cache is trusted blindly. An archive already there (downloaded
earlier or put there by hand) is verified against the published checksums before it is
extracted; a mismatch is a :class:`~likewise.errors.DataError` and the file is left
alone. An extracted folder carries a stamp (the archive's SHA-256, each file's size,
mtime and SHA-256) written into the staging folder before the folder is moved into
place; a folder without a valid stamp, or whose files do not match it, is extracted
again from the verified archive (downloaded again when the archive is gone).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._fs import atomic_write_text, publish_dir, staging_dir
from ..data.interactions import Interactions
from ..errors import ConfigError, DataError

__all__ = ["DEFAULT_BASE_URL", "EMBEDDED_DIR", "RELEASES", "movielens"]

EMBEDDED_DIR = Path(__file__).parent / "movielens-100k"
DEFAULT_BASE_URL = "https://files.grouplens.org/datasets/movielens/"


@dataclass(frozen=True)
class Release:
    """One GroupLens archive: where its files are, their format and its checksums."""

    archive: str
    folder: str
    layout: str  # "100k" (u.data), "dat" (ratings.dat with ::), "csv" (ratings.csv)
    rating_scale: tuple[float, float]
    sha256: str | None
    size: int | None
    md5: str | None


# MD5s as published by GroupLens next to each archive (<archive>.md5). SHA-256 and sizes
# as published in tensorflow-datasets' url_checksums/movielens.txt; for 10m and 32m, which
# tensorflow-datasets does not carry, as pinned by independent projects that verify the
# official archives (10m: omnirec's MovieLens loader and several research pipelines; 32m:
# two research pipelines), each listing the same size and GroupLens' MD5 beside them.
# Every value given is checked, on download and before a cached archive is extracted. A
# release without any published checksum is accepted when likewise downloads it, its
# SHA-256 recorded in the cache (<archive>.sha256) and checked from then on.
RELEASES: dict[str, Release] = {
    "100k": Release("ml-100k.zip", "ml-100k", "100k", (1, 5),
                    "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
                    4924029, "0e33842e24a9c977be4e0107933c0723"),
    "1m": Release("ml-1m.zip", "ml-1m", "dat", (1, 5),
                  "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
                  5917549, "c4d9eecfca2ab87c1945afe126590906"),
    "10m": Release("ml-10m.zip", "ml-10M100K", "dat", (0.5, 5),
                   "813c411ccb6122564edfe752e7f80c4dcc5aa25fa94c93622f6877a7ba252862",
                   65566137, "ce571fd55effeba0271552578f2648bd"),
    "20m": Release("ml-20m.zip", "ml-20m", "csv", (0.5, 5),
                   "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
                   198702078, "cd245b17a1ae2cc31bb14903e1204af3"),
    "25m": Release("ml-25m.zip", "ml-25m", "csv", (0.5, 5),
                   "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
                   261978986, "6b51fb2759a8657d3bfcbfc42b592ada"),
    "32m": Release("ml-32m.zip", "ml-32m", "csv", (0.5, 5),
                   "e4a68655d7386b8f95f2f2424b2ff975dfdd15ffd59e0d864a14dca43e99d6ee",
                   238950008, "d472be332d4daa821edc399621853b57"),
    "latest-small": Release("ml-latest-small.zip", "ml-latest-small", "csv", (0.5, 5),
                            "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
                            978202, None),
}

# the files each layout needs from its archive
_MEMBERS = {
    "100k": ("u.data", "u.item", "u.genre", "u.user", "README"),
    "dat": ("ratings.dat", "movies.dat", "users.dat", "README", "README.html"),
    "csv": ("ratings.csv", "movies.csv", "README.txt"),
}
_OPTIONAL = {"users.dat", "README", "README.html", "README.txt"}


def movielens(variant: str = "100k", *, cache_dir: str | os.PathLike | None = None,
              download: bool = True, progress: bool = True, base_url: str | None = None,
              embedded: bool = True) -> Interactions:
    """MovieLens ratings with movie titles, years and genres as item metadata.

    Parameters
    ----------
    variant : {"100k", "1m", "10m", "20m", "25m", "32m", "latest-small"}
        ``"100k"`` is embedded in the package (offline, instant); the others are
        downloaded from GroupLens on first use and cached.
    cache_dir : path, optional
        Where downloads are kept. Default ``$LIKEWISE_DATA_DIR`` or the user cache
        directory (``~/.cache/likewise`` on Linux).
    download : bool
        Download when the archive is not cached; with False a missing archive raises.
    progress : bool
        Show a progress bar while downloading.
    base_url : str, optional
        Address the archives are fetched from (default ``$LIKEWISE_MOVIELENS_URL`` or
        ``https://files.grouplens.org/datasets/movielens/``).
    embedded : bool
        For ``"100k"``: use the copy shipped in the package (default) or, with False,
        download and parse the original GroupLens ``ml-100k.zip``.

    Returns
    -------
    Interactions
        Explicit ratings (1-5, or 0.5-5 in half stars from 10M on), timestamps,
        item metadata indexed by movieId (title, year, genres) and, for 100K and 1M,
        user metadata (age, gender, occupation, zip).

    Raises
    ------
    DataError
        Download failure, checksum mismatch, missing archive with ``download=False``, an
        archive in the cache that does not match the published size and checksums (it is
        left in place; the message gives both digests) or a damaged archive; the cache is
        left without partial files. An extracted folder that does not match its stamp is
        extracted again (with a ``UserWarning``), not used.

    Examples
    --------
    >>> from likewise.datasets import movielens
    >>> data = movielens("100k")
    >>> data
    Interactions(100000 explicit interactions, 943 users, 1682 items, scale=1-5)
    >>> data.item_metadata.loc[1, "title"]
    'Toy Story'
    """
    if variant not in RELEASES:
        raise ConfigError(f"unknown MovieLens variant {variant!r}; choose one of "
                          f"{', '.join(map(repr, RELEASES))}")
    if variant == "100k" and embedded:
        return _embedded_100k()
    release = RELEASES[variant]
    folder = _fetch(release, cache_dir=cache_dir, download=download, progress=progress,
                    base_url=base_url)
    parse = {"100k": _parse_100k, "dat": _parse_dat, "csv": _parse_csv}[release.layout]
    return parse(folder, release, f"movielens-{variant}")


# ---------------------------------------------------------------------------------------
# embedded 100K
# ---------------------------------------------------------------------------------------
def _embedded_100k() -> Interactions:
    import pyarrow.csv as pacsv

    ratings = pacsv.read_csv(EMBEDDED_DIR / "ratings.csv")
    movies = _read_small_csv(EMBEDDED_DIR / "movies.csv", "movieId")
    movies["year"] = _clean_year(movies["year"], movies["title"])
    users = _read_small_csv(EMBEDDED_DIR / "users.csv", "userId")
    return _clean_interactions(
        ratings["userId"].to_numpy(), ratings["movieId"].to_numpy(),
        ratings["rating"].to_numpy().astype(np.float32), ratings["timestamp"].to_numpy(),
        rating_scale=(1, 5), item_metadata=movies, user_metadata=users,
        source="movielens-100k")


def _read_small_csv(path: Path, index: str):
    import pandas as pd

    return pd.read_csv(path, keep_default_na=False, na_values=[""],
                       dtype={"zip": str}).set_index(index)


def _clean_interactions(users, items, ratings, timestamps, **kw) -> Interactions:
    """``Interactions.from_arrays`` for small published data known to hold no duplicates.

    For 100K rows a plain NumPy sort is faster than loading the numba kernels
    ``from_arrays`` uses (about a second on first use), which is what keeps the embedded
    data set well under a second. Any duplicate pair falls back to ``from_arrays``.
    """
    import scipy.sparse as sp

    from ..data.vocabulary import Vocabulary

    if len(users) > 2_000_000:
        return Interactions.from_arrays(users, items, ratings, timestamps, **kw)
    user_vocab, u = Vocabulary.from_values(users, what="user ids")
    item_vocab, i = Vocabulary.from_values(items, what="item ids")
    order = np.lexsort((i, u))
    u_s, i_s = u[order], i[order]
    if len(order) > 1 and np.any((u_s[1:] == u_s[:-1]) & (i_s[1:] == i_s[:-1])):
        return Interactions.from_arrays(users, items, ratings, timestamps, **kw)
    ratings = np.asarray(ratings, dtype=np.float32)
    scale = kw.pop("rating_scale")
    if np.any((ratings < scale[0]) | (ratings > scale[1])) or not np.all(np.isfinite(ratings)):
        return Interactions.from_arrays(users, items, ratings, timestamps,
                                        rating_scale=scale, **kw)
    indptr = np.zeros(len(user_vocab) + 1, dtype=np.int32)
    np.cumsum(np.bincount(u_s, minlength=len(user_vocab)), out=indptr[1:])
    matrix = sp.csr_matrix((ratings[order], i_s.astype(np.int32), indptr),
                           shape=(len(user_vocab), len(item_vocab)))
    matrix.has_sorted_indices = True
    matrix.has_canonical_format = True
    ts = None if timestamps is None else np.asarray(timestamps, dtype=np.int64)[order]
    return Interactions(matrix, user_vocab, item_vocab, kind="explicit", timestamps=ts,
                        rating_scale=scale, **kw)


# ---------------------------------------------------------------------------------------
# download and cache
# ---------------------------------------------------------------------------------------
def _fetch(release: Release, *, cache_dir, download: bool, progress: bool,
           base_url: str | None) -> Path:
    """The verified extracted folder of ``release`` in the cache, made when needed.

    The common case only checks the folder against its stamp. Anything else happens
    under the release's lock file, so concurrent callers download and extract once and
    no folder is replaced while another caller writes it.
    """
    from ..data._download import cache_lock, resolve_cache_dir

    root = resolve_cache_dir(cache_dir) / "movielens"
    folder = root / release.folder
    problem = _folder_problem(folder, release, root)
    if problem is None:
        return folder
    if not download and not os.path.lexists(root / release.archive):
        raise _not_cached(release, folder, problem)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the cache folder ({exc.strerror}); choose a writable "
                        "one with cache_dir= or $LIKEWISE_DATA_DIR", path=root) from None
    with cache_lock(root / f".{release.folder}.lock"):
        problem = _folder_problem(folder, release, root)  # another caller may have made it
        if problem is not None:
            _remake_folder(release, root, folder, problem, download=download,
                           progress=progress, base_url=base_url)
    return folder


def _remake_folder(release: Release, root: Path, folder: Path, problem: str, **fetch) -> None:
    """Extract ``folder`` afresh from the verified (or downloaded) archive; under the lock."""
    _remove_leftovers(root, release)
    digest = _verified_archive(release, root, folder, problem, **fetch)
    if os.path.lexists(folder):
        warnings.warn(f"{folder} cannot be trusted ({problem}); extracting it again from "
                      f"the verified {release.archive}", stacklevel=4)
    _extract(root / release.archive, release, folder, digest)


def _folder_problem(folder: Path, release: Release, root: Path) -> str | None:
    """Why the extracted ``folder`` cannot be used as it is, or None when it can."""
    from ..data._download import stamp_problem

    return stamp_problem(folder, archive=release.archive,
                         archive_sha256=release.sha256 or _recorded_sha256(root, release),
                         required=[m for m in _MEMBERS[release.layout] if m not in _OPTIONAL],
                         readable=_MEMBERS[release.layout])


def _recorded_sha256(root: Path, release: Release) -> str | None:
    """The SHA-256 likewise recorded when it downloaded a release nobody publishes one for."""
    try:
        text = (root / (release.archive + ".sha256")).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text.lower() if re.fullmatch(r"[0-9a-fA-F]{64}", text) else None


def _not_cached(release: Release, folder: Path, problem: str) -> DataError:
    why = f" (the extracted {folder.name} cannot be used: {problem})" \
        if os.path.lexists(folder) else ""
    return DataError(f"MovieLens {release.archive} is not in the cache{why}; call with "
                     "download=True, or put the archive there",
                     path=folder.parent / release.archive)


def _verified_archive(release: Release, root: Path, folder: Path, problem: str, *,
                      download: bool, progress: bool, base_url: str | None) -> str:
    """The SHA-256 of the release's archive in the cache, verified or freshly downloaded."""
    from ..data._download import download as fetch

    archive = root / release.archive
    if os.path.lexists(archive):
        return _verify_cached(archive, release, root)
    if not download:
        raise _not_cached(release, folder, problem)
    base = base_url or os.environ.get("LIKEWISE_MOVIELENS_URL") or DEFAULT_BASE_URL
    digest = fetch(base.rstrip("/") + "/" + release.archive, archive, sha256=release.sha256,
                   md5=release.md5, size=release.size, progress=progress)
    atomic_write_text(root / (release.archive + ".sha256"), digest + "\n")
    return digest


def _verify_cached(archive: Path, release: Release, root: Path) -> str:
    """Check an archive found in the cache (downloaded earlier or put there by hand).

    It is never deleted or replaced automatically: likewise renames only complete,
    verified downloads into place, so a file that fails here was put there (or changed)
    by someone else, and only its owner knows whether it matters.
    """
    from ..data._download import verify_file

    if release.sha256 is not None or release.md5 is not None:
        return verify_file(archive, sha256=release.sha256, md5=release.md5,
                           size=release.size, what=f"the published {release.archive}")
    recorded = _recorded_sha256(root, release)
    if recorded is None:
        raise DataError(f"no checksum is published for {release.archive} and likewise did not "
                        "download this copy, so it cannot be verified; delete it and run "
                        "again to download it", path=archive)
    return verify_file(archive, sha256=recorded, size=release.size,
                       what=f"the {release.archive} likewise downloaded (its SHA-256 is "
                            f"in {release.archive}.sha256)")


def _remove_leftovers(root: Path, release: Release) -> None:
    """Remove what an interrupted download or extraction of ``release`` left behind.

    Called under the release's lock: no other likewise caller is writing these now.
    """
    names = (release.folder, release.archive, release.archive + ".sha256")
    leftover = re.compile(r"\.(?:%s)\.[0-9a-f]{16}\.tmp" % "|".join(map(re.escape, names)))
    for entry in os.scandir(root):
        if not leftover.fullmatch(entry.name):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def _extract(archive: Path, release: Release, folder: Path, archive_sha256: str) -> None:
    """Extract the needed members into a staging folder, stamp it, then put it in place."""
    from ..data._download import write_stamp

    with staging_dir(folder) as tmp:
        digests = _copy_members(archive, release, tmp)
        write_stamp(tmp, digests, archive=release.archive, archive_sha256=archive_sha256)
        _replace_folder(tmp, folder)


def _copy_members(archive: Path, release: Release, tmp: Path) -> dict[str, str]:
    """Copy the layout's members into ``tmp``; file name -> SHA-256 of what was written."""
    digests = {}
    try:
        with zipfile.ZipFile(archive) as zf:
            names = {Path(n).name: n for n in zf.namelist() if not n.endswith("/")
                     and Path(n).parent.name == release.folder}
            for member in _MEMBERS[release.layout]:
                if member in names:
                    digests[member] = _copy_hashed(zf, names[member], tmp / member)
                elif member not in _OPTIONAL:
                    raise DataError(f"the archive has no {release.folder}/{member}; it is "
                                    "not a MovieLens release in the expected layout",
                                    path=archive)
    except zipfile.BadZipFile as exc:
        raise DataError(f"the archive is damaged ({exc}); delete it and run again to "
                        "download it afresh", path=archive) from None
    return digests


def _copy_hashed(zf: zipfile.ZipFile, member: str, dest: Path) -> str:
    # hashing while writing costs a fraction of inflating; it is what the stamp records
    digest = hashlib.sha256()
    with zf.open(member) as src, open(dest, "xb") as dst:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            dst.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def _replace_folder(tmp: Path, folder: Path) -> None:
    """Put the complete, stamped ``tmp`` at ``folder``, removing an untrusted folder first.

    Runs under the release's lock, so no other likewise caller writes ``folder`` now; a
    reader that looks in the instant between the removal and the rename finds no folder
    and waits for the lock, after which it finds the new one. A crash in that instant
    leaves no folder, which the next call extracts again.
    """
    try:
        if folder.is_symlink() or folder.is_file():
            folder.unlink()
        elif folder.is_dir():
            shutil.rmtree(folder)
    except OSError as exc:
        raise DataError(f"cannot remove the untrusted extracted folder ({exc}); close the "
                        "programs that use it, or delete it, and run again",
                        path=folder) from None
    if not publish_dir(tmp, folder):
        raise DataError("another program created this folder while likewise was extracting "
                        "it; delete it and run again", path=folder)


# ---------------------------------------------------------------------------------------
# parsers, one per release layout
# ---------------------------------------------------------------------------------------
_TITLE_YEAR = re.compile(r"^(.*?)\s*\((\d{4})\)\s*$")


def _split_titles(titles):
    """'Toy Story (1995)' -> ('Toy Story', 1995); titles without a year keep NA."""
    import pandas as pd

    parts = titles.str.extract(_TITLE_YEAR)
    title = parts[0].fillna(titles.str.strip())
    year = pd.to_numeric(parts[1], errors="coerce").astype("Int64")
    return title, year


def _clean_year(year, title):
    """Years as nullable integers; a non-numeric year falls back to the one in the title."""
    import pandas as pd

    y = pd.to_numeric(year, errors="coerce").astype("Int64")
    from_title = pd.to_numeric(title.str.extract(r"\((\d{4})\)")[0], errors="coerce")
    return y.fillna(from_title.astype("Int64"))


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:  # ml-1m and ml-100k metadata are Latin-1
        return raw.decode("latin-1")


def _parse_100k(folder: Path, release: Release, source: str) -> Interactions:
    import pandas as pd

    from ..data.readers import read_csv

    data = read_csv(folder / "u.data", names=["userId", "movieId", "rating", "timestamp"],
                    sep="\t", rating_scale=release.rating_scale)
    genres = [line.split("|")[0] for line in _decode((folder / "u.genre").read_bytes())
              .splitlines() if line.strip()]
    rows = [line.split("|") for line in _decode((folder / "u.item").read_bytes()).splitlines()
            if line.strip()]
    item = pd.DataFrame({"movieId": [int(r[0]) for r in rows],
                         "raw_title": [r[1] for r in rows],
                         "release": [r[2] for r in rows]})
    flags = np.array([[c == "1" for c in r[5:5 + len(genres)]] for r in rows], dtype=bool)
    title, year = _split_titles(item["raw_title"])
    release_year = pd.to_numeric(item["release"].str[-4:], errors="coerce").astype("Int64")
    movies = pd.DataFrame({
        "title": title.to_numpy(), "year": year.fillna(release_year).to_numpy(),
        "genres": ["|".join(g for g, f in zip(genres, fl) if f) for fl in flags],
    }, index=pd.Index(item["movieId"], name="movieId"))
    users = None
    if (folder / "u.user").exists():
        users = pd.read_csv(folder / "u.user", sep="|", header=None, encoding="latin-1",
                            names=["userId", "age", "gender", "occupation", "zip"],
                            dtype={"zip": str}).set_index("userId")
    return data._replace(item_metadata=movies, user_metadata=users, source=source)


def _parse_dat(folder: Path, release: Release, source: str) -> Interactions:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pacsv

    # "1::122::5::838985046": splitting on ':' gives empty fields between the values
    names = ["userId", "_a", "movieId", "_b", "rating", "_c", "timestamp"]
    try:
        table = _read_dat(folder, names, pa, pacsv)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"cannot parse ratings.dat ({exc}); the cached release looks damaged: "
                        f"delete {folder} and its archive, then load again",
                        path=folder / "ratings.dat") from None
    return _dat_result(folder, release, source, table, pd)


def _read_dat(folder, names, pa, pacsv):
    return pacsv.read_csv(
        folder / "ratings.dat",
        read_options=pacsv.ReadOptions(column_names=names),
        parse_options=pacsv.ParseOptions(delimiter=":", quote_char=False),
        convert_options=pacsv.ConvertOptions(
            include_columns=["userId", "movieId", "rating", "timestamp"],
            column_types={"userId": pa.int64(), "movieId": pa.int64(),
                          "rating": pa.float32(), "timestamp": pa.int64()}))


def _dat_result(folder, release, source, table, pd) -> Interactions:
    rows = [line.split("::") for line in _decode((folder / "movies.dat").read_bytes())
            .splitlines() if line.strip()]
    raw = pd.Series([r[1] for r in rows])
    title, year = _split_titles(raw)
    movies = pd.DataFrame({"title": title.to_numpy(), "year": year.to_numpy(),
                           "genres": [_genres(r[2]) for r in rows]},
                          index=pd.Index([int(r[0]) for r in rows], name="movieId"))
    users = None
    if (folder / "users.dat").exists():
        urows = [line.split("::") for line in _decode((folder / "users.dat").read_bytes())
                 .splitlines() if line.strip()]
        users = pd.DataFrame({"gender": [r[1] for r in urows],
                              "age": [int(r[2]) for r in urows],
                              "occupation": [int(r[3]) for r in urows],
                              "zip": [r[4] for r in urows]},
                             index=pd.Index([int(r[0]) for r in urows], name="userId"))
    return Interactions.from_arrays(
        table["userId"].to_numpy(), table["movieId"].to_numpy(), table["rating"].to_numpy(),
        table["timestamp"].to_numpy(), rating_scale=release.rating_scale,
        item_metadata=movies, user_metadata=users, source=source)


def _genres(text: str) -> str:
    text = text.strip()
    return "" if text == "(no genres listed)" else text


def _parse_csv(folder: Path, release: Release, source: str) -> Interactions:
    import pandas as pd

    from ..data.readers import read_csv

    data = read_csv(folder / "ratings.csv", user="userId", item="movieId", rating="rating",
                    timestamp="timestamp", rating_scale=release.rating_scale)
    raw = pd.read_csv(folder / "movies.csv", dtype={"movieId": "int64"}, encoding="utf-8")
    title, year = _split_titles(raw["title"])
    movies = pd.DataFrame({"title": title.to_numpy(), "year": year.to_numpy(),
                           "genres": raw["genres"].map(_genres).to_numpy()},
                          index=pd.Index(raw["movieId"].to_numpy(), name="movieId"))
    return data._replace(item_metadata=movies, source=source)
