"""Issue 20: a plain Annoy file that annoy itself opens, from an index, a model and the CLI."""

import csv

import numpy as np
import pytest

annoy = pytest.importorskip("annoy")

import likewise
from likewise import index
from likewise.cli import main


def _ids_csv(path):
    with open(path.with_suffix(".ids.csv"), newline="") as fh:
        return list(csv.reader(fh))


def test_exported_file_gives_the_same_neighbours_in_annoy_itself(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    ids = np.array([f"v{i}" for i in range(300)])
    idx = index.build(x, ids=ids, metric="cosine", backend="annoy", n_trees=10, num_threads=1)
    before = idx.query(x[:5], k=8)
    out = idx.export(tmp_path / "vectors.ann")
    plain = annoy.AnnoyIndex(16, "angular")
    plain.load(str(out))
    for row in range(5):
        got = plain.get_nns_by_vector(x[row].tolist(), 8, idx.params["search_k"])
        assert got == before.positions[row].tolist()
    rows = _ids_csv(out)
    assert rows[0] == ["position", "id"] and rows[1] == ["0", "v0"] and len(rows) == 301
    # the likewise index still answers (it stays mapped to the exported bytes' twin)
    np.testing.assert_array_equal(idx.query(x[:5], k=8).positions, before.positions)


def test_export_never_replaces_a_file_it_did_not_write(tmp_path):
    x = np.random.default_rng(1).normal(size=(50, 4)).astype(np.float32)
    idx = index.build(x, metric="cosine", backend="annoy", n_trees=2)
    target = tmp_path / "mine.ann"
    target.write_text("precious")
    with pytest.raises(likewise.ConfigError, match="refusing to replace"):
        idx.export(target)
    assert target.read_text() == "precious"
    idx.export(target, overwrite=True)
    assert target.stat().st_size > 8
    dot = index.build(x, metric="dot", backend="annoy", n_trees=2)
    with pytest.raises(likewise.UnsupportedError, match="norm-augmented"):
        dot.export(tmp_path / "dot.ann")


def test_approx_user_knn_exports_its_user_index_with_user_ids(tmp_path):
    likes = likewise.datasets.movielens("100k").as_implicit()
    model = likewise.ApproxUserKNN(backend="annoy", n_trees=20, factors=16).fit(likes)
    out = model.export_index(tmp_path / "users.ann")
    plain = annoy.AnnoyIndex(model.user_vectors_.shape[1], "angular")
    plain.load(str(out))
    mine = model.neighbours(likes.users.ids[:3], k=5)
    for row, user in enumerate(likes.users.ids[:3]):
        u = int(likes.users.index([user])[0])
        theirs = plain.get_nns_by_item(u, 6, model._cache_index.params["search_k"])
        theirs = [likes.users.ids[i] for i in theirs if i != u][:5]
        assert theirs == list(np.asarray(mine.ids[row]).tolist())
    rows = _ids_csv(out)
    assert rows[0] == ["position", "user"]
    assert [int(r[1]) for r in rows[1:4]] == likes.users.ids[:3].tolist()
    with pytest.raises(likewise.UnsupportedError, match="backend='annoy'"):
        likewise.ApproxUserKNN(backend="exact", factors=8).fit(likes).export_index(
            tmp_path / "x.ann")


def test_cli_builds_a_plain_annoy_file(tmp_path, capsys):
    x = np.random.default_rng(2).normal(size=(40, 6)).astype(np.float32)
    np.save(tmp_path / "v.npy", x)
    out = tmp_path / "v.ann"
    assert main(["index", "build", str(tmp_path / "v.npy"), str(out), "--backend", "annoy",
                 "-p", "n_trees=5"]) == 0
    plain = annoy.AnnoyIndex(6, "angular")
    plain.load(str(out))
    assert plain.get_n_items() == 40
    assert main(["index", "build", str(tmp_path / "v.npy"), str(out), "--backend", "annoy"]) == 2
    assert "refusing to replace" in capsys.readouterr().err
    assert main(["index", "build", str(tmp_path / "v.npy"), str(tmp_path / "w.ann")]) == 2
