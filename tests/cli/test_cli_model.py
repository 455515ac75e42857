"""likewise train / recommend / similar."""

import json

import pytest

from likewise.cli import main


def test_train_recommend_similar_round_trip(tmp_path, capsys):
    model_dir = tmp_path / "pop"
    assert main(["train", "movielens-100k", "--model", "popularity-weighted",
                 "--out", str(model_dir)]) == 0
    assert (model_dir / "manifest.json").exists()
    capsys.readouterr()
    assert main(["recommend", str(model_dir), "--user", "1", "--user", "2", "-n", "3",
                 "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["user"] for r in rows] == [1, 1, 1, 2, 2, 2]
    assert [r["rank"] for r in rows[:3]] == [1, 2, 3]


def test_recommend_unknown_user_notes_fallback_or_fails_strict(tmp_path, capsys):
    model_dir = tmp_path / "b"
    main(["train", "movielens-100k", "--model", "baseline", "--out", str(model_dir)])
    capsys.readouterr()
    assert main(["recommend", str(model_dir), "--user", "424242", "--titles",
                 "movielens-100k"]) == 0
    captured = capsys.readouterr()
    assert "Star Wars" in captured.out and "unknown user 424242" in captured.err
    assert main(["recommend", str(model_dir), "--user", "424242", "--strict"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("likewise: error: unknown user")


def test_similar_on_a_model_without_similarity_is_one_line(tmp_path, capsys):
    model_dir = tmp_path / "b"
    main(["train", "movielens-100k", "--model", "baseline", "--out", str(model_dir)])
    capsys.readouterr()
    assert main(["similar", str(model_dir), "--item", "50"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["likewise: error: Baseline has no notion of item similarity"]


@pytest.mark.parametrize("args,needle", [
    (["train", "movielens-100k", "--model", "nope", "--out", "x"], "unknown model"),
    (["train", "movielens-100k", "--model", "baseline", "--param", "epochs=0", "--out", "x"],
     "epochs must be an integer >= 1"),
    (["recommend", "/no/such/model", "--user", "1"], "no such model"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, monkeypatch, capsys, args, needle):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
