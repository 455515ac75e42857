"""The main job: likewise quickstart on the embedded MovieLens 100K."""

import json
import re

from likewise.cli import main


def test_quickstart_compares_recommends_and_writes_reports(tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["quickstart", "--out", str(out), "--no-progress", "--user", "1"]) == 0
    text = capsys.readouterr().out
    assert "MovieLens 100K: 100,000 ratings from 943 users" in text
    assert "== Rating prediction" in text and "== Top-10 recommendation" in text
    for name in ("Baseline", "SVD", "ItemKNN (pearson-baseline)", "EASE", "ImplicitALS",
                 "Popularity", "Random"):
        assert f"| {name} |" in text
    top10 = text.split("== Top-10 for user 1 by ")[1].splitlines()
    ranked = [line for line in top10 if re.match(r"^\s*\d+\. ", line)]
    assert len(ranked) == 10
    for part in ("rating", "topn"):
        assert (out / part / "report.html").read_text().count("<table") >= 1
        assert (out / part / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        summary = json.loads((out / part / "results.json").read_text())
        assert summary
