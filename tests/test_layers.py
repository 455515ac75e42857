"""Lower layers never import upper ones (see docs/ARCHITECTURE.md).

An import counts whether it is written as ``from ..evaluation import tune``, as
``from likewise import tune`` or as ``import likewise`` followed by ``likewise.tune``.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "likewise"

# layer rank: a module may import only ranks <= its own
RANKS = {
    "errors": 0, "_params": 0, "_fs": 0, "_artifact": 0, "_ranking": 0,
    "data": 1, "datasets": 1, "splits": 1,
    "index": 1, "features": 1,
    "models": 2,
    "evaluation": 3, "metrics": 3, "testing": 3,
    "cli": 4, "store": 4, "service": 4, "ui": 4, "spark": 4,
}


def _layer(module_path: Path) -> str:
    rel = module_path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _root_names() -> dict[str, str]:
    """Public name of the package root -> the layer it lives in (from likewise/__init__.py).

    ``likewise.compare`` is ``likewise.evaluation.compare.compare`` in disguise: a lower
    layer reaching it through the root imports the evaluation layer all the same.
    """
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    values = {}
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
        if isinstance(target, ast.Name) and node.value is not None:
            try:
                values[target.id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    lazy, submodules = values["_LAZY"], values["_SUBMODULES"]
    paths = values.get("_SUBMODULE_PATHS", {})
    names = {name: module.split(".")[1] for name, module in lazy.items()}
    for name in submodules:
        names[name] = paths.get(name, f"likewise.{name}").split(".")[1]
    return names


ROOT_NAMES = _root_names()


def _package_aliases(tree: ast.AST) -> set[str]:
    """Names a module binds to the ``likewise`` package itself."""
    aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "likewise" or (alias.name.startswith("likewise.")
                                                and alias.asname is None):
                    aliases.add(alias.asname or "likewise")
    return aliases


def _imported_layers(tree: ast.AST, package_parts: tuple[str, ...]):
    """``(layer, what)`` for every part of likewise the module imports or reaches."""
    aliases = _package_aliases(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("likewise."):
                    yield alias.name.split(".")[1], f"import {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.startswith("likewise."):
                yield node.module.split(".")[1], f"from {node.module} import ..."
            elif node.level == 0 and node.module == "likewise":
                for alias in node.names:
                    yield ROOT_NAMES.get(alias.name, alias.name), f"from likewise import {alias.name}"
            elif node.level > 0:
                base = list(package_parts[: len(package_parts) - (node.level - 1)])
                target = base + (node.module.split(".") if node.module else [])
                if target:
                    yield target[0], f"from {'.' * node.level}{node.module} import ..."
                else:
                    for alias in node.names:
                        yield (ROOT_NAMES.get(alias.name, alias.name),
                               f"from {'.' * node.level} import {alias.name}")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in aliases:
            yield ROOT_NAMES.get(node.attr, node.attr), f"{node.value.id}.{node.attr}"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "getattr" and node.args \
                and isinstance(node.args[0], ast.Name) and node.args[0].id in aliases:
            attr = node.args[1] if len(node.args) > 1 else None
            if isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                yield ROOT_NAMES.get(attr.value, attr.value), f"getattr({node.args[0].id}, ...)"
            else:  # a computed name can reach any layer
                yield "cli", f"getattr({node.args[0].id}, <computed name>)"


def upward_imports(source: str, layer: str, package_parts: tuple[str, ...]) -> list[str]:
    """What a module of ``layer`` (source text) imports from higher layers, in words."""
    found = []
    for imported, what in _imported_layers(ast.parse(source), package_parts):
        if imported in RANKS and imported != layer and RANKS[imported] > RANKS[layer]:
            found.append(f"{what} (the {imported} layer)")
    return found


MODULES = [p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE or p.name != "__init__.py"]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_down_the_layers(path):
    layer = _layer(path)
    if layer not in RANKS:
        pytest.fail(f"{layer} is not assigned a layer in tests/test_layers.py and "
                    "docs/ARCHITECTURE.md")
    upward = upward_imports(path.read_text(), layer, path.relative_to(PACKAGE).parts[:-1])
    assert not upward, f"{path.relative_to(PACKAGE)} ({layer}) reaches higher layers: {upward}"


def test_root_names_map_to_their_layers():
    assert ROOT_NAMES["compare"] == "evaluation" and ROOT_NAMES["SVD"] == "models"
    assert ROOT_NAMES["read_csv"] == "data" and ROOT_NAMES["cli"] == "cli"
    assert all(layer in RANKS for layer in ROOT_NAMES.values()), ROOT_NAMES


@pytest.mark.parametrize("source,reached", [
    ("import likewise\n\ndef f():\n    return likewise.compare({}, None)\n", "likewise.compare"),
    ("import likewise as lw\nx = lw.evaluation.metrics\n", "lw.evaluation"),
    ("import likewise.data\ny = likewise.tune\n", "likewise.tune"),
    ("from likewise import SVD\n", "from likewise import SVD"),
    ("from .. import compare\n", "from .. import compare"),
    ("import likewise\ncls = getattr(likewise, 'ImplicitALS')\n", "getattr(likewise, ...)"),
    ("import likewise\ncls = getattr(likewise, name)\n", "<computed name>"),
    ("from ..evaluation import tune\n", "from ..evaluation import ..."),
])
def test_checker_flags_upward_reach(source, reached):
    # written as a module of the data layer (likewise/data/x.py)
    found = upward_imports(source, "data", ("data",))
    assert len(found) == 1 and reached in found[0], found


def test_checker_allows_the_root_and_lower_layers():
    source = ("import likewise\nfrom likewise import ConfigError\nfrom .. import _params\n"
              "from ..index import build\n"
              "v = likewise.__version__\ne = likewise.DataError\nr = likewise.read_csv\n")
    assert upward_imports(source, "data", ("data",)) == []
    assert upward_imports("import likewise\nx = likewise.compare\n", "cli", ("cli",)) == []
