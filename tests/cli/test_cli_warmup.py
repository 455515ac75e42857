"""``likewise warmup [MODEL ...]``: compile the kernels once into numba's cache."""

from __future__ import annotations

from likewise.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_warmup_named_models(capsys):
    code, out, err = run(capsys, "warmup", "popularity", "Baseline", "--processes", "1")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[0] == "popularity" and lines[0].endswith("ok")
    assert lines[1].split()[0] == "baseline" and lines[1].endswith("ok")
    assert "2 of 2 models warmed" in lines[-1]


def test_warmup_unknown_model_is_one_line_and_status_2(capsys):
    code, out, err = run(capsys, "warmup", "no-such-model")
    assert code == 2
    assert "no-such-model" in err and "Traceback" not in err


def test_warmup_listed_in_help(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "warmup" in out
