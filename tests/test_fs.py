"""Atomic, durable writes (likewise._fs) and the shared saved-folder format (likewise._artifact)."""

import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from likewise import _fs
from likewise._artifact import ArtifactReader, check_name, files_dir, write_artifact
from likewise.errors import ModelFormatError

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "likewise"


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def fsyncs(monkeypatch):
    """Count os.fsync calls (they still run)."""
    calls = []
    real = os.fsync

    def counting(fd):
        calls.append(fd)
        return real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    return calls


# ---------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------
def test_atomic_writers_replace_the_content(tmp_path):
    target = tmp_path / "a.bin"
    _fs.atomic_write_bytes(target, b"one")
    _fs.atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    text = tmp_path / "a.txt"
    _fs.atomic_write_text(text, "h\u00e9llo\n")
    assert text.read_bytes() == "h\u00e9llo\n".encode()
    _fs.atomic_write_text(text, "caf\u00e9", encoding="latin-1")
    assert text.read_bytes() == b"caf\xe9"
    with _fs.atomic_file(tmp_path / "arr.npy") as fh:
        np.save(fh, np.arange(5), allow_pickle=False)
    np.testing.assert_array_equal(np.load(tmp_path / "arr.npy"), np.arange(5))
    assert _names(tmp_path) == ["a.bin", "a.txt", "arr.npy"]


def test_an_exception_mid_write_leaves_the_old_content(tmp_path):
    target = tmp_path / "report.md"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="half-way"):
        with _fs.atomic_file(target, "w") as fh:
            fh.write("new, but only half of it")
            fh.flush()
            assert len(list(tmp_path.glob(".report.md.*.tmp"))) == 1  # next to the target
            raise RuntimeError("half-way")
    assert target.read_text() == "old"
    assert _names(tmp_path) == ["report.md"]


