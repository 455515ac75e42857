"""MovieLens: the embedded 100K, and the download path end to end against a local server.

The server on 127.0.0.1 serves zips the tests build in each release's own layout
(``u.data``/``u.item``, ``ratings.dat`` with ``::``, ``ratings.csv``), and can corrupt
or cut a transfer short; the cache must never keep a partial or unverified file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

import likewise
from likewise import DataError, datasets
from likewise.data import _download

# ---------------------------------------------------------------------------------------
# archives in the three MovieLens layouts
# ---------------------------------------------------------------------------------------
RATINGS = [(1, 10, 4, 978300760), (1, 20, 5, 978302109), (2, 10, 3, 978301968),
           (2, 30, 1, 978300275), (3, 20, 2, 978824291)]


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def zip_dat(folder="ml-1m", half_stars=False) -> bytes:
    ratings = "".join(f"{u}::{i}::{r - 0.5 if half_stars and r > 1 else r}::{t}\n"
                      for u, i, r, t in RATINGS)
    movies = ("10::Toy Story (1995)::Animation|Children's|Comedy\n"
              "20::Misérables, Les (1995)::Drama\n"
              "30::City of Lost Children, The: A Story (1995)::(no genres listed)\n")
    users = "1::F::1::10::48067\n2::M::56::16::70072\n3::M::25::15::55117\n"
    return _zip({f"{folder}/ratings.dat": ratings.encode(),
                 f"{folder}/movies.dat": movies.encode("latin-1"),
                 f"{folder}/users.dat": users.encode(), f"{folder}/README": b"test"})


def zip_csv(folder="ml-latest-small") -> bytes:
    ratings = "userId,movieId,rating,timestamp\n" + "".join(
        f"{u},{i},{r - 0.5 if r > 1 else r},{t}\n" for u, i, r, t in RATINGS)
    movies = ('movieId,title,genres\n10,Toy Story (1995),Adventure|Animation\n'
              '20,"American President, The (1995)",Comedy|Drama|Romance\n'
              '30,Unknown Film,(no genres listed)\n')
    return _zip({f"{folder}/ratings.csv": ratings.encode(),
                 f"{folder}/movies.csv": movies.encode(), f"{folder}/links.csv": b"x"})


def zip_100k() -> bytes:
    data = "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in RATINGS)
    genres = "unknown|0\nAction|1\nComedy|2\nDrama|3\n\n"
    item = ("10|Toy Story (1995)|01-Jan-1995||http://x|0|0|1|0\n"
            "20|Misérables, Les (1995)|01-Jan-1995||http://x|0|0|0|1\n"
            "30|Heat (1995)|01-Jan-1995||http://x|0|1|0|1\n")
    user = "1|24|M|technician|85711\n2|53|F|other|94043\n3|23|M|writer|32067\n"
    return _zip({"ml-100k/u.data": data.encode(), "ml-100k/u.item": item.encode("latin-1"),
                 "ml-100k/u.genre": genres.encode(), "ml-100k/u.user": user.encode()})


# ---------------------------------------------------------------------------------------
# a local HTTP server that can misbehave
# ---------------------------------------------------------------------------------------
class Server:
    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.mode = "ok"  # "ok" | "corrupt" | "truncate"
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                name = self.path.rsplit("/", 1)[-1]
                if name not in outer.files:
                    self.send_error(404, "not found")
                    return
                body = outer.files[name]
                if outer.mode == "corrupt":
                    body = body[:-10] + bytes(10)
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.mode == "truncate":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/movielens/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def _publish(monkeypatch, server, variant: str, payload: bytes, *, known: bool = True):
    """Serve ``payload`` as ``variant``'s archive and make the registry expect it."""
    rel = datasets.RELEASES[variant]
    server.files[rel.archive] = payload
    sha = hashlib.sha256(payload).hexdigest() if known else None
    monkeypatch.setitem(datasets.RELEASES, variant, dataclasses.replace(
        rel, sha256=sha, size=len(payload) if known else None, md5=None))
    return rel


