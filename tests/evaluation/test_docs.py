"""The Python examples in docs/evaluation.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "evaluation.md"


def test_docs_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples write report/ and tuning files
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert len(blocks) >= 5
    printed = []
    for block in blocks:
        # the page's own examples, executed as documentation tests
        exec(compile(block, str(DOC), "exec"),  # noqa: S102
             {"print": lambda *a, **k: printed.append(a)})
    assert (tmp_path / "report" / "report.html").exists()
    # the values the page quotes are the ones the code produces
    assert printed[2] == (0.75,)
    best_params, best_score = printed[6]
    assert best_params == {"reg_user": 5, "reg_item": 5} and best_score == 0.9422