@pytest.mark.parametrize("failing", ["fsync", "replace", "write"])
def test_a_failing_step_leaves_the_target_and_no_temp_file(tmp_path, monkeypatch, failing):
    target = tmp_path / "data.bin"
    target.write_bytes(b"old")

    def boom(*args, **kwargs):
        raise OSError(f"{failing} failed")

    if failing == "write":
        with pytest.raises(OSError, match="write failed"):
            with _fs.atomic_file(target) as fh:
                fh.write(b"partial")
                boom()
    else:
        monkeypatch.setattr(os, failing, boom)
        with pytest.raises(OSError, match=f"{failing} failed"):
            _fs.atomic_write_bytes(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert _names(tmp_path) == ["data.bin"]


def test_atomic_writes_fsync_the_file_and_its_directory(tmp_path, fsyncs):
    _fs.atomic_write_bytes(tmp_path / "x", b"x")
    # the file's data, then the directory entry of the rename (POSIX only)
    assert len(fsyncs) == (1 if os.name == "nt" else 2)


def test_atomic_file_checks_its_mode(tmp_path):
    with pytest.raises(ValueError, match="mode must be one of"):
        with _fs.atomic_file(tmp_path / "x", "a"):
            pass
    assert _names(tmp_path) == []


def test_sha256_file(tmp_path):
    (tmp_path / "x").write_bytes(b"abc")
    assert _fs.sha256_file(tmp_path / "x") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


# ---------------------------------------------------------------------------------------
# folders
# ---------------------------------------------------------------------------------------
def test_install_dir_new_and_replacing_a_previous_save(tmp_path, fsyncs):
    target = tmp_path / "model"
    with _fs.staging_dir(target) as tmp:
        (tmp / "manifest.json").write_text("{}")
        (tmp / "data").write_bytes(b"one")
        _fs.install_dir(tmp, target, "model")
    assert (target / "data").read_bytes() == b"one"
    # both files, then (POSIX only) the staging folder and the parent's new entry
    assert len(fsyncs) == (2 if os.name == "nt" else 4)
    with _fs.staging_dir(target) as tmp:
        (tmp / "manifest.json").write_text("{}")
        (tmp / "data").write_bytes(b"two")
        _fs.install_dir(tmp, target, "model")
    assert (target / "data").read_bytes() == b"two"
    assert _names(tmp_path) == ["model"]  # no staging folder, no .model.old


def test_install_dir_into_an_empty_directory(tmp_path):
    target = tmp_path / "empty"
    target.mkdir()
    with _fs.staging_dir(target) as tmp:
        (tmp / "manifest.json").write_text("{}")
        _fs.install_dir(tmp, target, "model")
    assert _names(target) == ["manifest.json"]


@pytest.mark.parametrize("victim_is_file", [False, True])
def test_install_dir_refuses_what_is_not_a_save(tmp_path, victim_is_file):
    victim = tmp_path / "photos"
    if victim_is_file:
        victim.write_bytes(b"precious")
    else:
        victim.mkdir()
        (victim / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(ModelFormatError, match="photos exists and is not a likewise index; "
                                               "refusing to overwrite it"):
        with _fs.staging_dir(victim) as tmp:
            (tmp / "manifest.json").write_text("{}")
            _fs.install_dir(tmp, victim, "index")
    stored = victim if victim_is_file else victim / "holiday.jpg"
    assert stored.read_bytes() == b"precious"
    assert _names(tmp_path) == ["photos"]


def test_install_dir_marker_names_what_a_save_contains(tmp_path):
    target = tmp_path / "ckpt"
    target.mkdir()
    (target / "checkpoint.json").write_text("{}")
    with _fs.staging_dir(target) as tmp:
        (tmp / "manifest.json").write_text("{}")
        with pytest.raises(ModelFormatError, match="refusing"):
            _fs.install_dir(tmp, target, "model")
    with _fs.staging_dir(target) as tmp:
        (tmp / "checkpoint.json").write_text('{"epoch": 2}')
        _fs.install_dir(tmp, target, "checkpoint", marker="checkpoint.json")
    assert json.loads((target / "checkpoint.json").read_text()) == {"epoch": 2}


def test_install_dir_puts_the_old_save_back_when_the_new_one_cannot_move_in(tmp_path,
                                                                            monkeypatch):
    target = tmp_path / "model"
    target.mkdir()
    (target / "manifest.json").write_text('"old"')
    real_replace = os.replace

    def refuse_the_staging_folder(src, dst):
        if Path(src).name.endswith(".tmp"):
            raise OSError("rename failed")
        return real_replace(src, dst)

    with _fs.staging_dir(target) as tmp:
        (tmp / "manifest.json").write_text('"new"')
        monkeypatch.setattr(os, "replace", refuse_the_staging_folder)
        with pytest.raises(OSError, match="rename failed"):
            _fs.install_dir(tmp, target, "model")
        monkeypatch.undo()
    assert (target / "manifest.json").read_text() == '"old"'
    assert _names(tmp_path) == ["model"]


def test_staging_dir_is_hidden_next_to_the_target_and_removed_on_error(tmp_path):
    with pytest.raises(RuntimeError):
        with _fs.staging_dir(tmp_path / "out") as tmp:
            assert tmp.parent == tmp_path and re.fullmatch(r"\.out\.[0-9a-f]+\.tmp", tmp.name)
            (tmp / "half").write_bytes(b"x")
            raise RuntimeError("interrupted")
    assert _names(tmp_path) == []


def test_publish_dir_keeps_the_first_complete_copy(tmp_path):
    target = tmp_path / "ml-1m"
    with _fs.staging_dir(target) as tmp:
        (tmp / "ratings.dat").write_bytes(b"first")
        assert _fs.publish_dir(tmp, target) is True
    with _fs.staging_dir(target) as tmp:
        (tmp / "ratings.dat").write_bytes(b"second")
        assert _fs.publish_dir(tmp, target) is False
    assert (target / "ratings.dat").read_bytes() == b"first"
    assert _names(tmp_path) == ["ml-1m"]


# ---------------------------------------------------------------------------------------
# saved folders (models and indexes share this format)
# ---------------------------------------------------------------------------------------
ARRAYS = {"ids.npy": np.array(["a", "b", "c"]), "x.npy": np.arange(12.0).reshape(3, 4)}
MANIFEST = {"format": "likewise.test", "format_version": 2, "n": 3}


def _reader(path, **kw):
    return ArtifactReader(path, what="thing", format="likewise.test", format_version=2, **kw)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*")
            if p.is_file()}


@pytest.mark.parametrize("name", ["saved", "saved.zip"])
def test_artifact_round_trip(tmp_path, name):
    path = write_artifact(tmp_path / name, MANIFEST, ARRAYS, what="thing",
                          as_zip=name.endswith(".zip"))
    assert path.is_file() == name.endswith(".zip")
    with _reader(path, allow_zip=True) as saved:
        assert saved.manifest["n"] == 3
        assert set(saved.checksums) == set(ARRAYS)
        for fname, arr in ARRAYS.items():
            np.testing.assert_array_equal(saved.array(fname, mmap=True), arr)
        assert isinstance(saved.array("x.npy", mmap=True), np.memmap) != path.is_file()
    assert _names(tmp_path) == [name]


def test_artifact_manifest_on_disk(tmp_path):
    path = write_artifact(tmp_path / "s", MANIFEST, ARRAYS, what="thing")
    text = (path / "manifest.json").read_text()
    manifest = json.loads(text)
    assert text == json.dumps(manifest, indent=1, sort_keys=True)
    # the stable folder: the manifest and one version folder with the arrays
    version = manifest["files_dir"]
    assert _fs.is_version_name(version) and files_dir(path) == path / version
    assert _names(path) == ["manifest.json", version]
    assert _names(path / version) == ["ids.npy", "x.npy"]
    assert manifest["checksums"] == {f: _fs.sha256_file(path / version / f) for f in ARRAYS}
    assert manifest["npy"] == {"ids.npy": {"dtype": "<U1", "shape": [3]},
                               "x.npy": {"dtype": "<f8", "shape": [3, 4]}}
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["manifest_sha256"])


