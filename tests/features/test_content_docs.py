"""The examples in docs/content.md run, in order, as one script."""

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "content.md"


@pytest.mark.slow
def test_docs_examples_run(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("skimage")
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - our own docs
    assert namespace["found"].ids[0] == "coffee.png"
    assert set(namespace["blend"].weights) == {"cf", "content"}