def _cache_files(root: Path) -> list[str]:
    """Every file under ``root`` but the (empty) lock files that serialise cache writers."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and not p.name.endswith(".lock"))


# ---------------------------------------------------------------------------------------
# embedded 100K
# ---------------------------------------------------------------------------------------
def test_embedded_100k():
    data = datasets.movielens("100k")
    assert (data.n_users, data.n_items, data.nnz) == (943, 1682, 100_000)
    assert data.kind == "explicit" and data.rating_scale == (1.0, 5.0)
    assert data.timestamps is not None and data.timestamps.min() > 8e8
    meta = data.item_metadata
    assert meta.loc[1, "title"] == "Toy Story" and meta.loc[1, "year"] == 1995
    assert "Comedy" in meta.loc[1, "genres"].split("|")
    assert int(meta["year"].notna().sum()) == 1681  # movie 267 ("unknown") has no year
    assert data.user_metadata.loc[1, "occupation"] == "technician"
    assert data.matrix.has_canonical_format


def test_embedded_fast_path_equals_from_arrays():
    data = datasets.movielens("100k")
    f = data.to_frame()
    ref = likewise.Interactions.from_arrays(f["user"], f["item"], f["rating"], f["timestamp"],
                                            rating_scale=(1, 5))
    assert (ref.matrix != data.matrix).nnz == 0
    assert ref.users == data.users and ref.items == data.items
    np.testing.assert_array_equal(ref.timestamps, data.timestamps)


def test_fast_path_falls_back_on_duplicates():
    data = datasets._clean_interactions(np.array([1, 1, 2]), np.array([5, 5, 6]),
                                        np.array([1.0, 3.0, 2.0]), np.array([2, 1, 3]),
                                        rating_scale=(1, 5))
    assert data.nnz == 2 and data.matrix[0, 0] == 1.0  # "last" by timestamp


def test_unknown_variant():
    with pytest.raises(likewise.ConfigError, match="'1m'"):
        datasets.movielens("2m")


# ---------------------------------------------------------------------------------------
# downloads
# ---------------------------------------------------------------------------------------
def test_download_dat_layout_end_to_end(server, monkeypatch, tmp_path):
    _publish(monkeypatch, server, "1m", zip_dat())
    data = datasets.movielens("1m", cache_dir=tmp_path, base_url=server.url, progress=False)
    assert (data.n_users, data.n_items, data.nnz) == (3, 3, 5)
    assert data.rating_scale == (1.0, 5.0) and data.source == "movielens-1m"
    f = data.to_frame().sort_values(["user", "item"])
    assert f[["user", "item", "rating", "timestamp"]].to_records(index=False).tolist() == \
        [(u, i, float(r), t) for u, i, r, t in sorted(RATINGS)]
    meta = data.item_metadata
    assert meta.loc[20, "title"] == "Misérables, Les" and meta.loc[20, "year"] == 1995
    assert meta.loc[30, "title"] == "City of Lost Children, The: A Story"
    assert meta.loc[30, "genres"] == ""
    assert data.user_metadata.loc[2, "age"] == 56
    # the stamp is what makes the folder trusted; the empty lock file serialises writers
    assert (tmp_path / "movielens" / ".ml-1m.lock").read_bytes() == b""
    assert _cache_files(tmp_path) == ["movielens/ml-1m.zip", "movielens/ml-1m.zip.sha256",
                                      "movielens/ml-1m/.likewise-extracted.json",
                                      "movielens/ml-1m/README", "movielens/ml-1m/movies.dat",
                                      "movielens/ml-1m/ratings.dat",
                                      "movielens/ml-1m/users.dat"]
    # second load: from the cache, no request, works offline
    n = len(server.requests)
    again = datasets.movielens("1m", cache_dir=tmp_path, download=False)
    assert len(server.requests) == n and (again.matrix != data.matrix).nnz == 0


def test_download_csv_layout_with_env_vars(server, monkeypatch, tmp_path):
    _publish(monkeypatch, server, "latest-small", zip_csv())
    monkeypatch.setenv("LIKEWISE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LIKEWISE_MOVIELENS_URL", server.url)
    data = datasets.movielens("latest-small", progress=False)
    assert data.nnz == 5 and data.rating_scale == (0.5, 5.0)
    assert sorted(set(data.matrix.data.tolist())) == [1.0, 1.5, 2.5, 3.5, 4.5]
    meta = data.item_metadata
    assert meta.loc[20, "title"] == "American President, The"
    assert meta.loc[30, "title"] == "Unknown Film" and meta["year"].isna().loc[30]
    assert (tmp_path / "cache" / "movielens" / "ml-latest-small" / "ratings.csv").exists()
    assert server.requests == ["/movielens/ml-latest-small.zip"]


def test_download_original_100k_layout(server, monkeypatch, tmp_path):
    _publish(monkeypatch, server, "100k", zip_100k())
    data = datasets.movielens("100k", embedded=False, cache_dir=tmp_path,
                              base_url=server.url, progress=False)
    assert data.nnz == 5 and data.rating_scale == (1.0, 5.0)
    meta = data.item_metadata
    assert meta.loc[10, "genres"] == "Comedy" and meta.loc[30, "genres"] == "Action|Drama"
    assert meta.loc[20, "title"] == "Misérables, Les" and meta.loc[20, "year"] == 1995
    assert data.user_metadata.loc[3, "occupation"] == "writer"


def test_half_star_dat_release(server, monkeypatch, tmp_path):
    _publish(monkeypatch, server, "10m", zip_dat("ml-10M100K", half_stars=True))
    data = datasets.movielens("10m", cache_dir=tmp_path, base_url=server.url, progress=False)
    assert data.rating_scale == (0.5, 5.0) and 0.5 not in data.matrix.data  # 1 stays 1
    assert 3.5 in data.matrix.data


def test_corrupted_download_leaves_no_file(server, monkeypatch, tmp_path):
    _publish(monkeypatch, server, "1m", zip_dat())
    server.mode = "corrupt"
    with pytest.raises(DataError, match="checksum mismatch"):
        datasets.movielens("1m", cache_dir=tmp_path, base_url=server.url, progress=False)
    assert _cache_files(tmp_path) == []
    server.mode = "ok"  # a retry then succeeds
    assert datasets.movielens("1m", cache_dir=tmp_path, base_url=server.url,
                              progress=False).nnz == 5


def test_interrupted_download_leaves_no_file(server, monkeypatch, tmp_path):
    _publish(monkeypatch, server, "20m", zip_csv("ml-20m"))
    server.mode = "truncate"
    with pytest.raises(DataError, match="interrupted|incomplete") as info:
        datasets.movielens("20m", cache_dir=tmp_path, base_url=server.url, progress=False)
    assert "run again" in str(info.value)
    assert _cache_files(tmp_path) == []


def test_exception_mid_download_leaves_no_file(server, monkeypatch, tmp_path):
    _publish(monkeypatch, server, "1m", zip_dat())

    class Boom:
        def update(self, n):
            raise KeyboardInterrupt

        def close(self):
            pass

    monkeypatch.setattr(_download, "_progress_bar", lambda *a: Boom())
    with pytest.raises(KeyboardInterrupt):
        datasets.movielens("1m", cache_dir=tmp_path, base_url=server.url)
    assert _cache_files(tmp_path) == []


def test_http_error_and_offline(server, monkeypatch, tmp_path):
    with pytest.raises(DataError, match="HTTP 404"):
        datasets.movielens("25m", cache_dir=tmp_path, base_url=server.url, progress=False)
    assert _cache_files(tmp_path) == []
    with pytest.raises(DataError, match="not in the cache.*download=True"):
        datasets.movielens("25m", cache_dir=tmp_path, download=False)
    with pytest.raises(DataError, match="failed"):
        datasets.movielens("25m", cache_dir=tmp_path, base_url="http://127.0.0.1:9/x/",
                           progress=False)


def test_unknown_checksum_is_recorded_then_verified(server, monkeypatch, tmp_path):
    payload = zip_csv("ml-32m")
    _publish(monkeypatch, server, "32m", payload, known=False)
    data = datasets.movielens("32m", cache_dir=tmp_path, base_url=server.url, progress=False)
    assert data.nnz == 5
    root = tmp_path / "movielens"
    assert (root / "ml-32m.zip.sha256").read_text().strip() == \
        hashlib.sha256(payload).hexdigest()
    # the archive is damaged after the fact: the next extraction notices, refuses it and
    # leaves the file for its owner to delete (likewise only ever renames verified files in)
    import shutil

    shutil.rmtree(root / "ml-32m")
    damaged = payload[:50] + bytes([payload[50] ^ 0xFF]) + payload[51:]
    (root / "ml-32m.zip").write_bytes(damaged)
    with pytest.raises(DataError, match="its SHA-256 is .*, expected .*delete it") as info:
        datasets.movielens("32m", cache_dir=tmp_path, download=False)
    assert hashlib.sha256(payload).hexdigest() in str(info.value)
    assert (root / "ml-32m.zip").read_bytes() == damaged and not (root / "ml-32m").exists()
    (root / "ml-32m.zip").unlink()  # the fix the message names
    assert datasets.movielens("32m", cache_dir=tmp_path, base_url=server.url,
                              progress=False).nnz == 5


def test_archive_in_wrong_layout(server, monkeypatch, tmp_path):
    _publish(monkeypatch, server, "25m", _zip({"other/ratings.csv": b"x"}))
    with pytest.raises(DataError, match="no ml-25m/ratings.csv"):
        datasets.movielens("25m", cache_dir=tmp_path, base_url=server.url, progress=False)
    assert not (tmp_path / "movielens" / "ml-25m").exists()
    assert not list((tmp_path / "movielens").glob(".*.tmp"))


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("LIKEWISE_DATA_DIR", str(tmp_path / "d"))
    assert _download.default_cache_dir() == tmp_path / "d"
    monkeypatch.delenv("LIKEWISE_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if _download.sys.platform.startswith("linux"):
        assert _download.default_cache_dir() == tmp_path / "xdg" / "likewise"


def test_registry_uses_official_addresses():
    for variant, rel in datasets.RELEASES.items():
        assert rel.archive == f"ml-{variant}.zip"
        assert rel.sha256 is None or len(rel.sha256) == 64
    assert datasets.DEFAULT_BASE_URL == "https://files.grouplens.org/datasets/movielens/"


def test_damaged_dat_release_is_a_data_error(server, monkeypatch, tmp_path):
    bad = _zip({"ml-1m/ratings.dat": b"1::10::4::978300760\n1::x::5::978302109\n",
                "ml-1m/movies.dat": b"10::Toy Story (1995)::Comedy\n"})
    _publish(monkeypatch, server, "1m", bad)
    with pytest.raises(DataError, match="cannot parse ratings.dat") as info:
        datasets.movielens("1m", cache_dir=tmp_path, base_url=server.url, progress=False)
    assert info.value.path.endswith("ratings.dat")
