"""Type checkers and IDEs see likewise's real classes behind the lazy package root.

``likewise/__init__.py`` imports its public names on first use (``_LAZY`` + a module
``__getattr__``); its ``if TYPE_CHECKING:`` block imports the same names for type
checkers. These tests keep that block complete and run mypy on small snippets, so they
fail if the types are lost (a misspelt keyword such as ``SVD(factorz=3)`` type-checks).
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import likewise

ROOT = Path(__file__).resolve().parents[1]
INIT = ROOT / "src" / "likewise" / "__init__.py"

pytest.importorskip("mypy", reason="mypy is in the dev extra")


def _type_checking_imports() -> dict[str, str]:
    """Name -> module it is imported from, inside ``if TYPE_CHECKING:`` of the root."""
    tree = ast.parse(INIT.read_text())
    blocks = [node for node in tree.body if isinstance(node, ast.If)
              and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"]
    assert len(blocks) == 1, "likewise/__init__.py should have one `if TYPE_CHECKING:` block"
    names = {}
    for node in ast.walk(blocks[0]):
        if isinstance(node, ast.ImportFrom):
            module = "likewise" + ("." + node.module if node.module else "")
            for alias in node.names:
                # `X as X` is how a package marks a name as re-exported
                assert alias.asname == alias.name, f"write `{alias.name} as {alias.name}`"
                names[alias.name] = module
    return names


def test_type_checking_block_lists_every_lazy_name():
    seen = _type_checking_imports()
    for name, module in likewise._LAZY.items():
        assert seen.get(name) == module, f"{name}: TYPE_CHECKING imports it from " \
                                         f"{seen.get(name)}, _LAZY from {module}"
    for name in likewise._SUBMODULES:
        assert seen.get(name) == "likewise", f"submodule {name} missing from TYPE_CHECKING"
    assert set(seen) == set(likewise._LAZY) | likewise._SUBMODULES


def test_all_lists_exactly_the_public_names():
    errors = {"LikewiseError", "DataError", "ConfigError", "NotFittedError", "UnknownIdError",
              "UnknownUserError", "UnknownItemError", "UnsupportedError", "ModelFormatError",
              "MissingDependencyError", "RatingRankingWarning"}
    assert likewise.__all__ == sorted({*likewise._LAZY, *likewise._SUBMODULES, *errors})
    assert dir(likewise) == likewise.__all__
    for name, module in likewise._LAZY.items():  # each lazy name exists where it points
        assert hasattr(importlib.import_module(module), name), f"{module}.{name}"


def _mypy(tmp_path: Path, snippets: dict[str, str]) -> dict[str, list[str]]:
    """mypy's error lines per snippet (the project's configuration, a fresh cache)."""
    for name, code in snippets.items():
        (tmp_path / f"{name}.py").write_text(code)
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(tmp_path / "cache"), "--no-error-summary",
         *[f"{name}.py" for name in snippets]],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr  # 2: mypy itself failed
    errors: dict[str, list[str]] = {name: [] for name in snippets}
    for line in proc.stdout.splitlines():
        name = line.split(".py:", 1)[0]
        if name in errors and ": error:" in line:
            errors[name].append(line)
    return errors


def test_mypy_sees_the_real_signatures(tmp_path):
    errors = _mypy(tmp_path, {
        "wrong": ("import likewise\n\n"
                  "model = likewise.SVD(factorz=3)\n"
                  "likewise.SDV()\n"
                  "data: likewise.Interactions = likewise.read_csv(3.5)\n"),
        "right": ("import likewise\n\n"
                  "data = likewise.read_csv('ratings.csv', rating_scale=(1, 5))\n"
                  "model = likewise.SVD(factors=3, random_state=0).fit(data)\n"
                  "recs = model.recommend([1, 2], n=5)\n"
                  "vocab: likewise.Vocabulary = data.users\n"
                  "fake = likewise.synthetic(n_users=10, n_items=5, n_interactions=20)\n"
                  "alias = likewise.datasets.movielens\n"),
    })
    wrong = "\n".join(errors["wrong"])
    assert 'Unexpected keyword argument "factorz" for "SVD"' in wrong, wrong
    assert 'has no attribute "SDV"' in wrong, wrong
    assert '"read_csv" has incompatible type "float"' in wrong, wrong
    assert errors["right"] == [], "\n".join(errors["right"])