def test_artifact_extra_files_get_checksums(tmp_path):
    def native(folder):
        (folder / "index.bin").write_bytes(b"graph")
        return ["index.bin"]

    path = write_artifact(tmp_path / "s", MANIFEST, ARRAYS, what="index", extra_files=native)
    native_file = files_dir(path) / "index.bin"
    assert _reader(path).checksums["index.bin"] == _fs.sha256_file(native_file)
    _reader(path).verify_files()
    with _reader(path) as saved:  # a native library reads the very file that was checked
        assert Path(saved.native_path("index.bin")).read_bytes() == b"graph"
    native_file.write_bytes(b"GRAPH")
    with pytest.raises(ModelFormatError, match="index.bin does not match its checksum"):
        _reader(path).verify_files()
    _reader(path).verify_files(verify=False)
    native_file.unlink()
    with pytest.raises(ModelFormatError, match="missing index.bin"):
        _reader(path).verify_files(verify=False)


@pytest.mark.parametrize("name", ["saved", "saved.zip"])
def test_artifact_detects_tampering(tmp_path, name):
    path = write_artifact(tmp_path / name, MANIFEST, ARRAYS, what="thing",
                          as_zip=name.endswith(".zip"))
    if path.is_file():
        with zipfile.ZipFile(path) as zf:
            members = {n: zf.read(n) for n in zf.namelist()}
        members["x.npy"] = members["x.npy"][:-8] + bytes(8)
        with zipfile.ZipFile(path, "w") as zf:
            for n, raw in members.items():
                zf.writestr(n, raw)
    else:
        with open(files_dir(path) / "x.npy", "r+b") as fh:
            fh.seek(-8, 2)
            fh.write(bytes(8))
    with _reader(path, allow_zip=True) as saved:
        with pytest.raises(ModelFormatError, match="x.npy does not match its checksum: the "
                                                   "thing was modified or corrupted"):
            saved.array("x.npy")
        assert saved.array("x.npy", verify=False)[-1, -1] == 0.0
        with pytest.raises(ModelFormatError, match="y.npy has no checksum in the manifest"):
            saved.array("y.npy", verify=False)


