"""Hostile and careless use of the MovieLens cache (issue #14, point 7).

Nothing found in the cache is trusted: an archive is checked against its published
checksums before it is extracted (whoever put it there), and an extracted folder is used
only while it matches the stamp written when it was extracted; otherwise it is extracted
again from the verified archive. Fake releases are served from 127.0.0.1 or put in the
cache by hand; the checksum table is injected with ``monkeypatch`` except in the test
that uses the real one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from likewise import DataError, datasets
from likewise.data import _download

RATINGS = [(1, 10, 4, 978300760), (1, 20, 5, 978302109), (2, 10, 3, 978301968),
           (2, 30, 1, 978300275), (3, 20, 2, 978824291)]
MOVIES = "10::Toy Story (1995)::Animation\n20::Heat (1995)::Drama\n30::Babe (1995)::Comedy\n"
USERS = "1::F::1::10::48067\n2::M::56::16::70072\n3::M::25::15::55117\n"
SRC = str(Path(__file__).resolve().parents[2] / "src")


def release_zip(folder: str = "ml-1m", *, users: bool = True, extra_ratings: int = 0) -> bytes:
    """A MovieLens release in the ``::`` layout; ``extra_ratings`` pads ratings.dat."""
    rows = RATINGS + [(4, 10, 3, 978300000 + k) for k in range(extra_ratings)]
    files = {f"{folder}/ratings.dat": "".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in rows),
             f"{folder}/movies.dat": MOVIES, f"{folder}/README": "test release"}
    if users:
        files[f"{folder}/users.dat"] = USERS
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


class Server:
    """Serves archives by file name and counts the requests."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                body = outer.files.get(self.path.rsplit("/", 1)[-1])
                if body is None:
                    self.send_error(404, "not found")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/movielens/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def expect(monkeypatch, variant: str, payload: bytes) -> datasets.Release:
    """Make the checksum table publish ``payload`` as ``variant``'s archive."""
    rel = dataclasses.replace(datasets.RELEASES[variant],
                              sha256=hashlib.sha256(payload).hexdigest(), size=len(payload),
                              md5=hashlib.md5(payload).hexdigest())
    monkeypatch.setitem(datasets.RELEASES, variant, rel)
    return rel


def place(cache: Path, name: str, payload: bytes) -> Path:
    """Put a file into the cache by hand, as a user would."""
    path = cache / "movielens" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    return path


def load(cache: Path, variant: str = "1m", **kw):
    kw.setdefault("base_url", "http://127.0.0.1:9/nothing-listens-here/")
    return datasets.movielens(variant, cache_dir=cache, progress=False, **kw)


def rows(data) -> list[tuple]:
    f = data.to_frame().sort_values(["user", "item"])
    return f[["user", "item", "rating", "timestamp"]].to_records(index=False).tolist()


def stamp_of(folder: Path) -> dict:
    return json.loads((folder / _download.STAMP_NAME).read_text())


def trusted(cache: Path, variant: str = "1m") -> bool:
    rel = datasets.RELEASES[variant]
    root = cache / "movielens"
    return datasets._folder_problem(root / rel.folder, rel, root) is None


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in (cache / "movielens").iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def extracted(monkeypatch, tmp_path):
    """A cache holding a hand-placed, verified 1M archive and its trusted extraction."""
    payload = release_zip()
    expect(monkeypatch, "1m", payload)
    place(tmp_path, "ml-1m.zip", payload)
    data = load(tmp_path, download=False)
    return tmp_path, tmp_path / "movielens" / "ml-1m", rows(data)


