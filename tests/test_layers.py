"""Lower layers never import upper ones (see docs/ARCHITECTURE.md)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "likewise"

# layer rank: a module may import only ranks <= its own
RANKS = {
    "errors": 0, "_params": 0, "_fs": 0,
    "data": 1, "datasets": 1, "splits": 1,
    "index": 1, "features": 1,
    "models": 2,
    "evaluation": 3, "metrics": 3, "testing": 3,
    "cli": 4, "store": 4, "service": 4, "ui": 4, "spark": 4,
}


def _layer(module_path: Path) -> str:
    rel = module_path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _imported_layers(path: Path):
    tree = ast.parse(path.read_text())
    package_parts = path.relative_to(PACKAGE).parts[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("likewise."):
                    yield alias.name.split(".")[1]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.startswith("likewise."):
                yield node.module.split(".")[1]
            elif node.level > 0:
                base = list(package_parts[: len(package_parts) - (node.level - 1)])
                target = base + (node.module.split(".") if node.module else [])
                if target:
                    yield target[0]
                else:
                    for alias in node.names:
                        yield alias.name


MODULES = [p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE or p.name != "__init__.py"]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_down_the_layers(path):
    layer = _layer(path)
    if layer not in RANKS:
        pytest.fail(f"{layer} is not assigned a layer in tests/test_layers.py and "
                    "docs/ARCHITECTURE.md")
    for imported in _imported_layers(path):
        if imported in RANKS and imported != layer:
            assert RANKS[imported] <= RANKS[layer], (
                f"{path.relative_to(PACKAGE)} ({layer}) imports {imported}, a higher layer")
