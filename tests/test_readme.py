"""Every ```python block of the README runs (in order, in one namespace)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_python_examples_run(tmp_path, monkeypatch):
    import numpy as np
    from skimage import data as photos
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    # the photo-folder example needs a folder of photos and a query image
    folder = tmp_path / "product-photos"
    folder.mkdir()
    for name in ("coffee", "astronaut", "chelsea", "rocket"):
        Image.fromarray(getattr(photos, name)()).save(folder / f"{name}.jpg")
    Image.fromarray(np.ascontiguousarray(photos.coffee()[40:360, ::-1])).save("query.jpg")
    namespace: dict = {}
    blocks = _blocks()
    assert len(blocks) >= 8
    for number, block in enumerate(blocks, 1):
        if "class TestMyModel" in block:
            block = block.replace("class TestMyModel", "class _ReadmeContract")
        try:
            exec(compile(block, f"README.md python block {number}", "exec"), namespace)
        except Exception as exc:  # noqa: BLE001 - report which block failed
            pytest.fail(f"README python block {number} failed: {type(exc).__name__}: {exc}")
    first = namespace["photos"].similar_images("query.jpg", n=5).to_frame()
    assert Path(first.iloc[0]["path"]).name == "coffee.jpg"