def test_artifact_reader_messages(tmp_path):
    with pytest.raises(ModelFormatError, match="no such thing file or directory"):
        _reader(tmp_path / "nothing", allow_zip=True)
    with pytest.raises(ModelFormatError, match=r"no likewise thing here \(missing manifest"):
        _reader(tmp_path / "nothing")
    (tmp_path / "file").write_bytes(b"not a zip")
    with pytest.raises(ModelFormatError, match=r"not a likewise thing \(expected a directory "
                                               r"or .zip\)"):
        _reader(tmp_path / "file", allow_zip=True)
    path = write_artifact(tmp_path / "s", MANIFEST, ARRAYS, what="thing")
    for content, message in [("{oops", "manifest.json is not valid JSON"),
                             (json.dumps({**MANIFEST, "format": "other"}),
                              "not a likewise thing manifest"),
                             (json.dumps({**MANIFEST, "format_version": 3}),
                              r"thing format 3, newer than this likewise supports \(2\)")]:
        (path / "manifest.json").write_text(content)
        with pytest.raises(ModelFormatError, match=message):
            _reader(path)


def test_artifact_write_failure_keeps_the_previous_save(tmp_path, monkeypatch):
    path = write_artifact(tmp_path / "s", MANIFEST, ARRAYS, what="thing")
    before = _files(path)
    with pytest.raises(ValueError):  # object arrays need pickle, which is never used
        write_artifact(path, MANIFEST, {"bad.npy": np.array([{}, []], dtype=object)},
                       what="thing")

    def disk_full(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", disk_full)
    with pytest.raises(OSError, match="disk full"):  # half-way through the version folder
        write_artifact(path, MANIFEST, ARRAYS, what="thing")
    monkeypatch.undo()
    assert _files(path) == before
    assert _names(tmp_path) == ["s"]


# ---------------------------------------------------------------------------------------
# nothing in the package bypasses _fs
# ---------------------------------------------------------------------------------------
_RENAMES = re.compile(r"\bos\.replace\(|\.rename\(|\bos\.renames\(|\bshutil\.move\(")


def test_every_rename_goes_through_fs():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "_fs.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if _RENAMES.search(line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert not offenders, ("write through likewise._fs (atomic_file, atomic_write_*, "
                           "install_dir, publish_dir) instead of renaming yourself:\n"
                           + "\n".join(offenders))


def test_the_rename_check_can_fail():
    assert _RENAMES.search("    os.replace(tmp, path)")
    assert _RENAMES.search("tmp.rename(path)")
    assert not _RENAMES.search("name.replace('a', 'b')")


# ---------------------------------------------------------------------------------------
# the stable folder: versions, lock, names (issue #14)
# ---------------------------------------------------------------------------------------
def test_new_version_dirs_are_unique_and_recognised(tmp_path):
    names = {_fs.new_version_dir(tmp_path).name for _ in range(20)}
    assert len(names) == 20 and all(_fs.is_version_name(n) for n in names)
    assert not any(_fs.is_version_name(n) for n in ["v-1", "v-20240101T000000Z-xyz", "v",
                                                   "v-20240101T000000Z-0123456789abcdeF"])


def test_locked_serialises_writers_and_leaves_no_file(tmp_path):
    import threading
    import time

    inside, overlaps = [], []

    def writer():
        with _fs.locked(tmp_path):
            inside.append(1)
            overlaps.append(len(inside))
            time.sleep(0.02)
            inside.pop()

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == [1, 1, 1, 1]
    assert _names(tmp_path) == []


def test_move_aside_uses_a_random_name_and_remove_path_never_follows_links(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"x")
    aside = _fs.move_aside(tmp_path / "photos")
    assert re.fullmatch(r"\.photos\.[0-9a-f]{16}\.replaced", aside.name)
    assert (aside / "a.jpg").read_bytes() == b"x"
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "f").write_bytes(b"precious")
    (tmp_path / "link").symlink_to(keep)
    _fs.remove_path(tmp_path / "link")
    assert (keep / "f").read_bytes() == b"precious"
    _fs.remove_path(aside)
    _fs.remove_path(tmp_path / "missing")
    assert _names(tmp_path) == ["keep"]


