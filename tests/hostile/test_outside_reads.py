"""Issue #14, class 2: loading never reads outside the saved folder.

File names in a manifest are plain names inside the save; files are opened relative to
it without following symbolic links; anything else is a ModelFormatError before any file
is opened or hashed. Every case re-seals the tampered save (checksums and manifest digest
recomputed), as a crafted save would be, and checks with a sentinel outside the folder -
a real array file and a FIFO that would hang whoever opens it - that nothing touches it.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile

import numpy as np
import pytest

import likewise
from likewise import index
from likewise.errors import ModelFormatError

from ._saves import (
    FORMAT1,
    files_of,
    manifest,
    recorded_opens,
    reseal,
    svd,
    time_limit,
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    return svd().save(tmp_path_factory.mktemp("hostile") / "model")


@pytest.fixture
def sentinels(tmp_path):
    """An outside array with the victim's own shape and dtype, and an outside FIFO."""
    outside = tmp_path / "outside"
    outside.mkdir()
    np.save(outside / "secret.npy", np.full((60, 4), 7.0, dtype=np.float32))
    os.mkfifo(outside / "secret.fifo")
    return outside


def _copy(saved, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(saved, target, symlinks=True)
    return target


def _refused(path, sentinels, match, load=likewise.load):
    with recorded_opens() as seen, time_limit(20):
        with pytest.raises(ModelFormatError, match=match):
            load(path)
    touched = [p for p in seen if "secret" in p or str(sentinels) in p]
    assert not touched, f"the loader opened or examined files outside the save: {touched}"


def _rename_member(path, old, new):
    m = manifest(path)
    m["checksums"][new] = m["checksums"].pop(old)
    m["npy"][new] = m["npy"].pop(old)
    m["arrays"]["user_factors_"] = new
    reseal(path, checksums=m["checksums"], npy=m["npy"], arrays=m["arrays"])


@pytest.mark.parametrize("name", ["../../outside/secret.npy", "{abs}/secret.npy",
                                  "..\\outside\\secret.npy", "sub/user_factors_.npy",
                                  "..", ".hidden.npy", "x.npy\0"])
def test_manifest_names_outside_the_folder_are_refused_before_any_open(saved, tmp_path,
                                                                       sentinels, name):
    target = _copy(saved, tmp_path)
    _rename_member(target, "user_factors_.npy", name.format(abs=sentinels))
    _refused(target, sentinels, "not a plain file name inside the save")


@pytest.mark.parametrize("pointing_to", ["secret.npy", "secret.fifo", "/dev/zero"])
def test_a_symlinked_array_is_refused_not_followed(saved, tmp_path, sentinels, pointing_to):
    target = _copy(saved, tmp_path)
    victim = files_of(target) / "user_factors_.npy"
    victim.unlink()
    victim.symlink_to(pointing_to if pointing_to.startswith("/") else
                      sentinels / pointing_to)
    reseal(target)
    _refused(target, sentinels, "user_factors_.npy is a symbolic link")


def test_the_version_folder_must_be_a_real_folder_inside(saved, tmp_path, sentinels):
    target = _copy(saved, tmp_path)
    elsewhere = sentinels / "copy-of-files"
    shutil.copytree(files_of(target), elsewhere)
    reseal(target, files_dir="../outside/copy-of-files")
    _refused(target, sentinels, "not a plain file name")
    # a link named like a version folder, pointing out
    (target / "v-20000101T000000Z-0123456789abcdef").symlink_to(elsewhere)
    reseal(target, files_dir="v-20000101T000000Z-0123456789abcdef")
    with recorded_opens() as seen, time_limit(20):
        with pytest.raises(ModelFormatError, match="is a symbolic link"):
            likewise.load(target)
    assert not [p for p in seen if "copy-of-files" in p]


def test_format1_saves_get_the_same_checks(tmp_path, sentinels):
    """A save in the layout likewise wrote before (arrays beside the manifest)."""
    target = tmp_path / "old"
    shutil.copytree(FORMAT1 / "svd", target)
    victim = target / "user_factors_.npy"
    shutil.copy(victim, sentinels / "secret.npy")
    victim.unlink()
    victim.symlink_to(sentinels / "secret.npy")  # an identical copy: the checksum matches
    _refused(target, sentinels, "is a symbolic link")
    victim.unlink()
    m = manifest(target)
    m["checksums"]["../outside/secret.npy"] = m["checksums"].pop("user_factors_.npy")
    m["arrays"]["user_factors_"] = "../outside/secret.npy"
    (target / "manifest.json").write_text(json.dumps(m))
    _refused(target, sentinels, "not a plain file name inside the save")


@pytest.mark.parametrize("member", ["../secret.npy", "/tmp/secret.npy", "dir/x.npy"])
def test_zip_member_names_must_be_plain(saved, tmp_path, sentinels, member):
    model = likewise.load(saved)
    path = model.save(tmp_path / "m.zip")
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    with zipfile.ZipFile(path, "w") as zf:
        for name, raw in members.items():
            zf.writestr(member if name == "user_factors_.npy" else name, raw)
    _refused(path, sentinels, "not a plain file name inside the save")


@pytest.mark.parametrize("backend,native", [("exact", "vectors.npy"), ("exact", "ids.npy"),
                                            ("hnsw", "index.hnsw"), ("annoy", "index.ann"),
                                            ("faiss", "index.faiss")])
def test_index_files_are_never_followed_outside(tmp_path, sentinels, backend, native):
    pytest.importorskip({"exact": "numpy", "hnsw": "hnswlib", "annoy": "annoy",
                         "faiss": "faiss"}[backend])
    x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    path = index.build(x, backend=backend).save(tmp_path / "idx")
    victim = files_of(path) / native
    shutil.copy(victim, sentinels / "secret.npy")
    victim.unlink()
    victim.symlink_to(sentinels / "secret.npy")
    reseal(path)
    _refused(path, sentinels, f"{native} is a symbolic link", load=index.load)
    victim.unlink()
    m = manifest(path)
    m["checksums"][str(sentinels / "secret.npy")] = m["checksums"].pop(native)
    reseal(path, checksums=m["checksums"], npy={})
    _refused(path, sentinels, "not a plain file name inside the save", load=index.load)
