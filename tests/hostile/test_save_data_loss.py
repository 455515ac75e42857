"""Issue #14, class 1: a save never deletes what is not a likewise save.

Only a likewise save of a known format (its manifest parses and names the format, a
version this likewise reads and, for models, a registry class) or an empty folder is ever
replaced; anything else is refused with a message naming the path and the fix, and
``overwrite=True`` / ``--force`` replace it explicitly. Files next to the target that look
like likewise's temporaries or backups are never touched.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import likewise
from likewise import index
from likewise._fs import install_dir, staging_dir
from likewise.cli import main
from likewise.errors import ModelFormatError

from ._saves import FORMAT1, answers, files_of, manifest, popularity, svd, tree

REFUSAL = r"exists and is not a likewise (model|index) .*refusing to overwrite it.*overwrite=True"


@pytest.fixture(scope="module")
def model():
    return popularity()


def _web_project(folder):
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"name": "My App", "start_url": "/"}))
    (folder / "index.html").write_text("<html>precious</html>")
    (folder / "img").mkdir()
    (folder / "img" / "logo.png").write_bytes(b"\x89PNG precious")
    return tree(folder)


def _index_folder(folder):
    x = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    index.build(x).save(folder)
    return tree(folder)


@pytest.mark.parametrize("victim", [
    "web project with a manifest.json",
    "another tool's manifest with a 'format'",
    "a likewise index",
    "a model manifest naming a class outside likewise",
    "a model from a newer likewise",
])
def test_save_refuses_what_is_not_a_likewise_model(model, tmp_path, victim):
    target = tmp_path / "out"
    if victim == "web project with a manifest.json":
        before = _web_project(target)
    elif victim == "a likewise index":
        before = _index_folder(target)
    else:
        target.mkdir()
        (target / "notes.txt").write_text("precious")
        content = {"another tool's manifest with a 'format'": {"format": "tool.bundle",
                                                               "format_version": 1},
                   "a model manifest naming a class outside likewise":
                       {"format": "likewise.model", "format_version": 1, "class": "os.system"},
                   "a model from a newer likewise":
                       {"format": "likewise.model", "format_version": 99,
                        "class": "likewise.models.popularity.Popularity"}}.get(victim)
        if content is not None:
            (target / "manifest.json").write_text(json.dumps(content))
        before = tree(target)
    with pytest.raises(ModelFormatError, match=REFUSAL) as caught:
        model.save(target)
    assert str(target) in str(caught.value)
    assert tree(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_overwrite_replaces_a_foreign_folder_explicitly(model, tmp_path):
    target = tmp_path / "out"
    _web_project(target)
    model.save(target, overwrite=True)
    assert answers(likewise.load(target)) == answers(model)
    assert not (target / "index.html").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # nothing moved aside is left
    (tmp_path / "file").write_bytes(b"x")
    model.save(tmp_path / "file", overwrite=True)
    assert answers(likewise.load(tmp_path / "file")) == answers(model)


def test_index_save_refuses_a_model_and_a_foreign_folder(model, tmp_path):
    model_dir = model.save(tmp_path / "m")
    before = tree(model_dir)
    idx = index.build(np.eye(3, dtype=np.float32))
    with pytest.raises(ModelFormatError, match=REFUSAL):
        idx.save(model_dir)
    assert tree(model_dir) == before
    web = tmp_path / "web"
    web_before = _web_project(web)
    with pytest.raises(ModelFormatError, match=REFUSAL):
        idx.save(web)
    assert tree(web) == web_before
    idx.save(web, overwrite=True)
    assert len(index.load(web)) == 3


@pytest.mark.parametrize("victim", ["not a zip", "a foreign zip", "a likewise index folder"])
def test_zip_target_refused_unless_it_is_a_likewise_zip_model(model, tmp_path, victim):
    target = tmp_path / "model.zip"
    if victim == "not a zip":
        target.write_bytes(b"precious")
    elif victim == "a foreign zip":
        with zipfile.ZipFile(target, "w") as zf:
            zf.writestr("manifest.json", json.dumps({"format": "other"}))
            zf.writestr("thesis.tex", "precious")
    else:
        _index_folder(target)
    before = tree(target) if target.is_dir() else target.read_bytes()
    with pytest.raises(ModelFormatError, match=REFUSAL):
        model.save(target)
    assert (tree(target) if target.is_dir() else target.read_bytes()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.zip"]
    model.save(target, overwrite=True)
    assert answers(likewise.load(target)) == answers(model)
    # a likewise zip model is replaced without asking
    other = svd()
    other.save(target)
    assert isinstance(likewise.load(target), likewise.SVD)
    assert [p.name for p in tmp_path.iterdir()] == ["model.zip"]  # no temporary, no lock


def test_folders_named_like_backups_or_temporaries_survive(model, tmp_path):
    target = tmp_path / "m"
    model.save(target)
    lookalikes = [".m.old", ".m.0123456789abcdef.tmp", ".m.0123456789abcdef.old",
                  ".m.0123456789abcdef.replaced"]
    for name in lookalikes:
        (tmp_path / name).mkdir()
        (tmp_path / name / "thesis.tex").write_text("precious")
    for _ in range(2):
        model.save(target)
    model.save(target, overwrite=True)
    model.save(tmp_path / "m.zip")
    model.save(tmp_path / "m.zip")
    # the torch checkpoints' install_dir names its backup randomly too
    ckpt = tmp_path / "ckpt"
    for epoch in range(2):
        with staging_dir(ckpt) as tmp:
            (tmp / "checkpoint.json").write_text(json.dumps({"epoch": epoch}))
            install_dir(tmp, ckpt, "checkpoint", marker="checkpoint.json")
    for name in (".ckpt.old", *lookalikes):
        folder = tmp_path / name
        if not folder.exists():
            folder.mkdir()
            (folder / "thesis.tex").write_text("precious")
    with staging_dir(ckpt) as tmp:
        (tmp / "checkpoint.json").write_text(json.dumps({"epoch": 9}))
        install_dir(tmp, ckpt, "checkpoint", marker="checkpoint.json")
    for name in (".ckpt.old", *lookalikes):
        assert (tmp_path / name / "thesis.tex").read_text() == "precious", name
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == \
        ["ckpt", "m", "m.zip"]


def test_a_likewise_model_and_an_empty_folder_are_replaced_without_asking(model, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    model.save(empty)
    replacement = svd()
    replacement.save(empty)
    assert answers(likewise.load(empty)) == answers(replacement)
    # a format 1 save (as likewise wrote before) is provably a model: replaced, and only its
    # own files go; a file the user put in the folder stays
    import shutil

    old = tmp_path / "format1"
    shutil.copytree(FORMAT1 / "popularity", old)
    (old / "notes.txt").write_text("mine")
    replacement.save(old)
    assert answers(likewise.load(old)) == answers(replacement)
    assert sorted(p.name for p in old.iterdir()) == sorted(
        ["manifest.json", "notes.txt", manifest(old)["files_dir"]])
    assert files_of(old).parent == old


def test_cli_train_and_index_build_refuse_then_force(tmp_path, capsys):
    out = tmp_path / "out"
    before = _web_project(out)
    source = str(tmp_path / "ratings.csv")
    data = likewise.synthetic(n_users=30, n_items=20, n_interactions=300, random_state=1)
    data.to_frame().to_csv(source, index=False)
    assert main(["train", source, "--model", "popularity", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "refusing to overwrite it" in err and "--force" in err and str(out) in err
    assert tree(out) == before
    assert main(["train", source, "--model", "popularity", "--out", str(out), "--force"]) == 0
    assert isinstance(likewise.load(out), likewise.Popularity)
    vectors = tmp_path / "v.npy"
    np.save(vectors, np.eye(4, dtype=np.float32))
    web = tmp_path / "web"
    web_before = _web_project(web)
    assert main(["index", "build", str(vectors), str(web)]) == 2
    assert "--force" in capsys.readouterr().err
    assert tree(web) == web_before
    assert main(["index", "build", str(vectors), str(web), "--force"]) == 0
    assert len(index.load(web)) == 4
    # a previous likewise model or index is replaced without --force
    assert main(["train", source, "--model", "popularity", "--out", str(out)]) == 0
    assert main(["index", "build", str(vectors), str(web)]) == 0