@pytest.mark.parametrize("name", ["../x.npy", "/etc/passwd", "a/b.npy", "a\\b.npy", "..", ".",
                                  ".hidden", "", "x\0.npy", "c:x.npy", " x.npy", 7, None])
def test_check_name_refuses_anything_but_a_plain_name(name):
    with pytest.raises(ModelFormatError, match="not a plain file name inside the save"):
        check_name(name, "saved")


def test_check_name_accepts_the_names_likewise_writes():
    for name in ["users_.npy", "user_items_.indptr.npy", "sub__a__weights_.npy", "index.hnsw"]:
        assert check_name(name, "saved") == name


def test_writers_need_the_stable_folder_format(tmp_path):
    with pytest.raises(ValueError, match="format_version must be an int >= 2"):
        write_artifact(tmp_path / "s", {**MANIFEST, "format_version": 1}, ARRAYS, what="thing")
    assert _names(tmp_path) == []


def test_format1_folders_are_read(tmp_path):
    """Arrays beside the manifest, as likewise wrote before the stable folder."""
    folder = tmp_path / "old"
    folder.mkdir()
    for fname, arr in ARRAYS.items():
        np.save(folder / fname, arr)
    (folder / "manifest.json").write_text(json.dumps({
        **MANIFEST, "format_version": 1,
        "checksums": {f: _fs.sha256_file(folder / f) for f in ARRAYS}}))
    with _reader(folder) as saved:
        for fname, arr in ARRAYS.items():
            np.testing.assert_array_equal(saved.array(fname), arr)
            np.testing.assert_array_equal(saved.array(fname, mmap=True), arr)
        saved.check_manifest_digest()  # none recorded: nothing to compare
    write_artifact(folder, MANIFEST, {"x.npy": np.ones(2)}, what="thing")
    assert _names(folder) == ["manifest.json", json.loads(
        (folder / "manifest.json").read_text())["files_dir"]]  # its own files went


def test_the_reader_follows_a_save_that_replaced_the_content(tmp_path, monkeypatch):
    """A save that switches the manifest and removes the old version between a reader's
    reading of the manifest and its opening of the files: the reader reads the new one."""
    import likewise._artifact as artifact

    path = write_artifact(tmp_path / "s", MANIFEST, ARRAYS, what="thing")
    real = artifact._open_at
    raced = []

    def racing_open(name, dir_fd, folder, *, directory=False):
        if directory and not raced:
            raced.append(name)
            write_artifact(path, MANIFEST, {**ARRAYS, "x.npy": np.zeros(3)}, what="thing")
        return real(name, dir_fd, folder, directory=directory)

    monkeypatch.setattr(artifact, "_open_at", racing_open)
    with _reader(path) as saved:
        np.testing.assert_array_equal(saved.array("x.npy"), np.zeros(3))
    assert raced


def test_a_missing_file_of_an_unchanged_save_is_reported(tmp_path):
    path = write_artifact(tmp_path / "s", MANIFEST, ARRAYS, what="thing")
    (files_dir(path) / "x.npy").unlink()
    with pytest.raises(ModelFormatError, match="missing x.npy"):
        _reader(path)
    _fs.remove_path(files_dir(path))
    with pytest.raises(ModelFormatError, match="missing v-"):
        _reader(path)


def test_the_manifest_digest_catches_an_edit(tmp_path):
    path = write_artifact(tmp_path / "s", MANIFEST, ARRAYS, what="thing")
    manifest = json.loads((path / "manifest.json").read_text())
    (path / "manifest.json").write_text(json.dumps({**manifest, "n": 4}))
    with _reader(path) as saved:
        with pytest.raises(ModelFormatError, match="manifest.json does not match its checksum"):
            saved.check_manifest_digest()
        saved.check_manifest_digest(verify=False)
    (path / "manifest.json").write_text(json.dumps(manifest, indent=4))  # layout only
    with _reader(path) as saved:
        saved.check_manifest_digest()


