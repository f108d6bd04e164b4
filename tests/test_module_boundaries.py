"""Library modules stand on their own: none imports the CLI, none borrows another module's
private (underscore) names. What two modules share lives in a module of its own (rnnlab/tables.py,
rnnlab/htmlkit.py, rnnlab/train/final.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import rnnlab

SRC = Path(rnnlab.__file__).resolve().parent
ENTRY_POINTS = {"cli.py", "__main__.py"}


def _imports(path: Path) -> list[tuple[str, str, int]]:
    """(module, imported name, line) of every ``from rnnlab... import name`` and ``import rnnlab...``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rnnlab"):
            found += [(node.module, a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(a.name, "", node.lineno) for a in node.names if a.name.startswith("rnnlab")]
    return found


def _library_modules() -> list[Path]:
    return [p for p in sorted(SRC.rglob("*.py")) if p.name not in ENTRY_POINTS]


@pytest.fixture(scope="module")
def library_imports() -> list[tuple[Path, list[tuple[str, str, int]]]]:
    """Every library module and its :func:`_imports`: the sources parsed once, for both checks below."""
    return [(p, _imports(p)) for p in _library_modules()]


def test_no_library_module_imports_the_cli(library_imports):
    offenders = [f"{p.relative_to(SRC)}:{line} imports {mod}" for p, imports in library_imports
                 for mod, name, line in imports if mod == "rnnlab.cli" or (mod == "rnnlab" and name == "cli")]
    assert not offenders, offenders


def test_no_module_borrows_another_modules_private_names(library_imports):
    offenders = [f"{p.relative_to(SRC)}:{line} takes {name} from {mod}" for p, imports in library_imports
                 for mod, name, line in imports if name.startswith("_") and name != "__version__"]
    assert not offenders, offenders


def test_the_checks_see_a_borrowing(tmp_path):
    bad = tmp_path / "m.py"
    bad.write_text("from rnnlab.cli import text_table\nfrom rnnlab.report import _img\n")
    assert [(m, n) for m, n, _ in _imports(bad)] == [("rnnlab.cli", "text_table"), ("rnnlab.report", "_img")]