# ---------------------------------------------------------------------------------------
# archives put into the cache by hand
# ---------------------------------------------------------------------------------------
def test_a_wrong_hand_placed_10m_zip_is_refused_against_the_real_checksums(server, tmp_path):
    # the case, with the production table: nothing injected
    fake = release_zip("ml-10M100K")
    archive = place(tmp_path, "ml-10m.zip", fake)
    server.files["ml-10m.zip"] = fake
    for download in (True, False):
        with pytest.raises(DataError) as info:
            load(tmp_path, "10m", download=download, base_url=server.url)
        message = str(info.value)
        assert message.startswith(str(archive))
        assert f"it is {len(fake)} bytes, expected 65566137" in message
        assert (f"its SHA-256 is {hashlib.sha256(fake).hexdigest()}, expected "
                "813c411ccb6122564edfe752e7f80c4dcc5aa25fa94c93622f6877a7ba252862") in message
        assert "expected ce571fd55effeba0271552578f2648bd" in message  # GroupLens' own MD5
        assert "delete it and run again" in message
    assert archive.read_bytes() == fake  # the user's file is not deleted
    assert not (tmp_path / "movielens" / "ml-10M100K").exists()
    assert server.requests == []  # refused, not silently replaced


def test_every_release_with_a_download_has_a_published_checksum():
    for variant, rel in datasets.RELEASES.items():
        assert rel.sha256 is not None and len(rel.sha256) == 64, variant
        assert rel.size is not None and rel.size > 0, variant
    assert datasets.RELEASES["10m"].md5 == "ce571fd55effeba0271552578f2648bd"
    assert datasets.RELEASES["32m"].md5 == "d472be332d4daa821edc399621853b57"


