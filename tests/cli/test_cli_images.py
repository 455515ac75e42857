"""likewise images index / similar on real photos (scikit-image)."""

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("PIL")
skdata = pytest.importorskip("skimage.data")

from PIL import Image

import likewise
from likewise.cli import main


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    root = tmp_path_factory.mktemp("shop")
    photos = root / "photos"
    (photos / "kitchen").mkdir(parents=True)
    for name in ("astronaut", "chelsea", "rocket", "camera"):
        Image.fromarray(getattr(skdata, name)()).save(photos / f"{name}.png")
    Image.fromarray(skdata.coffee()).save(photos / "kitchen" / "coffee.jpg")
    (photos / "broken.jpg").write_bytes(b"not a jpeg at all")
    query = root / "query.jpg"  # a cropped, mirrored shot of the coffee cup
    Image.fromarray(np.ascontiguousarray(skdata.coffee()[40:360, ::-1])).save(query)
    return root, photos, query


def test_index_then_similar(catalogue, tmp_path, capsys):
    root, photos, query = catalogue
    model_dir = tmp_path / "shop-model"
    assert main(["images", "index", str(photos), "--out", str(model_dir), "--no-progress",
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    captured = capsys.readouterr()
    assert "embedded 5 images" in captured.out and "(1 skipped)" in captured.out
    assert captured.err.startswith(f"skipped {photos / 'broken.jpg'}: ")
    assert (model_dir / "manifest.json").exists()

    assert main(["images", "similar", str(model_dir), str(query), "-n", "3",
                 "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert rows[0]["item"] == "kitchen/coffee.jpg"
    assert rows[0]["score"] > rows[1]["score"]

    assert main(["images", "similar", str(model_dir), str(query)]) == 0
    table = capsys.readouterr().out
    assert "kitchen/coffee.jpg" in table and len(table.strip().splitlines()) == 6


def test_errors_are_one_line(catalogue, tmp_path, capsys):
    root, photos, query = catalogue
    model_dir = tmp_path / "m"
    main(["images", "index", str(photos), "--out", str(model_dir), "--no-progress",
          "--runtime", "torch"])
    capsys.readouterr()
    assert likewise.load(model_dir).runtime == "torch"
    assert main(["images", "similar", str(model_dir), str(photos / "broken.jpg")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken.jpg" in err[0] and err[0].startswith("likewise: error:")

    assert main(["images", "similar", str(model_dir), str(root / "missing.jpg")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.jpg" in err[0]

    pop_dir = tmp_path / "pop"
    main(["train", "movielens-100k", "--model", "popularity", "--out", str(pop_dir)])
    capsys.readouterr()
    assert main(["images", "similar", str(pop_dir), str(query)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not an image catalogue" in err[0]

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["images", "index", str(empty), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no image files" in err[0]

    assert main(["images", "index", str(photos), "--out", str(tmp_path / "y"),
                 "--search-dim", "-3"]) == 2
    err = capsys.readouterr().err
    assert "--search-dim" in err and "expected 'auto' or an integer >= 0, got '-3'" in err
