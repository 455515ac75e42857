"""Atomic, durable writes (likewise._fs) and the shared saved-folder format (likewise._artifact)."""

import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from likewise import _fs
from likewise._artifact import ArtifactReader, write_artifact
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
MANIFEST = {"format": "likewise.test", "format_version": 1, "n": 3}


def _reader(path, **kw):
    return ArtifactReader(path, what="thing", format="likewise.test", format_version=1, **kw)


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
    assert manifest["checksums"] == {f: _fs.sha256_file(path / f) for f in ARRAYS}
    assert _names(path) == ["ids.npy", "manifest.json", "x.npy"]


def test_artifact_extra_files_get_checksums(tmp_path):
    def native(folder):
        (folder / "index.bin").write_bytes(b"graph")
        return ["index.bin"]

    path = write_artifact(tmp_path / "s", MANIFEST, ARRAYS, what="index", extra_files=native)
    assert _reader(path).checksums["index.bin"] == _fs.sha256_file(path / "index.bin")
    _reader(path).verify_files()
    (path / "index.bin").write_bytes(b"GRAPH")
    with pytest.raises(ModelFormatError, match="index.bin does not match its checksum"):
        _reader(path).verify_files()
    _reader(path).verify_files(verify=False)
    (path / "index.bin").unlink()
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
        with open(path / "x.npy", "r+b") as fh:
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
                             (json.dumps({**MANIFEST, "format_version": 2}),
                              r"thing format 2, newer than this likewise supports \(1\)")]:
        (path / "manifest.json").write_text(content)
        with pytest.raises(ModelFormatError, match=message):
            _reader(path)


def test_artifact_write_failure_keeps_the_previous_save(tmp_path, monkeypatch):
    path = write_artifact(tmp_path / "s", MANIFEST, ARRAYS, what="thing")
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    with pytest.raises(ValueError):  # object arrays need pickle, which is never used
        write_artifact(path, MANIFEST, {"bad.npy": np.array([{}, []], dtype=object)},
                       what="thing")
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
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
