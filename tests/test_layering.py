"""Imports point one way: features/ <- classifiers/ <- benchmarks/.

Every import statement of every module is read (module level and inside functions), so a lazy
import that crosses a layer upwards is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("features", "classifiers", "benchmarks")  # each may import only those before it


def _imported(path: Path) -> set[str]:
    """Top-level package names imported by the module at `path`."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_never_imports_a_layer_above_it(layer: str) -> None:
    above = set(LAYERS[LAYERS.index(layer) + 1 :])
    files = sorted((ROOT / layer).rglob("*.py"))
    assert files, f"no modules found under {ROOT / layer}"
    crossing = {
        str(p.relative_to(ROOT)): sorted(_imported(p) & above)
        for p in files
        if _imported(p) & above
    }
    assert not crossing, f"imports pointing up from {layer}/: {crossing}"


def test_the_scan_sees_lazy_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from benchmarks.datasets import msu\n    import classifiers\n")
    assert _imported(module) == {"benchmarks", "classifiers"}
