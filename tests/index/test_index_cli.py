"""``likewise index build / info / query``."""

from __future__ import annotations

import json

import numpy as np

from likewise.cli import main


def test_build_info_query(tmp_path, capsys):
    x = np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32)
    np.save(tmp_path / "v.npy", x)
    (tmp_path / "ids.txt").write_text("\n".join(f"doc{i}" for i in range(200)))
    out = tmp_path / "idx"
    assert main(["index", "build", str(tmp_path / "v.npy"), str(out), "--ids",
                 str(tmp_path / "ids.txt"), "--metric", "euclidean", "--backend", "hnsw",
                 "-p", "M=8", "-p", "ef=40"]) == 0
    assert "200 vectors" in capsys.readouterr().out
    assert main(["index", "info", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n"] == 200 and info["params"]["M"] == 8
    assert main(["index", "query", str(out), "--ids", "doc3,doc4", "-k", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "query,neighbour,score,rank" and len(lines) == 7
    assert all(not ln.startswith("doc3,doc3,") for ln in lines)
    np.save(tmp_path / "q.npy", x[:2])
    assert main(["index", "query", str(out), "--vectors", str(tmp_path / "q.npy"), "-k", "1",
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["neighbour"] for r in rows] == ["doc0", "doc1"]


def test_errors_are_one_line(tmp_path, capsys):
    np.save(tmp_path / "v.npy", np.ones((3, 2)))
    assert main(["index", "build", str(tmp_path / "v.npy"), str(tmp_path / "i"), "-p",
                 "bogus=1"]) == 2
    err = capsys.readouterr().err
    assert "bogus" in err and len(err.strip().splitlines()) == 1
    assert main(["index", "query", str(tmp_path / "nope"), "--ids", "1"]) == 2
    assert main(["index", "build", str(tmp_path / "missing.npy"), str(tmp_path / "i")]) == 2