@pytest.mark.parametrize("damage", ["object dtype", "truncated", "not an array"])
def test_unreadable_arrays_are_refused(tmp_path, damage):
    path = write_artifact(tmp_path / "s", MANIFEST, ARRAYS, what="thing")
    victim = files_dir(path) / "x.npy"
    raw = victim.read_bytes()
    raw = {"object dtype": raw.replace(b"'<f8'", b"'|O' ", 1), "truncated": raw[:-5],
           "not an array": b"hello"}[damage]
    victim.write_bytes(raw)
    with _reader(path) as saved:
        with pytest.raises(ModelFormatError, match="x.npy"):
            saved.array("x.npy", verify=False)


def test_a_fortran_ordered_array_of_a_format1_save_reads_as_numpy_reads_it(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    arr = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    np.save(folder / "x.npy", arr)
    (folder / "manifest.json").write_text(json.dumps({
        **MANIFEST, "format_version": 1, "checksums": {"x.npy": _fs.sha256_file(folder / "x.npy")}}))
    with _reader(folder) as saved:
        np.testing.assert_array_equal(saved.array("x.npy"), arr)
        np.testing.assert_array_equal(saved.array("x.npy", mmap=True), arr)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and kill -9")
def test_zip_saves_under_kill_9_and_concurrent_writers(tmp_path):
    """A zip is replaced by one rename of a complete temporary, under the parent's lock."""
    import random
    import signal
    import time

    path = tmp_path / "s.zip"
    contents = [{"x.npy": np.full(50_000, float(v))} for v in (1, 2)]
    write_artifact(path, MANIFEST, contents[0], what="thing", as_zip=True)

    def child(count=None):
        pid = os.fork()
        if pid == 0:
            status = 0
            try:
                for i in range(count or 10**9):
                    write_artifact(path, MANIFEST, contents[i % 2], what="thing", as_zip=True)
            except BaseException:  # noqa: BLE001 - reported through the exit status
                status = 1
            finally:
                os._exit(status)
        return pid

    def value():
        with _reader(path, allow_zip=True) as saved:
            arr = saved.array("x.npy")
        assert arr.min() == arr.max() and arr[0] in (1.0, 2.0)

    rng = random.Random(7)
    for _ in range(10):
        pid = child()
        time.sleep(rng.uniform(0, 0.05))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        value()
    writers = [child(15), child(15)]
    assert [os.waitpid(pid, 0)[1] for pid in writers] == [0, 0]
    value()
    # temporaries of killed saves stay hidden (only the process that made one removes it)
    assert [n for n in os.listdir(tmp_path) if not n.startswith(".")] == ["s.zip"]
    assert all(re.fullmatch(r"\.s\.zip\.[0-9a-f]{16}\.tmp", n)
               for n in os.listdir(tmp_path) if n.startswith("."))


def test_saves_written_by_the_previous_format_still_load_and_answer_the_same(tmp_path):
    """tests/hostile/data/format1: models and an index saved by likewise before format 2
    (made with that code), with the answers it gave then."""
    import shutil

    import likewise
    from likewise import index

    saved = Path(__file__).resolve().parent / "hostile" / "data" / "format1"
    expected = json.loads((saved / "expected.json").read_text())
    for name in ("popularity", "svd", "item_knn", "popularity.zip"):
        if not name.endswith(".zip"):
            assert json.loads((saved / name / "manifest.json").read_text())["format_version"] == 1
        for mmap in (False, True):
            model = likewise.load(saved / name, mmap=mmap)
            got = model.recommend(expected["users"], n=5).item_indices.tolist()
            assert got == expected[name.removesuffix(".zip")], name
    queries = np.asarray(expected["index_queries"], dtype=np.float32)
    assert index.load(saved / "index_exact").query(queries, k=4).ids.tolist() == \
        expected["index_exact"]
    # saving over a format 1 folder turns it into format 2
    copy = tmp_path / "svd"
    shutil.copytree(saved / "svd", copy)
    likewise.load(copy).save(copy)
    assert json.loads((copy / "manifest.json").read_text())["format_version"] == 2
    assert likewise.load(copy).recommend(expected["users"], n=5).item_indices.tolist() == \
        expected["svd"]