def _truncated(p: bytes) -> bytes:
    return p[: len(p) // 2]  # an interrupted browser download


def _flipped(p: bytes) -> bytes:
    return p[:40] + bytes([p[40] ^ 1]) + p[41:]  # same size, one bit off


def _other_release(p: bytes) -> bytes:
    return release_zip(extra_ratings=1)  # a valid zip of the right layout, not the release


@pytest.mark.parametrize("spoil", [_truncated, _flipped, _other_release])
def test_a_wrong_hand_placed_archive_is_refused(monkeypatch, tmp_path, server, spoil):
    payload = release_zip()
    expect(monkeypatch, "1m", payload)
    server.files["ml-1m.zip"] = payload
    wrong = spoil(payload)
    archive = place(tmp_path, "ml-1m.zip", wrong)
    with pytest.raises(DataError, match="is not the published ml-1m.zip") as info:
        load(tmp_path, base_url=server.url)
    assert hashlib.sha256(wrong).hexdigest() in str(info.value)
    assert hashlib.sha256(payload).hexdigest() in str(info.value)
    assert archive.read_bytes() == wrong and server.requests == []
    assert not (tmp_path / "movielens" / "ml-1m").exists()
    archive.unlink()  # the fix the message gives
    assert rows(load(tmp_path, base_url=server.url)) == sorted(RATINGS)
    assert len(server.requests) == 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_in_place_of_the_archive_is_refused_without_blocking(monkeypatch, tmp_path):
    expect(monkeypatch, "1m", release_zip())
    (tmp_path / "movielens").mkdir()
    os.mkfifo(tmp_path / "movielens" / "ml-1m.zip")
    with pytest.raises(DataError, match="not a regular file"):
        load(tmp_path)


def test_a_right_hand_placed_archive_is_used_without_network(monkeypatch, tmp_path, server):
    payload = release_zip()
    expect(monkeypatch, "1m", payload)
    place(tmp_path, "ml-1m.zip", payload)
    data = load(tmp_path, base_url=server.url)  # download allowed, but not needed
    assert rows(data) == sorted(RATINGS) and server.requests == []
    assert data.user_metadata.loc[2, "age"] == 56
    stamp = stamp_of(tmp_path / "movielens" / "ml-1m")
    assert stamp["archive"] == "ml-1m.zip"
    assert stamp["archive_sha256"] == hashlib.sha256(payload).hexdigest()
    assert sorted(stamp["files"]) == ["README", "movies.dat", "ratings.dat", "users.dat"]
    ratings = tmp_path / "movielens" / "ml-1m" / "ratings.dat"
    assert stamp["files"]["ratings.dat"] == {
        "size": ratings.stat().st_size, "mtime_ns": ratings.stat().st_mtime_ns,
        "sha256": hashlib.sha256(ratings.read_bytes()).hexdigest()}


def test_a_symlink_to_the_right_archive_is_verified_and_used(monkeypatch, tmp_path):
    payload = release_zip()
    expect(monkeypatch, "1m", payload)
    elsewhere = tmp_path / "big-disk" / "ml-1m.zip"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(payload)
    (tmp_path / "cache" / "movielens").mkdir(parents=True)
    (tmp_path / "cache" / "movielens" / "ml-1m.zip").symlink_to(elsewhere)
    assert rows(load(tmp_path / "cache", download=False)) == sorted(RATINGS)
    elsewhere.write_bytes(_flipped(payload))  # the target changes: refused at the next extraction
    (tmp_path / "cache" / "movielens" / "ml-1m" / _download.STAMP_NAME).unlink()
    with pytest.raises(DataError, match="its SHA-256 is"):
        load(tmp_path / "cache", download=False)


# ---------------------------------------------------------------------------------------
# extracted folders
# ---------------------------------------------------------------------------------------
def _edit_small_file(folder: Path) -> None:
    movies = folder / "movies.dat"  # same size, different title
    movies.write_bytes(movies.read_bytes().replace(b"Heat", b"Hoot"))


def _append_a_rating(folder: Path) -> None:
    with open(folder / "ratings.dat", "a") as fh:
        fh.write("9::10::5::978300000\n")


def _truncate_ratings(folder: Path) -> None:
    (folder / "ratings.dat").write_bytes(b"")


def _remove_ratings(folder: Path) -> None:
    (folder / "ratings.dat").unlink()


def _symlink_outside(folder: Path) -> None:
    outside = folder.parent.parent / "outside.dat"
    outside.write_bytes((folder / "ratings.dat").read_bytes())  # even the same content
    (folder / "ratings.dat").unlink()
    (folder / "ratings.dat").symlink_to(outside)


def _add_unstamped_users(folder: Path) -> None:
    (folder / "users.dat").unlink()  # stamped: present -> missing
    stamp = stamp_of(folder)
    del stamp["files"]["users.dat"]
    (folder / _download.STAMP_NAME).write_text(json.dumps(stamp))
    (folder / "users.dat").write_text("1::M::99::1::00000\n")  # now a file the stamp lacks


def _remove_stamp(folder: Path) -> None:
    (folder / _download.STAMP_NAME).unlink()


def _garble_stamp(folder: Path) -> None:
    (folder / _download.STAMP_NAME).write_text("{not json")


def _stamp_of_another_archive(folder: Path) -> None:
    stamp = stamp_of(folder)
    stamp["archive_sha256"] = "0" * 64
    (folder / _download.STAMP_NAME).write_text(json.dumps(stamp))


def _stamp_with_a_path(folder: Path) -> None:
    stamp = stamp_of(folder)
    stamp["files"]["../ml-1m.zip"] = stamp["files"].pop("README")
    (folder / _download.STAMP_NAME).write_text(json.dumps(stamp))


def _replace_with_a_file(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder)
    folder.write_text("not a folder")


TAMPERING = [_edit_small_file, _append_a_rating, _truncate_ratings, _remove_ratings,
             _symlink_outside, _add_unstamped_users, _remove_stamp, _garble_stamp,
             _stamp_of_another_archive, _stamp_with_a_path, _replace_with_a_file]


@pytest.mark.parametrize("tamper", TAMPERING, ids=lambda f: f.__name__.strip("_"))
def test_an_untrusted_folder_is_extracted_again(extracted, tamper):
    cache, folder, original = extracted
    tamper(folder)
    with pytest.warns(UserWarning, match="cannot be trusted"):
        again = load(cache, download=False)
    assert rows(again) == original
    assert again.item_metadata.loc[20, "title"] == "Heat"
    assert again.user_metadata.loc[1, "age"] == 1
    assert trusted(cache)
    assert not (folder / "ratings.dat").is_symlink() and leftovers(cache) == []


def test_an_old_unstamped_extraction_is_replaced(monkeypatch, tmp_path):
    # what an older likewise (or a user's unzip) left: the release's files, no stamp
    payload = release_zip()
    expect(monkeypatch, "1m", payload)
    place(tmp_path, "ml-1m.zip", payload)
    with zipfile.ZipFile(io.BytesIO(payload)) as zf:
        zf.extractall(tmp_path / "movielens")
    (tmp_path / "movielens" / "ml-1m" / "ratings.dat").write_text("1::10::1::978300760\n")
    with pytest.warns(UserWarning, match="has no .likewise-extracted.json stamp"):
        assert rows(load(tmp_path, download=False)) == sorted(RATINGS)


def test_a_trusted_folder_is_used_without_its_archive(extracted):
    cache, folder, original = extracted
    (cache / "movielens" / "ml-1m.zip").unlink()  # e.g. removed to save space
    assert rows(load(cache, download=False)) == original


def test_an_untrusted_folder_without_its_archive(extracted, server):
    cache, folder, original = extracted
    (cache / "movielens" / "ml-1m.zip").unlink()
    _append_a_rating(folder)
    with pytest.raises(DataError, match="not in the cache .*ratings.dat is .* bytes.*"
                                        "download=True"):
        load(cache, download=False)
    assert (folder / "ratings.dat").read_text().endswith("9::10::5::978300000\n")  # untouched
    server.files["ml-1m.zip"] = release_zip()
    with pytest.warns(UserWarning, match="cannot be trusted"):
        assert rows(load(cache, base_url=server.url)) == original
    assert len(server.requests) == 1


def test_a_cache_that_cannot_be_written(extracted, monkeypatch):
    cache, folder, original = extracted
    real_open = os.open

    def no_lock_files(path, *args, **kw):
        if str(path).endswith(".lock"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kw)

    monkeypatch.setattr(os, "open", no_lock_files)
    assert rows(load(cache, download=False)) == original  # a trusted folder needs no lock
    _remove_stamp(folder)
    with pytest.raises(DataError, match="lock file .*Permission denied.*cache_dir="):
        load(cache, download=False)


def test_large_files_are_checked_by_size_and_mtime(extracted, monkeypatch):
    cache, folder, original = extracted
    monkeypatch.setattr(_download, "_REHASH_UP_TO", 0)  # every file counts as large
    ratings = folder / "ratings.dat"
    before = stamp_of(folder)["files"]["ratings.dat"]
    # a copied cache: same content, new mtime -> hashed once, accepted, stamp updated
    os.utime(ratings, ns=(before["mtime_ns"] + 10**9, before["mtime_ns"] + 10**9))
    assert rows(load(cache, download=False)) == original
    assert stamp_of(folder)["files"]["ratings.dat"]["mtime_ns"] == before["mtime_ns"] + 10**9
    # same size, new content, new mtime -> hashed, refused, extracted again
    text = ratings.read_bytes()
    ratings.write_bytes(text.replace(b"::4::", b"::1::", 1))
    with pytest.warns(UserWarning, match="ratings.dat was changed"):
        assert rows(load(cache, download=False)) == original


# ---------------------------------------------------------------------------------------
# interruptions and concurrency
# ---------------------------------------------------------------------------------------
def test_an_exception_mid_extraction_leaves_no_folder(monkeypatch, tmp_path):
    payload = release_zip()
    expect(monkeypatch, "1m", payload)
    place(tmp_path, "ml-1m.zip", payload)
    real = datasets._copy_hashed
    calls = []

    def interrupted(zf, member, dest):
        calls.append(member)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(zf, member, dest)

    monkeypatch.setattr(datasets, "_copy_hashed", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load(tmp_path, download=False)
    assert not (tmp_path / "movielens" / "ml-1m").exists() and leftovers(tmp_path) == []
    monkeypatch.setattr(datasets, "_copy_hashed", real)
    assert rows(load(tmp_path, download=False)) == sorted(RATINGS)


_KILLED_CHILD = """
import dataclasses, sys, time
sys.path.insert(0, {src!r})
from likewise import datasets
cache, sha, size, where = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
datasets.RELEASES["1m"] = dataclasses.replace(datasets.RELEASES["1m"], sha256=sha, size=size,
                                              md5=None)
def stop_here(real):
    def wrapper(*args):
        if where == "copy":
            real(*args)
        print("STOPPED", flush=True)
        time.sleep(120)
    return wrapper
if where == "copy":    # inside the staging folder, after its first file
    datasets._copy_hashed = stop_here(datasets._copy_hashed)
else:                  # after the untrusted folder was removed, before the new one moves in
    datasets.publish_dir = stop_here(datasets.publish_dir)
datasets.movielens("1m", cache_dir=cache, download=False, progress=False)
"""


@pytest.mark.skipif(os.name == "nt", reason="kill -9")
@pytest.mark.parametrize("where", ["copy", "publish"])
def test_kill_9_mid_extraction_leaves_no_trusted_folder(tmp_path, monkeypatch, where):
    payload = release_zip(extra_ratings=2000)
    rel = expect(monkeypatch, "1m", payload)
    place(tmp_path, "ml-1m.zip", payload)
    folder = tmp_path / "movielens" / "ml-1m"
    if where == "publish":  # an untrusted folder is being replaced
        load(tmp_path, download=False)
        _append_a_rating(folder)
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_CHILD.format(src=SRC), str(tmp_path), rel.sha256,
         str(rel.size), where], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "STOPPED"
    finally:
        child.kill()
        child.wait(timeout=30)
    assert not folder.exists()  # nothing half-made is at the trusted name
    assert leftovers(tmp_path)  # the killed staging folder, hidden
    # the next call extracts again (warning only when something untrusted was there)
    data = load(tmp_path, download=False)
    assert data.nnz == len(RATINGS) + 1 and trusted(tmp_path) and leftovers(tmp_path) == []


def test_concurrent_first_use_downloads_once_and_agrees(monkeypatch, tmp_path, server):
    payload = release_zip(extra_ratings=5000)
    expect(monkeypatch, "1m", payload)
    server.files["ml-1m.zip"] = payload
    start, results, errors = threading.Barrier(6), [], []

    def use():
        start.wait()
        try:
            results.append(rows(load(tmp_path, base_url=server.url)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=use) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == [] and len(results) == 6 and all(r == results[0] for r in results)
    assert len(server.requests) == 1 and leftovers(tmp_path) == [] and trusted(tmp_path)


@pytest.mark.filterwarnings("ignore:.*cannot be trusted")
def test_concurrent_repair_extracts_once(extracted, monkeypatch):
    cache, folder, original = extracted
    _edit_small_file(folder)
    real, extractions = datasets._extract, []

    def counted(*args):
        extractions.append(args)
        return real(*args)

    monkeypatch.setattr(datasets, "_extract", counted)
    start, results = threading.Barrier(5), []

    def use():
        start.wait()
        results.append(rows(load(cache, download=False)))

    threads = [threading.Thread(target=use) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results == [original] * 5 and len(extractions) == 1


_PROCESS_CHILD = """
import dataclasses, sys
sys.path.insert(0, {src!r})
from likewise import datasets
datasets.RELEASES["1m"] = dataclasses.replace(datasets.RELEASES["1m"], sha256=sys.argv[2],
                                              size=int(sys.argv[3]), md5=None)
data = datasets.movielens("1m", cache_dir=sys.argv[1], download=False, progress=False)
print(data.nnz)
"""


@pytest.mark.slow
def test_concurrent_processes_share_one_extraction(monkeypatch, tmp_path):
    payload = release_zip(extra_ratings=20000)
    rel = expect(monkeypatch, "1m", payload)
    place(tmp_path, "ml-1m.zip", payload)
    children = [subprocess.Popen([sys.executable, "-c", _PROCESS_CHILD.format(src=SRC),
                                  str(tmp_path), rel.sha256, str(rel.size)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(3)]
    outputs = [c.communicate(timeout=300) for c in children]
    assert [c.returncode for c in children] == [0, 0, 0], outputs
    assert all(out.strip() == str(len(RATINGS) + 1) for out, _ in outputs)
    assert all("cannot be trusted" not in err for _, err in outputs)  # nobody replaced anybody
    assert leftovers(tmp_path) == []
